//! One `/ws` connection as an actor: the frame reader is a stream in its context; every
//! frame it sends goes through one bounded outgoing queue (`socket.outgoing_queue_size`
//! frames not yet taken by the kernel), written at once while the kernel takes them.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, Item, Message as WsMessage, ProtocolError};
use actix_web::web;
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use uuid::Uuid;

use super::bus::PresenceBus;
use super::protocol::{Envelope, Format, Notification, Refusal, Request, ServerMessage, SocketError, UserPresence};
use super::transport::{Flush, FrameReader, FrameWriter};
use crate::clock::unix_now;
use crate::http::limits::ConnectionPermit;
use crate::AppState;

pub const REASON_DISCONNECT: &str = "server-side session disconnect";
const REASON_MALFORMED: &str = "received malformed payload";
const REASON_PROCESSING: &str = "error processing message";
const REASON_TYPE: &str = "received unexpected WebSocket message type";
const REASON_QUEUE_FULL: &str = "session outgoing queue full";

/// A frame for this socket (an event fanned out to followers, for instance), already
/// encoded as a WebSocket frame in the socket's format so that a fan-out encodes once.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Push {
    frame: Bytes,
    payload_len: usize,
}

impl Push {
    pub fn encode(message: &ServerMessage<'_>, format: Format) -> Push {
        let message = message.encode(format, None);
        Push { payload_len: payload_len(&message), frame: super::transport::encode_frame(message) }
    }
}

fn payload_len(message: &WsMessage) -> usize {
    match message {
        WsMessage::Text(text) => text.len(),
        WsMessage::Binary(bytes) => bytes.len(),
        _ => 0,
    }
}

/// How the registries reach a socket: its actor, and the format its pushes are encoded in.
#[derive(Clone)]
pub struct SocketHandle {
    pub addr: Addr<SocketActor>,
    pub format: Format,
}

/// Close the socket with `server-side session disconnect` (or a shutdown reason), after an
/// optional final notification.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    notification: Option<(i32, &'static str)>,
    reason: &'static str,
}

impl Disconnect {
    pub fn plain() -> Self {
        Self { notification: None, reason: REASON_DISCONNECT }
    }
    pub fn banned() -> Self {
        Self { notification: Some((-8, "banned")), reason: REASON_DISCONNECT }
    }
    pub fn single_socket() -> Self {
        Self { notification: Some((-7, "single_socket")), reason: REASON_DISCONNECT }
    }
    pub fn shutdown(reason: &'static str) -> Self {
        Self { notification: None, reason }
    }
}

/// How long a closing socket waits for the client's close reply before dropping TCP.
const CLOSE_ACK_WAIT: Duration = Duration::from_secs(2);

/// Who the socket belongs to, from the token it connected with.
pub struct SocketIdentity {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub tid: Uuid,
    /// Issue second of the token (`iat`), for logout-all.
    pub issued_at: i64,
    pub status: bool,
    pub format: Format,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
}

/// Starts the socket actor and registers it before the upgrade is answered, so that a
/// logout, ban or single_socket kick that follows the 101 always finds it.
///
/// `answer`: the upgrade's 101 response, the first bytes the socket writes.
pub fn start(
    state: web::Data<AppState>,
    id: SocketIdentity,
    io: TcpStream,
    leftover: &[u8],
    answer: BytesMut,
    permit: ConnectionPermit,
) -> Addr<SocketActor> {
    let (user_id, session_id, tid, issued_at, format) = (id.user_id, id.session_id, id.tid, id.issued_at, id.format);
    let registry = state.registry.clone();
    let (read, write) = io.into_split();
    let reader = FrameReader::new(read, leftover, state.config.socket.max_message_size_bytes);
    let addr = SocketActor::create(move |ctx| {
        ctx.add_stream(reader);
        SocketActor::new(state, id, FrameWriter::new(write, answer), permit)
    });
    registry.socket_opened(user_id, session_id, tid, issued_at, SocketHandle { addr: addr.clone(), format });
    addr
}

pub struct SocketActor {
    state: web::Data<AppState>,
    bus: Arc<dyn PresenceBus>,
    id: SocketIdentity,
    session_text: String,
    writer: FrameWriter,
    status: Option<String>,
    follows: HashSet<Uuid>,
    /// A continued message being reassembled: (is text, bytes so far).
    partial: Option<(bool, BytesMut)>,
    /// Set once closing has begun: no more frames are queued after the close frame.
    closing: bool,
    cleaned: bool,
    /// When the peer last showed life, on the app clock's `instant`.
    last_life: Instant,
    pinged: bool,
    countdown: u32,
    /// The next keepalive look, replaced when the clock is moved.
    keepalive_timer: Option<SpawnHandle>,
    /// The socket's place under `socket.max_connections`, given back when it stops.
    _connection: ConnectionPermit,
}

