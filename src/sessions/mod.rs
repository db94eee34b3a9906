//! Sessions: issuing, verifying, refreshing and revoking token pairs. Every revocation is
//! written to the database before the cache, then told to the user's session actor.

mod cache;
mod events;
mod live;
pub mod token;

pub use cache::{Invalidation, SessionCache};
pub use events::{EndCause, SessionEvents};
pub use live::{LiveSession, LiveSessions, MAX_SESSIONS_PER_USER};
pub use token::{Claims, SessionTokens, TokenKeys, TokenKind, Vars};

use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::error::{ApiResult, ErrorKind, Failure};
use crate::metrics::RevocationCause;
use crate::AppState;

/// Issues a new token pair for a login, applying `session.single_session` first.
pub async fn start_session(state: &AppState, user_id: Uuid, username: &str, vars: Vars) -> ApiResult<SessionTokens> {
    let tid = Uuid::new_v4();
    let iat = if state.config.session.single_session {
        // The invalidation and the new pair's place after it are one write.
        invalidate(state, user_id, EndCause::SingleSession, Some(tid)).await?
    } else {
        issue_second(state, user_id, tid).await?
    };
    if state.cache.invalidation(user_id).is_some_and(|inv| inv.at >= iat - 2) {
        // A ban or delete that landed while this login was under way (after it read the
        // account) must not leave it with a pair: look again, on this rare path only.
        active_user(state, user_id).await?;
    }
    let tokens = state.tokens.issue(tid, user_id, username, &vars, iat, state.clock.now().max(iat));
    state.live.started(user_id, LiveSession { tid, issued_at: iat, expires_at: tokens.refresh_exp });
    Ok(tokens)
}

/// The user's account, when it still exists and is not banned.
async fn active_user(state: &AppState, user_id: Uuid) -> ApiResult<entity::users::Model> {
    let user = state
        .store
        .find_user(user_id)
        .await
        .map_err(|e| Failure::FindingAccount.because(e))?
        .ok_or(ErrorKind::UserNotFound)?;
    if user.disable_time != 0 {
        return Err(ErrorKind::UserBanned.into());
    }
    Ok(user)
}

/// How many tokens one invalidation keeps within its second before later logins of that
/// second wait for the next one.
const MAX_KEPT: usize = 16;

/// The second a new token of the user is issued in (its `iat`): now, unless the user's
/// latest invalidation falls in this second (or later, by another node's clock). Then the
/// token is recorded as kept by it, so that it is not mistaken for one issued before it,
/// or, when the invalidation keeps `MAX_KEPT` tokens already, the login waits for the
/// next second.
async fn issue_second(state: &AppState, user_id: Uuid, tid: Uuid) -> ApiResult<i64> {
    const FAILED: Failure = Failure::FindingOrCreatingAccount;
    // Each pass either returns or sees the stored row change (or a second pass): bounded.
    for _ in 0..MAX_KEPT + 4 {
        let now = state.clock.now();
        let Some(inv) = state.cache.invalidation(user_id).filter(|inv| inv.at >= now) else {
            return Ok(now);
        };
        if inv.kept.len() >= MAX_KEPT {
            if inv.at > now {
                // Another node's clock runs ahead: do not wait for it, start after it.
                return Ok(inv.at + 1);
            }
            if !wait_for_second(&state.clock, inv.at + 1).await {
                // Time does not move (a frozen test clock): start after the invalidation.
                return Ok(inv.at + 1);
            }
            continue;
        }
        let kept = state.store.keep_token(user_id, inv.at, &inv.kept, tid).await.map_err(|e| FAILED.because(e))?;
        if kept {
            state.cache.keep(user_id, inv.at, tid);
            return Ok(inv.at);
        }
        // Another login or invalidation changed the stored row first: take it and look again.
        let stored = state.store.invalidation_of(user_id).await.map_err(|e| FAILED.because(e))?;
        match stored {
            Some(stored) => state.cache.set_invalidation(user_id, stored.into()),
            None => return Ok(state.clock.now().max(inv.at + 1)),
        }
    }
    // Logins of this user kept racing invalidations: issue after the latest one known.
    let latest = state.cache.invalidation(user_id).map_or(0, |inv| inv.at);
    Ok(state.clock.now().max(latest + 1))
}

