//! Shared fixtures: the real app on port 0 against a fresh database, SQLite or PostgreSQL.

use std::path::PathBuf;

use actix_web::web;
use hearth::config::Config;
use hearth::AppState;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body on both backends: `both_backends!(name);` for `async fn name(app: TestApp)`,
/// or `both_backends!(name, |c| ...);` to adjust the config first.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        $crate::both_backends!($name, |_c: &mut hearth::config::Config| {});
    };
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[actix_rt::test]
            async fn sqlite() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite, $tweak).await {
                    super::$name(app).await;
                }
            }
            #[actix_rt::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres, $tweak).await {
                    super::$name(app).await;
                }
            }
        }
    };
}

/// A test of what no database changes (routes, headers, CORS, body and query parsing, the
/// server key): it runs once, on SQLite. `storage_free!(name);` or `storage_free!(name, |c| ...);`.
#[macro_export]
macro_rules! storage_free {
    ($name:ident) => {
        $crate::storage_free!($name, |_c: &mut hearth::config::Config| {});
    };
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[actix_rt::test]
            async fn once() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite, $tweak).await {
                    super::$name(app).await;
                }
            }
        }
    };
}

/// A database made for one test and removed after it.
pub struct TestDb {
    pub url: String,
    sqlite_file: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let name = format!("hearth_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.sqlite3"));
                Some(TestDb { url: format!("sqlite://{}", path.display()), sqlite_file: Some(path), postgres: None })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = match PgConnection::connect(&admin).await {
                    Ok(conn) => conn,
                    Err(e) => {
                        if std::env::var("HEARTH_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                            panic!("PostgreSQL is required (HEARTH_TEST_REQUIRE_POSTGRES=1) but {admin} is not reachable: {e}");
                        }
                        eprintln!("SKIPPED: PostgreSQL half of this test (cannot reach {admin}: {e})");
                        return None;
                    }
                };
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
                Some(TestDb { url: format!("{base}/{name}"), sqlite_file: None, postgres: Some((admin, name)) })
            }
        }
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("HEARTH_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(path) = self.sqlite_file.take() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some((admin, name)) = self.postgres.take() {
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(mut conn) = PgConnection::connect(&admin).await {
                            let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                            let _ = conn.close().await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub fn test_config(db_url: &str) -> Config {
    let mut config = Config::default();
    config.socket.port = 0;
    config.console.port = 0;
    config.database.url = db_url.to_string();
    config.database.max_connections = 8;
    config.password.hash_threads = 2;
    config
}

pub struct TestApp {
    pub addr: String,
    /// The console listener (`http://127.0.0.1:<port>`).
    pub console: String,
    /// The gRPC listener (`http://127.0.0.1:<port>`).
    pub grpc: String,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    pub config: Config,
    /// The app's time: tests advance or freeze it instead of sleeping.
    pub clock: hearth::clock::Clock,
    running: Option<hearth::Running>,
    _db: TestDb,
}

pub async fn spawn_app(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = TestDb::create(backend).await?;
    let mut config = test_config(&db.url);
    tweak(&mut config);
    let clock = hearth::clock::Clock::adjustable();
    let running = hearth::start_with_clock(config.clone(), clock.clone()).await.expect("start app");
    Some(TestApp {
        addr: format!("http://{}", running.addr),
        console: format!("http://{}", running.console_addr),
        grpc: format!("http://{}", running.grpc_addr),
        client: reqwest::Client::new(),
        state: running.state.clone(),
        config,
        clock,
        running: Some(running),
        _db: db,
    })
}

/// A decoded response: status and JSON body (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub async fn from(res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text, headers }
    }

    /// Asserts a gateway error body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: i64, message: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(self.body["code"], code, "code of {}", self.text);
        assert_eq!(self.body["message"], message, "message of {}", self.text);
    }

    pub fn token(&self) -> String {
        self.body["token"].as_str().unwrap_or_default().to_string()
    }

    pub fn refresh_token(&self) -> String {
        self.body["refresh_token"].as_str().unwrap_or_default().to_string()
    }
}

