//! Request bodies (http-conventions.md §3): the JSON parse of every body shape, and the
//! gzip/deflate decode with its size cap, on arbitrary bytes, near-valid JSON and streams
//! built to expand (bombs).

use std::collections::BTreeMap;

use hearth::api::account::UpdateAccountRequest;
use hearth::api::authenticate::{AccountEmail, AccountGameCenter, AccountInstantGame, AccountToken};
use hearth::api::session::SessionLogout;
use hearth::error::Code;
use hearth::http::body::{decode, parse};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::alloc::peak_during;
use crate::json::{apply, edits, text, tree, Json};
use crate::{config, progress, regressions};

/// Bytes a JSON parse may hold per body byte. The costliest body is a `vars` map of tiny
/// entries: `"ab":"",` is 8 bytes and costs a 48-byte key/value pair in a B-tree leaf that
/// is about half full after ordered inserts, plus the key's own allocation
/// (see `body_parse_worst_cases_stay_under_the_bound`).
const PARSE_PER_BYTE: usize = 16;
const PARSE_FLOOR: usize = 1024;

fn parse_bound(len: usize) -> usize {
    PARSE_FLOOR + PARSE_PER_BYTE * len
}

/// What the gzip/deflate decoders hold whatever the input: flate2's 32 KiB input buffer,
/// miniz_oxide's inflate state (a 32 KiB window and its tables), and up to 64 KiB for the
/// gzip FEXTRA field, which flate2 allocates from the header's 16-bit length before reading it.
const DECODER_STATE: usize = 176 * 1024;

/// A decode may hold the decoder state, the raw body and an output buffer that doubles as
/// it fills up to the cap of four times the limit.
fn decode_bound(raw: usize, limit: usize) -> usize {
    DECODER_STATE + raw + 2 * 4 * limit + 64
}

const WORDS: &[&str] = &[
    "id",
    "vars",
    "token",
    "email",
    "password",
    "username",
    "display_name",
    "displayName",
    "avatar_url",
    "lang_tag",
    "location",
    "timezone",
    "player_id",
    "bundleId",
    "timestamp_seconds",
    "timestampSeconds",
    "salt",
    "signature",
    "public_key_url",
    "signed_player_info",
    "signedPlayerInfo",
    "refresh_token",
    "refreshToken",
    "ID",
    "",
    "a",
    "1000",
    "1.5",
    "-5",
];

/// Near-valid bodies: an object of body fields with values of the right or wrong type,
/// sometimes damaged, behind optional whitespace, sometimes with a raw byte that is not UTF-8.
fn near_valid() -> impl Strategy<Value = Vec<u8>> {
    let lead = proptest::sample::select(&["", " ", "\n\t ", "\u{feff}"][..]);
    let value = prop_oneof![
        3 => text(WORDS).prop_map(Json::Text),
        2 => proptest::collection::vec((text(WORDS), text(WORDS).prop_map(Json::Text)), 0..4).prop_map(Json::Object),
        1 => Just(Json::Null),
        1 => proptest::sample::select(&["1000", "1000.0", "1.5", "-5", "\"1000\"", "1e3"][..]).prop_map(Json::Number),
        1 => tree(WORDS),
    ];
    let key = prop_oneof![
        2 => proptest::sample::select(&["token", "vars", "signed_player_info", "signedPlayerInfo", "refreshToken", "timestampSeconds"][..])
            .prop_map(str::to_string),
        1 => text(WORDS),
    ];
    let fields = proptest::collection::vec((key, value), 0..6);
    let damage = prop_oneof![2 => Just(Vec::new()), 1 => edits()];
    let raw_byte =
        proptest::option::weighted(0.1, (any::<Index>(), proptest::sample::select(&[0xff_u8, 0xc3, 0x80, 0x00][..])));
    (lead, fields, damage, raw_byte).prop_map(|(lead, fields, edits, raw_byte)| {
        let mut bytes = format!("{lead}{}", apply(&Json::Object(fields).render(), &edits)).into_bytes();
        if let Some((at, byte)) = raw_byte {
            let at = at.index(bytes.len() + 1);
            bytes.insert(at, byte);
        }
        bytes
    })
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => near_valid(),
        1 => proptest::collection::vec(any::<u8>(), 0..2048),
        1 => proptest::collection::vec(proptest::sample::select(&b" \t\r\n{}[]\":,0an\\"[..]), 0..64),
    ]
}

