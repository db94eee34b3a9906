//! `GET/PUT/DELETE /v2/account` and `GET /v2/user` (account.md §1-4).

use actix_web::{web, HttpRequest, HttpResponse};
use entity::users;
use serde::{Deserialize, Serialize};

use super::auth::require_session;
use super::body::JsonBody;
use super::query::QueryString;
use crate::accounts;
use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::store::AccountUpdate;
use crate::AppState;

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The public profile, keys in proto field order, defaults omitted.
#[derive(Serialize)]
pub struct User {
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar_url: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang_tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    metadata: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    facebook_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    google_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gamecenter_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steam_id: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    online: bool,
    #[serde(skip_serializing_if = "is_zero")]
    edge_count: i32,
    create_time: String,
    update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    facebook_instant_game_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    apple_id: Option<String>,
}

impl User {
    pub fn from_model(u: users::Model, online: bool) -> Self {
        let some = |v: Option<String>| v.filter(|s| !s.is_empty());
        User {
            id: u.id.to_string(),
            username: u.username,
            display_name: some(u.display_name),
            avatar_url: some(u.avatar_url),
            lang_tag: u.lang_tag,
            location: some(u.location),
            timezone: some(u.timezone),
            metadata: u.metadata,
            facebook_id: some(u.facebook_id),
            google_id: some(u.google_id),
            gamecenter_id: some(u.gamecenter_id),
            steam_id: some(u.steam_id),
            online,
            edge_count: u.edge_count,
            create_time: rfc3339(u.create_time),
            update_time: rfc3339(u.update_time),
            facebook_instant_game_id: some(u.facebook_instant_game_id),
            apple_id: some(u.apple_id),
        }
    }
}

#[derive(Serialize)]
struct DeviceBody {
    id: String,
}

#[derive(Serialize)]
struct AccountBody {
    user: User,
    #[serde(skip_serializing_if = "String::is_empty")]
    wallet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<DeviceBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_time: Option<String>,
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    let account = accounts::get_account(&state, caller.uid).await?;
    let u = account.user;
    let body = AccountBody {
        wallet: u.wallet.clone(),
        email: u.email.clone().filter(|e| !e.is_empty()),
        devices: account.devices.into_iter().map(|id| DeviceBody { id }).collect(),
        custom_id: u.custom_id.clone().filter(|c| !c.is_empty()),
        verify_time: (u.verify_time != 0).then(|| rfc3339(u.verify_time)),
        user: User::from_model(u, state.status.is_online(caller.uid)),
    };
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize, Default)]
pub struct UpdateAccountRequest {
    username: Option<String>,
    #[serde(alias = "displayName")]
    display_name: Option<String>,
    #[serde(alias = "avatarUrl")]
    avatar_url: Option<String>,
    #[serde(alias = "langTag")]
    lang_tag: Option<String>,
    location: Option<String>,
    timezone: Option<String>,
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<UpdateAccountRequest>,
) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    let JsonBody(b) = body;
    let update = AccountUpdate {
        username: b.username,
        display_name: b.display_name,
        avatar_url: b.avatar_url,
        lang_tag: b.lang_tag,
        location: b.location,
        timezone: b.timezone,
        metadata: None,
    };
    accounts::update_account(&state, caller.uid, update).await?;
    Ok(super::empty())
}

pub async fn delete(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let caller = require_session(&req, &state)?;
    accounts::delete_account(&state, caller.uid).await?;
    Ok(super::empty())
}

#[derive(Serialize)]
struct UsersBody {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users: Vec<User>,
}

pub async fn get_users(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let query = QueryString::parse(req.query_string())?;
    require_session(&req, &state)?;
    let ids = query.all("ids", "ids");
    let usernames = query.all("usernames", "usernames");
    let facebook_ids = query.all("facebook_ids", "facebookIds");
    let users = accounts::get_users(&state, &ids, usernames, facebook_ids).await?;
    let users = users
        .into_iter()
        .map(|u| {
            let online = state.status.is_online(u.id);
            User::from_model(u, online)
        })
        .collect();
    Ok(HttpResponse::Ok().json(UsersBody { users }))
}
