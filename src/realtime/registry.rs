use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::metrics::Metrics;

use actix::prelude::*;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use uuid::Uuid;

use super::socket::{CheckKeepalive, Disconnect, SocketHandle};
use super::user_sessions::{
    AllSessionsEnded, CountSockets, SocketAttached, SocketDetached, TokenRevoked, UserSessions,
};
use crate::sessions::{EndCause, Invalidation, SessionEvents};

struct Inner {
    users: DashMap<Uuid, Addr<UserSessions>>,
    sockets: DashMap<Uuid, SocketHandle>,
    socket_count: AtomicUsize,
    single_socket: bool,
    metrics: Arc<Metrics>,
}

/// user id -> the actor holding that user's sockets; session id -> socket. Entries exist
/// only while a socket is open; an idle user actor removes itself.
#[derive(Clone)]
pub struct SessionRegistry {
    inner: Arc<Inner>,
}

impl SessionRegistry {
    pub fn new(single_socket: bool, metrics: Arc<Metrics>) -> Self {
        let inner = Inner {
            users: DashMap::new(),
            sockets: DashMap::new(),
            socket_count: AtomicUsize::new(0),
            single_socket,
            metrics,
        };
        Self { inner: Arc::new(inner) }
    }

    /// Sends to the user's actor, starting it if needed. The send happens under the map's
    /// entry lock so it cannot race the actor's removal.
    fn with_user<M>(&self, user_id: Uuid, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        UserSessions: Handler<M>,
    {
        let entry = self
            .inner
            .users
            .entry(user_id)
            .or_insert_with(|| UserSessions::new(user_id, self.clone(), self.inner.single_socket).start());
        entry.do_send(msg);
    }

    fn if_user<M>(&self, user_id: Uuid, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        UserSessions: Handler<M>,
    {
        if let Some(addr) = self.inner.users.get(&user_id) {
            addr.do_send(msg);
        }
    }

    /// A socket finished its upgrade.
    pub fn socket_opened(&self, user_id: Uuid, session_id: Uuid, tid: Uuid, issued_at: i64, socket: SocketHandle) {
        let addr = socket.addr.clone();
        if self.inner.sockets.insert(session_id, socket).is_none() {
            self.inner.socket_count.fetch_add(1, Ordering::Relaxed);
            // Each socket holds one hidden notification presence (sessions-registry.md §2.2).
            let m = &self.inner.metrics;
            m.add(&m.socket_ws_opened, 1);
            m.gauge_add(&m.sessions, 1);
            m.gauge_add(&m.presences, 1);
        }
        self.with_user(user_id, SocketAttached { kick_others: true, session_id, tid, issued_at, addr });
    }

    /// A socket is gone (idempotent).
    pub fn socket_closed(&self, user_id: Uuid, session_id: Uuid) {
        if self.inner.sockets.remove(&session_id).is_some() {
            self.inner.socket_count.fetch_sub(1, Ordering::Relaxed);
            let m = &self.inner.metrics;
            m.add(&m.socket_ws_closed, 1);
            m.gauge_add(&m.sessions, -1);
            m.gauge_add(&m.presences, -1);
        }
        self.if_user(user_id, SocketDetached { session_id });
    }

    pub fn socket(&self, session_id: Uuid) -> Option<SocketHandle> {
        self.inner.sockets.get(&session_id).map(|s| s.clone())
    }

    /// Closes one socket with `server-side session disconnect`.
    pub fn disconnect_session(&self, session_id: Uuid) -> bool {
        match self.socket(session_id) {
            Some(socket) => {
                socket.addr.do_send(Disconnect::plain());
                true
            }
            None => false,
        }
    }

    /// Asks every socket to look at its keepalive now (a test moved the clock).
    pub fn check_keepalive(&self) {
        for socket in self.inner.sockets.iter() {
            socket.addr.do_send(CheckKeepalive);
        }
    }

    /// Asks every socket to close (server shutdown).
    pub fn close_all(&self, reason: &'static str) {
        for socket in self.inner.sockets.iter() {
            socket.addr.do_send(Disconnect::shutdown(reason));
        }
    }

    /// The number of open sockets of one user.
    pub async fn socket_count_of(&self, user_id: Uuid) -> usize {
        let addr = self.inner.users.get(&user_id).map(|a| a.clone());
        match addr {
            Some(addr) => addr.send(CountSockets).await.unwrap_or_default(),
            None => 0,
        }
    }

    /// Users with at least one open socket (each has an actor).
    pub fn user_count(&self) -> usize {
        self.inner.users.len()
    }

    /// Open sockets on this node.
    pub fn socket_count(&self) -> usize {
        self.inner.socket_count.load(Ordering::Relaxed)
    }

    /// Called by an idle actor: forget it unless it has already been replaced.
    pub(super) fn detach(&self, user_id: Uuid, addr: &Addr<UserSessions>) {
        self.inner.users.remove_if(&user_id, |_, current| current == addr);
    }

    /// Called by a detached actor that received work after all: take its place again, or
    /// return the actor that replaced it.
    pub(super) fn reattach(&self, user_id: Uuid, addr: Addr<UserSessions>) -> Option<Addr<UserSessions>> {
        match self.inner.users.entry(user_id) {
            Entry::Vacant(slot) => {
                slot.insert(addr);
                None
            }
            Entry::Occupied(slot) if slot.get() == &addr => None,
            Entry::Occupied(slot) => Some(slot.get().clone()),
        }
    }
}

/// Session events reach the user's actor, which owns the user's sockets on this node.
impl SessionEvents for SessionRegistry {
    /// Sockets opened with the token close.
    fn token_revoked(&self, user_id: Uuid, tid: Uuid) {
        self.if_user(user_id, TokenRevoked { tid });
    }

    /// The sockets the invalidation concerns close (none for `single_session`).
    fn sessions_ended(&self, user_id: Uuid, invalidation: &Invalidation, cause: EndCause) {
        self.if_user(user_id, AllSessionsEnded { invalidation: invalidation.clone(), cause });
    }
}
