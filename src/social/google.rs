//! Google Sign-In (social.md §4 A): an ID token checked against Google's key set (JWKS),
//! issued by Google, for one of the configured client ids when any are set. Play Games
//! server auth codes (§4 B) are not supported: they fail like a bad token.

use serde::Deserialize;

use super::jwks::Checks;
use super::{loose_bool, Profile, Social, VerifyError};

const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];

#[derive(Deserialize)]
struct Claims {
    sub: String,
    /// Required strings, as Google always sends them; an array `aud` is refused.
    #[serde(rename = "azp")]
    _azp: String,
    #[serde(rename = "aud")]
    _aud: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, rename = "email_verified", deserialize_with = "loose_bool")]
    _email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

/// The Google id (`sub`), name, picture and email of a valid ID token.
pub async fn verify(social: &Social, token: &str) -> Result<Profile, VerifyError> {
    if token.split('.').count() != 3 {
        return Err(VerifyError::refused("not an ID token (auth codes are not supported)"));
    }
    let google = &social.config.google;
    let audience = (!google.client_ids.is_empty()).then_some(google.client_ids.as_slice());
    let checks = Checks { issuers: &ISSUERS, audience };
    let claims: Claims = social.jwks.verify(&social.http, &google.certs_url, token, &checks).await?;
    Profile::new(claims.sub, claims.name, claims.picture, claims.email)
}
