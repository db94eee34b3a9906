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

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::config::SessionConfig;
use crate::error::{ApiResult, ErrorKind, Failure};
use crate::metrics::{Metrics, RevocationCause};
use crate::store::Store;

/// How many tokens one invalidation keeps within its second before later logins of that
/// second wait for the next one.
const MAX_KEPT: usize = 16;

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

/// The sessions service: signs and verifies token pairs, keeps the revocations (stored
/// first, then cached) and the compact list of live sessions, and tells `SessionEvents`
/// when tokens stop being valid. Built once at start.
pub struct Sessions {
    store: Store,
    clock: Clock,
    config: SessionConfig,
    tokens: TokenKeys,
    cache: SessionCache,
    /// Live sessions per user, compactly (the console's account view).
    pub live: LiveSessions,
    events: Arc<dyn SessionEvents>,
    metrics: Arc<Metrics>,
}

impl Sessions {
    pub fn new(
        config: &SessionConfig,
        store: Store,
        clock: Clock,
        events: Arc<dyn SessionEvents>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Sessions {
            tokens: TokenKeys::new(config),
            cache: SessionCache::new(config.token_expiry_sec.max(config.refresh_token_expiry_sec)),
            live: LiveSessions::new(config.max_live_sessions),
            config: config.clone(),
            store,
            clock,
            events,
            metrics,
        }
    }

    /// Issues a new token pair for a login, applying `session.single_session` first.
    pub async fn start(&self, user_id: Uuid, username: &str, vars: Vars) -> ApiResult<SessionTokens> {
        let tid = Uuid::new_v4();
        let iat = if self.config.single_session {
            // The invalidation and the new pair's place after it are one write.
            self.invalidate(user_id, EndCause::SingleSession, Some(tid)).await?
        } else {
            self.issue_second(user_id, tid).await?
        };
        if self.cache.invalidation(user_id).is_some_and(|inv| inv.at >= iat - 2) {
            // A ban or delete that landed while this login was under way (after it read the
            // account) must not leave it with a pair: look again, on this rare path only.
            self.active_user(user_id).await?;
        }
        let tokens = self.tokens.issue(tid, user_id, username, &vars, iat, self.clock.now().max(iat));
        self.live.started(user_id, LiveSession { tid, issued_at: iat, expires_at: tokens.refresh_exp });
        Ok(tokens)
    }

    /// The user's account, when it still exists and is not banned.
    async fn active_user(&self, user_id: Uuid) -> ApiResult<entity::users::Model> {
        let user = self
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

    /// The second a new token of the user is issued in (its `iat`): now, unless the user's
    /// latest invalidation falls in this second (or later, by another node's clock). Then the
    /// token is recorded as kept by it, so that it is not mistaken for one issued before it,
    /// or, when the invalidation keeps `MAX_KEPT` tokens already, the login waits for the
    /// next second.
    async fn issue_second(&self, user_id: Uuid, tid: Uuid) -> ApiResult<i64> {
        const FAILED: Failure = Failure::FindingOrCreatingAccount;
        // Each pass either returns or sees the stored row change (or a second pass): bounded.
        for _ in 0..MAX_KEPT + 4 {
            let now = self.clock.now();
            let Some(inv) = self.cache.invalidation(user_id).filter(|inv| inv.at >= now) else {
                return Ok(now);
            };
            if inv.kept.len() >= MAX_KEPT {
                if inv.at > now {
                    // Another node's clock runs ahead: do not wait for it, start after it.
                    return Ok(inv.at + 1);
                }
                if !wait_for_second(&self.clock, inv.at + 1).await {
                    // Time does not move (a frozen test clock): start after the invalidation.
                    return Ok(inv.at + 1);
                }
                continue;
            }
            let kept = self.store.keep_token(user_id, inv.at, &inv.kept, tid).await.map_err(|e| FAILED.because(e))?;
            if kept {
                self.cache.keep(user_id, inv.at, tid);
                return Ok(inv.at);
            }
            // Another login or invalidation changed the stored row first: take it and look again.
            let stored = self.store.invalidation_of(user_id).await.map_err(|e| FAILED.because(e))?;
            match stored {
                Some(stored) => self.cache.set_invalidation(user_id, stored.into()),
                None => return Ok(self.clock.now().max(inv.at + 1)),
            }
        }
        // Logins of this user kept racing invalidations: issue after the latest one known.
        let latest = self.cache.invalidation(user_id).map_or(0, |inv| inv.at);
        Ok(self.clock.now().max(latest + 1))
    }

    /// A token's claims when its signature, expiry and revocation state allow it.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Option<Claims> {
        let claims = self.tokens.verify(token, kind, self.clock.now())?;
        self.cache.is_valid(&claims, kind).then_some(claims)
    }

