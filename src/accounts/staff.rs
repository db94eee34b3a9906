//! Operations only live-ops staff have: finding accounts from what a player says, and
//! setting an email or password directly. Everything shared with the client API (update,
//! delete, ban, unlink) stays in its own module and is called from the console as is.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::users;
use uuid::Uuid;

use super::validate::{parse_email_link, Email};
use super::{hash_password, unlink_custom, unlink_device, unlink_email};
use crate::clock::unix_now;
use crate::error::{ApiError, ApiResult};
use crate::store::{unique_violation, AccountFilter, AfterCursor, Identifier};
use crate::AppState;

pub const PAGE_SIZE: u64 = 50;

/// One page of a console account list.
pub struct AccountPage {
    pub users: Vec<users::Model>,
    pub total_count: u64,
    /// Empty on the last page.
    pub next_cursor: String,
}

/// The list filter of console.md §3: empty = all by id; a UUID = that account; `%` = a
/// case-insensitive username pattern; anything else = that exact username, device id,
/// custom id or email.
pub fn parse_filter(filter: &str) -> AccountFilter {
    if filter.is_empty() {
        AccountFilter::All
    } else if let Some(id) = Uuid::parse_str(filter).ok().filter(|_| filter.len() == 36) {
        AccountFilter::Id(id)
    } else if filter.contains('%') {
        AccountFilter::UsernamePattern(filter.to_string())
    } else {
        AccountFilter::Exact(filter.to_string())
    }
}

/// The opaque `next_cursor` of a console account page: base64url of `i:<id>` or `u:<username>`.
pub fn encode_cursor(after: &AfterCursor) -> String {
    let text = match after {
        AfterCursor::Start => return String::new(),
        AfterCursor::Id(id) => format!("i:{id}"),
        AfterCursor::Username(name) => format!("u:{name}"),
    };
    URL_SAFE_NO_PAD.encode(text)
}

/// Reads a `cursor` parameter back; `None` for anything `encode_cursor` did not write.
pub fn decode_cursor(cursor: &str) -> Option<AfterCursor> {
    if cursor.is_empty() {
        return Some(AfterCursor::Start);
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    match text.split_once(':')? {
        ("i", id) => Uuid::parse_str(id).ok().map(AfterCursor::Id),
        ("u", name) => Some(AfterCursor::Username(name.to_string())),
        _ => None,
    }
}

pub async fn list_accounts(state: &AppState, filter: &str, cursor: &str) -> ApiResult<AccountPage> {
    const FAILED: &str = "An error occurred while trying to list users.";
    let filter = parse_filter(filter);
    let after = decode_cursor(cursor).ok_or_else(|| ApiError::invalid("Invalid cursor."))?;
    let mut users =
        state.store.list_users(&filter, &after, PAGE_SIZE + 1).await.map_err(ApiError::internal_with(FAILED))?;
    let more = users.len() as u64 > PAGE_SIZE;
    users.truncate(PAGE_SIZE as usize);
    let next_cursor = match (more, users.last()) {
        (true, Some(last)) => encode_cursor(&match filter {
            AccountFilter::UsernamePattern(_) => AfterCursor::Username(last.username.clone()),
            _ => AfterCursor::Id(last.id),
        }),
        _ => String::new(),
    };
    let total_count = match filter {
        AccountFilter::All | AccountFilter::UsernamePattern(_) => {
            state.store.count_users(&filter).await.map_err(ApiError::internal_with(FAILED))?
        }
        _ => users.len() as u64,
    };
    Ok(AccountPage { users, total_count, next_cursor })
}

/// Sets the account's email (same checks as `link/email`), keeping its password unless a
/// new one is given.
pub async fn set_email(state: &AppState, user_id: Uuid, email: &str, password: Option<&str>) -> ApiResult<()> {
    const FAILED: &str = "Error while trying to link email.";
    let (email, hash) = match password {
        Some(password) => {
            let (email, password) = parse_email_link(email, password)?;
            (email, Some(hash_password(state, password, FAILED).await?))
        }
        None => (Email::parse(email)?, None),
    };
    match state.store.set_identifier(user_id, &Identifier::Email(email.into_inner()), hash, unix_now()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::not_found("Account not found.")),
        Err(e) if unique_violation(&e).is_some() => Err(ApiError::already_exists("Email is already in use.")),
        Err(e) => Err(ApiError::internal(FAILED, e)),
    }
}

/// Sets a new password (8 to 1024 bytes) on an account that has an email.
pub async fn set_password(state: &AppState, user_id: Uuid, password: &str) -> ApiResult<()> {
    const FAILED: &str = "Error while trying to update password.";
    let user = super::existing_user(state, user_id, FAILED).await?;
    let Some(email) = user.email.filter(|e| !e.is_empty()) else {
        return Err(ApiError::invalid("Cannot set a password on an account without an email."));
    };
    let (email, password) = parse_email_link(&email, password)?;
    let hash = hash_password(state, password, FAILED).await?;
    state
        .store
        .set_identifier(user_id, &Identifier::Email(Email::normalise(email.as_str())), Some(hash), unix_now())
        .await
        .map_err(ApiError::internal_with(FAILED))?;
    Ok(())
}

/// The identifier kinds of `/v2/console/account/{id}/unlink/{kind}`.
pub const UNLINK_KINDS: [&str; 9] =
    ["custom", "device", "email", "apple", "facebook", "facebookinstantgame", "gamecenter", "google", "steam"];

/// Removes one login method of the account, whatever its value, under the same
/// last-identifier rule as the client API. `device_id` is needed for `device` only.
/// The client API's unlink functions with an empty value: clear without a provider call.
pub async fn unlink(state: &AppState, user_id: Uuid, kind: &str, device_id: &str) -> ApiResult<()> {
    let anything = crate::social::gamecenter::Credential {
        player_id: "",
        bundle_id: "",
        timestamp_seconds: 0,
        salt: "",
        signature: "",
        public_key_url: "",
    };
    match kind {
        "custom" => unlink_custom(state, user_id, "").await,
        "email" => unlink_email(state, user_id, "").await,
        "device" => unlink_device(state, user_id, device_id).await,
        "apple" => super::unlink_apple(state, user_id, "").await,
        "facebook" => super::unlink_facebook(state, user_id, "").await,
        "facebookinstantgame" => super::unlink_facebook_instant_game(state, user_id, "").await,
        "gamecenter" => super::unlink_gamecenter(state, user_id, &anything).await,
        "google" => super::unlink_google(state, user_id, "").await,
        "steam" => super::unlink_steam(state, user_id, "").await,
        _ => Err(ApiError::not_found("Not Found")),
    }
}
