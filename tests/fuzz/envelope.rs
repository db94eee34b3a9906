//! The realtime envelope decoder (realtime.md §3.2) against a model written from the spec,
//! on near-valid envelopes, arbitrary text and envelopes near the 4 KiB frame limit.

// The table of message names is the spec's list (realtime.md §3.1), used as data; the model
// below is written independently of the decoder.
use hearth::realtime::protocol::{
    decode, Envelope, Refusal, Request, StatusFollow, StatusUnfollow, StatusUpdate, MESSAGES,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::alloc::peak_during;
use crate::json::{apply, cut, edits, text, tree, valid_tree, Json};
use crate::{config, progress, regressions};

/// `socket.max_message_size_bytes` by default: the transport refuses a longer frame before
/// the decoder sees it.
const MAX_MESSAGE: usize = 4096;

/// Bytes a decode may hold per input byte. The decoder reads the whole object into
/// `serde_json::Value`s before judging the keys, so the worst input is many tiny objects:
/// `{"":0},` is 7 bytes and costs one B-tree leaf (11 keys of 24 bytes + 11 values of 32 +
/// header ≈ 0.6 KiB) plus its 32-byte slot in a doubling array, about 100 bytes per byte
/// (see `envelope_worst_cases_stay_under_the_bound`). 128 leaves a quarter of room.
const PEAK_PER_BYTE: usize = 128;
/// What any decode may take regardless of size (the error path's small strings).
const PEAK_FLOOR: usize = 1024;

/// The most a 4 KiB envelope may allocate: 513 KiB, once, freed before the next frame.
fn peak_bound(len: usize) -> usize {
    PEAK_FLOOR + PEAK_PER_BYTE * len
}

/// Keys and strings the generators draw from: envelope fields in both spellings, the body
/// fields of the served messages, and near misses.
const WORDS: &[&str] = &[
    "cid",
    "ping",
    "pong",
    "rpc",
    "status",
    "status_follow",
    "statusFollow",
    "status_unfollow",
    "statusUnfollow",
    "status_update",
    "statusUpdate",
    "channel_join",
    "channelJoin",
    "match_data_send",
    "matchDataSend",
    "party_join_request_list",
    "partyJoinRequestList",
    "status_presence_event",
    "error",
    "user_ids",
    "userIds",
    "usernames",
    "id",
    "payload",
    "Ping",
    "status_Follow",
    "statusfollow",
    "",
    "1",
    "a",
    "8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11",
];

fn lower_camel(snake: &str) -> String {
    let mut parts = snake.split('_');
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

fn message(key: &str) -> Option<(&'static str, bool)> {
    MESSAGES.iter().copied().find(|(name, _)| *name == key || lower_camel(name) == key)
}

/// `null` or an array of strings, as an optional repeated string field.
fn strings(value: Option<&Value>) -> Result<Option<Vec<String>>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_string).ok_or(())).collect::<Result<_, _>>().map(Some)
        }
        Some(_) => Err(()),
    }
}

/// A body may only hold the message's fields, each once under either spelling.
fn fields_known(body: &Map<String, Value>, fields: &[&str]) -> bool {
    let known = body.keys().all(|k| fields.contains(&k.as_str()));
    known && !(body.contains_key("user_ids") && body.contains_key("userIds"))
}

fn request(name: &'static str, body: &Map<String, Value>) -> Result<Request, ()> {
    let user_ids = || strings(body.get("user_ids").or_else(|| body.get("userIds")));
    match name {
        "ping" if body.is_empty() => Ok(Request::Ping),
        "pong" if body.is_empty() => Ok(Request::Pong),
        "ping" | "pong" => Err(()),
        "status_follow" if fields_known(body, &["user_ids", "userIds", "usernames"]) => {
            Ok(Request::StatusFollow(StatusFollow {
                user_ids: user_ids()?,
                usernames: strings(body.get("usernames"))?,
            }))
        }
        "status_unfollow" if fields_known(body, &["user_ids", "userIds"]) => {
            Ok(Request::StatusUnfollow(StatusUnfollow { user_ids: user_ids()? }))
        }
        "status_update" if fields_known(body, &["status"]) => match body.get("status") {
            None | Some(Value::Null) => Ok(Request::StatusUpdate(StatusUpdate { status: None })),
            Some(Value::String(s)) => Ok(Request::StatusUpdate(StatusUpdate { status: Some(s.clone()) })),
            Some(_) => Err(()),
        },
        "status_follow" | "status_unfollow" | "status_update" => Err(()),
        "rpc" => Ok(Request::Rpc),
        other => Ok(Request::Unsupported(other)),
    }
}

