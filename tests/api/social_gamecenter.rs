//! social.md §5, authenticate.md §4 gamecenter, link-unlink.md: Game Center signatures
//! checked with a self-signed certificate served by a local stand-in (the test-only
//! `social.gamecenter.allow_insecure_key_url` lets it live on 127.0.0.1).

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::provider::{now, Canned, Provider, TestKey};
use crate::provider_test;

pub(crate) const AUTH: &str = "/v2/account/authenticate/gamecenter";
const REFUSED: &str = "Could not authenticate GameCenter profile.";
const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";
const BUNDLE: &str = "com.example.game";
pub(crate) const CER: &str = "/gc/public-key/gc-prod-10.cer";
const PEM: &str = "/gc/public-key/gc-prod-10.pem";

/// A signed Game Center request body: timestamp in milliseconds, as Apple hands it out.
pub(crate) fn credential(provider: &Provider, key: &TestKey, player_id: &str, timestamp_ms: i64) -> Value {
    let salt = b"salt-1234";
    let mut message = Vec::new();
    message.extend_from_slice(player_id.as_bytes());
    message.extend_from_slice(BUNDLE.as_bytes());
    message.extend_from_slice(&(timestamp_ms as u64).to_be_bytes());
    message.extend_from_slice(salt);
    json!({
        "player_id": player_id,
        "bundle_id": BUNDLE,
        "timestamp_seconds": timestamp_ms,
        "salt": STANDARD.encode(salt),
        "signature": key.sign_pkcs1_sha256(&message),
        "public_key_url": provider.url(CER),
    })
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn serve_certificate(provider: &Provider, key: &TestKey) {
    let (der, pem) = key.certificate();
    provider.answer(CER, Canned::bytes(der));
    provider.answer(PEM, Canned::bytes(pem.into_bytes()));
}

provider_test!(gamecenter_signature_creates_then_logs_in);
async fn gamecenter_signature_creates_then_logs_in(app: TestApp, provider: Provider) {
    let key = TestKey::generate("gc");
    serve_certificate(&provider, &key);
    let body = credential(&provider, &key, "G:1000", now() * 1000);
    let first = app.post_key(AUTH, &body.to_string()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], true);
    assert_eq!(app.account(&first.token()).await["user"]["gamecenter_id"], "G:1000");
    // A PEM certificate, camelCase names, a timestamp as a string in seconds.
    let fresh = credential(&provider, &key, "G:1000", now());
    let camel = json!({
        "playerId": "G:1000",
        "bundleId": BUNDLE,
        "timestampSeconds": now().to_string(),
        "salt": fresh["salt"],
        "signature": fresh["signature"],
        "publicKeyUrl": provider.url(PEM),
    });
    let second = app.post_key(AUTH, &camel.to_string()).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(second.body.get("created").is_none());
}

provider_test!(forged_or_stale_gamecenter_signatures_are_refused);
async fn forged_or_stale_gamecenter_signatures_are_refused(app: TestApp, provider: Provider) {
    let key = TestKey::generate("gc");
    serve_certificate(&provider, &key);
    let ms = now() * 1000;
    let good = credential(&provider, &key, "G:2000", ms);
    let refused = [
        ("another key", credential(&provider, &TestKey::generate("other"), "G:2000", ms)),
        ("another player", with(good.clone(), "player_id", json!("G:2001"))),
        ("another bundle id", with(good.clone(), "bundle_id", json!("com.example.other"))),
        ("another timestamp", with(good.clone(), "timestamp_seconds", json!(ms + 1))),
        ("stale", credential(&provider, &key, "G:2000", (now() - 2 * 3600) * 1000)),
        ("from the future", credential(&provider, &key, "G:2000", (now() + 3600) * 1000)),
        ("salt not base64", with(good.clone(), "salt", json!("***"))),
        ("URL without a path", with(good.clone(), "public_key_url", json!(provider.url("/")))),
        ("URL not http", with(good.clone(), "public_key_url", json!("ftp://static.gc.apple.com/key.cer"))),
        ("not a certificate", with(good.clone(), "public_key_url", json!(provider.url("/gc/missing.cer")))),
    ];
    for (what, body) in &refused {
        let reply = app.post_key(AUTH, &body.to_string()).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
    }
    let reply = app.post_key(AUTH, &good.to_string()).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
}

