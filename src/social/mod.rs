//! Verification of social login credentials (social.md), one file per provider, over one
//! shared HTTP client with connect and total timeouts and one shared JWKS cache.

pub mod apple;
pub mod facebook;
pub mod facebook_instant;
pub mod gamecenter;
pub mod google;
mod jwks;
mod shape;
pub mod steam;

use std::time::Duration;

use crate::accounts::validate::has_control;
use crate::config::SocialConfig;
pub use jwks::JwksCache;

/// The largest provider answer read; anything bigger is refused, not buffered.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Why a credential was not accepted. The text is for the log only: it never carries the
/// credential itself, and clients only ever see the endpoint's generic answer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the provider is not configured")]
    NotConfigured,
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    #[error("provider answered HTTP {0}")]
    Status(u16),
    #[error("unreadable provider answer: {0}")]
    BadAnswer(String),
    #[error("credential refused: {0}")]
    Refused(String),
}

impl VerifyError {
    pub(crate) fn refused(reason: impl Into<String>) -> Self {
        VerifyError::Refused(reason.into())
    }
}

/// What a provider says about the person behind a credential.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The provider's id of the player, stored in the account's identifier column.
    pub id: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub email: Option<String>,
}

impl Profile {
    /// A profile from a provider's fields: the id must be usable (`player_id`); a name,
    /// picture or email that does not fit its column is dropped, as Google's are.
    pub(crate) fn new(
        id: String,
        name: Option<String>,
        picture: Option<String>,
        email: Option<String>,
    ) -> Result<Profile, VerifyError> {
        Ok(Profile {
            id: player_id(id)?,
            display_name: fitting(name, 255),
            avatar_url: fitting(picture, 512),
            email: fitting(email, 255),
        })
    }
}

/// A provider's id of a player as an account identifier: not empty, no control character
/// (PostgreSQL cannot store NUL, and no provider issues such ids).
pub(crate) fn player_id(id: String) -> Result<String, VerifyError> {
    if id.is_empty() {
        return Err(VerifyError::refused("empty player id"));
    }
    if has_control(&id) {
        return Err(VerifyError::refused("player id with a control character"));
    }
    Ok(id)
}

/// The shared client, key cache and provider settings.
pub struct Social {
    http: reqwest::Client,
    jwks: JwksCache,
    config: SocialConfig,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the provider HTTP client: {0}")]
pub struct ClientError(String);

impl Social {
    pub fn new(config: SocialConfig) -> Result<Social, ClientError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            // Provider APIs do not redirect; following one could leave the allowed hosts.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Social { http, jwks: JwksCache::new(), config })
    }

    pub fn config(&self) -> &SocialConfig {
        &self.config
    }

    /// GETs `url` within the timeout; returns the status and at most `MAX_ANSWER_BYTES`.
    async fn get(&self, url: reqwest::Url) -> Result<Answer, VerifyError> {
        get_answer(&self.http, url).await
    }

    /// GETs `url` and decodes a `200` answer as JSON of the expected shape (`shape`);
    /// any other status is an error.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: reqwest::Url) -> Result<T, VerifyError> {
        let answer = self.get(url).await?;
        if answer.status != 200 {
            return Err(VerifyError::Status(answer.status));
        }
        decode(&answer.body)
    }
}

/// A provider's answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// `Cache-Control: max-age`, when given.
    max_age: Option<Duration>,
}

/// Joins a configured base URL and a path, then adds query pairs (escaped).
fn endpoint(base: &str, path: &str, query: &[(&str, &str)]) -> Result<reqwest::Url, VerifyError> {
    let mut url = reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/')))
        .map_err(|e| VerifyError::BadAnswer(format!("bad provider URL setting: {e}")))?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

async fn get_answer(http: &reqwest::Client, url: reqwest::Url) -> Result<Answer, VerifyError> {
    // Errors lose their URL: query strings carry tokens and keys, which must not be logged.
    let unreachable = |e: reqwest::Error| VerifyError::Unreachable(e.without_url().to_string());
    let mut response = http.get(url).send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok()))
        .map(Duration::from_secs);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(VerifyError::BadAnswer(format!("answer larger than {MAX_ANSWER_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body, max_age })
}

/// A provider's JSON answer as a `T`, an object wherever `T` has a struct (`shape`).
fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, VerifyError> {
    shape::decode(body).map_err(|e| VerifyError::BadAnswer(e.to_string()))
}

/// Part of a decoded answer as a `T`, by the same rule.
fn from_value<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, VerifyError> {
    shape::from_value(value).map_err(|e| VerifyError::BadAnswer(e.to_string()))
}

/// A value within a column's size and free of control characters, or nothing (Google's
/// rule, used for every provider so SQLite and PostgreSQL store the same thing).
fn fitting(value: Option<String>, max_bytes: usize) -> Option<String> {
    value.filter(|v| !v.is_empty() && v.len() <= max_bytes && !has_control(v))
}

/// `true`/`false` or the strings `"true"`/`"false"`, as providers write `email_verified`;
/// anything else refuses the token.
pub(crate) fn loose_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    use serde::de::Error;
    use serde::Deserialize;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Bool(b) => Ok(Some(b)),
        serde_json::Value::String(s) if s == "true" => Ok(Some(true)),
        serde_json::Value::String(s) if s == "false" => Ok(Some(false)),
        _ => Err(D::Error::custom("expected a boolean")),
    }
}
