//! The status registry (status-presence.md): who follows whom, per session, and which
//! sessions of each user hold a status presence. Events leave through `PresenceBus`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use uuid::Uuid;

use super::protocol::UserPresence;
use super::socket::SocketHandle;
use crate::metrics::Metrics;

/// Follow maps kept in step: followed user -> following sessions (with their sockets).
/// Each socket keeps its own set of followed users to undo this on close.
pub struct StatusRegistry {
    followers: DashMap<Uuid, HashMap<Uuid, SocketHandle>>,
    presences: DashMap<Uuid, Vec<UserPresence>>,
    presence_count: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl StatusRegistry {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { followers: DashMap::new(), presences: DashMap::new(), presence_count: AtomicUsize::new(0), metrics }
    }

    pub fn follow(&self, session_id: Uuid, socket: &SocketHandle, users: &[Uuid]) {
        for user in users {
            self.followers.entry(*user).or_default().insert(session_id, socket.clone());
        }
    }

    pub fn unfollow(&self, session_id: Uuid, users: &[Uuid]) {
        for user in users {
            self.followers.remove_if_mut(user, |_, sessions| {
                sessions.remove(&session_id);
                sessions.is_empty()
            });
        }
    }

    /// Calls `f` with each socket following `user`, under the map's read lock (`f` must
    /// not block: a `do_send` is fine).
    pub fn for_each_follower(&self, user: Uuid, mut f: impl FnMut(&SocketHandle)) {
        if let Some(sessions) = self.followers.get(&user) {
            sessions.values().for_each(&mut f);
        }
    }

    /// Sets a session's status presence; returns the one it replaces.
    pub fn set(&self, user: Uuid, presence: UserPresence) -> Option<UserPresence> {
        let mut list = self.presences.entry(user).or_default();
        match list.iter_mut().find(|p| p.session_id == presence.session_id) {
            Some(existing) => Some(std::mem::replace(existing, presence)),
            None => {
                list.push(presence);
                self.presence_count.fetch_add(1, Ordering::Relaxed);
                self.metrics.gauge_add(&self.metrics.presences, 1);
                None
            }
        }
    }

    /// Removes a session's status presence, returning it.
    pub fn clear(&self, user: Uuid, session_id: &str) -> Option<UserPresence> {
        let mut removed = None;
        self.presences.remove_if_mut(&user, |_, list| {
            if let Some(i) = list.iter().position(|p| p.session_id == session_id) {
                removed = Some(list.swap_remove(i));
            }
            list.is_empty()
        });
        if removed.is_some() {
            self.presence_count.fetch_sub(1, Ordering::Relaxed);
            self.metrics.gauge_add(&self.metrics.presences, -1);
        }
        removed
    }

    /// Every status presence of these users.
    pub fn presences_of(&self, users: &[Uuid]) -> Vec<UserPresence> {
        users.iter().filter_map(|u| self.presences.get(u).map(|l| l.clone())).flatten().collect()
    }

    /// Online = at least one status presence (status-presence.md §9).
    pub fn is_online(&self, user: Uuid) -> bool {
        self.presences.contains_key(&user)
    }

    /// Status presences on this node.
    pub fn presence_count(&self) -> usize {
        self.presence_count.load(Ordering::Relaxed)
    }

    /// Users with at least one follower entry (for leak checks).
    pub fn followed_user_count(&self) -> usize {
        self.followers.len()
    }
}
