//! The envelope of `/ws` in its two formats: what a client asks (`Request`) and what the
//! server sends (`ServerMessage`), with the JSON format's strict decoding and exact encoding
//! here (realtime.md §3) and the protobuf format's in `protobuf` (realtime-protobuf.md).

use actix_http::ws::Message as WsMessage;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::protobuf;
use crate::clock::rfc3339;

/// The wire format of one socket, chosen at the upgrade for the whole connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON envelope per text frame.
    Json,
    /// One protobuf `Envelope` per binary frame.
    Protobuf,
}

impl Format {
    /// The upgrade's `format` parameter: empty or `json`, or `protobuf` (case-sensitive);
    /// anything else is refused (realtime.md §1.2).
    pub fn parse(value: &str) -> Option<Format> {
        match value {
            "" | "json" => Some(Format::Json),
            "protobuf" => Some(Format::Protobuf),
            _ => None,
        }
    }

    /// Whether the format's frames are text frames (the other kind closes the socket).
    pub fn is_text(self) -> bool {
        self == Format::Json
    }

    /// Decodes one whole client message of the right frame type.
    pub fn decode(self, payload: &[u8]) -> Result<Envelope, (Option<String>, Refusal)> {
        match self {
            Format::Json => match std::str::from_utf8(payload) {
                Ok(text) => decode(text),
                Err(_) => Err((None, Refusal::Malformed)),
            },
            Format::Protobuf => protobuf::decode(payload),
        }
    }
}

/// What the server sends, before it is encoded in a socket's format. Answers carry the
/// request's cid; pushes (presence events, notifications) carry none.
#[derive(Clone, Copy, Debug)]
pub enum ServerMessage<'a> {
    Pong,
    /// An answer with nothing but the cid (`status_update`, `status_unfollow`).
    Ack,
    Status(&'a [UserPresence]),
    PresenceEvent {
        joins: &'a [UserPresence],
        leaves: &'a [UserPresence],
    },
    Error(SocketError),
    Notifications(&'a [Notification]),
}

impl ServerMessage<'_> {
    /// The frame carrying this message with `cid` in `format`.
    pub fn encode(&self, format: Format, cid: Option<&str>) -> WsMessage {
        match format {
            Format::Json => WsMessage::Text(self.json(cid).into()),
            Format::Protobuf => WsMessage::Binary(protobuf::encode(self, cid).into()),
        }
    }

    /// The JSON envelope's text.
    pub fn json(&self, cid: Option<&str>) -> String {
        match *self {
            ServerMessage::Pong => pong(cid),
            ServerMessage::Ack => ack(cid),
            ServerMessage::Status(presences) => status(cid, presences),
            ServerMessage::PresenceEvent { joins, leaves } => {
                envelope(cid, "status_presence_event", &PresenceEvent { joins, leaves })
            }
            ServerMessage::Error(e) => e.envelope(cid),
            ServerMessage::Notifications(list) => {
                envelope(cid, "notifications", &NotificationList { notifications: list })
            }
        }
    }
}

/// Every message field of the envelope, snake_case, with whether clients may send it.
pub const MESSAGES: &[(&str, bool)] = &[
    ("channel", false),
    ("channel_join", true),
    ("channel_leave", true),
    ("channel_message", false),
    ("channel_message_ack", false),
    ("channel_message_send", true),
    ("channel_message_update", true),
    ("channel_message_remove", true),
    ("channel_presence_event", false),
    ("error", false),
    ("match", false),
    ("match_create", true),
    ("match_data", false),
    ("match_data_send", true),
    ("match_join", true),
    ("match_leave", true),
    ("match_presence_event", false),
    ("matchmaker_add", true),
    ("matchmaker_matched", false),
    ("matchmaker_remove", true),
    ("matchmaker_ticket", false),
    ("notifications", false),
    ("rpc", true),
    ("status", false),
    ("status_follow", true),
    ("status_presence_event", false),
    ("status_unfollow", true),
    ("status_update", true),
    ("stream_data", false),
    ("stream_presence_event", false),
    ("ping", true),
    ("pong", true),
    ("party", false),
    ("party_create", true),
    ("party_join", true),
    ("party_leave", true),
    ("party_promote", true),
    ("party_leader", false),
    ("party_accept", true),
    ("party_remove", true),
    ("party_close", true),
    ("party_join_request_list", true),
    ("party_join_request", false),
    ("party_matchmaker_add", true),
    ("party_matchmaker_remove", true),
    ("party_matchmaker_ticket", false),
    ("party_data", false),
    ("party_data_send", true),
    ("party_presence_event", false),
    ("party_update", true),
];

