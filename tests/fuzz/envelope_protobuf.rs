//! The protobuf envelope decoder of `/ws?format=protobuf` (realtime-protobuf.md §2.1): any
//! bytes up to the frame limit, and near-valid envelopes, never panic and stay within an
//! allocation bound; an envelope built with prost decodes to the request its member names,
//! with its cid.

use hearth::proto::realtime as pb;
use hearth::realtime::protobuf::decode;
use hearth::realtime::protocol::{Refusal, Request};
use pb::envelope::Message as Member;
use proptest::prelude::*;
use prost::Message;

use crate::alloc::peak_during;
use crate::{config, progress, regressions};

/// `socket.max_message_size_bytes` by default: the transport refuses a longer frame first.
const MAX_MESSAGE: usize = 4096;
/// prost decodes into owned strings and vectors: the worst input is many empty repeated
/// strings (2 bytes each, a 24-byte `String` each in a doubling `Vec`: up to 24 bytes per
/// input byte just after a doubling, 36 while old and new buffers coexist). 64 leaves room.
const PEAK_PER_BYTE: usize = 64;
const PEAK_FLOOR: usize = 1024;

fn peak_bound(len: usize) -> usize {
    PEAK_FLOOR + PEAK_PER_BYTE * len
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11".to_string()),
        "[a-z0-9_-]{1,12}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ]
}

/// A client envelope Hearth serves, built with prost.
fn member() -> impl Strategy<Value = Member> {
    prop_oneof![
        Just(Member::Ping(pb::Ping {})),
        Just(Member::Pong(pb::Pong {})),
        (prop::collection::vec(word(), 0..6), prop::collection::vec(word(), 0..6))
            .prop_map(|(user_ids, usernames)| Member::StatusFollow(pb::StatusFollow { user_ids, usernames })),
        prop::collection::vec(word(), 0..6)
            .prop_map(|user_ids| Member::StatusUnfollow(pb::StatusUnfollow { user_ids })),
        prop::option::of(word()).prop_map(|status| Member::StatusUpdate(pb::StatusUpdate { status })),
    ]
}

fn envelope() -> impl Strategy<Value = pb::Envelope> {
    (word(), member()).prop_map(|(cid, message)| pb::Envelope { cid, message: Some(message) })
}

/// Byte edits: overwrite, insert, delete, truncate.
fn mutate(mut bytes: Vec<u8>, edits: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(kind, at, value) in edits {
        let at = if bytes.is_empty() { 0 } else { at % (bytes.len() + 1) };
        match kind % 4 {
            0 if at < bytes.len() => bytes[at] = value,
            1 => bytes.insert(at, value),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(config(regressions!("envelope_protobuf")))]

    #[test]
    fn protobuf_envelope_of_any_bytes_is_refused_or_read_within_bounds(
        bytes in prop::collection::vec(any::<u8>(), 0..=MAX_MESSAGE),
    ) {
        progress("protobuf_envelope_of_any_bytes_is_refused_or_read_within_bounds");
        let (result, peak) = peak_during(|| decode(&bytes));
        prop_assert!(peak <= peak_bound(bytes.len()), "{} bytes held for {} input bytes", peak, bytes.len());
        if let Err((_, refusal)) = result {
            prop_assert!(matches!(refusal, Refusal::Malformed | Refusal::MissingPayload | Refusal::Unrecognized));
        }
    }

    #[test]
    fn protobuf_envelope_near_valid_never_panics(
        envelope in envelope(),
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        progress("protobuf_envelope_near_valid_never_panics");
        let bytes = mutate(envelope.encode_to_vec(), &edits);
        let (_, peak) = peak_during(|| decode(&bytes));
        prop_assert!(peak <= peak_bound(bytes.len()), "{} bytes held for {} input bytes", peak, bytes.len());
    }

    #[test]
    fn protobuf_envelope_decodes_to_the_request_it_carries(envelope in envelope()) {
        progress("protobuf_envelope_decodes_to_the_request_it_carries");
        let bytes = envelope.encode_to_vec();
        let decoded = decode(&bytes);
        let Ok(decoded) = decoded else { return Err(TestCaseError::fail(format!("{decoded:?}"))) };
        prop_assert_eq!(decoded.cid, Some(envelope.cid.clone()).filter(|c| !c.is_empty()));
        match (envelope.message, decoded.request) {
            (Some(Member::Ping(_)), Request::Ping) | (Some(Member::Pong(_)), Request::Pong) => {}
            (Some(Member::StatusFollow(f)), Request::StatusFollow(r)) => {
                prop_assert_eq!(r.user_ids, Some(f.user_ids));
                prop_assert_eq!(r.usernames, Some(f.usernames));
            }
            (Some(Member::StatusUnfollow(u)), Request::StatusUnfollow(r)) => prop_assert_eq!(r.user_ids, Some(u.user_ids)),
            (Some(Member::StatusUpdate(u)), Request::StatusUpdate(r)) => prop_assert_eq!(r.status, u.status),
            (sent, got) => return Err(TestCaseError::fail(format!("{sent:?} decoded as {got:?}"))),
        }
    }
}

/// The worst case the bound is written for: empty user ids, one past a power of two, so the
/// vector has just doubled (and may hold its old and new buffers at once while it grows).
#[test]
fn protobuf_envelope_worst_case_stays_under_the_bound() {
    let follow = pb::StatusFollow { user_ids: vec![String::new(); 1025], usernames: Vec::new() };
    let bytes = pb::Envelope { cid: String::new(), message: Some(Member::StatusFollow(follow)) }.encode_to_vec();
    assert!(bytes.len() <= MAX_MESSAGE, "{}", bytes.len());
    let (result, peak) = peak_during(|| decode(&bytes));
    assert!(matches!(result.map(|e| e.request), Ok(Request::StatusFollow(_))));
    assert!(peak <= peak_bound(bytes.len()), "{peak} bytes held for {} input bytes", bytes.len());
    // ... and not far under it: the bound is not vacuous.
    assert!(peak * 4 >= peak_bound(bytes.len()), "{peak} bytes held for {} input bytes", bytes.len());
}
