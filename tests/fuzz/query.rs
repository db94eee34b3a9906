//! Query strings (http-conventions.md §4): `&`/`=` splitting, `+` and `%XX` unescaping,
//! proto and camelCase names, Go's `strconv.ParseBool`, int32 values, repeated fields.

use hearth::error::{ApiError, Code};
use hearth::http::query::{go_parse_bool, QueryString};
use proptest::prelude::*;

use crate::alloc::peak_during;
use crate::{config, progress, regressions};

/// Bytes a parse may hold per query byte: each pair costs a 48-byte slot of a doubling
/// vector (96 at worst) for at least two bytes of query (`a&`), plus its decoded strings
/// and the `+`-replaced copy, each no longer than the pair
/// (see `query_worst_cases_stay_under_the_bound`).
const PEAK_PER_BYTE: usize = 56;
const PEAK_FLOOR: usize = 256;

fn peak_bound(len: usize) -> usize {
    PEAK_FLOOR + PEAK_PER_BYTE * len
}

/// `(proto name, camelCase name)` of the fields Hearth reads from a query.
const FIELDS: &[(&str, &str)] = &[
    ("create", "create"),
    ("username", "username"),
    ("sync", "sync"),
    ("ids", "ids"),
    ("usernames", "usernames"),
    ("facebook_ids", "facebookIds"),
    ("cursor", "cursor"),
    ("limit", "limit"),
    ("state", "state"),
    ("record_deletion", "recordDeletion"),
];

const NAMES: &[&str] = &[
    "create",
    "username",
    "sync",
    "ids",
    "usernames",
    "facebook_ids",
    "facebookIds",
    "limit",
    "state",
    "record_deletion",
    "recordDeletion",
    "Create",
    "ids[]",
    "token",
    "",
];

const VALUES: &[&str] = &[
    "1",
    "t",
    "T",
    "TRUE",
    "true",
    "True",
    "0",
    "f",
    "F",
    "FALSE",
    "false",
    "False",
    "tRUE",
    "yes",
    "",
    "-1",
    "1000",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "+5",
    "-",
    "+",
    "0x10",
    " 1",
    "1_0",
    "٣",
    "a,b",
    "a b&c=d%",
];

/// The 12 spellings Go's `strconv.ParseBool` accepts.
const GO_BOOLS: [(&str, bool); 12] = [
    ("1", true),
    ("t", true),
    ("T", true),
    ("TRUE", true),
    ("true", true),
    ("True", true),
    ("0", false),
    ("f", false),
    ("F", false),
    ("FALSE", false),
    ("false", false),
    ("False", false),
];

fn go_bool(value: &str) -> Option<bool> {
    GO_BOOLS.iter().find(|(spelling, _)| *spelling == value).map(|(_, b)| *b)
}

/// Go's `strconv.ParseInt(value, 10, 32)` acceptance: a sign, ASCII digits, in range.
fn go_int32(value: &str) -> Option<i32> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().try_fold(0i64, |n, d| n.checked_mul(10)?.checked_add(i64::from(d - b'0')))?;
    let n = if value.starts_with('-') { -magnitude } else { magnitude };
    i32::try_from(n).ok()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `application/x-www-form-urlencoded` unescaping as Go's `url.QueryUnescape` does it, with
/// UTF-8 required of the result.
fn unescape(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = bytes.get(i + 1).copied().and_then(hex).ok_or(())?;
                let low = bytes.get(i + 2).copied().and_then(hex).ok_or(())?;
                out.push(high << 4 | low);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ())
}

/// Each non-empty `&`-separated part, split at its first `=`, unescaped; `Err` for a part
/// that does not unescape.
fn model(query: &str) -> Vec<Result<(String, String), ()>> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((unescape(key)?, unescape(value)?))
        })
        .collect()
}

fn is_invalid(e: &ApiError) -> bool {
    e.code == Code::InvalidArgument
        && (e.message.starts_with("invalid URL escape \"%") || e.message == "invalid UTF-8 in query string")
}

/// Escapes `s` for a query, choosing per character from `choices` between the forms that
/// mean the same: raw or `%XX` (either hex case) for safe characters, `+` or `%20` for a space.
fn escape(s: &str, choices: u64) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let choice = (choices >> (2 * (i % 32))) & 3;
        let safe = c.is_ascii_alphanumeric() || "-_.~*,;:/?[]!$'()@".contains(c);
        if c == ' ' && choice < 2 {
            out.push('+');
        } else if safe && choice < 3 {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                if choice & 1 == 0 {
                    out.push_str(&format!("%{b:02X}"));
                } else {
                    out.push_str(&format!("%{b:02x}"));
                }
            }
        }
    }
    out
}

