//! The session cache: which tokens are void before their `exp` (session.md §4, with
//! difference 9: invalidations are exact to the instant). Reads are lock-free per user
//! (dashmap); every change is persisted first by the caller.
//!
//! A token's issue time is its `iat` claim (the original login, kept by refreshes), never
//! `exp` minus the configured lifetime, so no config change can bring a token back. `iat`
//! has whole seconds: a token of an earlier second than the invalidation is void, one of
//! the same second is void unless it was issued after the invalidation, which the issuer
//! records by keeping its `tid` with the invalidation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

use dashmap::DashMap;
use uuid::Uuid;

use super::token::{Claims, TokenKind};
use crate::store::{StoredInvalidation, StoredRevocations};

/// The latest invalidation of one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invalidation {
    /// Its second; 0 = none.
    pub at: i64,
    /// When it stops mattering (every token issued before it has expired).
    pub expires: i64,
    /// Tokens issued after it within its own second.
    pub kept: Vec<Uuid>,
}

impl Invalidation {
    /// Whether a token issued in second `iat` with id `tid` came before it.
    pub fn voids(&self, iat: i64, tid: Uuid) -> bool {
        self.at > 0 && (iat < self.at || (iat == self.at && !self.kept.contains(&tid)))
    }
}

impl From<StoredInvalidation> for Invalidation {
    fn from(stored: StoredInvalidation) -> Self {
        Invalidation { at: stored.at, expires: stored.expires, kept: stored.kept }
    }
}

#[derive(Default)]
struct UserRevocations {
    invalidation: Invalidation,
    access: HashMap<Uuid, i64>,
    refresh: HashMap<Uuid, i64>,
}

impl UserRevocations {
    fn is_empty(&self) -> bool {
        self.invalidation.at == 0 && self.access.is_empty() && self.refresh.is_empty()
    }
}

pub struct SessionCache {
    users: DashMap<Uuid, UserRevocations>,
    /// The longest lifetime tokens were ever issued with (stored, see `token_lifetime`).
    longest_lifetime: AtomicI64,
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
    pub fn new(longest_lifetime: i64) -> Self {
        Self { users: DashMap::new(), longest_lifetime: AtomicI64::new(longest_lifetime) }
    }

    /// Rebuilds the cache from what the database holds.
    pub fn load(&self, stored: StoredRevocations) {
        for stored in stored.invalidations {
            self.set_invalidation(stored.user, stored.into());
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

    /// How long an invalidation at some second must be remembered: until the longest-lived
    /// token issued just before it has expired, whatever lifetime it was issued with.
    pub fn invalidation_lifetime(&self) -> i64 {
        self.longest_lifetime.load(Ordering::Relaxed) + 1
    }

    /// Another node (or this one, at start) stored a longer lifetime.
    pub fn set_longest_lifetime(&self, longest: i64) {
        self.longest_lifetime.fetch_max(longest, Ordering::Relaxed);
    }

    pub fn is_valid(&self, claims: &Claims, kind: TokenKind) -> bool {
        let Some(entry) = self.users.get(&claims.uid) else {
            return true;
        };
        if entry.invalidation.voids(claims.iat, claims.tid) {
            return false;
        }
        let revoked = match kind {
            TokenKind::Access => &entry.access,
            TokenKind::Refresh => &entry.refresh,
        };
        !revoked.contains_key(&claims.tid)
    }

    /// The user's latest invalidation still in force, if any.
    pub fn invalidation(&self, user: Uuid) -> Option<Invalidation> {
        let entry = self.users.get(&user)?;
        (entry.invalidation.at > 0).then(|| entry.invalidation.clone())
    }

    pub fn revoke(&self, user: Uuid, tid: Uuid, kind: TokenKind, expires_at: i64) {
        let mut entry = self.users.entry(user).or_default();
        match kind {
            TokenKind::Access => entry.access.insert(tid, expires_at),
            TokenKind::Refresh => entry.refresh.insert(tid, expires_at),
        };
    }

    /// Sets the user's invalidation unless a later one is already known. Token ids revoked
    /// one by one stay listed: tokens issued after the invalidation may be among them.
    pub fn set_invalidation(&self, user: Uuid, invalidation: Invalidation) {
        let mut entry = self.users.entry(user).or_default();
        if invalidation.at >= entry.invalidation.at {
            entry.invalidation = invalidation;
        }
    }

    /// A token issued after the invalidation at `at`, in the same second, stays valid.
    pub fn keep(&self, user: Uuid, at: i64, tid: Uuid) {
        if let Some(mut entry) = self.users.get_mut(&user) {
            if entry.invalidation.at == at && !entry.invalidation.kept.contains(&tid) {
                entry.invalidation.kept.push(tid);
            }
        }
    }

    /// Forgets what can no longer matter.
    pub fn sweep(&self, now: i64) {
        self.users.retain(|_, entry| {
            entry.access.retain(|_, exp| *exp >= now);
            entry.refresh.retain(|_, exp| *exp >= now);
            if entry.invalidation.at > 0 && entry.invalidation.expires <= now {
                entry.invalidation = Invalidation::default();
            }
            !entry.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidation_voids_earlier_seconds_and_unkept_tokens_of_its_own_second() {
        let kept = Uuid::new_v4();
        let inv = Invalidation { at: 100, expires: 4000, kept: vec![kept] };
        assert!(inv.voids(99, Uuid::new_v4()));
        assert!(inv.voids(100, Uuid::new_v4()));
        assert!(!inv.voids(100, kept));
        assert!(!inv.voids(101, Uuid::new_v4()));
        assert!(!Invalidation::default().voids(5, Uuid::new_v4()));
    }
}