/// Parses `bytes` as `T`, checking the spec's rules that hold for every body shape: an error
/// is code 3, whitespace is the empty message, only an object can succeed, and the parse
/// stays within its allocation bound.
fn parse_checked<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<Option<T>, TestCaseError> {
    let (result, peak) = peak_during(|| parse::<T>(bytes));
    prop_assert!(peak <= parse_bound(bytes.len()), "{} bytes held for a {}-byte body", peak, bytes.len());
    match (&result, bytes.iter().position(|b| !b.is_ascii_whitespace())) {
        (Err(e), first) => {
            prop_assert_eq!(e.code, Code::InvalidArgument, "{}", e.message);
            prop_assert!(first.is_some(), "whitespace is the empty message, not {}", e.message);
        }
        (Ok(_), Some(first)) => prop_assert_eq!(bytes[first], b'{'),
        (Ok(_), None) => {}
    }
    Ok(result.ok())
}

/// The first JSON value of the body as a generic tree, when serde_json can build one.
fn first_object(bytes: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    match serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<Value>().next()? {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// An optional string field as a generic tree holds it; `Err` for any other type.
fn string_field(map: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, ()> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

fn vars_field(map: &serde_json::Map<String, Value>) -> Result<Option<BTreeMap<String, String>>, ()> {
    match map.get("vars") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())).ok_or(()))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

// ---- deflate streams --------------------------------------------------------------------

/// Writes a deflate stream of one fixed-Huffman block (RFC 1951 §3.2.6) that expands to
/// `runs`: each run is a literal and then copies at distance 1, so a few bytes of stream
/// stand for up to 258 bytes of output (a bomb when the runs are long).
fn deflate_runs(runs: &[(u8, usize)]) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u32, count: u32) {
            self.put_wide(u64::from(value), count);
        }
        fn put_wide(&mut self, value: u64, count: u32) {
            self.acc |= value << self.n;
            self.n += count;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            self.put(code.reverse_bits() >> (32 - len), len);
        }
        fn symbol(&mut self, sym: u32) {
            match sym {
                0..=143 => self.code(0x30 + sym, 8),
                144..=255 => self.code(0x190 + sym - 144, 9),
                256..=279 => self.code(sym - 256, 7),
                _ => self.code(0xc0 + sym - 280, 8),
            }
        }
    }
    // (symbol, base length, extra bits) of RFC 1951 §3.2.5.
    const LENGTHS: [(u32, usize, u32); 29] = [
        (257, 3, 0),
        (258, 4, 0),
        (259, 5, 0),
        (260, 6, 0),
        (261, 7, 0),
        (262, 8, 0),
        (263, 9, 0),
        (264, 10, 0),
        (265, 11, 1),
        (266, 13, 1),
        (267, 15, 1),
        (268, 17, 1),
        (269, 19, 2),
        (270, 23, 2),
        (271, 27, 2),
        (272, 31, 2),
        (273, 35, 3),
        (274, 43, 3),
        (275, 51, 3),
        (276, 59, 3),
        (277, 67, 4),
        (278, 83, 4),
        (279, 99, 4),
        (280, 115, 4),
        (281, 131, 5),
        (282, 163, 5),
        (283, 195, 5),
        (284, 227, 5),
        (285, 258, 0),
    ];
    let mut bits = Bits { out: Vec::new(), acc: 0, n: 0 };
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = fixed Huffman
    for &(byte, len) in runs {
        bits.symbol(u32::from(byte));
        let mut left = len - 1;
        while left > 0 {
            if left < 3 {
                bits.symbol(u32::from(byte));
                left -= 1;
                continue;
            }
            if left >= 4 * 258 + 3 {
                // Four copies of 258 at distance 1 (symbol 285, distance code 0) in one write.
                const COPY_258: u64 = 0b00000_10100011;
                bits.put_wide(COPY_258 | COPY_258 << 13 | COPY_258 << 26 | COPY_258 << 39, 52);
                left -= 4 * 258;
                continue;
            }
            let mut copy = left.min(258);
            if (1..3).contains(&(left - copy)) {
                copy -= 3;
            }
            let &(sym, base, extra) = LENGTHS.iter().rev().find(|(_, base, _)| *base <= copy).expect("copy >= 3");
            bits.symbol(sym);
            bits.put((copy - base) as u32, extra);
            bits.code(0, 5); // distance 1
            left -= copy;
        }
    }
    bits.symbol(256);
    bits.put(0, 7);
    bits.out
}