provider_test!(gamecenter_key_url_must_be_https_under_apple_com, |c, _p| {
    c.social.gamecenter.allow_insecure_key_url = false;
});
async fn gamecenter_key_url_must_be_https_under_apple_com(app: TestApp, provider: Provider) {
    let key = TestKey::generate("gc");
    serve_certificate(&provider, &key);
    let body = credential(&provider, &key, "G:3000", now() * 1000);
    app.post_key(AUTH, &body.to_string()).await.assert_error(401, 16, REFUSED);
    assert_eq!(provider.hits(CER), 0, "the key was never fetched");
}

provider_test!(gamecenter_fields_are_required_in_order);
async fn gamecenter_fields_are_required_in_order(app: TestApp, provider: Provider) {
    let key = TestKey::generate("gc");
    let mut body = credential(&provider, &key, "G:4000", now() * 1000);
    // Removing fields from the last checked to the first shows each check's place.
    for (field, message) in [
        ("timestamp_seconds", "GameCenter timestamp is required."),
        ("signature", "GameCenter signature is required."),
        ("salt", "GameCenter salt is required."),
        ("public_key_url", "GameCenter public key URL is required."),
        ("player_id", "GameCenter player ID is required."),
        ("bundle_id", "GameCenter bundle ID is required."),
    ] {
        body.as_object_mut().unwrap().remove(field);
        app.post_key(AUTH, &body.to_string()).await.assert_error(400, 3, message);
    }
    let token = app.new_device_token().await;
    app.post_bearer("/v2/account/link/gamecenter", &token, "{}").await.assert_error(
        400,
        3,
        "GameCenter bundle ID is required.",
    );
}

provider_test!(gamecenter_key_outage_is_unauthenticated_within_the_timeout, |c, _p| {
    c.social.timeout_ms = 300;
});
async fn gamecenter_key_outage_is_unauthenticated_within_the_timeout(app: TestApp, provider: Provider) {
    let key = TestKey::generate("gc");
    let body = credential(&provider, &key, "G:5000", now() * 1000);
    let (der, _) = key.certificate();
    for (what, canned) in [
        ("server error", Canned::status(500, "oops")),
        ("garbage", Canned::garbage()),
        ("slow", Canned::bytes(der).slow(Duration::from_secs(3))),
    ] {
        provider.answer(CER, canned);
        let started = Instant::now();
        let reply = app.post_key(AUTH, &body.to_string()).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
        assert!(started.elapsed() < Duration::from_millis(2000), "{what} took {:?}", started.elapsed());
    }
    provider.stop().await;
    app.post_key(AUTH, &body.to_string()).await.assert_error(401, 16, REFUSED);
}

provider_test!(gamecenter_link_conflicts_and_unlink_keeps_the_last_identifier);
async fn gamecenter_link_conflicts_and_unlink_keeps_the_last_identifier(app: TestApp, provider: Provider) {
    let key = TestKey::generate("gc");
    serve_certificate(&provider, &key);
    let mine = app.new_device_token().await;
    let theirs = app.new_device_token().await;
    let body = credential(&provider, &key, "G:6000", now() * 1000).to_string();
    assert_eq!(app.post_bearer("/v2/account/link/gamecenter", &mine, &body).await.status, 200);
    assert_eq!(app.account(&mine).await["user"]["gamecenter_id"], "G:6000");
    app.post_bearer("/v2/account/link/gamecenter", &theirs, &body).await.assert_error(
        409,
        6,
        "GameCenter ID is already in use.",
    );
    // All six fields: verified first.
    let forged = credential(&provider, &TestKey::generate("other"), "G:6000", now() * 1000).to_string();
    app.post_bearer("/v2/account/unlink/gamecenter", &mine, &forged).await.assert_error(401, 16, REFUSED);
    assert_eq!(app.post_bearer("/v2/account/unlink/gamecenter", &mine, &body).await.status, 200);
    assert!(app.account(&mine).await["user"].get("gamecenter_id").is_none());
    // Fewer than six fields: cleared without any check.
    assert_eq!(app.post_bearer("/v2/account/link/gamecenter", &mine, &body).await.status, 200);
    let hits = provider.hits(CER);
    assert_eq!(
        app.post_bearer("/v2/account/unlink/gamecenter", &mine, r#"{"player_id":"whatever"}"#).await.status,
        200
    );
    assert_eq!(provider.hits(CER), hits);
    assert!(app.account(&mine).await["user"].get("gamecenter_id").is_none());
    let only = app.post_key(AUTH, &credential(&provider, &key, "G:6001", now() * 1000).to_string()).await.token();
    app.post_bearer("/v2/account/unlink/gamecenter", &only, "{}").await.assert_error(403, 7, LAST);
}
