//! `POST /v2/account/link/*` and `/unlink/*` (link-unlink.md), for every login kind (the
//! routes come from `authenticate::route`). Query strings are ignored here except `sync`
//! of link/facebook; `vars` in a body is accepted and ignored.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::require_session;
use super::authenticate::{text, AccountToken, CredentialBody};
use super::body::JsonBody;
use super::query::QueryString;
use crate::accounts::{self, Credential, LoginKind, Proof};
use crate::error::ApiResult;
use crate::AppState;

/// Device and custom id: `{id}`.
#[derive(Deserialize, Default)]
pub struct IdBody {
    id: Option<String>,
}

impl CredentialBody for IdBody {
    fn proof(&self) -> Proof<'_> {
        Proof::Text(text(&self.id))
    }
}

#[derive(Deserialize, Default)]
pub struct EmailBody {
    email: Option<String>,
    password: Option<String>,
}

impl CredentialBody for EmailBody {
    fn proof(&self) -> Proof<'_> {
        Proof::Email { email: text(&self.email), password: text(&self.password) }
    }
}

/// `link/steam` is the one wrapped body: `{"account":{"token":"..."},"sync":true}`.
#[derive(Deserialize, Default)]
pub struct LinkSteamBody {
    account: Option<AccountToken>,
    sync: Option<bool>,
}

impl CredentialBody for LinkSteamBody {
    fn proof(&self) -> Proof<'_> {
        Proof::Text(self.account.as_ref().map(|a| text(&a.token)).unwrap_or(""))
    }
    fn sync(&self) -> Option<bool> {
        self.sync
    }
}

pub(super) async fn link<B: CredentialBody>(
    kind: LoginKind,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<B>,
) -> ApiResult<HttpResponse> {
    // link/facebook alone reads its query: `sync`, default true.
    let sync = match kind {
        LoginKind::Facebook => QueryString::parse(req.query_string())?.bool("sync", "sync", true)?,
        _ => true,
    };
    let caller = require_session(&req, &state)?;
    let JsonBody(body) = body;
    let credential = Credential { kind, proof: body.proof() };
    accounts::link(&state, caller.uid, &credential, body.sync().unwrap_or(sync)).await?;
    Ok(super::empty())
}

pub(super) async fn unlink<B: CredentialBody>(
    kind: LoginKind,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<B>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    let JsonBody(body) = body;
    accounts::unlink(&state, caller.uid, &Credential { kind, proof: body.proof() }).await?;
    Ok(super::empty())
}