/// Adler-32 of the expanded runs, in closed form per run: zlib's decoder checks it as soon
/// as the whole stream fits its window, even when the reader asked for less.
fn adler32(runs: &[(u8, usize)]) -> u32 {
    const MOD: u64 = 65521;
    let (mut a, mut b) = (1u64, 0u64);
    for &(byte, n) in runs {
        let (byte, n) = (u64::from(byte), n as u64);
        b = (b + n % MOD * a + byte * (n * (n + 1) / 2 % MOD)) % MOD;
        a = (a + n % MOD * byte) % MOD;
    }
    ((b << 16) | a) as u32
}

/// Wraps the stream of `runs` as `Content-Encoding` `encoding` says. `content`, the expanded
/// body, gives gzip's CRC when it is small enough to build; a gzip reader that stops at the
/// cap never reaches the trailer of a larger one.
fn wrap(encoding: &str, runs: &[(u8, usize)], content: Option<&[u8]>) -> Vec<u8> {
    let stream = deflate_runs(runs);
    let total: usize = runs.iter().map(|(_, n)| n).sum();
    if encoding == "deflate" {
        let mut out = vec![0x78, 0x01];
        out.extend(stream);
        out.extend(adler32(runs).to_be_bytes());
        out
    } else {
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend(stream);
        let mut crc = flate2::Crc::new();
        crc.update(content.unwrap_or_default());
        out.extend(crc.sum().to_le_bytes());
        out.extend((total as u32).to_le_bytes());
        out
    }
}

/// `bytes` as runs of equal bytes, to be written as a deflate stream.
fn runs_of(bytes: &[u8]) -> Vec<(u8, usize)> {
    let mut runs: Vec<(u8, usize)> = Vec::new();
    for &byte in bytes {
        match runs.last_mut() {
            Some((last, n)) if *last == byte => *n += 1,
            _ => runs.push((byte, 1)),
        }
    }
    runs
}

/// Runs of a byte: mostly short, sometimes long enough to expand a few hundred stream
/// bytes into megabytes.
fn runs() -> impl Strategy<Value = Vec<(u8, usize)>> {
    let len = prop_oneof![8 => 1..64usize, 2 => 64..4096usize, 1 => 4096..(1usize << 20)];
    proptest::collection::vec((any::<u8>(), len), 1..12)
}

#[derive(Clone, Debug)]
enum Damage {
    None,
    Flip(Index, u8),
    Truncate(Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => Just(Damage::None),
        1 => (any::<Index>(), 1..=255u8).prop_map(|(i, mask)| Damage::Flip(i, mask)),
        1 => any::<Index>().prop_map(Damage::Truncate),
    ]
}

