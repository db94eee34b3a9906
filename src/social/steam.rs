//! Steam (social.md §6): a session ticket checked through the Steam Web API with the
//! configured publisher key and app id; the friend list for imports.

use serde::Deserialize;

use super::{decode, endpoint, from_value, Social, VerifyError};

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

/// The value of `friendslist` in a GetFriendList answer.
#[derive(Deserialize)]
struct FriendList {
    #[serde(default)]
    friends: Vec<Friend>,
}

#[derive(Deserialize)]
struct Friend {
    steamid: String,
}

/// A Steam id is a decimal uint64.
fn parse_steam_id(text: &str) -> Result<String, VerifyError> {
    let id: u64 = text.parse().map_err(|_| VerifyError::BadAnswer("steamid is not a number".into()))?;
    Ok(id.to_string())
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
    parse_steam_id(&params.steamid)
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
    let body: serde_json::Map<String, serde_json::Value> = decode(&answer.body)?;
    // Steam writes `friendslist`; Nakama matches `friendsList` case-insensitively.
    let list = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("friendslist"))
        .map(|(_, v)| v)
        .ok_or_else(|| VerifyError::BadAnswer("no friendslist".into()))?;
    let list: FriendList = from_value(list)?;
    list.friends.iter().map(|f| parse_steam_id(&f.steamid)).collect()
}
