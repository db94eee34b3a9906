//! The two ways a client request authenticates (http-conventions.md §7-8): the server key
//! in HTTP Basic (`ServerKey`), or a bearer session token (`Caller`). The checks take the
//! values of the credential header alone (`Authorization`), so gRPC metadata shares them.

use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{ApiError, ApiResult, ErrorKind, Failure};
use crate::sessions::{Claims, Sessions, TokenKind};
use crate::AppState;

/// How a client call proves who it is, checked from the request head alone. A call that
/// also reads a body or a query names its check inside `Call`, which runs it after them.
pub trait Authenticate: Sized {
    fn authenticate(req: &HttpRequest) -> ApiResult<Self>;
}

/// Proof that the request carried the server key in HTTP Basic.
pub struct ServerKey {
    _checked: (),
}

/// The caller's verified access-token claims (`caller.uid`, `caller.usn`, …).
pub struct Caller(pub Claims);

impl Deref for Caller {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl Authenticate for ServerKey {
    fn authenticate(req: &HttpRequest) -> ApiResult<Self> {
        require_server_key(req, app_state(req)?).map(|()| ServerKey { _checked: () })
    }
}

impl Authenticate for Caller {
    fn authenticate(req: &HttpRequest) -> ApiResult<Self> {
        require_session(req, app_state(req)?).map(Caller)
    }
}

/// Alone in a signature only when the call reads neither body nor query: with them, the
/// check belongs in `Call` (actix answers the first extractor error that is ready, and
/// this one is ready before any body).
impl FromRequest for ServerKey {
    type Error = ApiError;
    type Future = Ready<ApiResult<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::authenticate(req))
    }
}

/// See `ServerKey`'s extractor: alone only without body or query, else inside `Call`.
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<ApiResult<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::authenticate(req))
    }
}

/// The listener's state; every app built by `lib.rs` has it.
fn app_state(req: &HttpRequest) -> ApiResult<&AppState> {
    req.app_data::<web::Data<AppState>>()
        .map(|state| state.get_ref())
        .ok_or_else(|| Failure::ReadingServerState.because("no AppState on this listener"))
}

/// What a request carried under its credential header (`Authorization` over HTTP,
/// `authorization` metadata over gRPC): an empty value counts as none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorization<'a> {
    Missing,
    One(&'a [u8]),
    /// Given more than once.
    Many,
}

impl<'a> Authorization<'a> {
    pub fn of(mut values: impl Iterator<Item = &'a [u8]>) -> Self {
        match (values.next(), values.next()) {
            (_, Some(_)) => Authorization::Many,
            (Some(value), None) if !value.is_empty() => Authorization::One(value),
            _ => Authorization::Missing,
        }
    }
}

fn authorization(req: &HttpRequest) -> Authorization<'_> {
    Authorization::of(req.headers().get_all(header::AUTHORIZATION).map(|v| v.as_bytes()))
}

fn require_server_key(req: &HttpRequest, state: &AppState) -> ApiResult<()> {
    check_server_key(authorization(req), &state.config.socket.server_key)
}

fn require_session(req: &HttpRequest, state: &AppState) -> ApiResult<Claims> {
    check_session(authorization(req), &state.sessions)
}

/// `Basic base64(<server key>:<anything>)`; a repeated header counts as missing.
pub fn check_server_key(authorization: Authorization<'_>, server_key: &str) -> ApiResult<()> {
    let Authorization::One(value) = authorization else {
        return Err(ErrorKind::ServerKeyRequired.into());
    };
    let invalid = || ApiError::from(ErrorKind::ServerKeyInvalid);
    let encoded = value.strip_prefix(b"Basic ").ok_or_else(invalid)?;
    let decoded = STANDARD.decode(encoded).map_err(|_| invalid())?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or_else(invalid)?;
    if &decoded[..colon] != server_key.as_bytes() {
        return Err(invalid());
    }
    Ok(())
}

/// `Bearer <access token>`, live in the session cache: the caller's verified claims. A
/// repeated header is invalid.
pub fn check_session(authorization: Authorization<'_>, sessions: &Sessions) -> ApiResult<Claims> {
    let value = match authorization {
        Authorization::One(v) => v,
        Authorization::Missing => return Err(ErrorKind::AuthTokenRequired.into()),
        Authorization::Many => return Err(ErrorKind::AuthTokenInvalid.into()),
    };
    let invalid = || ApiError::from(ErrorKind::AuthTokenInvalid);
    let token = value.strip_prefix(b"Bearer ").ok_or_else(invalid)?;
    let token = std::str::from_utf8(token).map_err(|_| invalid())?;
    sessions.verify(token, TokenKind::Access).ok_or_else(invalid)
}
