//! `GET/PUT/DELETE /v2/account` and `GET /v2/user` (account.md §1-4).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::http::users::User;
use crate::http::{Call, Caller, JsonBody, NoBody, QueryString};
use crate::store::AccountUpdate;
use crate::AppState;

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

pub async fn get(caller: Caller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let account = state.accounts.get_account(caller.uid).await?;
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
    call: Call<Caller, JsonBody<UpdateAccountRequest>>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let Call { auth: caller, body: JsonBody(b), .. } = call;
    let update = AccountUpdate {
        username: b.username,
        display_name: b.display_name,
        avatar_url: b.avatar_url,
        lang_tag: b.lang_tag,
        location: b.location,
        timezone: b.timezone,
        metadata: None,
    };
    state.accounts.update_account(caller.uid, update).await?;
    Ok(super::empty())
}

pub async fn delete(caller: Caller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state.accounts.delete_account(caller.uid).await?;
    Ok(super::empty())
}

#[derive(Serialize)]
struct UsersBody {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users: Vec<User>,
}

pub async fn get_users(call: Call<Caller, NoBody, QueryString>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let query = call.query;
    let ids = query.all("ids", "ids");
    let usernames = query.all("usernames", "usernames");
    let facebook_ids = query.all("facebook_ids", "facebookIds");
    let users = state.accounts.get_users(&ids, usernames, facebook_ids).await?;
    let users = users
        .into_iter()
        .map(|u| {
            let online = state.status.is_online(u.id);
            User::from_model(u, online)
        })
        .collect();
    Ok(HttpResponse::Ok().json(UsersBody { users }))
}
