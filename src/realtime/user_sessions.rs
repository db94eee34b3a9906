use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use super::registry::SessionRegistry;
use crate::clock::unix_now;

/// One live session of a user: a token pair not yet expired nor revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSession {
    pub tid: Uuid,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// Holds one user's live sessions; stops itself once it holds nothing live.
pub struct UserSessions {
    user_id: Uuid,
    registry: SessionRegistry,
    sessions: HashMap<Uuid, LiveSession>,
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
pub struct AllSessionsEnded {
    pub before: i64,
}

#[derive(Message)]
#[rtype(result = "Vec<LiveSession>")]
pub struct ListSessions;

/// Sent to itself after detaching, so every message queued before the detach is handled
/// before the actor decides to stop.
#[derive(Message)]
#[rtype(result = "()")]
struct StopIfIdle;

impl UserSessions {
    pub fn new(user_id: Uuid, registry: SessionRegistry) -> Self {
        Self { user_id, registry, sessions: HashMap::new(), wakeup: None, attached: true }
    }

    fn expire(&mut self, now: i64) {
        self.sessions.retain(|_, s| s.expires_at > now);
    }

    /// Wakes up at the earliest expiry; detaches when nothing is live.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        self.expire(unix_now());
        if self.sessions.is_empty() {
            if let Some((_, handle)) = self.wakeup.take() {
                ctx.cancel_future(handle);
            }
            if self.attached {
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
}

impl Actor for UserSessions {
    type Context = Context<Self>;
}

impl Handler<SessionStarted> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: SessionStarted, ctx: &mut Context<Self>) {
        self.sessions
            .insert(msg.tid, LiveSession { tid: msg.tid, issued_at: msg.issued_at, expires_at: msg.expires_at });
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

impl Handler<AllSessionsEnded> for UserSessions {
    type Result = ();
    fn handle(&mut self, msg: AllSessionsEnded, ctx: &mut Context<Self>) {
        // Same-second sessions survive an invalidation (session.md §4).
        self.sessions.retain(|_, s| s.issued_at >= msg.before);
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

impl Handler<StopIfIdle> for UserSessions {
    type Result = ();
    fn handle(&mut self, _: StopIfIdle, ctx: &mut Context<Self>) {
        self.expire(unix_now());
        if self.sessions.is_empty() {
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
                for s in self.sessions.drain().map(|(_, s)| s) {
                    successor.do_send(SessionStarted { tid: s.tid, issued_at: s.issued_at, expires_at: s.expires_at });
                }
                ctx.stop();
            }
        }
    }
}
