//! sessions-registry.md §4 and Hearth's own series: scraped values equal what happened.

use std::time::Duration;

use crate::both_backends;
use crate::helpers::{metric, TestApp};

async fn settle(app: &TestApp, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let text = app.scrape().await;
        if done(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.scrape().await
}

fn auth(text: &str, method: &str, outcome: &str) -> f64 {
    metric(text, "hearth_authentications", &[("method", method), ("outcome", outcome)]).unwrap_or(-1.0)
}

both_backends!(scraped_values_equal_a_known_sequence_of_logins_failures_and_sockets);
async fn scraped_values_equal_a_known_sequence_of_logins_failures_and_sockets(app: TestApp) {
    let first = app.device("metrics-device-0001").await;
    assert_eq!(first.status, 200);
    assert_eq!(app.device("metrics-device-0002").await.status, 200);
    assert_eq!(app.device("metrics-device-0001").await.status, 200);
    let missing = app.post_key("/v2/account/authenticate/device?create=false", r#"{"id":"metrics-device-none"}"#).await;
    assert_eq!(missing.status, 404);
    assert_eq!(app.device("short").await.status, 400);
    let email = r#"{"email":"metrics@example.com","password":"password1"}"#;
    assert_eq!(app.post_key("/v2/account/authenticate/email", email).await.status, 200);
    let wrong = r#"{"email":"metrics@example.com","password":"password2"}"#;
    assert_eq!(app.post_key("/v2/account/authenticate/email", wrong).await.status, 401);
    let refresh = format!(r#"{{"token":"{}"}}"#, first.refresh_token());
    assert_eq!(app.post_key("/v2/account/session/refresh", &refresh).await.status, 200);

    let mut with_status = app.ws(&first.token(), true).await;
    let _join = with_status.recv().await;
    let mut plain = app.ws(&first.token(), false).await;
    let pong = plain.request(r#"{"cid":"1","ping":{}}"#).await;
    assert_eq!(pong["cid"], "1");

    let text = settle(&app, |t| metric(t, "hearth_presences", &[]) == Some(3.0)).await;
    let node = [("node_name", "hearth")];
    assert_eq!(auth(&text, "device", "created"), 2.0);
    assert_eq!(auth(&text, "device", "login"), 1.0);
    assert_eq!(auth(&text, "device", "not_found"), 1.0);
    assert_eq!(auth(&text, "device", "invalid"), 1.0);
    assert_eq!(auth(&text, "email", "created"), 1.0);
    assert_eq!(auth(&text, "email", "wrong_credentials"), 1.0);
    assert_eq!(auth(&text, "email", "throttled"), 0.0);
    assert_eq!(auth(&text, "custom", "login"), 0.0);
    assert_eq!(metric(&text, "hearth_authentication_latency_seconds_count", &[("method", "device")]), Some(5.0));
    assert_eq!(metric(&text, "hearth_authentication_latency_seconds_count", &[("method", "email")]), Some(2.0));
    assert_eq!(metric(&text, "hearth_session_refreshes", &node), Some(1.0));
    assert_eq!(metric(&text, "hearth_sessions", &node), Some(2.0));
    assert_eq!(metric(&text, "hearth_presences", &node), Some(3.0));
    assert_eq!(metric(&text, "hearth_socket_ws_opened", &node), Some(2.0));
    assert_eq!(metric(&text, "hearth_socket_ws_closed", &node), Some(0.0));
    assert_eq!(metric(&text, "hearth_overall_message_count", &node), Some(1.0));
    assert_eq!(metric(&text, "hearth_overall_message_recv_bytes", &node), Some(21.0));
    assert!(metric(&text, "hearth_overall_message_sent_bytes", &node).unwrap() > 0.0);
    assert_eq!(metric(&text, "hearth_presence_event_count", &node), Some(1.0));
    assert_eq!(metric(&text, "hearth_password_hash_seconds_count", &node), Some(2.0));
    assert_eq!(metric(&text, "hearth_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    assert!(metric(&text, "hearth_db_connections_idle", &node).is_some());
    // Device lookups and sign-ups are coalesced; these came one at a time: four lookups
    // (two misses, a hit, the create=false miss) and two sign-ups, one statement each.
    for series in ["hearth_db_batched_statements", "hearth_db_batched_calls"] {
        assert_eq!(metric(&text, series, &[("query", "device_lookup")]), Some(4.0), "{series}");
        assert_eq!(metric(&text, series, &[("query", "device_sign_up")]), Some(2.0), "{series}");
    }
    // Nothing conflicted, so no batch fell back to one-by-one.
    assert_eq!(metric(&text, "hearth_db_batch_failures", &[("query", "device_lookup")]), Some(0.0));
    assert_eq!(metric(&text, "hearth_db_batch_failures", &[("query", "device_sign_up")]), Some(0.0));
    assert!(!text.contains("_total"), "no _total suffix");

    with_status.close(1000).await;
    plain.close(1000).await;
    let text = settle(&app, |t| metric(t, "hearth_socket_ws_closed", &[]) == Some(2.0)).await;
    assert_eq!(metric(&text, "hearth_sessions", &node), Some(0.0));
    assert_eq!(metric(&text, "hearth_presences", &node), Some(0.0));
    // Logout of the first session and a ban are revocations.
    let logout = app.post_bearer("/v2/session/logout", &first.token(), "{}").await;
    assert_eq!(logout.status, 200);
    let text = app.scrape().await;
    assert_eq!(metric(&text, "hearth_session_revocations", &[("cause", "logout_all")]), Some(1.0));
}

both_backends!(the_nakama_prefix_gives_nakamas_exact_names, |c: &mut hearth::config::Config| {
    c.metrics.prefix = "nakama".into();
    c.name = "nakama1".into();
});
async fn the_nakama_prefix_gives_nakamas_exact_names(app: TestApp) {
    let token = app.new_device_token().await;
    let _ws = app.ws(&token, false).await;
    let text = settle(&app, |t| metric(t, "nakama_sessions", &[]) == Some(1.0)).await;
    assert!(text.contains("nakama_sessions{node_name=\"nakama1\"} 1"), "{text}");
    assert!(text.contains("nakama_socket_ws_opened{node_name=\"nakama1\"} 1"), "{text}");
    assert!(text.contains("# TYPE nakama_socket_ws_opened counter"), "{text}");
}

both_backends!(metrics_off_counts_nothing_and_hides_the_endpoint, |c: &mut hearth::config::Config| {
    c.metrics.enabled = false;
});
async fn metrics_off_counts_nothing_and_hides_the_endpoint(app: TestApp) {
    assert_eq!(app.device("metrics-off-device-1").await.status, 200);
    let res = app.client.get(app.console_url("/metrics")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(app.state.metrics.overall_count.get(), 0);
}

both_backends!(prometheus_port_serves_the_same_series_on_any_path, |c: &mut hearth::config::Config| {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.metrics.prometheus_port = probe.local_addr().unwrap().port();
});
async fn prometheus_port_serves_the_same_series_on_any_path(app: TestApp) {
    let port = app.config.metrics.prometheus_port;
    for path in ["/metrics", "/", "/anything"] {
        let res = app.client.get(format!("http://127.0.0.1:{port}{path}")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert!(res.text().await.unwrap().contains("hearth_sessions{node_name=\"hearth\"} 0"));
    }
}

both_backends!(grpc_calls_and_logins_are_counted_beside_rest_with_a_transport_label);
async fn grpc_calls_and_logins_are_counted_beside_rest_with_a_transport_label(app: TestApp) {
    use hearth::grpc::proto;
    let device = |id: &str| proto::AuthenticateDeviceRequest {
        account: Some(proto::AccountDevice { id: id.into(), ..Default::default() }),
        ..Default::default()
    };
    let calls = |text: &str, transport: &str| metric(text, "hearth_api_requests", &[("transport", transport)]);
    let timed =
        |text: &str, transport: &str| metric(text, "hearth_request_latency_seconds_count", &[("transport", transport)]);
    let before = app.scrape().await;
    let overall_before = metric(&before, "hearth_overall_count", &[]).unwrap_or(-1.0);
    let rest_before = calls(&before, "rest").unwrap_or(-1.0);
    let errors_before = metric(&before, "hearth_overall_errors", &[]).unwrap_or(-1.0);
    let received_before = metric(&before, "hearth_overall_recv_bytes", &[]).unwrap_or(-1.0);

    let mut client = app.grpc_client().await;
    client.authenticate_device(app.with_key(device("grpc-metrics-device-1"))).await.expect("sign-up");
    client.authenticate_device(app.with_key(device("grpc-metrics-device-1"))).await.expect("login");
    let short = client.authenticate_device(app.with_key(device("short"))).await.expect_err("too short");
    assert_eq!(short.code(), tonic::Code::InvalidArgument);
    client.healthcheck(()).await.expect("healthcheck");
    assert_eq!(app.device("rest-metrics-device-1").await.status, 200);

    let text = settle(&app, |t| calls(t, "grpc") == Some(4.0)).await;
    assert_eq!(auth(&text, "device", "created"), 2.0, "one over gRPC, one over REST");
    assert_eq!(auth(&text, "device", "login"), 1.0);
    assert_eq!(auth(&text, "device", "invalid"), 1.0);
    assert_eq!(metric(&text, "hearth_authentication_latency_seconds_count", &[("method", "device")]), Some(4.0));
    assert_eq!(calls(&text, "grpc"), Some(4.0));
    assert_eq!(calls(&text, "rest"), Some(rest_before + 1.0));
    assert_eq!(timed(&text, "grpc"), Some(4.0));
    assert_eq!(timed(&text, "rest"), Some(rest_before + 1.0));
    // Nakama's overall series count both transports, without a label.
    assert_eq!(metric(&text, "hearth_overall_count", &[]), Some(overall_before + 5.0));
    assert_eq!(metric(&text, "hearth_overall_errors", &[]), Some(errors_before + 1.0), "the short device id");
    // Three device messages of 23 to 25 bytes with their 5-byte prefixes, an empty one, REST's body.
    let received = metric(&text, "hearth_overall_recv_bytes", &[]).unwrap_or(0.0) - received_before;
    assert!(received >= 3.0 * 15.0 + 5.0, "{received}");
}
