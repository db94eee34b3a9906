//! The requests: endpoints, the setup phase of each scenario, the measured worker loop and the
//! token refresher of `account-get`.
//!
//! The hot path builds one request from pre-parsed parts (a cloned `Url`, shared header values,
//! a `'static` body or, for `device-new`, one 50-byte body), reads the body so the connection
//! stays reusable, and checks only the status (plus one substring for `device-new`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Body, Client, StatusCode, Url};

use crate::args::Scenario;
use crate::histogram::Histogram;

/// Access tokens are refreshed when this old, or at 3/4 of their lifetime if that is shorter.
const REFRESH_AFTER: Duration = Duration::from_secs(45);
/// Refresh requests in flight at once.
const REFRESH_CONCURRENCY: usize = 8;

static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Every URL the tool calls, parsed once.
pub struct Endpoints {
    pub health: Url,
    device_create: Url,
    device_login: Url,
    email_create: Url,
    email_login: Url,
    account: Url,
    refresh: Url,
}

impl Endpoints {
    pub fn new(base: &str) -> Result<Endpoints, String> {
        let url = |path: &str| Url::parse(&format!("{base}{path}")).map_err(|e| format!("bad URL {base}{path}: {e}"));
        Ok(Endpoints {
            health: url("/healthcheck")?,
            device_create: url("/v2/account/authenticate/device?create=true")?,
            device_login: url("/v2/account/authenticate/device")?,
            email_create: url("/v2/account/authenticate/email?create=true")?,
            email_login: url("/v2/account/authenticate/email")?,
            account: url("/v2/account")?,
            refresh: url("/v2/account/session/refresh")?,
        })
    }
}

/// `Authorization: Basic base64("<server key>:")`.
pub fn basic_auth(server_key: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::try_from(format!("Basic {}", STANDARD.encode(format!("{server_key}:"))))
        .map_err(|_| "--server-key cannot be sent in a header".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

pub fn client(timeout: Duration) -> Result<Client, String> {
    Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .no_proxy()
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("hearth-load/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {}", error_chain(&e)))
}

/// The causes of an error on one line. reqwest's own message ("error sending request for
/// url (...)") only names the URL, so it is kept only when there is nothing under it.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

/// Counters the progress line reads while a group runs.
#[derive(Default)]
pub struct Live {
    pub setup_done: AtomicU64,
    /// Measured requests started (the `--requests` budget).
    pub issued: AtomicU64,
    /// Measured requests finished, successful or not.
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    pub warmup_done: AtomicU64,
}

/// The clock of the whole run, shared by every worker.
#[derive(Default)]
pub struct RunClock {
    /// Set by Ctrl-C, or when the primary group is done (which also ends `--also`).
    pub stop: AtomicBool,
    pub interrupted: AtomicBool,
    /// Measurement start and deadline, set once setup is over.
    pub window: OnceLock<(Instant, Instant)>,
}

/// What one group sends, ready for the hot path.
pub enum Plan {
    /// A fresh device id per request, `?create=true`; 200 must say `"created":true`.
    DeviceNew { url: Url },
    /// One fixed body per account (device or email login).
    Login { url: Url, bodies: Vec<&'static [u8]> },
    /// `GET /v2/account` with the current token of an account.
    AccountGet { url: Url, sessions: Arc<Sessions> },
}

/// Tokens of the `account-get` accounts; the refresher replaces them while workers read them.
pub struct Sessions {
    slots: Vec<RwLock<Session>>,
    pub refreshes: AtomicU64,
    pub refresh_errors: AtomicU64,
}

struct Session {
    bearer: HeaderValue,
    refresh_token: String,
    obtained: Instant,
    refresh_after: Duration,
}

impl Session {
    /// Reads a login or refresh answer. `schedule` is the refresh period of the session being
    /// refreshed: a refreshed token keeps the `iat` of the first login (as in Nakama), so its
    /// `exp - iat` is not its lifetime; only a fresh login's is.
    fn from_response(body: &[u8], schedule: Option<Duration>) -> Result<Session, String> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("session response is not JSON: {e}"))?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("session response has no {name:?}: {}", snippet(body)))
        };
        let token = field("token")?;
        let refresh_token = field("refresh_token")?;
        let mut bearer =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| "token is not a header value".to_string())?;
        bearer.set_sensitive(true);
        let refresh_after = schedule
            .unwrap_or_else(|| token_lifetime(&token).map_or(REFRESH_AFTER, |life| REFRESH_AFTER.min(life * 3 / 4)));
        Ok(Session { bearer, refresh_token, obtained: Instant::now(), refresh_after })
    }
}