/// Error codes of realtime.md §4.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    RuntimeException = 0,
    UnrecognizedPayload = 1,
    MissingPayload = 2,
    BadInput = 3,
    RuntimeFunctionNotFound = 6,
}

/// Every error the socket answers a request with: Nakama's message, and its code in one
/// table (`code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    #[error("Missing message.")]
    MissingMessage,
    #[error("Unrecognized message.")]
    UnrecognizedMessage,
    /// A request Hearth does not serve, answered as Nakama answers one a hook disabled.
    #[error("Requested resource was not found.")]
    NotServed,
    #[error("RPC function not found")]
    RpcNotFound,
    #[error("Status must be 2048 characters or less")]
    StatusTooLong,
    #[error("Invalid user identifier")]
    InvalidUserId,
    #[error("Invalid username")]
    InvalidUsername,
    /// The follow lookup failed (the cause is logged where it happened).
    #[error("Could not check users")]
    CheckingUsers,
}

impl SocketError {
    pub fn code(self) -> ErrorCode {
        match self {
            SocketError::MissingMessage => ErrorCode::MissingPayload,
            SocketError::UnrecognizedMessage | SocketError::NotServed => ErrorCode::UnrecognizedPayload,
            SocketError::RpcNotFound => ErrorCode::RuntimeFunctionNotFound,
            SocketError::StatusTooLong | SocketError::InvalidUserId | SocketError::InvalidUsername => {
                ErrorCode::BadInput
            }
            SocketError::CheckingUsers => ErrorCode::RuntimeException,
        }
    }

    /// The `error` envelope answering the request `cid`.
    pub fn envelope(self, cid: Option<&str>) -> String {
        error(cid, self.code(), &self.to_string())
    }
}

