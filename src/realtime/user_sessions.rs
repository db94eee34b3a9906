use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use super::registry::{EndCause, SessionRegistry};
use super::socket::{Disconnect, SocketActor};
use crate::clock::unix_now;

/// One live session of a user: a token pair not yet expired nor revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSession {
    pub tid: Uuid,
    pub issued_at: i64,
    pub expires_at: i64,
}

struct AttachedSocket {
    tid: Uuid,
    issued_at: i64,
    addr: Addr<SocketActor>,
}

/// Holds one user's live sessions and open sockets; stops itself once it holds nothing.
pub struct UserSessions {
    user_id: Uuid,
    registry: SessionRegistry,
    single_socket: bool,
    sessions: HashMap<Uuid, LiveSession>,
    sockets: HashMap<Uuid, AttachedSocket>,
    wakeup: Option<(i64, SpawnHandle)>,
    attached: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionStarted {
    pub tid: Uuid,
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionEnded {
    pub tid: Uuid,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct TokenRevoked {
    pub tid: Uuid,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct AllSessionsEnded {
    pub before: i64,
    pub cause: EndCause,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SocketAttached {
    /// False when a replaced actor hands its sockets over (no single_socket kick then).
    pub kick_others: bool,
    pub session_id: Uuid,
    pub tid: Uuid,
    pub issued_at: i64,
    pub addr: Addr<SocketActor>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SocketDetached {
    pub session_id: Uuid,
}

#[derive(Message)]
#[rtype(result = "Vec<LiveSession>")]
pub struct ListSessions;

#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSockets;

/// Sent to itself after detaching, so every message queued before the detach is handled
/// before the actor decides to stop.
#[derive(Message)]
#[rtype(result = "()")]
struct StopIfIdle;

impl UserSessions {
    pub fn new(user_id: Uuid, registry: SessionRegistry, single_socket: bool) -> Self {
        Self {
            user_id,
            registry,
            single_socket,
            sessions: HashMap::new(),
            sockets: HashMap::new(),
            wakeup: None,
            attached: true,
        }
    }

    fn expire(&mut self, now: i64) {
        self.sessions.retain(|_, s| s.expires_at > now);
    }

    fn idle(&self) -> bool {
        self.sessions.is_empty() && self.sockets.is_empty()
    }

    /// Wakes up at the earliest expiry; detaches when nothing is live.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        self.expire(unix_now());
        if self.sessions.is_empty() {
            if let Some((_, handle)) = self.wakeup.take() {
                ctx.cancel_future(handle);
            }
            if self.idle() && self.attached {
                self.attached = false;
                self.registry.detach(self.user_id, &ctx.address());
                ctx.address().do_send(StopIfIdle);
            }
            return;
        }
        let earliest = self.sessions.values().map(|s| s.expires_at).min().unwrap_or_default();
        if let Some((at, handle)) = self.wakeup {
            if at <= earliest {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = Duration::from_secs((earliest - unix_now()).max(0) as u64) + Duration::from_millis(50);
        let handle = ctx.run_later(delay, |actor, ctx| {
            actor.wakeup = None;
            actor.settle(ctx);
        });
        self.wakeup = Some((earliest, handle));
    }

    fn close_sockets(&mut self, keep: impl Fn(&AttachedSocket) -> bool, disconnect: impl Fn() -> Disconnect) {
        for socket in self.sockets.values().filter(|s| !keep(s)) {
            socket.addr.do_send(disconnect());
        }
    }
}

impl Actor for UserSessions {
    type Context = Context<Self>;
}

/// Live sessions remembered per user. A client that logs in again and again (instead of
/// refreshing) would otherwise leave an entry per login for the refresh lifetime; the
/// oldest are forgotten here (their tokens stay valid: revocation does not depend on this
/// list, which serves the console and socket bookkeeping).
pub const MAX_TRACKED_SESSIONS: usize = 32;

impl Handler<SessionStarted> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: SessionStarted, ctx: &mut Context<Self>) {
        self.sessions
            .insert(msg.tid, LiveSession { tid: msg.tid, issued_at: msg.issued_at, expires_at: msg.expires_at });
        if self.sessions.len() > MAX_TRACKED_SESSIONS {
            let oldest = self
                .sessions
                .values()
                .filter(|s| s.tid != msg.tid)
                .min_by_key(|s| (s.issued_at, s.expires_at))
                .map(|s| s.tid);
            if let Some(tid) = oldest {
                self.sessions.remove(&tid);
            }
        }
        self.settle(ctx);
    }
}

impl Handler<SessionEnded> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: SessionEnded, ctx: &mut Context<Self>) {
        self.sessions.remove(&msg.tid);
        self.settle(ctx);
    }
}

impl Handler<TokenRevoked> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: TokenRevoked, _: &mut Context<Self>) {
        self.close_sockets(|s| s.tid != msg.tid, Disconnect::plain);
    }
}

impl Handler<AllSessionsEnded> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: AllSessionsEnded, ctx: &mut Context<Self>) {
        // Same-second sessions survive an invalidation (session.md §4).
        self.sessions.retain(|_, s| s.issued_at >= msg.before);
        match msg.cause {
            EndCause::LogoutAll => self.close_sockets(|s| s.issued_at >= msg.before, Disconnect::plain),
            EndCause::SingleSession => {}
            EndCause::Ban => self.close_sockets(|_| false, Disconnect::banned),
            EndCause::Delete => self.close_sockets(|_| false, Disconnect::plain),
        }
        self.settle(ctx);
    }
}

