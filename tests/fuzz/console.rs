//! The console's account list parameters (console.md §3): the `filter` rule and the opaque
//! `cursor`, on arbitrary and near-valid text.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hearth::accounts::staff::{decode_cursor, encode_cursor, parse_filter};
use hearth::store::{AccountFilter, AfterCursor};
use proptest::prelude::*;
use uuid::Uuid;

use crate::alloc::peak_during;
use crate::json::{apply, edits};
use crate::{config, progress, regressions};

/// A filter or cursor keeps at most one copy of its text (a cursor also its base64-decoded
/// bytes, 3/4 of its length); twice the input leaves room for an escaped pattern.
fn peak_bound(len: usize) -> usize {
    64 + 2 * len
}

/// A username pattern also holds its pieces (the text between `%`s): a `String` of 24 bytes
/// each in a vector that may have doubled, so 48 bytes a piece on top.
fn filter_peak_bound(filter: &str) -> usize {
    peak_bound(filter.len()) + 48 * (filter.matches('%').count() + 1)
}

/// ASCII control characters, which no filter or cursor may hold.
fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

const WORDS: &[&str] = &[
    "",
    "bob",
    "Bob",
    "b%",
    "%",
    "%%",
    "_",
    "b_b",
    "\\",
    "a\\",
    "\\%",
    "\0",
    "user@example.com",
    "8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11",
    "8BD5E0B2-1E0C-4D8E-9D7C-0D1F6C5B2A11",
    "8bd5e0b21e0c4d8e9d7c0d1f6c5b2a11",
    "{8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11}",
    "urn:uuid:8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11",
    "8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a1%",
    "i:",
    "u:",
];

fn word() -> impl Strategy<Value = String> {
    let pieces = proptest::collection::vec(
        prop_oneof![3 => proptest::sample::select(WORDS).prop_map(str::to_string), 1 => any::<char>().prop_map(String::from)],
        0..4,
    );
    (pieces, edits()).prop_map(|(pieces, edits)| apply(&pieces.concat(), &edits))
}

/// The canonical 36-character form `8-4-4-4-12` of hex digits, in either case.
fn is_hyphenated_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}

proptest! {
    #![proptest_config(config(regressions!("console")))]

    #[test]
    fn console_filter_follows_the_spec_rule(filter in prop_oneof![4 => word(), 1 => any::<String>()]) {
        progress("console_filter_follows_the_spec_rule");
        let (parsed, peak) = peak_during(|| parse_filter(&filter));
        prop_assert!(peak <= filter_peak_bound(&filter), "{} bytes held for a {}-byte filter", peak, filter.len());
        if has_control(&filter) {
            let error = parsed.expect_err("a control character is refused");
            prop_assert_eq!(error.message.as_ref(), "Filter invalid, no control characters allowed.");
            return Ok(());
        }
        let expected = if filter.is_empty() {
            AccountFilter::All
        } else if is_hyphenated_uuid(&filter) {
            AccountFilter::Id(Uuid::parse_str(&filter).expect("a hyphenated UUID"))
        } else if filter.contains('%') {
            AccountFilter::UsernamePattern(filter.split('%').map(str::to_string).collect())
        } else {
            AccountFilter::Exact(filter.clone())
        };
        prop_assert_eq!(parsed.expect("no control character"), expected);
    }

    #[test]
    fn console_cursor_decodes_only_what_encode_wrote(
        cursor in prop_oneof![
            2 => word().prop_map(|w| URL_SAFE_NO_PAD.encode(w)),
            1 => (word(), edits()).prop_map(|(w, e)| apply(&URL_SAFE_NO_PAD.encode(w), &e)),
            1 => any::<String>(),
        ],
    ) {
        progress("console_cursor_decodes_only_what_encode_wrote");
        let (after, peak) = peak_during(|| decode_cursor(&cursor));
        prop_assert!(peak <= peak_bound(cursor.len()), "{} bytes held for a {}-byte cursor", peak, cursor.len());
        let text = URL_SAFE_NO_PAD.decode(&cursor).ok().and_then(|b| String::from_utf8(b).ok());
        match after {
            None => {
                prop_assert!(!cursor.is_empty());
                if let Some(text) = text {
                    let id = text.strip_prefix("i:").map(|id| Uuid::parse_str(id).is_ok());
                    let name = text.strip_prefix("u:");
                    let newest = text.strip_prefix("n:").map(|rest| {
                        rest.split_once(':')
                            .is_some_and(|(t, id)| t.parse::<i64>().is_ok() && Uuid::parse_str(id).is_ok())
                    });
                    prop_assert!(
                        id == Some(false)
                            || newest == Some(false)
                            || (id.is_none() && newest.is_none() && name.is_none_or(has_control)),
                        "{:?} refused",
                        text
                    );
                }
            }
            Some(AfterCursor::Start) => prop_assert_eq!(cursor, ""),
            Some(AfterCursor::Id(id)) => {
                let text = text.unwrap_or_default();
                prop_assert_eq!(text.strip_prefix("i:").and_then(|t| Uuid::parse_str(t).ok()), Some(id));
            }
            Some(AfterCursor::Username(name)) => prop_assert_eq!(text, Some(format!("u:{name}"))),
            Some(AfterCursor::Newest(time, id)) => {
                let text = text.unwrap_or_default();
                let (t, rest) = text.strip_prefix("n:").and_then(|r| r.split_once(':')).unwrap_or_default();
                prop_assert_eq!((t.parse::<i64>().ok(), Uuid::parse_str(rest).ok()), (Some(time), Some(id)));
            }
        }
    }

    #[test]
    fn console_cursor_round_trips(
        after in prop_oneof![
            Just(AfterCursor::Start),
            any::<u128>().prop_map(|id| AfterCursor::Id(Uuid::from_u128(id))),
            prop_oneof![word(), any::<String>()].prop_map(AfterCursor::Username),
            (any::<i64>(), any::<u128>()).prop_map(|(t, id)| AfterCursor::Newest(t, Uuid::from_u128(id))),
        ],
    ) {
        progress("console_cursor_round_trips");
        let cursor = encode_cursor(&after);
        prop_assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{}", cursor);
        // Stored usernames hold no control character, so no cursor made from one carries it.
        let expected = match &after {
            AfterCursor::Username(name) if has_control(name) => None,
            _ => Some(after),
        };
        prop_assert_eq!(decode_cursor(&cursor), expected);
    }
}
