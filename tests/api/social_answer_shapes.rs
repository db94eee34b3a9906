//! Provider answers must have the expected shape (issue 10, defect 13). serde fills a struct
//! from a JSON array field by field, so an answer `["1000…","Mallory"]` once passed for a
//! profile. Every provider is tried with (a) a JSON array where an object belongs, (b) a value
//! of the wrong type and (c) a truncated body: each is refused and makes no account.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::provider::{
    jwks, token_body, user_id, Canned, Provider, TestKey, APPLE_KEYS, FACEBOOK_KEYS, GOOGLE_KEYS, INSTANT_GAME_SECRET,
    STEAM_FRIENDS, STEAM_TICKET,
};
use crate::provider_test;
use crate::{social_apple, social_facebook, social_gamecenter, social_google, social_instant_game, social_steam};

/// A JSON text as the provider sends it (not re-encoded: truncated bodies stay truncated).
fn raw(text: &str) -> Canned {
    Canned::bytes(text.as_bytes().to_vec())
}

/// The first half of a valid answer.
fn truncated(value: &Value) -> Canned {
    let text = value.to_string();
    raw(&text[..text.len() / 2])
}

/// Serves each bad answer in turn at `path` and asserts `path` was asked and the request refused.
async fn assert_all_refused(
    app: &TestApp,
    provider: &Provider,
    path: &str,
    answers: Vec<(&str, Canned)>,
    request: impl AsyncFn() -> crate::helpers::Reply,
    refusal: (u16, i64, &str),
) {
    let accounts = app.account_count().await;
    for (what, canned) in answers {
        provider.answer(path, canned);
        let hits = provider.hits(path);
        let reply = request().await;
        assert_eq!(reply.status, refusal.0, "{what}: {}", reply.text);
        reply.assert_error(refusal.0, refusal.1, refusal.2);
        assert!(provider.hits(path) > hits, "{what}: {path} was not asked");
        assert_eq!(app.account_count().await, accounts, "{what} made an account");
    }
}

const UNAUTHENTICATED: i64 = 16;