#[derive(Deserialize, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatusFollow {
    #[serde(default, alias = "userIds")]
    pub user_ids: Option<Vec<String>>,
    #[serde(default)]
    pub usernames: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatusUnfollow {
    #[serde(default, alias = "userIds")]
    pub user_ids: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdate {
    /// A wrapper: `None` (absent or null) means "appear offline".
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Deserialize, Serialize, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A decoded client message.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Ping,
    Pong,
    StatusFollow(StatusFollow),
    StatusUnfollow(StatusUnfollow),
    StatusUpdate(StatusUpdate),
    /// `rpc`: Hearth registers no functions.
    Rpc,
    /// A valid client message Hearth does not serve (chat, matches, parties...).
    Unsupported(&'static str),
}

/// Why an envelope was refused, and how the socket reacts.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not decodable: close with `received malformed payload`.
    Malformed,
    /// No message field: error 2, then close.
    MissingPayload,
    /// A server-to-client message: error 1, then close.
    Unrecognized,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Envelope {
    pub cid: Option<String>,
    pub request: Request,
}

fn snake_name(key: &str) -> Option<(&'static str, bool)> {
    if let Some(found) = MESSAGES.iter().find(|(name, _)| *name == key) {
        return Some(*found);
    }
    // lowerCamelCase form of a name with underscores.
    MESSAGES.iter().find(|(name, _)| name.contains('_') && camel(name) == key).copied()
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes one client envelope with protobuf-JSON strictness (realtime.md §3.2).
pub fn decode(text: &str) -> Result<Envelope, (Option<String>, Refusal)> {
    let map: Map<String, Value> = serde_json::from_str(text).map_err(|_| (None, Refusal::Malformed))?;
    let mut cid = None;
    let mut message: Option<(&'static str, bool, Value)> = None;
    let mut message_fields = 0;
    for (key, value) in map {
        if key == "cid" {
            match value {
                Value::String(s) => cid = Some(s),
                Value::Null => {}
                _ => return Err((None, Refusal::Malformed)),
            }
            continue;
        }
        let Some((name, from_client)) = snake_name(&key) else { return Err((None, Refusal::Malformed)) };
        message_fields += 1;
        if !value.is_null() {
            if !value.is_object() {
                return Err((None, Refusal::Malformed));
            }
            message = Some((name, from_client, value));
        }
    }
    let cid = cid.filter(|c| !c.is_empty());
    if message_fields > 1 {
        return Err((cid, Refusal::Malformed));
    }
    let Some((name, from_client, value)) = message else { return Err((cid, Refusal::MissingPayload)) };
    if !from_client {
        return Err((cid, Refusal::Unrecognized));
    }
    let malformed = |_| (cid.clone(), Refusal::Malformed);
    let request = match name {
        "ping" => serde_json::from_value::<Empty>(value).map(|_| Request::Ping).map_err(malformed)?,
        "pong" => serde_json::from_value::<Empty>(value).map(|_| Request::Pong).map_err(malformed)?,
        "status_follow" => Request::StatusFollow(serde_json::from_value(value).map_err(malformed)?),
        "status_unfollow" => Request::StatusUnfollow(serde_json::from_value(value).map_err(malformed)?),
        "status_update" => Request::StatusUpdate(serde_json::from_value(value).map_err(malformed)?),
        "rpc" => Request::Rpc,
        other => Request::Unsupported(other),
    };
    Ok(Envelope { cid, request })
}

/// One presence as status messages show it (status-presence.md §2).
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct UserPresence {
    pub user_id: String,
    pub session_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// A wrapper: printed even when empty.
    pub status: String,
}

#[derive(Serialize)]
struct PresenceList<'a> {
    #[serde(skip_serializing_if = "<[UserPresence]>::is_empty")]
    presences: &'a [UserPresence],
}

#[derive(Serialize)]
struct PresenceEvent<'a> {
    #[serde(skip_serializing_if = "<[UserPresence]>::is_empty")]
    joins: &'a [UserPresence],
    #[serde(skip_serializing_if = "<[UserPresence]>::is_empty")]
    leaves: &'a [UserPresence],
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i32,
    message: &'a str,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub subject: String,
    pub content: String,
    pub code: i32,
    /// Unix seconds: an RFC 3339 string in JSON, a `Timestamp` in protobuf.
    #[serde(serialize_with = "as_rfc3339")]
    pub create_time: i64,
}

fn as_rfc3339<S: Serializer>(unix: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*unix))
}

#[derive(Serialize)]
struct NotificationList<'a> {
    notifications: &'a [Notification],
}

/// `{"cid":"…","<field>":<body>}` with the cid first, or without it when absent.
fn envelope<T: Serialize>(cid: Option<&str>, field: &str, body: &T) -> String {
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut out = String::with_capacity(body.len() + field.len() + 16);
    out.push('{');
    if let Some(cid) = cid {
        out.push_str("\"cid\":");
        out.push_str(&serde_json::to_string(cid).unwrap_or_default());
        out.push(',');
    }
    out.push('"');
    out.push_str(field);
    out.push_str("\":");
    out.push_str(&body);
    out.push('}');
    out
}

pub fn pong(cid: Option<&str>) -> String {
    envelope(cid, "pong", &Empty {})
}

/// An answer carrying only the cid: `{"cid":"3"}`, or `{}`.
pub fn ack(cid: Option<&str>) -> String {
    match cid {
        Some(cid) => format!("{{\"cid\":{}}}", serde_json::to_string(cid).unwrap_or_default()),
        None => "{}".into(),
    }
}

