//! account.md: GET/PUT/DELETE /v2/account and GET /v2/user.

use crate::both_backends;
use crate::helpers::{claims, TestApp};

both_backends!(get_account_shows_profile_devices_and_omits_defaults);
async fn get_account_shows_profile_devices_and_omits_defaults(app: TestApp) {
    let login = app.post_key("/v2/account/authenticate/device?username=profiled", r#"{"id":"profile-device-1"}"#).await;
    let account = app.account(&login.token()).await;
    let user = &account["user"];
    assert_eq!(user["id"], claims(&login.token())["uid"]);
    assert_eq!(user["username"], "profiled");
    assert_eq!(user["lang_tag"], "en");
    assert_eq!(user["metadata"], "{}");
    assert!(user.get("display_name").is_none());
    assert!(user.get("online").is_none());
    assert!(user.get("edge_count").is_none());
    let created = user["create_time"].as_str().unwrap();
    assert_eq!(created.len(), 20, "{created}");
    assert!(created.ends_with('Z'));
    assert_eq!(account["wallet"], "{}");
    assert_eq!(account["devices"], serde_json::json!([{"id":"profile-device-1"}]));
    assert!(account.get("email").is_none());
    assert!(account.get("custom_id").is_none());
    assert!(account.get("disable_time").is_none());
}

both_backends!(update_account_sets_and_clears_fields);
async fn update_account_sets_and_clears_fields(app: TestApp) {
    let token = app.new_device_token().await;
    let reply =
        app.put_bearer("/v2/account", &token, r#"{"displayName":"Alice","timezone":"UTC","location":"Paris"}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.text, "{}");
    let user = app.account(&token).await["user"].clone();
    assert_eq!(user["display_name"], "Alice");
    assert_eq!(user["timezone"], "UTC");
    assert_eq!(app.put_bearer("/v2/account", &token, r#"{"location":""}"#).await.status, 200);
    assert!(app.account(&token).await["user"].get("location").is_none());
}

both_backends!(update_account_rules_in_order);
async fn update_account_rules_in_order(app: TestApp) {
    let token = app.new_device_token().await;
    app.put_bearer("/v2/account", &token, r#"{"username":""}"#).await.assert_error(
        400,
        3,
        "Username invalid, must be 1-128 bytes.",
    );
    app.put_bearer("/v2/account", &token, r#"{"username":"a\u0001b"}"#).await.assert_error(
        400,
        3,
        "Username invalid, no spaces or control characters allowed.",
    );
    app.put_bearer("/v2/account", &token, "{}").await.assert_error(400, 3, "No fields to update.");
    app.put_bearer("/v2/account", &token, r#"{"display_name":null}"#).await.assert_error(
        400,
        3,
        "No fields to update.",
    );
    app.post_key("/v2/account/authenticate/device?username=takenname", r#"{"id":"taken-name-device"}"#).await;
    app.put_bearer("/v2/account", &token, r#"{"username":"takenname"}"#).await.assert_error(
        400,
        3,
        "rpc error: code = AlreadyExists desc = Username is already in use.",
    );
    let long = "d".repeat(256);
    app.put_bearer("/v2/account", &token, &format!(r#"{{"display_name":"{long}"}}"#)).await.assert_error(
        500,
        13,
        "Error while trying to update account.",
    );
    app.put_bearer("/v2/account", &token, r#"{"lang_tag":""}"#).await.assert_error(
        500,
        13,
        "Error while trying to update account.",
    );
}

both_backends!(delete_account_frees_identifiers_and_voids_tokens);
async fn delete_account_frees_identifiers_and_voids_tokens(app: TestApp) {
    let login = app.device("deleted-device-1").await;
    let token = app.device("deleted-device-1").await.token();
    let reply = app.delete_bearer("/v2/account", &token).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "{}");
    // Every token issued before the delete is void, the caller's own too.
    app.get_bearer("/v2/account", &login.token()).await.assert_error(401, 16, "Auth token invalid");
    app.get_bearer("/v2/account", &token).await.assert_error(401, 16, "Auth token invalid");
    app.post_key("/v2/account/authenticate/device?create=false", r#"{"id":"deleted-device-1"}"#).await.assert_error(
        404,
        5,
        "User account not found.",
    );
}

both_backends!(get_users_by_id_username_and_rejects_bad_ids);
async fn get_users_by_id_username_and_rejects_bad_ids(app: TestApp) {
    let a = app.post_key("/v2/account/authenticate/device?username=usera", r#"{"id":"users-device-a"}"#).await;
    app.post_key("/v2/account/authenticate/device?username=userb", r#"{"id":"users-device-b"}"#).await;
    let token = a.token();
    let uid = claims(&token)["uid"].as_str().unwrap().to_string();
    let reply = app.get_bearer(&format!("/v2/user?ids={uid}&usernames=userb&usernames=nobody"), &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut names: Vec<String> =
        reply.body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["usera", "userb"]);
    let empty = app.get_bearer("/v2/user", &token).await;
    assert_eq!(empty.text, "{}");
    let none = app.get_bearer("/v2/user?usernames=nobody", &token).await;
    assert_eq!(none.text, "{}");
    app.get_bearer("/v2/user?ids=not-a-uuid", &token).await.assert_error(
        400,
        3,
        "ID 'not-a-uuid' is not a valid system ID.",
    );
}

both_backends!(renaming_to_the_current_name_changes_nothing);
async fn renaming_to_the_current_name_changes_nothing(app: TestApp) {
    let login = app.post_key("/v2/account/authenticate/device?username=samename", r#"{"id":"same-name-device"}"#).await;
    let token = login.token();
    let before = app.account(&token).await["user"]["update_time"].clone();
    app.clock.advance(1);
    assert_eq!(app.put_bearer("/v2/account", &token, r#"{"username":"samename"}"#).await.status, 200);
    assert_eq!(app.account(&token).await["user"]["update_time"], before);
    assert_eq!(app.put_bearer("/v2/account", &token, r#"{"timezone":"UTC"}"#).await.status, 200);
    assert_ne!(app.account(&token).await["user"]["update_time"], before);
}

both_backends!(deleted_account_token_link_answers_like_nakama);
async fn deleted_account_token_link_answers_like_nakama(app: TestApp) {
    let token = app.new_device_token().await;
    // The row goes without the delete's invalidation (by hand, or on another node before
    // the news arrives): the token still verifies and the account is gone.
    let uid = uuid::Uuid::parse_str(claims(&token)["uid"].as_str().unwrap()).unwrap();
    assert!(app.state.store.delete_account(uid).await.unwrap());
    app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"orphan-custom"}"#).await.assert_error(
        409,
        6,
        "Custom ID is already in use.",
    );
    app.post_bearer("/v2/account/link/device", &token, r#"{"id":"orphan-device-1"}"#).await.assert_error(
        500,
        13,
        "Error linking Device ID.",
    );
    assert_eq!(app.put_bearer("/v2/account", &token, r#"{"timezone":"UTC"}"#).await.status, 200);
}
