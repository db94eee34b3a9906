//! Sessions: issuing, verifying, refreshing and revoking token pairs. Every revocation is
//! written to the database before the cache, then told to the user's session actor.

mod cache;
pub mod token;

pub use cache::SessionCache;
pub use token::{Claims, SessionTokens, TokenKeys, TokenKind, Vars};

use uuid::Uuid;

use crate::clock::unix_now;
use crate::error::{ApiError, ApiResult};
use crate::metrics::RevocationCause;
use crate::realtime::EndCause;
use crate::AppState;

/// Issues a new token pair for a login, applying `session.single_session` first.
pub async fn start_session(state: &AppState, user_id: Uuid, username: &str, vars: Vars) -> ApiResult<SessionTokens> {
    let now = unix_now();
    if state.config.session.single_session {
        invalidate_all(state, user_id, now, EndCause::SingleSession).await?;
    }
    let tokens = state.tokens.issue(Uuid::new_v4(), user_id, username, &vars, now, now);
    state.registry.session_started(user_id, tokens.tid, now, tokens.refresh_exp);
    Ok(tokens)
}

/// A token's claims when its signature, expiry and revocation state allow it.
pub fn verify(state: &AppState, token: &str, kind: TokenKind) -> Option<Claims> {
    let claims = state.tokens.verify(token, kind, unix_now())?;
    state.cache.is_valid(&claims, kind).then_some(claims)
}

/// `POST /v2/account/session/refresh` (session.md §2).
pub async fn refresh(state: &AppState, token: &str, vars: Vars) -> ApiResult<SessionTokens> {
    if token.is_empty() {
        return Err(ApiError::invalid("Refresh token is required."));
    }
    let claims = verify(state, token, TokenKind::Refresh)
        .ok_or_else(|| ApiError::unauthenticated("Refresh token invalid or expired."))?;
    let user = state
        .store
        .find_user(claims.uid)
        .await
        .map_err(ApiError::internal_with("Error finding user account."))?
        .ok_or_else(|| ApiError::not_found("User account not found."))?;
    if user.disable_time != 0 {
        return Err(ApiError::permission_denied("User account banned."));
    }
    // Empty vars keep the old ones: SDKs always send `"vars":{}`.
    let vars = if vars.is_empty() { claims.vrs } else { vars };
    let now = unix_now();
    let tokens = state.tokens.issue(claims.tid, claims.uid, &user.username, &vars, claims.iat, now);
    state.registry.session_started(claims.uid, claims.tid, now, tokens.refresh_exp);
    state.metrics.add(&state.metrics.session_refreshes, 1);
    Ok(tokens)
}

/// `POST /v2/session/logout` (session.md §3) for the caller holding `caller`.
pub async fn logout(state: &AppState, caller: &Claims, token: &str, refresh_token: &str) -> ApiResult<()> {
    let now = unix_now();
    let access = if token.is_empty() {
        None
    } else {
        let claims = state
            .tokens
            .verify(token, TokenKind::Access, now)
            .filter(|c| c.uid == caller.uid)
            .ok_or_else(|| ApiError::invalid("Session token invalid."))?;
        Some(claims)
    };
    let refresh = if refresh_token.is_empty() {
        None
    } else {
        let claims = state
            .tokens
            .verify(refresh_token, TokenKind::Refresh, now)
            .filter(|c| c.uid == caller.uid)
            .ok_or_else(|| ApiError::invalid("Refresh token invalid."))?;
        Some(claims)
    };
    if access.is_none() && refresh.is_none() {
        return invalidate_all(state, caller.uid, now, EndCause::LogoutAll).await;
    }
    for (claims, kind) in [(access, TokenKind::Access), (refresh, TokenKind::Refresh)] {
        if let Some(claims) = claims {
            revoke(state, &claims, kind).await?;
        }
    }
    Ok(())
}

/// Voids one token id of one kind until its expiry.
pub async fn revoke(state: &AppState, claims: &Claims, kind: TokenKind) -> ApiResult<()> {
    state
        .store
        .insert_revoked_token(claims.tid, cache::kind_code(kind), claims.uid, claims.exp)
        .await
        .map_err(ApiError::internal_with("Error logging out."))?;
    state.cache.revoke(claims.uid, claims.tid, kind, claims.exp);
    state.metrics.revocation(RevocationCause::Logout);
    match kind {
        TokenKind::Refresh => state.registry.session_ended(claims.uid, claims.tid),
        TokenKind::Access => state.registry.access_revoked(claims.uid, claims.tid),
    }
    Ok(())
}

/// Voids every token of the user issued before `now` (logout-all, delete, ban, single_session).
pub async fn invalidate_all(state: &AppState, user_id: Uuid, now: i64, cause: EndCause) -> ApiResult<()> {
    state
        .store
        .upsert_invalidation(user_id, now, now + state.cache.invalidation_lifetime())
        .await
        .map_err(ApiError::internal_with("Error logging out."))?;
    state.cache.invalidate_all(user_id, now);
    state.metrics.revocation(match cause {
        EndCause::LogoutAll => RevocationCause::LogoutAll,
        EndCause::SingleSession => RevocationCause::SingleSession,
        EndCause::Ban => RevocationCause::Ban,
        EndCause::Delete => RevocationCause::Delete,
    });
    state.registry.all_sessions_ended(user_id, now, cause);
    Ok(())
}

/// Loads the persisted revocations into the cache (at start).
pub async fn load_revocations(state: &AppState) -> Result<(), sea_orm::DbErr> {
    let stored = state.store.load_revocations(unix_now()).await?;
    state.cache.load(stored);
    Ok(())
}

/// Forgets revocations of tokens that have expired anyway, in memory and on disk.
pub async fn sweep(state: &AppState) {
    let now = unix_now();
    state.cache.sweep(now);
    if let Err(e) = state.store.sweep_revocations(now).await {
        tracing::warn!(error = %e, "revocation sweep failed");
    }
}
