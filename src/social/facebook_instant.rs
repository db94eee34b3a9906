//! Facebook Instant Games (social.md §3): `<signature>.<payload>`, both base64url, the
//! signature an HMAC of the payload text under the configured app secret. No network call.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::Deserialize;

use super::VerifyError;

#[derive(Deserialize)]
struct Payload {
    algorithm: String,
    player_id: String,
    /// Required as in Nakama; its age is not checked (Instant Games give no expiry).
    #[serde(rename = "issued_at")]
    _issued_at: i64,
}

/// The player id of a validly signed player info. An empty secret refuses everything
/// (Nakama would accept payloads signed with an empty key).
pub fn verify(app_secret: &str, signed_player_info: &str) -> Result<String, VerifyError> {
    if app_secret.is_empty() {
        return Err(VerifyError::NotConfigured);
    }
    let mut parts = signed_player_info.split('.');
    let (Some(signature), Some(payload), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::refused("not <signature>.<payload>"));
    };
    let signature = decode(signature)?;
    let decoded: Payload =
        super::shape::decode(&decode(payload)?).map_err(|e| VerifyError::refused(format!("payload: {e}")))?;
    let algorithm = match decoded.algorithm.as_str() {
        "HMAC-SHA256" | "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => return Err(VerifyError::refused("unsupported algorithm")),
    };
    let key = hmac::Key::new(algorithm, app_secret.as_bytes());
    // Constant time: the signature is over the payload text as received.
    hmac::verify(&key, payload.as_bytes(), &signature).map_err(|_| VerifyError::refused("bad signature"))?;
    super::player_id(decoded.player_id)
}

/// base64url; trailing padding is tolerated.
fn decode(part: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| VerifyError::refused("bad base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, payload: &str) -> String {
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), payload.as_bytes());
        format!("{}.{payload}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    const PAYLOAD: &str = r#"{"algorithm":"HMAC-SHA256","player_id":"p-1","issued_at":1700000000}"#;

    #[test]
    fn valid_signature_gives_the_player() {
        assert_eq!(verify("secret", &sign("secret", PAYLOAD)).unwrap(), "p-1");
        let hs256 = PAYLOAD.replace("HMAC-SHA256", "HS256");
        assert_eq!(verify("secret", &sign("secret", &hs256)).unwrap(), "p-1");
    }

    #[test]
    fn forgeries_are_refused() {
        assert!(verify("secret", &sign("other", PAYLOAD)).is_err());
        assert!(matches!(verify("", &sign("", PAYLOAD)), Err(VerifyError::NotConfigured)));
        let none = PAYLOAD.replace("HMAC-SHA256", "none");
        assert!(verify("secret", &sign("secret", &none)).is_err());
        assert!(verify("secret", "abc").is_err());
        assert!(verify("secret", &format!("{}.x", sign("secret", PAYLOAD))).is_err());
    }
}