/// What realtime.md §3.2 says the server makes of `text`.
fn model(text: &str) -> Result<Envelope, (Option<String>, Refusal)> {
    let malformed = Err((None, Refusal::Malformed));
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else { return malformed };
    let cid = match map.get("cid") {
        None | Some(Value::Null) => None,
        Some(Value::String(cid)) => Some(cid.clone()).filter(|c| !c.is_empty()),
        Some(_) => return malformed,
    };
    let mut fields = Vec::new();
    for (key, value) in map.iter().filter(|(key, _)| *key != "cid") {
        let Some((name, from_client)) = message(key) else { return malformed };
        match value {
            Value::Null => fields.push(None),
            Value::Object(body) => fields.push(Some((name, from_client, body))),
            _ => return malformed,
        }
    }
    if fields.len() > 1 {
        return Err((cid, Refusal::Malformed));
    }
    let Some(Some((name, from_client, body))) = fields.pop() else { return Err((cid, Refusal::MissingPayload)) };
    if !from_client {
        return Err((cid, Refusal::Unrecognized));
    }
    match request(name, body) {
        Ok(request) => Ok(Envelope { cid, request }),
        Err(()) => Err((cid, Refusal::Malformed)),
    }
}

/// A message field name: served ones more often, in either spelling.
fn message_key() -> impl Strategy<Value = String> {
    let served =
        proptest::sample::select(&["ping", "pong", "rpc", "status_follow", "status_unfollow", "status_update"][..]);
    let any_message = proptest::sample::select(MESSAGES).prop_map(|(name, _)| name);
    (prop_oneof![2 => served, 1 => any_message], any::<bool>()).prop_map(|(name, camel)| {
        if camel {
            lower_camel(name)
        } else {
            name.to_string()
        }
    })
}

/// A message body: mostly an object of the served messages' fields with values of the
/// right or wrong type.
fn body() -> impl Strategy<Value = Json> {
    let value = prop_oneof![
        3 => proptest::collection::vec(text(WORDS).prop_map(Json::Text), 0..3).prop_map(Json::Array),
        2 => text(WORDS).prop_map(Json::Text),
        1 => Just(Json::Null),
        1 => tree(WORDS),
    ];
    let field = prop_oneof![
        4 => proptest::sample::select(&["user_ids", "userIds", "usernames", "status"][..]).prop_map(str::to_string),
        1 => text(WORDS),
    ];
    prop_oneof![
        4 => proptest::collection::vec((field, value), 0..3).prop_map(Json::Object),
        1 => tree(WORDS),
        1 => Just(Json::Null),
    ]
}

/// Envelopes of message fields, a `cid` and stray keys, sometimes damaged.
fn near_valid() -> impl Strategy<Value = String> {
    let cid = prop_oneof![4 => text(WORDS).prop_map(Json::Text), 1 => Just(Json::Null), 1 => tree(WORDS)];
    let entry = prop_oneof![
        6 => (message_key(), body()),
        2 => cid.prop_map(|cid| ("cid".to_string(), cid)),
        1 => (text(WORDS), tree(WORDS)),
    ];
    let damage = prop_oneof![2 => Just(Vec::new()), 1 => edits()];
    (proptest::collection::vec(entry, 0..4), damage)
        .prop_map(|(fields, edits)| cut(apply(&Json::Object(fields).render(), &edits), MAX_MESSAGE))
}

/// An array of `count` copies of a small tree inside an envelope, cut at the frame limit:
/// documents of 2 to 4 KiB, where the allocation bound matters.
fn large() -> impl Strategy<Value = String> {
    let frame = proptest::sample::select(
        &[
            (r#"{"ping":{},"x":["#, "]}"),
            (r#"{"cid":"1","rpc":{"payload":["#, "]}}"),
            (r#"{"status_follow":{"user_ids":["#, "]}}"),
        ][..],
    );
    (frame, tree(WORDS), 1..400usize, edits()).prop_map(|((head, tail), item, count, edits)| {
        let item = item.render();
        let mut out = String::from(head);
        for i in 0..count {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&item);
            if out.len() > MAX_MESSAGE {
                break;
            }
        }
        out.push_str(tail);
        cut(apply(&out, &edits), MAX_MESSAGE)
    })
}

fn envelope_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => near_valid(),
        2 => large(),
        1 => proptest::collection::vec(any::<u8>(), 0..MAX_MESSAGE).prop_map(|b| cut(String::from_utf8_lossy(&b).into_owned(), MAX_MESSAGE)),
        1 => proptest::collection::vec(any::<char>(), 0..64).prop_map(String::from_iter),
    ]
}