/// `exp - iat` of a JWT, read without checking the signature (it is only a schedule hint).
/// The lifetime of a token fresh from a login.
fn token_lifetime(token: &str) -> Option<Duration> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    let life = claims.get("exp")?.as_i64()? - claims.get("iat")?.as_i64()?;
    (life > 0).then(|| Duration::from_secs(life as u64))
}

impl Sessions {
    pub fn bearer(&self, user: usize) -> HeaderValue {
        self.slots[user].read().unwrap_or_else(|e| e.into_inner()).bearer.clone()
    }

    fn due(&self) -> Vec<usize> {
        let now = Instant::now();
        (0..self.slots.len())
            .filter(|&i| {
                let s = self.slots[i].read().unwrap_or_else(|e| e.into_inner());
                now.duration_since(s.obtained) >= s.refresh_after
            })
            .collect()
    }

    /// Refreshes every token that is due, a few at a time; counted apart from the measurement.
    pub async fn refresh_due(&self, client: &Client, endpoints: &Endpoints, basic: &HeaderValue) {
        let due = self.due();
        futures_util::stream::iter(due)
            .for_each_concurrent(REFRESH_CONCURRENCY, |i| async move {
                let (refresh_token, schedule) = {
                    let slot = self.slots[i].read().unwrap_or_else(|e| e.into_inner());
                    (slot.refresh_token.clone(), slot.refresh_after)
                };
                let body = serde_json::json!({ "token": refresh_token }).to_string();
                let request = client
                    .post(endpoints.refresh.clone())
                    .header(AUTHORIZATION, basic.clone())
                    .header(CONTENT_TYPE, JSON.clone())
                    .body(body);
                match call(request).await.and_then(|b| Session::from_response(&b, Some(schedule))) {
                    Ok(session) => {
                        *self.slots[i].write().unwrap_or_else(|e| e.into_inner()) = session;
                        self.refreshes.fetch_add(1, Relaxed);
                    }
                    Err(_) => {
                        self.refresh_errors.fetch_add(1, Relaxed);
                    }
                }
            })
            .await;
    }
}

/// Keeps `account-get` tokens fresh until the run stops.
pub async fn refresh_loop(
    sessions: Arc<Sessions>,
    client: Client,
    endpoints: Arc<Endpoints>,
    basic: HeaderValue,
    clock: Arc<RunClock>,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if clock.stop.load(Relaxed) {
            return;
        }
        sessions.refresh_due(&client, &endpoints, &basic).await;
    }
}