impl SocketActor {
    pub fn new(state: web::Data<AppState>, id: SocketIdentity, writer: FrameWriter, permit: ConnectionPermit) -> Self {
        let bus = state.bus.clone();
        let countdown = state.config.socket.ping_backoff_threshold;
        let last_life = state.clock.instant();
        Self {
            session_text: id.session_id.to_string(),
            state,
            bus,
            id,
            writer,
            status: None,
            follows: HashSet::new(),
            partial: None,
            closing: false,
            cleaned: false,
            last_life,
            pinged: false,
            countdown,
            keepalive_timer: None,
            _connection: permit,
        }
    }

    fn presence(&self, status: String) -> UserPresence {
        UserPresence {
            user_id: self.id.user_id.to_string(),
            session_id: self.session_text.clone(),
            username: self.id.username.clone(),
            status,
        }
    }

    // ---- writing -------------------------------------------------------------------

    /// Sends `message` in the socket's format, answering the request `cid`.
    fn send(&mut self, cid: Option<&str>, message: ServerMessage<'_>, ctx: &mut Context<Self>) {
        let frame = message.encode(self.id.format, cid);
        self.enqueue(frame, ctx);
    }

    fn socket_handle(&self, addr: Addr<SocketActor>) -> SocketHandle {
        SocketHandle { addr, format: self.id.format }
    }

    fn enqueue(&mut self, frame: WsMessage, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if self.writer.pending() >= self.state.config.socket.outgoing_queue_size {
            return self.overflow(ctx);
        }
        if matches!(frame, WsMessage::Text(_) | WsMessage::Binary(_)) {
            self.count_sent(payload_len(&frame));
        }
        self.writer.queue(frame);
        self.flush(ctx);
    }

    /// A slow client never grows memory: drop what is queued and close.
    fn overflow(&mut self, ctx: &mut Context<Self>) {
        let m = &self.state.metrics;
        m.add(&m.socket_queue_overflows, 1);
        self.writer.discard();
        self.begin_close(Some(normal(REASON_QUEUE_FULL)), ctx);
    }

    /// Data frames queued for the client (all are written unless the socket dies first).
    fn count_sent(&self, len: usize) {
        let m = &self.state.metrics;
        m.add(&m.message_sent_count, 1);
        m.add(&m.message_sent_bytes, len as u64);
        m.add(&m.overall_sent_bytes, len as u64);
    }

    /// A read that ends the socket with an error (bad input, protocol error, deadline).
    fn close_for_error(&mut self, reason: Option<CloseReason>, ctx: &mut Context<Self>) {
        let m = &self.state.metrics;
        m.add(&m.message_errors, 1);
        m.add(&m.overall_errors, 1);
        self.begin_close(reason, ctx);
    }

