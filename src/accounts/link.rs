//! Link and unlink of device, custom id and email (link-unlink.md), including the
//! last-identifier guard, which the store applies in the same statement as the change.

use entity::users;
use uuid::Uuid;

use super::hash_password;
use super::validate::{parse_email_link, CustomId, DeviceId, Email};
use crate::error::{ApiError, ApiResult};
use crate::store::{unique_violation, Identifier, UnlinkOutcome};
use crate::AppState;

const LAST_IDENTIFIER: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";

pub async fn link_device(state: &AppState, user_id: Uuid, id: &str) -> ApiResult<()> {
    let device = DeviceId::parse(id)?.into_inner();
    let owner = state
        .store
        .link_device(user_id, &device, state.clock.now())
        .await
        .map_err(ApiError::internal_with("Error linking Device ID."))?;
    match owner {
        None => Ok(()),
        Some(owner) if owner == user_id => Ok(()),
        Some(_) => Err(ApiError::already_exists("Device ID already in use.")),
    }
}

pub async fn link_custom(state: &AppState, user_id: Uuid, id: &str) -> ApiResult<()> {
    let custom = CustomId::parse_for_link(id)?.into_inner();
    set_identifier(
        state,
        user_id,
        Identifier::Custom(custom),
        None,
        "Custom ID is already in use.",
        "Error while trying to link Custom ID.",
    )
    .await
}

pub async fn link_email(state: &AppState, user_id: Uuid, email: &str, password: &str) -> ApiResult<()> {
    let (email, password) = parse_email_link(email, password)?;
    let hash = hash_password(state, password, "Error while trying to link email.").await?;
    set_identifier(
        state,
        user_id,
        Identifier::Email(email.into_inner()),
        Some(hash),
        "Email is already in use.",
        "Error while trying to link email.",
    )
    .await
}

/// Writes a single-valued identifier; a value held by anyone else is a conflict. A caller
/// whose account row is gone gets the conflict too, as Nakama answers.
pub(super) async fn set_identifier(
    state: &AppState,
    user_id: Uuid,
    identifier: Identifier,
    password: Option<String>,
    in_use: &'static str,
    failed: &'static str,
) -> ApiResult<()> {
    match state.store.set_identifier(user_id, &identifier, password, state.clock.now()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::already_exists(in_use)),
        Err(e) if unique_violation(&e).is_some() => Err(ApiError::already_exists(in_use)),
        Err(e) => Err(ApiError::internal(failed, e)),
    }
}

pub async fn unlink_device(state: &AppState, user_id: Uuid, id: &str) -> ApiResult<()> {
    let device = DeviceId::parse_for_unlink(id)?;
    let outcome = state
        .store
        .unlink_device(user_id, device.as_str(), state.clock.now())
        .await
        .map_err(ApiError::internal_with("Could not unlink device ID."))?;
    unlinked(outcome)
}

pub async fn unlink_custom(state: &AppState, user_id: Uuid, id: &str) -> ApiResult<()> {
    let expected = CustomId::parse_for_unlink(id)?;
    let expected = expected.as_ref().map(CustomId::as_str);
    unlink_column(state, user_id, users::Column::CustomId, expected, "Error while trying to unlink custom ID.").await
}

pub async fn unlink_email(state: &AppState, user_id: Uuid, email: &str) -> ApiResult<()> {
    let expected = Email::parse_for_unlink(email)?;
    let expected = expected.as_ref().map(Email::as_str);
    unlink_column(state, user_id, users::Column::Email, expected, "Error while trying to unlink email.").await
}

/// Clears a column identifier, guarded by the last-identifier rule.
pub async fn unlink_column(
    state: &AppState,
    user_id: Uuid,
    column: users::Column,
    expected: Option<&str>,
    failed: &'static str,
) -> ApiResult<()> {
    let outcome = state
        .store
        .unlink_column(user_id, column, expected, state.clock.now())
        .await
        .map_err(ApiError::internal_with(failed))?;
    unlinked(outcome)
}

fn unlinked(outcome: UnlinkOutcome) -> ApiResult<()> {
    match outcome {
        UnlinkOutcome::Unlinked => Ok(()),
        UnlinkOutcome::Refused => Err(ApiError::permission_denied(LAST_IDENTIFIER)),
    }
}
