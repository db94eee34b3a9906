//! realtime-protobuf.md: `/ws?format=protobuf`, one `Envelope` per binary frame, with the
//! same messages, pushes, errors, limits and closes as the JSON socket (realtime.md).

use std::time::Duration;

use futures_util::SinkExt;
use hearth::proto::realtime::envelope::Message as Member;
use hearth::proto::realtime::{self as pb, Envelope};
use prost::Message as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{wait_until, TestApp};
use crate::pb_client::{ack, envelope, follow, ping, presence_event, unfollow, update};
use crate::raw;
use crate::{both_backends, storage_free};

fn error(cid: &str, code: i32, message: &str) -> Envelope {
    envelope(cid, Member::Error(pb::Error { code, message: message.to_string(), context: Default::default() }))
}

/// (user id, status) pairs of a JSON presence event's list.
fn json_presences(event: &Value, list: &str) -> Vec<(String, Option<String>)> {
    event["status_presence_event"][list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| (p["user_id"].as_str().unwrap().to_string(), p["status"].as_str().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default()
}

fn status(text: &str) -> Option<String> {
    Some(text.to_string())
}

storage_free!(ping_is_answered_with_pong_and_cid);
async fn ping_is_answered_with_pong_and_cid(app: TestApp) {
    let u = app.socket_user("pbpinger").await;
    let mut ws = app.ws_pb(&u.token, false).await;
    // The spec's captured bytes, both ways.
    ws.send_bytes(vec![0x0a, 0x01, 0x31, 0x82, 0x02, 0x00]).await;
    assert_eq!(ws.recv_bytes().await, [0x0a, 0x01, 0x31, 0x8a, 0x02, 0x00]);
    assert_eq!(ws.request(&ping("7")).await, envelope("7", Member::Pong(pb::Pong {})));
    assert_eq!(ws.request(&ping("")).await, envelope("", Member::Pong(pb::Pong {})));
    // A client pong is accepted and not answered.
    ws.send(&envelope("", Member::Pong(pb::Pong {}))).await;
    assert_eq!(ws.request(&ping("8")).await, envelope("8", Member::Pong(pb::Pong {})));
}

storage_free!(rpc_and_bad_input_answer_an_error_and_keep_the_socket);
async fn rpc_and_bad_input_answer_an_error_and_keep_the_socket(app: TestApp) {
    let u = app.socket_user("pberrors").await;
    let mut ws = app.ws_pb(&u.token, false).await;
    let err = ws.request(&follow("1", &["not-a-uuid"])).await;
    assert_eq!(err, error("1", 3, "Invalid user identifier"));
    let err = ws.request(&unfollow("2", &["bad"])).await;
    assert_eq!(err, error("2", 3, "Invalid user identifier"));
    let err = ws.request(&update("3", Some(&"a".repeat(2049)))).await;
    assert_eq!(err, error("3", 3, "Status must be 2048 characters or less"));
    let err = ws.request(&envelope("4", Member::Rpc(hearth::proto::api::Rpc {}))).await;
    assert_eq!(err, error("4", 6, "RPC function not found"));
    assert_eq!(ws.request(&ping("5")).await, envelope("5", Member::Pong(pb::Pong {})));
}

both_backends!(follow_update_unfollow_reach_protobuf_and_json_followers);
async fn follow_update_unfollow_reach_protobuf_and_json_followers(app: TestApp) {
    let a = app.socket_user("pbfollower").await;
    let c = app.socket_user("jsonfollower").await;
    let b = app.socket_user("pbfollowed").await;
    let mut wa = app.ws_pb(&a.token, false).await;
    let mut wc = app.ws(&c.token, false).await;
    // B is offline: an empty status answer (`ca 01 00` after the cid).
    assert_eq!(wa.request(&follow("1", &[&b.id])).await, envelope("1", Member::Status(pb::Status::default())));
    let answer = wc.request(&format!(r#"{{"cid":"1","status_follow":{{"user_ids":["{}"]}}}}"#, b.id)).await;
    assert_eq!(answer, json!({"cid":"1","status":{}}));

    // B comes online on a protobuf socket: both followers hear the join, each in its format.
    let mut wb = app.ws_pb(&b.token, true).await;
    assert_eq!(presence_event(&wa.recv().await), (vec![(b.id.clone(), status(""))], vec![]));
    assert_eq!(json_presences(&wc.recv().await, "joins"), [(b.id.clone(), status(""))]);
    let own = wb.recv().await;
    assert_eq!(presence_event(&own), (vec![(b.id.clone(), status(""))], vec![]));
    let Some(Member::StatusPresenceEvent(event)) = own.message else { unreachable!() };
    assert_eq!(event.joins[0].username, "pbfollowed");
    assert_eq!(event.joins[0].session_id.len(), 36);
    assert!(!event.joins[0].persistence);

    // A status update: the new join and the old leave, to both.
    assert_eq!(wb.request(&update("u1", Some("hello"))).await, ack("u1"));
    let change = (vec![(b.id.clone(), status("hello"))], vec![(b.id.clone(), status(""))]);
    assert_eq!(presence_event(&wa.recv().await), change);
    let json_change = wc.recv().await;
    assert_eq!(json_presences(&json_change, "joins"), [(b.id.clone(), status("hello"))]);
    assert_eq!(json_presences(&json_change, "leaves"), [(b.id.clone(), status(""))]);
    assert_eq!(presence_event(&wb.recv().await), change);

    // Following again lists B's presence.
    let listed = wa.request(&follow("2", &[&b.id])).await;
    let Some(Member::Status(listed)) = listed.message else { panic!("expected status, got {listed:?}") };
    assert_eq!(crate::pb_client::presences(&listed.presences), [(b.id.clone(), status("hello"))]);

    // A unfollows: a cid-only answer, then nothing; C still hears B.
    assert_eq!(wa.request(&unfollow("3", &[&b.id])).await, ack("3"));
    assert_eq!(wb.request(&update("u2", Some("again"))).await, ack("u2"));
    assert_eq!(json_presences(&wc.recv().await, "joins"), [(b.id.clone(), status("again"))]);
    wa.silent_for(300).await;

    // B leaves: the leave with the last status reaches C (JSON) and A after a new follow.
    wa.request(&follow("4", &[&b.id])).await;
    wb.close(1000).await;
    assert_eq!(presence_event(&wa.recv().await), (vec![], vec![(b.id.clone(), status("again"))]));
    assert_eq!(json_presences(&wc.recv().await, "leaves"), [(b.id.clone(), status("again"))]);
}

both_backends!(a_json_socket_s_events_reach_a_protobuf_follower);
async fn a_json_socket_s_events_reach_a_protobuf_follower(app: TestApp) {
    let a = app.socket_user("pbwatcher").await;
    let b = app.socket_user("jsonwriter").await;
    let mut wa = app.ws_pb(&a.token, false).await;
    wa.request(&follow("1", &[&b.id])).await;
    let mut wb = app.ws(&b.token, false).await;
    assert_eq!(wb.request(r#"{"cid":"1","status_update":{"status":"hi"}}"#).await, json!({"cid":"1"}));
    assert_eq!(presence_event(&wa.recv().await), (vec![(b.id.clone(), status("hi"))], vec![]));
}

both_backends!(status_update_without_value_appears_offline_and_a_bare_ack_is_an_empty_frame);
async fn status_update_without_value_appears_offline_and_a_bare_ack_is_an_empty_frame(app: TestApp) {
    let u = app.socket_user("pbghost").await;
    let mut ws = app.ws_pb(&u.token, true).await;
    ws.recv().await; // own join
                     // An empty-but-present status keeps the user online with "".
    assert_eq!(ws.request(&update("1", Some(""))).await, ack("1"));
    let (joins, leaves) = presence_event(&ws.recv().await);
    assert_eq!((joins, leaves), (vec![(u.id.clone(), status(""))], vec![(u.id.clone(), status(""))]));
    // Absent: appear offline.
    assert_eq!(ws.request(&update("2", None)).await, ack("2"));
    assert_eq!(presence_event(&ws.recv().await), (vec![], vec![(u.id.clone(), status(""))]));
    // No cid and nothing to say: an empty binary frame.
    ws.send(&update("", None)).await;
    assert_eq!(ws.recv_bytes().await, Vec::<u8>::new());
    ws.silent_for(200).await;
}

both_backends!(ban_sends_the_banned_notification_then_closes);
async fn ban_sends_the_banned_notification_then_closes(app: TestApp) {
    let u = app.socket_user("pbcheater").await;
    let mut ws = app.ws_pb(&u.token, false).await;
    let before = hearth::clock::unix_now();
    app.state.accounts.ban(uuid::Uuid::parse_str(&u.id).unwrap()).await.unwrap();
    let (code, reason, envelopes) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    let Some(Member::Notifications(list)) = &envelopes[0].message else { panic!("{envelopes:?}") };
    assert_eq!(envelopes[0].cid, "");
    let n = &list.notifications[0];
    assert_eq!((n.subject.as_str(), n.code, n.content.as_str()), ("banned", -8, "{}"));
    assert!(uuid::Uuid::parse_str(&n.id).is_ok(), "{}", n.id);
    assert_eq!((n.sender_id.as_str(), n.persistent), ("", false));
    let time = n.create_time.expect("create_time");
    assert!(time.seconds >= before && time.seconds <= hearth::clock::unix_now(), "{time:?}");
    assert_eq!(time.nanos, 0);
}

both_backends!(single_socket_kick_sends_the_single_socket_notification, |c: &mut hearth::config::Config| {
    c.session.single_socket = true
});
async fn single_socket_kick_sends_the_single_socket_notification(app: TestApp) {
    let u = app.socket_user("pbsingle").await;
    let mut first = app.ws_pb(&u.token, false).await;
    let mut second = app.ws_pb(&u.token, false).await;
    let (code, reason, envelopes) = first.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    let Some(Member::Notifications(list)) = &envelopes[0].message else { panic!("{envelopes:?}") };
    assert_eq!((list.notifications[0].subject.as_str(), list.notifications[0].code), ("single_socket", -7));
    assert_eq!(second.request(&ping("1")).await, envelope("1", Member::Pong(pb::Pong {})));
}

storage_free!(message_over_4096_bytes_closes_with_1009);
async fn message_over_4096_bytes_closes_with_1009(app: TestApp) {
    let u = app.socket_user("pboversized").await;
    let mut ws = app.ws_pb(&u.token, false).await;
    // cid tag + 2-byte length + cid + `82 02 00`.
    let exact = ping(&"x".repeat(4096 - 6));
    assert_eq!(exact.encoded_len(), 4096);
    assert_eq!(ws.request(&exact).await.message, Some(Member::Pong(pb::Pong {})));
    let over = ping(&"x".repeat(4097 - 6));
    assert_eq!(over.encoded_len(), 4097);
    ws.send(&over).await;
    let (code, reason, envelopes) = ws.closed().await;
    assert_eq!((code, reason.as_str(), envelopes.len()), (1009, "", 0));
}

storage_free!(binary_frame_header_over_the_limit_closes_1009_before_the_payload);
async fn binary_frame_header_over_the_limit_closes_1009_before_the_payload(app: TestApp) {
    use tokio::io::AsyncWriteExt;
    let u = app.socket_user("pbhugeframe").await;
    let query = format!("lang=en&status=false&format=protobuf&token={}", u.token);
    let (mut read, mut write) = raw::upgrade_query(&app.addr, &query).await.into_split();
    write.write_all(&raw::ws_header(true, 0x2, 300_000_000)).await.unwrap();
    let started = std::time::Instant::now();
    let streamer = tokio::spawn(async move {
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..128 {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    assert_eq!(raw::ws_close_code(&mut read, Duration::from_secs(3)).await, Some(1009));
    assert!(started.elapsed() < Duration::from_secs(1), "closed after {:?}", started.elapsed());
    assert!(wait_until(|| app.state.registry.socket_count() == 0).await);
    streamer.abort();
}

storage_free!(undecodable_frames_close_with_malformed_payload);
async fn undecodable_frames_close_with_malformed_payload(app: TestApp) {
    let u = app.socket_user("pbgarbage").await;
    // Garbage, truncated bytes, a length past the end, invalid UTF-8 in the cid, and `ping`
    // sent as a varint (prost refuses a known field with the wrong wire type).
    let bad: [&[u8]; 5] = [
        &[0xff, 0xff, 0xff, 0xff],
        &[0x0a, 0x05, 0x31],
        &[0x82, 0x02, 0x05, 0x00],
        &[0x0a, 0x01, 0xff, 0x82, 0x02, 0x00],
        &[0x80, 0x02, 0x01],
    ];
    for bytes in bad {
        let mut ws = app.ws_pb(&u.token, false).await;
        ws.send_bytes(bytes.to_vec()).await;
        let (code, reason, envelopes) = ws.closed().await;
        assert_eq!((code, reason.as_str()), (1000, "received malformed payload"), "{bytes:02x?}");
        assert!(envelopes.is_empty(), "{envelopes:?}");
    }
}

storage_free!(missing_and_unrecognized_members_error_then_close);
async fn missing_and_unrecognized_members_error_then_close(app: TestApp) {
    let u = app.socket_user("pbmissing").await;
    // An empty frame, a cid alone, an unknown field alone (99): no message, code 2.
    for (bytes, cid) in [(vec![], ""), (ack("m1").encode_to_vec(), "m1"), (vec![0x98, 0x06, 0x01], "")] {
        let mut ws = app.ws_pb(&u.token, false).await;
        ws.send_bytes(bytes).await;
        let (code, reason, envelopes) = ws.closed().await;
        assert_eq!((code, reason.as_str()), (1000, "error processing message"));
        assert_eq!(envelopes, [error(cid, 2, "Missing message.")]);
    }
    // An unknown field beside a known member is skipped.
    let mut ws = app.ws_pb(&u.token, false).await;
    let mut bytes = vec![0x98, 0x06, 0x01];
    bytes.extend(ping("k").encode_to_vec());
    ws.send_bytes(bytes).await;
    assert_eq!(ws.recv().await, envelope("k", Member::Pong(pb::Pong {})));
    // A server-to-client member: code 1.
    let mut ws = app.ws_pb(&u.token, false).await;
    ws.send(&envelope("s1", Member::Status(pb::Status::default()))).await;
    let (code, reason, envelopes) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "error processing message"));
    assert_eq!(envelopes, [error("s1", 1, "Unrecognized message.")]);
    // A client member Hearth does not serve: code 1 as well.
    let mut ws = app.ws_pb(&u.token, false).await;
    ws.send(&envelope("j1", Member::ChannelJoin(pb::ChannelJoin {}))).await;
    let (_, reason, envelopes) = ws.closed().await;
    assert_eq!(reason, "error processing message");
    assert_eq!(envelopes, [error("j1", 1, "Requested resource was not found.")]);
}

storage_free!(text_frame_on_a_protobuf_socket_closes);
async fn text_frame_on_a_protobuf_socket_closes(app: TestApp) {
    let u = app.socket_user("pbtext").await;
    let mut ws = app.ws_pb(&u.token, false).await;
    ws.ws.stream.send(Message::Text(r#"{"cid":"1","ping":{}}"#.into())).await.unwrap();
    let (code, reason, envelopes) = ws.closed().await;
    assert_eq!((code, reason.as_str(), envelopes.len()), (1000, "received unexpected WebSocket message type", 0));
}

storage_free!(format_protobuf_is_accepted_and_other_values_refused);
async fn format_protobuf_is_accepted_and_other_values_refused(app: TestApp) {
    let u = app.socket_user("pbformat").await;
    for refused in ["xml", "PROTOBUF", "Protobuf", "proto"] {
        let (status, body) = app.ws_query(&format!("format={refused}&token={}", u.token), &[]).await.refused();
        assert_eq!((status, body.as_str()), (400, "Invalid format parameter\n"), "{refused}");
    }
    let mut ws = app.ws_pb(&u.token, false).await;
    assert_eq!(ws.request(&ping("1")).await, envelope("1", Member::Pong(pb::Pong {})));
    // `format=json` is the JSON socket.
    let mut json_ws = app.ws_query(&format!("format=json&token={}", u.token), &[]).await.open();
    assert_eq!(json_ws.request(r#"{"cid":"1","ping":{}}"#).await, json!({"cid":"1","pong":{}}));
}