/// Sends a setup or refresh request and returns the body of a 200, or a one-line reason.
async fn call(request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
    let response = request.send().await.map_err(|e| error_chain(&e))?;
    let status = response.status();
    let url = response.url().clone();
    let body = response.bytes().await.map_err(|e| error_chain(&e))?;
    if status != StatusCode::OK {
        return Err(format!("POST {} answered {status}: {}", url.path(), snippet(&body)));
    }
    Ok(body.to_vec())
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

fn device_id() -> String {
    format!("load-{}", uuid::Uuid::new_v4())
}

/// Creates the accounts a scenario needs (not measured) and returns the plan of its requests.
/// Runs on up to `clients.len()` connections at once.
pub async fn setup(
    scenario: Scenario,
    users: usize,
    clients: &[Client],
    endpoints: &Arc<Endpoints>,
    basic: &HeaderValue,
    live: &Arc<Live>,
) -> Result<Plan, String> {
    match scenario {
        Scenario::DeviceNew => return Ok(Plan::DeviceNew { url: endpoints.device_create.clone() }),
        Scenario::DeviceExisting | Scenario::Email | Scenario::AccountGet => {}
    }
    let lanes = clients.len().min(users).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for (lane, client) in clients.iter().take(lanes).enumerate() {
        let (client, endpoints, basic, live) = (client.clone(), endpoints.clone(), basic.clone(), live.clone());
        tasks.spawn(async move {
            let mut made = Vec::new();
            for n in (lane..users).step_by(lanes) {
                let (url, body) = match scenario {
                    Scenario::Email => (
                        &endpoints.email_create,
                        format!(r#"{{"email":"load-{}@example.com","password":"password-{n}"}}"#, uuid::Uuid::new_v4()),
                    ),
                    _ => (&endpoints.device_create, format!(r#"{{"id":"{}"}}"#, device_id())),
                };
                let request = client
                    .post(url.clone())
                    .header(AUTHORIZATION, basic.clone())
                    .header(CONTENT_TYPE, JSON.clone())
                    .body(body.clone());
                let answer = call(request).await.map_err(|e| format!("creating account {n}: {e}"))?;
                let made_one = match scenario {
                    Scenario::AccountGet => Made::Session(Session::from_response(&answer, None)?),
                    _ => Made::Body(body),
                };
                made.push((n, made_one));
                live.setup_done.fetch_add(1, Relaxed);
            }
            Ok::<_, String>(made)
        });
    }
    let mut all: Vec<Option<Made>> = (0..users).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let made = joined.map_err(|e| format!("setup task failed: {e}"))??;
        for (n, one) in made {
            all[n] = Some(one);
        }
    }
    let all = all.into_iter().map(|m| m.expect("every account was made"));
    Ok(match scenario {
        Scenario::AccountGet => Plan::AccountGet {
            url: endpoints.account.clone(),
            sessions: Arc::new(Sessions {
                slots: all
                    .map(|m| match m {
                        Made::Session(s) => RwLock::new(s),
                        Made::Body(_) => unreachable!("account-get makes sessions"),
                    })
                    .collect(),
                refreshes: AtomicU64::new(0),
                refresh_errors: AtomicU64::new(0),
            }),
        },
        _ => Plan::Login {
            url: if scenario == Scenario::Email {
                endpoints.email_login.clone()
            } else {
                endpoints.device_login.clone()
            },
            // Lives as long as the run; leaking lets every request send it without a copy.
            bodies: all
                .map(|m| match m {
                    Made::Body(b) => &*Box::leak(b.into_bytes().into_boxed_slice()),
                    Made::Session(_) => unreachable!("logins make bodies"),
                })
                .collect(),
        },
    })
}

enum Made {
    Body(String),
    Session(Session),
}

/// How one request ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Status(u16),
    /// `device-new` answered 200 without `"created":true`.
    NotCreated,
    Transport(&'static str),
}

fn classify(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else if error.is_request() {
        "request"
    } else {
        "other"
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `load-<uuid>` from the worker's own generator (no syscall per id).
pub fn new_device_id(rng: &mut StdRng) -> String {
    let mut uuid = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Builder::from_random_bytes(rng.gen()).into_uuid();
    let mut text = String::with_capacity(5 + uuid.len());
    text.push_str("load-");
    text.push_str(id.hyphenated().encode_lower(&mut uuid));
    text
}

/// `{"id":"load-<uuid>"}`.
fn new_device_body(rng: &mut StdRng) -> Vec<u8> {
    format!(r#"{{"id":"{}"}}"#, new_device_id(rng)).into_bytes()
}

impl Plan {
    fn accounts(&self) -> usize {
        match self {
            Plan::DeviceNew { .. } => 1,
            Plan::Login { bodies, .. } => bodies.len(),
            Plan::AccountGet { sessions, .. } => sessions.slots.len(),
        }
    }

    async fn send(&self, client: &Client, basic: &HeaderValue, user: usize, rng: &mut StdRng) -> Outcome {
        let sent = match self {
            Plan::DeviceNew { url } => {
                client
                    .post(url.clone())
                    .header(AUTHORIZATION, basic.clone())
                    .header(CONTENT_TYPE, JSON.clone())
                    .body(new_device_body(rng))
                    .send()
                    .await
            }
            Plan::Login { url, bodies } => {
                client
                    .post(url.clone())
                    .header(AUTHORIZATION, basic.clone())
                    .header(CONTENT_TYPE, JSON.clone())
                    .body(Body::from(bodies[user]))
                    .send()
                    .await
            }
            Plan::AccountGet { url, sessions } => {
                client.get(url.clone()).header(AUTHORIZATION, sessions.bearer(user)).send().await
            }
        };
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Outcome::Transport(classify(&e)),
        };
        let status = response.status();
        // Read the (small) body to the end so the connection goes back to the pool.
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return Outcome::Transport(classify(&e)),
        };
        if status != StatusCode::OK {
            return Outcome::Status(status.as_u16());
        }
        if matches!(self, Plan::DeviceNew { .. }) && !contains(&body, b"\"created\":true") {
            return Outcome::NotCreated;
        }
        Outcome::Ok
    }
}

/// What one worker measured.
#[derive(Default)]
pub struct Tally {
    pub latency: Histogram,
    pub statuses: BTreeMap<u16, u64>,
    pub transport: BTreeMap<&'static str, u64>,
    pub not_created: u64,
    /// When its last measured request finished.
    pub last_end: Option<Instant>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.latency.merge(&other.latency);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in other.transport {
            *self.transport.entry(kind).or_default() += n;
        }
        self.not_created += other.not_created;
        self.last_end = self.last_end.max(other.last_end);
    }
}

/// Shared, read-only inputs of a group's workers.
pub struct Group {
    pub plan: Plan,
    pub basic: HeaderValue,
    /// With `--transport grpc`: the plan's messages and the server key as metadata.
    pub grpc: Option<(crate::grpc::Messages, tonic::metadata::MetadataValue<tonic::metadata::Ascii>)>,
    pub live: Arc<Live>,
    pub budget: Option<u64>,
    pub concurrency: usize,
}

/// A worker's connection: REST over HTTP/1.1 or gRPC over HTTP/2.
pub enum Lane {
    Rest(Client),
    Grpc(crate::grpc::Client),
}

/// One connection's request loop: warm up, then measure until the budget, the deadline or a stop.
pub async fn worker(id: usize, mut lane: Lane, group: Arc<Group>, clock: Arc<RunClock>) -> Tally {
    let mut tally = Tally::default();
    let mut rng = StdRng::from_entropy();
    let (measure_start, deadline) = *clock.window.get().expect("workers start after setup");
    let accounts = group.plan.accounts();
    let mut user = id % accounts;
    let step = group.concurrency % accounts;
    loop {
        if clock.stop.load(Relaxed) {
            break;
        }
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let measured = started >= measure_start;
        if measured {
            if let Some(budget) = group.budget {
                if group.live.issued.fetch_add(1, Relaxed) >= budget {
                    break;
                }
            }
        }
        let outcome = match (&mut lane, &group.grpc) {
            (Lane::Grpc(client), Some((messages, basic))) => {
                crate::grpc::send(client, messages, &group.plan, basic, user, &mut rng).await
            }
            (Lane::Grpc(_), None) => Outcome::Transport("grpc:no messages"),
            (Lane::Rest(client), _) => group.plan.send(client, &group.basic, user, &mut rng).await,
        };
        let ended = Instant::now();
        user += step;
        if user >= accounts {
            user -= accounts;
        }
        if !measured {
            group.live.warmup_done.fetch_add(1, Relaxed);
            continue;
        }
        tally.last_end = Some(ended);
        match outcome {
            Outcome::Ok => tally.latency.record(ended.duration_since(started).as_micros() as u64),
            Outcome::Status(status) => *tally.statuses.entry(status).or_default() += 1,
            Outcome::NotCreated => tally.not_created += 1,
            Outcome::Transport(kind) => *tally.transport.entry(kind).or_default() += 1,
        }
        if outcome != Outcome::Ok {
            group.live.errors.fetch_add(1, Relaxed);
        }
        group.live.completed.fetch_add(1, Relaxed);
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_bodies_are_fresh_json() {
        let mut rng = StdRng::seed_from_u64(7);
        let a = new_device_body(&mut rng);
        let b = new_device_body(&mut rng);
        assert_ne!(a, b);
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        let id = v["id"].as_str().unwrap();
        assert!(id.starts_with("load-"));
        let uuid = uuid::Uuid::parse_str(&id["load-".len()..]).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
    }

    #[test]
    fn basic_auth_header() {
        assert_eq!(basic_auth("defaultkey").unwrap(), "Basic ZGVmYXVsdGtleTo=");
    }

    #[test]
    fn token_lifetime_from_claims() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"uid":"x","exp":1060,"iat":1000}"#);
        assert_eq!(token_lifetime(&format!("h.{payload}.s")), Some(Duration::from_secs(60)));
        assert_eq!(token_lifetime("garbage"), None);
        let body = format!(r#"{{"created":true,"token":"h.{payload}.s","refresh_token":"r"}}"#);
        let session = Session::from_response(body.as_bytes(), None).unwrap();
        assert_eq!(session.refresh_after, Duration::from_secs(45));
        assert_eq!(session.refresh_token, "r");
        let short = URL_SAFE_NO_PAD.encode(r#"{"exp":1020,"iat":1000}"#);
        let body = format!(r#"{{"token":"h.{short}.s","refresh_token":"r"}}"#);
        assert_eq!(Session::from_response(body.as_bytes(), None).unwrap().refresh_after, Duration::from_secs(15));
        // A refreshed token keeps the first iat; the schedule of the session it replaces wins.
        let refreshed = URL_SAFE_NO_PAD.encode(r#"{"exp":1100,"iat":1000}"#);
        let body = format!(r#"{{"token":"h.{refreshed}.s","refresh_token":"r2"}}"#);
        let session = Session::from_response(body.as_bytes(), Some(Duration::from_secs(6))).unwrap();
        assert_eq!(session.refresh_after, Duration::from_secs(6));
        assert!(Session::from_response(br#"{"token":""}"#, None).is_err());
    }

    #[test]
    fn created_check() {
        assert!(contains(br#"{"created":true,"token":"t"}"#, b"\"created\":true"));
        assert!(!contains(br#"{"token":"t"}"#, b"\"created\":true"));
    }
}
