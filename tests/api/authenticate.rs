//! authenticate.md: device, custom and email.

use crate::both_backends;
use crate::helpers::{claims, TestApp};

const DEVICE: &str = "/v2/account/authenticate/device";
const CUSTOM: &str = "/v2/account/authenticate/custom";
const EMAIL: &str = "/v2/account/authenticate/email";

both_backends!(device_creates_then_logs_in_without_created);
async fn device_creates_then_logs_in_without_created(app: TestApp) {
    let first = app
        .post_key(
            &format!("{DEVICE}?create=true&username=alice72763892"),
            r#"{"id":"dev-example-72763892","vars":{"k":"v"}}"#,
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], true);
    let c = claims(&first.token());
    assert_eq!(c["usn"], "alice72763892");
    assert_eq!(c["vrs"]["k"], "v");
    let second = app.post_key(DEVICE, r#"{"id":"dev-example-72763892"}"#).await;
    assert_eq!(second.status, 200);
    assert!(second.body.get("created").is_none(), "{}", second.text);
    assert_eq!(claims(&second.token())["uid"], c["uid"]);
}

both_backends!(device_id_missing_is_required);
async fn device_id_missing_is_required(app: TestApp) {
    app.post_key(DEVICE, "").await.assert_error(400, 3, "Device ID is required.");
    app.post_key(DEVICE, "{}").await.assert_error(400, 3, "Device ID is required.");
}

both_backends!(device_id_with_space_is_invalid);
async fn device_id_with_space_is_invalid(app: TestApp) {
    app.post_key(DEVICE, r#"{"id":"has space 12345"}"#).await.assert_error(
        400,
        3,
        "Device ID invalid, no spaces or control characters allowed.",
    );
}

