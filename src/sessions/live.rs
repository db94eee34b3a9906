//! Live sessions (token pairs not yet expired nor revoked) per user, for the console's
//! account view. Compact on purpose: a user with live tokens and no socket costs one map
//! entry here and no actor, and the whole table has a hard ceiling. Revocation never
//! depends on this table (the session cache decides), so a session it drops at the
//! ceiling keeps working; it is only not listed.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use uuid::Uuid;

use super::cache::Invalidation;

/// One live session of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSession {
    pub tid: Uuid,
    /// `iat` of its tokens (the original login).
    pub issued_at: i64,
    /// `exp` of its latest refresh token.
    pub expires_at: i64,
}

/// Sessions remembered per user. A client that logs in again and again (instead of
/// refreshing) would otherwise leave an entry per login for the refresh lifetime; the
/// oldest are forgotten.
pub const MAX_SESSIONS_PER_USER: usize = 32;

pub struct LiveSessions {
    users: DashMap<Uuid, Vec<LiveSession>>,
    sessions: AtomicUsize,
    capacity: usize,
    /// Sessions not listed because the table was full.
    untracked: AtomicUsize,
}

impl LiveSessions {
    /// At most `capacity` sessions in all.
    pub fn new(capacity: usize) -> Self {
        Self { users: DashMap::new(), sessions: AtomicUsize::new(0), capacity, untracked: AtomicUsize::new(0) }
    }

    /// A login (new `tid`) or a refresh (known `tid`, later expiry).
    pub fn started(&self, user: Uuid, session: LiveSession) {
        // Most users hold one session: room for exactly one (a Vec's first push would
        // make room for four, 96 bytes more per user).
        let mut list = self.users.entry(user).or_insert_with(|| Vec::with_capacity(1));
        if let Some(known) = list.iter_mut().find(|s| s.tid == session.tid) {
            known.expires_at = known.expires_at.max(session.expires_at);
            return;
        }
        if list.len() >= MAX_SESSIONS_PER_USER {
            if let Some(oldest) =
                list.iter().enumerate().min_by_key(|(_, s)| (s.issued_at, s.expires_at)).map(|(i, _)| i)
            {
                list.swap_remove(oldest);
                self.sessions.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if self.sessions.load(Ordering::Relaxed) >= self.capacity {
            self.untracked.fetch_add(1, Ordering::Relaxed);
            let empty = list.is_empty();
            drop(list);
            if empty {
                self.users.remove_if(&user, |_, l| l.is_empty());
            }
            return;
        }
        list.push(session);
        self.sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// The session's refresh token was revoked.
    pub fn ended(&self, user: Uuid, tid: Uuid) {
        self.remove_where(user, |s| s.tid == tid);
    }

    /// Every session the invalidation voids ended.
    pub fn invalidated(&self, user: Uuid, invalidation: &Invalidation) {
        self.remove_where(user, |s| invalidation.voids(s.issued_at, s.tid));
    }

    fn remove_where(&self, user: Uuid, gone: impl Fn(&LiveSession) -> bool) {
        let mut removed = 0;
        self.users.remove_if_mut(&user, |_, list| {
            let before = list.len();
            list.retain(|s| !gone(s));
            removed = before - list.len();
            list.is_empty()
        });
        self.sessions.fetch_sub(removed, Ordering::Relaxed);
    }

    /// The user's live sessions at `now`, oldest first.
    pub fn of(&self, user: Uuid, now: i64) -> Vec<LiveSession> {
        let mut live: Vec<LiveSession> = self
            .users
            .get(&user)
            .map(|list| list.iter().filter(|s| s.expires_at > now).copied().collect())
            .unwrap_or_default();
        live.sort_by_key(|s| (s.issued_at, s.tid));
        live
    }

    /// Forgets expired sessions.
    pub fn sweep(&self, now: i64) {
        let mut removed = 0;
        self.users.retain(|_, list| {
            let before = list.len();
            list.retain(|s| s.expires_at > now);
            removed += before - list.len();
            if list.is_empty() {
                false
            } else {
                list.shrink_to_fit();
                true
            }
        });
        self.sessions.fetch_sub(removed, Ordering::Relaxed);
        // Entries come and go all the time (a login adds one, its expiry removes it), and the
        // hash table counts removed slots against its room until it rebuilds: left alone, a
        // table of steady size doubles after some minutes (seen in scripts/soak: +21 MiB at
        // 10 minutes). Rebuilt to fit after each sweep, it stays at its size.
        self.users.shrink_to_fit();
    }

    /// Users with at least one session listed.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Sessions listed.
    pub fn session_count(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Sessions that could not be listed because the table was full.
    pub fn untracked(&self) -> usize {
        self.untracked.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(issued_at: i64, expires_at: i64) -> LiveSession {
        LiveSession { tid: Uuid::new_v4(), issued_at, expires_at }
    }

    #[test]
    fn a_refresh_extends_a_known_session() {
        let live = LiveSessions::new(10);
        let user = Uuid::new_v4();
        let s = session(100, 200);
        live.started(user, s);
        live.started(user, LiveSession { expires_at: 300, ..s });
        assert_eq!(live.of(user, 250), vec![LiveSession { expires_at: 300, ..s }]);
        assert_eq!(live.session_count(), 1);
    }

    #[test]
    fn the_table_stops_listing_at_its_ceiling_and_counts_what_it_dropped() {
        let live = LiveSessions::new(3);
        for _ in 0..5 {
            live.started(Uuid::new_v4(), session(100, 200));
        }
        assert_eq!(live.session_count(), 3);
        assert_eq!(live.user_count(), 3);
        assert_eq!(live.untracked(), 2);
        live.sweep(200);
        assert_eq!((live.session_count(), live.user_count()), (0, 0));
        live.started(Uuid::new_v4(), session(300, 400));
        assert_eq!(live.session_count(), 1);
    }

    #[test]
    fn an_invalidation_ends_the_sessions_it_voids() {
        let live = LiveSessions::new(10);
        let user = Uuid::new_v4();
        let (old, same, kept, later) = (session(99, 500), session(100, 500), session(100, 500), session(101, 500));
        for s in [old, same, kept, later] {
            live.started(user, s);
        }
        live.invalidated(user, &Invalidation { at: 100, expires: 4000, kept: vec![kept.tid] });
        let mut expected = vec![kept, later];
        expected.sort_by_key(|s| (s.issued_at, s.tid));
        assert_eq!(live.of(user, 0), expected);
        assert_eq!(live.session_count(), 2);
        live.ended(user, kept.tid);
        live.ended(user, later.tid);
        assert_eq!((live.session_count(), live.user_count()), (0, 0));
    }
}
