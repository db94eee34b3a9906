//! Steam (social.md §6): a session ticket checked through the Steam Web API with the
//! configured publisher key and app id; the friend list for imports.

use serde::Deserialize;

use super::{endpoint, Social, VerifyError};

#[derive(Deserialize)]
struct TicketAnswer {
    response: TicketResponse,
}

#[derive(Deserialize)]
struct TicketResponse {
    #[serde(default)]
    params: Option<TicketParams>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TicketParams {
    steamid: String,
}

/// The Steam id (decimal) of the ticket's owner.
pub async fn verify(social: &Social, ticket: &str) -> Result<String, VerifyError> {
    let steam = &social.config.steam;
    if steam.publisher_key.is_empty() || steam.app_id == 0 {
        return Err(VerifyError::NotConfigured);
    }
    let app_id = steam.app_id.to_string();
    let url = endpoint(
        &steam.api_url,
        "/ISteamUserAuth/AuthenticateUserTicket/v1/",
        &[("format", "json"), ("key", &steam.publisher_key), ("appid", &app_id), ("ticket", ticket)],
    )?;
    let answer: TicketAnswer = social.get_json(url).await?;
    if let Some(error) = answer.response.error {
        return Err(VerifyError::refused(format!("Steam refused the ticket: {error}")));
    }
    let params = answer.response.params.ok_or_else(|| VerifyError::BadAnswer("no params".into()))?;
    let id: u64 = params.steamid.parse().map_err(|_| VerifyError::BadAnswer("steamid is not a number".into()))?;
    Ok(id.to_string())
}

/// The Steam ids of a player's friends; a private profile (HTTP 401) has none.
pub async fn friends(social: &Social, steam_id: &str) -> Result<Vec<String>, VerifyError> {
    let steam = &social.config.steam;
    if steam.publisher_key.is_empty() || steam.app_id == 0 {
        return Err(VerifyError::NotConfigured);
    }
    let url = endpoint(
        &steam.api_url,
        "/ISteamUser/GetFriendList/v0001/",
        &[("key", &steam.publisher_key), ("steamid", steam_id), ("relationship", "friend")],
    )?;
    let answer = social.get(url).await?;
    match answer.status {
        200 => {}
        401 => return Ok(Vec::new()),
        status => return Err(VerifyError::Status(status)),
    }
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| VerifyError::BadAnswer(e.to_string()))?;
    // Steam writes `friendslist`; Nakama matches `friendsList` case-insensitively.
    let list = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("friendslist")).map(|(_, v)| v))
        .ok_or_else(|| VerifyError::BadAnswer("no friendslist".into()))?;
    let friends = list.get("friends").and_then(|f| f.as_array()).map(Vec::as_slice).unwrap_or_default();
    Ok(friends
        .iter()
        .filter_map(|f| f.get("steamid")?.as_str())
        .filter_map(|id| id.parse::<u64>().ok())
        .map(|id| id.to_string())
        .collect())
}
