//! `POST /v2/account/session/refresh` and `POST /v2/session/logout` (session.md §2-3).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::authenticate::session_response;
use crate::error::ApiResult;
use crate::http::{Call, Caller, JsonBody, ServerKey};
use crate::sessions::Vars;
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
    call: Call<ServerKey, JsonBody<SessionRefresh>>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let JsonBody(SessionRefresh { token, vars }) = call.body;
    let tokens = state.sessions.refresh(token.as_deref().unwrap_or(""), vars.unwrap_or_default()).await?;
    Ok(session_response(false, tokens))
}

pub async fn logout(
    call: Call<Caller, JsonBody<SessionLogout>>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let Call { auth: caller, body: JsonBody(SessionLogout { token, refresh_token }), .. } = call;
    state.sessions.logout(&caller, token.as_deref().unwrap_or(""), refresh_token.as_deref().unwrap_or("")).await?;
    Ok(super::empty())
}
