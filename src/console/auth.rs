//! Staff authentication (console.md §2): login with the configured admin, console tokens
//! (HS256 with `console.signing_key`, refused by the client API and vice versa), logout,
//! bearer or Basic on every other path, the lockout, and the audit of every attempt.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{client_address, empty, json_ok, unauthenticated, ConsoleError, ConsoleResult};
use crate::accounts::lockout::{Lockout, LockoutKey};
use crate::api::body::JsonBody;
use crate::config::ConsoleConfig;
use crate::error::{ApiError, Code};
use crate::store::AuditEntry;
use crate::AppState;

const ROLE_ADMIN: i32 = 1;
const REQUIRED: crate::error::ErrorKind = crate::error::ErrorKind::ConsoleAuthRequired;
const INVALID: crate::error::ErrorKind = crate::error::ErrorKind::ConsoleAuthInvalid;

/// Nakama's console claims. Every field is required, so a client session token (which has
/// none of `rol`, `cki`) never verifies here.
#[derive(Serialize, Deserialize)]
struct StaffClaims {
    id: String,
    usn: String,
    ema: String,
    rol: i32,
    exp: i64,
    cki: String,
}

/// Signs and verifies console tokens; remembers logged-out ones until they expire.
pub struct StaffTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    expiry_sec: i64,
    revoked: DashMap<Uuid, i64>,
}

/// A verified console token.
pub struct StaffToken {
    pub username: String,
    pub cki: Uuid,
    pub exp: i64,
}

impl StaffTokens {
    pub fn new(config: &ConsoleConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = false;
        Self {
            encoding: EncodingKey::from_secret(config.signing_key.as_bytes()),
            decoding: DecodingKey::from_secret(config.signing_key.as_bytes()),
            validation,
            expiry_sec: config.token_expiry_sec,
            revoked: DashMap::new(),
        }
    }

    fn issue(&self, username: &str, now: i64) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = StaffClaims {
            id: String::new(),
            usn: username.to_string(),
            ema: String::new(),
            rol: ROLE_ADMIN,
            exp: now + self.expiry_sec,
            cki: Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The token's staff member when it is signed, unexpired and not logged out.
    pub fn verify(&self, token: &str) -> Option<StaffToken> {
        let data = jsonwebtoken::decode::<StaffClaims>(token, &self.decoding, &self.validation).ok()?;
        let claims = data.claims;
        let cki = Uuid::parse_str(&claims.cki).ok()?;
        if claims.rol != ROLE_ADMIN || claims.usn.is_empty() || self.revoked.contains_key(&cki) {
            return None;
        }
        Some(StaffToken { username: claims.usn, cki, exp: claims.exp })
    }

    pub fn revoke(&self, cki: Uuid, expires_at: i64) {
        self.revoked.insert(cki, expires_at);
    }

    pub fn sweep(&self, now: i64) {
        self.revoked.retain(|_, exp| *exp > now);
    }
}

/// The authenticated staff member of a console request (the extractor makes a handler
/// unable to forget authentication).
pub struct Staff {
    pub username: String,
    pub address: String,
    /// The bearer token used, if any (logout without a body ends it).
    token: Option<StaffToken>,
}

fn digest(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// Constant-time comparison with the configured admin: digests first, so that neither
/// the content nor the length of the secrets shows in the time taken.
fn is_admin(config: &ConsoleConfig, username: &str, password: &str) -> bool {
    let user_ok = digest(username.as_bytes()).ct_eq(&digest(config.username.as_bytes()));
    let password_ok = digest(password.as_bytes()).ct_eq(&digest(config.password.as_bytes()));
    (user_ok & password_ok).into()
}

/// The longest staff username the lockout counts; longer ones cannot be the admin's.
const MAX_USERNAME: usize = 128;

/// Checks a username and password with the lockout of console.md §2 (the same one client
/// logins use): an attempt is reserved before the comparison, a match resets the count.
async fn check_credentials(state: &AppState, username: &str, password: &str) -> Result<(), ApiError> {
    // No admin name is that long or holds a control character (they would not fit the
    // lockout's key column, or PostgreSQL's text): a plain mismatch, still audited.
    if username.len() > MAX_USERNAME || username.chars().any(char::is_control) {
        return Err(ApiError::unauthenticated("Invalid credentials."));
    }
    let console = &state.config.console;
    let lockout = Lockout { limit: console.max_failed_logins, window_sec: console.failed_login_window_sec };
    let check = async { Ok(is_admin(console, username, password)) };
    let (now, key) = (state.clock.now(), LockoutKey::Staff(username));
    if !lockout.check(&state.store, now, key, crate::error::Failure::CheckingConsoleCredentials, check).await? {
        return Err(ApiError::unauthenticated("Invalid credentials."));
    }
    Ok(())
}

/// Stores one audit row; a failure to store is logged, never shown to staff.
pub async fn audit(state: &AppState, username: &str, address: &str, action: &str, target: &str, result: &str) {
    let entry = AuditEntry { time: state.clock.now(), username, action, target, client_address: address, result };
    if let Err(e) = state.store.insert_audit(entry).await {
        tracing::error!(error = %e, action, target, "cannot write the console audit trail");
    }
}

/// `ok` or the error's message, as the audit trail keeps it.
pub fn outcome<T>(result: &Result<T, ApiError>) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.message.to_string(),
    }
}

