//! The live feed of the web page (console.md §4): one task samples the node once a second
//! into an hour of history, a ring of fixed-size numeric samples allocated once (so its
//! memory does not grow with load); each viewer's `GET /v2/console/live?since=` stream
//! (server-sent events) gets the history since then, rendered on demand, and then reads only
//! the latest sample. Viewers are capped, and nothing of a viewer outlives it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::node::node_status;
use super::ConsoleResult;
use crate::error::{ApiError, ErrorKind};
use crate::http::{Query, Staff};
use crate::metrics::{quantile_between, AuthMethod, AuthOutcome, Transport};
use crate::AppState;

/// Samples kept: one a second for an hour.
pub const HISTORY: usize = 3600;
/// What a stream without `since` gets first: the last 15 minutes, as the page asks.
const DEFAULT_SINCE_MS: u64 = 15 * 60 * 1000;
const METHODS: usize = AuthMethod::ALL.len();
const OUTCOMES: usize = AuthOutcome::ALL.len();
/// The status averages cover this many seconds, as Nakama's do.
const STATUS_WINDOW: usize = 5;
/// Open live streams at most; more answer 429.
pub const MAX_VIEWERS: usize = 16;
const CLOSED: u64 = u64::MAX;

/// The console status averages (sessions-registry.md §3), rounded down to 2 decimals.
#[derive(Clone, Copy, Default)]
pub struct Window {
    pub avg_latency_ms: f64,
    pub avg_rate_sec: f64,
    pub avg_input_kbs: f64,
    pub avg_output_kbs: f64,
}

/// One second of the node, in numbers (rendered to JSON only when asked for).
#[derive(Clone, Copy, Default)]
pub struct Sample {
    time_ms: u64,
    sessions: u32,
    presences: u32,
    /// Logins per second by method and outcome.
    logins: [[f32; OUTCOMES]; METHODS],
    logins_per_sec: f32,
    latency_p50_ms: f32,
    latency_p99_ms: f32,
    /// Client API calls per second by `Transport` (REST, gRPC).
    requests_per_sec: [f32; 2],
    messages_in_per_sec: f32,
    messages_out_per_sec: f32,
    slow_disconnects: u32,
    queue_overflows: u32,
    argon2_queue: u32,
}

impl Sample {
    /// The sample as the page reads it; `status` is the node's, for the latest one.
    fn render(&self, status: Option<&Value>) -> Value {
        let mut logins = Map::new();
        for (mi, method) in AuthMethod::ALL.iter().enumerate() {
            let outcomes: Map<String, Value> = AuthOutcome::ALL
                .iter()
                .enumerate()
                .map(|(oi, outcome)| (outcome.name().to_string(), json!(round2(self.logins[mi][oi] as f64))))
                .collect();
            logins.insert(method.name().to_string(), Value::Object(outcomes));
        }
        let requests: Map<String, Value> = Transport::ALL
            .iter()
            .map(|t| (t.name().to_string(), json!(round2(self.requests_per_sec[*t as usize] as f64))))
            .collect();
        let mut sample = json!({
            "time": self.time_ms,
            "sessions": self.sessions,
            "presences": self.presences,
            "logins": logins,
            "logins_per_sec": round2(self.logins_per_sec as f64),
            "latency_p50_ms": round2(self.latency_p50_ms as f64),
            "latency_p99_ms": round2(self.latency_p99_ms as f64),
            "requests_per_sec": requests,
            "messages_in_per_sec": round2(self.messages_in_per_sec as f64),
            "messages_out_per_sec": round2(self.messages_out_per_sec as f64),
            "slow_disconnects": self.slow_disconnects,
            "queue_overflows": self.queue_overflows,
            "argon2_queue": self.argon2_queue,
        });
        if let (Some(status), Some(object)) = (status, sample.as_object_mut()) {
            object.insert("status".into(), status.clone());
        }
        sample
    }
}

