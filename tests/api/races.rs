//! The same request many times at once on one identity: email sign-ups (defect 1) and the
//! last-identifier guard of unlink (defect 4), on SQLite and PostgreSQL.

use futures_util::future::join_all;
use hearth::store::Identifier;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{claims, TestApp};

const EMAIL: &str = "/v2/account/authenticate/email?create=true";
const PASSWORDS: [&str; 2] = ["password-of-alice", "password-of-mallory"];

both_backends!(
    concurrent_email_sign_ups_make_one_account_and_check_every_other_password,
    |c: &mut hearth::config::Config| {
        // No lockout: every losing sign-up must be answered by its password alone.
        c.session.max_failed_logins = 0;
    }
);
async fn concurrent_email_sign_ups_make_one_account_and_check_every_other_password(app: TestApp) {
    for round in 0..3 {
        let email = format!("race-{round}@example.com");
        let body = |n: usize| serde_json::json!({"email": email, "password": PASSWORDS[n % 2]}).to_string();
        let app = &app;
        let replies = join_all((0..40).map(|n| {
            let body = body(n);
            async move { app.post_key(EMAIL, &body).await }
        }))
        .await;
        let created: Vec<usize> = (0..40).filter(|n| replies[*n].body["created"] == true).collect();
        assert_eq!(created.len(), 1, "exactly one sign-up creates the account");
        let winner = created[0] % 2;
        let uid = claims(&replies[created[0]].token())["uid"].clone();
        for (n, reply) in replies.iter().enumerate() {
            if n % 2 == winner {
                assert_eq!(reply.status, 200, "{}", reply.text);
                assert_eq!(claims(&reply.token())["uid"], uid);
            } else {
                reply.assert_error(401, 16, "Invalid credentials.");
            }
        }
        let filter = hearth::store::AccountFilter::Exact(email.clone());
        assert_eq!(app.state.store.count_users(&filter).await.expect("count"), 1);
    }
}

both_backends!(concurrent_email_sign_ups_under_the_default_lockout_never_let_a_wrong_password_in);
async fn concurrent_email_sign_ups_under_the_default_lockout_never_let_a_wrong_password_in(app: TestApp) {
    let body = |n: usize| serde_json::json!({"email": "race-lockout@example.com", "password": PASSWORDS[n % 2]});
    let app = &app;
    let replies = join_all((0..40).map(|n| {
        let body = body(n).to_string();
        async move { app.post_key(EMAIL, &body).await }
    }))
    .await;
    let created: Vec<usize> = (0..40).filter(|n| replies[*n].body["created"] == true).collect();
    assert_eq!(created.len(), 1);
    let winner = created[0] % 2;
    for (n, reply) in replies.iter().enumerate() {
        let allowed: &[u16] = if n % 2 == winner { &[200, 429] } else { &[401, 429] };
        assert!(allowed.contains(&reply.status), "request {n}: {}", reply.text);
    }
}

/// The nine login kinds an account can hold.
const KINDS: [&str; 9] =
    ["device", "custom", "email", "apple", "facebook", "facebookinstantgame", "google", "gamecenter", "steam"];

/// The identifier of `kind` for round `n`, and the unlink body that removes it.
fn identifier(kind: &str, n: usize, slot: usize) -> (Option<Identifier>, String) {
    let value = format!("{kind}-{n}-{slot}-{}", Uuid::new_v4().simple());
    let id = match kind {
        "device" => None,
        "custom" => Some(Identifier::Custom(value.clone())),
        "email" => Some(Identifier::Email(format!("{value}@example.com"))),
        "apple" => Some(Identifier::Apple(value.clone())),
        "facebook" => Some(Identifier::Facebook(value.clone())),
        "facebookinstantgame" => Some(Identifier::FacebookInstantGame(value.clone())),
        "google" => Some(Identifier::Google(value.clone())),
        "gamecenter" => Some(Identifier::GameCenter(value.clone())),
        _ => Some(Identifier::Steam(value.clone())),
    };
    let body = match kind {
        "device" => serde_json::json!({"id": value}).to_string(),
        _ => "{}".to_string(),
    };
    (id, body)
}

/// An account holding exactly the two identifiers; answers its token and the unlink bodies.
async fn account_with(app: &TestApp, kinds: (&str, &str), n: usize) -> (String, Uuid, [(String, String); 2]) {
    let first_device = format!("unlink-race-{n}-{}", Uuid::new_v4().simple());
    let login = app.device(&first_device).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.token();
    let user = Uuid::parse_str(claims(&token)["uid"].as_str().unwrap_or_default()).expect("uid");
    let store = &app.state.store;
    let mut unlinks = Vec::new();
    for (slot, kind) in [kinds.0, kinds.1].into_iter().enumerate() {
        let (id, body) = identifier(kind, n, slot);
        match id {
            None => {
                let device = serde_json::from_str::<serde_json::Value>(&body).expect("body")["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert_eq!(store.link_device(user, &device, 1).await.expect("link device"), None);
            }
            Some(id) => assert!(store.set_identifier(user, &id, None, 1).await.expect("set identifier")),
        }
        unlinks.push((format!("/v2/account/unlink/{kind}"), body));
    }
    assert_eq!(
        store.unlink_device(user, &first_device, 1).await.expect("drop first device"),
        hearth::store::UnlinkOutcome::Unlinked
    );
    let unlinks: [(String, String); 2] = [unlinks[0].clone(), unlinks[1].clone()];
    (token, user, unlinks)
}

/// Identifiers an account holds: devices plus set columns.
async fn identifier_count(app: &TestApp, user: Uuid) -> usize {
    let row = app.state.store.find_user(user).await.expect("read").expect("account");
    let columns = [
        &row.custom_id,
        &row.email,
        &row.apple_id,
        &row.facebook_id,
        &row.facebook_instant_game_id,
        &row.google_id,
        &row.gamecenter_id,
        &row.steam_id,
    ];
    app.state.store.devices_of(user).await.expect("devices").len() + columns.iter().filter(|c| c.is_some()).count()
}

both_backends!(concurrent_unlinks_of_the_last_two_identifiers_leave_one_for_every_pair_of_kinds);
async fn concurrent_unlinks_of_the_last_two_identifiers_leave_one_for_every_pair_of_kinds(app: TestApp) {
    let mut pairs = vec![("device", "device")];
    for (i, a) in KINDS.iter().enumerate() {
        for b in &KINDS[i + 1..] {
            pairs.push((*a, *b));
        }
    }
    assert_eq!(pairs.len(), 37);
    for (a, b) in pairs {
        for n in 0..20 {
            let (token, user, [(path_a, body_a), (path_b, body_b)]) = account_with(&app, (a, b), n).await;
            assert_eq!(identifier_count(&app, user).await, 2);
            let (ra, rb) =
                tokio::join!(app.post_bearer(&path_a, &token, &body_a), app.post_bearer(&path_b, &token, &body_b));
            let mut statuses = [ra.status, rb.status];
            statuses.sort();
            assert_eq!(statuses, [200, 403], "{a}+{b} round {n}: {} / {}", ra.text, rb.text);
            let refused = if ra.status == 403 { &ra } else { &rb };
            refused.assert_error(
                403,
                7,
                "Cannot unlink last account identifier. Check profile exists and is not last link.",
            );
            assert_eq!(identifier_count(&app, user).await, 1, "{a}+{b} round {n}");
        }
    }
}
