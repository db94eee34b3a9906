//! social.md §6-7, authenticate.md §4 steam, link-unlink.md: Steam tickets and friend lists
//! against a local stand-in of the Steam Web API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::TestApp;
use crate::provider::{
    friend_ids, token_body, user_id, Canned, Provider, STEAM_APP_ID, STEAM_FRIENDS, STEAM_KEY, STEAM_TICKET,
};
use crate::provider_test;

const AUTH: &str = "/v2/account/authenticate/steam";
const REFUSED: &str = "Could not authenticate Steam profile.";
const NOT_CONFIGURED: &str = "Steam authentication is not configured.";
const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";

/// Steam answers tickets it knows, for our key and app only.
pub(crate) fn serve_tickets(provider: &Provider, tickets: &[(&str, &str)]) {
    let tickets: HashMap<String, String> = tickets.iter().map(|(t, id)| (t.to_string(), id.to_string())).collect();
    provider.answer_with(STEAM_TICKET, move |query| {
        let ours = query.get("key").map(String::as_str) == Some(STEAM_KEY)
            && query.get("appid") == Some(&STEAM_APP_ID.to_string())
            && query.get("format").map(String::as_str) == Some("json");
        match query.get("ticket").and_then(|t| tickets.get(t)).filter(|_| ours) {
            Some(id) => Canned::json(json!({"response": {"params": {
                "result": "OK", "steamid": id, "ownersteamid": id, "vacbanned": false, "publisherbanned": false
            }}})),
            None => Canned::json(json!({"response": {"error": {"errorcode": 101, "errordesc": "Invalid ticket"}}})),
        }
    });
}

fn serve_friends(provider: &Provider, lists: &[(&str, Vec<&str>)]) {
    let lists: HashMap<String, Vec<String>> =
        lists.iter().map(|(id, friends)| (id.to_string(), friends.iter().map(|f| f.to_string()).collect())).collect();
    provider.answer_with(STEAM_FRIENDS, move |query| {
        assert_eq!(query.get("key").map(String::as_str), Some(STEAM_KEY));
        assert_eq!(query.get("relationship").map(String::as_str), Some("friend"));
        match query.get("steamid").and_then(|id| lists.get(id)) {
            Some(friends) => {
                let friends: Vec<_> = friends
                    .iter()
                    .map(|f| json!({"steamid": f, "relationship": "friend", "friend_since": 1_600_000_000}))
                    .collect();
                Canned::json(json!({"friendslist": {"friends": friends}}))
            }
            // A private profile.
            None => Canned::status(401, "<html>Unauthorized</html>"),
        }
    });
}

fn link_body(ticket: &str, sync: Option<bool>) -> String {
    let mut body = json!({"account": {"token": ticket}});
    if let Some(sync) = sync {
        body["sync"] = json!(sync);
    }
    body.to_string()
}

provider_test!(steam_ticket_creates_then_logs_in);
async fn steam_ticket_creates_then_logs_in(app: TestApp, provider: Provider) {
    serve_tickets(&provider, &[("ticket-1", "76561197960287930")]);
    let first = app.post_key(AUTH, &token_body("ticket-1")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], true);
    assert_eq!(app.account(&first.token()).await["user"]["steam_id"], "76561197960287930");
    let second = app.post_key(AUTH, &token_body("ticket-1")).await;
    assert_eq!(second.status, 200);
    assert!(second.body.get("created").is_none());
    assert_eq!(user_id(&second.token()), user_id(&first.token()));
    app.post_key(AUTH, "{}").await.assert_error(400, 3, "Steam access token is required.");
    // `sync` in the body is an unknown field: no import.
    let reply = app.post_key(AUTH, &json!({"token": "ticket-1", "sync": true}).to_string()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(provider.hits(STEAM_FRIENDS), 0);
}

