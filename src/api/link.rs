//! `POST /v2/account/link/*` and `/unlink/*` (link-unlink.md), for every login kind (the
//! routes come from `authenticate::route`). Query strings are ignored here except `sync`
//! of link/facebook; `vars` in a body is accepted and ignored.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::authenticate::{text, AccountToken, CredentialBody};
use crate::accounts::{Credential, LoginKind, Proof};
use crate::error::ApiResult;
use crate::http::{Caller, JsonBody};
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

/// `sync` comes from link/facebook's query or link/steam's body, default true.
pub(super) async fn link<B: CredentialBody>(
    kind: LoginKind,
    caller: Caller,
    JsonBody(body): JsonBody<B>,
    query_sync: Option<bool>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let credential = Credential { kind, proof: body.proof() };
    let sync = body.sync().or(query_sync).unwrap_or(true);
    state.accounts.link(caller.uid, &credential, sync).await?;
    Ok(super::empty())
}

pub(super) async fn unlink<B: CredentialBody>(
    kind: LoginKind,
    caller: Caller,
    JsonBody(body): JsonBody<B>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    state.accounts.unlink(caller.uid, &Credential { kind, proof: body.proof() }).await?;
    Ok(super::empty())
}
