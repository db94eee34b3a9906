//! `/v2/console/account…` (console.md §3): list, get, update, delete, ban, unban, unlink,
//! friends. Each write calls the same domain function as the client API and is audited.

use actix_web::web;
use entity::users;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::auth::outcome;
use super::{empty, json_ok, ConsoleError, ConsoleResult};
use crate::accounts::{Credential, LoginKind, Proof};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorKind, Failure};
use crate::http::{JsonBody, Query, Staff};
use crate::store::AccountUpdate;
use crate::AppState;

/// The `{id}` of a path: a UUID, else `UserIdInvalid`.
fn user_id(raw: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(raw).ok().filter(|_| raw.len() == 36).ok_or_else(|| ErrorKind::UserIdInvalid.into())
}

fn not_system(id: Uuid, refusal: ErrorKind) -> Result<Uuid, ConsoleError> {
    if id.is_nil() {
        return Err(refusal.into());
    }
    Ok(id)
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// A `User` with every field printed, as the console does.
fn user_json(u: &users::Model, online: bool) -> Value {
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "display_name": text(&u.display_name),
        "avatar_url": text(&u.avatar_url),
        "lang_tag": u.lang_tag,
        "location": text(&u.location),
        "timezone": text(&u.timezone),
        "metadata": u.metadata,
        "facebook_id": text(&u.facebook_id),
        "google_id": text(&u.google_id),
        "gamecenter_id": text(&u.gamecenter_id),
        "steam_id": text(&u.steam_id),
        "online": online,
        "edge_count": u.edge_count,
        "create_time": rfc3339(u.create_time),
        "update_time": rfc3339(u.update_time),
        "facebook_instant_game_id": text(&u.facebook_instant_game_id),
        "apple_id": text(&u.apple_id),
    })
}

fn time_or_null(t: i64) -> Value {
    if t == 0 {
        Value::Null
    } else {
        Value::String(rfc3339(t))
    }
}

/// `GET /v2/console/account?filter=&cursor=`
pub async fn list(_: Staff, query: Result<Query, ApiError>, state: web::Data<AppState>) -> ConsoleResult {
    let Query(query) = query?;
    let filter = query.string("filter", "filter")?;
    let cursor = query.string("cursor", "cursor")?;
    let page = state.accounts.list_accounts(filter.trim(), &cursor).await?;
    let users: Vec<Value> = page.users.iter().map(|u| user_json(u, state.status.is_online(u.id))).collect();
    Ok(json_ok(json!({"users": users, "total_count": page.total_count, "next_cursor": page.next_cursor}).to_string()))
}

/// `GET /v2/console/account/{id}`: the account, plus Hearth's live numbers for staff.
pub async fn get(_: Staff, path: web::Path<String>, state: web::Data<AppState>) -> ConsoleResult {
    let id = user_id(&path)?;
    let account = state.accounts.get_account(id).await?;
    let u = &account.user;
    let devices: Vec<Value> = account.devices.iter().map(|d| json!({"id": d, "vars": {}})).collect();
    let sessions = state.sessions.live.of(id, state.clock.now()).len();
    let sockets = state.registry.socket_count_of(id).await;
    let body = json!({
        "account": {
            "user": user_json(u, state.status.is_online(id)),
            "wallet": u.wallet,
            "email": text(&u.email),
            "devices": devices,
            "custom_id": text(&u.custom_id),
            "verify_time": time_or_null(u.verify_time),
            "disable_time": time_or_null(u.disable_time),
        },
        "disable_time": time_or_null(u.disable_time),
        "live": {"sessions": sessions, "sockets": sockets},
    });
    Ok(json_ok(body.to_string()))
}

