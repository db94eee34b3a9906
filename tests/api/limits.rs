//! Limits of both HTTP listeners (issue 10, defect 3): a deadline for reading each request,
//! head and body; the keep-alive idle timeout; a cap on open connections. Raw TCP clients,
//! small timeouts, and both listeners (client API and console) in each test.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::raw::{self, closed_within, post_head, read_response};

pub(crate) const READ_TIMEOUT: Duration = Duration::from_millis(800);
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_millis(1500);
pub(crate) const CAP: usize = 4;
/// How late a close may come after its deadline on a busy test machine.
pub(crate) const LATE: Duration = Duration::from_millis(1000);

pub(crate) async fn app() -> TestApp {
    spawn_app(Backend::Sqlite, |c| {
        c.socket.read_timeout_ms = READ_TIMEOUT.as_millis() as u64;
        c.socket.idle_timeout_ms = IDLE_TIMEOUT.as_millis() as u64;
        c.socket.max_connections = CAP;
        c.console.read_timeout_ms = READ_TIMEOUT.as_millis() as u64;
        c.console.idle_timeout_ms = IDLE_TIMEOUT.as_millis() as u64;
        c.console.max_connections = CAP;
    })
    .await
    .expect("SQLite is always there")
}

/// A listener and a POST route of it that reads a JSON body.
struct Listener {
    url: String,
    post: &'static str,
    get: &'static str,
}

fn listeners(app: &TestApp) -> [Listener; 2] {
    [
        Listener { url: app.addr.clone(), post: "/v2/account/authenticate/device", get: "/healthcheck" },
        Listener { url: app.console.clone(), post: "/v2/console/authenticate", get: "/v2/console/status" },
    ]
}

/// How early a timer of actix-http's own may fire: it counts from a clock it refreshes every
/// 500 ms. The request read deadline is Hearth's, and exact.
const ACTIX_EARLY: Duration = Duration::from_millis(520);

#[track_caller]
fn assert_closed_at(closed: Option<(Duration, Vec<u8>)>, deadline: Duration, what: &str) {
    assert_closed_between(&closed, deadline - Duration::from_millis(20), deadline, what);
    assert_eq!(String::from_utf8_lossy(&closed_answer(&closed)), "", "{what}: closed without an answer");
}

fn closed_answer(closed: &Option<(Duration, Vec<u8>)>) -> Vec<u8> {
    closed.as_ref().map(|(_, answer)| answer.clone()).unwrap_or_default()
}

#[track_caller]
fn assert_closed_between(closed: &Option<(Duration, Vec<u8>)>, earliest: Duration, deadline: Duration, what: &str) {
    let (after, _) = closed.as_ref().unwrap_or_else(|| panic!("{what}: still open {LATE:?} after the deadline"));
    assert!(*after >= earliest, "{what}: closed early, after {after:?}");
    assert!(*after <= deadline + LATE, "{what}: closed late, after {after:?}");
}

/// GET on a keep-alive connection; the status of the answer, body skipped.
async fn get(stream: &mut TcpStream, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let (head, _) = read_response(stream).await;
    head[9..12].parse().unwrap_or(0)
}

#[actix_rt::test]
async fn stalled_body_is_closed_at_the_read_deadline() {
    let app = app().await;
    join_all(listeners(&app).map(|l| async move {
        let mut stream = raw::connect(&l.url).await;
        stream.write_all(format!("{}{{\"id\":", post_head(l.post, 1000)).as_bytes()).await.unwrap();
        let closed = closed_within(&mut stream, READ_TIMEOUT + LATE).await;
        assert_closed_at(closed, READ_TIMEOUT, &l.url);
    }))
    .await;
}

