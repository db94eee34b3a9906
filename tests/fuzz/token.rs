//! Session tokens (session.md §1): `TokenKeys::verify` on arbitrary and near-valid strings,
//! on tokens whose payload is any JSON signed with the server's key, and on issued tokens
//! with one byte changed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hearth::config::SessionConfig;
use hearth::sessions::{Claims, TokenKeys, TokenKind, Vars};
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::alloc::peak_during;
use crate::json::{apply, edits, text, tree, valid_tree, Json};
use crate::{config, progress, regressions};

/// Bytes a verify may hold per token byte. The payload is base64 (3 JSON bytes per 4), and
/// its costliest part is a `vrs` map of tiny entries, about 12 bytes per JSON byte as in a
/// request body, plus the decoded payload itself
/// (see `token_worst_cases_stay_under_the_bound`).
const PEAK_PER_BYTE: usize = 12;
/// The header, the signature computed for comparison, and the claim fields of an
/// almost empty token.
const PEAK_FLOOR: usize = 2048;

fn peak_bound(len: usize) -> usize {
    PEAK_FLOOR + PEAK_PER_BYTE * len
}

/// The clock the properties verify at: tokens with a later `exp` are live.
const NOW: i64 = 1_700_000_000;

fn keys() -> TokenKeys {
    TokenKeys::new(&SessionConfig::default())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header.payload` with `secret` as HS256, whatever the two segments hold.
fn sign(header: &str, payload: &[u8], secret: &str) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret.as_bytes()), Algorithm::HS256)
            .expect("HMAC signs anything");
    format!("{message}.{signature}")
}

/// A header, acceptable three times out of four.
fn header() -> impl Strategy<Value = (&'static str, bool)> {
    prop_oneof![3 => proptest::sample::select(&HEADERS[..4]), 1 => proptest::sample::select(HEADERS)]
}

/// JWT headers and whether one signed with the right key is acceptable: HS256 only.
const HEADERS: &[(&str, bool)] = &[
    (r#"{"alg":"HS256","typ":"JWT"}"#, true),
    (r#"{"alg":"HS256"}"#, true),
    (r#"{"typ":"JWT","alg":"HS256","kid":"k1"}"#, true),
    (r#"{"alg":"HS256","x":[1,{"y":null}]}"#, true),
    (r#"{"alg":"none","typ":"JWT"}"#, false),
    (r#"{"alg":"HS512","typ":"JWT"}"#, false),
    (r#"{"alg":"RS256","typ":"JWT"}"#, false),
    (r#"{"alg":"hs256"}"#, false),
    (r#"{"typ":"JWT"}"#, false),
    (r#"{"alg":"HS256","kid":5}"#, false),
    (r#"{"alg":"HS256","alg":"HS256"}"#, false),
    (r#"["HS256"]"#, false),
    (r#"{"alg":"HS256""#, false),
    ("", false),
];

const WORDS: &[&str] = &[
    "tid",
    "uid",
    "usn",
    "vrs",
    "exp",
    "iat",
    "nbf",
    "sub",
    "aud",
    "Exp",
    "x",
    "",
    "8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11",
    "8BD5E0B21E0C4D8E9D7C0D1F6C5B2A11",
    "{8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11}",
    "urn:uuid:8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11",
    "8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a1",
    "bob",
    "<&>\u{2028}",
];

/// What session.md §1 lets a correctly signed payload say: `exp` an integer in the future,
/// `uid` a UUID, `tid` absent, null or a UUID, `usn` and `iat` optional, `vrs` a map of
/// strings. `None` for anything else.
fn claims(payload: &Map<String, Value>) -> Option<Claims> {
    fn optional<'a>(payload: &'a Map<String, Value>, name: &str) -> Option<Option<&'a Value>> {
        match payload.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => Some(Some(value)),
        }
    }
    let exp = payload.get("exp")?.as_i64()?;
    let uid = Uuid::parse_str(payload.get("uid")?.as_str()?).ok()?;
    let tid = match optional(payload, "tid")? {
        None => Uuid::nil(),
        Some(tid) => Uuid::parse_str(tid.as_str()?).ok()?,
    };
    let usn = match optional(payload, "usn")? {
        None => String::new(),
        Some(usn) => usn.as_str()?.to_string(),
    };
    let vrs = match optional(payload, "vrs")? {
        None => Vars::new(),
        Some(vrs) => {
            vrs.as_object()?.iter().map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect::<Option<_>>()?
        }
    };
    let iat = match optional(payload, "iat")? {
        None => 0,
        Some(iat) => iat.as_i64()?,
    };
    (exp > NOW).then_some(Claims { tid, uid, usn, vrs, exp, iat })
}

/// A claim's value: mostly valid, else absent, null, or of the wrong type or form.
fn claim(valid: &'static [&'static str], wrong: &'static [&'static str]) -> impl Strategy<Value = Option<Json>> {
    // Written as raw JSON: `Json::Number` renders its text as is.
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Json::Null)),
        8 => proptest::sample::select(valid).prop_map(|v| Some(Json::Number(v))),
        1 => proptest::sample::select(wrong).prop_map(|v| Some(Json::Number(v))),
        1 => valid_tree(WORDS).prop_map(Some),
    ]
}

const UUIDS: &[&str] = &[r#""8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11""#, r#""01826D2C9F3E4C4F8F0A7B2F3C1D4E5F""#];
const NOT_UUIDS: &[&str] = &[r#""8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a1""#, r#""bob""#, "7"];
const FUTURE: &[&str] = &["4102444800", "1700000001"];
const NOT_FUTURE: &[&str] = &["1700000000", "-1", "4102444800.0", "9223372036854775808", r#""4102444800""#];
const INTEGERS: &[&str] = &["0", "-1", "1700000000", "9223372036854775807"];
const NOT_INTEGERS: &[&str] = &["1.5", "1e3", "9223372036854775808", r#""10""#];
const NAMES: &[&str] = &[r#""bob""#, r#""""#, r#""<&>\u2028""#];
const NOT_NAMES: &[&str] = &["1", "[]", "{}"];
const VARS: &[&str] = &["{}", r#"{"a":"b","<":"\u2028"}"#];
const NOT_VARS: &[&str] = &[r#"{"a":1}"#, r#"{"a":null}"#, r#"["a"]"#, r#""a""#];

/// Payload objects over the six claims, each independently absent, null, valid or wrong,
/// beside unknown fields, without duplicate keys.
fn structured_payload() -> impl Strategy<Value = Vec<(String, Json)>> {
    let extra = proptest::collection::vec(
        (proptest::sample::select(&["x", "Exp", "UID", "claims"][..]), valid_tree(WORDS)),
        0..3,
    );
    (
        claim(UUIDS, NOT_UUIDS),
        claim(UUIDS, NOT_UUIDS),
        claim(NAMES, NOT_NAMES),
        claim(VARS, NOT_VARS),
        claim(FUTURE, NOT_FUTURE),
        claim(INTEGERS, NOT_INTEGERS),
        extra,
        any::<u64>(),
    )
        .prop_map(|(tid, uid, usn, vrs, exp, iat, extra, order)| {
            let mut fields: Vec<(String, Json)> =
                [("tid", tid), ("uid", uid), ("usn", usn), ("vrs", vrs), ("exp", exp), ("iat", iat)]
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
                    .collect();
            for (k, v) in extra {
                if !fields.iter().any(|(name, _)| name == k) {
                    fields.push((k.to_string(), v));
                }
            }
            // Any order: the claims are named, not positional.
            let n = fields.len().max(1);
            fields.rotate_left(order as usize % n);
            fields
        })
}

/// Strings shaped like a token: one to five dot-separated segments, each a known header,
/// base64 of a random JSON document, or random base64 text, lightly damaged.
fn near_valid_token() -> impl Strategy<Value = String> {
    let base64_text = proptest::collection::vec(
        proptest::sample::select(&b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/"[..]),
        0..64,
    )
    .prop_map(|b| String::from_utf8(b).unwrap());
    let segment = prop_oneof![
        proptest::sample::select(HEADERS).prop_map(|(h, _)| b64(h.as_bytes())),
        tree(WORDS).prop_map(|t| b64(t.render().as_bytes())),
        base64_text,
    ];
    (proptest::collection::vec(segment, 1..6), edits()).prop_map(|(segments, edits)| apply(&segments.join("."), &edits))
}

proptest! {
    #![proptest_config(config(regressions!("token")))]

    #[test]
    fn token_verify_refuses_arbitrary_and_near_valid_strings(
        token in prop_oneof![
            4 => near_valid_token(),
            1 => proptest::collection::vec(any::<char>(), 0..128).prop_map(String::from_iter),
        ],
    ) {
        progress("token_verify_refuses_arbitrary_and_near_valid_strings");
        let keys = keys();
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            let (claims, peak) = peak_during(|| keys.verify(&token, kind, NOW));
            prop_assert_eq!(claims, None);
            prop_assert!(peak <= peak_bound(token.len()), "{} bytes held for a {}-byte token", peak, token.len());
        }
    }

    #[test]
    fn token_signed_with_the_key_verifies_exactly_as_the_spec_says(
        (header, header_ok) in header(),
        payload in structured_payload(),
    ) {
        progress("token_signed_with_the_key_verifies_exactly_as_the_spec_says");
        let keys = keys();
        let config = SessionConfig::default();
        // Every occurrence of a vrs entry must be a string: a generic tree keeps only the last
        // of duplicate keys, so a non-string one before it is checked on the tree we built.
        let vrs_strings = payload.iter().all(|(k, v)| match (k.as_str(), v) {
            ("vrs", Json::Object(entries)) => entries.iter().all(|(_, v)| matches!(v, Json::Text(_))),
            _ => true,
        });
        let payload = Json::Object(payload).render();
        let token = sign(header, payload.as_bytes(), &config.encryption_key);
        let expected = match serde_json::from_str(&payload) {
            Ok(Value::Object(map)) if header_ok && vrs_strings => claims(&map),
            _ => None,
        };
        let (verified, peak) = peak_during(|| keys.verify(&token, TokenKind::Access, NOW));
        prop_assert_eq!(verified, expected, "{}", payload);
        prop_assert!(peak <= peak_bound(token.len()), "{} bytes held for a {}-byte token", peak, token.len());
        // The same token is never a refresh token, nor one signed with another key.
        prop_assert_eq!(keys.verify(&token, TokenKind::Refresh, NOW), None);
        let forged = sign(header, payload.as_bytes(), "not the key");
        prop_assert_eq!(keys.verify(&forged, TokenKind::Access, NOW), None);
    }

    #[test]
    fn token_with_any_signed_payload_never_says_more_than_it_holds(
        (header, header_ok) in header(),
        payload in prop_oneof![
            4 => (tree(WORDS), edits()).prop_map(|(t, e)| apply(&t.render(), &e).into_bytes()),
            2 => structured_payload().prop_map(|fields| Json::Object(fields).render().into_bytes()),
            1 => proptest::collection::vec(any::<u8>(), 0..256),
        ],
    ) {
        progress("token_with_any_signed_payload_never_says_more_than_it_holds");
        let keys = keys();
        let token = sign(header, &payload, &SessionConfig::default().encryption_key);
        let (verified, peak) = peak_during(|| keys.verify(&token, TokenKind::Access, NOW));
        prop_assert!(peak <= peak_bound(token.len()), "{} bytes held for a {}-byte token", peak, token.len());
        if let Some(verified) = verified {
            prop_assert!(header_ok);
            // Accepted only as a JSON object whose claims say exactly this.
            let map = serde_json::from_slice::<Value>(&payload).ok().and_then(|v| v.as_object().cloned());
            prop_assert!(map.is_some(), "accepted a payload that is not an object: {:?}", String::from_utf8_lossy(&payload));
            prop_assert_eq!(Some(verified), claims(&map.unwrap_or_default()));
        }
    }

    #[test]
    fn issued_token_verifies_and_any_single_byte_change_fails(
        (tid, uid) in (any::<u128>(), any::<u128>()),
        usn in text(WORDS),
        vrs in proptest::collection::btree_map(text(WORDS), text(WORDS), 0..4),
        iat in 0..NOW,
        at in any::<Index>(),
        shift in 1u8..94,
        refresh in any::<bool>(),
    ) {
        progress("issued_token_verifies_and_any_single_byte_change_fails");
        let keys = keys();
        let (tid, uid) = (Uuid::from_u128(tid), Uuid::from_u128(uid));
        let issued = keys.issue(tid, uid, &usn, &vrs, iat, NOW);
        let (token, kind, exp) = if refresh {
            (issued.refresh_token, TokenKind::Refresh, issued.refresh_exp)
        } else {
            (issued.token, TokenKind::Access, issued.access_exp)
        };
        let claims = Claims { tid, uid, usn, vrs, exp, iat };
        prop_assert_eq!(keys.verify(&token, kind, NOW), Some(claims.clone()));
        prop_assert_eq!(keys.verify(&token, kind, exp - 1), Some(claims));
        prop_assert_eq!(keys.verify(&token, kind, exp), None);

        // Every byte of a token is printable ASCII (base64url and dots): move it to another
        // one of the 94.
        let mut changed = token.clone().into_bytes();
        let at = at.index(changed.len());
        let byte = 0x21 + (changed[at] - 0x21 + shift) % 94;
        changed[at] = byte;
        let changed = String::from_utf8(changed).expect("ASCII for ASCII");
        prop_assert_eq!(keys.verify(&changed, kind, NOW), None, "byte {} of {} changed to {:?}", at, token, byte as char);
    }
}

#[test]
fn token_worst_cases_stay_under_the_bound() {
    let keys = keys();
    let config = SessionConfig::default();
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let mut vrs = String::from(r#"{"uid":"8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11","exp":4102444800,"vrs":{"#);
    'fill: for a in 'a'..='z' {
        for b in 'a'..='z' {
            if vrs.len() > 6000 {
                break 'fill;
            }
            vrs.push_str(&format!(r#""{a}{b}":"","#));
        }
    }
    vrs.pop();
    vrs.push_str("}}");
    let cases = [
        sign(header, vrs.as_bytes(), &config.encryption_key),
        sign(header, br#"{"uid":"8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11","exp":4102444800}"#, &config.encryption_key),
        sign(header, format!(r#"{{"x":"{}"}}"#, "\\u0041".repeat(1000)).as_bytes(), &config.encryption_key),
    ];
    let mut worst = 0.0f64;
    for token in &cases {
        let (claims, peak) = peak_during(|| keys.verify(token, TokenKind::Access, NOW));
        eprintln!("{peak:>7} bytes for {} bytes, verified: {}", token.len(), claims.is_some());
        assert!(peak <= peak_bound(token.len()), "{peak} bytes for a {}-byte token", token.len());
        worst = worst.max(peak as f64 / token.len() as f64);
    }
    assert!(worst > PEAK_PER_BYTE as f64 / 2.0, "worst case only {worst:.1} bytes per byte");
}
