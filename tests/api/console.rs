//! console.md: staff authentication, account operations, audit, status and config, on the
//! console listener.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{claims, wait_until, Reply, TestApp, ADMIN};
use crate::provider::{token_body, Canned, Provider};
use crate::{both_backends, provider_test, storage_free};

/// A device account: (user id, access token).
async fn device_user(app: &TestApp, device: &str) -> (String, String) {
    let reply = app.device(device).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let token = reply.token();
    (claims(&token)["uid"].as_str().unwrap().to_string(), token)
}

fn audit_actions(reply: &Reply) -> Vec<(String, String, String, String)> {
    reply.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("username"), s("action"), s("target"), s("result"))
        })
        .collect()
}

// ---- §2 staff authentication -------------------------------------------------------------

both_backends!(login_with_the_configured_admin_answers_a_console_token);
async fn login_with_the_configured_admin_answers_a_console_token(app: TestApp) {
    let reply = app.console_authenticate(ADMIN.0, ADMIN.1).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let claims = claims(&reply.token());
    assert_eq!(claims["usn"], "admin");
    assert_eq!(claims["rol"], 1);
    assert!(claims["cki"].as_str().is_some_and(|c| c.len() == 36));
    let now = hearth::clock::unix_now();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now + 86_390..=now + 86_401).contains(&exp), "{exp}");
}

both_backends!(wrong_username_or_password_get_the_same_invalid_credentials);
async fn wrong_username_or_password_get_the_same_invalid_credentials(app: TestApp) {
    app.console_authenticate("admin", "wrong-password").await.assert_error(401, 16, "Invalid credentials.");
    app.console_authenticate("someone", "password").await.assert_error(401, 16, "Invalid credentials.");
    app.console_authenticate("", "").await.assert_error(401, 16, "Invalid credentials.");
}

both_backends!(lockout_after_max_failed_logins_until_the_window_passes, |c: &mut hearth::config::Config| {
    c.console.max_failed_logins = 3;
    c.console.failed_login_window_sec = 2;
});
async fn lockout_after_max_failed_logins_until_the_window_passes(app: TestApp) {
    for _ in 0..3 {
        app.console_authenticate("admin", "nope-nope").await.assert_error(401, 16, "Invalid credentials.");
    }
    // Locked: even the right password is refused, and Basic too.
    app.console_authenticate(ADMIN.0, ADMIN.1).await.assert_error(429, 8, "Try again later.");
    let basic =
        app.client.get(app.console_url("/v2/console/status")).basic_auth(ADMIN.0, Some(ADMIN.1)).send().await.unwrap();
    assert_eq!(basic.status().as_u16(), 429);
    app.clock.advance(2);
    assert_eq!(app.console_authenticate(ADMIN.0, ADMIN.1).await.status, 200);
}

both_backends!(a_successful_login_resets_the_failure_count, |c: &mut hearth::config::Config| {
    c.console.max_failed_logins = 3;
});
async fn a_successful_login_resets_the_failure_count(app: TestApp) {
    for _ in 0..2 {
        app.console_authenticate("admin", "nope-nope").await.assert_error(401, 16, "Invalid credentials.");
    }
    assert_eq!(app.console_authenticate(ADMIN.0, ADMIN.1).await.status, 200);
    for _ in 0..2 {
        app.console_authenticate("admin", "nope-nope").await.assert_error(401, 16, "Invalid credentials.");
    }
    // Four failures in the window, but not three in a row since the success.
    assert_eq!(app.console_authenticate(ADMIN.0, ADMIN.1).await.status, 200);
}

both_backends!(missing_authentication_is_401_console_authentication_required);
async fn missing_authentication_is_401_console_authentication_required(app: TestApp) {
    for path in ["/v2/console/status", "/v2/console/account", "/v2/console/config", "/v2/console/audit"] {
        let reply = app.console(Method::GET, path, None, "").await;
        reply.assert_error(401, 16, "Console authentication required.");
        assert_eq!(reply.body["details"], serde_json::json!([]), "{}", reply.text);
    }
    let reply =
        app.console(Method::POST, "/v2/console/account/00000000-0000-0000-0000-000000000001/ban", None, "").await;
    reply.assert_error(401, 16, "Console authentication required.");
}

both_backends!(basic_auth_with_the_admin_credentials_is_accepted);
async fn basic_auth_with_the_admin_credentials_is_accepted(app: TestApp) {
    let ok = app.client.get(app.console_url("/v2/console/status")).basic_auth(ADMIN.0, Some(ADMIN.1)).send().await;
    assert_eq!(ok.unwrap().status().as_u16(), 200);
    let bad = app.client.get(app.console_url("/v2/console/status")).basic_auth(ADMIN.0, Some("nope")).send().await;
    assert_eq!(bad.unwrap().status().as_u16(), 401);
}