    /// `POST /v2/account/session/refresh` (session.md §2).
    pub async fn refresh(&self, token: &str, vars: Vars) -> ApiResult<SessionTokens> {
        if token.is_empty() {
            return Err(ErrorKind::RefreshTokenRequired.into());
        }
        let claims = self.verify(token, TokenKind::Refresh).ok_or(ErrorKind::RefreshTokenExpired)?;
        let user = self.active_user(claims.uid).await?;
        // Empty vars keep the old ones: SDKs always send `"vars":{}`.
        let vars = if vars.is_empty() { claims.vrs } else { vars };
        let now = self.clock.now();
        let tokens = self.tokens.issue(claims.tid, claims.uid, &user.username, &vars, claims.iat, now);
        self.live.started(
            claims.uid,
            LiveSession { tid: claims.tid, issued_at: claims.iat, expires_at: tokens.refresh_exp },
        );
        self.metrics.add(&self.metrics.session_refreshes, 1);
        Ok(tokens)
    }

    /// `POST /v2/session/logout` (session.md §3) for the caller holding `caller`.
    pub async fn logout(&self, caller: &Claims, token: &str, refresh_token: &str) -> ApiResult<()> {
        let now = self.clock.now();
        let access = if token.is_empty() {
            None
        } else {
            let claims = self
                .tokens
                .verify(token, TokenKind::Access, now)
                .filter(|c| c.uid == caller.uid)
                .ok_or(ErrorKind::SessionTokenInvalid)?;
            Some(claims)
        };
        let refresh = if refresh_token.is_empty() {
            None
        } else {
            let claims = self
                .tokens
                .verify(refresh_token, TokenKind::Refresh, now)
                .filter(|c| c.uid == caller.uid)
                .ok_or(ErrorKind::RefreshTokenInvalid)?;
            Some(claims)
        };
        if access.is_none() && refresh.is_none() {
            return self.invalidate(caller.uid, EndCause::LogoutAll, None).await.map(|_| ());
        }
        for (claims, kind) in [(access, TokenKind::Access), (refresh, TokenKind::Refresh)] {
            if let Some(claims) = claims {
                self.revoke(&claims, kind).await?;
            }
        }
        Ok(())
    }

    /// Voids one token id of one kind until its expiry.
    pub async fn revoke(&self, claims: &Claims, kind: TokenKind) -> ApiResult<()> {
        self.store
            .insert_revoked_token(claims.tid, cache::kind_code(kind), claims.uid, claims.exp)
            .await
            .map_err(|e| Failure::LoggingOut.because(e))?;
        self.cache.revoke(claims.uid, claims.tid, kind, claims.exp);
        self.metrics.revocation(RevocationCause::Logout);
        match kind {
            TokenKind::Refresh => self.live.ended(claims.uid, claims.tid),
            TokenKind::Access => self.events.token_revoked(claims.uid, claims.tid),
        }
        Ok(())
    }

    /// Voids every token of the user issued before this instant (logout-all, delete, ban,
    /// single_session), except `keep`: the pair a single_session login issues right after.
    /// Answers the invalidation's second.
    pub async fn invalidate(&self, user_id: Uuid, cause: EndCause, keep: Option<Uuid>) -> ApiResult<i64> {
        // Never earlier than an invalidation already known (another node's clock may run ahead).
        let at = self.clock.now().max(self.cache.invalidation(user_id).map_or(0, |inv| inv.at));
        let invalidation =
            Invalidation { at, expires: at + self.cache.invalidation_lifetime(), kept: keep.into_iter().collect() };
        self.store
            .upsert_invalidation(user_id, at, invalidation.expires, &invalidation.kept)
            .await
            .map_err(|e| Failure::LoggingOut.because(e))?;
        self.cache.set_invalidation(user_id, invalidation.clone());
        self.metrics.revocation(match cause {
            EndCause::LogoutAll => RevocationCause::LogoutAll,
            EndCause::SingleSession => RevocationCause::SingleSession,
            EndCause::Ban => RevocationCause::Ban,
            EndCause::Delete => RevocationCause::Delete,
        });
        self.live.invalidated(user_id, &invalidation);
        self.events.sessions_ended(user_id, &invalidation, cause);
        Ok(at)
    }

    /// Records this node's token lifetime and loads the persisted revocations (at start).
    pub async fn load_revocations(&self) -> Result<(), sea_orm::DbErr> {
        let session = &self.config;
        let longest =
            self.store.record_token_lifetime(session.token_expiry_sec.max(session.refresh_token_expiry_sec)).await?;
        self.cache.set_longest_lifetime(longest);
        let stored = self.store.load_revocations(self.clock.now()).await?;
        self.cache.load(stored);
        Ok(())
    }

    /// Forgets revocations of tokens that have expired anyway, in memory and on disk, and
    /// sessions that have expired.
    pub async fn sweep(&self) {
        let now = self.clock.now();
        self.cache.sweep(now);
        self.live.sweep(now);
        match self.store.longest_token_lifetime().await {
            Ok(Some(longest)) => self.cache.set_longest_lifetime(longest),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the longest token lifetime"),
        }
        if let Err(e) = self.store.sweep_revocations(now).await {
            tracing::warn!(error = %e, "revocation sweep failed");
        }
    }
}
