//! Staff login and logout (console.md §2): every attempt lands in the audit trail. The
//! `Staff` extractor and the console tokens live in `crate::http::staff`.

use actix_web::{web, HttpRequest};
use serde::{Deserialize, Serialize};

use super::{empty, json_ok, ConsoleResult};
use crate::error::{ApiError, Failure};
use crate::http::staff::StaffToken;
use crate::http::{client_address, JsonBody, Staff};
use crate::AppState;

/// `ok` or the error's message, as the audit trail keeps it.
pub fn outcome<T>(result: &Result<T, ApiError>) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.message.to_string(),
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
    let checked = state.accounts.check_staff(&username, &password).await;
    state.accounts.audit(&username, &client_address(&req), "login", "", &outcome(&checked)).await;
    checked?;
    let token = state
        .console
        .tokens
        .issue(&username, state.clock.now())
        .map_err(|e| Failure::CreatingConsoleToken.because(e))?;
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
            .map_err(|e| Failure::LoggingOut.because(e)),
        None => Ok(()),
    };
    state.accounts.audit(&staff.username, &staff.address, "logout", "", &outcome(&result)).await;
    result?;
    Ok(empty())
}