/// A request a client may send, in one of its spellings, with what it must decode to.
fn valid_request() -> impl Strategy<Value = (String, Json, Request)> {
    let ids = proptest::option::of(proptest::collection::vec(text(WORDS), 0..4));
    let unserved: Vec<&'static str> = MESSAGES
        .iter()
        .filter(|(name, client)| *client && !["ping", "pong", "rpc"].contains(name) && !name.starts_with("status_"))
        .map(|(name, _)| *name)
        .collect();
    let as_json = |ids: &Option<Vec<String>>| match ids {
        None => Json::Null,
        Some(ids) => Json::Array(ids.iter().cloned().map(Json::Text).collect()),
    };
    prop_oneof![
        Just(()).prop_map(|()| ("ping".to_string(), Json::Object(vec![]), Request::Ping)),
        Just(()).prop_map(|()| ("pong".to_string(), Json::Object(vec![]), Request::Pong)),
        (ids.clone(), ids.clone(), any::<bool>()).prop_map(move |(user_ids, usernames, camel)| {
            let key = if camel { "userIds" } else { "user_ids" };
            let body = Json::Object(vec![(key.into(), as_json(&user_ids)), ("usernames".into(), as_json(&usernames))]);
            ("status_follow".to_string(), body, Request::StatusFollow(StatusFollow { user_ids, usernames }))
        }),
        (ids, any::<bool>()).prop_map(move |(user_ids, camel)| {
            let key = if camel { "userIds" } else { "user_ids" };
            let body = Json::Object(vec![(key.into(), as_json(&user_ids))]);
            ("status_unfollow".to_string(), body, Request::StatusUnfollow(StatusUnfollow { user_ids }))
        }),
        proptest::option::of(text(WORDS)).prop_map(|status| {
            let body = Json::Object(vec![("status".into(), status.clone().map_or(Json::Null, Json::Text))]);
            ("status_update".to_string(), body, Request::StatusUpdate(StatusUpdate { status }))
        }),
        proptest::collection::vec((text(WORDS), valid_tree(WORDS)), 0..3).prop_map(|body| (
            "rpc".to_string(),
            Json::Object(body),
            Request::Rpc
        )),
        (proptest::sample::select(unserved), proptest::collection::vec((text(WORDS), valid_tree(WORDS)), 0..3))
            .prop_map(|(name, body)| (name.to_string(), Json::Object(body), Request::Unsupported(name))),
    ]
}

proptest! {
    #![proptest_config(config(regressions!("envelope")))]

    #[test]
    fn envelope_decode_agrees_with_the_spec_and_stays_bounded(text in envelope_text()) {
        progress("envelope_decode_agrees_with_the_spec_and_stays_bounded");
        let (outcome, peak) = peak_during(|| decode(&text));
        prop_assert_eq!(outcome, model(&text));
        prop_assert!(peak <= peak_bound(text.len()), "{} bytes held for a {}-byte envelope", peak, text.len());
    }

    #[test]
    fn valid_envelope_round_trips(
        (name, body, expected) in valid_request(),
        cid in proptest::option::of(text(WORDS)),
        camel in any::<bool>(),
        pretty in any::<bool>(),
    ) {
        progress("valid_envelope_round_trips");
        let key = if camel { lower_camel(&name) } else { name };
        let mut fields = vec![(key, body)];
        if let Some(cid) = &cid {
            fields.insert(0, ("cid".to_string(), Json::Text(cid.clone())));
        }
        let mut text = Json::Object(fields).render();
        if pretty {
            text = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        }
        let cid = cid.filter(|c| !c.is_empty());
        prop_assert_eq!(decode(&text), Ok(Envelope { cid, request: expected }));
    }
}

/// Documents built to cost the most per byte, each cut to the frame limit.
#[test]
fn envelope_worst_cases_stay_under_the_bound() {
    let fill = |head: &str, item: &str, tail: &str| {
        let mut out = String::from(head);
        while out.len() + item.len() + tail.len() <= MAX_MESSAGE {
            out.push_str(item);
        }
        out.pop();
        out + tail
    };
    let keys = {
        let mut out = String::from(r#"{"ping":{},"x":{"#);
        for a in 'a'..='z' {
            for b in 'a'..='z' {
                if out.len() < MAX_MESSAGE - 20 {
                    out.push_str(&format!(r#""{a}{b}":0,"#));
                }
            }
        }
        out.pop();
        out + "}}"
    };
    let nested = format!(r#"{{"ping":{{}},"x":{}{}}}"#, "[".repeat(126), "]".repeat(126));
    let cases = [
        fill(r#"{"ping":{},"x":["#, r#"{"":0},"#, "]}"),
        fill(r#"{"ping":{},"x":["#, "[0],", "]}"),
        fill(r#"{"ping":{},"x":["#, "0,", "]}"),
        fill(r#"{"ping":{},"x":["#, "[],", "]}"),
        fill(r#"{"status_follow":{"user_ids":["#, r#""","#, "]}}"),
        keys,
        nested,
    ];
    let mut worst = 0;
    for text in &cases {
        assert!(text.len() <= MAX_MESSAGE, "{}", text.len());
        let (outcome, peak) = peak_during(|| decode(text));
        assert!(outcome.is_err() || text.contains("user_ids"), "{outcome:?}");
        assert!(peak <= peak_bound(text.len()), "{peak} bytes for {}", &text[..40]);
        eprintln!("{peak:>7} bytes for {} bytes: {}", text.len(), &text[..40]);
        worst = worst.max(peak);
    }
    // The bound is not slack: the worst case uses most of it.
    assert!(worst > peak_bound(MAX_MESSAGE) / 2, "worst case only {worst} bytes");
}
