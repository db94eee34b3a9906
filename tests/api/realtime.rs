//! realtime.md and status-presence.md: the /ws socket, status follow/update, presence events.

use std::time::Duration;

use hearth::realtime::protocol::ServerMessage;
use serde_json::{json, Value};

use crate::helpers::{wait_until, TestApp};
use crate::raw;
use crate::{both_backends, storage_free};

fn presence_of(event: &Value, list: &str) -> Vec<(String, String)> {
    event["status_presence_event"][list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| (p["user_id"].as_str().unwrap().to_string(), p["status"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

storage_free!(upgrade_without_token_is_401_missing_or_invalid_token);
async fn upgrade_without_token_is_401_missing_or_invalid_token(app: TestApp) {
    let (status, body) = app.ws_query("lang=en&status=true", &[]).await.refused();
    assert_eq!((status, body.as_str()), (401, "Missing or invalid token\n"));
    let (status, _) = app.ws_query("token=garbage", &[]).await.refused();
    assert_eq!(status, 401);
}

storage_free!(bad_format_is_400_before_the_token);
async fn bad_format_is_400_before_the_token(app: TestApp) {
    let (status, body) = app.ws_query("format=xml&token=garbage", &[]).await.refused();
    assert_eq!((status, body.as_str()), (400, "Invalid format parameter\n"));
    // The value is case-sensitive.
    let (status, body) = app.ws_query("format=JSON&token=garbage", &[]).await.refused();
    assert_eq!((status, body.as_str()), (400, "Invalid format parameter\n"));
    // protobuf is a format: the token is checked next.
    let (status, body) = app.ws_query("format=protobuf&token=garbage", &[]).await.refused();
    assert_eq!((status, body.as_str()), (401, "Missing or invalid token\n"));
}

storage_free!(refresh_token_and_bad_authorization_header_are_refused);
async fn refresh_token_and_bad_authorization_header_are_refused(app: TestApp) {
    let login = app.device("ws-auth-device-1").await;
    let (status, _) = app.ws_query(&format!("token={}", login.refresh_token()), &[]).await.refused();
    assert_eq!(status, 401);
    // A header wins over the query, and must be a Bearer.
    let basic = "Basic ZGVmYXVsdGtleTo=";
    let (status, _) = app.ws_query(&format!("token={}", login.token()), &[("authorization", basic)]).await.refused();
    assert_eq!(status, 401);
    let bearer = format!("Bearer {}", login.token());
    let ws = app.ws_query("token=garbage", &[("authorization", &bearer)]).await;
    assert!(matches!(ws, crate::ws_client::Upgrade::Open(_)));
}

both_backends!(logged_out_token_cannot_open_a_socket);
async fn logged_out_token_cannot_open_a_socket(app: TestApp) {
    let login = app.device("ws-logout-device").await;
    let token = login.token();
    assert_eq!(app.post_bearer("/v2/session/logout", &token, &format!(r#"{{"token":"{token}"}}"#)).await.status, 200);
    let (status, _) = app.ws_query(&format!("token={token}"), &[]).await.refused();
    assert_eq!(status, 401);
}

storage_free!(ping_is_answered_with_pong_and_cid);
async fn ping_is_answered_with_pong_and_cid(app: TestApp) {
    let u = app.socket_user("pinger").await;
    let mut ws = app.ws(&u.token, false).await;
    assert_eq!(ws.request(r#"{"cid":"7","ping":{}}"#).await, json!({"cid":"7","pong":{}}));
    assert_eq!(ws.request(r#"{"ping":{}}"#).await, json!({"pong":{}}));
    // A client pong is accepted and not answered.
    ws.send(r#"{"pong":{}}"#).await;
    assert_eq!(ws.request(r#"{"cid":"8","ping":{}}"#).await, json!({"cid":"8","pong":{}}));
}

both_backends!(status_true_sends_own_join_first);
async fn status_true_sends_own_join_first(app: TestApp) {
    let u = app.socket_user("joiner").await;
    let mut ws = app.ws(&u.token, true).await;
    let event = ws.recv().await;
    let join = &event["status_presence_event"]["joins"][0];
    assert_eq!(join["user_id"], u.id);
    assert_eq!(join["username"], "joiner");
    assert_eq!(join["status"], "");
    let session_id = join["session_id"].as_str().unwrap();
    assert_eq!(session_id.len(), 36);
    assert_eq!(&session_id[14..15], "1", "a version-1 UUID: {session_id}");
    assert!(event["status_presence_event"].get("leaves").is_none());
}

both_backends!(follow_update_unfollow_and_leave_on_disconnect);
async fn follow_update_unfollow_and_leave_on_disconnect(app: TestApp) {
    let a = app.socket_user("follower").await;
    let b = app.socket_user("followed").await;
    let mut wa = app.ws(&a.token, false).await;
    // B is offline: the answer lists nobody.
    let answer = wa.request(&format!(r#"{{"cid":"1","status_follow":{{"user_ids":["{}"]}}}}"#, b.id)).await;
    assert_eq!(answer, json!({"cid":"1","status":{}}));
    let mut wb = app.ws(&b.token, true).await;
    let join = wa.recv().await;
    assert_eq!(presence_of(&join, "joins"), [(b.id.clone(), String::new())]);
    wb.recv().await; // B's own join
                     // B changes status: one event with the new join and the old leave.
    assert_eq!(wb.request(r#"{"cid":"u1","status_update":{"status":"hello"}}"#).await["cid"], "u1");
    let change = wa.recv().await;
    assert_eq!(presence_of(&change, "joins"), [(b.id.clone(), "hello".to_string())]);
    assert_eq!(presence_of(&change, "leaves"), [(b.id.clone(), String::new())]);
    // Following by username now lists B's presence.
    let listed = wa.request(r#"{"cid":"2","status_follow":{"usernames":["followed"]}}"#).await;
    assert_eq!(listed["status"]["presences"][0]["status"], "hello");
    assert_eq!(listed["status"]["presences"][0]["user_id"], b.id);
    // Online over REST.
    let users = app.get_bearer(&format!("/v2/user?ids={}&ids={}", b.id, a.id), &a.token).await;
    for u in users.body["users"].as_array().unwrap() {
        assert_eq!(u.get("online") == Some(&json!(true)), u["id"] == b.id.as_str(), "{u}");
    }
    // Unfollow: no more events.
    assert_eq!(
        wa.request(&format!(r#"{{"cid":"3","status_unfollow":{{"user_ids":["{}"]}}}}"#, b.id)).await,
        json!({"cid":"3"})
    );
    wb.send(r#"{"status_update":{"status":"again"}}"#).await;
    wa.silent_for(300).await;
    // Follow again, then B disconnects: a leave with the last status.
    wa.request(&format!(r#"{{"cid":"4","status_follow":{{"user_ids":["{}"]}}}}"#, b.id)).await;
    wb.close(1000).await;
    let leave = wa.recv().await;
    assert_eq!(presence_of(&leave, "leaves"), [(b.id.clone(), "again".to_string())]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let account = app.get_bearer(&format!("/v2/user?ids={}", b.id), &a.token).await;
    assert!(account.body["users"][0].get("online").is_none());
}

both_backends!(status_update_without_value_appears_offline);
async fn status_update_without_value_appears_offline(app: TestApp) {
    let u = app.socket_user("ghostly").await;
    let mut ws = app.ws(&u.token, true).await;
    ws.recv().await;
    assert_eq!(ws.request(r#"{"cid":"1","status_update":{}}"#).await, json!({"cid":"1"}));
    let leave = ws.recv().await;
    assert_eq!(presence_of(&leave, "leaves"), [(u.id.clone(), String::new())]);
    // Without a status presence, {} does nothing but answer.
    assert_eq!(ws.request(r#"{"status_update":{}}"#).await, json!({}));
    ws.silent_for(200).await;
}

storage_free!(status_longer_than_2048_bytes_is_bad_input);
async fn status_longer_than_2048_bytes_is_bad_input(app: TestApp) {
    let u = app.socket_user("verbose").await;
    let mut ws = app.ws(&u.token, false).await;
    let ok = "é".repeat(1024);
    assert_eq!(ws.request(&format!(r#"{{"cid":"1","status_update":{{"status":"{ok}"}}}}"#)).await, json!({"cid":"1"}));
    ws.recv().await; // own join
    let long = "a".repeat(2049);
    let err = ws.request(&format!(r#"{{"cid":"2","status_update":{{"status":"{long}"}}}}"#)).await;
    assert_eq!(err, json!({"cid":"2","error":{"code":3,"message":"Status must be 2048 characters or less"}}));
    assert_eq!(ws.request(r#"{"cid":"3","ping":{}}"#).await, json!({"cid":"3","pong":{}}));
}

both_backends!(follow_rejects_bad_ids_and_empty_usernames_and_skips_self);
async fn follow_rejects_bad_ids_and_empty_usernames_and_skips_self(app: TestApp) {
    let u = app.socket_user("selfish").await;
    let mut ws = app.ws(&u.token, true).await;
    ws.recv().await;
    let err = ws.request(r#"{"cid":"1","status_follow":{"user_ids":["not-a-uuid"]}}"#).await;
    assert_eq!(err, json!({"cid":"1","error":{"code":3,"message":"Invalid user identifier"}}));
    let err = ws.request(r#"{"cid":"2","status_follow":{"usernames":[""]}}"#).await;
    assert_eq!(err, json!({"cid":"2","error":{"code":3,"message":"Invalid username"}}));
    let me = ws
        .request(&format!(r#"{{"cid":"3","status_follow":{{"user_ids":["{}"],"usernames":["selfish"]}}}}"#, u.id))
        .await;
    assert_eq!(me, json!({"cid":"3","status":{}}));
    let unknown = ws.request(r#"{"cid":"4","status_follow":{"usernames":["nobody-here"]}}"#).await;
    assert_eq!(unknown, json!({"cid":"4","status":{}}));
    let err = ws.request(r#"{"cid":"5","status_unfollow":{"user_ids":["bad"]}}"#).await;
    assert_eq!(err["error"]["code"], 3);
}

storage_free!(malformed_envelopes_close_the_socket);
async fn malformed_envelopes_close_the_socket(app: TestApp) {
    let u = app.socket_user("malformed").await;
    for bad in
        [r#"{"foo":{}}"#, r#"{"ping":{"x":1}}"#, r#"{"ping":{},"pong":{}}"#, r#"{"cid":5,"ping":{}}"#, "not json"]
    {
        let mut ws = app.ws(&u.token, false).await;
        ws.send(bad).await;
        let (code, reason, texts) = ws.closed().await;
        assert_eq!((code, reason.as_str()), (1000, "received malformed payload"), "{bad}");
        assert!(texts.is_empty());
    }
}

storage_free!(missing_and_unrecognized_payloads_error_then_close);
async fn missing_and_unrecognized_payloads_error_then_close(app: TestApp) {
    let u = app.socket_user("missing").await;
    let mut ws = app.ws(&u.token, false).await;
    ws.send(r#"{"cid":"m1"}"#).await;
    let (code, reason, texts) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "error processing message"));
    assert_eq!(texts, [json!({"cid":"m1","error":{"code":2,"message":"Missing message."}})]);
    let mut ws = app.ws(&u.token, false).await;
    ws.send(r#"{"cid":"s1","status":{}}"#).await;
    let (code, reason, texts) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "error processing message"));
    assert_eq!(texts, [json!({"cid":"s1","error":{"code":1,"message":"Unrecognized message."}})]);
}

storage_free!(binary_frame_on_json_socket_closes);
async fn binary_frame_on_json_socket_closes(app: TestApp) {
    use futures_util::SinkExt;
    let u = app.socket_user("binary").await;
    let mut ws = app.ws(&u.token, false).await;
    ws.stream.send(tokio_tungstenite::tungstenite::Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "received unexpected WebSocket message type"));
}

storage_free!(message_over_4096_bytes_closes_with_1009);
async fn message_over_4096_bytes_closes_with_1009(app: TestApp) {
    let u = app.socket_user("oversized").await;
    let mut ws = app.ws(&u.token, false).await;
    let prefix = r#"{"cid":""#;
    let exact = format!("{prefix}{}\",\"ping\":{{}}}}", "x".repeat(4096 - prefix.len() - 12));
    assert_eq!(exact.len(), 4096);
    assert_eq!(ws.request(&exact).await["pong"], json!({}));
    let over = format!("{prefix}{}\",\"ping\":{{}}}}", "x".repeat(4097 - prefix.len() - 12));
    ws.send(&over).await;
    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1009, ""));
}

storage_free!(client_close_code_is_echoed_with_empty_reason);
async fn client_close_code_is_echoed_with_empty_reason(app: TestApp) {
    let u = app.socket_user("closer").await;
    let mut ws = app.ws(&u.token, false).await;
    use futures_util::SinkExt;
    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::from(4000),
        reason: "bye".into(),
    };
    ws.stream.send(tokio_tungstenite::tungstenite::Message::Close(Some(frame))).await.unwrap();
    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (4000, ""));
}

storage_free!(silent_client_is_pinged_then_dropped);
async fn silent_client_is_pinged_then_dropped(app: TestApp) {
    let u = app.socket_user("silent").await;
    // A raw connection: nothing answers the ping (a client library would).
    let mut stream = raw::upgrade(&app.addr, &u.token).await;
    let socket = &app.config.socket;
    let (ping_secs, pong_secs) = (socket.ping_period_ms / 1000, socket.pong_wait_ms / 1000);
    assert_eq!(raw::ws_read(&mut stream, Duration::from_millis(300)).await, None);
    // Just short of the ping period: still nothing.
    app.clock.advance(ping_secs as i64 - 1);
    assert_eq!(raw::ws_read(&mut stream, Duration::from_millis(300)).await, None);
    app.clock.advance(1);
    let ping = raw::ws_read(&mut stream, Duration::from_secs(3)).await;
    assert_eq!(ping, Some((0x9, vec![])), "an empty ping after {ping_secs} s of silence");
    app.clock.advance((pong_secs - ping_secs) as i64);
    let (opcode, payload) = raw::ws_read(&mut stream, Duration::from_secs(3)).await.expect("a close frame");
    assert_eq!(opcode, 0x8);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1000);
    let reason = String::from_utf8_lossy(&payload[2..]);
    assert!(reason.starts_with("read tcp 127.0.0.1:") && reason.ends_with(": i/o timeout"), "{reason}");
}

storage_free!(answering_pings_keeps_the_socket);
async fn answering_pings_keeps_the_socket(app: TestApp) {
    let u = app.socket_user("lively").await;
    let mut ws = app.ws(&u.token, false).await;
    // Three ping periods, more than the pong wait: reading lets tungstenite answer each
    // ping with a pong, and every pong counts as life.
    let ping_secs = (app.config.socket.ping_period_ms / 1000) as i64;
    assert!(3 * ping_secs * 1000 > app.config.socket.pong_wait_ms as i64);
    for _ in 0..3 {
        app.clock.advance(ping_secs);
        ws.silent_for(300).await;
    }
    assert_eq!(ws.request(r#"{"cid":"1","ping":{}}"#).await, json!({"cid":"1","pong":{}}));
}

both_backends!(ban_sends_notification_then_closes_every_socket);
async fn ban_sends_notification_then_closes_every_socket(app: TestApp) {
    let u = app.socket_user("cheater").await;
    let watcher = app.socket_user("watcher").await;
    let mut w = app.ws(&watcher.token, false).await;
    w.request(&format!(r#"{{"cid":"1","status_follow":{{"user_ids":["{}"]}}}}"#, u.id)).await;
    let mut one = app.ws(&u.token, true).await;
    let mut two = app.ws(&u.token, false).await;
    w.recv().await; // join
    let uid = uuid::Uuid::parse_str(&u.id).unwrap();
    app.state.accounts.ban(uid).await.unwrap();
    for ws in [&mut one, &mut two] {
        let (code, reason, texts) = ws.closed().await;
        assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
        let note = texts.iter().find(|t| t.get("notifications").is_some()).expect("banned notification");
        let n = &note["notifications"]["notifications"][0];
        assert_eq!(n["subject"], "banned");
        assert_eq!(n["code"], -8);
        assert_eq!(n["content"], "{}");
    }
    let leave = w.recv().await;
    assert_eq!(presence_of(&leave, "leaves"), [(u.id.clone(), String::new())]);
}

both_backends!(account_delete_and_logout_close_sockets);
async fn account_delete_and_logout_close_sockets(app: TestApp) {
    // Per-token logout closes the socket opened with that token.
    let a = app.socket_user("tokenlogout").await;
    let mut ws = app.ws(&a.token, false).await;
    app.post_bearer("/v2/session/logout", &a.token, &format!(r#"{{"token":"{}"}}"#, a.token)).await;
    let (code, reason, texts) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    assert!(texts.is_empty());
    // Account delete closes every socket.
    let b = app.socket_user("deleted").await;
    let mut ws = app.ws(&b.token, true).await;
    ws.recv().await;
    assert_eq!(app.delete_bearer("/v2/account", &b.token).await.status, 200);
    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    // Logout-all closes the sockets of every token issued before it, the caller's too,
    // even within the same second; a socket of a later login stays.
    let c = app.socket_user("logoutall").await;
    app.clock.freeze();
    let mut old = app.ws(&c.token, false).await;
    let same_second = app.device("device-logoutall-0001").await.token();
    let mut caller = app.ws(&same_second, false).await;
    assert_eq!(app.post_bearer("/v2/session/logout", &same_second, "{}").await.status, 200);
    let fresh = app.device("device-logoutall-0001").await.token();
    let mut new = app.ws(&fresh, false).await;
    for socket in [&mut old, &mut caller] {
        let (code, reason, _) = socket.closed().await;
        assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    }
    assert_eq!(new.request(r#"{"cid":"1","ping":{}}"#).await, json!({"cid":"1","pong":{}}));
}

both_backends!(single_socket_kicks_the_older_socket, |c: &mut hearth::config::Config| c.session.single_socket = true);
async fn single_socket_kicks_the_older_socket(app: TestApp) {
    let u = app.socket_user("single").await;
    let mut first = app.ws(&u.token, false).await;
    let mut second = app.ws(&u.token, false).await;
    let (code, reason, texts) = first.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    assert_eq!(texts[0]["notifications"]["notifications"][0]["subject"], "single_socket");
    assert_eq!(texts[0]["notifications"]["notifications"][0]["code"], -7);
    assert_eq!(second.request(r#"{"cid":"1","ping":{}}"#).await, json!({"cid":"1","pong":{}}));
}

storage_free!(slow_reader_is_closed_when_its_queue_overflows, |c: &mut hearth::config::Config| {
    c.socket.outgoing_queue_size = 8;
    c.socket.write_wait_ms = 60_000;
});
async fn slow_reader_is_closed_when_its_queue_overflows(app: TestApp) {
    let slow = app.socket_user("slowreader").await;
    let loud = app.socket_user("loudwriter").await;
    let mut s = app.ws(&slow.token, false).await;
    s.request(&format!(r#"{{"cid":"1","status_follow":{{"user_ids":["{}"]}}}}"#, loud.id)).await;
    let sent = flood_status_updates(&app, &loud.token, 8000).await;
    // 8000 events of 2 KB are far more than TCP buffers hold while the slow socket reads nothing.
    let (code, reason, texts) = s.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "session outgoing queue full"));
    assert!(texts.len() < sent, "{} of {sent} frames delivered", texts.len());
}

storage_free!(client_that_stops_reading_is_dropped_after_write_wait, |c: &mut hearth::config::Config| {
    c.socket.write_wait_ms = 300;
});
async fn client_that_stops_reading_is_dropped_after_write_wait(app: TestApp) {
    let slow = app.socket_user("stalled").await;
    let loud = app.socket_user("chatty").await;
    let mut s = app.ws(&slow.token, false).await;
    s.request(&format!(r#"{{"cid":"1","status_follow":{{"user_ids":["{}"]}}}}"#, loud.id)).await;
    flood_status_updates(&app, &loud.token, 8000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The server gave up on the write: the connection ends (a close frame may not make it).
    use futures_util::StreamExt;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.stream.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    assert!(wait_until(|| app.state.registry.socket_count() == 0).await);
}

/// Sends `count` status updates of ~2 KB from a socket that reads everything it gets.
async fn flood_status_updates(app: &TestApp, token: &str, count: usize) -> usize {
    use futures_util::{SinkExt, StreamExt};
    let ws = app.ws(token, false).await;
    let (mut sink, mut stream) = ws.stream.split();
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    let big = "s".repeat(2000);
    for n in 0..count {
        let update = format!(r#"{{"status_update":{{"status":"{n}{big}"}}}}"#);
        sink.send(tokio_tungstenite::tungstenite::Message::Text(update.into())).await.expect("send");
        // The test runtime has one thread: let the drain keep this socket's own queue short.
        tokio::task::yield_now().await;
    }
    let _ = sink.close().await;
    drain.abort();
    count
}

storage_free!(opening_and_killing_thousands_of_sockets_leaves_registries_empty);
async fn opening_and_killing_thousands_of_sockets_leaves_registries_empty(app: TestApp) {
    let u = app.socket_user("leaky").await;
    for wave in 0..4 {
        let mut sockets = Vec::new();
        for _ in 0..500 {
            sockets.push(app.ws(&u.token, wave % 2 == 0).await);
        }
        let registered = wait_until(|| app.state.registry.socket_count() == 500).await;
        assert!(registered, "{} sockets registered", app.state.registry.socket_count());
        // Half close cleanly, half vanish.
        for (n, ws) in sockets.into_iter().enumerate() {
            if n % 2 == 0 {
                ws.close(1000).await;
            } else {
                drop(ws);
            }
        }
        wait_until(|| app.state.registry.socket_count() == 0).await;
    }
    assert_eq!(app.state.registry.socket_count(), 0);
    assert_eq!(app.state.status.presence_count(), 0);
    assert_eq!(app.state.status.followed_user_count(), 0);
}

storage_free!(ws_route_is_get_only_and_needs_a_handshake);
async fn ws_route_is_get_only_and_needs_a_handshake(app: TestApp) {
    let res = app.client.post(app.url("/ws")).send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(404, 5, "Not Found");
    let res = app.client.get(app.url("/ws/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let token = app.new_device_token().await;
    let res = app.client.get(app.url(&format!("/ws?token={token}"))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(res.headers()["sec-websocket-version"], "13");
    assert_eq!(res.text().await.unwrap(), "Bad Request\n");
}

storage_free!(shutdown_closes_sockets_with_a_reason_in_bounded_time);
async fn shutdown_closes_sockets_with_a_reason_in_bounded_time(mut app: TestApp) {
    let u = app.socket_user("shutdown").await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(app.ws(&u.token, true).await);
    }
    let started = std::time::Instant::now();
    let reader = async {
        let mut reasons = Vec::new();
        for ws in sockets.iter_mut() {
            let (code, reason, _) = ws.closed().await;
            reasons.push((code, reason));
        }
        reasons
    };
    let (reasons, ()) = tokio::join!(reader, app.shutdown());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    for (code, reason) in reasons {
        assert_eq!((code, reason.as_str()), (1000, "server shutting down"));
    }
    assert_eq!(app.state.registry.socket_count(), 0);
}

storage_free!(registry_delivers_to_and_disconnects_one_session);
async fn registry_delivers_to_and_disconnects_one_session(app: TestApp) {
    let u = app.socket_user("targeted").await;
    let mut ws = app.ws(&u.token, true).await;
    let join = ws.recv().await;
    let session: uuid::Uuid =
        join["status_presence_event"]["joins"][0]["session_id"].as_str().unwrap().parse().unwrap();
    assert!(app.state.bus.deliver(session, &ServerMessage::Pong));
    assert_eq!(ws.recv().await, json!({"pong":{}}));
    assert!(!app.state.bus.deliver(uuid::Uuid::new_v4(), &ServerMessage::Pong));
    assert!(app.state.registry.disconnect_session(session));
    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    assert!(wait_until(|| app.state.registry.socket_count() == 0).await);
    assert!(!app.state.registry.disconnect_session(session));
}

storage_free!(frame_header_over_the_limit_closes_1009_before_the_payload);
async fn frame_header_over_the_limit_closes_1009_before_the_payload(app: TestApp) {
    use tokio::io::AsyncWriteExt;
    let u = app.socket_user("hugeframe").await;
    let (mut read, mut write) = raw::upgrade(&app.addr, &u.token).await.into_split();
    // A text frame announcing 300 MB, then 8 MB of it (well short of the announced size).
    write.write_all(&raw::ws_header(true, 0x1, 300_000_000)).await.unwrap();
    let started = std::time::Instant::now();
    let streamer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..128 {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let code = raw::ws_close_code(&mut read, Duration::from_secs(3)).await;
    assert_eq!(code, Some(1009));
    assert!(started.elapsed() < Duration::from_secs(1), "closed after {:?}", started.elapsed());
    assert!(wait_until(|| app.state.registry.socket_count() == 0).await);
    streamer.abort();
}

storage_free!(fragments_of_exactly_the_limit_pass_and_one_more_byte_closes_1009_at_its_header);
async fn fragments_of_exactly_the_limit_pass_and_one_more_byte_closes_1009_at_its_header(app: TestApp) {
    use tokio::io::AsyncWriteExt;
    let u = app.socket_user("fragments").await;
    let mut ws = raw::upgrade(&app.addr, &u.token).await;
    // {"cid":"…","ping":{}} of exactly 4096 bytes, in three fragments.
    let message = format!(r#"{{"cid":"{}","ping":{{}}}}"#, "x".repeat(4096 - 20));
    assert_eq!(message.len(), 4096);
    let bytes = message.as_bytes();
    let mut out = raw::ws_frame(false, 0x1, &bytes[..3000]);
    out.extend(raw::ws_frame(false, 0x0, &bytes[3000..4000]));
    out.extend(raw::ws_frame(true, 0x0, &bytes[4000..]));
    ws.write_all(&out).await.unwrap();
    let (opcode, answer) = raw::ws_read(&mut ws, Duration::from_secs(2)).await.expect("an answer");
    assert_eq!(opcode, 0x1);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["pong"], json!({}));
    assert_eq!(answer["cid"].as_str().map(str::len), Some(4096 - 20));
    // 3000 + 1000 + 97 = 4097: the third header alone closes the socket.
    let mut out = raw::ws_frame(false, 0x1, &bytes[..3000]);
    out.extend(raw::ws_frame(false, 0x0, &bytes[3000..4000]));
    out.extend(raw::ws_header(true, 0x0, 97));
    ws.write_all(&out).await.unwrap();
    assert_eq!(raw::ws_close_code(&mut ws, Duration::from_secs(1)).await, Some(1009));
}