both_backends!(client_token_is_refused_by_the_console_and_console_token_by_the_client_api);
async fn client_token_is_refused_by_the_console_and_console_token_by_the_client_api(app: TestApp) {
    let client_token = app.new_device_token().await;
    app.console_get("/v2/console/status", &client_token).await.assert_error(401, 16, "Console authentication invalid.");
    let console_token = app.console_token().await;
    app.get_bearer("/v2/account", &console_token).await.assert_error(401, 16, "Auth token invalid");
    // Even when both sides are configured with the same key.
    assert_eq!(app.console_get("/v2/console/status", &console_token).await.status, 200);
}

both_backends!(same_key_on_both_sides_still_keeps_tokens_apart, |c: &mut hearth::config::Config| {
    c.console.signing_key = c.session.encryption_key.clone();
});
async fn same_key_on_both_sides_still_keeps_tokens_apart(app: TestApp) {
    let client_token = app.new_device_token().await;
    assert_eq!(app.console_get("/v2/console/status", &client_token).await.status, 401);
    let console_token = app.console_token().await;
    assert_eq!(app.get_bearer("/v2/account", &console_token).await.status, 401);
}

both_backends!(logout_refuses_the_token_also_after_a_restart);
async fn logout_refuses_the_token_also_after_a_restart(mut app: TestApp) {
    let token = app.console_token().await;
    let other = app.console_token().await;
    let reply = app.console_post("/v2/console/authenticate/logout", &other, &format!(r#"{{"token":"{token}"}}"#)).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "{}"));
    app.console_get("/v2/console/status", &token).await.assert_error(401, 16, "Console authentication invalid.");
    assert_eq!(app.console_get("/v2/console/status", &other).await.status, 200);
    app.restart().await;
    assert_eq!(app.console_get("/v2/console/status", &token).await.status, 401);
    assert_eq!(app.console_get("/v2/console/status", &other).await.status, 200);
    // An empty body logs out the caller's own token.
    assert_eq!(app.console_post("/v2/console/authenticate/logout", &other, "{}").await.status, 200);
    assert_eq!(app.console_get("/v2/console/status", &other).await.status, 401);
}

// ---- §3 accounts ----------------------------------------------------------------------------

both_backends!(account_paths_require_a_valid_user_id);
async fn account_paths_require_a_valid_user_id(app: TestApp) {
    let token = app.console_token().await;
    for (method, path) in [
        (Method::GET, "/v2/console/account/not-a-uuid"),
        (Method::POST, "/v2/console/account/not-a-uuid"),
        (Method::DELETE, "/v2/console/account/not-a-uuid"),
        (Method::POST, "/v2/console/account/not-a-uuid/ban"),
        (Method::POST, "/v2/console/account/not-a-uuid/unban"),
        (Method::POST, "/v2/console/account/not-a-uuid/unlink/custom"),
        (Method::GET, "/v2/console/account/not-a-uuid/friend"),
    ] {
        app.console(method, path, Some(&token), "{}").await.assert_error(400, 3, "Requires a valid user ID.");
    }
}

both_backends!(the_system_user_cannot_be_banned_unbanned_or_deleted);
async fn the_system_user_cannot_be_banned_unbanned_or_deleted(app: TestApp) {
    let token = app.console_token().await;
    let nil = "00000000-0000-0000-0000-000000000000";
    let reply = app.console_post(&format!("/v2/console/account/{nil}/ban"), &token, "").await;
    reply.assert_error(400, 3, "Cannot ban the system user.");
    let reply = app.console_post(&format!("/v2/console/account/{nil}/unban"), &token, "").await;
    reply.assert_error(400, 3, "Cannot unban the system user.");
    let reply = app.console(Method::DELETE, &format!("/v2/console/account/{nil}"), Some(&token), "").await;
    reply.assert_error(400, 3, "Cannot delete the system user.");
}

both_backends!(get_account_prints_every_field_and_unknown_ids_are_404);
async fn get_account_prints_every_field_and_unknown_ids_are_404(app: TestApp) {
    let token = app.console_token().await;
    let (id, _) = device_user(&app, "console-get-device-1").await;
    let reply = app.console_get(&format!("/v2/console/account/{id}"), &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let account = &reply.body["account"];
    assert_eq!(account["user"]["id"], id.as_str());
    assert_eq!(account["user"]["display_name"], "");
    assert_eq!(account["user"]["online"], false);
    assert_eq!(account["user"]["edge_count"], 0);
    assert_eq!(account["devices"][0]["id"], "console-get-device-1");
    assert_eq!(account["email"], "");
    assert_eq!(account["custom_id"], "");
    assert_eq!(reply.body["disable_time"], Value::Null);
    assert_eq!(reply.body["live"]["sessions"], 1);
    let unknown = "6a3b8c0e-0000-4000-8000-000000000001";
    let reply = app.console_get(&format!("/v2/console/account/{unknown}"), &token).await;
    reply.assert_error(404, 5, "Account not found.");
    let reply = app.console_get(&format!("/v2/console/account/{unknown}/friend"), &token).await;
    reply.assert_error(404, 5, "Account not found.");
    let reply = app.console_get(&format!("/v2/console/account/{id}/friend"), &token).await;
    assert_eq!(reply.body, serde_json::json!({"friends": [], "cursor": ""}));
}

both_backends!(update_account_applies_the_client_api_rules);
async fn update_account_applies_the_client_api_rules(app: TestApp) {
    let token = app.console_token().await;
    let (id, user_token) = device_user(&app, "console-update-device-1").await;
    let (_, _) = device_user(&app, "console-update-device-2").await;
    let path = format!("/v2/console/account/{id}");
    let body = r#"{"display_name":"Alice","lang_tag":"fr","metadata":"{\"vip\":true}","custom_id":"custom-alice","email":"Alice@Example.com","password":"password1"}"#;
    let reply = app.console_post(&path, &token, body).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "{}"));
    let account = app.account(&user_token).await;
    assert_eq!(account["user"]["display_name"], "Alice");
    assert_eq!(account["user"]["lang_tag"], "fr");
    assert_eq!(account["user"]["metadata"], "{\"vip\":true}");
    assert_eq!(account["custom_id"], "custom-alice");
    assert_eq!(account["email"], "alice@example.com");
    // The new email and password log in.
    let login =
        app.post_key("/v2/account/authenticate/email", r#"{"email":"alice@example.com","password":"password1"}"#).await;
    assert_eq!(login.status, 200, "{}", login.text);
    // Same messages as the client API.
    app.console_post(&path, &token, &format!(r#"{{"username":"{}"}}"#, "x".repeat(129))).await.assert_error(
        400,
        3,
        "Username invalid, must be 1-128 bytes.",
    );
    app.console_post(&path, &token, r#"{"custom_id":"short"}"#).await.assert_error(
        400,
        3,
        "Invalid custom ID, must be 6-128 bytes.",
    );
    app.console_post(&path, &token, r#"{"email":"not-an-email"}"#).await.assert_error(
        400,
        3,
        "Invalid email address format.",
    );
    app.console_post(&path, &token, r#"{"password":"short"}"#).await.assert_error(
        400,
        3,
        "Password must be at least 8 characters long.",
    );
    app.console_post(&path, &token, r#"{"metadata":"[1]"}"#).await.assert_error(
        400,
        3,
        "Metadata must be a valid JSON object.",
    );
    app.console_post(&path, &token, "{}").await.assert_error(400, 3, "No fields to update.");
    let unknown = "6a3b8c0e-0000-4000-8000-000000000002";
    app.console_post(&format!("/v2/console/account/{unknown}"), &token, r#"{"display_name":"x"}"#).await.assert_error(
        404,
        5,
        "Account not found.",
    );
}

both_backends!(delete_account_closes_its_sockets_and_voids_its_tokens);
async fn delete_account_closes_its_sockets_and_voids_its_tokens(app: TestApp) {
    let token = app.console_token().await;
    let (id, user_token) = device_user(&app, "console-delete-device-1").await;
    let mut ws = app.ws(&user_token, false).await;
    let path = format!("/v2/console/account/{id}?record_deletion=true");
    let reply = app.console(Method::DELETE, &path, Some(&token), "").await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "{}"));
    let (code, reason, texts) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
    assert!(texts.is_empty(), "{texts:?}");
    app.get_bearer("/v2/account", &user_token).await.assert_error(401, 16, "Auth token invalid");
    app.console_get(&format!("/v2/console/account/{id}"), &token).await.assert_error(404, 5, "Account not found.");
}

both_backends!(ban_closes_every_socket_with_the_banned_notification_and_survives_a_restart);
async fn ban_closes_every_socket_with_the_banned_notification_and_survives_a_restart(mut app: TestApp) {
    let token = app.console_token().await;
    let (id, user_token) = device_user(&app, "console-ban-device-1").await;
    let mut first = app.ws(&user_token, true).await;
    let _join = first.recv().await;
    let mut second = app.ws(&user_token, false).await;
    let reply = app.console_post(&format!("/v2/console/account/{id}/ban"), &token, "").await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "{}"));
    for ws in [&mut first, &mut second] {
        let (code, reason, texts) = ws.closed().await;
        assert_eq!((code, reason.as_str()), (1000, "server-side session disconnect"));
        let note = texts
            .iter()
            .find_map(|t| t["notifications"]["notifications"].get(0).cloned())
            .unwrap_or_else(|| panic!("no notification in {texts:?}"));
        assert_eq!((note["subject"].as_str(), note["code"].as_i64()), (Some("banned"), Some(-8)));
    }
    assert!(wait_until(|| app.state.registry.socket_count() == 0).await);
    app.device("console-ban-device-1").await.assert_error(403, 7, "User account banned.");
    app.get_bearer("/v2/account", &user_token).await.assert_error(401, 16, "Auth token invalid");
    let got = app.console_get(&format!("/v2/console/account/{id}"), &token).await;
    assert!(got.body["disable_time"].is_string(), "{}", got.text);

    app.restart().await;
    let token = app.console_token().await;
    app.device("console-ban-device-1").await.assert_error(403, 7, "User account banned.");
    app.get_bearer("/v2/account", &user_token).await.assert_error(401, 16, "Auth token invalid");

    let reply = app.console_post(&format!("/v2/console/account/{id}/unban"), &token, "").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let login = app.device("console-ban-device-1").await;
    assert_eq!(login.status, 200, "{}", login.text);
    // Tokens voided by the ban stay void.
    assert_eq!(app.get_bearer("/v2/account", &user_token).await.status, 401);
    let unknown = "6a3b8c0e-0000-4000-8000-000000000003";
    app.console_post(&format!("/v2/console/account/{unknown}/ban"), &token, "").await.assert_error(
        404,
        5,
        "Account not found.",
    );
}

