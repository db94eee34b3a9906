//! account.md §5: `GET /v2/friend` over friends made by a Steam import.

use serde_json::json;

use crate::helpers::TestApp;
use crate::provider::{token_body, user_id, Canned, Provider, STEAM_FRIENDS, STEAM_TICKET};
use crate::provider_test;

const STEAM: &str = "/v2/account/authenticate/steam";

/// The caller plus three Steam friends with accounts; returns (caller token, friend ids).
async fn three_friends(app: &TestApp, provider: &Provider) -> (String, Vec<String>) {
    provider.answer_with(STEAM_TICKET, |query| {
        let id = query.get("ticket").cloned().unwrap_or_default();
        Canned::json(json!({"response": {"params": {"steamid": id}}}))
    });
    provider.answer(
        STEAM_FRIENDS,
        Canned::json(json!({"friendslist": {"friends": [{"steamid": "101"}, {"steamid": "102"}, {"steamid": "103"}]}})),
    );
    let mut friends = Vec::new();
    for ticket in ["101", "102", "103"] {
        friends.push(user_id(&app.post_key(STEAM, &token_body(ticket)).await.token()));
    }
    let me = app.post_key(&format!("{STEAM}?sync=true"), &token_body("100")).await.token();
    (me, friends)
}

provider_test!(friends_are_paged_with_an_opaque_cursor);
async fn friends_are_paged_with_an_opaque_cursor(app: TestApp, provider: Provider) {
    let (me, mut expected) = three_friends(&app, &provider).await;
    let first = app.get_bearer("/v2/friend?limit=2", &me).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["friends"].as_array().unwrap().len(), 2);
    let cursor = first.body["cursor"].as_str().expect("a cursor while more remain").to_string();
    let second = app.get_bearer(&format!("/v2/friend?limit=2&state=0&cursor={cursor}"), &me).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["friends"].as_array().unwrap().len(), 1);
    assert!(second.body.get("cursor").is_none());
    let mut seen: Vec<String> = first.body["friends"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["friends"].as_array().unwrap())
        .map(|f| f["user"]["id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    // Without a limit, all of them; no invites here.
    assert_eq!(app.get_bearer("/v2/friend", &me).await.body["friends"].as_array().unwrap().len(), 3);
    let invites = app.get_bearer("/v2/friend?state=1", &me).await;
    assert_eq!(invites.text, "{}");
}

provider_test!(friend_list_parameters_are_checked);
async fn friend_list_parameters_are_checked(app: TestApp, _provider: Provider) {
    let me = app.new_device_token().await;
    for limit in ["0", "1001", "-1"] {
        app.get_bearer(&format!("/v2/friend?limit={limit}"), &me).await.assert_error(
            400,
            3,
            "Invalid limit - limit must be between 1 and 1000.",
        );
    }
    app.get_bearer("/v2/friend?state=4", &me).await.assert_error(
        400,
        3,
        "Invalid state - state must be between 0 and 3.",
    );
    app.get_bearer("/v2/friend?cursor=not-a-cursor", &me).await.assert_error(400, 3, "Cursor is invalid.");
    app.get_bearer("/v2/friend?limit=ten", &me).await.assert_error(
        400,
        3,
        "parsing field \"limit\": strconv.ParseInt: parsing \"ten\": invalid syntax",
    );
    assert_eq!(app.get_bearer("/v2/friend", &me).await.text, "{}");
    let reply = app.client.get(app.url("/v2/friend")).send().await.unwrap();
    assert_eq!(reply.status(), 401);
}

provider_test!(deleting_an_account_removes_its_friend_edges);
async fn deleting_an_account_removes_its_friend_edges(app: TestApp, provider: Provider) {
    let (me, _) = three_friends(&app, &provider).await;
    let friend = app.post_key(STEAM, &token_body("101")).await.token();
    assert_eq!(app.account(&friend).await["user"]["edge_count"], 1);
    assert_eq!(app.delete_bearer("/v2/account", &me).await.status, 200);
    assert_eq!(app.get_bearer("/v2/friend", &friend).await.text, "{}");
    assert!(app.account(&friend).await["user"].get("edge_count").is_none());
}