    /// Hands queued frames to the kernel; when it is full, one write waits for room (at
    /// most `socket.write_wait_ms`) while later frames queue behind it.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        match self.writer.flush() {
            Flush::Done => {
                if self.closing && self.writer.is_idle() {
                    // The close frame is out: wait briefly for the client's reply.
                    ctx.run_later(CLOSE_ACK_WAIT, |_, ctx| ctx.stop());
                }
            }
            Flush::Failed => self.terminate(ctx),
            Flush::Wait(mut half, data) => {
                let wait = Duration::from_millis(self.state.config.socket.write_wait_ms);
                let write = async move {
                    let written = tokio::time::timeout(wait, half.write_all(&data)).await;
                    (half, written)
                };
                ctx.spawn(write.into_actor(self).map(|(half, written), actor, ctx| match written {
                    Ok(Ok(())) => {
                        actor.writer.restore(half);
                        actor.flush(ctx);
                    }
                    failed => {
                        if failed.is_err() {
                            // Read nothing for write_wait_ms: a slow client.
                            let m = &actor.state.metrics;
                            m.add(&m.socket_slow_disconnects, 1);
                        }
                        actor.terminate(ctx);
                    }
                }));
            }
        }
    }

    /// Leaves presences and registries, then sends the close frame after what is queued.
    fn begin_close(&mut self, reason: Option<CloseReason>, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.cleanup();
        self.closing = true;
        self.writer.queue(WsMessage::Close(reason));
        self.flush(ctx);
    }

    /// Drops the connection without a close frame.
    fn terminate(&mut self, ctx: &mut Context<Self>) {
        self.cleanup();
        ctx.stop();
    }

    // ---- presence bookkeeping -------------------------------------------------------

    fn set_status(&mut self, status: String) {
        let presence = self.presence(status.clone());
        let old = self.state.status.set(self.id.user_id, presence.clone());
        self.status = Some(status);
        let leaves: Vec<UserPresence> = old.into_iter().collect();
        self.state.metrics.add(&self.state.metrics.presence_event_count, 1);
        self.bus.publish(self.id.user_id, &ServerMessage::PresenceEvent { joins: &[presence], leaves: &leaves });
    }

    fn clear_status(&mut self) {
        if self.status.take().is_some() {
            if let Some(old) = self.state.status.clear(self.id.user_id, &self.session_text) {
                self.state.metrics.add(&self.state.metrics.presence_event_count, 1);
                self.bus.publish(self.id.user_id, &ServerMessage::PresenceEvent { joins: &[], leaves: &[old] });
            }
        }
    }

    /// Leaves (followers hear it before the close frame), unfollows, leaves the registry.
    fn cleanup(&mut self) {
        if self.cleaned {
            return;
        }
        self.cleaned = true;
        self.clear_status();
        let follows: Vec<Uuid> = self.follows.drain().collect();
        self.state.status.unfollow(self.id.session_id, &follows);
        self.state.registry.socket_closed(self.id.user_id, self.id.session_id);
    }

    // ---- keepalive --------------------------------------------------------------------

    fn life(&mut self) {
        self.last_life = self.state.clock.instant();
        self.pinged = false;
        self.countdown = self.state.config.socket.ping_backoff_threshold;
    }

    fn schedule_keepalive(&mut self, ctx: &mut Context<Self>) {
        let socket = &self.state.config.socket;
        let next = if self.pinged {
            self.last_life + Duration::from_millis(socket.pong_wait_ms)
        } else {
            self.last_life + Duration::from_millis(socket.ping_period_ms)
        };
        let delay = next.saturating_duration_since(self.state.clock.instant());
        if let Some(timer) = self.keepalive_timer.take() {
            ctx.cancel_future(timer);
        }
        self.keepalive_timer = Some(ctx.run_later(delay, |actor, ctx| actor.keepalive(ctx)));
    }

    fn keepalive(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        let socket = &self.state.config.socket;
        let silent = self.state.clock.instant().saturating_duration_since(self.last_life);
        if silent >= Duration::from_millis(socket.pong_wait_ms) {
            let reason = match (self.id.local, self.id.peer) {
                (Some(local), Some(peer)) => format!("read tcp {local}->{peer}: i/o timeout"),
                _ => "i/o timeout".to_string(),
            };
            self.close_for_error(Some(normal(&reason)), ctx);
            return;
        }
        if silent >= Duration::from_millis(socket.ping_period_ms) && !self.pinged {
            self.pinged = true;
            self.enqueue(WsMessage::Ping(Bytes::new()), ctx);
        }
        self.schedule_keepalive(ctx);
    }

    // ---- requests -----------------------------------------------------------------------

    /// A client envelope the format could not turn into a request: close, after an error
    /// envelope when there was one to answer (the same rules in both formats).
    fn refuse(&mut self, cid: Option<String>, refusal: Refusal, ctx: &mut Context<Self>) {
        let error = match refusal {
            Refusal::Malformed => return self.close_for_error(Some(normal(REASON_MALFORMED)), ctx),
            Refusal::MissingPayload => SocketError::MissingMessage,
            Refusal::Unrecognized => SocketError::UnrecognizedMessage,
        };
        self.send(cid.as_deref(), ServerMessage::Error(error), ctx);
        self.close_for_error(Some(normal(REASON_PROCESSING)), ctx);
    }

    fn handle_envelope(&mut self, envelope: Envelope, ctx: &mut Context<Self>) {
        let cid = envelope.cid;
        match envelope.request {
            Request::Ping => self.send(cid.as_deref(), ServerMessage::Pong, ctx),
            Request::Pong => {}
            Request::StatusUpdate(update) => self.status_update(cid, update.status, ctx),
            Request::StatusUnfollow(unfollow) => self.status_unfollow(cid, unfollow.user_ids.unwrap_or_default(), ctx),
            Request::StatusFollow(follow) => {
                self.status_follow(cid, follow.user_ids.unwrap_or_default(), follow.usernames.unwrap_or_default(), ctx)
            }
            Request::Rpc => self.send(cid.as_deref(), ServerMessage::Error(SocketError::RpcNotFound), ctx),
            Request::Unsupported(_) => {
                // As Nakama treats a message a hook disabled: code 1, then close.
                self.send(cid.as_deref(), ServerMessage::Error(SocketError::NotServed), ctx);
                self.begin_close(Some(normal(REASON_PROCESSING)), ctx);
            }
        }
    }

    fn status_update(&mut self, cid: Option<String>, status: Option<String>, ctx: &mut Context<Self>) {
        match status {
            Some(status) if status.len() > 2048 => {
                self.send(cid.as_deref(), ServerMessage::Error(SocketError::StatusTooLong), ctx)
            }
            Some(status) => {
                self.set_status(status);
                self.send(cid.as_deref(), ServerMessage::Ack, ctx);
            }
            None => {
                self.clear_status();
                self.send(cid.as_deref(), ServerMessage::Ack, ctx);
            }
        }
    }

    fn status_unfollow(&mut self, cid: Option<String>, ids: Vec<String>, ctx: &mut Context<Self>) {
        let Some(mut users) = parse_user_ids(&ids) else {
            return self.send(cid.as_deref(), ServerMessage::Error(SocketError::InvalidUserId), ctx);
        };
        users.retain(|u| *u != self.id.user_id && self.follows.remove(u));
        self.state.status.unfollow(self.id.session_id, &users);
        self.send(cid.as_deref(), ServerMessage::Ack, ctx);
    }

    fn status_follow(
        &mut self,
        cid: Option<String>,
        ids: Vec<String>,
        usernames: Vec<String>,
        ctx: &mut Context<Self>,
    ) {
        let Some(mut users) = parse_user_ids(&ids) else {
            return self.send(cid.as_deref(), ServerMessage::Error(SocketError::InvalidUserId), ctx);
        };
        if usernames.iter().any(String::is_empty) {
            return self.send(cid.as_deref(), ServerMessage::Error(SocketError::InvalidUsername), ctx);
        }
        users.retain(|u| *u != self.id.user_id && !u.is_nil());
        users.sort();
        users.dedup();
        let mut usernames: Vec<String> = usernames.into_iter().filter(|n| *n != self.id.username).collect();
        usernames.sort();
        usernames.dedup();
        if users.is_empty() && usernames.is_empty() {
            return self.send(cid.as_deref(), ServerMessage::Status(&[]), ctx);
        }
        // Existence check in the database; the socket reads nothing else until it is done.
        let state = self.state.clone();
        let lookup = async move { state.store.find_users(&users, &usernames, &[]).await };
        ctx.wait(lookup.into_actor(self).map(move |found, actor, ctx| match found {
            Err(e) => {
                tracing::warn!(error = %e, "status follow lookup failed");
                actor.send(cid.as_deref(), ServerMessage::Error(SocketError::CheckingUsers), ctx);
            }
            Ok(found) => {
                let mut followed: Vec<Uuid> =
                    found.into_iter().map(|u| u.id).filter(|id| *id != actor.id.user_id).collect();
                followed.sort();
                followed.dedup();
                let socket = actor.socket_handle(ctx.address());
                actor.state.status.follow(actor.id.session_id, &socket, &followed);
                actor.follows.extend(followed.iter().copied());
                let presences = actor.state.status.presences_of(&followed);
                actor.send(cid.as_deref(), ServerMessage::Status(&presences), ctx);
            }
        }));
    }
}