provider_test!(facebook_graph_profiles_must_be_objects);
async fn facebook_graph_profiles_must_be_objects(app: TestApp, provider: Provider) {
    let good = social_facebook::profile("1000000000001", "Mallory");
    let answers = vec![
        ("an array", raw(r#"["1000000000001","Mallory","mallory@example.com"]"#)),
        ("an array of the object", Canned::json(json!([good]))),
        ("a number id", Canned::json(json!({"id": 1000000000001u64, "name": "Mallory"}))),
        ("a name array", Canned::json(json!({"id": "1000000000001", "name": ["Mallory"]}))),
        ("a picture array", Canned::json(json!({"id": "1000000000001", "picture": ["https://cdn.example/m.png"]}))),
        ("a picture data array", Canned::json(json!({"id": "1000000000001", "picture": {"data": ["https://x/m"]}}))),
        ("a NUL in the id", Canned::json(json!({"id": "1000000000001\u{0}", "name": "Mallory"}))),
        ("truncated", truncated(&good)),
    ];
    let refused = (401, UNAUTHENTICATED, "Could not authenticate Facebook profile.");
    let auth = async || app.post_key("/v2/account/authenticate/facebook", &token_body("EAAB-mallory")).await;
    assert_all_refused(&app, &provider, social_facebook::ME, answers, auth, refused).await;
    // Link refuses the same answer and leaves the account as it was.
    let token = app.new_device_token().await;
    provider.answer(social_facebook::ME, raw(r#"["1000000000001","Mallory"]"#));
    let reply = app.post_bearer("/v2/account/link/facebook", &token, &token_body("EAAB-mallory")).await;
    reply.assert_error(refused.0, refused.1, refused.2);
    assert!(app.account(&token).await["user"].get("facebook_id").is_none());
    // The well-formed answer still works.
    provider.answer(social_facebook::ME, Canned::json(good));
    let reply = app.post_key("/v2/account/authenticate/facebook", &token_body("EAAB-mallory")).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
}

/// Signs `claims` with a key the stand-in serves in the bad key sets' place afterwards.
async fn key_sets_must_be_objects(
    app: &TestApp,
    provider: &Provider,
    path: &str,
    claims: Value,
    auth: &str,
    refused: &str,
) {
    let key = TestKey::generate("shape-1");
    let good = json!({ "keys": [key.jwk()] });
    let answers = vec![
        ("an array of keys", Canned::json(json!([[key.jwk()]]))),
        ("an array of the set", Canned::json(json!([good]))),
        ("keys as an object", Canned::json(json!({ "keys": { "shape-1": key.jwk() } }))),
        ("keys as a string", Canned::json(json!({ "keys": key.jwk().to_string() }))),
        ("truncated", truncated(&good)),
    ];
    let token = token_body(&key.sign(&claims));
    let request = async || app.post_key(auth, &token).await;
    assert_all_refused(app, provider, path, answers, request, (401, UNAUTHENTICATED, refused)).await;
    provider.answer(path, jwks(&[&key]));
    let reply = app.post_key(auth, &token).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
}

provider_test!(apple_key_sets_must_be_objects);
async fn apple_key_sets_must_be_objects(app: TestApp, provider: Provider) {
    let claims = social_apple::claims("shape.apple.id");
    let (auth, refused) = ("/v2/account/authenticate/apple", "Could not authenticate Apple profile.");
    key_sets_must_be_objects(&app, &provider, APPLE_KEYS, claims, auth, refused).await;
}

provider_test!(google_key_sets_must_be_objects);
async fn google_key_sets_must_be_objects(app: TestApp, provider: Provider) {
    let claims = social_google::claims("7700");
    let (auth, refused) = ("/v2/account/authenticate/google", "Could not authenticate Google profile.");
    key_sets_must_be_objects(&app, &provider, GOOGLE_KEYS, claims, auth, refused).await;
}

provider_test!(facebook_limited_login_key_sets_must_be_objects);
async fn facebook_limited_login_key_sets_must_be_objects(app: TestApp, provider: Provider) {
    // The Graph API, tried after a failed Limited Login, knows no token either.
    social_facebook::serve_profiles(&provider, &[]);
    let claims = social_facebook::limited_claims("8800");
    let (auth, refused) = ("/v2/account/authenticate/facebook", "Could not authenticate Facebook profile.");
    key_sets_must_be_objects(&app, &provider, FACEBOOK_KEYS, claims, auth, refused).await;
}

provider_test!(steam_ticket_answers_must_be_objects);
async fn steam_ticket_answers_must_be_objects(app: TestApp, provider: Provider) {
    let id = "76561197960287930";
    let good = json!({"response": {"params": {"result": "OK", "steamid": id}}});
    let answers = vec![
        ("an array of the answer", Canned::json(json!([good["response"]]))),
        ("params as an array", Canned::json(json!({"response": {"params": ["OK", id]}}))),
        ("response as an array", Canned::json(json!({"response": [good["response"]["params"], null]}))),
        ("a number steamid", Canned::json(json!({"response": {"params": {"steamid": 76561197960287930u64}}}))),
        ("response as a string", Canned::json(json!({"response": "OK"}))),
        ("truncated", truncated(&good)),
    ];
    let refused = (401, UNAUTHENTICATED, "Could not authenticate Steam profile.");
    let auth = async || app.post_key("/v2/account/authenticate/steam", &token_body("ticket-1")).await;
    assert_all_refused(&app, &provider, STEAM_TICKET, answers, auth, refused).await;
}

provider_test!(instant_game_payloads_must_be_objects);
async fn instant_game_payloads_must_be_objects(app: TestApp, _provider: Provider) {
    use social_instant_game::{body, sign_payload, AUTH, AUTH_REFUSED, REFUSED};
    let good = json!({"algorithm": "HMAC-SHA256", "issued_at": 1_700_000_000, "player_id": "ig-mallory"});
    let text = good.to_string();
    let payloads = [
        ("an array", r#"["HMAC-SHA256","ig-mallory",1700000000]"#.to_string()),
        ("an array of the object", json!([good]).to_string()),
        ("a number player_id", json!({"algorithm": "HMAC-SHA256", "issued_at": 1, "player_id": 42}).to_string()),
        ("a string issued_at", json!({"algorithm": "HS256", "issued_at": "now", "player_id": "ig-m"}).to_string()),
        ("a NUL in player_id", json!({"algorithm": "HS256", "issued_at": 1, "player_id": "ig\u{0}m"}).to_string()),
        ("truncated", text[..text.len() / 2].to_string()),
    ];
    let device = app.new_device_token().await;
    let accounts = app.account_count().await;
    for (what, payload) in &payloads {
        let info = body(&sign_payload(INSTANT_GAME_SECRET, payload));
        let reply = app.post_key(AUTH, &info).await;
        assert_eq!(reply.status, 500, "{what}: {}", reply.text);
        reply.assert_error(500, 15, AUTH_REFUSED);
        app.post_bearer("/v2/account/link/facebookinstantgame", &device, &info).await.assert_error(
            401,
            UNAUTHENTICATED,
            REFUSED,
        );
        assert_eq!(app.account_count().await, accounts, "{what} made an account");
    }
    assert!(app.account(&device).await["user"].get("facebook_instant_game_id").is_none());
    let reply = app.post_key(AUTH, &body(&sign_payload(INSTANT_GAME_SECRET, &text))).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
}

provider_test!(gamecenter_certificates_must_be_certificates);
async fn gamecenter_certificates_must_be_certificates(app: TestApp, provider: Provider) {
    let key = TestKey::generate("gc");
    let (der, pem) = key.certificate();
    let answers = vec![
        ("a JSON array", Canned::json(json!([pem]))),
        ("a JSON object", Canned::json(json!({"certificate": pem}))),
        ("a PEM of the wrong type", raw(&pem.replace("CERTIFICATE", "PUBLIC KEY"))),
        ("truncated DER", Canned::bytes(der[..der.len() / 2].to_vec())),
        ("truncated PEM", raw(&pem[..pem.len() / 2])),
    ];
    let body = social_gamecenter::credential(&provider, &key, "G:7000", crate::provider::now() * 1000).to_string();
    let refused = (401, UNAUTHENTICATED, "Could not authenticate GameCenter profile.");
    let auth = async || app.post_key(social_gamecenter::AUTH, &body).await;
    assert_all_refused(&app, &provider, social_gamecenter::CER, answers, auth, refused).await;
}

provider_test!(facebook_friend_pages_must_be_objects);
async fn facebook_friend_pages_must_be_objects(app: TestApp, provider: Provider) {
    social_facebook::serve_profiles(
        &provider,
        &[("EAAB-me", social_facebook::profile("60000", "Me")), ("EAAB-ann", social_facebook::profile("60001", "Ann"))],
    );
    let ann = app.post_key("/v2/account/authenticate/facebook", &token_body("EAAB-ann")).await.token();
    let me = app.post_key("/v2/account/authenticate/facebook", &token_body("EAAB-me")).await.token();
    let good = json!({"data": [{"id": "60001", "name": "Ann"}], "paging": {"cursors": {"after": "c"}}});
    let answers = [
        ("a page as an array", json!([[{"id": "60001"}], {"cursors": {"after": "c"}}])),
        ("a friend as an array", json!({"data": [["60001", "Ann"]]})),
        ("a good friend then an array", json!({"data": [{"id": "60001"}, ["60002"]]})),
        ("a good friend then a number id", json!({"data": [{"id": "60001"}, {"id": 60002}]})),
        ("paging as an array", json!({"data": [{"id": "60001"}], "paging": [{"after": "c"}, "next"]})),
    ];
    let answers = answers.into_iter().map(|(what, v)| (what, Canned::json(v))).chain([("truncated", truncated(&good))]);
    for (what, canned) in answers {
        provider.answer(social_facebook::FRIENDS, canned);
        let hits = provider.hits(social_facebook::FRIENDS);
        let reply = app.post_key("/v2/account/authenticate/facebook?sync=true", &token_body("EAAB-me")).await;
        assert_eq!(reply.status, 200, "{what}: a failed import never fails the login: {}", reply.text);
        assert_eq!(provider.hits(social_facebook::FRIENDS), hits + 1, "{what}");
        assert_eq!(app.get_bearer("/v2/friend", &me).await.text, "{}", "{what} imported a friend");
    }
    assert_eq!(app.account_count().await, 2);
    // The well-formed page imports Ann.
    provider.answer(social_facebook::FRIENDS, Canned::json(good));
    app.post_key("/v2/account/authenticate/facebook?sync=true", &token_body("EAAB-me")).await;
    let friends = crate::provider::friend_ids(&app, &me).await;
    assert_eq!(friends.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), [user_id(&ann)]);
}

provider_test!(steam_friend_lists_must_be_objects);
async fn steam_friend_lists_must_be_objects(app: TestApp, provider: Provider) {
    let (me_id, ann_id) = ("76561190000000030", "76561190000000031");
    social_steam::serve_tickets(&provider, &[("t-me", me_id), ("t-ann", ann_id)]);
    let ann = app.post_key("/v2/account/authenticate/steam", &token_body("t-ann")).await.token();
    let me = app.post_key("/v2/account/authenticate/steam", &token_body("t-me")).await.token();
    let good = json!({"friendslist": {"friends": [{"steamid": ann_id, "relationship": "friend"}]}});
    let answers = [
        ("the list as an array", json!([{"friends": [{"steamid": ann_id}]}])),
        ("friendslist as an array", json!({"friendslist": [[{"steamid": ann_id}]]})),
        ("friends as an object", json!({"friendslist": {"friends": {"steamid": ann_id}}})),
        ("a good friend then an array", json!({"friendslist": {"friends": [{"steamid": ann_id}, [ann_id]]}})),
        ("a good friend then a number", json!({"friendslist": {"friends": [{"steamid": ann_id}, {"steamid": 7}]}})),
        ("a good friend then no id", json!({"friendslist": {"friends": [{"steamid": ann_id}, {"id": ann_id}]}})),
    ];
    let answers = answers.into_iter().map(|(what, v)| (what, Canned::json(v))).chain([("truncated", truncated(&good))]);
    for (what, canned) in answers {
        provider.answer(STEAM_FRIENDS, canned);
        let hits = provider.hits(STEAM_FRIENDS);
        let reply = app.post_key("/v2/account/authenticate/steam?sync=true", &token_body("t-me")).await;
        assert_eq!(reply.status, 200, "{what}: a failed import never fails the login: {}", reply.text);
        assert_eq!(provider.hits(STEAM_FRIENDS), hits + 1, "{what}");
        assert_eq!(app.get_bearer("/v2/friend", &me).await.text, "{}", "{what} imported a friend");
    }
    assert_eq!(app.account_count().await, 2);
    provider.answer(STEAM_FRIENDS, Canned::json(good));
    app.post_key("/v2/account/authenticate/steam?sync=true", &token_body("t-me")).await;
    let friends = crate::provider::friend_ids(&app, &me).await;
    assert_eq!(friends.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), [user_id(&ann)]);
}

// PostgreSQL cannot store NUL and answered 500; SQLite stored it. Now neither stores it.
provider_test!(provider_profile_text_with_control_characters_is_dropped);
async fn provider_profile_text_with_control_characters_is_dropped(app: TestApp, provider: Provider) {
    let profile = json!({
        "id": "1000000000002",
        "name": "Mal\u{0}lory",
        "email": "mal\u{0}lory@example.com",
        "picture": {"data": {"url": "https://cdn.example/\u{7f}.png"}},
    });
    provider.answer(social_facebook::ME, Canned::json(profile));
    let reply = app.post_key("/v2/account/authenticate/facebook", &token_body("EAAB-mallory")).await;
    assert_eq!(reply.body["created"], true, "{}", reply.text);
    let account = app.account(&reply.token()).await;
    assert_eq!(account["user"]["facebook_id"], "1000000000002");
    for field in ["display_name", "avatar_url"] {
        assert!(account["user"].get(field).is_none(), "{field}: {account}");
    }
    assert!(account.get("email").is_none(), "{account}");
}
