use std::sync::Arc;

use actix::prelude::*;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use uuid::Uuid;

use super::user_sessions::{AllSessionsEnded, ListSessions, LiveSession, SessionEnded, SessionStarted, UserSessions};

/// user id -> the actor holding that user's live sessions. Entries exist only while the
/// user has something live; the actor removes itself when it holds nothing.
#[derive(Clone, Default)]
pub struct SessionRegistry {
    users: Arc<DashMap<Uuid, Addr<UserSessions>>>,
}

impl SessionRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a session (a login or a refresh), starting the user's actor if needed.
    /// The send happens under the map's entry lock so it cannot race the actor's removal.
    pub fn session_started(&self, user_id: Uuid, tid: Uuid, issued_at: i64, expires_at: i64) {
        let entry = self.users.entry(user_id).or_insert_with(|| UserSessions::new(user_id, self.clone()).start());
        entry.do_send(SessionStarted { tid, issued_at, expires_at });
    }

    /// A token id was revoked.
    pub fn session_ended(&self, user_id: Uuid, tid: Uuid) {
        if let Some(addr) = self.users.get(&user_id) {
            addr.do_send(SessionEnded { tid });
        }
    }

    /// Every session issued before `before` (Unix seconds) ended: logout-all, ban, delete.
    pub fn all_sessions_ended(&self, user_id: Uuid, before: i64) {
        if let Some(addr) = self.users.get(&user_id) {
            addr.do_send(AllSessionsEnded { before });
        }
    }

    /// The user's live sessions (empty when the user holds none).
    pub async fn sessions_of(&self, user_id: Uuid) -> Vec<LiveSession> {
        let addr = self.users.get(&user_id).map(|a| a.clone());
        match addr {
            Some(addr) => addr.send(ListSessions).await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Users with at least one live session.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Called by an idle actor: forget it unless it has already been replaced.
    pub(super) fn detach(&self, user_id: Uuid, addr: &Addr<UserSessions>) {
        self.users.remove_if(&user_id, |_, current| current == addr);
    }

    /// Called by a detached actor that received work after all: take its place again, or
    /// return the actor that replaced it.
    pub(super) fn reattach(&self, user_id: Uuid, addr: Addr<UserSessions>) -> Option<Addr<UserSessions>> {
        match self.users.entry(user_id) {
            Entry::Vacant(slot) => {
                slot.insert(addr);
                None
            }
            Entry::Occupied(slot) if slot.get() == &addr => None,
            Entry::Occupied(slot) => Some(slot.get().clone()),
        }
    }
}
