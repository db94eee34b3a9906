//! What bounds a gRPC client, as `http/limits.rs` bounds a REST one: each connection takes a
//! place under the client API's cap (`socket.max_connections` counts both listeners), each
//! call's request must be all read within `socket.read_timeout_ms` of its headers, and a
//! connection with no call in progress is closed after `socket.idle_timeout_ms`.
//!
//! HTTP/2 multiplexes calls, so the clocks live in two places: a tower layer (`calls.rs`) sees
//! each call begin (its headers) and its request end (the body read to its end, or dropped once
//! the method has its message), and the connection's reader acts on them. A stalled request ends
//! the whole connection without an answer, as on REST; an idle one reads as closed by the peer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

use crate::http::limits::{refuse_with, write_through_io, ConnectionGate, ConnectionPermit, Limits};

/// A server's HTTP/2 preface (an empty SETTINGS frame), then GOAWAY with no stream processed,
/// ENHANCE_YOUR_CALM and a reason: the answer to a connection over the cap, before the close.
const REFUSAL: &[u8] = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00\
\x00\x00\x1e\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0bconnection cap reached";

/// The accepted connections that got a place under `gate`'s cap; the others are answered
/// [`REFUSAL`] and closed at once.
pub fn incoming(
    listener: TcpListener,
    gate: ConnectionGate,
    limits: Limits,
) -> impl Stream<Item = io::Result<GrpcConnection>> {
    futures_util::stream::unfold((listener, gate), move |(listener, gate)| async move {
        loop {
            let io = match listener.accept().await {
                Ok((io, _)) => io,
                Err(e) => {
                    // Out of files, say: do not spin on it.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Some((Err(e), (listener, gate)));
                }
            };
            let Some(permit) = gate.admit() else {
                refuse_with(io, REFUSAL);
                continue;
            };
            let _ = io.set_nodelay(true);
            let connection = GrpcConnection::new(io, permit, limits);
            return Some((Ok(connection), (listener, gate)));
        }
    })
}

/// What one connection is doing, shared by its reader and the calls read from it.
pub struct Activity {
    state: Mutex<Calls>,
    /// The connection's task, woken when a clock starts or stops elsewhere.
    reader: AtomicWaker,
    read_timeout: Duration,
    idle_timeout: Duration,
}

struct Calls {
    /// Calls begun and not yet answered.
    in_flight: usize,
    /// When the last call was answered (or the connection opened).
    idle_since: Instant,
    /// The calls whose request is still being read, with their deadlines (oldest first).
    reading: Vec<(u64, Instant)>,
    next_id: u64,
}

/// What the connection's reader must do next, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// A request not all read by then: the connection is dropped.
    Read(Instant),
    /// No call since then: the connection ends.
    Idle(Instant),
}

impl Due {
    fn at(self) -> Instant {
        match self {
            Due::Read(at) | Due::Idle(at) => at,
        }
    }
}

impl Activity {
    fn new(limits: Limits) -> Activity {
        Activity {
            state: Mutex::new(Calls { in_flight: 0, idle_since: Instant::now(), reading: Vec::new(), next_id: 0 }),
            reader: AtomicWaker::new(),
            read_timeout: limits.read_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    fn due(&self) -> Option<Due> {
        let calls = self.state.lock().ok()?;
        if let Some((_, deadline)) = calls.reading.first() {
            return Some(Due::Read(*deadline));
        }
        (calls.in_flight == 0).then(|| Due::Idle(calls.idle_since + self.idle_timeout))
    }

    /// A call's headers arrived: its request is being read, and the connection is busy.
    pub(super) fn begin(self: &Arc<Self>) -> (InFlight, Reading) {
        let id = match self.state.lock() {
            Ok(mut calls) => {
                calls.in_flight += 1;
                let id = calls.next_id;
                calls.next_id += 1;
                calls.reading.push((id, Instant::now() + self.read_timeout));
                id
            }
            Err(_) => 0,
        };
        self.reader.wake();
        (InFlight(self.clone()), Reading(self.clone(), id))
    }
}

/// A call not yet answered; its drop may start the idle clock.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.0.state.lock() {
            calls.in_flight = calls.in_flight.saturating_sub(1);
            if calls.in_flight == 0 {
                calls.idle_since = Instant::now();
            }
        }
        self.0.reader.wake();
    }
}

