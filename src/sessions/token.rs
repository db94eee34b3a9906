//! Session tokens: HS256 JWTs with claims `tid uid usn vrs exp iat` (session.md §1),
//! access and refresh signed with different keys.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::SessionConfig;

/// `base64url({"alg":"HS256","typ":"JWT"})`, byte-exact as Nakama writes it.
const HEADER_SEGMENT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

pub type Vars = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Access,
    Refresh,
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Nil when the token carried no `tid`.
    pub tid: Uuid,
    pub uid: Uuid,
    pub usn: String,
    pub vrs: Vars,
    pub exp: i64,
    pub iat: i64,
}

/// The pair a login or refresh answers with.
#[derive(Clone, Debug)]
pub struct SessionTokens {
    pub token: String,
    pub refresh_token: String,
    pub tid: Uuid,
    pub access_exp: i64,
    pub refresh_exp: i64,
}

pub struct TokenKeys {
    access_encoding: EncodingKey,
    access_decoding: DecodingKey,
    refresh_encoding: EncodingKey,
    refresh_decoding: DecodingKey,
    validation: Validation,
    pub token_expiry_sec: i64,
    pub refresh_token_expiry_sec: i64,
}

#[derive(Serialize)]
struct Payload<'a> {
    tid: &'a str,
    uid: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    usn: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    vrs: &'a Vars,
    exp: i64,
    iat: i64,
}

#[derive(Deserialize)]
struct RawClaims {
    tid: Option<String>,
    uid: Option<String>,
    usn: Option<String>,
    vrs: Option<Vars>,
    exp: i64,
    iat: Option<i64>,
}

impl TokenKeys {
    pub fn new(config: &SessionConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // exp is checked by hand below: required, an integer, strictly in the future.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        Self {
            access_encoding: EncodingKey::from_secret(config.encryption_key.as_bytes()),
            access_decoding: DecodingKey::from_secret(config.encryption_key.as_bytes()),
            refresh_encoding: EncodingKey::from_secret(config.refresh_encryption_key.as_bytes()),
            refresh_decoding: DecodingKey::from_secret(config.refresh_encryption_key.as_bytes()),
            validation,
            token_expiry_sec: config.token_expiry_sec,
            refresh_token_expiry_sec: config.refresh_token_expiry_sec,
        }
    }

    /// Issues an access and a refresh token sharing `tid` and `iat`.
    pub fn issue(&self, tid: Uuid, uid: Uuid, usn: &str, vrs: &Vars, iat: i64, now: i64) -> SessionTokens {
        let access_exp = now + self.token_expiry_sec;
        let refresh_exp = now + self.refresh_token_expiry_sec;
        let tid_text = tid.to_string();
        let uid_text = uid.to_string();
        let sign = |exp: i64, key: &EncodingKey| {
            let payload = Payload { tid: &tid_text, uid: &uid_text, usn, vrs, exp, iat };
            self.sign(&payload, key)
        };
        SessionTokens {
            token: sign(access_exp, &self.access_encoding),
            refresh_token: sign(refresh_exp, &self.refresh_encoding),
            tid,
            access_exp,
            refresh_exp,
        }
    }

    fn sign(&self, payload: &Payload<'_>, key: &EncodingKey) -> String {
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_string(payload).unwrap_or_default();
        let json = escape_html(&json);
        let mut out = String::with_capacity(HEADER_SEGMENT.len() + json.len() * 4 / 3 + 48);
        out.push_str(HEADER_SEGMENT);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(json.as_bytes(), &mut out);
        let signature = jsonwebtoken::crypto::sign(out.as_bytes(), key, Algorithm::HS256).unwrap_or_default();
        out.push('.');
        out.push_str(&signature);
        out
    }

    /// Checks signature and expiry; revocation is the caller's next step.
    pub fn verify(&self, token: &str, kind: TokenKind, now: i64) -> Option<Claims> {
        let key = match kind {
            TokenKind::Access => &self.access_decoding,
            TokenKind::Refresh => &self.refresh_decoding,
        };
        let data = jsonwebtoken::decode::<RawClaims>(token, key, &self.validation).ok()?;
        let raw = data.claims;
        if raw.exp <= now {
            return None;
        }
        let uid = Uuid::parse_str(raw.uid.as_deref()?).ok()?;
        let tid = match raw.tid.as_deref() {
            Some(t) => Uuid::parse_str(t).ok()?,
            None => Uuid::nil(),
        };
        Some(Claims {
            tid,
            uid,
            usn: raw.usn.unwrap_or_default(),
            vrs: raw.vrs.unwrap_or_default(),
            exp: raw.exp,
            iat: raw.iat.unwrap_or_default(),
        })
    }
}

/// Go's encoding/json escapes these; matching it keeps tokens byte-comparable with Nakama's.
fn escape_html(json: &str) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes a token's payload without checking it (for tests and diagnostics).
pub fn decode_payload_unverified(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&SessionConfig::default())
    }

    #[test]
    fn payload_is_ordered_and_html_escaped_like_nakama() {
        let keys = keys();
        let mut vrs = Vars::new();
        vrs.insert("z".into(), "1".into());
        vrs.insert("a".into(), "<&>".into());
        let tid = Uuid::parse_str("8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11").unwrap();
        let uid = Uuid::parse_str("01826d2c-9f3e-4c4f-8f0a-7b2f3c1d4e5f").unwrap();
        let t = keys.issue(tid, uid, "U<x>", &vrs, 1000, 1000);
        let payload = t.token.split('.').nth(1).unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"tid":"8bd5e0b2-1e0c-4d8e-9d7c-0d1f6c5b2a11","uid":"01826d2c-9f3e-4c4f-8f0a-7b2f3c1d4e5f","usn":"U\u003cx\u003e","vrs":{"a":"\u003c\u0026\u003e","z":"1"},"exp":1060,"iat":1000}"#
        );
        assert!(t.token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
    }

    #[test]
    fn access_and_refresh_keys_do_not_cross() {
        let keys = keys();
        let t = keys.issue(Uuid::new_v4(), Uuid::new_v4(), "bob", &Vars::new(), 10, 10);
        assert!(keys.verify(&t.token, TokenKind::Access, 11).is_some());
        assert!(keys.verify(&t.token, TokenKind::Refresh, 11).is_none());
        assert!(keys.verify(&t.refresh_token, TokenKind::Refresh, 11).is_some());
        assert!(keys.verify(&t.refresh_token, TokenKind::Access, 11).is_none());
    }

    #[test]
    fn token_expires_at_exp_without_leeway() {
        let keys = keys();
        let t = keys.issue(Uuid::new_v4(), Uuid::new_v4(), "bob", &Vars::new(), 10, 10);
        assert!(keys.verify(&t.token, TokenKind::Access, 69).is_some());
        assert!(keys.verify(&t.token, TokenKind::Access, 70).is_none());
    }

    #[test]
    fn token_signed_by_jsonwebtoken_verifies_and_matches_claims() {
        let keys = keys();
        let uid = Uuid::new_v4();
        let t = keys.issue(Uuid::new_v4(), uid, "bob", &Vars::new(), 10, 10);
        let claims = keys.verify(&t.token, TokenKind::Access, 20).unwrap();
        assert_eq!(claims.uid, uid);
        assert_eq!(claims.usn, "bob");
        assert_eq!(claims.exp, 70);
        assert_eq!(claims.iat, 10);
    }
}