/// Checks `decode` on one input: bodies with another encoding pass through, a decoded body
/// never exceeds the limit, an error is `429` code 8 naming a size within the cap, and the
/// memory held stays within `decode_bound`. Returns the outcome for further checks.
fn decode_checked(raw: &[u8], encoding: &str, limit: usize) -> Result<Result<Vec<u8>, usize>, TestCaseError> {
    let (result, peak) = peak_during(|| decode(raw, Some(encoding), limit));
    prop_assert!(
        peak <= decode_bound(raw.len(), limit),
        "{} bytes held decoding {} bytes of {} with limit {}",
        peak,
        raw.len(),
        encoding,
        limit
    );
    match result {
        Ok(out) => {
            if !["gzip", "x-gzip", "deflate"].contains(&encoding) {
                prop_assert_eq!(&out, raw);
            } else {
                prop_assert!(out.len() <= limit, "{} decoded bytes passed limit {}", out.len(), limit);
            }
            Ok(Ok(out))
        }
        Err(e) => {
            prop_assert_eq!(e.code, Code::ResourceExhausted, "{}", e.message);
            let size: Option<usize> = e
                .message
                .strip_prefix("trying to send message larger than max (")
                .and_then(|rest| rest.strip_suffix(&format!(" vs. {limit})")))
                .and_then(|n| n.parse().ok());
            prop_assert!(size.is_some(), "unexpected message {}", e.message);
            let size = size.unwrap_or_default();
            prop_assert!(size > limit && size <= 4 * limit, "size {} for limit {}", size, limit);
            Ok(Err(size))
        }
    }
}

const ENCODINGS: &[&str] = &["gzip", "x-gzip", "deflate", "identity", "br", "", "GZIP"];

proptest! {
    #![proptest_config(config(regressions!("body")))]

    #[test]
    fn body_parse_errors_are_code_3_and_stay_bounded(bytes in body_bytes()) {
        progress("body_parse_errors_are_code_3_and_stay_bounded");
        parse_checked::<UpdateAccountRequest>(&bytes)?;
        parse_checked::<AccountEmail>(&bytes)?;
        parse_checked::<AccountGameCenter>(&bytes)?;
        parse_checked::<SessionLogout>(&bytes)?;
        parse_checked::<AccountInstantGame>(&bytes)?;
        // What a parse accepts is what the body says.
        if let (Some(body), Some(map)) = (parse_checked::<AccountToken>(&bytes)?, first_object(&bytes)) {
            prop_assert_eq!(Ok(body.token), string_field(&map, "token"));
            prop_assert_eq!(Ok(body.vars), vars_field(&map));
        }
    }

    #[test]
    fn body_round_trips_through_json_and_gzip(
        token in proptest::option::of(text(WORDS)),
        vars in proptest::option::of(proptest::collection::btree_map(text(WORDS), text(WORDS), 0..4)),
        camel in any::<bool>(),
        lead in proptest::sample::select(&["", " ", "\r\n\t"][..]),
        trailing in proptest::sample::select(&["", " trailing", "{\"token\":\"x\"}", "]"][..]),
        encoding in proptest::sample::select(&["gzip", "x-gzip", "deflate", "identity"][..]),
    ) {
        progress("body_round_trips_through_json_and_gzip");
        let json = serde_json::json!({ "token": token, "vars": vars });
        let bytes = format!("{lead}{json}{trailing}").into_bytes();
        let body: AccountToken = parse_checked(&bytes)?.expect("a valid body parses");
        prop_assert_eq!(&body.token, &token);
        prop_assert_eq!(&body.vars, &vars);

        let key = if camel { "signedPlayerInfo" } else { "signed_player_info" };
        let json = serde_json::json!({ key: token, "vars": vars });
        let body = json.to_string().into_bytes();
        let raw = match encoding {
            "identity" => body,
            _ => wrap(encoding, &runs_of(&body), Some(&body)),
        };
        let decoded = decode_checked(&raw, encoding, 262_144)?.expect("under the limit");
        let body: AccountInstantGame = parse_checked(&decoded)?.expect("a valid body parses");
        prop_assert_eq!(body.signed_player_info, token);
        prop_assert_eq!(body.vars, vars);
    }

    #[test]
    fn body_decode_of_arbitrary_bytes_stays_within_the_limit(
        raw in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            // Past the magic bytes, where the header and stream parsing start.
            proptest::collection::vec(any::<u8>(), 0..2048).prop_map(|b| [&[0x1f, 0x8b, 8][..], &b].concat()),
            proptest::collection::vec(any::<u8>(), 0..2048).prop_map(|b| [&[0x78, 0x9c][..], &b].concat()),
        ],
        encoding in proptest::sample::select(ENCODINGS),
        limit in 1..=8192usize,
    ) {
        progress("body_decode_of_arbitrary_bytes_stays_within_the_limit");
        let _ = decode_checked(&raw, encoding, limit)?;
    }

    #[test]
    fn body_decode_expands_streams_exactly_and_caps_bombs(
        runs in runs(),
        encoding in proptest::sample::select(&["gzip", "x-gzip", "deflate"][..]),
        limit in prop_oneof![3 => 1..=256usize, 1 => 1..=16384usize],
        damage in damage(),
    ) {
        progress("body_decode_expands_streams_exactly_and_caps_bombs");
        let total: usize = runs.iter().map(|(_, n)| n).sum();
        let cap = 4 * limit;
        let content = (total <= cap).then(|| runs.iter().flat_map(|&(b, n)| std::iter::repeat_n(b, n)).collect::<Vec<u8>>());
        let mut raw = wrap(encoding, &runs, content.as_deref());
        match &damage {
            Damage::None => {}
            Damage::Flip(at, mask) => {
                let at = at.index(raw.len());
                raw[at] ^= mask;
            }
            Damage::Truncate(at) => raw.truncate(at.index(raw.len())),
        }
        let outcome = decode_checked(&raw, encoding, limit)?;
        if let Damage::None = damage {
            match (content, outcome) {
                (Some(content), Ok(out)) => prop_assert_eq!(out, content),
                (_, Err(size)) => prop_assert_eq!(size, total.min(cap)),
                (None, Ok(out)) => prop_assert!(false, "{} bytes decoded from a {}-byte bomb", out.len(), total),
            }
        }
    }
}

