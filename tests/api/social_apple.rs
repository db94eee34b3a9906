//! social.md §1, authenticate.md §4 apple, link-unlink.md: Sign in with Apple against a
//! local stand-in of Apple's key set.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::provider::{jwks, now, token_body, Canned, Provider, TestKey, APPLE_KEYS, BUNDLE_ID};
use crate::provider_test;

const AUTH: &str = "/v2/account/authenticate/apple";
const REFUSED: &str = "Could not authenticate Apple profile.";
const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";

pub(crate) fn claims(sub: &str) -> Value {
    json!({
        "iss": "https://appleid.apple.com",
        "aud": BUNDLE_ID,
        "sub": sub,
        "email": "Player@Example.com",
        "email_verified": "true",
        "iat": now(),
        "exp": now() + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

provider_test!(apple_token_creates_then_logs_in);
async fn apple_token_creates_then_logs_in(app: TestApp, provider: Provider) {
    let key = TestKey::generate("apple-1");
    provider.answer(APPLE_KEYS, jwks(&[&key]));
    let token = key.sign(&claims("001234.apple.player"));
    let first = app.post_key(&format!("{AUTH}?username=applefan"), &token_body(&token)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], true);
    let account = app.account(&first.token()).await;
    assert_eq!(account["user"]["apple_id"], "001234.apple.player");
    assert_eq!(account["user"]["username"], "applefan");
    // Stored as received, not lower-cased.
    assert_eq!(account["email"], "Player@Example.com");
    let second = app.post_key(AUTH, &token_body(&token)).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(second.body.get("created").is_none());
    assert_eq!(crate::helpers::claims(&second.token())["uid"], crate::helpers::claims(&first.token())["uid"]);
    // The key set was fetched once and then served from the cache.
    assert_eq!(provider.hits(APPLE_KEYS), 1);
    app.post_key(&format!("{AUTH}?create=false"), &token_body(&key.sign(&claims("someone.else")))).await.assert_error(
        404,
        5,
        "User account not found.",
    );
}

provider_test!(forged_expired_or_misaddressed_apple_tokens_are_refused);
async fn forged_expired_or_misaddressed_apple_tokens_are_refused(app: TestApp, provider: Provider) {
    let key = TestKey::generate("apple-1");
    let impostor = TestKey::generate("impostor").renamed("apple-1");
    provider.answer(APPLE_KEYS, jwks(&[&key]));
    let sub = "victim.apple.id";
    let refused = [
        ("wrong signature", impostor.sign(&claims(sub))),
        ("expired", key.sign(&with(claims(sub), "exp", json!(now() - 3600)))),
        (
            "no expiry",
            key.sign(&{
                let mut c = claims(sub);
                c.as_object_mut().unwrap().remove("exp");
                c
            }),
        ),
        ("other bundle id", key.sign(&with(claims(sub), "aud", json!("com.example.other")))),
        ("other issuer", key.sign(&with(claims(sub), "iss", json!("https://appleid.example.com")))),
        ("not yet valid", key.sign(&with(claims(sub), "nbf", json!(now() + 3600)))),
        ("sub of the wrong type", key.sign(&with(claims(sub), "sub", json!(42)))),
        ("not a JWT", "not-a-token".to_string()),
    ];
    for (what, token) in &refused {
        let reply = app.post_key(AUTH, &token_body(token)).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
    }
    // None of them made an account.
    let reply = app.post_key(AUTH, &token_body(&key.sign(&claims(sub)))).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
}

provider_test!(apple_not_configured_is_failed_precondition_before_body_checks, |c, _p| {
    c.social.apple.bundle_id = String::new();
});
async fn apple_not_configured_is_failed_precondition_before_body_checks(app: TestApp, provider: Provider) {
    let key = TestKey::generate("apple-1");
    provider.answer(APPLE_KEYS, jwks(&[&key]));
    app.post_key(AUTH, "").await.assert_error(400, 9, "Apple authentication is not configured.");
    let token = app.new_device_token().await;
    app.post_bearer("/v2/account/link/apple", &token, "{}").await.assert_error(
        400,
        9,
        "Apple authentication is not configured.",
    );
    // Unlink has no configuration check: a token just fails verification.
    let apple = key.sign(&claims("some.apple.id"));
    app.post_bearer("/v2/account/unlink/apple", &token, &token_body(&apple)).await.assert_error(401, 16, REFUSED);
    assert_eq!(provider.hits(APPLE_KEYS), 0);
}

provider_test!(apple_token_is_required_and_username_checked_before_verification);
async fn apple_token_is_required_and_username_checked_before_verification(app: TestApp, provider: Provider) {
    app.post_key(AUTH, "{}").await.assert_error(400, 3, "Apple ID token is required.");
    app.post_key(&format!("{AUTH}?username=a%5B%5Db"), &token_body("x.y.z")).await.assert_error(
        400,
        3,
        "Username invalid, no spaces or control characters allowed.",
    );
    assert_eq!(provider.hits(APPLE_KEYS), 0);
}

provider_test!(unknown_kid_refetches_the_key_set_once_after_rotation);
async fn unknown_kid_refetches_the_key_set_once_after_rotation(app: TestApp, provider: Provider) {
    let old = TestKey::generate("apple-old");
    provider.answer(APPLE_KEYS, jwks(&[&old]));
    assert_eq!(app.post_key(AUTH, &token_body(&old.sign(&claims("rotating.player")))).await.status, 200);
    assert_eq!(provider.hits(APPLE_KEYS), 1);
    // Apple rotates: the cached set does not know the new kid, one refetch finds it.
    let new = TestKey::generate("apple-new");
    provider.answer(APPLE_KEYS, jwks(&[&new]));
    let reply = app.post_key(AUTH, &token_body(&new.sign(&claims("rotating.player")))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(provider.hits(APPLE_KEYS), 2);
    // The retired key is gone, and made-up kids do not make Hearth hammer Apple.
    app.post_key(AUTH, &token_body(&old.sign(&claims("rotating.player")))).await.assert_error(401, 16, REFUSED);
    for i in 0..5 {
        let bogus = new.renamed(&format!("bogus-{i}"));
        app.post_key(AUTH, &token_body(&bogus.sign(&claims("rotating.player")))).await.assert_error(401, 16, REFUSED);
    }
    assert_eq!(provider.hits(APPLE_KEYS), 2);
    assert_eq!(app.post_key(AUTH, &token_body(&new.sign(&claims("rotating.player")))).await.status, 200);
}

provider_test!(apple_outage_is_unauthenticated_within_the_timeout, |c, _p| {
    c.social.timeout_ms = 300;
});
async fn apple_outage_is_unauthenticated_within_the_timeout(app: TestApp, provider: Provider) {
    let key = TestKey::generate("apple-1");
    let token = key.sign(&claims("outage.player"));
    let cases = [
        ("server error", Canned::status(503, "unavailable")),
        ("garbage", Canned::garbage()),
        ("no usable key", Canned::json(json!({"keys": [{"kty": "RSA", "kid": "apple-1"}]}))),
        ("slow", jwks(&[&key]).slow(Duration::from_secs(3))),
    ];
    for (what, canned) in cases {
        provider.answer(APPLE_KEYS, canned);
        let started = Instant::now();
        let reply = app.post_key(AUTH, &token_body(&token)).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
        assert!(started.elapsed() < Duration::from_millis(2000), "{what} took {:?}", started.elapsed());
    }
    provider.stop().await;
    let started = Instant::now();
    app.post_key(AUTH, &token_body(&token)).await.assert_error(401, 16, REFUSED);
    assert!(started.elapsed() < Duration::from_millis(2000));
    // Other logins are not held up by the outage.
    assert!(!app.new_device_token().await.is_empty());
}

provider_test!(apple_link_conflicts_and_unlink_keeps_the_last_identifier);
async fn apple_link_conflicts_and_unlink_keeps_the_last_identifier(app: TestApp, provider: Provider) {
    let key = TestKey::generate("apple-1");
    provider.answer(APPLE_KEYS, jwks(&[&key]));
    let mine = app.new_device_token().await;
    let theirs = app.new_device_token().await;
    let token = key.sign(&claims("linked.apple.id"));
    assert_eq!(app.post_bearer("/v2/account/link/apple", &mine, &token_body(&token)).await.status, 200);
    // Idempotent on the owner; the email is imported.
    assert_eq!(app.post_bearer("/v2/account/link/apple", &mine, &token_body(&token)).await.status, 200);
    let account = app.account(&mine).await;
    assert_eq!(account["user"]["apple_id"], "linked.apple.id");
    assert_eq!(account["email"], "Player@Example.com");
    app.post_bearer("/v2/account/link/apple", &theirs, &token_body(&token)).await.assert_error(
        409,
        6,
        "Apple ID is already in use.",
    );
    app.post_bearer("/v2/account/link/apple", &mine, "{}").await.assert_error(400, 3, "Apple ID token is required.");
    let forged = TestKey::generate("apple-1").sign(&claims("linked.apple.id"));
    app.post_bearer("/v2/account/link/apple", &theirs, &token_body(&forged)).await.assert_error(401, 16, REFUSED);
    // A valid token for another Apple id does not match: nothing is unlinked.
    let other = key.sign(&claims("other.apple.id"));
    app.post_bearer("/v2/account/unlink/apple", &mine, &token_body(&other)).await.assert_error(403, 7, LAST);
    assert_eq!(app.post_bearer("/v2/account/unlink/apple", &mine, &token_body(&token)).await.status, 200);
    assert!(app.account(&mine).await["user"].get("apple_id").is_none());
    // An Apple-only account keeps its last identifier.
    // Its email belongs to the first account: the sign-up works, without the email.
    let only = app.post_key(AUTH, &token_body(&key.sign(&claims("only.apple.id")))).await;
    assert_eq!(only.status, 200, "{}", only.text);
    let only = only.token();
    assert!(app.account(&only).await.get("email").is_none());
    app.post_bearer("/v2/account/unlink/apple", &only, "{}").await.assert_error(403, 7, LAST);
    // An empty token clears without asking Apple once another identifier exists.
    assert_eq!(app.post_bearer("/v2/account/link/custom", &only, r#"{"id":"custom-apple-1"}"#).await.status, 200);
    let hits = provider.hits(APPLE_KEYS);
    assert_eq!(app.post_bearer("/v2/account/unlink/apple", &only, "{}").await.status, 200);
    assert_eq!(provider.hits(APPLE_KEYS), hits);
    assert!(app.account(&only).await["user"].get("apple_id").is_none());
}

provider_test!(a_slow_key_fetch_is_shared_and_holds_up_nothing_else);
async fn a_slow_key_fetch_is_shared_and_holds_up_nothing_else(app: TestApp, provider: Provider) {
    let key = TestKey::generate("apple-1");
    provider.answer(APPLE_KEYS, jwks(&[&key]).slow(Duration::from_millis(1200)));
    let (one, two) = (token_body(&key.sign(&claims("waiting.one"))), token_body(&key.sign(&claims("waiting.two"))));
    let started = Instant::now();
    let other = async {
        // Let both Apple logins reach the fetch first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let begun = Instant::now();
        let reply = app.device("device-during-apple-fetch").await;
        (reply.status, begun.elapsed())
    };
    let (first, second, (status, other_took)) = tokio::join!(app.post_key(AUTH, &one), app.post_key(AUTH, &two), other);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(started.elapsed() >= Duration::from_millis(1200));
    // Both waited on one fetch; the device login did not wait at all.
    assert_eq!(provider.hits(APPLE_KEYS), 1);
    assert_eq!(status, 200);
    assert!(other_took < Duration::from_millis(800), "device login took {other_took:?}");
}
