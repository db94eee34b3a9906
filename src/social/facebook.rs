//! Facebook (social.md §2): a Limited Login ID token (checked against Facebook's key set,
//! for the configured app id), else a classic access token checked through the Graph API;
//! and the Graph friends list for imports.

use serde::Deserialize;

use super::jwks::Checks;
use super::{endpoint, player_id, Profile, Social, VerifyError};

const ISSUERS: [&str; 2] = ["https://www.facebook.com", "https://facebook.com"];
/// A friends list longer than this many pages is cut (Graph pages hold 25 by default).
const MAX_FRIEND_PAGES: usize = 200;

/// How a Facebook token was verified; only Graph tokens can list friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    LimitedLogin,
    Graph,
}

/// The Facebook id, name, picture and email behind a token, and how it was verified.
pub async fn verify(social: &Social, token: &str) -> Result<(Profile, Via), VerifyError> {
    match limited_login(social, token).await {
        Ok(profile) => return Ok((profile, Via::LimitedLogin)),
        Err(e) => tracing::debug!(error = %e, "not a Facebook Limited Login token; trying the Graph API"),
    }
    graph_profile(social, token).await.map(|profile| (profile, Via::Graph))
}

#[derive(Deserialize)]
struct LimitedClaims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

async fn limited_login(social: &Social, token: &str) -> Result<Profile, VerifyError> {
    let config = &social.config.facebook_limited_login;
    if config.app_id.is_empty() {
        return Err(VerifyError::NotConfigured);
    }
    if token.split('.').count() != 3 {
        return Err(VerifyError::refused("not a JWT"));
    }
    let audience = std::slice::from_ref(&config.app_id);
    let checks = Checks { issuers: &ISSUERS, audience: Some(audience) };
    let claims: LimitedClaims = social.jwks.verify(&social.http, &config.jwks_url, token, &checks).await?;
    Profile::new(claims.sub, claims.name, claims.picture, claims.email)
}

#[derive(Deserialize)]
struct GraphProfile {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    picture: Option<GraphPicture>,
}

#[derive(Deserialize)]
struct GraphPicture {
    #[serde(default)]
    data: Option<GraphPictureData>,
}

#[derive(Deserialize)]
struct GraphPictureData {
    #[serde(default)]
    url: Option<String>,
}

async fn graph_profile(social: &Social, token: &str) -> Result<Profile, VerifyError> {
    let url = endpoint(
        &social.config.facebook.graph_url,
        "/me",
        &[("access_token", token), ("fields", "id,name,email,picture")],
    )?;
    let profile: GraphProfile = social.get_json(url).await?;
    let picture = profile.picture.and_then(|p| p.data).and_then(|d| d.url);
    Profile::new(profile.id, profile.name, picture, profile.email)
}

#[derive(Deserialize)]
struct FriendsPage {
    #[serde(default)]
    data: Vec<Friend>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Friend {
    id: String,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

/// The Facebook ids of the token owner's friends who use the app, every page of them,
/// within twice `social.timeout_ms` in all, so a provider paging slowly cannot hold up a login.
pub async fn friends(social: &Social, token: &str) -> Result<Vec<String>, VerifyError> {
    let deadline = std::time::Duration::from_millis(social.config.timeout_ms.saturating_mul(2));
    tokio::time::timeout(deadline, all_friend_pages(social, token))
        .await
        .map_err(|_| VerifyError::Unreachable("friend list pages took longer than twice the timeout".into()))?
}

async fn all_friend_pages(social: &Social, token: &str) -> Result<Vec<String>, VerifyError> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_FRIEND_PAGES {
        let mut query = vec![("access_token", token)];
        if let Some(cursor) = &after {
            query.push(("after", cursor));
        }
        let url = endpoint(&social.config.facebook.graph_url, "/me/friends", &query)?;
        let page: FriendsPage = social.get_json(url).await?;
        for friend in page.data {
            ids.push(player_id(friend.id)?);
        }
        let next = page.paging.filter(|p| p.next.as_deref().is_some_and(|n| !n.is_empty()));
        match next.and_then(|p| p.cursors).and_then(|c| c.after).filter(|a| !a.is_empty()) {
            Some(cursor) => after = Some(cursor),
            None => return Ok(ids),
        }
    }
    tracing::warn!(pages = MAX_FRIEND_PAGES, "Facebook friends list cut at the page limit");
    Ok(ids)
}
