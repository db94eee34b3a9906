//! Limits of the gRPC listener (issue 12, item 1), each at its bound: a request not all read
//! within `socket.read_timeout_ms` of its headers closes the connection; a connection with no
//! call for `socket.idle_timeout_ms` is closed; `socket.max_connections` counts gRPC and REST
//! connections together, and one past it is refused at once. Raw HTTP/2 clients (the `h2`
//! crate) and raw TCP, so that a client can stall where tonic's never would.

use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tonic::codegen::http;

use crate::common::grpc_client::basic;
use crate::helpers::{TestApp, SERVER_KEY};
use crate::limits::{app, CAP, IDLE_TIMEOUT, LATE, READ_TIMEOUT};
use crate::raw::{self, closed_within};

/// How early a close may come: the timers are exact, but the test's clock starts a little
/// after the server's.
const EARLY: Duration = Duration::from_millis(20);

/// An HTTP/2 connection to the gRPC listener; the task ends when the server closes it.
struct H2 {
    send: SendRequest<Bytes>,
    closed: JoinHandle<Instant>,
}

async fn h2_connect(app: &TestApp) -> H2 {
    let tcp = raw::connect(&app.grpc).await;
    let (send, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    let closed = tokio::spawn(async move {
        let _ = connection.await;
        Instant::now()
    });
    H2 { send, closed }
}

fn call_head(path: &str) -> http::Request<()> {
    http::Request::post(format!("http://127.0.0.1{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", basic(SERVER_KEY))
        .body(())
        .expect("a valid request head")
}

/// A whole unary call (an empty message) and its `grpc-status`.
async fn healthcheck(h2: &mut H2) -> String {
    try_healthcheck(h2).await.unwrap_or_else(|e| panic!("healthcheck: {e}"))
}

async fn try_healthcheck(h2: &mut H2) -> Result<String, h2::Error> {
    h2.send = h2.send.clone().ready().await?;
    let (response, mut body) = h2.send.send_request(call_head("/nakama.api.Nakama/Healthcheck"), false)?;
    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
    let mut response = response.await?;
    let data = response.body_mut();
    while let Some(chunk) = data.data().await {
        chunk?;
    }
    let trailers = data.trailers().await?.unwrap_or_default();
    let status = trailers.get("grpc-status").or_else(|| response.headers().get("grpc-status"));
    Ok(status.and_then(|v| v.to_str().ok()).unwrap_or("none").to_string())
}

/// When the server closed the connection, measured from `from`; `None` if still open then.
async fn closed_after(h2: &mut H2, from: Instant, within: Duration) -> Option<Duration> {
    let closed = tokio::time::timeout_at((from + within).into(), &mut h2.closed).await.ok()?;
    Some(closed.expect("connection task").duration_since(from))
}

#[track_caller]
fn assert_closed_at(after: Option<Duration>, deadline: Duration, what: &str) {
    let after = after.unwrap_or_else(|| panic!("{what}: still open {LATE:?} after the deadline"));
    assert!(after >= deadline - EARLY, "{what}: closed early, after {after:?}");
    assert!(after <= deadline + LATE, "{what}: closed late, after {after:?}");
}

#[actix_rt::test]
async fn a_stalled_request_closes_its_connection_at_the_read_deadline() {
    let app = app().await;
    // Headers and nothing else; headers and half a message (5-byte prefix announcing 20 bytes,
    // 2 of them sent); a message dripping a byte every 100 ms.
    let cases: [(&str, &[u8], bool); 3] = [
        ("headers only", &[], false),
        ("half a message", &[0, 0, 0, 0, 20, 0x0a, 0x12], false),
        ("dripping", &[0, 0, 0, 0, 40], true),
    ];
    for (what, sent, drip) in cases {
        let mut h2 = h2_connect(&app).await;
        let (_response, mut body) =
            h2.send.send_request(call_head("/nakama.api.Nakama/AuthenticateDevice"), false).expect("send");
        let started = Instant::now();
        if !sent.is_empty() {
            body.send_data(Bytes::copy_from_slice(sent), false).expect("send part of the message");
        }
        let dripping = tokio::spawn(async move {
            while drip && body.send_data(Bytes::from_static(b"x"), false).is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Holds the stream open until the connection goes.
            std::future::pending::<()>().await
        });
        assert_closed_at(closed_after(&mut h2, started, READ_TIMEOUT + LATE).await, READ_TIMEOUT, what);
        dripping.abort();
    }
    // Their places under the cap are free again.
    assert!(crate::helpers::wait_until(|| app.open_connections().0 == 0).await, "{:?}", app.open_connections());
}

#[actix_rt::test]
async fn a_connection_stays_open_while_it_calls_and_closes_after_the_idle_timeout() {
    let app = app().await;
    let mut h2 = h2_connect(&app).await;
    // Calls spaced under the idle timeout keep it open well past the timeout and the read deadline.
    let opened = Instant::now();
    while opened.elapsed() < IDLE_TIMEOUT * 2 {
        assert_eq!(healthcheck(&mut h2).await, "0");
        tokio::time::sleep(IDLE_TIMEOUT / 3).await;
    }
    assert_eq!(healthcheck(&mut h2).await, "0");
    let answered = Instant::now();
    assert_closed_at(closed_after(&mut h2, answered, IDLE_TIMEOUT + LATE).await, IDLE_TIMEOUT, "idle");
}

#[actix_rt::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_idle_timeout() {
    let app = app().await;
    let mut silent = raw::connect(&app.grpc).await;
    let closed = closed_within(&mut silent, IDLE_TIMEOUT + LATE).await;
    let (after, _) = closed.expect("closed by the idle timeout");
    assert!(after >= IDLE_TIMEOUT - EARLY && after <= IDLE_TIMEOUT + LATE, "closed after {after:?}");
}

/// The server's preface and a GOAWAY (ENHANCE_YOUR_CALM, no stream processed) with its reason.
const REFUSAL: &[u8] = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00\
\x00\x00\x1e\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0bconnection cap reached";

#[actix_rt::test]
async fn grpc_and_rest_connections_share_the_cap_and_one_past_it_is_refused_at_once() {
    let app = app().await;
    // Two of each, all served.
    let mut grpc = Vec::new();
    for _ in 0..2 {
        let mut h2 = h2_connect(&app).await;
        assert_eq!(healthcheck(&mut h2).await, "0");
        grpc.push(h2);
    }
    let mut rest = Vec::new();
    for _ in 0..2 {
        let mut stream = raw::connect(&app.addr).await;
        stream.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let (head, _) = raw::read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        rest.push(stream);
    }
    assert_eq!(app.open_connections().0, CAP);
    // The next gRPC connection gets the preface and GOAWAY, and is closed at once.
    let mut extra = raw::connect(&app.grpc).await;
    let (_, answer) = closed_within(&mut extra, Duration::from_millis(500)).await.expect("refused at once");
    assert_eq!(answer, REFUSAL);
    // A tonic client's call fails: `RESOURCE_EXHAUSTED` when its transport reads the GOAWAY
    // (h2 maps ENHANCE_YOUR_CALM so), `CANCELLED` when it sees the close first.
    let refused = tonic::transport::Endpoint::from_shared(app.grpc.clone()).unwrap().connect().await;
    if let Ok(channel) = refused {
        let mut client = hearth::grpc::proto::nakama_client::NakamaClient::new(channel);
        let status = client.healthcheck(()).await.expect_err("refused");
        assert!(matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::Cancelled), "{status:?}");
    }
    // So does the next REST connection, in its own words.
    let mut extra = raw::connect(&app.addr).await;
    let (_, answer) = closed_within(&mut extra, Duration::from_millis(500)).await.expect("refused at once");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    // The admitted ones are still served.
    for h2 in grpc.iter_mut() {
        assert_eq!(healthcheck(h2).await, "0");
    }
    // Once a gRPC connection closes, a new one is served.
    drop(grpc.pop());
    let mut served = None;
    for _ in 0..40 {
        let mut h2 = h2_connect(&app).await;
        if let Ok(status) = try_healthcheck(&mut h2).await {
            served = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served.as_deref(), Some("0"));
}