/// Nakama parses follow ids leniently: upper case, braces, no dashes, `urn:uuid:`. All or
/// nothing: one bad id refuses the request.
fn parse_user_ids(ids: &[String]) -> Option<Vec<Uuid>> {
    ids.iter().map(|id| Uuid::parse_str(id.strip_prefix("urn:uuid:").unwrap_or(id)).ok()).collect()
}

fn normal(reason: &str) -> CloseReason {
    CloseReason { code: CloseCode::Normal, description: Some(reason.to_string()) }
}

impl Actor for SocketActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let socket = self.socket_handle(ctx.address());
        // Every session follows its own user (status-presence.md §4).
        self.state.status.follow(self.id.session_id, &socket, &[self.id.user_id]);
        self.follows.insert(self.id.user_id);
        if self.id.status {
            self.set_status(String::new());
        }
        self.flush(ctx);
        self.schedule_keepalive(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.cleanup();
    }
}

impl SocketActor {
    /// A whole data message (after reassembling continuations).
    fn data(&mut self, text: bool, payload: Bytes, ctx: &mut Context<Self>) {
        // Text frames on a JSON socket, binary ones on a protobuf socket; the other kind closes.
        if text != self.id.format.is_text() {
            return self.close_for_error(Some(normal(REASON_TYPE)), ctx);
        }
        let m = &self.state.metrics;
        m.add(&m.message_count, 1);
        m.add(&m.message_recv_bytes, payload.len() as u64);
        m.add(&m.overall_count, 1);
        m.add(&m.overall_recv_bytes, payload.len() as u64);
        self.countdown = self.countdown.saturating_sub(1);
        if self.countdown == 0 {
            self.life();
        }
        match self.id.format.decode(&payload) {
            Ok(envelope) => self.handle_envelope(envelope, ctx),
            Err((cid, refusal)) => self.refuse(cid, refusal, ctx),
        }
    }