#[actix_rt::test]
async fn body_dripping_a_byte_every_100_ms_is_cut_at_the_read_deadline() {
    let app = app().await;
    join_all(listeners(&app).map(|l| async move {
        let stream = raw::connect(&l.url).await;
        let (mut read, mut write) = stream.into_split();
        let started = std::time::Instant::now();
        write.write_all(post_head(l.post, 1000).as_bytes()).await.unwrap();
        let drip = tokio::spawn(async move {
            while write.write_all(b" ").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut seen = Vec::new();
        let ended =
            tokio::time::timeout(READ_TIMEOUT + LATE, tokio::io::AsyncReadExt::read_to_end(&mut read, &mut seen));
        let after = ended.await.ok().map(|_| started.elapsed());
        drip.abort();
        assert_closed_at(after.map(|a| (a, seen)), READ_TIMEOUT, &l.url);
    }))
    .await;
}

#[actix_rt::test]
async fn keep_alive_outlives_the_read_deadline_and_closes_at_the_idle_timeout() {
    let app = app().await;
    join_all(listeners(&app).map(|l| async move {
        let mut stream = raw::connect(&l.url).await;
        // A whole request with a body, answered; then quiet for longer than the read deadline.
        let body = r#"{"id":"keep-alive-device-01","username":"admin","password":"x"}"#;
        stream.write_all(format!("{}{body}", post_head(l.post, body.len())).as_bytes()).await.unwrap();
        let (head, answer) = read_response(&mut stream).await;
        assert!(!answer.is_empty(), "{head}");
        tokio::time::sleep(READ_TIMEOUT + Duration::from_millis(300)).await;
        // Still open, and served.
        assert!(matches!(get(&mut stream, l.get).await, 200 | 401), "{}", l.url);
        let closed = closed_within(&mut stream, IDLE_TIMEOUT + LATE).await;
        assert_closed_between(&closed, IDLE_TIMEOUT - ACTIX_EARLY, IDLE_TIMEOUT, &l.url);
        assert!(closed_answer(&closed).is_empty());
    }))
    .await;
}

#[actix_rt::test]
async fn connections_past_the_cap_are_refused_at_once_and_accepted_again_once_some_close() {
    let app = app().await;
    join_all(listeners(&app).map(|l| async move {
        let mut open = Vec::new();
        for _ in 0..CAP {
            let mut stream = raw::connect(&l.url).await;
            assert!(matches!(get(&mut stream, l.get).await, 200 | 401));
            open.push(stream);
        }
        let mut extra = raw::connect(&l.url).await;
        let refused = closed_within(&mut extra, Duration::from_millis(500)).await;
        let (_, answer) =
            refused.unwrap_or_else(|| panic!("{}: connection {} was not refused at once", l.url, CAP + 1));
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{}: {answer}", l.url);
        // The first CAP connections are still served.
        for stream in open.iter_mut() {
            assert!(matches!(get(stream, l.get).await, 200 | 401));
        }
        open.truncate(CAP - 2);
        // Once the server has seen two of them close, new connections are served again.
        let mut served = 0;
        for _ in 0..40 {
            let mut stream = raw::connect(&l.url).await;
            if closed_within(&mut stream, Duration::from_millis(100)).await.is_none() {
                assert!(matches!(get(&mut stream, l.get).await, 200 | 401));
                served += 1;
                open.push(stream);
                if served == 2 {
                    break;
                }
            }
        }
        assert_eq!(served, 2, "{}", l.url);
    }))
    .await;
}

#[actix_rt::test]
async fn a_websocket_counts_towards_the_client_api_cap() {
    let app = app().await;
    // Without a pooled connection left open.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let login = client
        .post(app.url("/v2/account/authenticate/device"))
        .basic_auth(crate::helpers::SERVER_KEY, Some(""))
        .body(r#"{"id":"capped-socket-device"}"#)
        .send()
        .await
        .unwrap();
    let token = crate::helpers::Reply::from(login).await.token();
    assert!(crate::helpers::wait_until(|| app.open_connections().0 == 0).await);
    let mut open = Vec::new();
    for _ in 0..CAP - 1 {
        let mut stream = raw::connect(&app.addr).await;
        assert_eq!(get(&mut stream, "/healthcheck").await, 200);
        open.push(stream);
    }
    let socket = raw::upgrade(&app.addr, &token).await;
    let mut extra = raw::connect(&app.addr).await;
    assert!(closed_within(&mut extra, Duration::from_millis(500)).await.is_some(), "the socket was not counted");
    drop(socket);
    let mut again = None;
    for _ in 0..40 {
        let mut stream = raw::connect(&app.addr).await;
        if closed_within(&mut stream, Duration::from_millis(100)).await.is_none() {
            again = Some(stream);
            break;
        }
    }
    let mut again = again.expect("the closed socket's place is free again");
    assert_eq!(get(&mut again, "/healthcheck").await, 200);
}

#[actix_rt::test]
async fn a_hundred_stalled_bodies_are_all_closed_at_the_read_deadline() {
    let app = spawn_app(Backend::Sqlite, |c| c.socket.read_timeout_ms = READ_TIMEOUT.as_millis() as u64)
        .await
        .expect("SQLite is always there");
    let started = std::time::Instant::now();
    let mut streams = Vec::new();
    for _ in 0..100 {
        let mut stream = raw::connect(&app.addr).await;
        let head = post_head("/v2/account/authenticate/device", 200_000);
        stream.write_all(format!("{head}{{\"id\":\"{}", "x".repeat(100_000)).as_bytes()).await.unwrap();
        streams.push(stream);
    }
    let written = started.elapsed();
    let closed = join_all(streams.iter_mut().map(|s| closed_within(s, READ_TIMEOUT + LATE))).await;
    for (i, closed) in closed.into_iter().enumerate() {
        let (after, answer) = closed.unwrap_or_else(|| panic!("stalled body {i} still open"));
        // Each deadline runs from that request's first byte, sent between 0 and `written`.
        assert!(written + after >= READ_TIMEOUT - Duration::from_millis(20), "{i}: closed early");
        assert!(after <= READ_TIMEOUT + LATE, "{i}: closed after {after:?}");
        assert!(answer.is_empty());
    }
    // Their connections, and the bodies read so far, are gone.
    assert!(crate::helpers::wait_until(|| app.open_connections().0 == 0).await, "{:?}", app.open_connections());
}

#[actix_rt::test]
async fn request_heads_are_bounded_by_the_read_deadline_too() {
    let app = app().await;
    join_all(listeners(&app).map(|l| async move {
        // A new connection that sends nothing: actix-http's own timer answers 408.
        let mut silent = raw::connect(&l.url).await;
        let closed = closed_within(&mut silent, READ_TIMEOUT + LATE).await;
        assert_closed_between(&closed, READ_TIMEOUT - ACTIX_EARLY, READ_TIMEOUT, &l.url);
        let answer = String::from_utf8_lossy(&closed_answer(&closed)).into_owned();
        assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{}: {answer}", l.url);
        // A second request whose head stops half-way is closed at its deadline.
        let mut stream = raw::connect(&l.url).await;
        assert!(matches!(get(&mut stream, l.get).await, 200 | 401));
        stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
        assert_closed_at(closed_within(&mut stream, READ_TIMEOUT + LATE).await, READ_TIMEOUT, &l.url);
    }))
    .await;
}

#[actix_rt::test]
async fn an_unread_body_keeps_the_connection_only_if_it_has_all_arrived() {
    let app = app().await;
    join_all(listeners(&app).map(|l| async move {
        // GET routes do not read bodies. All of it sent: the connection serves on.
        let mut stream = raw::connect(&l.url).await;
        let request = format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello", l.get);
        stream.write_all(request.as_bytes()).await.unwrap();
        let (head, _) = read_response(&mut stream).await;
        assert!(!head.to_ascii_lowercase().contains("connection: close"), "{head}");
        assert!(matches!(get(&mut stream, l.get).await, 200 | 401));
        // Half of it sent, with either framing: answered with `connection: close`, and closed
        // by the read deadline at the latest.
        for framing in ["Content-Length: 10\r\n\r\nhello", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"] {
            let mut stream = raw::connect(&l.url).await;
            let request = format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}", l.get);
            stream.write_all(request.as_bytes()).await.unwrap();
            let closed = closed_within(&mut stream, READ_TIMEOUT + LATE).await;
            assert_closed_between(&closed, Duration::ZERO, READ_TIMEOUT, &l.url);
            let answer = String::from_utf8_lossy(&closed_answer(&closed)).to_ascii_lowercase();
            assert!(answer.starts_with("http/1.1 ") && answer.contains("connection: close"), "{framing}: {answer}");
        }
    }))
    .await;
}
