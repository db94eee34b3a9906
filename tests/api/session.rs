//! session.md: refresh, logout, the session cache and its persistence.

use crate::both_backends;
use crate::helpers::{claims, TestApp};

const REFRESH: &str = "/v2/account/session/refresh";
const LOGOUT: &str = "/v2/session/logout";

both_backends!(access_and_refresh_share_tid_and_iat);
async fn access_and_refresh_share_tid_and_iat(app: TestApp) {
    let reply = app.device("claims-device-1").await;
    let (a, r) = (claims(&reply.token()), claims(&reply.refresh_token()));
    assert_eq!(a["tid"], r["tid"]);
    assert_eq!(a["iat"], r["iat"]);
    assert_eq!(a["exp"].as_i64().unwrap() - a["iat"].as_i64().unwrap(), 60);
    assert_eq!(r["exp"].as_i64().unwrap() - r["iat"].as_i64().unwrap(), 3600);
    assert!(a.get("vrs").is_none());
}

both_backends!(refresh_keeps_tid_iat_and_vars_when_vars_empty);
async fn refresh_keeps_tid_iat_and_vars_when_vars_empty(app: TestApp) {
    let login = app.post_key("/v2/account/authenticate/device", r#"{"id":"refresh-device-1","vars":{"a":"1"}}"#).await;
    let refreshed = app.post_key(REFRESH, &format!(r#"{{"token":"{}","vars":{{}}}}"#, login.refresh_token())).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert!(refreshed.body.get("created").is_none());
    let (old, new) = (claims(&login.token()), claims(&refreshed.token()));
    assert_eq!(old["tid"], new["tid"]);
    assert_eq!(old["iat"], new["iat"]);
    assert_eq!(new["vrs"]["a"], "1");
    let replaced =
        app.post_key(REFRESH, &format!(r#"{{"token":"{}","vars":{{"b":"2"}}}}"#, login.refresh_token())).await;
    let vrs = &claims(&replaced.token())["vrs"];
    assert_eq!(vrs["b"], "2");
    assert!(vrs.get("a").is_none());
}

both_backends!(refresh_rejects_missing_and_invalid_tokens);
async fn refresh_rejects_missing_and_invalid_tokens(app: TestApp) {
    app.post_key(REFRESH, "").await.assert_error(400, 3, "Refresh token is required.");
    app.post_key(REFRESH, r#"{"token":"garbage"}"#).await.assert_error(401, 16, "Refresh token invalid or expired.");
    let login = app.device("refresh-device-2").await;
    // An access token is not a refresh token.
    app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.token())).await.assert_error(
        401,
        16,
        "Refresh token invalid or expired.",
    );
}

both_backends!(refresh_of_deleted_account_is_not_found);
async fn refresh_of_deleted_account_is_not_found(app: TestApp) {
    let login = app.device("refresh-device-3").await;
    // The row goes without the invalidation a delete makes (as when it is removed by hand
    // or on another node before the news arrives): the refresh finds no account.
    let uid = uuid::Uuid::parse_str(claims(&login.token())["uid"].as_str().unwrap()).unwrap();
    assert!(app.state.store.delete_account(uid).await.unwrap());
    app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.refresh_token())).await.assert_error(
        404,
        5,
        "User account not found.",
    );
}

both_backends!(refresh_reads_the_current_username);
async fn refresh_reads_the_current_username(app: TestApp) {
    let login = app.device("rename-device-1").await;
    assert_eq!(app.put_bearer("/v2/account", &login.token(), r#"{"username":"renamed"}"#).await.status, 200);
    let refreshed = app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.refresh_token())).await;
    assert_eq!(claims(&refreshed.token())["usn"], "renamed");
}

both_backends!(logout_with_token_revokes_that_tid_for_refreshed_tokens_too);
async fn logout_with_token_revokes_that_tid_for_refreshed_tokens_too(app: TestApp) {
    let login = app.device("logout-device-1").await;
    let token = login.token();
    let reply = app.post_bearer(LOGOUT, &token, &format!(r#"{{"token":"{token}"}}"#)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.text, "{}");
    app.get_bearer("/v2/account", &token).await.assert_error(401, 16, "Auth token invalid");
    // The refresh token still works, but its access tokens carry the revoked tid.
    let refreshed = app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.refresh_token())).await;
    assert_eq!(refreshed.status, 200);
    app.get_bearer("/v2/account", &refreshed.token()).await.assert_error(401, 16, "Auth token invalid");
}

both_backends!(logout_with_both_tokens_revokes_both);
async fn logout_with_both_tokens_revokes_both(app: TestApp) {
    let login = app.device("logout-device-2").await;
    let body = format!(r#"{{"token":"{}","refreshToken":"{}"}}"#, login.token(), login.refresh_token());
    assert_eq!(app.post_bearer(LOGOUT, &login.token(), &body).await.status, 200);
    app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.refresh_token())).await.assert_error(
        401,
        16,
        "Refresh token invalid or expired.",
    );
}

both_backends!(logout_validates_tokens_it_is_given);
async fn logout_validates_tokens_it_is_given(app: TestApp) {
    let mine = app.device("logout-device-3").await;
    let other = app.device("logout-device-4").await;
    app.post_bearer(LOGOUT, &mine.token(), &format!(r#"{{"token":"{}"}}"#, other.token())).await.assert_error(
        400,
        3,
        "Session token invalid.",
    );
    app.post_bearer(LOGOUT, &mine.token(), &format!(r#"{{"token":"{}"}}"#, mine.refresh_token())).await.assert_error(
        400,
        3,
        "Session token invalid.",
    );
    app.post_bearer(LOGOUT, &mine.token(), &format!(r#"{{"refresh_token":"{}"}}"#, mine.token())).await.assert_error(
        400,
        3,
        "Refresh token invalid.",
    );
    app.post_key(LOGOUT, "{}").await.assert_error(401, 16, "Auth token invalid");
}

both_backends!(logout_all_voids_every_older_token_the_callers_too);
async fn logout_all_voids_every_older_token_the_callers_too(app: TestApp) {
    let old = app.device("logout-all-device").await;
    app.clock.advance(1);
    let caller = app.device("logout-all-device").await;
    assert_eq!(app.post_bearer(LOGOUT, &caller.token(), "").await.status, 200);
    for login in [&old, &caller] {
        app.get_bearer("/v2/account", &login.token()).await.assert_error(401, 16, "Auth token invalid");
        app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.refresh_token())).await.assert_error(
            401,
            16,
            "Refresh token invalid or expired.",
        );
    }
    let after = app.device("logout-all-device").await;
    assert_eq!(app.get_bearer("/v2/account", &after.token()).await.status, 200);
}

both_backends!(restart_after_logout_still_refuses_the_token);
async fn restart_after_logout_still_refuses_the_token(mut app: TestApp) {
    let login = app.device("restart-device-1").await;
    let token = login.token();
    assert_eq!(app.post_bearer(LOGOUT, &token, &format!(r#"{{"token":"{token}"}}"#)).await.status, 200);
    let old = app.device("restart-device-2").await;
    assert_eq!(app.post_bearer(LOGOUT, &old.token(), "{}").await.status, 200);
    app.restart().await;
    app.get_bearer("/v2/account", &token).await.assert_error(401, 16, "Auth token invalid");
    app.get_bearer("/v2/account", &old.token()).await.assert_error(401, 16, "Auth token invalid");
    assert_eq!(app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.refresh_token())).await.status, 200);
}

both_backends!(single_session_revokes_older_tokens, |c: &mut hearth::config::Config| c.session.single_session = true);
async fn single_session_revokes_older_tokens(app: TestApp) {
    let first = app.device("single-session-1").await;
    app.clock.advance(1);
    let second = app.device("single-session-1").await;
    app.get_bearer("/v2/account", &first.token()).await.assert_error(401, 16, "Auth token invalid");
    assert_eq!(app.get_bearer("/v2/account", &second.token()).await.status, 200);
}

both_backends!(
    logins_without_a_socket_start_no_actor_and_leave_the_live_list_when_they_expire,
    |c: &mut hearth::config::Config| {
        c.session.token_expiry_sec = 1;
        c.session.refresh_token_expiry_sec = 2;
    }
);
async fn logins_without_a_socket_start_no_actor_and_leave_the_live_list_when_they_expire(app: TestApp) {
    for n in 0..50 {
        assert_eq!(app.device(&format!("actor-device-{n:03}")).await.status, 200);
    }
    let uid =
        uuid::Uuid::parse_str(claims(&app.device("actor-device-000").await.token())["uid"].as_str().unwrap()).unwrap();
    // No per-user actor for a login: only the compact list knows the sessions.
    assert_eq!(app.state.registry.user_count(), 0);
    assert_eq!(app.state.sessions.live.user_count(), 50);
    assert_eq!(app.state.sessions.live.session_count(), 51);
    assert_eq!(app.state.sessions.live.of(uid, hearth::clock::unix_now()).len(), 2);
    // Refresh tokens live 2 s; after that the sweep forgets every session.
    app.clock.advance(3);
    app.state.sessions.sweep().await;
    assert_eq!((app.state.sessions.live.user_count(), app.state.sessions.live.session_count()), (0, 0));
}

both_backends!(logout_all_ends_the_users_live_sessions);
async fn logout_all_ends_the_users_live_sessions(app: TestApp) {
    let login = app.device("live-device-1").await;
    let uid = uuid::Uuid::parse_str(claims(&login.token())["uid"].as_str().unwrap()).unwrap();
    assert_eq!(app.state.sessions.live.of(uid, hearth::clock::unix_now()).len(), 1);
    assert_eq!(app.post_bearer(LOGOUT, &login.token(), "{}").await.status, 200);
    assert!(app.state.sessions.live.of(uid, hearth::clock::unix_now()).is_empty());
    assert_eq!((app.state.sessions.live.user_count(), app.state.registry.user_count()), (0, 0));
}

both_backends!(repeated_logins_keep_a_bounded_list_of_live_sessions);
async fn repeated_logins_keep_a_bounded_list_of_live_sessions(app: TestApp) {
    let first = app.device("bounded-sessions-device").await;
    let uid = uuid::Uuid::parse_str(claims(&first.token())["uid"].as_str().unwrap()).unwrap();
    for _ in 0..hearth::sessions::MAX_SESSIONS_PER_USER + 10 {
        assert_eq!(app.device("bounded-sessions-device").await.status, 200);
    }
    let live = app.state.sessions.live.of(uid, hearth::clock::unix_now());
    assert_eq!(live.len(), hearth::sessions::MAX_SESSIONS_PER_USER);
    // Forgotten is not revoked: the first login's token still works.
    assert_eq!(app.get_bearer("/v2/account", &first.token()).await.status, 200);
}

both_backends!(live_sessions_stop_at_their_ceiling_and_logins_still_work, |c: &mut hearth::config::Config| {
    c.session.max_live_sessions = 5;
});
async fn live_sessions_stop_at_their_ceiling_and_logins_still_work(app: TestApp) {
    for n in 0..10 {
        let login = app.device(&format!("ceiling-device-{n:03}")).await;
        assert_eq!(login.status, 200, "{}", login.text);
        assert_eq!(app.get_bearer("/v2/account", &login.token()).await.status, 200);
    }
    assert_eq!(app.state.sessions.live.session_count(), 5);
    assert_eq!(app.state.sessions.live.untracked(), 5);
}