impl FromRequest for Staff {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let address = client_address(req);
        let mut values = req.headers().get_all(header::AUTHORIZATION);
        let value = values.next().map(|v| v.as_bytes().to_vec());
        let repeated = values.next().is_some();
        Box::pin(async move {
            let Some(state) = state else { return Err(unauthenticated(REQUIRED)) };
            let value = match value {
                Some(v) if !v.is_empty() && !repeated => v,
                _ => return Err(unauthenticated(REQUIRED)),
            };
            if let Some(token) = value.strip_prefix(b"Bearer ") {
                let token = std::str::from_utf8(token).map_err(|_| unauthenticated(INVALID))?;
                let verified = state.console.tokens.verify(token).ok_or_else(|| unauthenticated(INVALID))?;
                return Ok(Staff { username: verified.username.clone(), address, token: Some(verified) });
            }
            let encoded = value.strip_prefix(b"Basic ").ok_or_else(|| unauthenticated(INVALID))?;
            let decoded = STANDARD.decode(encoded).map_err(|_| unauthenticated(INVALID))?;
            let text = String::from_utf8(decoded).map_err(|_| unauthenticated(INVALID))?;
            let (username, password) = text.split_once(':').ok_or_else(|| unauthenticated(INVALID))?;
            match check_credentials(&state, username, password).await {
                Ok(()) => Ok(Staff { username: username.to_string(), address, token: None }),
                Err(e) => {
                    audit(&state, username, &address, "login", "", &e.message).await;
                    if e.code == Code::Unauthenticated {
                        Err(unauthenticated(INVALID))
                    } else {
                        Err(e.into())
                    }
                }
            }
        })
    }
}

#[derive(Deserialize, Default)]
pub struct Credentials {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Serialize)]
struct TokenBody {
    token: String,
}

/// `POST /v2/console/authenticate`: every attempt lands in the audit trail.
pub async fn authenticate(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Result<JsonBody<Credentials>, ApiError>,
) -> ConsoleResult {
    let JsonBody(credentials) = body?;
    let username = credentials.username.unwrap_or_default();
    let password = credentials.password.unwrap_or_default();
    let checked = check_credentials(&state, &username, &password).await;
    audit(&state, &username, &client_address(&req), "login", "", &outcome(&checked)).await;
    checked?;
    let token = state
        .console
        .tokens
        .issue(&username, state.clock.now())
        .map_err(ApiError::internal_with("Error creating console token."))?;
    Ok(json_ok(serde_json::to_string(&TokenBody { token }).unwrap_or_default()))
}

#[derive(Deserialize, Default)]
pub struct LogoutBody {
    token: Option<String>,
}

/// `POST /v2/console/authenticate/logout`: the given token (or the caller's own bearer
/// token when none is given) is refused from now on, also after a restart.
pub async fn logout(
    staff: Staff,
    state: web::Data<AppState>,
    body: Result<JsonBody<LogoutBody>, ApiError>,
) -> ConsoleResult {
    let JsonBody(LogoutBody { token }) = body?;
    let target = match token.filter(|t| !t.is_empty()) {
        Some(token) => state.console.tokens.verify(&token),
        None => staff.token.as_ref().map(|t| StaffToken { username: t.username.clone(), cki: t.cki, exp: t.exp }),
    };
    let result = match &target {
        Some(t) => state
            .store
            .insert_console_revoked_token(t.cki, t.exp)
            .await
            .map(|_| state.console.tokens.revoke(t.cki, t.exp))
            .map_err(ApiError::internal_with("Error logging out.")),
        None => Ok(()),
    };
    audit(&state, &staff.username, &staff.address, "logout", "", &outcome(&result)).await;
    result?;
    Ok(empty())
}
