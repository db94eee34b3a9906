//! Imported (Nakama) bcrypt hashes (issue 15 item 3): email and username logins accept them,
//! the first successful login replaces them with argon2id of the password that passed, a
//! wrong password is an ordinary 401 counted by the lockout, and concurrent logins end with
//! one argon2id hash.

use futures_util::future::join_all;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{claims, metric, TestApp};
use hearth::store::Identifier;

const EMAIL: &str = "/v2/account/authenticate/email";

/// A device account given `email` and `hash` as its password, as an import leaves it.
async fn imported_account(app: &TestApp, email: &str, hash: &str) -> (Uuid, String) {
    let reply = app.device(&format!("dev-{}", Uuid::new_v4().simple())).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = Uuid::parse_str(claims(&reply.token())["uid"].as_str().unwrap_or_default()).expect("uid");
    let store = &app.state.store;
    let set = store.set_identifier(id, &Identifier::Email(email.into()), Some(hash.into()), 1).await;
    assert!(set.expect("set email and hash"), "the account exists");
    let username = store.find_user(id).await.expect("read").expect("account").username;
    (id, username)
}

async fn stored_hash(app: &TestApp, id: Uuid) -> String {
    app.state.store.find_user(id).await.expect("read").expect("account").password.unwrap_or_default()
}

fn bcrypt_2a(password: &str, cost: u32) -> String {
    bcrypt::hash_with_result(password, cost).expect("bcrypt").format_for_version(bcrypt::Version::TwoA)
}

async fn upgrades(app: &TestApp) -> Option<f64> {
    metric(&app.scrape().await, "hearth_password_upgrades", &[])
}

fn uid(reply: &crate::helpers::Reply) -> String {
    claims(&reply.token())["uid"].as_str().unwrap_or_default().to_string()
}

/// Logs in twice with `body` on `path`: the first login replaces the bcrypt hash with
/// argon2id (one upgrade counted), the second verifies that hash and changes nothing.
async fn log_in_twice(app: &TestApp, path: &str, body: &str, id: Uuid) {
    assert_eq!(upgrades(app).await, Some(0.0));
    let first = app.post_key(path, body).await;
    assert_eq!(first.status, 200, "{}", first.text);
    // An existing account: `created` is false, which the gateway leaves out as Nakama does.
    assert_eq!(first.body.get("created"), None, "{}", first.text);
    assert_eq!(uid(&first), id.to_string());
    let upgraded = stored_hash(app, id).await;
    assert!(upgraded.starts_with("$argon2id$v=19$"), "{upgraded}");
    assert_eq!(upgrades(app).await, Some(1.0));

    let second = app.post_key(path, body).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(uid(&second), id.to_string());
    assert_eq!(stored_hash(app, id).await, upgraded);
    assert_eq!(upgrades(app).await, Some(1.0));
}

both_backends!(email_login_with_a_bcrypt_hash_stores_argon2id_and_logs_in_again);
async fn email_login_with_a_bcrypt_hash_stores_argon2id_and_logs_in_again(app: TestApp) {
    // Nakama's own cost (13), once: the hash a real import brings.
    let hash = bcrypt_2a("nakama-password", 13);
    assert!(hash.starts_with("$2a$13$"), "{hash}");
    let (id, _) = imported_account(&app, "moved@example.com", &hash).await;
    log_in_twice(&app, EMAIL, r#"{"email":"moved@example.com","password":"nakama-password"}"#, id).await;
}

both_backends!(username_login_with_a_bcrypt_hash_stores_argon2id_and_logs_in_again);
async fn username_login_with_a_bcrypt_hash_stores_argon2id_and_logs_in_again(app: TestApp) {
    let (id, username) = imported_account(&app, "byname@example.com", &bcrypt_2a("password-by-name", 4)).await;
    log_in_twice(&app, &format!("{EMAIL}?username={username}"), r#"{"password":"password-by-name"}"#, id).await;
}

both_backends!(a_2b_hash_is_accepted_too);
async fn a_2b_hash_is_accepted_too(app: TestApp) {
    let hash = bcrypt::hash("password-2b", 4).expect("bcrypt");
    assert!(hash.starts_with("$2b$04$"), "{hash}");
    let (id, _) = imported_account(&app, "twob@example.com", &hash).await;
    let reply = app.post_key(EMAIL, r#"{"email":"twob@example.com","password":"password-2b"}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(stored_hash(&app, id).await.starts_with("$argon2id$"));
}

both_backends!(wrong_password_against_bcrypt_is_invalid_credentials_and_counts_for_the_lockout);
async fn wrong_password_against_bcrypt_is_invalid_credentials_and_counts_for_the_lockout(app: TestApp) {
    let hash = bcrypt_2a("right-password", 4);
    let (id, _) = imported_account(&app, "guessed@example.com", &hash).await;
    let wrong = r#"{"email":"guessed@example.com","password":"wrong-password"}"#;
    for _ in 0..10 {
        app.post_key(EMAIL, wrong).await.assert_error(401, 16, "Invalid credentials.");
    }
    assert_eq!(app.state.store.login_attempts(&format!("user:{id}")).await.expect("attempts").map(|a| a.0), Some(10));
    // The 11th is throttled without a check, and so is the right password now.
    app.post_key(EMAIL, wrong).await.assert_error(429, 8, "Try again later.");
    let right = r#"{"email":"guessed@example.com","password":"right-password"}"#;
    app.post_key(EMAIL, right).await.assert_error(429, 8, "Try again later.");
    // Nothing was upgraded by the failures.
    assert_eq!(stored_hash(&app, id).await, hash);
    assert_eq!(upgrades(&app).await, Some(0.0));
}

// Every login reserves a lockout attempt before its check, right ones included: twenty at
// once need a limit above twenty, else the late ones are rightly throttled (429).
both_backends!(
    twenty_concurrent_logins_with_a_bcrypt_hash_end_with_one_argon2id_hash,
    |c: &mut hearth::config::Config| {
        c.session.max_failed_logins = 50;
    }
);
async fn twenty_concurrent_logins_with_a_bcrypt_hash_end_with_one_argon2id_hash(app: TestApp) {
    let (id, _) = imported_account(&app, "crowd@example.com", &bcrypt_2a("crowd-password", 4)).await;
    let body = r#"{"email":"crowd@example.com","password":"crowd-password"}"#;
    let replies = join_all((0..20).map(|_| app.post_key(EMAIL, body))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(uid(reply), id.to_string());
    }
    let stored = stored_hash(&app, id).await;
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    // Exactly one of the concurrent upgrades replaced the bcrypt hash.
    assert_eq!(upgrades(&app).await, Some(1.0));
    // The stored hash is one of a login that passed: it verifies the password.
    let again = app.post_key(EMAIL, body).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(stored_hash(&app, id).await, stored);
    assert_eq!(app.state.store.login_attempts(&format!("user:{id}")).await.expect("attempts"), None);
}
