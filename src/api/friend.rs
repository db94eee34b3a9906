//! `GET /v2/friend` (account.md §5): the caller's friends, imported ones included.

use actix_web::{web, HttpResponse};

use crate::error::ApiResult;
use crate::http::users::friend_list;
use crate::http::{Call, Caller, FromQuery, NoBody, QueryString};
use crate::AppState;

/// `limit`, `state` and `cursor`, checked in that order.
pub struct FriendQuery {
    limit: Option<i32>,
    state: Option<i32>,
    cursor: String,
}

impl FromQuery for FriendQuery {
    fn from_query(query: &str) -> ApiResult<Self> {
        let query = QueryString::parse(query)?;
        Ok(FriendQuery {
            limit: query.int32("limit", "limit")?,
            state: query.int32("state", "state")?,
            cursor: query.string("cursor", "cursor")?,
        })
    }
}

pub async fn list(call: Call<Caller, NoBody, FriendQuery>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let Call { auth: caller, query, .. } = call;
    let page = state.accounts.list_friends(caller.uid, query.limit, query.state, &query.cursor).await?;
    Ok(HttpResponse::Ok().json(friend_list(&state, page)))
}