provider_test!(refused_or_malformed_steam_answers_are_unauthenticated);
async fn refused_or_malformed_steam_answers_are_unauthenticated(app: TestApp, provider: Provider) {
    serve_tickets(&provider, &[("ticket-1", "76561197960287930")]);
    app.post_key(AUTH, &token_body("forged-ticket")).await.assert_error(401, 16, REFUSED);
    for (what, canned) in [
        ("no params", Canned::json(json!({"response": {}}))),
        ("numeric steamid", Canned::json(json!({"response": {"params": {"steamid": 76561197960287930u64}}}))),
        ("steamid not a number", Canned::json(json!({"response": {"params": {"steamid": "abc"}}}))),
    ] {
        provider.answer(STEAM_TICKET, canned);
        let reply = app.post_key(AUTH, &token_body("ticket-1")).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
    }
}

provider_test!(steam_ticket_for_another_app_is_refused, |c, _p| {
    c.social.steam.app_id = crate::provider::STEAM_APP_ID + 1;
});
async fn steam_ticket_for_another_app_is_refused(app: TestApp, provider: Provider) {
    serve_tickets(&provider, &[("ticket-1", "76561197960287930")]);
    app.post_key(AUTH, &token_body("ticket-1")).await.assert_error(401, 16, REFUSED);
    assert_eq!(provider.hits(STEAM_TICKET), 1);
}

provider_test!(steam_not_configured_is_failed_precondition, |c, _p| {
    c.social.steam.publisher_key = String::new();
});
async fn steam_not_configured_is_failed_precondition(app: TestApp, provider: Provider) {
    serve_tickets(&provider, &[("ticket-1", "76561197960287930")]);
    // Before any body check on authenticate...
    app.post_key(AUTH, "").await.assert_error(400, 9, NOT_CONFIGURED);
    let token = app.new_device_token().await;
    // ...but after the token check on link.
    app.post_bearer("/v2/account/link/steam", &token, "{}").await.assert_error(
        400,
        3,
        "Steam access token is required.",
    );
    app.post_bearer("/v2/account/link/steam", &token, &link_body("ticket-1", None)).await.assert_error(
        400,
        9,
        NOT_CONFIGURED,
    );
    app.post_bearer("/v2/account/unlink/steam", &token, &token_body("ticket-1")).await.assert_error(401, 16, REFUSED);
    assert_eq!(provider.hits(STEAM_TICKET), 0);
}

provider_test!(steam_outage_is_unauthenticated_within_the_timeout, |c, _p| {
    c.social.timeout_ms = 300;
});
async fn steam_outage_is_unauthenticated_within_the_timeout(app: TestApp, provider: Provider) {
    let ok = json!({"response": {"params": {"steamid": "76561197960287930"}}});
    for (what, canned) in [
        ("server error", Canned::status(503, "busy")),
        ("forbidden", Canned::status(403, "bad key")),
        ("garbage", Canned::garbage()),
        ("slow", Canned::json(ok).slow(Duration::from_secs(3))),
    ] {
        provider.answer(STEAM_TICKET, canned);
        let started = Instant::now();
        let reply = app.post_key(AUTH, &token_body("ticket-1")).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
        assert!(started.elapsed() < Duration::from_millis(2000), "{what} took {:?}", started.elapsed());
    }
    provider.stop().await;
    app.post_key(AUTH, &token_body("ticket-1")).await.assert_error(401, 16, REFUSED);
}

