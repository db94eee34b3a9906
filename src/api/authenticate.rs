//! `POST /v2/account/authenticate/*` (authenticate.md), and the routes of every login kind
//! for authenticate, link and unlink, taken from the kinds' table with each kind's body.
//! Order: body, query, server key (`Call`), then the domain's checks.

use std::time::Instant;

use actix_web::{web, HttpResponse, Route};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::link::{EmailBody, IdBody, LinkSteamBody};
use crate::accounts::{Authenticated, Credential, LoginKind, Proof};
use crate::error::ApiResult;
use crate::http::query::AuthQuery;
use crate::http::{Call, Caller, FromQuery, JsonBody, QueryString, ServerKey};
use crate::metrics::{AuthMethod, AuthOutcome};
use crate::sessions::{SessionTokens, Vars};
use crate::social::gamecenter;
use crate::AppState;

/// What a route does with a credential.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Authenticate,
    Link,
    Unlink,
}

/// A request body carrying a credential.
pub trait CredentialBody: DeserializeOwned + Default + 'static {
    fn proof(&self) -> Proof<'_>;
    /// The session variables of an authenticate body.
    fn take_vars(&mut self) -> Option<Vars> {
        None
    }
    /// `sync` given in the body (link/steam).
    fn sync(&self) -> Option<bool> {
        None
    }
}

/// The route of `kind` for `op`, with the body (and query) that kind's endpoint reads.
pub fn route(kind: LoginKind, op: Op) -> Route {
    use LoginKind::*;
    match (op, kind) {
        (Op::Authenticate, Device | Custom) => authenticate_route::<AccountId>(kind),
        (Op::Authenticate, Email) => authenticate_route::<AccountEmail>(kind),
        (Op::Authenticate, Apple | Facebook | Google | Steam) => authenticate_route::<AccountToken>(kind),
        (Op::Authenticate, FacebookInstantGame) => authenticate_route::<AccountInstantGame>(kind),
        (Op::Authenticate, GameCenter) => authenticate_route::<AccountGameCenter>(kind),
        (_, Device | Custom) => link_route::<IdBody>(kind, op),
        (_, Email) => link_route::<EmailBody>(kind, op),
        (Op::Link, Steam) => link_route::<LinkSteamBody>(kind, op),
        (_, Apple | Facebook | Google | Steam) => link_route::<AccountToken>(kind, op),
        (_, FacebookInstantGame) => link_route::<AccountInstantGame>(kind, op),
        (_, GameCenter) => link_route::<AccountGameCenter>(kind, op),
    }
}

/// authenticate's query: `create`, `username`, and `sync` for the kinds that import friends.
fn authenticate_route<B: CredentialBody>(kind: LoginKind) -> Route {
    match kind.imports_friends() {
        true => web::post().to(move |call: Call<ServerKey, JsonBody<B>, WithSync>, state: web::Data<AppState>| {
            authenticate(kind, call.body, call.query.0, state)
        }),
        false => web::post().to(move |call: Call<ServerKey, JsonBody<B>, AuthQuery>, state: web::Data<AppState>| {
            authenticate(kind, call.body, call.query, state)
        }),
    }
}

/// link and unlink read no query, except link/facebook its `sync`.
fn link_route<B: CredentialBody>(kind: LoginKind, op: Op) -> Route {
    use super::link::{link, unlink};
    match (op, kind) {
        (Op::Link, LoginKind::Facebook) => {
            web::post().to(move |call: Call<Caller, JsonBody<B>, LinkSync>, state: web::Data<AppState>| {
                link(kind, call.auth, call.body, Some(call.query.0), state)
            })
        }
        (Op::Link, _) => web::post().to(move |call: Call<Caller, JsonBody<B>>, state: web::Data<AppState>| {
            link(kind, call.auth, call.body, None, state)
        }),
        _ => web::post().to(move |call: Call<Caller, JsonBody<B>>, state: web::Data<AppState>| {
            unlink(kind, call.auth, call.body, state)
        }),
    }
}

