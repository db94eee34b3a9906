//! The two ways a client request authenticates (http-conventions.md §7-8): the server key
//! in HTTP Basic, or a bearer session token.

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{ApiError, ApiResult};
use crate::sessions::{self, Claims, TokenKind};
use crate::AppState;

/// The single `Authorization` value, `Err(())` when given twice.
fn authorization(req: &HttpRequest) -> Result<Option<&[u8]>, ()> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let first = values.next();
    if values.next().is_some() {
        return Err(());
    }
    Ok(first.map(|v| v.as_bytes()).filter(|v| !v.is_empty()))
}

pub fn require_server_key(req: &HttpRequest, state: &AppState) -> ApiResult<()> {
    let value = match authorization(req) {
        Ok(Some(v)) => v,
        _ => return Err(ApiError::unauthenticated("Server key required")),
    };
    let invalid = || ApiError::unauthenticated("Server key invalid");
    let encoded = value.strip_prefix(b"Basic ").ok_or_else(invalid)?;
    let decoded = STANDARD.decode(encoded).map_err(|_| invalid())?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or_else(invalid)?;
    if &decoded[..colon] != state.config.socket.server_key.as_bytes() {
        return Err(invalid());
    }
    Ok(())
}

/// The caller's verified access-token claims.
pub fn require_session(req: &HttpRequest, state: &AppState) -> ApiResult<Claims> {
    let value = match authorization(req) {
        Ok(Some(v)) => v,
        Ok(None) => return Err(ApiError::unauthenticated("Auth token required")),
        Err(()) => return Err(ApiError::unauthenticated("Auth token invalid")),
    };
    let invalid = || ApiError::unauthenticated("Auth token invalid");
    let token = value.strip_prefix(b"Bearer ").ok_or_else(invalid)?;
    let token = std::str::from_utf8(token).map_err(|_| invalid())?;
    sessions::verify(state, token, TokenKind::Access).ok_or_else(invalid)
}
