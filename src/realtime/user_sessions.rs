//! One actor per user with open sockets: it owns the user's sockets and applies session
//! events to them (single_socket kicks, closes on logout, ban and delete). A user with live
//! tokens but no socket has no actor; their sessions are listed compactly by
//! `sessions::LiveSessions`.

use std::collections::HashMap;

use actix::prelude::*;
use uuid::Uuid;

use super::registry::SessionRegistry;
use super::socket::{Disconnect, SocketActor};
use crate::sessions::{EndCause, Invalidation};

struct AttachedSocket {
    tid: Uuid,
    issued_at: i64,
    addr: Addr<SocketActor>,
}

/// Holds one user's open sockets; stops itself once it holds none.
pub struct UserSessions {
    user_id: Uuid,
    registry: SessionRegistry,
    single_socket: bool,
    sockets: HashMap<Uuid, AttachedSocket>,
    attached: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct TokenRevoked {
    pub tid: Uuid,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct AllSessionsEnded {
    pub invalidation: Invalidation,
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
#[rtype(result = "usize")]
pub struct CountSockets;

/// Sent to itself after detaching, so every message queued before the detach is handled
/// before the actor decides to stop.
#[derive(Message)]
#[rtype(result = "()")]
struct StopIfIdle;

impl UserSessions {
    pub fn new(user_id: Uuid, registry: SessionRegistry, single_socket: bool) -> Self {
        Self { user_id, registry, single_socket, sockets: HashMap::new(), attached: true }
    }

    /// Detaches once no socket is left.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        if self.sockets.is_empty() && self.attached {
            self.attached = false;
            self.registry.detach(self.user_id, &ctx.address());
            ctx.address().do_send(StopIfIdle);
        }
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

impl Handler<TokenRevoked> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: TokenRevoked, _: &mut Context<Self>) {
        self.close_sockets(|s| s.tid != msg.tid, Disconnect::plain);
    }
}

impl Handler<AllSessionsEnded> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: AllSessionsEnded, _: &mut Context<Self>) {
        let inv = &msg.invalidation;
        match msg.cause {
            EndCause::LogoutAll => self.close_sockets(|s| !inv.voids(s.issued_at, s.tid), Disconnect::plain),
            EndCause::SingleSession => {}
            EndCause::Ban => self.close_sockets(|_| false, Disconnect::banned),
            EndCause::Delete => self.close_sockets(|_| false, Disconnect::plain),
        }
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
        self.settle(ctx);
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
        if self.sockets.is_empty() {
            ctx.stop();
            return;
        }
        // A socket arrived between the detach and now: rejoin, or hand it to the successor.
        match self.registry.reattach(self.user_id, ctx.address()) {
            None => self.attached = true,
            Some(successor) => {
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
