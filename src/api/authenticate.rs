//! `POST /v2/account/authenticate/{device,email,custom}` (authenticate.md).
//! Order: body (extractor), query, server key, then the domain's checks.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::auth::require_server_key;
use super::body::JsonBody;
use super::query::AuthQuery;
use crate::accounts::{self, Authenticated};
use crate::error::ApiResult;
use crate::sessions::{self, SessionTokens, Vars};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct AccountId {
    id: Option<String>,
    vars: Option<Vars>,
}

#[derive(Deserialize, Default)]
pub struct AccountEmail {
    email: Option<String>,
    password: Option<String>,
    vars: Option<Vars>,
}

#[derive(Serialize)]
pub struct SessionBody {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    created: bool,
    token: String,
    refresh_token: String,
}

pub fn session_response(created: bool, tokens: SessionTokens) -> HttpResponse {
    HttpResponse::Ok().json(SessionBody { created, token: tokens.token, refresh_token: tokens.refresh_token })
}

/// Issues the token pair for a successful authentication.
pub async fn respond(state: &AppState, who: Authenticated, vars: Option<Vars>) -> ApiResult<HttpResponse> {
    let tokens = sessions::start_session(state, who.user_id, &who.username, vars.unwrap_or_default()).await?;
    Ok(session_response(who.created, tokens))
}

pub async fn device(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountId>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountId { id, vars }) = body;
    let who = accounts::authenticate_device(&state, id.as_deref().unwrap_or(""), query.create, &query.username).await?;
    respond(&state, who, vars).await
}

pub async fn custom(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountId>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountId { id, vars }) = body;
    let who = accounts::authenticate_custom(&state, id.as_deref().unwrap_or(""), query.create, &query.username).await?;
    respond(&state, who, vars).await
}

pub async fn email(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountEmail>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountEmail { email, password, vars }) = body;
    let who = accounts::authenticate_email(
        &state,
        email.as_deref().unwrap_or(""),
        password.as_deref().unwrap_or(""),
        query.create,
        &query.username,
    )
    .await?;
    respond(&state, who, vars).await
}
