//! social.md §2 and §7, authenticate.md §4 facebook, link-unlink.md: Graph access tokens,
//! Limited Login tokens and friend import against a local stand-in of Facebook.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::provider::{
    friend_ids, jwks, now, token_body, user_id, Canned, Provider, TestKey, FACEBOOK_APP_ID, FACEBOOK_KEYS,
};
use crate::provider_test;

const AUTH: &str = "/v2/account/authenticate/facebook";
const REFUSED: &str = "Could not authenticate Facebook profile.";
const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";
pub(crate) const ME: &str = "/graph/me";
pub(crate) const FRIENDS: &str = "/graph/me/friends";

pub(crate) fn profile(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "email": format!("{id}@facebook.example"),
        "picture": {"data": {"url": format!("https://cdn.example/{id}.png"), "is_silhouette": false}},
    })
}

/// Graph answers `/me` for these tokens, as Facebook does, and refuses the rest.
pub(crate) fn serve_profiles(provider: &Provider, profiles: &[(&str, Value)]) {
    let profiles: HashMap<String, Value> = profiles.iter().map(|(t, p)| (t.to_string(), p.clone())).collect();
    provider.answer_with(ME, move |query| {
        assert_eq!(query.get("fields").map(String::as_str), Some("id,name,email,picture"));
        match query.get("access_token").and_then(|t| profiles.get(t)) {
            Some(profile) => Canned::json(profile.clone()),
            None => Canned::status(400, r#"{"error":{"message":"Invalid OAuth access token.","code":190}}"#),
        }
    });
}

/// `/me/friends` for `token`, in pages of the given ids, linked by `after` cursors.
fn serve_friends(provider: &Provider, token: &'static str, pages: Vec<Vec<&'static str>>) {
    provider.answer_with(FRIENDS, move |query| {
        if query.get("access_token").map(String::as_str) != Some(token) {
            return Canned::status(400, r#"{"error":{"code":190}}"#);
        }
        let page: usize = query.get("after").and_then(|a| a.strip_prefix("cursor-")?.parse().ok()).unwrap_or(0);
        let data: Vec<Value> = pages[page].iter().map(|id| json!({"id": id, "name": "Friend"})).collect();
        let mut paging = json!({"cursors": {"before": "b", "after": format!("cursor-{}", page + 1)}});
        if page + 1 < pages.len() {
            paging["next"] = json!(format!("https://graph.example/me/friends?after=cursor-{}", page + 1));
        }
        Canned::json(json!({"data": data, "paging": paging, "summary": {"total_count": 99}}))
    });
}

pub(crate) fn limited_claims(sub: &str) -> Value {
    json!({
        "iss": "https://www.facebook.com",
        "aud": FACEBOOK_APP_ID,
        "sub": sub,
        "name": "Limited Player",
        "email": "limited@facebook.example",
        "picture": "https://cdn.example/limited.png",
        "iat": now(),
        "exp": now() + 600,
        "nonce": "abc",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

provider_test!(graph_token_creates_with_profile_then_logs_in);
async fn graph_token_creates_with_profile_then_logs_in(app: TestApp, provider: Provider) {
    serve_profiles(&provider, &[("EAAB-token-1", profile("10001", "Fay Book"))]);
    let first = app.post_key(AUTH, &token_body("EAAB-token-1")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], true);
    let account = app.account(&first.token()).await;
    assert_eq!(account["user"]["facebook_id"], "10001");
    assert_eq!(account["user"]["display_name"], "Fay Book");
    assert_eq!(account["user"]["avatar_url"], "https://cdn.example/10001.png");
    assert_eq!(account["email"], "10001@facebook.example");
    let second = app.post_key(AUTH, &token_body("EAAB-token-1")).await;
    assert_eq!(second.status, 200);
    assert!(second.body.get("created").is_none());
    assert_eq!(user_id(&second.token()), user_id(&first.token()));
    app.post_key(AUTH, &token_body("EAAB-forged")).await.assert_error(401, 16, REFUSED);
    app.post_key(AUTH, "{}").await.assert_error(400, 3, "Facebook access token is required.");
    app.post_key(&format!("{AUTH}?sync=maybe"), &token_body("EAAB-token-1")).await.assert_error(
        400,
        3,
        "parsing field \"sync\": strconv.ParseBool: parsing \"maybe\": invalid syntax",
    );
    // No friend import unless asked.
    assert_eq!(provider.hits(FRIENDS), 0);
}

provider_test!(limited_login_token_is_checked_for_signature_expiry_and_app_id);
async fn limited_login_token_is_checked_for_signature_expiry_and_app_id(app: TestApp, provider: Provider) {
    let key = TestKey::generate("fb-1");
    provider.answer(FACEBOOK_KEYS, jwks(&[&key]));
    serve_profiles(&provider, &[]);
    let sub = "20002";
    let refused = [
        ("wrong signature", TestKey::generate("fb-x").renamed("fb-1").sign(&limited_claims(sub))),
        ("expired", key.sign(&with(limited_claims(sub), "exp", json!(now() - 3600)))),
        ("other app", key.sign(&with(limited_claims(sub), "aud", json!("999")))),
        ("other issuer", key.sign(&with(limited_claims(sub), "iss", json!("https://accounts.google.com")))),
    ];
    for (what, token) in &refused {
        let reply = app.post_key(AUTH, &token_body(token)).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
    }
    // Each refusal also tried the Graph API, which refused it too.
    assert_eq!(provider.hits(ME), refused.len());
    let reply = app.post_key(&format!("{AUTH}?sync=true"), &token_body(&key.sign(&limited_claims(sub)))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["created"], true);
    let account = app.account(&reply.token()).await;
    assert_eq!(account["user"]["facebook_id"], sub);
    assert_eq!(account["user"]["display_name"], "Limited Player");
    assert_eq!(account["user"]["avatar_url"], "https://cdn.example/limited.png");
    // A Limited Login token cannot list friends: no Graph call for sync.
    assert_eq!(provider.hits(ME), refused.len());
    assert_eq!(provider.hits(FRIENDS), 0);
    // Rotation: a new kid is fetched once, made-up ones are not.
    let rotated = TestKey::generate("fb-2");
    provider.answer(FACEBOOK_KEYS, jwks(&[&rotated]));
    assert_eq!(app.post_key(AUTH, &token_body(&rotated.sign(&limited_claims(sub)))).await.status, 200);
    assert_eq!(provider.hits(FACEBOOK_KEYS), 2);
    let bogus = rotated.renamed("fb-bogus").sign(&limited_claims(sub));
    app.post_key(AUTH, &token_body(&bogus)).await.assert_error(401, 16, REFUSED);
    assert_eq!(provider.hits(FACEBOOK_KEYS), 2);
}

provider_test!(limited_login_without_an_app_id_is_not_trusted, |c, _p| {
    c.social.facebook_limited_login.app_id = String::new();
});
async fn limited_login_without_an_app_id_is_not_trusted(app: TestApp, provider: Provider) {
    let key = TestKey::generate("fb-1");
    provider.answer(FACEBOOK_KEYS, jwks(&[&key]));
    serve_profiles(&provider, &[]);
    app.post_key(AUTH, &token_body(&key.sign(&limited_claims("30003")))).await.assert_error(401, 16, REFUSED);
    assert_eq!(provider.hits(FACEBOOK_KEYS), 0);
}

provider_test!(graph_outage_is_unauthenticated_within_the_timeout, |c, _p| {
    c.social.timeout_ms = 300;
});
async fn graph_outage_is_unauthenticated_within_the_timeout(app: TestApp, provider: Provider) {
    let cases = [
        ("server error", Canned::status(500, "oops")),
        ("garbage", Canned::garbage()),
        ("profile without id", Canned::json(json!({"name": "Nobody"}))),
        ("slow", Canned::json(profile("40004", "Slow")).slow(Duration::from_secs(3))),
    ];
    for (what, canned) in cases {
        provider.answer(ME, canned);
        let started = Instant::now();
        let reply = app.post_key(AUTH, &token_body("EAAB-outage")).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, 16, REFUSED);
        assert!(started.elapsed() < Duration::from_millis(2000), "{what} took {:?}", started.elapsed());
    }
    provider.stop().await;
    app.post_key(AUTH, &token_body("EAAB-outage")).await.assert_error(401, 16, REFUSED);
}

provider_test!(facebook_link_conflicts_and_unlink_keeps_the_last_identifier);
async fn facebook_link_conflicts_and_unlink_keeps_the_last_identifier(app: TestApp, provider: Provider) {
    serve_profiles(
        &provider,
        &[("EAAB-mine", profile("50005", "Linked Name")), ("EAAB-other", json!({"id": "50006", "name": "Other"}))],
    );
    serve_friends(&provider, "EAAB-mine", vec![vec![]]);
    let mine = app.new_device_token().await;
    let theirs = app.new_device_token().await;
    app.put_bearer("/v2/account", &mine, r#"{"display_name":"Kept Name"}"#).await;
    assert_eq!(app.post_bearer("/v2/account/link/facebook", &mine, &token_body("EAAB-mine")).await.status, 200);
    let account = app.account(&mine).await;
    assert_eq!(account["user"]["facebook_id"], "50005");
    // Name only where empty; avatar filled; email overwritten.
    assert_eq!(account["user"]["display_name"], "Kept Name");
    assert_eq!(account["user"]["avatar_url"], "https://cdn.example/50005.png");
    assert_eq!(account["email"], "50005@facebook.example");
    // link/facebook imports friends by default.
    assert_eq!(provider.hits(FRIENDS), 1);
    app.post_bearer("/v2/account/link/facebook", &theirs, &token_body("EAAB-mine")).await.assert_error(
        409,
        6,
        "Facebook ID is already in use.",
    );
    app.post_bearer("/v2/account/link/facebook", &theirs, &token_body("EAAB-forged"))
        .await
        .assert_error(401, 16, REFUSED);
    app.post_bearer("/v2/account/link/facebook?sync=false", &theirs, "{}").await.assert_error(
        400,
        3,
        "Facebook access token is required.",
    );
    app.post_bearer("/v2/account/unlink/facebook", &mine, &token_body("EAAB-other")).await.assert_error(403, 7, LAST);
    app.post_bearer("/v2/account/unlink/facebook", &mine, &token_body("EAAB-forged"))
        .await
        .assert_error(401, 16, REFUSED);
    assert_eq!(app.post_bearer("/v2/account/unlink/facebook", &mine, &token_body("EAAB-mine")).await.status, 200);
    assert!(app.account(&mine).await["user"].get("facebook_id").is_none());
    let only = app.post_key(AUTH, &token_body("EAAB-other")).await.token();
    app.post_bearer("/v2/account/unlink/facebook", &only, "{}").await.assert_error(403, 7, LAST);
    app.post_bearer("/v2/account/unlink/facebook", &only, &token_body("EAAB-other")).await.assert_error(403, 7, LAST);
}

provider_test!(sync_imports_facebook_friends_once_across_logins);
async fn sync_imports_facebook_friends_once_across_logins(app: TestApp, provider: Provider) {
    serve_profiles(
        &provider,
        &[
            ("EAAB-me", profile("60000", "Me")),
            ("EAAB-ann", profile("60001", "Ann")),
            ("EAAB-bob", profile("60002", "Bob")),
        ],
    );
    // Two pages; 60003 has no account here.
    serve_friends(&provider, "EAAB-me", vec![vec!["60001", "60003"], vec!["60002"]]);
    let ann = app.post_key(AUTH, &token_body("EAAB-ann")).await.token();
    let bob = app.post_key(AUTH, &token_body("EAAB-bob")).await.token();
    let first = app.post_key(&format!("{AUTH}?sync=true"), &token_body("EAAB-me")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(provider.hits(FRIENDS), 2, "both pages fetched");
    let me = first.token();
    let friends = friend_ids(&app, &me).await;
    let mut ids: Vec<String> = friends.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    let mut expected = vec![user_id(&ann), user_id(&bob)];
    expected.sort();
    assert_eq!(ids, expected);
    for (_, friend) in &friends {
        assert_eq!(friend["state"], 0);
        assert_eq!(friend["metadata"], r#"{"provider": "facebook"}"#);
        assert!(friend["update_time"].as_str().unwrap().ends_with('Z'));
    }
    // Both directions.
    assert_eq!(friend_ids(&app, &ann).await.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), [user_id(&me)]);
    assert_eq!(friend_ids(&app, &bob).await.len(), 1);
    // Logging in again with sync re-reads the list but adds nothing.
    let again = app.post_key(&format!("{AUTH}?sync=true"), &token_body("EAAB-me")).await;
    assert_eq!(again.status, 200);
    assert_eq!(provider.hits(FRIENDS), 4);
    assert_eq!(friend_ids(&app, &me).await.len(), 2);
    assert_eq!(friend_ids(&app, &ann).await.len(), 1);
    assert_eq!(app.account(&me).await["user"]["edge_count"], 2);
    assert_eq!(app.account(&ann).await["user"]["edge_count"], 1);
    // Friends see each other's edge count in the list too.
    let listed = app.get_bearer("/v2/friend", &ann).await;
    assert_eq!(listed.body["friends"][0]["user"]["edge_count"], 2, "{}", listed.text);
}

provider_test!(failed_friend_import_never_fails_the_login);
async fn failed_friend_import_never_fails_the_login(app: TestApp, provider: Provider) {
    serve_profiles(&provider, &[("EAAB-me", profile("70000", "Me"))]);
    provider.answer(FRIENDS, Canned::status(500, "down"));
    let reply = app.post_key(&format!("{AUTH}?sync=true"), &token_body("EAAB-me")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(provider.hits(FRIENDS), 1);
    provider.answer(FRIENDS, Canned::garbage());
    assert_eq!(app.post_key(&format!("{AUTH}?sync=true"), &token_body("EAAB-me")).await.status, 200);
    let reply = app.get_bearer("/v2/friend", &reply.token()).await;
    assert_eq!(reply.text, "{}");
}

provider_test!(slow_friend_pages_are_cut_at_twice_the_timeout, |c, _p| {
    c.social.timeout_ms = 300;
});
async fn slow_friend_pages_are_cut_at_twice_the_timeout(app: TestApp, provider: Provider) {
    serve_profiles(&provider, &[("EAAB-me", profile("80000", "Me"))]);
    // Each page is in time on its own and names a next one, forever.
    let endless = json!({
        "data": [{"id": "80001"}],
        "paging": {"cursors": {"after": "again"}, "next": "https://graph.example/me/friends?after=again"},
    });
    provider.answer(FRIENDS, Canned::json(endless).slow(Duration::from_millis(200)));
    let started = Instant::now();
    let reply = app.post_key(&format!("{AUTH}?sync=true"), &token_body("EAAB-me")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    assert!(provider.hits(FRIENDS) <= 4, "{} pages", provider.hits(FRIENDS));
}
