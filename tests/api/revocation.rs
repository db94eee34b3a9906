//! Invalidations are exact to the instant (difference 9) and never depend on the config of
//! the moment (defect 7): tokens issued before a logout-all, delete, single_session login or
//! ban are refused even within the same second; tokens issued after them keep working.

use crate::both_backends;
use crate::helpers::{claims, wait_for_second_start, TestApp};

const LOGOUT: &str = "/v2/session/logout";
const REFRESH: &str = "/v2/account/session/refresh";

fn refresh_body(refresh_token: &str) -> String {
    format!(r#"{{"token":"{refresh_token}"}}"#)
}

/// Asserts that both tokens of a login are refused.
async fn assert_void(app: &TestApp, token: &str, refresh_token: &str) {
    app.get_bearer("/v2/account", token).await.assert_error(401, 16, "Auth token invalid");
    app.post_key(REFRESH, &refresh_body(refresh_token)).await.assert_error(
        401,
        16,
        "Refresh token invalid or expired.",
    );
}

/// Asserts that both tokens of a login work.
async fn assert_live(app: &TestApp, token: &str, refresh_token: &str) {
    let account = app.get_bearer("/v2/account", token).await;
    assert_eq!(account.status, 200, "{}", account.text);
    let refreshed = app.post_key(REFRESH, &refresh_body(refresh_token)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let again = app.get_bearer("/v2/account", &refreshed.token()).await;
    assert_eq!(again.status, 200, "{}", again.text);
}

fn same_second(a: &str, b: &str) -> bool {
    claims(a)["iat"] == claims(b)["iat"]
}

both_backends!(logout_all_voids_tokens_of_its_own_second_and_spares_later_ones);
async fn logout_all_voids_tokens_of_its_own_second_and_spares_later_ones(app: TestApp) {
    app.clock.freeze();
    let before = app.device("exact-logout-device").await;
    assert_eq!(app.post_bearer(LOGOUT, &before.token(), "{}").await.status, 200);
    let after = app.device("exact-logout-device").await;
    assert!(same_second(&before.token(), &after.token()), "the steps must share one second");
    assert_void(&app, &before.token(), &before.refresh_token()).await;
    assert_live(&app, &after.token(), &after.refresh_token()).await;
}

both_backends!(account_delete_voids_tokens_of_its_own_second);
async fn account_delete_voids_tokens_of_its_own_second(app: TestApp) {
    app.clock.freeze();
    let first = app.device("exact-delete-device").await;
    let second = app.device("exact-delete-device").await;
    assert_eq!(app.delete_bearer("/v2/account", &second.token()).await.status, 200);
    assert!(same_second(&first.token(), &second.token()));
    for login in [&first, &second] {
        assert_void(&app, &login.token(), &login.refresh_token()).await;
    }
}

both_backends!(single_session_login_voids_the_older_pair_of_its_own_second, |c: &mut hearth::config::Config| {
    c.session.single_session = true
});
async fn single_session_login_voids_the_older_pair_of_its_own_second(app: TestApp) {
    app.clock.freeze();
    let first = app.device("exact-single-device").await;
    let second = app.device("exact-single-device").await;
    assert!(same_second(&first.token(), &second.token()));
    assert_void(&app, &first.token(), &first.refresh_token()).await;
    assert_live(&app, &second.token(), &second.refresh_token()).await;
    // And again: the third login voids the second, also within the second.
    let third = app.device("exact-single-device").await;
    assert_void(&app, &second.token(), &second.refresh_token()).await;
    assert_eq!(app.get_bearer("/v2/account", &third.token()).await.status, 200);
}

both_backends!(ban_voids_tokens_of_its_own_second_and_a_login_after_unban_works);
async fn ban_voids_tokens_of_its_own_second_and_a_login_after_unban_works(app: TestApp) {
    let staff = app.console_token().await;
    app.clock.freeze();
    let before = app.device("exact-ban-device-1").await;
    let uid = claims(&before.token())["uid"].as_str().unwrap_or_default().to_string();
    assert_eq!(app.console_post(&format!("/v2/console/account/{uid}/ban"), &staff, "").await.status, 200);
    assert_eq!(app.console_post(&format!("/v2/console/account/{uid}/unban"), &staff, "").await.status, 200);
    let after = app.device("exact-ban-device-1").await;
    assert!(same_second(&before.token(), &after.token()), "the steps must share one second");
    assert_void(&app, &before.token(), &before.refresh_token()).await;
    assert_live(&app, &after.token(), &after.refresh_token()).await;
}

both_backends!(many_logins_in_the_second_of_a_logout_all_all_work);
async fn many_logins_in_the_second_of_a_logout_all_all_work(app: TestApp) {
    // More than one invalidation keeps within its second: the rest wait for the next one
    // (on the wall clock: a frozen one would never reach it).
    wait_for_second_start().await;
    let first = app.device("exact-many-device").await;
    assert_eq!(app.post_bearer(LOGOUT, &first.token(), "{}").await.status, 200);
    let logins = futures_util::future::join_all((0..40).map(|_| app.device("exact-many-device"))).await;
    for login in &logins {
        assert_eq!(login.status, 200, "{}", login.text);
        assert_eq!(app.get_bearer("/v2/account", &login.token()).await.status, 200);
    }
    assert_void(&app, &first.token(), &first.refresh_token()).await;
}

both_backends!(logout_all_and_concurrent_logins_never_leave_an_earlier_token_valid);
async fn logout_all_and_concurrent_logins_never_leave_an_earlier_token_valid(app: TestApp) {
    let first = app.device("exact-race-device").await;
    for _ in 0..5 {
        let old = app.device("exact-race-device").await;
        let old_token = old.token();
        let (logout, logins) = tokio::join!(
            app.post_bearer(LOGOUT, &old_token, "{}"),
            futures_util::future::join_all((0..20).map(|_| app.device("exact-race-device")))
        );
        assert_eq!(logout.status, 200);
        assert_void(&app, &old.token(), &old.refresh_token()).await;
        for login in logins {
            assert_eq!(login.status, 200);
        }
        // Logins after the logout has answered always work.
        let after = app.device("exact-race-device").await;
        assert_live(&app, &after.token(), &after.refresh_token()).await;
    }
    assert_void(&app, &first.token(), &first.refresh_token()).await;
}

/// Lifetimes before and after a restart, in both directions.
const LIFETIME_CHANGES: [((i64, i64), (i64, i64)); 2] = [((600, 7200), (60, 3600)), ((60, 3600), (600, 7200))];

both_backends!(lifetime_changes_never_bring_revoked_tokens_back);
async fn lifetime_changes_never_bring_revoked_tokens_back(mut app: TestApp) {
    for (n, (before, after)) in LIFETIME_CHANGES.into_iter().enumerate() {
        (app.config.session.token_expiry_sec, app.config.session.refresh_token_expiry_sec) = before;
        app.restart().await;
        let all = app.device(&format!("lifetime-all-device-{n}")).await;
        let one = app.device(&format!("lifetime-one-device-{n}")).await;
        let kept = app.device(&format!("lifetime-kept-device-{n}")).await;
        assert_eq!(app.post_bearer(LOGOUT, &all.token(), "{}").await.status, 200);
        let body = serde_json::json!({"token": one.token(), "refresh_token": one.refresh_token()}).to_string();
        assert_eq!(app.post_bearer(LOGOUT, &one.token(), &body).await.status, 200);
        (app.config.session.token_expiry_sec, app.config.session.refresh_token_expiry_sec) = after;
        app.restart().await;
        assert_void(&app, &all.token(), &all.refresh_token()).await;
        assert_void(&app, &one.token(), &one.refresh_token()).await;
        assert_live(&app, &kept.token(), &kept.refresh_token()).await;
        // An invalidation is remembered as long as the longest lifetime tokens were ever
        // issued with (7200 s here), not the shorter one configured now.
        assert_eq!(app.post_bearer(LOGOUT, &kept.token(), "{}").await.status, 200);
        let uid = uuid::Uuid::parse_str(claims(&kept.token())["uid"].as_str().unwrap_or_default()).unwrap_or_default();
        let stored = app.state.store.invalidation_of(uid).await.expect("read").expect("stored invalidation");
        assert_eq!(stored.expires - stored.at, 7201);
        app.state.sessions.sweep().await;
        assert_void(&app, &kept.token(), &kept.refresh_token()).await;
    }
}