provider_test!(steam_link_conflicts_and_unlink_keeps_the_last_identifier);
async fn steam_link_conflicts_and_unlink_keeps_the_last_identifier(app: TestApp, provider: Provider) {
    serve_tickets(&provider, &[("ticket-mine", "76561190000000001"), ("ticket-other", "76561190000000002")]);
    serve_friends(&provider, &[]);
    let mine = app.new_device_token().await;
    let theirs = app.new_device_token().await;
    // Only the wrapped body counts: a top-level token is ignored.
    app.post_bearer("/v2/account/link/steam", &mine, &token_body("ticket-mine")).await.assert_error(
        400,
        3,
        "Steam access token is required.",
    );
    let reply = app.post_bearer("/v2/account/link/steam", &mine, &link_body("ticket-mine", Some(false))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(app.account(&mine).await["user"]["steam_id"], "76561190000000001");
    assert_eq!(provider.hits(STEAM_FRIENDS), 0);
    app.post_bearer("/v2/account/link/steam", &theirs, &link_body("ticket-mine", None)).await.assert_error(
        409,
        6,
        "Steam ID is already in use.",
    );
    app.post_bearer("/v2/account/link/steam", &theirs, &link_body("forged", None)).await.assert_error(401, 16, REFUSED);
    app.post_bearer("/v2/account/unlink/steam", &mine, &token_body("ticket-other")).await.assert_error(403, 7, LAST);
    assert_eq!(app.post_bearer("/v2/account/unlink/steam", &mine, &token_body("ticket-mine")).await.status, 200);
    assert!(app.account(&mine).await["user"].get("steam_id").is_none());
    let only = app.post_key(AUTH, &token_body("ticket-other")).await.token();
    app.post_bearer("/v2/account/unlink/steam", &only, "{}").await.assert_error(403, 7, LAST);
}

provider_test!(sync_imports_steam_friends_once_across_logins);
async fn sync_imports_steam_friends_once_across_logins(app: TestApp, provider: Provider) {
    serve_tickets(
        &provider,
        &[("t-me", "76561190000000010"), ("t-ann", "76561190000000011"), ("t-bob", "76561190000000012")],
    );
    // 13 has no account; bob's profile is private.
    serve_friends(&provider, &[("76561190000000010", vec!["76561190000000011", "76561190000000013"])]);
    let ann = app.post_key(AUTH, &token_body("t-ann")).await.token();
    let bob = app.post_key(&format!("{AUTH}?sync=true"), &token_body("t-bob")).await;
    assert_eq!(bob.status, 200, "a private friend list is no error: {}", bob.text);
    let me = app.post_key(&format!("{AUTH}?sync=true"), &token_body("t-me")).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let me = me.token();
    let friends = friend_ids(&app, &me).await;
    assert_eq!(friends.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), [user_id(&ann)]);
    assert_eq!(friends[0].1["state"], 0);
    assert_eq!(friends[0].1["metadata"], r#"{"provider": "steam"}"#);
    assert_eq!(friend_ids(&app, &ann).await.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), [user_id(&me)]);
    assert_eq!(app.post_key(&format!("{AUTH}?sync=1"), &token_body("t-me")).await.status, 200);
    assert_eq!(provider.hits(STEAM_FRIENDS), 3);
    assert_eq!(friend_ids(&app, &me).await.len(), 1);
    assert_eq!(app.account(&me).await["user"]["edge_count"], 1);
    assert_eq!(app.account(&ann).await["user"]["edge_count"], 1);
    // A failing friend list does not fail the login.
    provider.answer(STEAM_FRIENDS, Canned::status(500, "down"));
    assert_eq!(app.post_key(&format!("{AUTH}?sync=true"), &token_body("t-me")).await.status, 200);
    assert!(friend_ids(&app, &bob.token()).await.is_empty());
}

provider_test!(link_steam_imports_friends_by_default);
async fn link_steam_imports_friends_by_default(app: TestApp, provider: Provider) {
    serve_tickets(&provider, &[("t-me", "76561190000000020"), ("t-ann", "76561190000000021")]);
    serve_friends(&provider, &[("76561190000000020", vec!["76561190000000021"])]);
    let ann = app.post_key(AUTH, &token_body("t-ann")).await.token();
    let me = app.new_device_token().await;
    assert_eq!(app.post_bearer("/v2/account/link/steam", &me, &link_body("t-me", None)).await.status, 200);
    assert_eq!(friend_ids(&app, &me).await.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), [user_id(&ann)]);
}
