//! `POST /v2/account/session/refresh` and `POST /v2/session/logout` (session.md §2-3).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{require_server_key, require_session};
use super::authenticate::session_response;
use super::body::JsonBody;
use crate::error::ApiResult;
use crate::sessions::{self, Vars};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct SessionRefresh {
    token: Option<String>,
    vars: Option<Vars>,
}

#[derive(Deserialize, Default)]
pub struct SessionLogout {
    token: Option<String>,
    #[serde(alias = "refreshToken")]
    refresh_token: Option<String>,
}

pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<SessionRefresh>,
) -> ApiResult<HttpResponse> {
    require_server_key(&req, &state)?;
    let JsonBody(SessionRefresh { token, vars }) = body;
    let tokens = sessions::refresh(&state, token.as_deref().unwrap_or(""), vars.unwrap_or_default()).await?;
    Ok(session_response(false, tokens))
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<SessionLogout>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    let JsonBody(SessionLogout { token, refresh_token }) = body;
    sessions::logout(&state, &caller, token.as_deref().unwrap_or(""), refresh_token.as_deref().unwrap_or("")).await?;
    Ok(super::empty())
}
