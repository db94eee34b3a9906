//! `POST /v2/account/link/*` and `/unlink/*` (link-unlink.md): device, email, custom and
//! the social providers. Query strings are ignored here except `sync` of link/facebook;
//! `vars` in a body is accepted and ignored.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::authenticate::{AccountGameCenter, AccountInstantGame, AccountToken};
use crate::accounts;
use crate::error::ApiResult;
use crate::http::auth::require_session;
use crate::http::body::JsonBody;
use crate::http::query::QueryString;
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct IdBody {
    id: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct EmailBody {
    email: Option<String>,
    password: Option<String>,
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

pub async fn link_device(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<IdBody>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::link_device(&state, caller.uid, text(&body.0.id)).await?;
    Ok(super::empty())
}

pub async fn link_custom(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<IdBody>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::link_custom(&state, caller.uid, text(&body.0.id)).await?;
    Ok(super::empty())
}

pub async fn link_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<EmailBody>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::link_email(&state, caller.uid, text(&body.0.email), text(&body.0.password)).await?;
    Ok(super::empty())
}

pub async fn unlink_device(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<IdBody>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_device(&state, caller.uid, text(&body.0.id)).await?;
    Ok(super::empty())
}

pub async fn unlink_custom(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<IdBody>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_custom(&state, caller.uid, text(&body.0.id)).await?;
    Ok(super::empty())
}

pub async fn unlink_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<EmailBody>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_email(&state, caller.uid, text(&body.0.email)).await?;
    Ok(super::empty())
}

/// `link/steam` is the one wrapped body: `{"account":{"token":"..."},"sync":true}`.
#[derive(Deserialize, Default)]
pub struct LinkSteamBody {
    account: Option<AccountToken>,
    sync: Option<bool>,
}

fn token(body: &AccountToken) -> &str {
    text(&body.token)
}

pub async fn link_apple(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::link_apple(&state, caller.uid, token(&body.0)).await?;
    Ok(super::empty())
}

/// The one link endpoint reading its query: `sync`, default true.
pub async fn link_facebook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let sync = QueryString::parse(req.query_string())?.bool("sync", "sync", true)?;
    let caller = require_session(&req, &state)?;
    accounts::link_facebook(&state, caller.uid, token(&body.0), sync).await?;
    Ok(super::empty())
}

pub async fn link_facebook_instant_game(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountInstantGame>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::link_facebook_instant_game(&state, caller.uid, text(&body.0.signed_player_info)).await?;
    Ok(super::empty())
}

pub async fn link_google(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::link_google(&state, caller.uid, token(&body.0)).await?;
    Ok(super::empty())
}

pub async fn link_gamecenter(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountGameCenter>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::link_gamecenter(&state, caller.uid, &body.0.credential()).await?;
    Ok(super::empty())
}

pub async fn link_steam(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<LinkSteamBody>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    let JsonBody(LinkSteamBody { account, sync }) = body;
    let ticket = account.as_ref().map(token).unwrap_or("");
    accounts::link_steam(&state, caller.uid, ticket, sync.unwrap_or(true)).await?;
    Ok(super::empty())
}

pub async fn unlink_apple(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_apple(&state, caller.uid, token(&body.0)).await?;
    Ok(super::empty())
}

pub async fn unlink_facebook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_facebook(&state, caller.uid, token(&body.0)).await?;
    Ok(super::empty())
}

pub async fn unlink_facebook_instant_game(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountInstantGame>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_facebook_instant_game(&state, caller.uid, text(&body.0.signed_player_info)).await?;
    Ok(super::empty())
}

pub async fn unlink_google(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_google(&state, caller.uid, token(&body.0)).await?;
    Ok(super::empty())
}

pub async fn unlink_gamecenter(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountGameCenter>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_gamecenter(&state, caller.uid, &body.0.credential()).await?;
    Ok(super::empty())
}

pub async fn unlink_steam(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<AccountToken>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::unlink_steam(&state, caller.uid, token(&body.0)).await?;
    Ok(super::empty())
}