/// The last `HISTORY` samples, oldest first, in storage allocated once.
struct Ring {
    samples: Box<[Sample]>,
    /// Where the next sample goes.
    next: usize,
    len: usize,
}

impl Ring {
    fn new() -> Self {
        Ring { samples: vec![Sample::default(); HISTORY].into_boxed_slice(), next: 0, len: 0 }
    }

    fn push(&mut self, sample: Sample) {
        self.samples[self.next] = sample;
        self.next = (self.next + 1) % HISTORY;
        self.len = (self.len + 1).min(HISTORY);
    }

    fn iter(&self) -> impl Iterator<Item = &Sample> {
        let start = (self.next + HISTORY - self.len) % HISTORY;
        (0..self.len).map(move |i| &self.samples[(start + i) % HISTORY])
    }
}

pub struct LiveFeed {
    history: Mutex<Ring>,
    /// The latest sample with the node's status, as streams send it.
    latest: Mutex<Option<Arc<str>>>,
    totals: Mutex<VecDeque<Totals>>,
    window: Mutex<Window>,
    tick: watch::Sender<u64>,
    viewers: Arc<AtomicUsize>,
}

/// Counter values at one instant.
#[derive(Clone)]
struct Totals {
    at: Instant,
    auth: Vec<u64>,
    latency: (Vec<(f64, u64)>, u64),
    latency_sum: f64,
    /// Client API calls by `Transport`.
    api_requests: [u64; 2],
    messages_in: u64,
    messages_out: u64,
    slow: u64,
    overflows: u64,
    requests: u64,
    received: u64,
    sent: u64,
}

