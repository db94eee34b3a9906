//! session.md: refresh, logout, the session cache and its persistence.

use crate::both_backends;
use crate::helpers::{claims, wait_for_second_start, TestApp};

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
    wait_for_second_start().await;
    let login = app.device("refresh-device-3").await;
    // Deleted in the same second, so the refresh token survives the invalidation.
    assert_eq!(app.delete_bearer("/v2/account", &login.token()).await.status, 200);
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

both_backends!(logout_all_voids_older_tokens_but_not_same_second_ones);
async fn logout_all_voids_older_tokens_but_not_same_second_ones(app: TestApp) {
    let old = app.device("logout-all-device").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    wait_for_second_start().await;
    let new = app.device("logout-all-device").await;
    assert_eq!(app.post_bearer(LOGOUT, &new.token(), "").await.status, 200);
    app.get_bearer("/v2/account", &old.token()).await.assert_error(401, 16, "Auth token invalid");
    app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, old.refresh_token())).await.assert_error(
        401,
        16,
        "Refresh token invalid or expired.",
    );
    assert_eq!(app.get_bearer("/v2/account", &new.token()).await.status, 200);
}

both_backends!(restart_after_logout_still_refuses_the_token);
async fn restart_after_logout_still_refuses_the_token(mut app: TestApp) {
    let login = app.device("restart-device-1").await;
    let token = login.token();
    assert_eq!(app.post_bearer(LOGOUT, &token, &format!(r#"{{"token":"{token}"}}"#)).await.status, 200);
    let old = app.device("restart-device-2").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.post_bearer(LOGOUT, &old.token(), "{}").await.status, 200);
    app.restart().await;
    app.get_bearer("/v2/account", &token).await.assert_error(401, 16, "Auth token invalid");
    app.get_bearer("/v2/account", &old.token()).await.assert_error(401, 16, "Auth token invalid");
    assert_eq!(app.post_key(REFRESH, &format!(r#"{{"token":"{}"}}"#, login.refresh_token())).await.status, 200);
}

both_backends!(single_session_revokes_older_tokens, |c: &mut hearth::config::Config| c.session.single_session = true);
async fn single_session_revokes_older_tokens(app: TestApp) {
    let first = app.device("single-session-1").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = app.device("single-session-1").await;
    app.get_bearer("/v2/account", &first.token()).await.assert_error(401, 16, "Auth token invalid");
    assert_eq!(app.get_bearer("/v2/account", &second.token()).await.status, 200);
}

both_backends!(session_actor_stops_when_nothing_is_live, |c: &mut hearth::config::Config| {
    c.session.token_expiry_sec = 1;
    c.session.refresh_token_expiry_sec = 2;
});
async fn session_actor_stops_when_nothing_is_live(app: TestApp) {
    for n in 0..50 {
        assert_eq!(app.device(&format!("actor-device-{n:03}")).await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(app.state.registry.user_count(), 50);
    let uid =
        uuid::Uuid::parse_str(claims(&app.device("actor-device-000").await.token())["uid"].as_str().unwrap()).unwrap();
    assert_eq!(app.state.registry.sessions_of(uid).await.len(), 2);
    // Refresh tokens live 2 s; after that every actor has stopped and left the registry.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(app.state.registry.user_count(), 0);
}

both_backends!(logout_all_ends_the_users_live_sessions);
async fn logout_all_ends_the_users_live_sessions(app: TestApp) {
    let login = app.device("live-device-1").await;
    let uid = uuid::Uuid::parse_str(claims(&login.token())["uid"].as_str().unwrap()).unwrap();
    assert_eq!(app.state.registry.sessions_of(uid).await.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.post_bearer(LOGOUT, &login.token(), "{}").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(app.state.registry.sessions_of(uid).await.is_empty());
    assert_eq!(app.state.registry.user_count(), 0);
}

both_backends!(repeated_logins_keep_a_bounded_list_of_live_sessions);
async fn repeated_logins_keep_a_bounded_list_of_live_sessions(app: TestApp) {
    let first = app.device("bounded-sessions-device").await;
    let uid = uuid::Uuid::parse_str(claims(&first.token())["uid"].as_str().unwrap()).unwrap();
    for _ in 0..hearth::realtime::MAX_TRACKED_SESSIONS + 10 {
        assert_eq!(app.device("bounded-sessions-device").await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let live = app.state.registry.sessions_of(uid).await;
    assert_eq!(live.len(), hearth::realtime::MAX_TRACKED_SESSIONS);
    // Forgotten is not revoked: the first login's token still works.
    assert_eq!(app.get_bearer("/v2/account", &first.token()).await.status, 200);
}
