//! `POST /v2/account/link/{device,email,custom}` and `/unlink/…` (link-unlink.md).
//! Query strings are ignored here; `vars` in a body is accepted and ignored.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::require_session;
use super::body::JsonBody;
use crate::accounts;
use crate::error::ApiResult;
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
