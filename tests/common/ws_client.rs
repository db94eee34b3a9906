//! A small WebSocket test client over tokio-tungstenite.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{claims, TestApp};

pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What a finished upgrade attempt gave: a socket, or the HTTP refusal.
pub enum Upgrade {
    Open(Box<WsClient>),
    Refused(u16, String),
}

impl Upgrade {
    #[track_caller]
    pub fn open(self) -> WsClient {
        match self {
            Upgrade::Open(ws) => *ws,
            Upgrade::Refused(status, body) => panic!("upgrade refused: {status} {body:?}"),
        }
    }
    #[track_caller]
    pub fn refused(self) -> (u16, String) {
        match self {
            Upgrade::Open(_) => panic!("upgrade unexpectedly succeeded"),
            Upgrade::Refused(status, body) => (status, body),
        }
    }
}

pub const WAIT: Duration = Duration::from_secs(5);

/// A device account made with a chosen username, for socket tests.
pub struct SocketUser {
    pub token: String,
    pub id: String,
}

impl TestApp {
    /// Signs up the device `device-<name>-0001` with username `name`.
    pub async fn socket_user(&self, name: &str) -> SocketUser {
        let reply = self
            .post_key(
                &format!("/v2/account/authenticate/device?username={name}"),
                &format!(r#"{{"id":"device-{name}-0001"}}"#),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let token = reply.token();
        let id = claims(&token)["uid"].as_str().expect("a uid claim").to_string();
        SocketUser { token, id }
    }

    /// Opens `/ws?<query>` (with `lang=en`), optionally with extra headers.
    pub async fn ws_query(&self, query: &str, headers: &[(&str, &str)]) -> Upgrade {
        let url = format!("{}/ws?{}", self.addr.replace("http://", "ws://"), query);
        let mut request = url.into_client_request().expect("request");
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Upgrade::Open(Box::new(WsClient { stream })),
            Err(Error::Http(response)) => {
                let status = response.status().as_u16();
                let body =
                    response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                Upgrade::Refused(status, body)
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// A socket for `token`, with `status=true` or not.
    pub async fn ws(&self, token: &str, status: bool) -> WsClient {
        self.ws_query(&format!("lang=en&status={status}&token={token}"), &[]).await.open()
    }
}

impl WsClient {
    pub async fn send(&mut self, text: &str) {
        self.stream.send(Message::Text(text.into())).await.expect("send");
    }

    /// The next text frame as JSON, skipping control frames; panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        match self.next_data().await {
            Message::Text(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text}: {e}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next data frame (text or binary), skipping control frames; panics on close or timeout.
    pub async fn next_data(&mut self) -> Message {
        loop {
            match tokio::time::timeout(WAIT, self.stream.next()).await {
                Ok(Some(Ok(message @ (Message::Text(_) | Message::Binary(_))))) => return message,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => panic!("expected a data frame, got {other:?}"),
            }
        }
    }

    /// Sends a request and returns its answer.
    pub async fn request(&mut self, text: &str) -> Value {
        self.send(text).await;
        self.recv().await
    }

    /// Reads until the close frame, returning its code and reason and the text frames seen.
    pub async fn closed(&mut self) -> (u16, String, Vec<Value>) {
        let (code, reason, frames) = self.closed_after().await;
        let texts = frames
            .into_iter()
            .filter_map(|frame| match frame {
                Message::Text(text) => Some(serde_json::from_str(&text).unwrap_or(Value::Null)),
                _ => None,
            })
            .collect();
        (code, reason, texts)
    }

    /// Reads until the close frame, returning its code and reason and the data frames seen.
    pub async fn closed_after(&mut self) -> (u16, String, Vec<Message>) {
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let (code, reason) =
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    return (code, reason, frames);
                }
                Ok(Some(Ok(message @ (Message::Text(_) | Message::Binary(_))))) => frames.push(message),
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Asserts nothing but control frames arrives for `ms` milliseconds.
    pub async fn silent_for(&mut self, ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => panic!("expected silence, got {other:?}"),
            }
        }
    }

    pub async fn close(mut self, code: u16) {
        let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
        let _ = self.stream.close(Some(frame)).await;
    }
}
