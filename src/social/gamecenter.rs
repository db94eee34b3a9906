//! Game Center (social.md §5): the client's signature over player id, bundle id, timestamp
//! and salt, checked with the public key of the certificate at `public_key_url`, which must
//! be `https` on a host under `apple.com` (unless the test-only setting allows any URL).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use x509_cert::der::{Decode, DecodePem};
use x509_cert::Certificate;

use super::{Social, VerifyError};
use crate::clock::unix_now;

/// The rsaEncryption algorithm OID of a certificate's public key.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// How old a signature may be, and how far ahead of our clock, in seconds.
const MAX_AGE_SECS: i64 = 3600;
const MAX_AHEAD_SECS: i64 = 300;
/// Apple's Game Center hands out milliseconds in the field named `timestamp_seconds`;
/// values this large cannot be seconds (they would be past the year 2286).
const MILLISECONDS_FROM: u64 = 10_000_000_000;

/// What a Game Center client sends (all six required).
#[derive(Clone, Copy, Default)]
pub struct Credential<'a> {
    pub player_id: &'a str,
    pub bundle_id: &'a str,
    pub timestamp_seconds: i64,
    pub salt: &'a str,
    pub signature: &'a str,
    pub public_key_url: &'a str,
}

/// The player id, once the signature checks out.
pub async fn verify(social: &Social, credential: &Credential<'_>) -> Result<String, VerifyError> {
    let player_id = super::player_id(credential.player_id.to_string())?;
    let url = key_url(credential.public_key_url, social.config.gamecenter.allow_insecure_key_url)?;
    let timestamp =
        u64::try_from(credential.timestamp_seconds).map_err(|_| VerifyError::refused("negative timestamp"))?;
    check_fresh(timestamp, unix_now())?;
    let salt = STANDARD.decode(credential.salt).map_err(|_| VerifyError::refused("salt is not base64"))?;
    let signature =
        STANDARD.decode(credential.signature).map_err(|_| VerifyError::refused("signature is not base64"))?;
    let answer = social.get(url).await?;
    if answer.status != 200 {
        return Err(VerifyError::Status(answer.status));
    }
    let public_key = rsa_public_key(&answer.body)?;
    let mut message = Vec::with_capacity(credential.player_id.len() + credential.bundle_id.len() + 8 + salt.len());
    message.extend_from_slice(player_id.as_bytes());
    message.extend_from_slice(credential.bundle_id.as_bytes());
    message.extend_from_slice(&timestamp.to_be_bytes());
    message.extend_from_slice(&salt);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(&message, &signature)
        .map_err(|_| VerifyError::refused("bad signature"))?;
    Ok(player_id)
}

/// The key URL when it is one we may fetch: `https`, a host under `apple.com`, a path.
fn key_url(raw: &str, allow_insecure: bool) -> Result<reqwest::Url, VerifyError> {
    let url = reqwest::Url::parse(raw).map_err(|_| VerifyError::refused("public key URL does not parse"))?;
    if url.path().is_empty() || url.path() == "/" {
        return Err(VerifyError::refused("public key URL without a path"));
    }
    if allow_insecure {
        return match url.scheme() {
            "http" | "https" => Ok(url),
            _ => Err(VerifyError::refused("public key URL is not http(s)")),
        };
    }
    // `domain()` is `None` for IP addresses.
    let apple_host = url.domain().is_some_and(|host| host.to_ascii_lowercase().ends_with(".apple.com"));
    if url.scheme() != "https" || !apple_host {
        return Err(VerifyError::refused("public key URL is not https on a host under apple.com"));
    }
    Ok(url)
}

fn check_fresh(timestamp: u64, now: i64) -> Result<(), VerifyError> {
    let seconds = if timestamp >= MILLISECONDS_FROM { timestamp / 1000 } else { timestamp };
    let seconds = i64::try_from(seconds).map_err(|_| VerifyError::refused("timestamp out of range"))?;
    if seconds < now - MAX_AGE_SECS || seconds > now + MAX_AHEAD_SECS {
        return Err(VerifyError::refused("timestamp too old or in the future"));
    }
    Ok(())
}

/// The PKCS#1 RSA public key of a PEM or DER certificate.
fn rsa_public_key(body: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let bad = |e: x509_cert::der::Error| VerifyError::BadAnswer(format!("certificate: {e}"));
    let certificate = if body.windows(10).any(|w| w == b"-----BEGIN") {
        Certificate::from_pem(body).map_err(bad)?
    } else {
        Certificate::from_der(body).map_err(bad)?
    };
    let info = certificate.tbs_certificate.subject_public_key_info;
    if info.algorithm.oid.to_string() != RSA_ENCRYPTION {
        return Err(VerifyError::BadAnswer("certificate key is not RSA".into()));
    }
    info.subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| VerifyError::BadAnswer("certificate key bits are not whole bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_url_must_be_https_under_apple_com() {
        assert!(key_url("https://static.gc.apple.com/public-key/gc-prod-10.cer", false).is_ok());
        assert!(key_url("http://static.gc.apple.com/public-key/gc-prod-10.cer", false).is_err());
        assert!(key_url("https://static.gc.apple.com/", false).is_err());
        assert!(key_url("https://apple.com.evil.example/key.cer", false).is_err());
        assert!(key_url("https://evilapple.com/key.cer", false).is_err());
        assert!(key_url("https://127.0.0.1/key.cer", false).is_err());
        assert!(key_url("http://127.0.0.1:8080/key.cer", true).is_ok());
        assert!(key_url("file:///etc/passwd", true).is_err());
    }

    #[test]
    fn timestamp_is_bounded_in_seconds_or_milliseconds() {
        let now = 1_800_000_000;
        assert!(check_fresh(now as u64, now).is_ok());
        assert!(check_fresh(now as u64 * 1000 + 123, now).is_ok());
        assert!(check_fresh((now - 2 * 3600) as u64, now).is_err());
        assert!(check_fresh((now + 3600) as u64, now).is_err());
        assert!(check_fresh(1, now).is_err());
    }
}