/// `create`, `username` and `sync` (default false): authenticate/facebook and /steam.
struct WithSync(AuthQuery);

impl FromQuery for WithSync {
    fn from_query(query: &str) -> ApiResult<Self> {
        AuthQuery::parse_with_sync(query).map(WithSync)
    }
}

/// link/facebook's `sync`, default true.
struct LinkSync(bool);

impl FromQuery for LinkSync {
    fn from_query(query: &str) -> ApiResult<Self> {
        QueryString::parse(query)?.bool("sync", "sync", true).map(LinkSync)
    }
}

#[derive(Deserialize, Default)]
pub struct AccountId {
    id: Option<String>,
    vars: Option<Vars>,
}

impl CredentialBody for AccountId {
    fn proof(&self) -> Proof<'_> {
        Proof::Text(text(&self.id))
    }
    fn take_vars(&mut self) -> Option<Vars> {
        self.vars.take()
    }
}

#[derive(Deserialize, Default)]
pub struct AccountEmail {
    email: Option<String>,
    password: Option<String>,
    vars: Option<Vars>,
}

impl CredentialBody for AccountEmail {
    fn proof(&self) -> Proof<'_> {
        Proof::Email { email: text(&self.email), password: text(&self.password) }
    }
    fn take_vars(&mut self) -> Option<Vars> {
        self.vars.take()
    }
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
    let tokens = state.sessions.start(who.user_id, &who.username, vars.unwrap_or_default()).await?;
    Ok(session_response(who.created, tokens))
}

/// Authenticates through the domain and counts the outcome (read from the error's kind)
/// and time: every transport's login goes through here.
pub async fn login(
    state: &AppState,
    credential: &Credential<'_>,
    create: bool,
    username: &str,
    sync: bool,
) -> ApiResult<Authenticated> {
    let started = Instant::now();
    let who = state.accounts.authenticate(credential, create, username, sync).await;
    if let Some(method) = credential.kind.metric() {
        record(state, method, started, &who);
    }
    who
}

fn record(state: &AppState, method: AuthMethod, started: Instant, result: &ApiResult<Authenticated>) {
    let outcome = match result {
        Ok(who) if who.created => AuthOutcome::Created,
        Ok(_) => AuthOutcome::Login,
        Err(error) => AuthOutcome::of(error),
    };
    state.metrics.authentication(method, outcome, started.elapsed());
}

async fn authenticate<B: CredentialBody>(
    kind: LoginKind,
    JsonBody(mut body): JsonBody<B>,
    query: AuthQuery,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let vars = body.take_vars();
    let credential = Credential { kind, proof: body.proof() };
    let who = login(&state, &credential, query.create, &query.username, query.sync).await?;
    respond(&state, who, vars).await
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

impl CredentialBody for AccountGameCenter {
    fn proof(&self) -> Proof<'_> {
        Proof::GameCenter(gamecenter::Credential {
            player_id: text(&self.player_id),
            bundle_id: text(&self.bundle_id),
            timestamp_seconds: self.timestamp_seconds,
            salt: text(&self.salt),
            signature: text(&self.signature),
            public_key_url: text(&self.public_key_url),
        })
    }
    fn take_vars(&mut self) -> Option<Vars> {
        self.vars.take()
    }
}

impl CredentialBody for AccountToken {
    fn proof(&self) -> Proof<'_> {
        Proof::Text(text(&self.token))
    }
    fn take_vars(&mut self) -> Option<Vars> {
        self.vars.take()
    }
}

impl CredentialBody for AccountInstantGame {
    fn proof(&self) -> Proof<'_> {
        Proof::Text(text(&self.signed_player_info))
    }
    fn take_vars(&mut self) -> Option<Vars> {
        self.vars.take()
    }
}

pub(super) fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}