/// Waits until the clock's second `second` has begun; `false` when it has not within two
/// seconds.
async fn wait_for_second(clock: &Clock, second: i64) -> bool {
    for _ in 0..40 {
        if clock.now() >= second {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    clock.now() >= second
}

/// A token's claims when its signature, expiry and revocation state allow it.
pub fn verify(state: &AppState, token: &str, kind: TokenKind) -> Option<Claims> {
    let claims = state.tokens.verify(token, kind, state.clock.now())?;
    state.cache.is_valid(&claims, kind).then_some(claims)
}

/// `POST /v2/account/session/refresh` (session.md §2).
pub async fn refresh(state: &AppState, token: &str, vars: Vars) -> ApiResult<SessionTokens> {
    if token.is_empty() {
        return Err(ErrorKind::RefreshTokenRequired.into());
    }
    let claims = verify(state, token, TokenKind::Refresh).ok_or(ErrorKind::RefreshTokenExpired)?;
    let user = active_user(state, claims.uid).await?;
    // Empty vars keep the old ones: SDKs always send `"vars":{}`.
    let vars = if vars.is_empty() { claims.vrs } else { vars };
    let now = state.clock.now();
    let tokens = state.tokens.issue(claims.tid, claims.uid, &user.username, &vars, claims.iat, now);
    state
        .live
        .started(claims.uid, LiveSession { tid: claims.tid, issued_at: claims.iat, expires_at: tokens.refresh_exp });
    state.metrics.add(&state.metrics.session_refreshes, 1);
    Ok(tokens)
}

/// `POST /v2/session/logout` (session.md §3) for the caller holding `caller`.
pub async fn logout(state: &AppState, caller: &Claims, token: &str, refresh_token: &str) -> ApiResult<()> {
    let now = state.clock.now();
    let access = if token.is_empty() {
        None
    } else {
        let claims = state
            .tokens
            .verify(token, TokenKind::Access, now)
            .filter(|c| c.uid == caller.uid)
            .ok_or(ErrorKind::SessionTokenInvalid)?;
        Some(claims)
    };
    let refresh = if refresh_token.is_empty() {
        None
    } else {
        let claims = state
            .tokens
            .verify(refresh_token, TokenKind::Refresh, now)
            .filter(|c| c.uid == caller.uid)
            .ok_or(ErrorKind::RefreshTokenInvalid)?;
        Some(claims)
    };
    if access.is_none() && refresh.is_none() {
        return invalidate(state, caller.uid, EndCause::LogoutAll, None).await.map(|_| ());
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
        .map_err(|e| Failure::LoggingOut.because(e))?;
    state.cache.revoke(claims.uid, claims.tid, kind, claims.exp);
    state.metrics.revocation(RevocationCause::Logout);
    match kind {
        TokenKind::Refresh => state.live.ended(claims.uid, claims.tid),
        TokenKind::Access => state.events.token_revoked(claims.uid, claims.tid),
    }
    Ok(())
}

/// Voids every token of the user issued before this instant (logout-all, delete, ban,
/// single_session), except `keep`: the pair a single_session login issues right after.
/// Answers the invalidation's second.
pub async fn invalidate(state: &AppState, user_id: Uuid, cause: EndCause, keep: Option<Uuid>) -> ApiResult<i64> {
    // Never earlier than an invalidation already known (another node's clock may run ahead).
    let at = state.clock.now().max(state.cache.invalidation(user_id).map_or(0, |inv| inv.at));
    let invalidation =
        Invalidation { at, expires: at + state.cache.invalidation_lifetime(), kept: keep.into_iter().collect() };
    state
        .store
        .upsert_invalidation(user_id, at, invalidation.expires, &invalidation.kept)
        .await
        .map_err(|e| Failure::LoggingOut.because(e))?;
    state.cache.set_invalidation(user_id, invalidation.clone());
    state.metrics.revocation(match cause {
        EndCause::LogoutAll => RevocationCause::LogoutAll,
        EndCause::SingleSession => RevocationCause::SingleSession,
        EndCause::Ban => RevocationCause::Ban,
        EndCause::Delete => RevocationCause::Delete,
    });
    state.live.invalidated(user_id, &invalidation);
    state.events.sessions_ended(user_id, &invalidation, cause);
    Ok(at)
}

/// Records this node's token lifetime and loads the persisted revocations (at start).
pub async fn load_revocations(state: &AppState) -> Result<(), sea_orm::DbErr> {
    let session = &state.config.session;
    let longest =
        state.store.record_token_lifetime(session.token_expiry_sec.max(session.refresh_token_expiry_sec)).await?;
    state.cache.set_longest_lifetime(longest);
    let stored = state.store.load_revocations(state.clock.now()).await?;
    state.cache.load(stored);
    Ok(())
}

/// Forgets revocations of tokens that have expired anyway, in memory and on disk, and
/// sessions that have expired.
pub async fn sweep(state: &AppState) {
    let now = state.clock.now();
    state.cache.sweep(now);
    state.live.sweep(now);
    match state.store.longest_token_lifetime().await {
        Ok(Some(longest)) => state.cache.set_longest_lifetime(longest),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the longest token lifetime"),
    }
    if let Err(e) = state.store.sweep_revocations(now).await {
        tracing::warn!(error = %e, "revocation sweep failed");
    }
}
