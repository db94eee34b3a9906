//! The console's staff (console.md §2): console tokens (HS256 with `console.signing_key`,
//! refused by the client API and vice versa) and the `Staff` extractor, bearer or Basic.

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
use uuid::Uuid;

use super::client_address;
use crate::config::ConsoleConfig;
use crate::console::ConsoleError;
use crate::error::{Code, ErrorKind};
use crate::AppState;

const ROLE_ADMIN: i32 = 1;
const REQUIRED: ErrorKind = ErrorKind::ConsoleAuthRequired;
const INVALID: ErrorKind = ErrorKind::ConsoleAuthInvalid;

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

    pub fn issue(&self, username: &str, now: i64) -> Result<String, jsonwebtoken::errors::Error> {
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
    pub token: Option<StaffToken>,
}

fn unauthenticated(refusal: ErrorKind) -> ConsoleError {
    ConsoleError(refusal.into())
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
            match state.accounts.check_staff(username, password).await {
                Ok(()) => Ok(Staff { username: username.to_string(), address, token: None }),
                Err(e) => {
                    state.accounts.audit(username, &address, "login", "", &e.message).await;
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
