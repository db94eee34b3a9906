//! The password lockout under concurrency (defect 5): an attempt is reserved before the
//! password is checked, so at most the limit of wrong passwords is ever verified per window,
//! on the client API and on the console alike; every console attempt is audited (defect 8).

use futures_util::future::join_all;

use crate::both_backends;
use crate::helpers::{metric, TestApp, ADMIN};

const EMAIL: &str = "/v2/account/authenticate/email";

/// (401s, 429s, others) among `replies`.
fn outcomes(statuses: &[u16]) -> (usize, usize, usize) {
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    (count(401), count(429), statuses.len() - count(401) - count(429))
}

both_backends!(fifty_concurrent_wrong_passwords_check_only_the_limit);
async fn fifty_concurrent_wrong_passwords_check_only_the_limit(app: TestApp) {
    let created = app.post_key(EMAIL, r#"{"email":"guessed@example.com","password":"password1"}"#).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let wrong = r#"{"email":"guessed@example.com","password":"wrongpass"}"#;
    let replies = join_all((0..50).map(|_| app.post_key(EMAIL, wrong))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(outcomes(&statuses), (10, 40, 0), "{statuses:?}");
    for reply in &replies {
        match reply.status {
            401 => reply.assert_error(401, 16, "Invalid credentials."),
            _ => reply.assert_error(429, 8, "Try again later."),
        }
    }
    let scrape = app.scrape().await;
    let wrong_credentials = [("method", "email"), ("outcome", "wrong_credentials")];
    assert_eq!(metric(&scrape, "hearth_authentications", &wrong_credentials), Some(10.0));
    assert_eq!(metric(&scrape, "hearth_authentications", &[("method", "email"), ("outcome", "throttled")]), Some(40.0));
    // Locked: even the right password waits for the window.
    app.post_key(EMAIL, r#"{"email":"guessed@example.com","password":"password1"}"#).await.assert_error(
        429,
        8,
        "Try again later.",
    );
}

both_backends!(concurrent_right_and_wrong_passwords_never_exceed_the_limit, |c: &mut hearth::config::Config| {
    c.session.max_failed_logins = 3;
});
async fn concurrent_right_and_wrong_passwords_never_exceed_the_limit(app: TestApp) {
    app.post_key(EMAIL, r#"{"email":"mixed@example.com","password":"password1"}"#).await;
    let right = r#"{"email":"mixed@example.com","password":"password1"}"#;
    let wrong = r#"{"email":"mixed@example.com","password":"wrongpass"}"#;
    let replies = join_all((0..30).map(|n| app.post_key(EMAIL, if n % 3 == 0 { right } else { wrong }))).await;
    let wrong_checked = replies.iter().enumerate().filter(|(n, r)| n % 3 != 0 && r.status == 401).count();
    // A right password resets the count, so more than 3 wrong ones can be checked in all,
    // but never more than 3 between two successes: at most 3 per success plus 3.
    let successes = replies.iter().filter(|r| r.status == 200).count();
    assert!(wrong_checked <= 3 * (successes + 1), "{wrong_checked} wrong checked with {successes} successes");
    assert!(replies.iter().all(|r| [200, 401, 429].contains(&r.status)));
    assert!(replies.iter().enumerate().all(|(n, r)| n % 3 == 0 || r.status != 200));
}

both_backends!(fifty_concurrent_wrong_console_logins_check_only_the_limit);
async fn fifty_concurrent_wrong_console_logins_check_only_the_limit(app: TestApp) {
    let replies = join_all((0..50).map(|_| app.console_authenticate(ADMIN.0, "not-the-password"))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(outcomes(&statuses), (5, 45, 0), "{statuses:?}");
    // Locked, even with the right password; every attempt is in the audit trail.
    assert_eq!(app.console_authenticate(ADMIN.0, ADMIN.1).await.status, 429);
    let rows = app.state.store.list_audit(&Default::default(), None, 100).await.expect("audit");
    let logins: Vec<_> = rows.iter().filter(|r| r.action == "login" && r.username == ADMIN.0).collect();
    assert_eq!(logins.len(), 51);
    assert_eq!(logins.iter().filter(|r| r.result == "Invalid credentials.").count(), 5);
    assert_eq!(logins.iter().filter(|r| r.result == "Try again later.").count(), 46);
}

both_backends!(console_login_with_control_characters_is_refused_and_audited);
async fn console_login_with_control_characters_is_refused_and_audited(app: TestApp) {
    for username in ["ad\u{0}min", "admin\u{1}", "\u{7f}", &"a".repeat(129)] {
        app.console_authenticate(username, ADMIN.1).await.assert_error(401, 16, "Invalid credentials.");
    }
    let rows = app.state.store.list_audit(&Default::default(), None, 10).await.expect("audit");
    let mut names: Vec<String> = rows.iter().filter(|r| r.action == "login").map(|r| r.username.clone()).collect();
    names.sort();
    let mut expected = vec!["\\u{7f}".to_string(), "ad\\u{0}min".into(), "admin\\u{1}".into(), "a".repeat(128)];
    expected.sort();
    assert_eq!(names, expected);
    // The admin is not locked out by them.
    assert_eq!(app.console_authenticate(ADMIN.0, ADMIN.1).await.status, 200);
}
