//! Sign in with Apple (social.md §1): an RS256 ID token checked against Apple's key set,
//! issued by Apple for the configured bundle id.

use serde::Deserialize;

use super::jwks::Checks;
use super::{loose_bool, Profile, Social, VerifyError};

const ISSUER: &str = "https://appleid.apple.com";

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    /// Parsed so a token with a malformed value is refused; not otherwise used.
    #[serde(default, rename = "email_verified", deserialize_with = "loose_bool")]
    _email_verified: Option<bool>,
}

/// The Apple id (`sub`) and email of a valid ID token.
pub async fn verify(social: &Social, token: &str) -> Result<Profile, VerifyError> {
    let apple = &social.config.apple;
    if apple.bundle_id.is_empty() {
        return Err(VerifyError::NotConfigured);
    }
    let audience = std::slice::from_ref(&apple.bundle_id);
    let checks = Checks { issuers: &[ISSUER], audience: Some(audience) };
    let claims: Claims = social.jwks.verify(&social.http, &apple.jwks_url, token, &checks).await?;
    Profile::new(claims.sub, None, None, claims.email)
}
