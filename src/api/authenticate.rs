//! `POST /v2/account/authenticate/*` (authenticate.md): device, email, custom and the
//! social providers.
//! Order: body (extractor), query, server key, then the domain's checks.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::accounts::{self, Authenticated};
use crate::error::{ApiError, ApiResult, Code};
use crate::http::auth::require_server_key;
use crate::http::body::JsonBody;
use crate::http::query::AuthQuery;
use crate::metrics::{AuthMethod, AuthOutcome};
use crate::sessions::{self, SessionTokens, Vars};
use crate::social::gamecenter::Credential;
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

/// `{token, vars}`: Apple, Facebook, Google and Steam.
#[derive(Deserialize, Default)]
pub struct AccountToken {
    pub token: Option<String>,
    pub vars: Option<Vars>,
}

#[derive(Deserialize, Default)]
pub struct AccountInstantGame {
    #[serde(alias = "signedPlayerInfo")]
    pub signed_player_info: Option<String>,
    pub vars: Option<Vars>,
}

#[derive(Deserialize, Default)]
pub struct AccountGameCenter {
    #[serde(alias = "playerId")]
    player_id: Option<String>,
    #[serde(alias = "bundleId")]
    bundle_id: Option<String>,
    #[serde(alias = "timestampSeconds", default, deserialize_with = "crate::http::body::proto_int64")]
    timestamp_seconds: i64,
    salt: Option<String>,
    signature: Option<String>,
    #[serde(alias = "publicKeyUrl")]
    public_key_url: Option<String>,
    pub vars: Option<Vars>,
}

impl AccountGameCenter {
    pub fn credential(&self) -> Credential<'_> {
        Credential {
            player_id: text(&self.player_id),
            bundle_id: text(&self.bundle_id),
            timestamp_seconds: self.timestamp_seconds,
            salt: text(&self.salt),
            signature: text(&self.signature),
            public_key_url: text(&self.public_key_url),
        }
    }
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

pub async fn apple(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountToken { token, vars }) = body;
    let who = accounts::authenticate_apple(&state, text(&token), query.create, &query.username).await?;
    respond(&state, who, vars).await
}

pub async fn facebook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse_with_sync(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountToken { token, vars }) = body;
    let who = accounts::authenticate_facebook(&state, text(&token), query.create, &query.username, query.sync).await?;
    respond(&state, who, vars).await
}

pub async fn facebook_instant_game(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountInstantGame>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountInstantGame { signed_player_info, vars }) = body;
    let who =
        accounts::authenticate_facebook_instant_game(&state, text(&signed_player_info), query.create, &query.username)
            .await?;
    respond(&state, who, vars).await
}

pub async fn google(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountToken { token, vars }) = body;
    let who = accounts::authenticate_google(&state, text(&token), query.create, &query.username).await?;
    respond(&state, who, vars).await
}

pub async fn gamecenter(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountGameCenter>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(account) = body;
    let who = accounts::authenticate_gamecenter(&state, &account.credential(), query.create, &query.username).await?;
    respond(&state, who, account.vars).await
}

pub async fn steam(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let query = AuthQuery::parse_with_sync(req.query_string())?;
    require_server_key(&req, &state)?;
    let JsonBody(AccountToken { token, vars }) = body;
    let who = accounts::authenticate_steam(&state, text(&token), query.create, &query.username, query.sync).await?;
    respond(&state, who, vars).await
}