both_backends!(device_id_shorter_than_10_bytes_is_invalid_argument);
async fn device_id_shorter_than_10_bytes_is_invalid_argument(app: TestApp) {
    app.post_key(DEVICE, r#"{"id":"short"}"#).await.assert_error(400, 3, "Device ID invalid, must be 10-128 bytes.");
    let long = "x".repeat(129);
    app.post_key(DEVICE, &format!(r#"{{"id":"{long}"}}"#)).await.assert_error(
        400,
        3,
        "Device ID invalid, must be 10-128 bytes.",
    );
}

both_backends!(create_false_for_unknown_device_is_not_found);
async fn create_false_for_unknown_device_is_not_found(app: TestApp) {
    app.post_key(&format!("{DEVICE}?create=false"), r#"{"id":"unknown-device-1"}"#).await.assert_error(
        404,
        5,
        "User account not found.",
    );
}

both_backends!(generated_username_is_ten_letters);
async fn generated_username_is_ten_letters(app: TestApp) {
    let reply = app.device("generated-name-1").await;
    let usn = claims(&reply.token())["usn"].as_str().unwrap().to_string();
    assert_eq!(usn.len(), 10);
    assert!(usn.chars().all(|c| c.is_ascii_alphabetic()), "{usn}");
}

both_backends!(taken_username_is_already_exists);
async fn taken_username_is_already_exists(app: TestApp) {
    assert_eq!(app.post_key(&format!("{DEVICE}?username=User1"), r#"{"id":"device-one-1"}"#).await.status, 200);
    app.post_key(&format!("{DEVICE}?username=User1"), r#"{"id":"device-two-2"}"#).await.assert_error(
        409,
        6,
        "Username is already in use.",
    );
    // Case-sensitive: user1 is another name.
    assert_eq!(app.post_key(&format!("{DEVICE}?username=user1"), r#"{"id":"device-three-3"}"#).await.status, 200);
}

both_backends!(invalid_username_fails_even_a_login);
async fn invalid_username_fails_even_a_login(app: TestApp) {
    assert_eq!(app.device("existing-device-1").await.status, 200);
    app.post_key(&format!("{DEVICE}?username=a%5B%5Db"), r#"{"id":"existing-device-1"}"#).await.assert_error(
        400,
        3,
        "Username invalid, no spaces or control characters allowed.",
    );
    let long = "x".repeat(129);
    app.post_key(&format!("{DEVICE}?username={long}"), r#"{"id":"existing-device-1"}"#).await.assert_error(
        400,
        3,
        "Username invalid, must be 1-128 bytes.",
    );
}

both_backends!(login_keeps_stored_username);
async fn login_keeps_stored_username(app: TestApp) {
    app.post_key(&format!("{DEVICE}?username=original"), r#"{"id":"keep-name-device"}"#).await;
    let again = app.post_key(&format!("{DEVICE}?username=other"), r#"{"id":"keep-name-device"}"#).await;
    assert_eq!(claims(&again.token())["usn"], "original");
}

both_backends!(custom_id_rules);
async fn custom_id_rules(app: TestApp) {
    app.post_key(CUSTOM, "{}").await.assert_error(400, 3, "Custom ID is required.");
    app.post_key(CUSTOM, r#"{"id":"a b c d e"}"#).await.assert_error(
        400,
        3,
        "Custom ID invalid, no spaces or control characters allowed.",
    );
    app.post_key(CUSTOM, r#"{"id":"abcde"}"#).await.assert_error(400, 3, "Custom ID invalid, must be 6-128 bytes.");
    let created = app.post_key(CUSTOM, r#"{"id":"abcdef"}"#).await;
    assert_eq!(created.body["created"], true);
}

both_backends!(email_validation_order);
async fn email_validation_order(app: TestApp) {
    app.post_key(EMAIL, r#"{"email":"a b@x.com","password":"x"}"#).await.assert_error(
        400,
        3,
        "Invalid email address, no spaces or control characters allowed.",
    );
    app.post_key(EMAIL, r#"{"email":"notanemail","password":"x"}"#).await.assert_error(
        400,
        3,
        "Invalid email address format.",
    );
    app.post_key(EMAIL, r#"{"email":"a@b.cd","password":"x"}"#).await.assert_error(
        400,
        3,
        "Invalid email address, must be 10-255 bytes.",
    );
    app.post_key(EMAIL, "").await.assert_error(400, 3, "Password must be at least 8 characters long.");
    app.post_key(EMAIL, r#"{"password":"password1"}"#).await.assert_error(
        400,
        3,
        "Username is required when email address is not supplied.",
    );
    let long = "p".repeat(1025);
    app.post_key(EMAIL, &format!(r#"{{"email":"long@example.com","password":"{long}"}}"#)).await.assert_error(
        400,
        3,
        "Password must be at most 1024 bytes.",
    );
}

both_backends!(email_is_lower_cased_and_login_checks_password);
async fn email_is_lower_cased_and_login_checks_password(app: TestApp) {
    let created = app.post_key(EMAIL, r#"{"email":"MiXed@Example.COM","password":"password1"}"#).await;
    assert_eq!(created.body["created"], true, "{}", created.text);
    let account = app.account(&created.token()).await;
    assert_eq!(account["email"], "mixed@example.com");
    let login = app.post_key(EMAIL, r#"{"email":"mixed@example.com","password":"password1"}"#).await;
    assert_eq!(login.status, 200);
    assert!(login.body.get("created").is_none());
    app.post_key(EMAIL, r#"{"email":"mixed@example.com","password":"password2"}"#).await.assert_error(
        401,
        16,
        "Invalid credentials.",
    );
    app.post_key(&format!("{EMAIL}?create=false"), r#"{"email":"nobody@example.com","password":"password1"}"#)
        .await
        .assert_error(404, 5, "User account not found.");
}

both_backends!(long_passwords_are_accepted_whole);
async fn long_passwords_are_accepted_whole(app: TestApp) {
    let password = "p".repeat(100);
    let created = app.post_key(EMAIL, &format!(r#"{{"email":"long@example.com","password":"{password}"}}"#)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    // Differs only after byte 72: bcrypt would accept it, argon2 must not.
    let other = format!("{}q", "p".repeat(99));
    app.post_key(EMAIL, &format!(r#"{{"email":"long@example.com","password":"{other}"}}"#)).await.assert_error(
        401,
        16,
        "Invalid credentials.",
    );
}

both_backends!(username_login_mode_never_creates);
async fn username_login_mode_never_creates(app: TestApp) {
    app.post_key(&format!("{EMAIL}?username=ghost"), r#"{"password":"password1"}"#).await.assert_error(
        404,
        5,
        "User account not found.",
    );
    app.post_key(&format!("{EMAIL}?username=emailuser"), r#"{"email":"named@example.com","password":"password1"}"#)
        .await;
    let login = app.post_key(&format!("{EMAIL}?username=emailuser"), r#"{"password":"password1"}"#).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(claims(&login.token())["usn"], "emailuser");
    // A device account has no password.
    app.post_key(&format!("{DEVICE}?username=devuser"), r#"{"id":"device-no-password"}"#).await;
    app.post_key(&format!("{EMAIL}?username=devuser"), r#"{"password":"password1"}"#).await.assert_error(
        401,
        16,
        "Invalid credentials.",
    );
}

both_backends!(eleven_wrong_passwords_are_throttled);
async fn eleven_wrong_passwords_are_throttled(app: TestApp) {
    app.post_key(EMAIL, r#"{"email":"victim@example.com","password":"password1"}"#).await;
    for _ in 0..10 {
        app.post_key(EMAIL, r#"{"email":"victim@example.com","password":"wrongpass"}"#).await.assert_error(
            401,
            16,
            "Invalid credentials.",
        );
    }
    app.post_key(EMAIL, r#"{"email":"victim@example.com","password":"wrongpass"}"#).await.assert_error(
        429,
        8,
        "Try again later.",
    );
    // Even the right password waits for the window.
    app.post_key(EMAIL, r#"{"email":"victim@example.com","password":"password1"}"#).await.assert_error(
        429,
        8,
        "Try again later.",
    );
}

both_backends!(throttle_window_passes_and_success_resets, |c: &mut hearth::config::Config| {
    c.session.max_failed_logins = 2;
    c.session.failed_login_window_sec = 3;
});
async fn throttle_window_passes_and_success_resets(app: TestApp) {
    app.post_key(EMAIL, r#"{"email":"window@example.com","password":"password1"}"#).await;
    for _ in 0..2 {
        assert_eq!(app.post_key(EMAIL, r#"{"email":"window@example.com","password":"wrongpass"}"#).await.status, 401);
    }
    assert_eq!(app.post_key(EMAIL, r#"{"email":"window@example.com","password":"password1"}"#).await.status, 429);
    app.clock.advance(3);
    assert_eq!(app.post_key(EMAIL, r#"{"email":"window@example.com","password":"password1"}"#).await.status, 200);
    // The success reset the count: one failure is not yet a lockout.
    assert_eq!(app.post_key(EMAIL, r#"{"email":"window@example.com","password":"wrongpass"}"#).await.status, 401);
    assert_eq!(app.post_key(EMAIL, r#"{"email":"window@example.com","password":"password1"}"#).await.status, 200);
}

both_backends!(two_concurrent_first_logins_make_one_account);
async fn two_concurrent_first_logins_make_one_account(app: TestApp) {
    for round in 0..5 {
        let id = format!("race-device-{round}");
        let body = format!(r#"{{"id":"{id}"}}"#);
        let (a, b) = tokio::join!(app.post_key(DEVICE, &body), app.post_key(DEVICE, &body));
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(b.status, 200, "{}", b.text);
        assert_eq!(claims(&a.token())["uid"], claims(&b.token())["uid"]);
        let created = [&a, &b].iter().filter(|r| r.body["created"] == true).count();
        assert_eq!(created, 1, "{} / {}", a.text, b.text);
    }
}

// Concurrent device lookups and sign-ups share statements (store::batch):
// a duplicate device in one batch fails that statement, and every call in it must still
// end in the right account.
both_backends!(many_concurrent_device_sign_ups_each_end_in_their_own_account);
async fn many_concurrent_device_sign_ups_each_end_in_their_own_account(app: TestApp) {
    let before = app.state.store.batch_counts();
    // 32 devices, each signing up three times at once: 96 requests in flight.
    let bodies: Vec<String> = (0..96).map(|i| format!(r#"{{"id":"crowd-device-{}"}}"#, i % 32)).collect();
    let replies = futures_util::future::join_all(bodies.iter().map(|b| app.post_key(DEVICE, b))).await;
    let mut owners: std::collections::HashMap<String, (String, usize)> = std::collections::HashMap::new();
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, 200, "{}", reply.text);
        let uid = claims(&reply.token())["uid"].as_str().unwrap().to_string();
        let entry = owners.entry(format!("crowd-device-{}", i % 32)).or_insert((uid.clone(), 0));
        assert_eq!(entry.0, uid, "one device, one account");
        if reply.body["created"] == true {
            entry.1 += 1;
        }
    }
    assert_eq!(owners.len(), 32);
    assert!(owners.values().all(|(_, created)| *created == 1), "each device created exactly once: {owners:?}");
    let distinct: std::collections::HashSet<&String> = owners.values().map(|(uid, _)| uid).collect();
    assert_eq!(distinct.len(), 32, "32 devices, 32 accounts");
    // Every account holds its device: a later login finds the same one.
    for (device, (uid, _)) in &owners {
        let again = app.device(device).await;
        assert_eq!(claims(&again.token())["uid"], uid.as_str());
        assert!(again.body.get("created").is_none(), "{}", again.text);
    }
    let after = app.state.store.batch_counts();
    let lookups = after.lookup_calls - before.lookup_calls;
    let statements = after.lookup_statements - before.lookup_statements;
    assert!(lookups >= 96 + 32, "every login looked up through the batch: {after:?}");
    assert!(statements < lookups, "concurrent lookups shared statements: {after:?}");
    assert!(after.sign_up_calls - before.sign_up_calls >= 32, "{after:?}");
}

// One taken username in a batch of sign-ups fails only that sign-up.
both_backends!(a_taken_username_fails_only_its_own_sign_up_among_concurrent_ones);
async fn a_taken_username_fails_only_its_own_sign_up_among_concurrent_ones(app: TestApp) {
    assert_eq!(app.post_key(DEVICE, r#"{"id":"holder-device"}"#).await.status, 200);
    let holder = app.post_key(DEVICE, r#"{"id":"holder-device"}"#).await;
    let taken = claims(&holder.token())["usn"].as_str().unwrap().to_string();
    let requests: Vec<(String, String)> = (0..40)
        .map(|i| {
            let path = if i == 17 { format!("{DEVICE}?username={taken}") } else { DEVICE.to_string() };
            (path, format!(r#"{{"id":"crowd2-device-{i}"}}"#))
        })
        .collect();
    let before = app.state.store.batch_counts();
    let replies = futures_util::future::join_all(requests.iter().map(|(p, b)| app.post_key(p, b))).await;
    for (i, reply) in replies.iter().enumerate() {
        if i == 17 {
            reply.assert_error(409, 6, "Username is already in use.");
        } else {
            assert_eq!(reply.status, 200, "{}", reply.text);
            assert_eq!(reply.body["created"], true, "{}", reply.text);
        }
    }
    // Only the batch holding the taken name failed (alone or with others).
    let after = app.state.store.batch_counts();
    assert_eq!(after.sign_up_failures - before.sign_up_failures, 1, "{after:?}");
    assert_eq!(after.lookup_failures, 0, "{after:?}");
    // The refused device made no account.
    let refused = app.post_key(&format!("{DEVICE}?create=false"), r#"{"id":"crowd2-device-17"}"#).await;
    refused.assert_error(404, 5, "User account not found.");
}

both_backends!(banned_account_cannot_authenticate);
async fn banned_account_cannot_authenticate(app: TestApp) {
    let reply = app.device("banned-device-1").await;
    let uid = uuid::Uuid::parse_str(claims(&reply.token())["uid"].as_str().unwrap()).unwrap();
    assert!(app.state.accounts.ban(uid).await.unwrap());
    app.device("banned-device-1").await.assert_error(403, 7, "User account banned.");
    app.post_key(&format!("{DEVICE}?create=false"), r#"{"id":"banned-device-1"}"#).await.assert_error(
        403,
        7,
        "User account banned.",
    );
    assert!(app.state.accounts.unban(uid).await.unwrap());
    assert_eq!(app.device("banned-device-1").await.status, 200);
}

both_backends!(refresh_of_a_banned_account_is_refused);
async fn refresh_of_a_banned_account_is_refused(app: TestApp) {
    // A ban stored without its invalidation (set by hand, or on another node before the
    // news arrives): the refresh meets the ban check.
    let login = app.device("banned-device-2").await;
    let uid = uuid::Uuid::parse_str(claims(&login.token())["uid"].as_str().unwrap()).unwrap();
    assert!(app.state.store.set_disable_time(uid, hearth::clock::unix_now()).await.unwrap());
    app.post_key("/v2/account/session/refresh", &format!(r#"{{"token":"{}"}}"#, login.refresh_token()))
        .await
        .assert_error(403, 7, "User account banned.");
    // A real ban voids every token issued before it.
    app.state.accounts.unban(uid).await.unwrap();
    let older = app.device("banned-device-2").await;
    app.state.accounts.ban(uid).await.unwrap();
    app.post_key("/v2/account/session/refresh", &format!(r#"{{"token":"{}"}}"#, older.refresh_token()))
        .await
        .assert_error(401, 16, "Refresh token invalid or expired.");
    app.get_bearer("/v2/account", &older.token()).await.assert_error(401, 16, "Auth token invalid");
}

both_backends!(banned_account_cannot_log_in_by_username);
async fn banned_account_cannot_log_in_by_username(app: TestApp) {
    let created = app
        .post_key(
            &format!("{EMAIL}?username=bannedname"),
            r#"{"email":"bannedname@example.com","password":"password1"}"#,
        )
        .await;
    let uid = uuid::Uuid::parse_str(claims(&created.token())["uid"].as_str().unwrap()).unwrap();
    app.state.accounts.ban(uid).await.unwrap();
    app.post_key(&format!("{EMAIL}?username=bannedname"), r#"{"password":"password1"}"#).await.assert_error(
        403,
        7,
        "User account banned.",
    );
}

both_backends!(username_with_control_character_is_invalid);
async fn username_with_control_character_is_invalid(app: TestApp) {
    app.post_key(&format!("{DEVICE}?username=a%01b"), r#"{"id":"control-device-1"}"#).await.assert_error(
        400,
        3,
        "Username invalid, no spaces or control characters allowed.",
    );
    // Spaces are allowed despite the message.
    let reply = app.post_key(&format!("{DEVICE}?username=has+space"), r#"{"id":"control-device-2"}"#).await;
    assert_eq!(claims(&reply.token())["usn"], "has space");
}

both_backends!(session_vars_travel_in_both_tokens_and_are_not_stored);
async fn session_vars_travel_in_both_tokens_and_are_not_stored(app: TestApp) {
    let reply = app.post_key(DEVICE, r#"{"id":"vars-device-1","vars":{"z":"1","a":"<&>"}}"#).await;
    assert_eq!(claims(&reply.token())["vrs"], serde_json::json!({"a":"<&>","z":"1"}));
    assert_eq!(claims(&reply.refresh_token())["vrs"], serde_json::json!({"a":"<&>","z":"1"}));
    let again = app.device("vars-device-1").await;
    assert!(claims(&again.token()).get("vrs").is_none());
}

// The shared table (tests/common/auth_cases.rs); tests/api/grpc.rs runs it over gRPC.
both_backends!(authenticate_refusals_over_rest);
async fn authenticate_refusals_over_rest(app: TestApp) {
    use crate::common::auth_cases::{refusals, Login};
    for case in refusals() {
        let (path, body) = match &case.login {
            Login::Device(id) => (DEVICE, serde_json::json!({ "id": id })),
            Login::Custom(id) => (CUSTOM, serde_json::json!({ "id": id })),
            Login::Email { email, password } => (EMAIL, serde_json::json!({ "email": email, "password": password })),
        };
        let query = format!("?create={}&username={}", case.create, percent_encode(case.username));
        let reply = app.post_key(&format!("{path}{query}"), &body.to_string()).await;
        assert_eq!(reply.status, case.http_status, "{}: {}", case.name, reply.text);
        assert_eq!(reply.body["code"], case.code, "{}: {}", case.name, reply.text);
        assert_eq!(reply.body["message"], case.message, "{}: {}", case.name, reply.text);
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
