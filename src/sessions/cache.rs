//! The session cache: which tokens are void before their `exp` (session.md §4). Reads are
//! lock-free per user (dashmap); every change is persisted first by the caller.

use std::collections::HashMap;

use dashmap::DashMap;
use uuid::Uuid;

use super::token::{Claims, TokenKind};
use crate::store::StoredRevocations;

#[derive(Default)]
struct UserRevocations {
    /// Tokens issued before this second are void; 0 = never.
    last_invalidation: i64,
    /// When `last_invalidation` stops mattering (every older token has expired).
    invalidation_expires: i64,
    access: HashMap<Uuid, i64>,
    refresh: HashMap<Uuid, i64>,
}

impl UserRevocations {
    fn is_empty(&self) -> bool {
        self.last_invalidation == 0 && self.access.is_empty() && self.refresh.is_empty()
    }
}

pub struct SessionCache {
    users: DashMap<Uuid, UserRevocations>,
    token_expiry_sec: i64,
    refresh_token_expiry_sec: i64,
}

pub const KIND_ACCESS: i16 = 0;
pub const KIND_REFRESH: i16 = 1;

pub fn kind_code(kind: TokenKind) -> i16 {
    match kind {
        TokenKind::Access => KIND_ACCESS,
        TokenKind::Refresh => KIND_REFRESH,
    }
}

impl SessionCache {
    pub fn new(token_expiry_sec: i64, refresh_token_expiry_sec: i64) -> Self {
        Self { users: DashMap::new(), token_expiry_sec, refresh_token_expiry_sec }
    }

    /// Rebuilds the cache from what the database holds.
    pub fn load(&self, stored: StoredRevocations) {
        for (user, at, expires) in stored.invalidations {
            let mut entry = self.users.entry(user).or_default();
            if at > entry.last_invalidation {
                entry.last_invalidation = at;
                entry.invalidation_expires = expires;
            }
        }
        for (tid, kind, user, expires) in stored.tokens {
            let mut entry = self.users.entry(user).or_default();
            if kind == KIND_ACCESS {
                entry.access.insert(tid, expires);
            } else {
                entry.refresh.insert(tid, expires);
            }
        }
    }

    /// How long an invalidation must be remembered: until the longest-lived token issued
    /// just before it has expired.
    pub fn invalidation_lifetime(&self) -> i64 {
        self.token_expiry_sec.max(self.refresh_token_expiry_sec) + 1
    }

    pub fn is_valid(&self, claims: &Claims, kind: TokenKind) -> bool {
        let Some(entry) = self.users.get(&claims.uid) else {
            return true;
        };
        let expiry = match kind {
            TokenKind::Access => self.token_expiry_sec,
            TokenKind::Refresh => self.refresh_token_expiry_sec,
        };
        // The issue time is derived from exp, as Nakama does; same-second tokens survive.
        if entry.last_invalidation > 0 && claims.exp - expiry < entry.last_invalidation {
            return false;
        }
        let revoked = match kind {
            TokenKind::Access => &entry.access,
            TokenKind::Refresh => &entry.refresh,
        };
        !revoked.contains_key(&claims.tid)
    }

    pub fn revoke(&self, user: Uuid, tid: Uuid, kind: TokenKind, expires_at: i64) {
        let mut entry = self.users.entry(user).or_default();
        match kind {
            TokenKind::Access => entry.access.insert(tid, expires_at),
            TokenKind::Refresh => entry.refresh.insert(tid, expires_at),
        };
    }

    pub fn invalidate_all(&self, user: Uuid, at: i64) {
        let lifetime = self.invalidation_lifetime();
        let mut entry = self.users.entry(user).or_default();
        entry.last_invalidation = entry.last_invalidation.max(at);
        entry.invalidation_expires = entry.last_invalidation + lifetime;
        entry.access.clear();
        entry.refresh.clear();
    }

    /// Forgets what can no longer matter.
    pub fn sweep(&self, now: i64) {
        self.users.retain(|_, entry| {
            entry.access.retain(|_, exp| *exp >= now);
            entry.refresh.retain(|_, exp| *exp >= now);
            if entry.last_invalidation > 0 && entry.invalidation_expires <= now {
                entry.last_invalidation = 0;
            }
            !entry.is_empty()
        });
    }
}
