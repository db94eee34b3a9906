//! What bounds a client on every HTTP listener: a deadline for reading each request, head and
//! body; the keep-alive idle timeout; a cap on open connections, past which new ones are
//! refused at once. actix-http alone bounds only the first request's head, and actix-server's
//! own connection limit stops accepting, which leaves clients waiting in the backlog.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_http::body::{BoxBody, MessageBody};
use actix_http::error::{DispatchError, PayloadError};
use actix_http::{ConnectionType, Extensions, HttpMessage, HttpServiceBuilder, Protocol, Request, Response};
use actix_service::{fn_service, Service, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::clock::unix_now;
use crate::config::{ConsoleConfig, SocketConfig};

/// The limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From a request's first byte until it is all read (head and body).
    pub read_timeout: Duration,
    /// A keep-alive connection waiting for its next request.
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn client(socket: &SocketConfig) -> Limits {
        Limits {
            read_timeout: Duration::from_millis(socket.read_timeout_ms),
            idle_timeout: Duration::from_millis(socket.idle_timeout_ms),
            max_connections: socket.max_connections,
        }
    }

    /// The console's, which the Prometheus listener shares.
    pub fn console(console: &ConsoleConfig) -> Limits {
        Limits {
            read_timeout: Duration::from_millis(console.read_timeout_ms),
            idle_timeout: Duration::from_millis(console.idle_timeout_ms),
            max_connections: console.max_connections,
        }
    }

    /// actix-server's own per-worker limit, set above ours so that it never stops accepting:
    /// a connection over our cap must be refused, not left waiting in the backlog.
    pub fn worker_connections(&self) -> usize {
        self.max_connections.saturating_add(1024)
    }
}

/// The open connections of one listener, over all its workers.
#[derive(Clone)]
pub struct ConnectionGate(Arc<Gate>);

struct Gate {
    name: &'static str,
    max: usize,
    open: AtomicUsize,
    refused: AtomicU64,
    /// When a refusal was last logged (Unix seconds): at most one line a minute.
    logged: AtomicI64,
}

impl ConnectionGate {
    pub fn new(name: &'static str, max: usize) -> ConnectionGate {
        ConnectionGate(Arc::new(Gate {
            name,
            max,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            logged: AtomicI64::new(0),
        }))
    }

    /// Connections open now (WebSockets included on the client API).
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }

    /// A place under the cap, or `None` (counted, and logged at most once a minute).
    pub fn admit(&self) -> Option<ConnectionPermit> {
        let gate = &self.0;
        if gate.open.fetch_add(1, Ordering::AcqRel) < gate.max {
            return Some(ConnectionPermit(self.0.clone()));
        }
        gate.open.fetch_sub(1, Ordering::AcqRel);
        let refused = gate.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let (now, last) = (unix_now(), gate.logged.load(Ordering::Relaxed));
        if now - last >= 60 && gate.logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(
                listener = gate.name,
                max = gate.max,
                refused,
                "connection cap reached; refusing new connections"
            );
        }
        None
    }
}

/// One open connection's place under the cap, given back when dropped.
pub struct ConnectionPermit(Arc<Gate>);

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// When the request being read must be complete. Its first byte starts the clock; it stops
/// once the request is all read. Shared by a connection and the requests read from it.
#[derive(Clone)]
pub struct RequestClock(Rc<ClockState>);

struct ClockState {
    timeout: Duration,
    deadline: Cell<Option<Instant>>,
}

impl RequestClock {
    fn new(timeout: Duration) -> RequestClock {
        RequestClock(Rc::new(ClockState { timeout, deadline: Cell::new(None) }))
    }

    fn start(&self) {
        if self.0.deadline.get().is_none() {
            self.0.deadline.set(Some(Instant::now() + self.0.timeout));
        }
    }

    fn stop(&self) {
        self.0.deadline.set(None);
    }
}

/// An accepted connection as the HTTP dispatcher sees it: reading fails once the current
/// request's deadline has passed, which drops the connection and everything held for its
/// request (body read so far included). A WebSocket takes the stream and the permit out.
pub struct Connection {
    io: TcpStream,
    permit: ConnectionPermit,
    clock: RequestClock,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Connection {
    /// The TCP stream, and the permit that keeps counting it under the cap.
    pub fn into_parts(self) -> (TcpStream, ConnectionPermit) {
        (self.io, self.permit)
    }

    /// True once the running deadline has passed (the timer then wakes the reader).
    fn deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.clock.0.deadline.get() else {
            // A stopped clock's timer would still wake the connection at the old deadline.
            self.timer = None;
            return false;
        };
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.clock.start();
        }
        if this.deadline_passed(cx) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request read deadline passed")));
        }
        read
    }
}