#[test]
fn body_parse_worst_cases_stay_under_the_bound() {
    let fill = |head: &str, item: &dyn Fn(usize) -> String, tail: &str, size: usize| {
        let mut out = String::from(head);
        let mut i = 0;
        while out.len() < size {
            out.push_str(&item(i));
            i += 1;
        }
        out.pop();
        out + tail
    };
    let key = |i: usize| format!("{}{}", char::from(b'a' + (i / 26 % 26) as u8), char::from(b'a' + (i % 26) as u8));
    let cases = [
        fill(r#"{"vars":{"#, &|i| format!(r#""{}":"","#, key(i)), "}}", 5000),
        fill(r#"{"vars":{"#, &|i| format!(r#""{}":"","#, key(i)), "}}", 500),
        fill(r#"{"token":""#, &|_| r"\u0041".to_string(), "\"}", 60_000),
        fill(r#"{"x":["#, &|_| "[{},".to_string(), "]}", 60_000),
    ];
    let mut worst = 0.0f64;
    for text in &cases {
        let (result, peak) = peak_during(|| parse::<AccountToken>(text.as_bytes()));
        eprintln!("{peak:>7} bytes for {} bytes: {}", text.len(), &text[..30]);
        assert!(peak <= parse_bound(text.len()), "{peak} bytes for {}", &text[..30]);
        let _ = result;
        worst = worst.max(peak as f64 / text.len() as f64);
    }
    assert!(worst > PARSE_PER_BYTE as f64 / 2.0, "worst case only {worst:.1} bytes per byte");
}

#[test]
fn body_decode_holds_the_decoder_state_and_no_more() {
    // An empty stream: what the decoders hold before any output.
    for (encoding, raw) in [("gzip", wrap("gzip", &[], Some(b""))), ("deflate", wrap("deflate", &[], Some(b"")))] {
        let (out, peak) = peak_during(|| decode(&raw, Some(encoding), 1));
        eprintln!("{encoding}: {peak} bytes for an empty stream");
        assert_eq!(out.unwrap(), b"");
    }
    // A gzip header announcing a 64 KiB extra field in 12 bytes.
    let raw = [0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff];
    let (out, peak) = peak_during(|| decode(&raw, Some("gzip"), 1));
    eprintln!("gzip FEXTRA: {peak} bytes");
    assert_eq!(out.unwrap(), b"");
    assert!(peak <= decode_bound(raw.len(), 1));
}