impl Handler<SocketAttached> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: SocketAttached, ctx: &mut Context<Self>) {
        if self.single_socket && msg.kick_others {
            self.close_sockets(|_| false, Disconnect::single_socket);
        }
        self.sockets.insert(msg.session_id, AttachedSocket { tid: msg.tid, issued_at: msg.issued_at, addr: msg.addr });
        self.settle(ctx);
    }
}

impl Handler<SocketDetached> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: SocketDetached, ctx: &mut Context<Self>) {
        self.sockets.remove(&msg.session_id);
        if self.sockets.is_empty() {
            // Give the table back: a long-lived actor must not pin heap pages that the
            // socket's own (short-lived) allocations were interleaved with.
            self.sockets = HashMap::new();
        }
        self.settle(ctx);
    }
}

impl Handler<ListSessions> for UserSessions {
    type Result = MessageResult<ListSessions>;
    fn handle(&mut self, _: ListSessions, _: &mut Context<Self>) -> Self::Result {
        let now = unix_now();
        let mut live: Vec<LiveSession> = self.sessions.values().filter(|s| s.expires_at > now).cloned().collect();
        live.sort_by_key(|s| (s.issued_at, s.tid));
        MessageResult(live)
    }
}

impl Handler<CountSockets> for UserSessions {
    type Result = usize;
    fn handle(&mut self, _: CountSockets, _: &mut Context<Self>) -> usize {
        self.sockets.len()
    }
}

impl Handler<StopIfIdle> for UserSessions {
    type Result = ();
    fn handle(&mut self, _: StopIfIdle, ctx: &mut Context<Self>) {
        self.expire(unix_now());
        if self.idle() {
            ctx.stop();
            return;
        }
        // Work arrived between the detach and now: rejoin, or hand it to the successor.
        match self.registry.reattach(self.user_id, ctx.address()) {
            None => {
                self.attached = true;
                self.settle(ctx);
            }
            Some(successor) => {
                for (_, s) in self.sessions.drain() {
                    successor.do_send(SessionStarted { tid: s.tid, issued_at: s.issued_at, expires_at: s.expires_at });
                }
                for (session_id, s) in self.sockets.drain() {
                    successor.do_send(SocketAttached {
                        kick_others: false,
                        session_id,
                        tid: s.tid,
                        issued_at: s.issued_at,
                        addr: s.addr,
                    });
                }
                ctx.stop();
            }
        }
    }
}