both_backends!(unlink_removes_each_kind_but_never_the_last_identifier);
async fn unlink_removes_each_kind_but_never_the_last_identifier(app: TestApp) {
    let token = app.console_token().await;
    let (id, user_token) = device_user(&app, "console-unlink-device-1").await;
    for (path, body) in [
        ("/v2/account/link/device", r#"{"id":"console-unlink-device-2"}"#),
        ("/v2/account/link/custom", r#"{"id":"custom-unlink-1"}"#),
        ("/v2/account/link/email", r#"{"email":"unlink@example.com","password":"password1"}"#),
    ] {
        assert_eq!(app.post_bearer(path, &user_token, body).await.status, 200);
    }
    let base = format!("/v2/console/account/{id}/unlink");
    assert_eq!(app.console_post(&format!("{base}/custom"), &token, "").await.status, 200);
    assert_eq!(app.console_post(&format!("{base}/email"), &token, "").await.status, 200);
    let reply = app.console_post(&format!("{base}/device"), &token, r#"{"device_id":"console-unlink-device-2"}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let account = app.account(&user_token).await;
    assert_eq!(account["devices"], serde_json::json!([{"id": "console-unlink-device-1"}]));
    assert!(account.get("email").is_none() && account.get("custom_id").is_none(), "{account}");
    let last = "Cannot unlink last account identifier. Check profile exists and is not last link.";
    app.console_post(&format!("{base}/device"), &token, r#"{"device_id":"console-unlink-device-1"}"#)
        .await
        .assert_error(403, 7, last);
    for kind in ["apple", "facebook", "facebookinstantgame", "gamecenter", "google", "steam"] {
        // Nothing of that kind to remove; the device keeps the account reachable.
        assert_eq!(app.console_post(&format!("{base}/{kind}"), &token, "").await.status, 200, "{kind}");
    }
    assert_eq!(app.account(&user_token).await["devices"], serde_json::json!([{"id": "console-unlink-device-1"}]));
    app.console_post(&format!("{base}/carrier-pigeon"), &token, "").await.assert_error(404, 5, "Not Found");
}

both_backends!(list_filters_and_pages_across_120_accounts);
async fn list_filters_and_pages_across_120_accounts(app: TestApp) {
    let token = app.console_token().await;
    let mut ids = Vec::new();
    // One second apart, so the newest-first order is the reverse of the sign-ups.
    app.clock.freeze();
    for n in 0..120 {
        app.clock.advance(1);
        let reply = app
            .post_key(
                &format!("/v2/account/authenticate/device?username=Player_{n:03}"),
                &format!(r#"{{"id":"list-device-{n:04}"}}"#),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        ids.push(claims(&reply.token())["uid"].as_str().unwrap().to_string());
    }
    app.clock.advance(1);
    let (custom_user, custom_token) = device_user(&app, "list-device-custom").await;
    app.post_bearer("/v2/account/link/custom", &custom_token, r#"{"id":"custom-for-list"}"#).await;
    app.post_bearer("/v2/account/link/email", &custom_token, r#"{"email":"list@example.com","password":"password1"}"#)
        .await;
    ids.push(custom_user.clone());
    ids.reverse();

    // Everything, newest first, 50 a page.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let reply = app.console_get(&format!("/v2/console/account?cursor={cursor}"), &token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["total_count"], 121);
        let users = reply.body["users"].as_array().unwrap();
        seen.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        pages += 1;
        cursor = reply.body["next_cursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
        assert_eq!(users.len(), 50);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    let list = |filter: String| {
        let app = &app;
        let token = &token;
        async move {
            let reply = app.console_get(&format!("/v2/console/account?filter={filter}"), token).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.body
        }
    };
    let names = |body: &Value| -> Vec<String> {
        body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect()
    };
    // A UUID: that account.
    let body = list(ids[7].clone()).await;
    assert_eq!(body["users"].as_array().unwrap().len(), 1);
    assert_eq!(body["users"][0]["id"], ids[7].as_str());
    // `%`: a case-insensitive username pattern, by username, paginated.
    let body = list("player_1%25".into()).await;
    assert_eq!(names(&body), (100..120).map(|n| format!("Player_{n}")).collect::<Vec<_>>());
    let body = list("PLAYER%25".into()).await;
    assert_eq!(body["users"].as_array().unwrap().len(), 50);
    assert_eq!(body["total_count"], 120);
    let next = body["next_cursor"].as_str().unwrap().to_string();
    let reply = app.console_get(&format!("/v2/console/account?filter=PLAYER%25&cursor={next}"), &token).await;
    assert_eq!(reply.body["users"][0]["username"], "Player_050");
    // Anything else: exact username, device id, custom id or email.
    assert_eq!(names(&list("Player_042".into()).await), ["Player_042"]);
    assert!(names(&list("player_042".into()).await).is_empty());
    assert_eq!(names(&list("list-device-0013".into()).await), ["Player_013"]);
    let by_custom = list("custom-for-list".into()).await;
    assert_eq!(by_custom["users"][0]["id"], custom_user.as_str());
    let by_email = list("LIST@example.com".into()).await;
    assert_eq!(by_email["users"][0]["id"], custom_user.as_str());
    assert!(names(&list("nobody-at-all".into()).await).is_empty());
    let reply = app.console_get("/v2/console/account?cursor=%21%21", &token).await;
    reply.assert_error(400, 3, "Invalid cursor.");
}

// A Facebook profile stores its email as Facebook gives it; an email sign-up stores the
// lower-cased form. Both accounts can hold the "same" address, and staff must see both.
provider_test!(exact_email_search_lists_every_account_whose_email_matches_in_any_case);
async fn exact_email_search_lists_every_account_whose_email_matches_in_any_case(app: TestApp, provider: Provider) {
    let profile = serde_json::json!({"id": "90001", "name": "Alice", "email": "Alice@Example.com"});
    provider.answer("/graph/me", Canned::json(profile));
    let facebook = app.post_key("/v2/account/authenticate/facebook", &token_body("EAAB-alice")).await;
    assert_eq!(facebook.body["created"], true, "{}", facebook.text);
    assert_eq!(app.account(&facebook.token()).await["email"], "Alice@Example.com");
    let signup = r#"{"email":"alice@example.com","password":"password1"}"#;
    let email = app.post_key("/v2/account/authenticate/email?username=alice-by-email", signup).await;
    assert_eq!(email.body["created"], true, "{}", email.text);
    let mut both = vec![claims(&facebook.token())["uid"].clone(), claims(&email.token())["uid"].clone()];
    both.sort_by_key(|id| id.to_string());
    let token = app.console_token().await;
    for filter in ["Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM", "aLiCe@eXaMpLe.CoM"] {
        let reply = app.console_get(&format!("/v2/console/account?filter={filter}"), &token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let mut ids: Vec<Value> = reply.body["users"].as_array().unwrap().iter().map(|u| u["id"].clone()).collect();
        ids.sort_by_key(|id| id.to_string());
        assert_eq!(ids, both, "{filter}");
        assert_eq!(reply.body["total_count"], 2, "{filter}");
    }
    // Email sign-up stores the Unicode lower case; a filter in another case still finds it.
    let signup = r#"{"email":"Éloïse@Example.com","password":"password1"}"#;
    let eloise = app.post_key("/v2/account/authenticate/email?username=eloise", signup).await;
    assert_eq!(app.account(&eloise.token()).await["email"], "éloïse@example.com");
    for filter in ["%C3%89lo%C3%AFse@EXAMPLE.com", "%C3%A9lo%C3%AFse@example.com"] {
        let reply = app.console_get(&format!("/v2/console/account?filter={filter}"), &token).await;
        assert_eq!(reply.body["users"][0]["username"], "eloise", "{filter}: {}", reply.text);
        assert_eq!(reply.body["total_count"], 1, "{filter}");
    }
    for other in ["bob@example.com", "alice@example.co", "alice%40example.com%25"] {
        let reply = app.console_get(&format!("/v2/console/account?filter={other}"), &token).await;
        assert_eq!(reply.body["users"], serde_json::json!([]), "{other}: {}", reply.text);
    }
}

both_backends!(config_shows_the_running_settings_with_secrets_redacted);
async fn config_shows_the_running_settings_with_secrets_redacted(app: TestApp) {
    let token = app.console_token().await;
    let reply = app.console_get("/v2/console/config", &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let config: Value = serde_json::from_str(reply.body["config"].as_str().unwrap()).unwrap();
    assert_eq!(config["socket"]["server_key"], "<redacted>");
    assert_eq!(config["session"]["encryption_key"], "<redacted>");
    assert_eq!(config["session"]["refresh_encryption_key"], "<redacted>");
    assert_eq!(config["console"]["password"], "<redacted>");
    assert_eq!(config["console"]["signing_key"], "<redacted>");
    assert_eq!(config["console"]["username"], "admin");
    assert_eq!(config["session"]["token_expiry_sec"], 60);
    for secret in ["defaultkey", "defaultencryptionkey", "defaultrefreshencryptionkey", "defaultsigningkey"] {
        assert!(!reply.text.contains(&format!("\\\"{secret}\\\"")), "{secret} leaked: {}", reply.text);
    }
    let warnings: Vec<&str> =
        reply.body["warnings"].as_array().unwrap().iter().map(|w| w["field"].as_str().unwrap()).collect();
    assert!(warnings.contains(&"console.password") && warnings.contains(&"socket.server_key"), "{warnings:?}");
    assert!(reply.body["server_version"].as_str().unwrap().starts_with("hearth "));
}

// ---- §4 audit ------------------------------------------------------------------------------

both_backends!(every_console_write_and_login_attempt_is_audited);
async fn every_console_write_and_login_attempt_is_audited(app: TestApp) {
    app.console_authenticate("admin", "wrong-password").await;
    let token = app.console_token().await;
    let (id, _) = device_user(&app, "console-audit-device-1").await;
    app.console_post(&format!("/v2/console/account/{id}"), &token, r#"{"display_name":"Audited"}"#).await;
    app.console_post(&format!("/v2/console/account/{id}/ban"), &token, "").await;
    app.console_post(&format!("/v2/console/account/{id}/unban"), &token, "").await;
    app.console_post(&format!("/v2/console/account/{id}/unlink/custom"), &token, "").await;
    app.console_post(
        &format!("/v2/console/account/{id}/unlink/device"),
        &token,
        r#"{"device_id":"console-audit-device-1"}"#,
    )
    .await;
    app.console(Method::DELETE, &format!("/v2/console/account/{id}"), Some(&token), "").await;
    let reply = app.console_get("/v2/console/audit", &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let rows = audit_actions(&reply);
    let expected: Vec<(String, String, String, String)> = [
        ("admin", "delete", id.as_str(), "ok"),
        (
            "admin",
            "unlink_device",
            id.as_str(),
            "Cannot unlink last account identifier. Check profile exists and is not last link.",
        ),
        ("admin", "unlink_custom", id.as_str(), "ok"),
        ("admin", "unban", id.as_str(), "ok"),
        ("admin", "ban", id.as_str(), "ok"),
        ("admin", "update", id.as_str(), "ok"),
        ("admin", "login", "", "ok"),
        ("admin", "login", "", "Invalid credentials."),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(rows, expected);
    let first = &reply.body["entries"][0];
    assert_eq!(first["client_address"], "127.0.0.1");
    assert!(first["create_time"].as_str().unwrap().ends_with('Z'));
}

both_backends!(audit_list_is_paginated_newest_first);
async fn audit_list_is_paginated_newest_first(app: TestApp) {
    for _ in 0..55 {
        app.console_authenticate("intruder", "guess-guess").await;
    }
    let token = app.console_token().await;
    let first = app.console_get("/v2/console/audit", &token).await;
    assert_eq!(first.body["entries"].as_array().unwrap().len(), 50);
    assert_eq!(first.body["entries"][0]["username"], "admin");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app.console_get(&format!("/v2/console/audit?cursor={cursor}"), &token).await;
    assert_eq!(second.body["entries"].as_array().unwrap().len(), 6);
    assert_eq!(second.body["next_cursor"], "");
}

// ---- status with real sockets ----------------------------------------------------------------

both_backends!(status_counts_sockets_and_presences_of_real_sockets);
async fn status_counts_sockets_and_presences_of_real_sockets(app: TestApp) {
    let token = app.console_token().await;
    let (_, a) = device_user(&app, "console-status-device-1").await;
    let (_, b) = device_user(&app, "console-status-device-2").await;
    let reply = app.console_get("/v2/console/status", &token).await;
    let node = &reply.body["nodes"][0];
    assert_eq!((node["session_count"].as_u64(), node["presence_count"].as_u64()), (Some(0), Some(0)));
    let mut with_status = app.ws(&a, true).await;
    let _join = with_status.recv().await;
    let plain = app.ws(&b, false).await;
    let reply = app.console_get("/v2/console/status", &token).await;
    let node = &reply.body["nodes"][0];
    assert_eq!((node["session_count"].as_u64(), node["presence_count"].as_u64()), (Some(2), Some(3)), "{}", reply.text);
    assert_eq!(node["name"], "hearth");
    for field in
        ["health", "match_count", "party_count", "avg_latency_ms", "avg_rate_sec", "avg_input_kbs", "avg_output_kbs"]
    {
        assert!(node[field].is_number(), "{field} missing in {}", reply.text);
    }
    assert!(node["goroutine_count"].as_u64().unwrap() > 0);
    assert!(node["create_time"].as_str().unwrap().contains('.'), "nanoseconds: {}", reply.text);
    assert!(!reply.body["timestamp"].as_str().unwrap().contains('.'));
    with_status.close(1000).await;
    plain.close(1000).await;
    assert!(wait_until(|| app.state.registry.socket_count() == 0).await);
    let reply = app.console_get("/v2/console/status", &token).await;
    let node = &reply.body["nodes"][0];
    assert_eq!((node["session_count"].as_u64(), node["presence_count"].as_u64()), (Some(0), Some(0)));
}

// ---- the live feed ---------------------------------------------------------------------------

both_backends!(live_feed_sends_history_then_a_sample_a_second);
async fn live_feed_sends_history_then_a_sample_a_second(app: TestApp) {
    let token = app.console_token().await;
    let (_, user) = device_user(&app, "console-live-device-1").await;
    let _ws = app.ws(&user, true).await;
    let mut res = app.client.get(app.console_url("/v2/console/live")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while text.matches("\ndata: ").count() + usize::from(text.starts_with("data: ")) < 2 {
        let chunk = tokio::time::timeout_at(deadline, res.chunk()).await.expect("a sample within 5 s").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.expect("stream open")));
    }
    assert!(text.starts_with("event: history\ndata: ["), "{text}");
    let last = text.trim_end().rsplit("data: ").next().unwrap();
    let sample: Value = serde_json::from_str(last).unwrap();
    assert_eq!(sample["sessions"], 1, "{sample}");
    assert_eq!(sample["presences"], 2, "{sample}");
    assert!(sample["logins"]["device"]["created"].is_number());
    assert!(sample["latency_p99_ms"].is_number());
    assert_eq!(sample["status"]["session_count"], 1);
    // Without authentication there is no stream.
    let res = app.client.get(app.console_url("/v2/console/live")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

/// The first event of a live stream opened with `since`: the history array.
async fn live_history(app: &TestApp, token: &str, since: &str) -> Vec<Value> {
    let url = app.console_url(&format!("/v2/console/live{since}"));
    let mut res = app.client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout_at(deadline, res.chunk()).await.expect("history at once").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.expect("stream open")));
    }
    let data = text.strip_prefix("event: history\ndata: ").expect("history first");
    serde_json::from_str(data.split("\n\n").next().unwrap()).unwrap()
}

storage_free!(a_page_opened_later_gets_the_history_since_the_instant_it_asks_for);
async fn a_page_opened_later_gets_the_history_since_the_instant_it_asks_for(app: TestApp) {
    let token = app.console_token().await;
    // The sampler takes one a second: wait for three.
    assert!(wait_until(|| app.state.console.live.len() >= 3).await);
    let all = live_history(&app, &token, "?since=0").await;
    assert!(all.len() >= 3, "{}", all.len());
    let times: Vec<u64> = all.iter().map(|s| s["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    // Only the newest carries the node's status.
    assert_eq!(all.last().unwrap()["status"]["name"], app.config.name.as_str());
    assert!(all[0].get("status").is_none());
    // Since the second one: everything after it.
    let later = live_history(&app, &token, &format!("?since={}", times[1])).await;
    assert_eq!(later.first().unwrap()["time"].as_u64(), Some(times[2]));
    // The default is the last 15 minutes: all of it here.
    assert!(live_history(&app, &token, "").await.len() >= all.len());
    let future = live_history(&app, &token, &format!("?since={}", times.last().unwrap() + 3_600_000)).await;
    assert!(future.is_empty());
    let res = app.client.get(app.console_url("/v2/console/live?since=yesterday")).bearer_auth(&token).send().await;
    let body: Value = res.unwrap().json().await.unwrap();
    assert_eq!(body["code"], 3);
    assert_eq!(body["message"], "parsing field \"since\": strconv.ParseInt: parsing \"yesterday\": invalid syntax");
}

both_backends!(the_web_page_and_its_assets_are_served_from_the_binary);
async fn the_web_page_and_its_assets_are_served_from_the_binary(app: TestApp) {
    for (path, kind) in [
        ("/", "text/html"),
        ("/console.js", "text/javascript"),
        ("/console.css", "text/css"),
        ("/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/vendor/uPlot.min.css", "text/css"),
        ("/vendor/uPlot.LICENSE.txt", "text/plain"),
    ] {
        let res = app.client.get(app.console_url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(!res.text().await.unwrap().is_empty(), "{path}");
    }
}

both_backends!(the_audit_filters_by_staff_action_and_time_and_names_the_target);
async fn the_audit_filters_by_staff_action_and_time_and_names_the_target(app: TestApp) {
    let token = app.console_token().await;
    let (uid, _) = device_user(&app, "console-audit-filter-1").await;
    let username = app.console_get(&format!("/v2/console/account/{uid}"), &token).await.body["account"]["user"]
        ["username"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock.freeze();
    let before_ban = app.clock.now();
    app.clock.advance(10);
    assert_eq!(app.console_post(&format!("/v2/console/account/{uid}/ban"), &token, "").await.status, 200);
    app.clock.advance(10);
    assert_eq!(app.console_post(&format!("/v2/console/account/{uid}/unban"), &token, "").await.status, 200);
    assert_eq!(app.console_authenticate("someone-else", "wrong-password").await.status, 401);
    let list = |query: &str| {
        let path = format!("/v2/console/audit?{query}");
        let token = token.clone();
        let app = &app;
        async move { app.console_get(&path, &token).await }
    };
    let bans = list("action=ban").await;
    assert_eq!(bans.status, 200, "{}", bans.text);
    let entries = bans.body["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["target"], uid.as_str());
    assert_eq!(entries[0]["target_username"], username.as_str());
    assert_eq!(entries[0]["username"], ADMIN.0);
    let by_staff = list("username=someone-else").await.body["entries"].as_array().unwrap().clone();
    assert_eq!(by_staff.len(), 1);
    assert_eq!((by_staff[0]["action"].as_str(), by_staff[0]["target_username"].as_str()), (Some("login"), Some("")));
    // Time: the ban happened 10 s after `before_ban`, the unban 20 s after.
    let window = list(&format!("since={}&until={}", before_ban + 5, before_ban + 15)).await;
    let actions: Vec<&str> =
        window.body["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["ban"]);
    let both = list(&format!("username={}&since={}", ADMIN.0, before_ban + 5)).await;
    let actions: Vec<&str> =
        both.body["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["unban", "ban"]);
    // One account's history: its ban and unban, nothing of the stranger's login.
    let history = list(&format!("target={uid}")).await;
    let actions: Vec<&str> =
        history.body["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["unban", "ban"]);
    list("since=soon").await.assert_error(
        400,
        3,
        "parsing field \"since\": strconv.ParseInt: parsing \"soon\": invalid syntax",
    );
    // A deleted account's rows stay, without a username.
    assert_eq!(
        app.client
            .delete(app.console_url(&format!("/v2/console/account/{uid}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let after = list("action=ban").await.body["entries"][0].clone();
    assert_eq!((after["target"].as_str(), after["target_username"].as_str()), (Some(uid.as_str()), Some("")));
}

both_backends!(audit_rows_past_their_retention_are_swept, |c: &mut hearth::config::Config| {
    c.console.audit_retention_days = 90;
});
async fn audit_rows_past_their_retention_are_swept(app: TestApp) {
    let token = app.console_token().await;
    let (uid, _) = device_user(&app, "console-audit-retention-1").await;
    assert_eq!(app.console_post(&format!("/v2/console/account/{uid}/ban"), &token, "").await.status, 200);
    app.clock.advance(89 * 86_400);
    let token = app.console_token().await;
    assert_eq!(app.console_post(&format!("/v2/console/account/{uid}/unban"), &token, "").await.status, 200);
    hearth::console::sweep(&app.state).await;
    let actions = |reply: &Reply| -> Vec<String> {
        reply.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(actions(&app.console_get("/v2/console/audit", &token).await), ["unban", "login", "ban", "login"]);
    // 91 days after the ban (2 after the unban): the ban and its login are gone.
    app.clock.advance(2 * 86_400);
    let token = app.console_token().await;
    hearth::console::sweep(&app.state).await;
    assert_eq!(actions(&app.console_get("/v2/console/audit", &token).await), ["login", "unban", "login"]);
}

both_backends!(failed_logins_past_the_cap_of_a_minute_are_counted_in_one_row, |c: &mut hearth::config::Config| {
    c.console.audit_failed_logins_per_minute = 3;
    c.console.max_failed_logins = 0;
});
async fn failed_logins_past_the_cap_of_a_minute_are_counted_in_one_row(app: TestApp) {
    app.clock.freeze();
    // Start at the beginning of a minute, so the ten attempts share it.
    app.clock.advance(60 - app.clock.now().rem_euclid(60));
    let names: Vec<String> = (0..10).map(|n| format!("spray-{n}")).collect();
    let attempts = join_all(names.iter().map(|name| app.console_authenticate(name, "guess"))).await;
    assert!(attempts.iter().all(|r| r.status == 401));
    let rows = app.state.store.list_audit(&Default::default(), None, 100).await.unwrap();
    assert_eq!(rows.iter().filter(|r| r.action == "login").count(), 3, "the cap of the minute");
    // The next minute: the seven over the cap are written as one row by the sweep.
    app.clock.advance(60);
    hearth::console::sweep(&app.state).await;
    let rows = app.state.store.list_audit(&Default::default(), None, 100).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].result, "7 more failed logins in one minute, past the cap of 3, not listed one by one");
    // A successful login is never capped.
    let token = app.console_token().await;
    assert!(!token.is_empty());
    let rows = app.state.store.list_audit(&Default::default(), None, 100).await.unwrap();
    assert_eq!((rows.len(), rows[0].result.as_str()), (5, "ok"));
}

both_backends!(the_newest_first_list_pages_through_accounts_made_in_one_second);
async fn the_newest_first_list_pages_through_accounts_made_in_one_second(app: TestApp) {
    let token = app.console_token().await;
    app.clock.freeze();
    let mut ids = Vec::new();
    for n in 0..110 {
        let (uid, _) = device_user(&app, &format!("one-second-device-{n:04}")).await;
        ids.push(uid);
    }
    // Ties on the creation time are ordered by id, descending, and the cursor keeps its place.
    ids.sort();
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let reply = app.console_get(&format!("/v2/console/account?cursor={cursor}"), &token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["total_count"], 110);
        seen.extend(reply.body["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
        cursor = reply.body["next_cursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen, ids);
}
