//! Database outages (issue 10, defect 10): requests fail fast with their spec error body,
//! `/readyz` tells a load balancer to drain the node, and both recover without a restart.
//! PostgreSQL is cut by a proxy made for the test; the shared server itself keeps running.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::both_backends;
use crate::helpers::{postgres_admin_url, spawn_app, Backend, Reply, TestApp};

both_backends!(readyz_is_200_while_the_database_answers);
async fn readyz_is_200_while_the_database_answers(app: TestApp) {
    let reply = Reply::from(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((reply.status, reply.body.clone()), (200, json!({"database":"up"})), "{}", reply.text);
    let health = Reply::from(app.client.get(app.url("/healthcheck")).send().await.unwrap()).await;
    assert_eq!(health.status, 200);
}

/// A TCP proxy in front of PostgreSQL that can be cut as an outage looks: open connections
/// dropped and the port closed (connections refused), then restored on the same port.
struct DbProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl DbProxy {
    async fn start(upstream: String) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, watching) = watch::channel(false);
        tokio::spawn(Self::serve(listener, upstream, watching));
        DbProxy { addr, cut }
    }

    async fn serve(mut listener: TcpListener, upstream: String, mut watching: watch::Receiver<bool>) {
        loop {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = watching.wait_for(|cut| *cut) => break,
                };
                let Ok((mut client, _)) = accepted else { continue };
                let (upstream, mut watching) = (upstream.clone(), watching.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watching.wait_for(|cut| *cut) => {}
                    }
                });
            }
            // Cut: the port is closed until the proxy is restored.
            let addr = listener.local_addr().unwrap();
            drop(listener);
            if watching.wait_for(|cut| !*cut).await.is_err() {
                return;
            }
            listener = TcpListener::bind(addr).await.unwrap();
        }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// The answer to `path` and how long it took; a request still running after 5 s counts as
/// a hang (status 0).
async fn timed(app: &TestApp, request: reqwest::RequestBuilder) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = match request.timeout(Duration::from_secs(5)).send().await {
        Ok(res) => Reply::from(res).await,
        Err(e) => Reply { status: 0, body: json!(null), text: e.to_string(), headers: Default::default() },
    };
    let _ = app;
    (reply, started.elapsed())
}

#[actix_rt::test]
async fn postgres_outage_fails_requests_within_a_second_and_recovers_without_a_restart() {
    let admin = reqwest::Url::parse(&postgres_admin_url()).unwrap();
    let upstream = format!("{}:{}", admin.host_str().unwrap_or("127.0.0.1"), admin.port().unwrap_or(5432));
    let proxy = DbProxy::start(upstream).await;
    let port = proxy.addr.port();
    let Some(app) = spawn_app(Backend::Postgres, |c| {
        let mut url = reqwest::Url::parse(&c.database.url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        c.database.url = url.to_string();
    })
    .await
    else {
        return;
    };
    let login = |app: &TestApp| {
        app.client
            .post(app.url("/v2/account/authenticate/device"))
            .basic_auth(crate::helpers::SERVER_KEY, Some(""))
            .body(r#"{"id":"outage-device-0001"}"#)
    };
    assert_eq!(timed(&app, login(&app)).await.0.status, 200);
    let readyz = |app: &TestApp| app.client.get(app.url("/readyz"));

    proxy.cut();
    // The pooled connections are broken, then new ones are refused: each request fails fast.
    for round in 0..3 {
        let (reply, took) = timed(&app, login(&app)).await;
        reply.assert_error(500, 13, "Error finding user account.");
        assert!(took < Duration::from_millis(1500), "login {round} took {took:?}");
        let (reply, took) = timed(&app, readyz(&app)).await;
        assert_eq!((reply.status, reply.body.clone()), (503, json!({"database":"unreachable"})), "{}", reply.text);
        assert!(took < Duration::from_millis(1500), "readyz {round} took {took:?}");
    }
    // Liveness is not readiness.
    assert_eq!(timed(&app, app.client.get(app.url("/healthcheck"))).await.0.status, 200);

    proxy.restore();
    let mut recovered = None;
    for _ in 0..50 {
        let (reply, _) = timed(&app, login(&app)).await;
        if reply.status == 200 {
            recovered = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered.is_some(), "logins did not recover");
    let (reply, _) = timed(&app, readyz(&app)).await;
    assert_eq!((reply.status, reply.body), (200, json!({"database":"up"})));
}
