//! social.md §3, authenticate.md §4 facebookinstantgame: HMAC-signed player info. No network
//! call is involved, so there is no key set, expiry or outage to test.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::helpers::TestApp;
use crate::provider::{Provider, INSTANT_GAME_SECRET};
use crate::provider_test;

pub(crate) const AUTH: &str = "/v2/account/authenticate/facebookinstantgame";
pub(crate) const AUTH_REFUSED: &str =
    "Error extracting the Facebook Instant Game player ID or validating the signature";
pub(crate) const REFUSED: &str = "Could not authenticate Facebook Instant Game profile.";
const NOT_CONFIGURED: &str = "Facebook Instant Game authentication is not configured.";
const REQUIRED: &str = "Signed Player Info for a Facebook Instant Game is required.";
const LINK: &str = "/v2/account/link/facebookinstantgame";
const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";

fn signed(secret: &str, algorithm: &str, player_id: &str) -> String {
    let payload = json!({
        "algorithm": algorithm,
        "issued_at": 1_700_000_000,
        "player_id": player_id,
        "request_payload": "level-3",
    });
    sign_payload(secret, &payload.to_string())
}

/// `<signature>.<payload>` for any payload text, signed with HMAC-SHA256.
pub(crate) fn sign_payload(secret: &str, payload: &str) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, payload.as_bytes());
    format!("{}.{payload}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

pub(crate) fn body(info: &str) -> String {
    json!({ "signed_player_info": info }).to_string()
}

provider_test!(signed_player_info_creates_then_logs_in);
async fn signed_player_info_creates_then_logs_in(app: TestApp, _provider: Provider) {
    let info = signed(INSTANT_GAME_SECRET, "HMAC-SHA256", "ig-player-1");
    let first = app.post_key(AUTH, &body(&info)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], true);
    assert_eq!(app.account(&first.token()).await["user"]["facebook_instant_game_id"], "ig-player-1");
    // The camelCase name works too.
    let second = app.post_key(AUTH, &json!({ "signedPlayerInfo": info }).to_string()).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(second.body.get("created").is_none());
    app.post_key(AUTH, "{}").await.assert_error(400, 3, REQUIRED);
}

provider_test!(forged_player_info_is_refused_with_data_loss_on_authenticate);
async fn forged_player_info_is_refused_with_data_loss_on_authenticate(app: TestApp, _provider: Provider) {
    let forged = [
        ("other secret", signed("not-the-secret", "HMAC-SHA256", "ig-victim")),
        ("empty secret", signed("", "HMAC-SHA256", "ig-victim")),
        ("algorithm none", signed(INSTANT_GAME_SECRET, "none", "ig-victim")),
        ("one part", "abc".to_string()),
        ("three parts", format!("{}.x", signed(INSTANT_GAME_SECRET, "HMAC-SHA256", "ig-victim"))),
    ];
    let device = app.new_device_token().await;
    for (what, info) in &forged {
        let reply = app.post_key(AUTH, &body(info)).await;
        assert_eq!(reply.status, 500, "{what}: {}", reply.text);
        reply.assert_error(500, 15, AUTH_REFUSED);
        app.post_bearer(LINK, &device, &body(info)).await.assert_error(401, 16, REFUSED);
    }
    let reply = app.post_key(AUTH, &body(&signed(INSTANT_GAME_SECRET, "HS256", "ig-victim"))).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
}

provider_test!(instant_games_without_a_secret_are_refused, |c, _p| {
    c.social.facebook_instant_game.app_secret = String::new();
});
async fn instant_games_without_a_secret_are_refused(app: TestApp, _provider: Provider) {
    // Nakama would accept this payload signed with an empty key.
    let info = signed("", "HMAC-SHA256", "ig-forger");
    app.post_key(AUTH, &body(&info)).await.assert_error(400, 9, NOT_CONFIGURED);
    let device = app.new_device_token().await;
    app.post_bearer(LINK, &device, &body(&info)).await.assert_error(400, 9, NOT_CONFIGURED);
    app.post_bearer("/v2/account/unlink/facebookinstantgame", &device, &body(&info))
        .await
        .assert_error(401, 16, REFUSED);
}

// Nakama validates the request before it reads the configuration (authenticate.md §4).
provider_test!(empty_signed_player_info_is_required_before_the_configuration_check, |c, _p| {
    c.social.facebook_instant_game.app_secret = String::new();
});
async fn empty_signed_player_info_is_required_before_the_configuration_check(app: TestApp, _provider: Provider) {
    let device = app.new_device_token().await;
    for empty in ["", "{}", r#"{"signed_player_info":""}"#, r#"{"signedPlayerInfo":null}"#] {
        app.post_key(AUTH, empty).await.assert_error(400, 3, REQUIRED);
        app.post_bearer(LINK, &device, empty).await.assert_error(400, 3, REQUIRED);
    }
    // Anything given then meets the configuration check, whatever its shape.
    for given in [signed(INSTANT_GAME_SECRET, "HMAC-SHA256", "ig-player"), "x".to_string()] {
        app.post_key(AUTH, &body(&given)).await.assert_error(400, 9, NOT_CONFIGURED);
        app.post_bearer(LINK, &device, &body(&given)).await.assert_error(400, 9, NOT_CONFIGURED);
    }
    assert_eq!(app.account_count().await, 1);
}

provider_test!(empty_signed_player_info_is_required_when_configured);
async fn empty_signed_player_info_is_required_when_configured(app: TestApp, _provider: Provider) {
    let device = app.new_device_token().await;
    app.post_key(AUTH, "").await.assert_error(400, 3, REQUIRED);
    app.post_bearer(LINK, &device, "{}").await.assert_error(400, 3, REQUIRED);
}

provider_test!(instant_game_link_conflicts_and_unlink_keeps_the_last_identifier);
async fn instant_game_link_conflicts_and_unlink_keeps_the_last_identifier(app: TestApp, _provider: Provider) {
    let mine = app.new_device_token().await;
    let theirs = app.new_device_token().await;
    let info = signed(INSTANT_GAME_SECRET, "HMAC-SHA256", "ig-linked");
    assert_eq!(app.post_bearer(LINK, &mine, &body(&info)).await.status, 200);
    assert_eq!(app.account(&mine).await["user"]["facebook_instant_game_id"], "ig-linked");
    app.post_bearer(LINK, &theirs, &body(&info)).await.assert_error(
        409,
        6,
        "Facebook Instant Game ID is already in use.",
    );
    let other = signed(INSTANT_GAME_SECRET, "HMAC-SHA256", "ig-other");
    app.post_bearer("/v2/account/unlink/facebookinstantgame", &mine, &body(&other)).await.assert_error(403, 7, LAST);
    assert_eq!(app.post_bearer("/v2/account/unlink/facebookinstantgame", &mine, &body(&info)).await.status, 200);
    assert!(app.account(&mine).await["user"].get("facebook_instant_game_id").is_none());
    let only = app.post_key(AUTH, &body(&other)).await.token();
    app.post_bearer("/v2/account/unlink/facebookinstantgame", &only, "{}").await.assert_error(403, 7, LAST);
}
