//! link-unlink.md: device, custom and email.

use crate::both_backends;
use crate::helpers::TestApp;

const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";

both_backends!(link_custom_replaces_and_conflicts);
async fn link_custom_replaces_and_conflicts(app: TestApp) {
    let token = app.new_device_token().await;
    let other = app.new_device_token().await;
    assert_eq!(app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"custom-one"}"#).await.status, 200);
    // Idempotent on the owner.
    assert_eq!(app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"custom-one"}"#).await.status, 200);
    app.post_bearer("/v2/account/link/custom", &other, r#"{"id":"custom-one"}"#).await.assert_error(
        409,
        6,
        "Custom ID is already in use.",
    );
    assert_eq!(app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"custom-two"}"#).await.status, 200);
    assert_eq!(app.account(&token).await["custom_id"], "custom-two");
    // The replaced id is free again.
    assert_eq!(app.post_bearer("/v2/account/link/custom", &other, r#"{"id":"custom-one"}"#).await.status, 200);
}

both_backends!(link_custom_uses_its_own_wording);
async fn link_custom_uses_its_own_wording(app: TestApp) {
    let token = app.new_device_token().await;
    app.post_bearer("/v2/account/link/custom", &token, "{}").await.assert_error(400, 3, "Custom ID is required.");
    app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"a b c d"}"#).await.assert_error(
        400,
        3,
        "Invalid custom ID, no spaces or control characters allowed.",
    );
    app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"abc"}"#).await.assert_error(
        400,
        3,
        "Invalid custom ID, must be 6-128 bytes.",
    );
    // The query string is ignored entirely.
    let reply = app.post_bearer("/v2/account/link/custom?create=maybe", &token, r#"{"id":"custom-query"}"#).await;
    assert_eq!(reply.status, 200);
}

both_backends!(link_device_adds_and_conflicts);
async fn link_device_adds_and_conflicts(app: TestApp) {
    let token = app.new_device_token().await;
    let other = app.new_device_token().await;
    assert_eq!(app.post_bearer("/v2/account/link/device", &token, r#"{"id":"second-device-1"}"#).await.status, 200);
    assert_eq!(app.post_bearer("/v2/account/link/device", &token, r#"{"id":"second-device-1"}"#).await.status, 200);
    assert_eq!(app.account(&token).await["devices"].as_array().unwrap().len(), 2);
    app.post_bearer("/v2/account/link/device", &other, r#"{"id":"second-device-1"}"#).await.assert_error(
        409,
        6,
        "Device ID already in use.",
    );
    app.post_bearer("/v2/account/link/device", &token, r#"{"id":"short"}"#).await.assert_error(
        400,
        3,
        "Device ID invalid, must be 10-128 bytes.",
    );
}

both_backends!(link_email_order_and_password_change);
async fn link_email_order_and_password_change(app: TestApp) {
    let token = app.new_device_token().await;
    let link = "/v2/account/link/email";
    app.post_bearer(link, &token, r#"{"email":"x@example.com"}"#).await.assert_error(
        400,
        3,
        "Email address and password is required.",
    );
    // The password length comes before the format here.
    app.post_bearer(link, &token, r#"{"email":"bad","password":"short"}"#).await.assert_error(
        400,
        3,
        "Password must be at least 8 characters long.",
    );
    app.post_bearer(link, &token, r#"{"email":"bad","password":"password1"}"#).await.assert_error(
        400,
        3,
        "Invalid email address format.",
    );
    assert_eq!(
        app.post_bearer(link, &token, r#"{"email":"Linked@Example.com","password":"password1"}"#).await.status,
        200
    );
    assert_eq!(app.account(&token).await["email"], "linked@example.com");
    assert_eq!(
        app.post_bearer(link, &token, r#"{"email":"linked@example.com","password":"password2"}"#).await.status,
        200
    );
    let email = "/v2/account/authenticate/email";
    app.post_key(email, r#"{"email":"linked@example.com","password":"password1"}"#).await.assert_error(
        401,
        16,
        "Invalid credentials.",
    );
    assert_eq!(app.post_key(email, r#"{"email":"linked@example.com","password":"password2"}"#).await.status, 200);
    let other = app.new_device_token().await;
    app.post_bearer(link, &other, r#"{"email":"linked@example.com","password":"password3"}"#).await.assert_error(
        409,
        6,
        "Email is already in use.",
    );
}

both_backends!(unlink_last_identifier_is_refused);
async fn unlink_last_identifier_is_refused(app: TestApp) {
    let login = app.device("only-device-1").await;
    let token = login.token();
    app.post_bearer("/v2/account/unlink/device", &token, r#"{"id":"only-device-1"}"#).await.assert_error(403, 7, LAST);
    app.post_bearer("/v2/account/unlink/device", &token, "{}").await.assert_error(
        400,
        3,
        "A device ID must be supplied.",
    );
    // Unlinking a kind the account does not have is fine while it keeps another.
    assert_eq!(app.post_bearer("/v2/account/unlink/custom", &token, "{}").await.status, 200);
    assert_eq!(app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"custom-last"}"#).await.status, 200);
    app.post_bearer("/v2/account/unlink/custom", &token, r#"{"id":"custom-other"}"#).await.assert_error(403, 7, LAST);
    assert_eq!(app.post_bearer("/v2/account/unlink/device", &token, r#"{"id":"only-device-1"}"#).await.status, 200);
    app.post_bearer("/v2/account/unlink/custom", &token, r#"{"id":"custom-last"}"#).await.assert_error(403, 7, LAST);
    let account = app.account(&token).await;
    assert_eq!(account["custom_id"], "custom-last");
    assert!(account.get("devices").is_none());
}

both_backends!(unlink_email_clears_email_and_password);
async fn unlink_email_clears_email_and_password(app: TestApp) {
    let token = app.new_device_token().await;
    app.post_bearer("/v2/account/link/email", &token, r#"{"email":"gone@example.com","password":"password1"}"#).await;
    assert_eq!(
        app.post_bearer("/v2/account/unlink/email", &token, r#"{"email":"GONE@example.com"}"#).await.status,
        200
    );
    assert!(app.account(&token).await.get("email").is_none());
    app.post_key(
        "/v2/account/authenticate/email?create=false",
        r#"{"email":"gone@example.com","password":"password1"}"#,
    )
    .await
    .assert_error(404, 5, "User account not found.");
}

both_backends!(unlink_another_users_device_is_refused);
async fn unlink_another_users_device_is_refused(app: TestApp) {
    let mine = app.new_device_token().await;
    app.post_bearer("/v2/account/link/device", &mine, r#"{"id":"mine-second-device"}"#).await;
    app.device("someone-elses-device").await;
    app.post_bearer("/v2/account/unlink/device", &mine, r#"{"id":"someone-elses-device"}"#)
        .await
        .assert_error(403, 7, LAST);
}