/// A call whose request is still arriving; dropped once it is all read or no longer wanted.
pub(super) struct Reading(Arc<Activity>, u64);

impl Drop for Reading {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.0.state.lock() {
            calls.reading.retain(|(id, _)| *id != self.1);
        }
        self.0.reader.wake();
    }
}

/// The connection's activity, as tonic hands it to each call's request extensions.
#[derive(Clone)]
pub struct ConnectionActivity(pub(super) Arc<Activity>);

/// An accepted gRPC connection: reading fails once a request's read deadline has passed,
/// and ends once the connection has been idle too long.
pub struct GrpcConnection {
    io: TcpStream,
    _permit: ConnectionPermit,
    activity: Arc<Activity>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl GrpcConnection {
    fn new(io: TcpStream, permit: ConnectionPermit, limits: Limits) -> GrpcConnection {
        GrpcConnection { io, _permit: permit, activity: Arc::new(Activity::new(limits)), timer: None }
    }

    /// The deadline that has passed, if one has; otherwise the timer waits for the next.
    fn passed(&mut self, cx: &mut Context<'_>) -> Option<Due> {
        let Some(due) = self.activity.due() else {
            self.timer = None;
            return None;
        };
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due.at())));
        if timer.deadline() != due.at() {
            timer.as_mut().reset(due.at());
        }
        timer.as_mut().poll(cx).is_ready().then_some(due)
    }
}

impl Connected for GrpcConnection {
    type ConnectInfo = ConnectionActivity;

    fn connect_info(&self) -> ConnectionActivity {
        ConnectionActivity(self.activity.clone())
    }
}

impl AsyncRead for GrpcConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.activity.reader.register(cx.waker());
        match this.passed(cx) {
            Some(Due::Read(_)) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request read deadline passed")))
            }
            // Read as the end of the stream: with no call in progress, hyper ends quietly.
            Some(Due::Idle(_)) => Poll::Ready(Ok(())),
            None => Pin::new(&mut this.io).poll_read(cx, buf),
        }
    }
}

write_through_io!(GrpcConnection);

#[cfg(test)]
mod tests {
    use super::*;

    const READ: Duration = Duration::from_millis(800);
    const IDLE: Duration = Duration::from_millis(1500);

    fn activity() -> Arc<Activity> {
        Arc::new(Activity::new(Limits { read_timeout: READ, idle_timeout: IDLE, max_connections: 1 }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_is_idle_from_its_opening() {
        let opened = Instant::now();
        assert_eq!(activity().due(), Some(Due::Idle(opened + IDLE)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_read_by_its_deadline_then_has_none_until_answered() {
        let activity = activity();
        tokio::time::advance(Duration::from_millis(100)).await;
        let begun = Instant::now();
        let (in_flight, reading) = activity.begin();
        assert_eq!(activity.due(), Some(Due::Read(begun + READ)));
        drop(reading);
        assert_eq!(activity.due(), None, "a method at work has no server deadline (grpc.md §2)");
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(in_flight);
        assert_eq!(activity.due(), Some(Due::Idle(Instant::now() + IDLE)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_oldest_request_still_arriving_sets_the_deadline() {
        let activity = activity();
        let first_begun = Instant::now();
        let (_first, first_reading) = activity.begin();
        tokio::time::advance(Duration::from_millis(300)).await;
        let second_begun = Instant::now();
        let (second, second_reading) = activity.begin();
        assert_eq!(activity.due(), Some(Due::Read(first_begun + READ)));
        drop(first_reading);
        assert_eq!(activity.due(), Some(Due::Read(second_begun + READ)));
        drop(second_reading);
        drop(second);
        assert_eq!(activity.due(), None, "the first call is still being answered");
    }
}
