//! The protobuf format of `/ws` (realtime-protobuf.md): one `nakama.realtime.Envelope` per
//! binary frame, decoded into the same `Request`s and encoded from the same `ServerMessage`s
//! as the JSON format, so both formats share every rule of the socket.

use prost::Message as _;

use super::protocol::{
    Envelope, Notification, Refusal, Request, ServerMessage, StatusFollow, StatusUnfollow, StatusUpdate, UserPresence,
    MESSAGES,
};
use crate::proto::api;
use crate::proto::realtime as pb;
use pb::envelope::Message as Member;

/// Decodes one client envelope the way Nakama's `proto.Unmarshal` does (§2.1): unknown
/// fields are skipped, the last oneof member wins; truncated bytes, a bad varint or invalid
/// UTF-8 are malformed. A known field with the wrong wire type is malformed too (prost).
pub fn decode(payload: &[u8]) -> Result<Envelope, (Option<String>, Refusal)> {
    let envelope = pb::Envelope::decode(payload).map_err(|_| (None, Refusal::Malformed))?;
    let cid = Some(envelope.cid).filter(|cid| !cid.is_empty());
    let Some(member) = envelope.message else { return Err((cid, Refusal::MissingPayload)) };
    let request = match member {
        Member::Ping(_) => Request::Ping,
        Member::Pong(_) => Request::Pong,
        Member::StatusFollow(f) => {
            Request::StatusFollow(StatusFollow { user_ids: Some(f.user_ids), usernames: Some(f.usernames) })
        }
        Member::StatusUnfollow(u) => Request::StatusUnfollow(StatusUnfollow { user_ids: Some(u.user_ids) }),
        Member::StatusUpdate(u) => Request::StatusUpdate(StatusUpdate { status: u.status }),
        Member::Rpc(_) => Request::Rpc,
        other => {
            // The direction comes from the one table both formats read.
            let name = member_name(&other);
            match MESSAGES.iter().find(|(known, _)| *known == name) {
                Some((name, true)) => Request::Unsupported(name),
                _ => return Err((cid, Refusal::Unrecognized)),
            }
        }
    };
    Ok(Envelope { cid, request })
}

/// The envelope carrying `message`, as bytes; an answer with no cid and no message is empty.
pub fn encode(message: &ServerMessage<'_>, cid: Option<&str>) -> Vec<u8> {
    let member = match *message {
        ServerMessage::Pong => Some(Member::Pong(pb::Pong {})),
        ServerMessage::Ack => None,
        ServerMessage::Status(presences) => Some(Member::Status(pb::Status { presences: presence_list(presences) })),
        ServerMessage::PresenceEvent { joins, leaves } => Some(Member::StatusPresenceEvent(pb::StatusPresenceEvent {
            joins: presence_list(joins),
            leaves: presence_list(leaves),
        })),
        ServerMessage::Error(e) => Some(Member::Error(pb::Error {
            code: e.code() as i32,
            message: e.to_string(),
            context: Default::default(),
        })),
        ServerMessage::Notifications(list) => {
            Some(Member::Notifications(pb::Notifications { notifications: list.iter().map(notification).collect() }))
        }
    };
    pb::Envelope { cid: cid.unwrap_or_default().to_string(), message: member }.encode_to_vec()
}

fn presence_list(list: &[UserPresence]) -> Vec<pb::UserPresence> {
    list.iter()
        .map(|p| pb::UserPresence {
            user_id: p.user_id.clone(),
            session_id: p.session_id.clone(),
            username: p.username.clone(),
            persistence: false,
            // A wrapper, present in status messages even when empty.
            status: Some(p.status.clone()),
        })
        .collect()
}

fn notification(n: &Notification) -> api::Notification {
    api::Notification {
        id: n.id.clone(),
        subject: n.subject.clone(),
        content: n.content.clone(),
        code: n.code,
        sender_id: String::new(),
        create_time: Some(prost_types::Timestamp { seconds: n.create_time, nanos: 0 }),
        persistent: false,
    }
}

