//! Raw TCP clients for the limits a well-behaved HTTP or WebSocket client never reaches:
//! headers that lie about sizes, stalled and dripping bodies, connections held open.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use crate::ws_frames::{ws_frame, ws_header};

/// `host:port` of a listener URL (`http://127.0.0.1:1234`).
pub fn host(url: &str) -> &str {
    url.trim_start_matches("http://")
}

pub async fn connect(url: &str) -> TcpStream {
    TcpStream::connect(host(url)).await.expect("connect")
}

/// Bytes the server sent until it closed the connection (EOF or reset), and when that was;
/// `None` when it is still open after `within`.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<(Duration, Vec<u8>)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((started.elapsed(), seen)),
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A request head announcing a body of `length` bytes.
pub fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ZGVmYXVsdGtleTo=\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Reads one HTTP response head (up to the blank line) without reading past it.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await.expect("head in time");
        assert_eq!(n.expect("read head"), 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads one whole response (head, and a body of its `content-length`) on a connection
/// that stays open.
pub async fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let head = read_head(stream).await;
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    (head, body)
}

/// Opens `/ws` for `token` by hand and returns the connection after the `101`.
pub async fn upgrade(url: &str, token: &str) -> TcpStream {
    upgrade_query(url, &format!("lang=en&status=false&token={token}")).await
}

/// A raw `/ws?<query>` upgrade (a protobuf socket, for instance).
pub async fn upgrade_query(url: &str, query: &str) -> TcpStream {
    let mut stream = connect(url).await;
    let request = format!(
        "GET /ws?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send upgrade");
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// A frame from the server: (opcode, payload); `None` when the connection ends or nothing
/// comes within `within`.
pub async fn ws_read(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7F {
            126 => {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).await.ok()?;
                u16::from_be_bytes(ext) as usize
            }
            127 => {
                let mut ext = [0u8; 8];
                stream.read_exact(&mut ext).await.ok()?;
                u64::from_be_bytes(ext) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.ok()?;
        Some((head[0] & 0x0F, payload))
    };
    tokio::time::timeout(within, read).await.ok().flatten()
}

/// The code of the server's close frame, skipping other frames; `None` without one.
pub async fn ws_close_code(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> Option<u16> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let (opcode, payload) = ws_read(stream, left).await?;
        if opcode == 0x8 {
            return Some(payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])).unwrap_or(1005));
        }
    }
}