/// `AsyncWrite` for a guarded connection: writes go straight to its TCP stream `io` (only
/// reading is timed). Used by the gRPC listener's connections too.
macro_rules! write_through_io {
    ($connection:ty) => {
        impl tokio::io::AsyncWrite for $connection {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.get_mut().io), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                tokio::io::AsyncWrite::poll_write_vectored(std::pin::Pin::new(&mut self.get_mut().io), cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                tokio::io::AsyncWrite::is_write_vectored(&self.io)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.get_mut().io), cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.get_mut().io), cx)
            }
        }
    };
}
pub(crate) use write_through_io;

write_through_io!(Connection);

/// The answer to a connection over the cap, written without waiting before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// An HTTP/1 service builder with these timeouts, over guarded connections. A connection's
/// first request head is also bounded by actix-http's own timer, which answers 408.
pub fn builder<S>(limits: &Limits) -> HttpServiceBuilder<Connection, S>
where
    S: ServiceFactory<Request, Config = ()>,
    S::Error: Into<Response<BoxBody>> + 'static,
    S::InitError: std::fmt::Debug,
    <S::Service as Service<Request>>::Future: 'static,
{
    HttpServiceBuilder::default()
        .client_request_timeout(limits.read_timeout)
        .keep_alive(limits.idle_timeout)
        .client_disconnect_timeout(Duration::from_secs(1))
        .on_connect_ext(|io: &Connection, data: &mut Extensions| {
            data.insert(io.clock.clone());
        })
}

/// Serves `http` on accepted TCP streams: each takes a place under `gate`'s cap or is
/// answered `503` and closed at once.
pub fn guarded<S>(
    gate: ConnectionGate,
    read_timeout: Duration,
    http: S,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = DispatchError, InitError = ()>
where
    S: ServiceFactory<
        (Connection, Protocol, Option<SocketAddr>),
        Config = (),
        Response = (),
        Error = DispatchError,
        InitError = (),
    >,
{
    fn_service(move |io: TcpStream| {
        let admitted = gate.admit();
        async move {
            let Some(permit) = admitted else {
                refuse_with(io, REFUSAL);
                return Err(DispatchError::Io(io::Error::other("connection cap reached")));
            };
            // Responses and frames are small and latency-bound: no Nagle delay.
            let _ = io.set_nodelay(true);
            let peer = io.peer_addr().ok();
            let connection = Connection { io, permit, clock: RequestClock::new(read_timeout), timer: None };
            Ok((connection, Protocol::Http1, peer))
        }
    })
    .and_then(http)
}

/// Writes `answer` (`503` here, GOAWAY on gRPC) if the kernel takes it at once (a new
/// socket's buffer is empty), and closes. Through the std socket: tokio's `try_write` waits
/// for the reactor to see it writable.
pub fn refuse_with(io: TcpStream, answer: &[u8]) {
    if let Ok(mut io) = io.into_std() {
        let _ = io::Write::write(&mut io, answer);
    }
}

/// Middleware of both apps: stops the request clock once the request is all read, at once
/// when it has no body, otherwise when its body has been read to the end. A body the handler
/// left unread is read on if it has all arrived; if not, the connection closes after the
/// answer, so that no request goes on arriving without a deadline.
pub async fn request_read(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(clock) = req.conn_data::<RequestClock>().cloned() else { return next.call(req).await };
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        clock.stop();
        return next.call(req).await;
    }
    let body = Rc::new(Body { payload: RefCell::new(payload), clock, read: Cell::new(false) });
    req.set_payload(Payload::Stream { payload: Box::pin(BodyStream(body.clone())) });
    // (A service error, rather than an error response, skips this; actix-http then closes a
    // connection whose body is unread, or drains it with the clock still running.)
    let mut res = next.call(req).await?;
    if !body.finish().await {
        res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// A request body being read, with the clock that stops at its end.
struct Body {
    payload: RefCell<Payload>,
    clock: RequestClock,
    read: Cell<bool>,
}

impl Body {
    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, PayloadError>>> {
        let chunk = ready!(self.payload.borrow_mut().poll_next_unpin(cx));
        if chunk.is_none() {
            self.read.set(true);
            self.clock.stop();
        }
        Poll::Ready(chunk)
    }

    /// True once the whole body is read, reading on (and dropping) what has already arrived:
    /// what is buffered, then, after one turn of the connection's task, what that turn read.
    async fn finish(&self) -> bool {
        self.read_buffered();
        if !self.read.get() {
            tokio::task::yield_now().await;
            self.read_buffered();
        }
        self.read.get()
    }

    fn read_buffered(&self) {
        while !self.read.get() {
            match std::future::poll_fn(|cx| self.poll_chunk(cx)).now_or_never() {
                Some(Some(Ok(_))) => {}
                _ => break,
            }
        }
    }
}

struct BodyStream(Rc<Body>);

impl Stream for BodyStream {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_chunk(cx)
    }
}
