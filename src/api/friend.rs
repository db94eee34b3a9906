//! `GET /v2/friend` (account.md §5): the caller's friends, imported ones included.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::account::User;
use super::auth::require_session;
use super::query::QueryString;
use crate::accounts::friends;
use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::AppState;

#[derive(Serialize)]
struct Friend {
    user: User,
    /// Always written, 0 included.
    state: i16,
    update_time: String,
    metadata: String,
}

#[derive(Serialize)]
pub struct FriendList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    friends: Vec<Friend>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let query = QueryString::parse(req.query_string())?;
    let limit = query.int32("limit", "limit")?;
    let edge_state = query.int32("state", "state")?;
    let cursor = query.string("cursor", "cursor")?;
    let caller = require_session(&req, &state)?;
    let page = friends::list(&state, caller.uid, limit, edge_state, &cursor).await?;
    Ok(HttpResponse::Ok().json(friend_list(&state, page)))
}

/// The wire form of a page of friends (also used by the console).
pub fn friend_list(state: &AppState, page: friends::FriendPage) -> FriendList {
    let friends = page
        .friends
        .into_iter()
        .map(|f| {
            let online = state.status.is_online(f.user.id);
            Friend {
                user: User::from_model(f.user, online),
                state: f.edge.state,
                update_time: rfc3339(f.edge.update_time),
                metadata: f.edge.metadata,
            }
        })
        .collect();
    FriendList { friends, cursor: page.cursor }
}
