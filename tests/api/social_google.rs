//! social.md §4, authenticate.md §4 google, link-unlink.md: Google ID tokens against a
//! local stand-in of Google's key set.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::provider::{jwks, now, token_body, user_id, Canned, Provider, TestKey, GOOGLE_CLIENT_ID, GOOGLE_KEYS};
use crate::provider_test;

const AUTH: &str = "/v2/account/authenticate/google";
const REFUSED: &str = "Could not authenticate Google profile.";
const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";

pub(crate) fn claims(sub: &str) -> Value {
    json!({
        "iss": "https://accounts.google.com",
        "azp": GOOGLE_CLIENT_ID,
        "aud": GOOGLE_CLIENT_ID,
        "sub": sub,
        "email": format!("{sub}@gmail.example"),
        "email_verified": true,
        "name": "Gee Player",
        "picture": "https://lh3.example/photo.jpg",
        "iat": now(),
        "exp": now() + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

provider_test!(google_token_creates_with_profile_then_logs_in);
async fn google_token_creates_with_profile_then_logs_in(app: TestApp, provider: Provider) {
    let key = TestKey::generate("g-1");
    provider.answer(GOOGLE_KEYS, jwks(&[&key]));
    let token = key.sign(&claims("1100"));
    let first = app.post_key(AUTH, &token_body(&token)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], true);
    let account = app.account(&first.token()).await;
    assert_eq!(account["user"]["google_id"], "1100");
    assert_eq!(account["user"]["display_name"], "Gee Player");
    assert_eq!(account["user"]["avatar_url"], "https://lh3.example/photo.jpg");
    assert_eq!(account["email"], "1100@gmail.example");
    // A login fills a display name the player has cleared.
    app.put_bearer("/v2/account", &first.token(), r#"{"display_name":""}"#).await;
    let second = app.post_key(AUTH, &token_body(&token)).await;
    assert_eq!(second.status, 200);
    assert!(second.body.get("created").is_none());
    assert_eq!(user_id(&second.token()), user_id(&first.token()));
    assert_eq!(app.account(&first.token()).await["user"]["display_name"], "Gee Player");
    // ...but never overwrites one.
    app.put_bearer("/v2/account", &first.token(), r#"{"display_name":"Mine"}"#).await;
    app.post_key(AUTH, &token_body(&token)).await;
    assert_eq!(app.account(&first.token()).await["user"]["display_name"], "Mine");
    // Over-long names are dropped, not stored.
    let long = key.sign(&with(claims("1101"), "name", json!("n".repeat(256))));
    let reply = app.post_key(AUTH, &token_body(&long)).await;
    assert!(app.account(&reply.token()).await["user"].get("display_name").is_none());
    assert_eq!(provider.hits(GOOGLE_KEYS), 1);
    app.post_key(AUTH, "{}").await.assert_error(400, 3, "Google access token is required.");
}

provider_test!(forged_expired_or_misaddressed_google_tokens_are_refused);
async fn forged_expired_or_misaddressed_google_tokens_are_refused(app: TestApp, provider: Provider) {
    let key = TestKey::generate("g-1");
    provider.answer(GOOGLE_KEYS, jwks(&[&key]));
    let sub = "2200";
    let refused = [
        ("wrong signature", TestKey::generate("g-x").renamed("g-1").sign(&claims(sub))),
        ("expired", key.sign(&with(claims(sub), "exp", json!(now() - 3600)))),
        ("other client", key.sign(&with(claims(sub), "aud", json!("someone-else.apps.googleusercontent.com")))),
        ("array aud", key.sign(&with(claims(sub), "aud", json!([GOOGLE_CLIENT_ID])))),
        ("other issuer", key.sign(&with(claims(sub), "iss", json!("https://appleid.apple.com")))),
        ("an auth code", "4/0AbCdEf-auth-code".to_string()),
    ];
    for (what, token) in &refused {
        let reply = app.post_key(AUTH, &token_body(token)).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
    }
    let reply =
        app.post_key(AUTH, &token_body(&key.sign(&with(claims(sub), "iss", json!("accounts.google.com"))))).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
}

provider_test!(google_without_client_ids_accepts_any_audience, |c, _p| {
    c.social.google.client_ids.clear();
});
async fn google_without_client_ids_accepts_any_audience(app: TestApp, provider: Provider) {
    let key = TestKey::generate("g-1");
    provider.answer(GOOGLE_KEYS, jwks(&[&key]));
    let token = key.sign(&with(claims("3300"), "aud", json!("any-client.apps.googleusercontent.com")));
    assert_eq!(app.post_key(AUTH, &token_body(&token)).await.status, 200);
    let expired = key.sign(&with(claims("3300"), "exp", json!(now() - 3600)));
    app.post_key(AUTH, &token_body(&expired)).await.assert_error(401, 16, REFUSED);
}

provider_test!(google_unknown_kid_refetches_once_after_rotation);
async fn google_unknown_kid_refetches_once_after_rotation(app: TestApp, provider: Provider) {
    let old = TestKey::generate("g-old");
    provider.answer(GOOGLE_KEYS, jwks(&[&old]));
    assert_eq!(app.post_key(AUTH, &token_body(&old.sign(&claims("4400")))).await.status, 200);
    let new = TestKey::generate("g-new");
    provider.answer(GOOGLE_KEYS, jwks(&[&old, &new]));
    assert_eq!(app.post_key(AUTH, &token_body(&new.sign(&claims("4400")))).await.status, 200);
    assert_eq!(provider.hits(GOOGLE_KEYS), 2);
    for i in 0..3 {
        let bogus = new.renamed(&format!("g-bogus-{i}")).sign(&claims("4400"));
        app.post_key(AUTH, &token_body(&bogus)).await.assert_error(401, 16, REFUSED);
    }
    assert_eq!(provider.hits(GOOGLE_KEYS), 2);
    assert_eq!(app.post_key(AUTH, &token_body(&old.sign(&claims("4400")))).await.status, 200);
}

provider_test!(google_outage_is_unauthenticated_within_the_timeout, |c, _p| {
    c.social.timeout_ms = 300;
});
async fn google_outage_is_unauthenticated_within_the_timeout(app: TestApp, provider: Provider) {
    let key = TestKey::generate("g-1");
    let token = key.sign(&claims("5500"));
    for (what, canned) in [
        ("server error", Canned::status(502, "bad gateway")),
        ("garbage", Canned::garbage()),
        ("slow", jwks(&[&key]).slow(Duration::from_secs(3))),
    ] {
        provider.answer(GOOGLE_KEYS, canned);
        let started = Instant::now();
        let reply = app.post_key(AUTH, &token_body(&token)).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
        assert!(started.elapsed() < Duration::from_millis(2000), "{what} took {:?}", started.elapsed());
    }
    provider.stop().await;
    app.post_key(AUTH, &token_body(&token)).await.assert_error(401, 16, REFUSED);
}

provider_test!(google_link_conflicts_and_unlink_keeps_the_last_identifier);
async fn google_link_conflicts_and_unlink_keeps_the_last_identifier(app: TestApp, provider: Provider) {
    let key = TestKey::generate("g-1");
    provider.answer(GOOGLE_KEYS, jwks(&[&key]));
    let mine = app.new_device_token().await;
    let theirs = app.new_device_token().await;
    let token = key.sign(&claims("6600"));
    assert_eq!(app.post_bearer("/v2/account/link/google", &mine, &token_body(&token)).await.status, 200);
    let account = app.account(&mine).await;
    assert_eq!(account["user"]["google_id"], "6600");
    assert_eq!(account["user"]["display_name"], "Gee Player");
    assert_eq!(account["email"], "6600@gmail.example");
    app.post_bearer("/v2/account/link/google", &theirs, &token_body(&token)).await.assert_error(
        409,
        6,
        "Google ID is already in use.",
    );
    let expired = key.sign(&with(claims("6600"), "exp", json!(now() - 3600)));
    app.post_bearer("/v2/account/link/google", &theirs, &token_body(&expired)).await.assert_error(401, 16, REFUSED);
    app.post_bearer("/v2/account/unlink/google", &mine, &token_body(&expired)).await.assert_error(401, 16, REFUSED);
    assert_eq!(app.post_bearer("/v2/account/unlink/google", &mine, &token_body(&token)).await.status, 200);
    assert!(app.account(&mine).await["user"].get("google_id").is_none());
    let bare = key.sign(&{
        let mut c = claims("6601");
        c.as_object_mut().unwrap().remove("email");
        c
    });
    let only = app.post_key(AUTH, &token_body(&bare)).await.token();
    app.post_bearer("/v2/account/unlink/google", &only, &token_body(&bare)).await.assert_error(403, 7, LAST);
}