pub const SERVER_KEY: &str = "defaultkey";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    /// POST with the server key, as SDKs authenticate.
    pub async fn post_key(&self, path: &str, body: &str) -> Reply {
        let res = self
            .client
            .post(self.url(path))
            .basic_auth(SERVER_KEY, Some(""))
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        Reply::from(res).await
    }

    pub async fn post_bearer(&self, path: &str, token: &str, body: &str) -> Reply {
        let res =
            self.client.post(self.url(path)).bearer_auth(token).body(body.to_string()).send().await.expect("request");
        Reply::from(res).await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        let res = self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request");
        Reply::from(res).await
    }

    pub async fn put_bearer(&self, path: &str, token: &str, body: &str) -> Reply {
        let res =
            self.client.put(self.url(path)).bearer_auth(token).body(body.to_string()).send().await.expect("request");
        Reply::from(res).await
    }

    pub async fn delete_bearer(&self, path: &str, token: &str) -> Reply {
        let res = self.client.delete(self.url(path)).bearer_auth(token).send().await.expect("request");
        Reply::from(res).await
    }

    /// Authenticates a device (creating it) and returns the reply.
    pub async fn device(&self, id: &str) -> Reply {
        self.post_key("/v2/account/authenticate/device", &format!(r#"{{"id":"{id}"}}"#)).await
    }

    /// A fresh device account's access token.
    pub async fn new_device_token(&self) -> String {
        let id = format!("dev-{}", uuid::Uuid::new_v4().simple());
        let reply = self.device(&id).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.token()
    }

    /// How many accounts the database holds.
    pub async fn account_count(&self) -> u64 {
        self.state.store.count_users(&hearth::store::AccountFilter::All).await.expect("count accounts")
    }

    pub async fn account(&self, token: &str) -> Value {
        let reply = self.get_bearer("/v2/account", token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body
    }

    /// Connections open now on the client API (sockets included) and on the console.
    pub fn open_connections(&self) -> (usize, usize) {
        self.running.as_ref().map(|r| r.open_connections()).unwrap_or_default()
    }

    /// Shuts the server down gracefully (as on SIGTERM).
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Stops the server (keeping the database) and starts a new one on the same database.
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        self.state.store.clone().close().await;
        let running = hearth::start_with_clock(self.config.clone(), self.clock.clone()).await.expect("restart app");
        self.addr = format!("http://{}", running.addr);
        self.console = format!("http://{}", running.console_addr);
        self.grpc = format!("http://{}", running.grpc_addr);
        self.state = running.state.clone();
        self.running = Some(running);
    }
}

/// The payload of a token, unverified.
/// Polls `done` for up to 5 s.
pub async fn wait_until(done: impl Fn() -> bool) -> bool {
    for _ in 0..100 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    done()
}

pub fn claims(token: &str) -> Value {
    hearth::sessions::token::decode_payload_unverified(token).unwrap_or(Value::Null)
}

/// Sleeps until just after the next whole second, so a short sequence of steps shares one
/// Unix second (revocations compare whole seconds).
pub async fn wait_for_second_start() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let into = now.subsec_millis() as u64;
    tokio::time::sleep(std::time::Duration::from_millis(1000 - into + 5)).await;
}

/// The console admin of the default config.
pub const ADMIN: (&str, &str) = ("admin", "password");

impl TestApp {
    pub fn console_url(&self, path: &str) -> String {
        format!("{}{}", self.console, path)
    }

    /// `POST /v2/console/authenticate` with these credentials.
    pub async fn console_authenticate(&self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        let res = self.client.post(self.console_url("/v2/console/authenticate")).body(body).send().await;
        Reply::from(res.expect("request")).await
    }

    /// A console token of the default admin.
    pub async fn console_token(&self) -> String {
        let reply = self.console_authenticate(ADMIN.0, ADMIN.1).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.token()
    }

    /// A console request with a bearer token (`None`: no Authorization header).
    pub async fn console(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: &str) -> Reply {
        let mut request = self.client.request(method, self.console_url(path)).body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::from(request.send().await.expect("request")).await
    }

    pub async fn console_get(&self, path: &str, token: &str) -> Reply {
        self.console(reqwest::Method::GET, path, Some(token), "").await
    }

    pub async fn console_post(&self, path: &str, token: &str, body: &str) -> Reply {
        self.console(reqwest::Method::POST, path, Some(token), body).await
    }

    /// The usernames a console account search for `filter` (already URL-encoded) lists.
    pub async fn console_search(&self, filter: &str, token: &str) -> Vec<String> {
        let reply = self.console_get(&format!("/v2/console/account?filter={filter}"), token).await;
        assert_eq!(reply.status, 200, "filter {filter}: {}", reply.text);
        let users = reply.body["users"].as_array().expect("users");
        users.iter().map(|u| u["username"].as_str().unwrap_or_default().to_string()).collect()
    }

    /// The Prometheus text of the console's `/metrics`.
    pub async fn scrape(&self) -> String {
        let res = self.client.get(self.console_url("/metrics")).send().await.expect("scrape");
        assert_eq!(res.status().as_u16(), 200);
        res.text().await.expect("metrics text")
    }
}

/// The value of the series `name` whose labels include every `key="value"` of `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
        if series_name != name || !labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))) {
            return None;
        }
        value.parse().ok()
    })
}
