//! A protobuf WebSocket client for `/ws?format=protobuf`: one prost-encoded `Envelope` per
//! binary frame, with the types generated from Hearth's own `proto/realtime.proto`.

use futures_util::SinkExt;
use hearth::proto::realtime::envelope::Message as Member;
use hearth::proto::realtime::{self as pb, Envelope};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::TestApp;
use crate::ws_client::WsClient;

pub struct PbClient {
    pub ws: WsClient,
}

impl TestApp {
    /// A protobuf socket for `token`, with `status=true` or not, as nakama-js-protobuf opens it.
    pub async fn ws_pb(&self, token: &str, status: bool) -> PbClient {
        let ws = self.ws_query(&format!("lang=en&status={status}&token={token}&format=protobuf"), &[]).await.open();
        PbClient { ws }
    }
}

/// An envelope with `cid` (empty = none) and one member.
pub fn envelope(cid: &str, member: Member) -> Envelope {
    Envelope { cid: cid.to_string(), message: Some(member) }
}

pub fn ping(cid: &str) -> Envelope {
    envelope(cid, Member::Ping(pb::Ping {}))
}

pub fn follow(cid: &str, user_ids: &[&str]) -> Envelope {
    let user_ids = user_ids.iter().map(|id| id.to_string()).collect();
    envelope(cid, Member::StatusFollow(pb::StatusFollow { user_ids, usernames: vec![] }))
}

pub fn unfollow(cid: &str, user_ids: &[&str]) -> Envelope {
    let user_ids = user_ids.iter().map(|id| id.to_string()).collect();
    envelope(cid, Member::StatusUnfollow(pb::StatusUnfollow { user_ids }))
}

/// `status_update`; `None` = appear offline.
pub fn update(cid: &str, status: Option<&str>) -> Envelope {
    envelope(cid, Member::StatusUpdate(pb::StatusUpdate { status: status.map(str::to_string) }))
}

/// An answer or push holding only `cid` and nothing else (what an empty frame decodes to).
pub fn ack(cid: &str) -> Envelope {
    Envelope { cid: cid.to_string(), message: None }
}

/// (user id, status) of each presence; the status is a wrapper, so absent and "" differ.
pub type Presences = Vec<(String, Option<String>)>;

pub fn presences(list: &[pb::UserPresence]) -> Presences {
    list.iter().map(|p| (p.user_id.clone(), p.status.clone())).collect()
}

/// The joins and leaves of a `status_presence_event`; panics on anything else.
#[track_caller]
pub fn presence_event(envelope: &Envelope) -> (Presences, Presences) {
    match &envelope.message {
        Some(Member::StatusPresenceEvent(e)) if envelope.cid.is_empty() => (presences(&e.joins), presences(&e.leaves)),
        _ => panic!("expected a status_presence_event push, got {envelope:?}"),
    }
}

impl PbClient {
    pub async fn send(&mut self, envelope: &Envelope) {
        self.send_bytes(envelope.encode_to_vec()).await;
    }

    pub async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.ws.stream.send(Message::Binary(bytes.into())).await.expect("send");
    }

    /// The next binary frame, decoded; panics on a text frame, a close or a timeout.
    pub async fn recv(&mut self) -> Envelope {
        let bytes = self.recv_bytes().await;
        Envelope::decode(&bytes[..]).unwrap_or_else(|e| panic!("bad envelope {bytes:?}: {e}"))
    }

    /// The next binary frame's raw bytes.
    pub async fn recv_bytes(&mut self) -> Vec<u8> {
        match self.ws.next_data().await {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    pub async fn request(&mut self, envelope: &Envelope) -> Envelope {
        self.send(envelope).await;
        self.recv().await
    }

    /// Reads until the close frame: its code and reason, and the envelopes seen before it
    /// (a text frame before the close fails the test).
    pub async fn closed(&mut self) -> (u16, String, Vec<Envelope>) {
        let (code, reason, frames) = self.ws.closed_after().await;
        let envelopes = frames
            .into_iter()
            .map(|frame| match frame {
                Message::Binary(bytes) => Envelope::decode(&bytes[..]).expect("an envelope before the close"),
                other => panic!("expected binary frames before the close, got {other:?}"),
            })
            .collect();
        (code, reason, envelopes)
    }

    pub async fn silent_for(&mut self, ms: u64) {
        self.ws.silent_for(ms).await;
    }

    pub async fn close(self, code: u16) {
        self.ws.close(code).await;
    }
}