#[derive(Deserialize, Default)]
pub struct UpdateBody {
    username: Option<String>,
    display_name: Option<String>,
    avatar_url: Option<String>,
    lang_tag: Option<String>,
    location: Option<String>,
    timezone: Option<String>,
    metadata: Option<String>,
    custom_id: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

async fn apply_update(state: &AppState, id: Uuid, b: UpdateBody) -> ApiResult<()> {
    state.accounts.existing_user(id, Failure::RetrievingAccount).await?;
    let profile = AccountUpdate {
        username: b.username,
        display_name: b.display_name,
        avatar_url: b.avatar_url,
        lang_tag: b.lang_tag,
        location: b.location,
        timezone: b.timezone,
        metadata: b.metadata,
    };
    let has_profile = !profile.is_empty();
    if !has_profile && b.custom_id.is_none() && b.email.is_none() && b.password.is_none() {
        return Err(ErrorKind::NoFieldsToUpdate.into());
    }
    if has_profile {
        state.accounts.update_account(id, profile).await?;
    }
    let clear = |kind| Credential { kind, proof: Proof::Text("") };
    match b.custom_id.as_deref() {
        None => {}
        Some("") => state.accounts.unlink(id, &clear(LoginKind::Custom)).await?,
        Some(custom) => {
            let custom = Credential { kind: LoginKind::Custom, proof: Proof::Text(custom) };
            state.accounts.link(id, &custom, false).await?
        }
    }
    match (b.email.as_deref(), b.password.as_deref()) {
        (Some(email), password) if !email.is_empty() => state.accounts.set_email(id, email, password).await?,
        (Some(_), _) => state.accounts.unlink(id, &clear(LoginKind::Email)).await?,
        (None, Some(password)) => state.accounts.set_password(id, password).await?,
        (None, None) => {}
    }
    Ok(())
}

/// `POST /v2/console/account/{id}`
pub async fn update(
    staff: Staff,
    path: web::Path<String>,
    state: web::Data<AppState>,
    body: Result<JsonBody<UpdateBody>, ApiError>,
) -> ConsoleResult {
    let id = user_id(&path)?;
    let JsonBody(body) = body?;
    let result = apply_update(&state, id, body).await;
    state.accounts.audit(&staff.username, &staff.address, "update", &id.to_string(), &outcome(&result)).await;
    result?;
    Ok(empty())
}

/// `DELETE /v2/console/account/{id}?record_deletion=`: the user's sockets close as for
/// `DELETE /v2/account`. Hearth keeps no deletion records, so `record_deletion` is read
/// and has no further effect.
pub async fn delete(
    staff: Staff,
    path: web::Path<String>,
    query: Result<Query, ApiError>,
    state: web::Data<AppState>,
) -> ConsoleResult {
    let id = not_system(user_id(&path)?, ErrorKind::CannotDeleteSystemUser)?;
    let Query(query) = query?;
    query.bool("record_deletion", "recordDeletion", false)?;
    let result = state.accounts.delete_account(id).await;
    state.accounts.audit(&staff.username, &staff.address, "delete", &id.to_string(), &outcome(&result)).await;
    result?;
    Ok(empty())
}

fn found(found: bool) -> ApiResult<()> {
    if found {
        Ok(())
    } else {
        Err(ErrorKind::AccountNotFound.into())
    }
}

/// `POST /v2/console/account/{id}/ban`: sockets get `banned` and close, tokens are void.
pub async fn ban(staff: Staff, path: web::Path<String>, state: web::Data<AppState>) -> ConsoleResult {
    let id = not_system(user_id(&path)?, ErrorKind::CannotBanSystemUser)?;
    let result = state.accounts.ban(id).await.and_then(found);
    state.accounts.audit(&staff.username, &staff.address, "ban", &id.to_string(), &outcome(&result)).await;
    result?;
    Ok(empty())
}

/// `POST /v2/console/account/{id}/unban`: tokens voided by the ban stay void.
pub async fn unban(staff: Staff, path: web::Path<String>, state: web::Data<AppState>) -> ConsoleResult {
    let id = not_system(user_id(&path)?, ErrorKind::CannotUnbanSystemUser)?;
    let result = state.accounts.unban(id).await.and_then(found);
    state.accounts.audit(&staff.username, &staff.address, "unban", &id.to_string(), &outcome(&result)).await;
    result?;
    Ok(empty())
}

#[derive(Deserialize, Default)]
pub struct UnlinkBody {
    device_id: Option<String>,
}

/// `POST /v2/console/account/{id}/unlink/{kind}` (`{"device_id":…}` for devices).
pub async fn unlink(
    staff: Staff,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    body: Result<JsonBody<UnlinkBody>, ApiError>,
) -> ConsoleResult {
    let (raw_id, name) = path.into_inner();
    let Some(kind) = LoginKind::from_name(&name) else {
        return Err(ErrorKind::RouteNotFound.into());
    };
    let id = user_id(&raw_id)?;
    let JsonBody(UnlinkBody { device_id }) = body?;
    let result = async {
        state.accounts.get_account(id).await?;
        state.accounts.unlink_kind(id, kind, text(&device_id)).await
    }
    .await;
    let action = format!("unlink_{name}");
    state.accounts.audit(&staff.username, &staff.address, &action, &id.to_string(), &outcome(&result)).await;
    result?;
    Ok(empty())
}

/// `GET /v2/console/account/{id}/friend`: the account's friend list, as the client API
/// shows it to the account itself.
pub async fn friends(_: Staff, path: web::Path<String>, state: web::Data<AppState>) -> ConsoleResult {
    let id = user_id(&path)?;
    state.accounts.get_account(id).await?;
    let page = state.accounts.list_friends(id, None, None, "").await?;
    let mut body = serde_json::to_value(crate::http::users::friend_list(&state, page)).unwrap_or_default();
    // The console prints every field, empty ones included.
    if let Value::Object(map) = &mut body {
        map.entry("friends").or_insert_with(|| json!([]));
        map.entry("cursor").or_insert_with(|| json!(""));
    }
    Ok(json_ok(body.to_string()))
}