    /// The reader has checked the message's total size at each fragment's header.
    fn continuation(&mut self, item: Item, ctx: &mut Context<Self>) {
        let (first, chunk, last) = match item {
            Item::FirstText(b) => (Some(true), b, false),
            Item::FirstBinary(b) => (Some(false), b, false),
            Item::Continue(b) => (None, b, false),
            Item::Last(b) => (None, b, true),
        };
        match (first, self.partial.as_mut()) {
            (Some(text), None) => self.partial = Some((text, BytesMut::from(&chunk[..]))),
            (None, Some((_, buf))) => buf.extend_from_slice(&chunk),
            _ => return self.begin_close(Some(CloseReason { code: CloseCode::Protocol, description: None }), ctx),
        }
        if last {
            if let Some((text, buf)) = self.partial.take() {
                self.data(text, buf.freeze(), ctx);
            }
        }
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for SocketActor {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Context<Self>) {
        if self.closing {
            // Only the client's close reply (or the end of the stream) matters now.
            if matches!(item, Ok(Frame::Close(_)) | Err(_)) {
                ctx.stop();
            }
            return;
        }
        let frame = match item {
            Ok(frame) => frame,
            Err(ProtocolError::Overflow) => {
                // Too large: 1009 with no reason (realtime.md §6.1).
                self.writer.discard();
                return self.close_for_error(Some(CloseReason { code: CloseCode::Size, description: None }), ctx);
            }
            Err(ProtocolError::Io(_)) => return self.terminate(ctx),
            Err(_) => {
                self.writer.discard();
                return self.close_for_error(Some(CloseReason { code: CloseCode::Protocol, description: None }), ctx);
            }
        };
        match frame {
            Frame::Text(payload) => self.data(true, payload, ctx),
            Frame::Binary(payload) => self.data(false, payload, ctx),
            Frame::Continuation(item) => self.continuation(item, ctx),
            Frame::Ping(payload) => self.enqueue(WsMessage::Pong(payload), ctx),
            Frame::Pong(_) => self.life(),
            Frame::Close(reason) => {
                // Echo the client's code with an empty reason, then drop TCP at once.
                let reply = reason.map(|r| CloseReason { code: r.code, description: None });
                self.writer.discard();
                self.cleanup();
                self.closing = true;
                self.writer.queue(WsMessage::Close(reply));
                let _ = self.writer.flush();
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The connection is gone: nothing more can be written.
        self.terminate(ctx);
    }
}

impl Handler<Push> for SocketActor {
    type Result = ();
    fn handle(&mut self, msg: Push, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if self.writer.pending() >= self.state.config.socket.outgoing_queue_size {
            return self.overflow(ctx);
        }
        self.count_sent(msg.payload_len);
        self.writer.queue_encoded(msg.frame);
        self.flush(ctx);
    }
}

/// Look at the keepalive now: the app's clock was moved (tests).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckKeepalive;

impl Handler<CheckKeepalive> for SocketActor {
    type Result = ();
    fn handle(&mut self, _: CheckKeepalive, ctx: &mut Context<Self>) {
        self.keepalive(ctx);
    }
}

impl Handler<Disconnect> for SocketActor {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, ctx: &mut Context<Self>) {
        if let Some((code, subject)) = msg.notification {
            // Final pushes go out before the close frame.
            let note = Notification {
                id: Uuid::new_v4().to_string(),
                subject: subject.to_string(),
                content: "{}".to_string(),
                code,
                create_time: unix_now(),
            };
            // Past the queue limit if need be: the close follows at once anyway.
            if !self.closing {
                self.writer.queue(ServerMessage::Notifications(&[note]).encode(self.id.format, None));
            }
        }
        self.begin_close(Some(normal(msg.reason)), ctx);
    }
}