fn word(words: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => proptest::sample::select(words).prop_map(str::to_string),
        1 => proptest::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter),
    ]
}

/// Queries from the grammar `part (& part)*`, `part = key [= value]`, with escaped names
/// and values, stray separators and broken escapes.
fn near_valid() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => (word(NAMES), proptest::option::of(word(VALUES)), any::<u64>()).prop_map(|(k, v, choices)| {
            match v {
                Some(v) => format!("{}={}", escape(&k, choices), escape(&v, choices.rotate_left(17))),
                None => escape(&k, choices),
            }
        }),
        1 => proptest::sample::select(&["%", "%4", "%zz", "%ff", "%c3", "%C3%A9", "=", "&", "+", "%%", "%2", ";", "=="][..])
            .prop_map(str::to_string),
    ];
    proptest::collection::vec((piece, proptest::sample::select(&["&", "&", "&", "&&", "", "="][..])), 0..8)
        .prop_map(|parts| parts.into_iter().flat_map(|(piece, sep)| [piece, sep.to_string()]).collect())
}

fn query_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => near_valid(),
        1 => proptest::collection::vec(any::<char>(), 0..64).prop_map(String::from_iter),
        1 => proptest::collection::vec(proptest::sample::select(&['&', '=', '%', '+', 'a', '1', 'F', 't'][..]), 0..32)
            .prop_map(String::from_iter),
    ]
}

proptest! {
    #![proptest_config(config(regressions!("query")))]

    #[test]
    fn query_parse_agrees_with_go_and_stays_bounded(query in query_text()) {
        progress("query_parse_agrees_with_go_and_stays_bounded");
        let expected = model(&query);
        let (parsed, peak) = peak_during(|| QueryString::parse(&query));
        prop_assert!(peak <= peak_bound(query.len()), "{} bytes held for a {}-byte query", peak, query.len());
        let (lenient, peak) = peak_during(|| QueryString::parse_lenient(&query));
        prop_assert!(peak <= peak_bound(query.len()), "{} bytes held for a {}-byte query", peak, query.len());

        let good: Vec<(String, String)> = expected.iter().filter_map(|p| p.clone().ok()).collect();
        prop_assert_eq!(lenient.pairs(), &good[..]);
        let q = match parsed {
            Err(e) => {
                prop_assert!(is_invalid(&e), "{:?}", e);
                prop_assert!(expected.iter().any(Result::is_err));
                return Ok(());
            }
            Ok(q) => q,
        };
        prop_assert!(expected.iter().all(Result::is_ok));
        prop_assert_eq!(q.pairs(), &good[..]);

        for &(name, camel) in FIELDS {
            let values: Vec<&String> = good.iter().filter(|(k, _)| k == name || k == camel).map(|(_, v)| v).collect();
            let all = q.all(name, camel);
            prop_assert_eq!(all.iter().collect::<Vec<_>>(), values.clone());
            let too_many = format!(
                "too many values for field \"{name}\": {}",
                values.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            );
            for default in [false, true] {
                match (q.bool(name, camel, default), values.as_slice()) {
                    (Ok(b), []) => prop_assert_eq!(b, default),
                    (Ok(b), [v]) => prop_assert_eq!(Some(b), go_bool(v)),
                    (Err(e), [v]) => {
                        prop_assert_eq!(go_bool(v), None);
                        prop_assert_eq!(e.code, Code::InvalidArgument);
                        prop_assert_eq!(
                            e.message,
                            format!("parsing field \"{name}\": strconv.ParseBool: parsing \"{v}\": invalid syntax")
                        );
                    }
                    (Err(e), [_, _, ..]) => {
                        prop_assert_eq!(e.code, Code::InvalidArgument);
                        prop_assert_eq!(&e.message, &too_many);
                    }
                    (result, values) => prop_assert!(false, "{:?} for {:?}", result, values),
                }
            }
            match (q.int32(name, camel), values.as_slice()) {
                (Ok(n), []) => prop_assert_eq!(n, None),
                (Ok(n), [v]) => prop_assert_eq!(n, go_int32(v)),
                (Err(e), [v]) => {
                    prop_assert_eq!(go_int32(v), None);
                    prop_assert_eq!(e.code, Code::InvalidArgument);
                    let prefix = format!("parsing field \"{name}\": strconv.ParseInt: parsing \"{v}\": ");
                    prop_assert!(e.message.starts_with(&prefix), "{}", e.message);
                }
                (Err(e), [_, _, ..]) => prop_assert_eq!(&e.message, &too_many),
                (result, values) => prop_assert!(false, "{:?} for {:?}", result, values),
            }
            match (q.string(name, camel), values.as_slice()) {
                (Ok(s), []) => prop_assert_eq!(s, ""),
                (Ok(s), [v]) => prop_assert_eq!(&s, *v),
                (Err(e), [_, _, ..]) => prop_assert_eq!(&e.message, &too_many),
                (result, values) => prop_assert!(false, "{:?} for {:?}", result, values),
            }
        }
    }

    #[test]
    fn query_built_from_pairs_parses_back_to_them(
        pairs in proptest::collection::vec((word(NAMES), proptest::option::of(word(VALUES)), any::<u64>()), 0..8),
        separators in proptest::collection::vec(proptest::sample::select(&["&", "&&"][..]), 8),
        lead in proptest::sample::select(&["", "&"][..]),
    ) {
        progress("query_built_from_pairs_parses_back_to_them");
        let mut query = lead.to_string();
        let mut expected = Vec::new();
        for (i, (key, value, choices)) in pairs.iter().enumerate() {
            if i > 0 {
                query.push_str(separators[i]);
            }
            query.push_str(&escape(key, *choices));
            if let Some(value) = value {
                query.push('=');
                query.push_str(&escape(value, choices.rotate_left(17)));
            }
            // A part with neither key nor `=` is an empty part, which is skipped.
            if !key.is_empty() || value.is_some() {
                expected.push((key.clone(), value.clone().unwrap_or_default()));
            }
        }
        match QueryString::parse(&query) {
            Ok(q) => prop_assert_eq!(q.pairs(), &expected[..], "{}", query),
            Err(e) => prop_assert!(false, "{} does not parse: {:?}", query, e),
        }
    }

    #[test]
    fn go_parse_bool_accepts_exactly_gos_twelve_spellings(
        value in prop_oneof![
            proptest::sample::select(VALUES).prop_map(str::to_string),
            (proptest::sample::select(&["true", "false", "t", "f", "1", "0"][..]), any::<u32>()).prop_map(|(w, mask)| {
                w.chars().enumerate().map(|(i, c)| if mask >> i & 1 == 1 { c.to_ascii_uppercase() } else { c }).collect()
            }),
            proptest::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter),
        ],
    ) {
        progress("go_parse_bool_accepts_exactly_gos_twelve_spellings");
        prop_assert_eq!(go_parse_bool(&value), go_bool(&value));
    }
}

