//! Key sets (JWKS) by URL, shared by Apple, Facebook Limited Login and Google, and the
//! signed-token check that uses them. One fetch at a time per URL, awaited by all who need it.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use super::{shape, VerifyError};

/// How long a key set is kept when its answer names no `max-age`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Bounds on a provider's `max-age`: `max-age=0` must not mean one fetch per login.
const MIN_LIFETIME: Duration = Duration::from_secs(300);
const MAX_LIFETIME: Duration = Duration::from_secs(86_400);
/// A set fetched because of an unknown `kid` is not fetched again for another unknown
/// `kid` this soon, so a flood of made-up `kid`s cannot hammer the provider.
const UNKNOWN_KID_REFETCH_EVERY: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;

#[derive(Clone)]
struct Key {
    key: DecodingKey,
    alg: Algorithm,
}

struct KeySet {
    keys: HashMap<String, Key>,
    fetched: Instant,
    expires: Instant,
    for_unknown_kid: bool,
}

type Fetch = Shared<BoxFuture<'static, Result<Arc<KeySet>, VerifyError>>>;

/// What a token must carry besides a valid signature.
pub struct Checks<'a> {
    /// `iss` must be one of these.
    pub issuers: &'a [&'a str],
    /// `aud` must be one of these; `None` skips the audience check.
    pub audience: Option<&'a [String]>,
}

#[derive(Default)]
pub struct JwksCache {
    sets: DashMap<String, Arc<KeySet>>,
    fetching: DashMap<String, Fetch>,
}

impl JwksCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks a signed token against the key set at `url` and returns its claims.
    pub(super) async fn verify<C: DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        url: &str,
        token: &str,
        checks: &Checks<'_>,
    ) -> Result<C, VerifyError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| VerifyError::refused(format!("token header: {e}")))?;
        let kid = header.kid.ok_or_else(|| VerifyError::refused("token without kid"))?;
        let key = self.key(http, url, &kid).await?;
        if header.alg != key.alg {
            return Err(VerifyError::refused(format!(
                "token alg {:?} differs from its key's {:?}",
                header.alg, key.alg
            )));
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(checks.issuers);
        let mut required = vec!["exp", "iss", "sub"];
        match checks.audience {
            Some(audience) => {
                validation.set_audience(audience);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
            .map_err(|e| VerifyError::refused(e.to_string()))?
            .claims;
        shape::from_value(&claims).map_err(|e| VerifyError::refused(format!("claims: {e}")))
    }

    async fn key(&self, http: &reqwest::Client, url: &str, kid: &str) -> Result<Key, VerifyError> {
        // Clone the Arc out so no map guard lives across the fetch below.
        let cached = self.sets.get(url).map(|set| Arc::clone(set.value()));
        let now = Instant::now();
        let mut for_unknown_kid = false;
        if let Some(set) = cached.filter(|set| set.expires > now) {
            if let Some(key) = set.keys.get(kid) {
                return Ok(key.clone());
            }
            if set.for_unknown_kid && now.duration_since(set.fetched) < UNKNOWN_KID_REFETCH_EVERY {
                return Err(VerifyError::refused("unknown kid (refetched recently)"));
            }
            for_unknown_kid = true;
        }
        let set = self.fetch(http, url, for_unknown_kid).await?;
        set.keys.get(kid).cloned().ok_or_else(|| VerifyError::refused("unknown kid"))
    }

    /// Fetches the set at `url`, joining a fetch already in flight for it.
    async fn fetch(
        &self,
        http: &reqwest::Client,
        url: &str,
        for_unknown_kid: bool,
    ) -> Result<Arc<KeySet>, VerifyError> {
        let fetch = match self.fetching.entry(url.to_string()) {
            Entry::Occupied(running) => running.get().clone(),
            Entry::Vacant(slot) => {
                let (http, owned_url) = (http.clone(), url.to_string());
                let fetch =
                    async move { fetch_set(&http, &owned_url, for_unknown_kid).await.map(Arc::new) }.boxed().shared();
                slot.insert(fetch.clone());
                fetch
            }
        };
        let result = fetch.clone().await;
        if let Ok(set) = &result {
            self.sets.insert(url.to_string(), Arc::clone(set));
        }
        self.fetching.remove_if(url, |_, running| running.ptr_eq(&fetch));
        result
    }
}

async fn fetch_set(http: &reqwest::Client, url: &str, for_unknown_kid: bool) -> Result<KeySet, VerifyError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| VerifyError::BadAnswer(format!("bad key set URL: {e}")))?;
    let answer = super::get_answer(http, parsed).await?;
    if answer.status != 200 {
        return Err(VerifyError::Status(answer.status));
    }
    let keys = parse_key_set(&answer.body)?;
    let lifetime = answer.max_age.map_or(DEFAULT_LIFETIME, |age| age.clamp(MIN_LIFETIME, MAX_LIFETIME));
    let fetched = Instant::now();
    tracing::debug!(keys = keys.len(), lifetime_secs = lifetime.as_secs(), "fetched a provider key set");
    Ok(KeySet { keys, fetched, expires: fetched + lifetime, for_unknown_kid })
}

/// The usable signing keys of a JWKS by `kid`; entries without `kid` or `alg`, with another
/// `use`, a symmetric algorithm or bad numbers are skipped. None usable is an error.
fn parse_key_set(body: &[u8]) -> Result<HashMap<String, Key>, VerifyError> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = shape::decode(body).map_err(|e| VerifyError::BadAnswer(format!("key set: {e}")))?;
    let mut keys = HashMap::new();
    for entry in &raw.keys {
        let Ok(jwk) = shape::from_value::<Jwk>(entry) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(alg) = jwk.common.key_algorithm.and_then(|a| Algorithm::from_str(&a.to_string()).ok()) else {
            continue;
        };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.insert(kid, Key { key, alg });
    }
    if keys.is_empty() {
        return Err(VerifyError::BadAnswer("key set without a usable key".into()));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_entries_are_skipped() {
        let body = br#"{"keys":[
            {"kty":"RSA","kid":"no-alg","use":"sig","n":"sXch","e":"AQAB"},
            {"kty":"oct","kid":"hmac","alg":"HS256","k":"c2VjcmV0"},
            {"kty":"RSA","kid":"enc","use":"enc","alg":"RS256","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"good","use":"sig","alg":"RS256","n":"sXch","e":"AQAB"},
            {"something":"else"}
        ]}"#;
        let keys = parse_key_set(body).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["good"]);
        assert!(parse_key_set(br#"{"keys":[]}"#).is_err());
        assert!(parse_key_set(b"<html>").is_err());
    }
}