/// The envelope field name of a member (realtime-protobuf.md §3), as `MESSAGES` lists it.
fn member_name(member: &Member) -> &'static str {
    match member {
        Member::Channel(_) => "channel",
        Member::ChannelJoin(_) => "channel_join",
        Member::ChannelLeave(_) => "channel_leave",
        Member::ChannelMessage(_) => "channel_message",
        Member::ChannelMessageAck(_) => "channel_message_ack",
        Member::ChannelMessageSend(_) => "channel_message_send",
        Member::ChannelMessageUpdate(_) => "channel_message_update",
        Member::ChannelMessageRemove(_) => "channel_message_remove",
        Member::ChannelPresenceEvent(_) => "channel_presence_event",
        Member::Error(_) => "error",
        Member::Match(_) => "match",
        Member::MatchCreate(_) => "match_create",
        Member::MatchData(_) => "match_data",
        Member::MatchDataSend(_) => "match_data_send",
        Member::MatchJoin(_) => "match_join",
        Member::MatchLeave(_) => "match_leave",
        Member::MatchPresenceEvent(_) => "match_presence_event",
        Member::MatchmakerAdd(_) => "matchmaker_add",
        Member::MatchmakerMatched(_) => "matchmaker_matched",
        Member::MatchmakerRemove(_) => "matchmaker_remove",
        Member::MatchmakerTicket(_) => "matchmaker_ticket",
        Member::Notifications(_) => "notifications",
        Member::Rpc(_) => "rpc",
        Member::Status(_) => "status",
        Member::StatusFollow(_) => "status_follow",
        Member::StatusPresenceEvent(_) => "status_presence_event",
        Member::StatusUnfollow(_) => "status_unfollow",
        Member::StatusUpdate(_) => "status_update",
        Member::StreamData(_) => "stream_data",
        Member::StreamPresenceEvent(_) => "stream_presence_event",
        Member::Ping(_) => "ping",
        Member::Pong(_) => "pong",
        Member::Party(_) => "party",
        Member::PartyCreate(_) => "party_create",
        Member::PartyJoin(_) => "party_join",
        Member::PartyLeave(_) => "party_leave",
        Member::PartyPromote(_) => "party_promote",
        Member::PartyLeader(_) => "party_leader",
        Member::PartyAccept(_) => "party_accept",
        Member::PartyRemove(_) => "party_remove",
        Member::PartyClose(_) => "party_close",
        Member::PartyJoinRequestList(_) => "party_join_request_list",
        Member::PartyJoinRequest(_) => "party_join_request",
        Member::PartyMatchmakerAdd(_) => "party_matchmaker_add",
        Member::PartyMatchmakerRemove(_) => "party_matchmaker_remove",
        Member::PartyMatchmakerTicket(_) => "party_matchmaker_ticket",
        Member::PartyData(_) => "party_data",
        Member::PartyDataSend(_) => "party_data_send",
        Member::PartyPresenceEvent(_) => "party_presence_event",
        Member::PartyUpdate(_) => "party_update",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::SocketError;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    #[test]
    fn encodes_the_specs_byte_strings() {
        assert_eq!(encode(&ServerMessage::Pong, Some("1")), hex("0a 01 31 8a 02 00"));
        assert_eq!(encode(&ServerMessage::Status(&[]), Some("2")), hex("0a 01 32 ca 01 00"));
        assert_eq!(encode(&ServerMessage::Ack, Some("4")), hex("0a 01 34"));
        assert_eq!(encode(&ServerMessage::Ack, None), Vec::<u8>::new());
        let p = UserPresence { user_id: "u".into(), session_id: "s".into(), username: "n".into(), status: "".into() };
        assert_eq!(
            encode(&ServerMessage::PresenceEvent { joins: &[p], leaves: &[] }, None),
            hex("da 01 0d 12 0b 0a 01 75 12 01 73 1a 01 6e 2a 00")
        );
        let mut error = hex("0a 01 32 5a 1b 08 03 12 17");
        error.extend_from_slice(b"Invalid user identifier");
        assert_eq!(encode(&ServerMessage::Error(SocketError::InvalidUserId), Some("2")), error);
        let ban = Notification {
            id: "i".into(),
            subject: "banned".into(),
            content: "{}".into(),
            code: -8,
            create_time: 1_795_000_000,
        };
        assert_eq!(
            encode(&ServerMessage::Notifications(&[ban]), None),
            hex("ba 01 24 0a 22 0a 01 69 12 06 62 61 6e 6e 65 64 1a 02 7b 7d 20 f8 ff ff ff ff ff ff ff ff 01 32 06 08 c0 8d f6 d7 06")
        );
    }

    #[test]
    fn decodes_the_specs_requests() {
        let ping = decode(&hex("0a 01 31 82 02 00")).unwrap();
        assert_eq!((ping.cid.as_deref(), ping.request), (Some("1"), Request::Ping));
        let follow = decode(&hex("0a 01 32 d2 01 06 0a 01 61 0a 01 62")).unwrap();
        assert_eq!(
            follow.request,
            Request::StatusFollow(StatusFollow {
                user_ids: Some(vec!["a".into(), "b".into()]),
                usernames: Some(vec![])
            })
        );
        let update = |bytes| decode(&hex(bytes)).unwrap().request;
        assert_eq!(
            update("0a 01 34 ea 01 06 0a 04 0a 02 68 69"),
            Request::StatusUpdate(StatusUpdate { status: Some("hi".into()) })
        );
        assert_eq!(
            update("0a 01 34 ea 01 02 0a 00"),
            Request::StatusUpdate(StatusUpdate { status: Some(String::new()) })
        );
        assert_eq!(update("0a 01 34 ea 01 00"), Request::StatusUpdate(StatusUpdate { status: None }));
    }

    #[test]
    fn refusals_follow_the_decoding_table() {
        // Empty frame, cid only: no message.
        assert_eq!(decode(&[]).unwrap_err(), (None, Refusal::MissingPayload));
        assert_eq!(decode(&hex("0a 01 33")).unwrap_err(), (Some("3".into()), Refusal::MissingPayload));
        // Only an unknown field (99, varint): no message either.
        assert_eq!(decode(&hex("98 06 01")).unwrap_err(), (None, Refusal::MissingPayload));
        // An unknown field beside a known member is skipped.
        assert_eq!(decode(&hex("98 06 01 82 02 00")).unwrap().request, Request::Ping);
        // Two members: the last wins.
        assert_eq!(decode(&hex("82 02 00 8a 02 00")).unwrap().request, Request::Pong);
        // A server-to-client member, a client member Hearth does not serve.
        assert_eq!(decode(&hex("0a 01 35 ca 01 00")).unwrap_err(), (Some("5".into()), Refusal::Unrecognized));
        assert_eq!(decode(&hex("1a 00")).unwrap().request, Request::Unsupported("channel_join"));
        // Truncated, a length past the end, invalid UTF-8 in the cid, ping sent as a varint.
        for bad in ["0a 05 31", "82 02 05 00", "0a 01 ff 82 02 00", "80 02 01", "ff"] {
            assert_eq!(decode(&hex(bad)).unwrap_err(), (None, Refusal::Malformed), "{bad}");
        }
    }
}