pub fn status(cid: Option<&str>, presences: &[UserPresence]) -> String {
    envelope(cid, "status", &PresenceList { presences })
}

pub fn error(cid: Option<&str>, code: ErrorCode, message: &str) -> String {
    envelope(cid, "error", &ErrorBody { code: code as i32, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_snake_and_camel_names() {
        let e = decode(r#"{"cid":"1","status_follow":{"user_ids":["a"]}}"#).unwrap();
        assert_eq!(e.cid.as_deref(), Some("1"));
        assert_eq!(
            e.request,
            Request::StatusFollow(StatusFollow { user_ids: Some(vec!["a".into()]), usernames: None })
        );
        let e = decode(r#"{"statusFollow":{"userIds":["b"]}}"#).unwrap();
        assert!(matches!(e.request, Request::StatusFollow(StatusFollow { user_ids: Some(_), .. })));
    }

    #[test]
    fn strictness() {
        assert_eq!(decode(r#"{"foo":{}}"#).unwrap_err().1, Refusal::Malformed);
        assert_eq!(decode(r#"{"ping":{"x":1}}"#).unwrap_err().1, Refusal::Malformed);
        assert_eq!(decode(r#"{"ping":{},"pong":{}}"#).unwrap_err().1, Refusal::Malformed);
        assert_eq!(decode(r#"{"cid":5,"ping":{}}"#).unwrap_err().1, Refusal::Malformed);
        assert_eq!(decode(r#"{"status_follow":{"user_ids":"abc"}}"#).unwrap_err().1, Refusal::Malformed);
        assert_eq!(decode(r#"{"ping":{}} x"#).unwrap_err().1, Refusal::Malformed);
        assert_eq!(decode(r#"{"cid":"m1"}"#).unwrap_err(), (Some("m1".into()), Refusal::MissingPayload));
        assert_eq!(decode(r#"{"status_update":null}"#).unwrap_err().1, Refusal::MissingPayload);
        assert_eq!(decode(r#"{"cid":"2","status":{}}"#).unwrap_err(), (Some("2".into()), Refusal::Unrecognized));
        let e = decode(r#"{"cid":null,"status_update":{"status":null}}"#).unwrap();
        assert_eq!(e.cid, None);
        assert_eq!(e.request, Request::StatusUpdate(StatusUpdate { status: None }));
    }

    #[test]
    fn encodes_like_nakama() {
        assert_eq!(pong(Some("7")), r#"{"cid":"7","pong":{}}"#);
        assert_eq!(pong(None), r#"{"pong":{}}"#);
        assert_eq!(ack(Some("3")), r#"{"cid":"3"}"#);
        assert_eq!(ack(None), "{}");
        assert_eq!(status(Some("1"), &[]), r#"{"cid":"1","status":{}}"#);
        let p = UserPresence { user_id: "u".into(), session_id: "s".into(), username: "n".into(), status: "".into() };
        assert_eq!(
            ServerMessage::PresenceEvent { joins: &[p], leaves: &[] }.json(None),
            r#"{"status_presence_event":{"joins":[{"user_id":"u","session_id":"s","username":"n","status":""}]}}"#
        );
        assert_eq!(
            error(Some("2"), ErrorCode::BadInput, "Invalid user identifier"),
            r#"{"cid":"2","error":{"code":3,"message":"Invalid user identifier"}}"#
        );
    }

    #[test]
    fn socket_errors_carry_their_codes() {
        assert_eq!(
            SocketError::InvalidUserId.envelope(Some("2")),
            r#"{"cid":"2","error":{"code":3,"message":"Invalid user identifier"}}"#
        );
        assert_eq!(SocketError::MissingMessage.envelope(None), r#"{"error":{"code":2,"message":"Missing message."}}"#);
        assert_eq!(SocketError::NotServed.code(), ErrorCode::UnrecognizedPayload);
        assert_eq!(SocketError::RpcNotFound.code() as i32, 6);
        assert_eq!(SocketError::CheckingUsers.code() as i32, 0);
    }
}
