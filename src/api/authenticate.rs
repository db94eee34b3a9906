//! `POST /v2/account/authenticate/{device,email,custom}` (authenticate.md).
//! Order: body (extractor), query, server key, then the domain's checks.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::auth::require_server_key;
use super::body::JsonBody;
use super::query::AuthQuery;
use crate::accounts::{self, Authenticated};
use crate::error::{ApiError, ApiResult, Code};
use crate::metrics::{AuthMethod, AuthOutcome};
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

/// Counts an authentication by its outcome and time, from the domain's answer.
fn record(state: &AppState, method: AuthMethod, started: Instant, result: &ApiResult<Authenticated>) {
    let outcome = match result {
        Ok(who) if who.created => AuthOutcome::Created,
        Ok(_) => AuthOutcome::Login,
        Err(ApiError { code, .. }) => match code {
            Code::Unauthenticated => AuthOutcome::WrongCredentials,
            Code::ResourceExhausted => AuthOutcome::Throttled,
            Code::PermissionDenied => AuthOutcome::Banned,
            Code::NotFound => AuthOutcome::NotFound,
            Code::InvalidArgument | Code::AlreadyExists => AuthOutcome::Invalid,
            _ => AuthOutcome::Error,
        },
    };
    state.metrics.authentication(method, outcome, started.elapsed());
}

pub async fn device(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountId>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountId { id, vars }) = body;
    let started = Instant::now();
    let who = accounts::authenticate_device(&state, id.as_deref().unwrap_or(""), query.create, &query.username).await;
    record(&state, AuthMethod::Device, started, &who);
    respond(&state, who?, vars).await
}

pub async fn custom(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountId>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountId { id, vars }) = body;
    let started = Instant::now();
    let who = accounts::authenticate_custom(&state, id.as_deref().unwrap_or(""), query.create, &query.username).await;
    record(&state, AuthMethod::Custom, started, &who);
    respond(&state, who?, vars).await
}

pub async fn email(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountEmail>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountEmail { email, password, vars }) = body;
    let started = Instant::now();
    let who = accounts::authenticate_email(
        &state,
        email.as_deref().unwrap_or(""),
        password.as_deref().unwrap_or(""),
        query.create,
        &query.username,
    )
    .await;
    record(&state, AuthMethod::Email, started, &who);
    respond(&state, who?, vars).await
}