impl Totals {
    fn take(state: &AppState) -> Self {
        let m = &state.metrics;
        let mut auth = Vec::with_capacity(AuthMethod::ALL.len() * AuthOutcome::ALL.len());
        for method in AuthMethod::ALL {
            for outcome in AuthOutcome::ALL {
                auth.push(m.authentications(method, outcome));
            }
        }
        let (latency, latency_sum) = m.request_latency();
        Totals {
            at: Instant::now(),
            auth,
            latency,
            latency_sum,
            api_requests: Transport::ALL.map(|t| m.api_requests(t)),
            messages_in: m.message_count.get(),
            messages_out: m.message_sent_count.get(),
            slow: m.socket_slow_disconnects.get(),
            overflows: m.socket_queue_overflows.get(),
            requests: m.overall_count.get(),
            received: m.overall_recv_bytes.get(),
            sent: m.overall_sent_bytes.get(),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn floor2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).floor() / 100.0
    } else {
        0.0
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Ends the stream's viewer count when the stream is dropped (the page went away).
struct Viewer(Arc<AtomicUsize>);

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveFeed {
    pub fn new() -> Self {
        Self {
            history: Mutex::new(Ring::new()),
            latest: Mutex::new(None),
            totals: Mutex::new(VecDeque::with_capacity(STATUS_WINDOW + 1)),
            window: Mutex::new(Window::default()),
            tick: watch::channel(0).0,
            viewers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Samples held now (at most `HISTORY`).
    pub fn len(&self) -> usize {
        self.history.lock().map(|h| h.len).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn window(&self) -> Window {
        self.window.lock().map(|w| *w).unwrap_or_default()
    }

    /// Ends every open stream (server shutdown).
    pub fn close(&self) {
        self.tick.send_replace(CLOSED);
    }

    fn latest(&self) -> Option<Arc<str>> {
        self.latest.lock().ok()?.clone()
    }

    /// The samples taken after `since_ms` (Unix milliseconds), oldest first; the last one
    /// carries the node's status, as the live events do.
    fn history_json(&self, since_ms: u64, status: &Value) -> String {
        // Copied out (144 bytes a sample), so the sampler never waits on the rendering.
        let picked: Vec<Sample> = match self.history.lock() {
            Ok(history) => history.iter().filter(|s| s.time_ms > since_ms).copied().collect(),
            Err(_) => return "[]".into(),
        };
        let rendered: Vec<String> = picked
            .iter()
            .enumerate()
            .map(|(i, s)| s.render((i + 1 == picked.len()).then_some(status)).to_string())
            .collect();
        format!("[{}]", rendered.join(","))
    }

    fn viewer(&self) -> Option<Viewer> {
        let previous = self.viewers.fetch_add(1, Ordering::Relaxed);
        let viewer = Viewer(self.viewers.clone());
        (previous < MAX_VIEWERS).then_some(viewer)
    }

    /// Records one sample taken between `before` and `now`.
    fn record(&self, state: &AppState, before: &Totals, now: &Totals) {
        let secs = now.at.duration_since(before.at).as_secs_f64().max(0.001);
        let per_sec = |a: u64, b: u64| (a.saturating_sub(b) as f64 / secs) as f32;
        let mut logins = [[0f32; OUTCOMES]; METHODS];
        let mut total = 0.0;
        for (mi, row) in logins.iter_mut().enumerate() {
            for (oi, rate) in row.iter_mut().enumerate() {
                let i = mi * OUTCOMES + oi;
                *rate = per_sec(now.auth[i], before.auth[i]);
                total += *rate;
            }
        }
        let status = node_status(state);
        let count = |key: &str| status[key].as_u64().unwrap_or(0).min(u32::MAX as u64) as u32;
        let sample = Sample {
            time_ms: now_ms(),
            sessions: count("session_count"),
            presences: count("presence_count"),
            logins,
            logins_per_sec: total,
            latency_p50_ms: (quantile_between(&before.latency, &now.latency, 0.5) * 1000.0) as f32,
            latency_p99_ms: (quantile_between(&before.latency, &now.latency, 0.99) * 1000.0) as f32,
            requests_per_sec: Transport::ALL
                .map(|t| per_sec(now.api_requests[t as usize], before.api_requests[t as usize])),
            messages_in_per_sec: per_sec(now.messages_in, before.messages_in),
            messages_out_per_sec: per_sec(now.messages_out, before.messages_out),
            slow_disconnects: now.slow.saturating_sub(before.slow) as u32,
            queue_overflows: now.overflows.saturating_sub(before.overflows) as u32,
            argon2_queue: state.accounts.passwords.queue_depth().min(u32::MAX as usize) as u32,
        };
        if let Ok(mut history) = self.history.lock() {
            history.push(sample);
        }
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(Arc::from(sample.render(Some(&status)).to_string()));
        }
        self.update_window(now.clone());
        self.tick.send_modify(|n| {
            if *n != CLOSED {
                *n += 1;
            }
        });
    }

    fn update_window(&self, now: Totals) {
        let Ok(mut totals) = self.totals.lock() else { return };
        totals.push_back(now);
        if totals.len() > STATUS_WINDOW + 1 {
            totals.pop_front();
        }
        let (Some(first), Some(last)) = (totals.front(), totals.back()) else { return };
        let secs = last.at.duration_since(first.at).as_secs_f64();
        if secs <= 0.0 {
            return;
        }
        let requests = last.requests.saturating_sub(first.requests);
        let timed = last.latency.1.saturating_sub(first.latency.1);
        let window = Window {
            avg_latency_ms: if timed == 0 {
                0.0
            } else {
                floor2((last.latency_sum - first.latency_sum) * 1000.0 / timed as f64)
            },
            avg_rate_sec: floor2(requests as f64 / secs),
            avg_input_kbs: floor2(last.received.saturating_sub(first.received) as f64 / 1024.0 / secs),
            avg_output_kbs: floor2(last.sent.saturating_sub(first.sent) as f64 / 1024.0 / secs),
        };
        if let Ok(mut w) = self.window.lock() {
            *w = window;
        }
    }
}

/// Samples the node once a second until the server stops.
pub async fn sample_loop(state: web::Data<AppState>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut before = Totals::take(&state);
    loop {
        ticker.tick().await;
        let now = Totals::take(&state);
        state.console.live.record(&state, &before, &now);
        before = now;
    }
}

/// `GET /v2/console/live?since=<Unix ms>`: an `event: history` with the samples taken after
/// `since` (the last 15 minutes without it), then one `data:` line a second.
pub async fn stream(_: Staff, query: Result<Query, ApiError>, state: web::Data<AppState>) -> ConsoleResult {
    let Query(query) = query?;
    let since = match query.string("since", "since")? {
        text if text.is_empty() => now_ms().saturating_sub(DEFAULT_SINCE_MS),
        text => text.parse::<u64>().map_err(|_| ErrorKind::QueryNotInt { field: "since".into(), value: text })?,
    };
    let live = &state.console.live;
    let viewer = live.viewer().ok_or(ErrorKind::TooManyLiveViewers)?;
    let first = format!("event: history\ndata: {}\n\n", live.history_json(since, &node_status(&state)));
    let ticks = live.tick.subscribe();
    let state = state.clone();
    let events = futures_util::stream::unfold(
        (Some(first), ticks, viewer, state),
        |(first, mut ticks, viewer, state)| async move {
            if let Some(first) = first {
                return Some((Ok::<_, Infallible>(Bytes::from(first)), (None, ticks, viewer, state)));
            }
            if ticks.changed().await.is_err() || *ticks.borrow() == CLOSED {
                return None;
            }
            let latest = state.console.live.latest()?;
            let event = Bytes::from(format!("data: {latest}\n\n"));
            Some((Ok(event), (None, ticks, viewer, state)))
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time_ms: u64) -> Sample {
        Sample { time_ms, sessions: time_ms as u32, requests_per_sec: [1.5, 2.25], ..Sample::default() }
    }

    #[test]
    fn the_ring_keeps_the_last_hour_in_a_fixed_allocation() {
        let mut ring = Ring::new();
        let storage = ring.samples.as_ptr();
        for t in 1..=HISTORY as u64 + 250 {
            ring.push(at(t));
        }
        assert_eq!(ring.len, HISTORY);
        let times: Vec<u64> = ring.iter().map(|s| s.time_ms).collect();
        assert_eq!(times.first(), Some(&251));
        assert_eq!(times.last(), Some(&(HISTORY as u64 + 250)));
        assert!(times.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(ring.samples.as_ptr(), storage, "never reallocated");
        // The README states the cost: under 600 KB for the hour.
        assert!(std::mem::size_of::<Sample>() * HISTORY < 600 * 1024, "{}", std::mem::size_of::<Sample>());
    }

    #[test]
    fn history_since_an_instant_is_what_came_after_it_with_status_on_the_last() {
        let feed = LiveFeed::new();
        for t in [1_000, 2_000, 3_000, 4_000] {
            feed.history.lock().unwrap().push(at(t));
        }
        let status = json!({"name": "node1"});
        let parsed: Vec<Value> = serde_json::from_str(&feed.history_json(2_000, &status)).unwrap();
        let times: Vec<u64> = parsed.iter().map(|s| s["time"].as_u64().unwrap()).collect();
        assert_eq!(times, [3_000, 4_000]);
        assert!(parsed[0].get("status").is_none());
        assert_eq!(parsed[1]["status"]["name"], "node1");
        assert_eq!(parsed[1]["sessions"], 4_000);
        assert_eq!(parsed[1]["logins"]["device"]["created"], 0.0);
        assert_eq!(parsed[1]["requests_per_sec"], json!({"rest": 1.5, "grpc": 2.25}));
        assert_eq!(feed.history_json(4_000, &status), "[]");
        assert_eq!(serde_json::from_str::<Vec<Value>>(&feed.history_json(0, &status)).unwrap().len(), 4);
    }
}