/// Every casing of every ASCII word ParseBool could mean: only the 12 are accepted.
#[test]
fn go_parse_bool_accepts_no_other_casing() {
    let mut accepted = Vec::new();
    for word in ["true", "false", "t", "f", "1", "0", "yes", "no", "on", "off"] {
        for mask in 0..1u32 << word.len() {
            let casing: String = word
                .chars()
                .enumerate()
                .map(|(i, c)| if mask >> i & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            if let Some(b) = go_parse_bool(&casing) {
                accepted.push((casing, b));
            }
        }
    }
    accepted.sort();
    accepted.dedup();
    let mut expected: Vec<(String, bool)> = GO_BOOLS.iter().map(|(s, b)| (s.to_string(), *b)).collect();
    expected.sort();
    assert_eq!(accepted, expected);
}

#[test]
fn query_worst_cases_stay_under_the_bound() {
    // Just past a power of two pairs, where the vector of pairs has doubled last.
    let cases = ["a&".repeat(8193), "&a=b".repeat(4097), "a+b%41=%41+".repeat(2049), "=&".repeat(8193)];
    let mut worst = 0.0f64;
    for query in &cases {
        let (q, peak) = peak_during(|| QueryString::parse(query));
        assert!(q.is_ok());
        eprintln!("{peak:>7} bytes for {} bytes: {}", query.len(), &query[..12]);
        assert!(peak <= peak_bound(query.len()), "{peak} bytes for {}", &query[..12]);
        worst = worst.max(peak as f64 / query.len() as f64);
    }
    assert!(worst > PEAK_PER_BYTE as f64 / 2.0, "worst case only {worst:.1} bytes per byte");
}
