//! The live feed of the web page (console.md §4): one task samples the node once a second
//! into a short history; each viewer's `GET /v2/console/live` stream (server-sent events)
//! only reads the latest sample. Viewers are capped, and nothing of a viewer outlives it.

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
use crate::error::ErrorKind;
use crate::http::Staff;
use crate::metrics::{buckets, quantile_between, AuthMethod, AuthOutcome};
use crate::AppState;

/// Samples kept for a page that opens (two minutes).
const HISTORY: usize = 120;
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

pub struct LiveFeed {
    history: Mutex<VecDeque<Arc<str>>>,
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
        Totals {
            at: Instant::now(),
            auth,
            latency: buckets(&m.request_latency),
            latency_sum: m.request_latency.get_sample_sum(),
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
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            totals: Mutex::new(VecDeque::with_capacity(STATUS_WINDOW + 1)),
            window: Mutex::new(Window::default()),
            tick: watch::channel(0).0,
            viewers: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn window(&self) -> Window {
        self.window.lock().map(|w| *w).unwrap_or_default()
    }

    /// Ends every open stream (server shutdown).
    pub fn close(&self) {
        self.tick.send_replace(CLOSED);
    }

    fn latest(&self) -> Option<Arc<str>> {
        self.history.lock().ok()?.back().cloned()
    }

    fn history_json(&self) -> String {
        let history = self.history.lock().map(|h| h.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        format!("[{}]", history.join(","))
    }

    fn viewer(&self) -> Option<Viewer> {
        let previous = self.viewers.fetch_add(1, Ordering::Relaxed);
        let viewer = Viewer(self.viewers.clone());
        (previous < MAX_VIEWERS).then_some(viewer)
    }

    /// Records one sample taken between `before` and `now`.
    fn record(&self, state: &AppState, before: &Totals, now: &Totals) {
        let secs = now.at.duration_since(before.at).as_secs_f64().max(0.001);
        let per_sec = |a: u64, b: u64| round2(a.saturating_sub(b) as f64 / secs);
        let mut logins = Map::new();
        let mut total = 0.0;
        for (mi, method) in AuthMethod::ALL.iter().enumerate() {
            let mut outcomes = Map::new();
            for (oi, outcome) in AuthOutcome::ALL.iter().enumerate() {
                let i = mi * AuthOutcome::ALL.len() + oi;
                let rate = per_sec(now.auth[i], before.auth[i]);
                total += rate;
                outcomes.insert(outcome.name().to_string(), json!(rate));
            }
            logins.insert(method.name().to_string(), Value::Object(outcomes));
        }
        let status = node_status(state);
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let sample = json!({
            "time": millis,
            "sessions": status["session_count"],
            "presences": status["presence_count"],
            "logins": logins,
            "logins_per_sec": round2(total),
            "latency_p50_ms": round2(quantile_between(&before.latency, &now.latency, 0.5) * 1000.0),
            "latency_p99_ms": round2(quantile_between(&before.latency, &now.latency, 0.99) * 1000.0),
            "messages_in_per_sec": per_sec(now.messages_in, before.messages_in),
            "messages_out_per_sec": per_sec(now.messages_out, before.messages_out),
            "slow_disconnects": now.slow.saturating_sub(before.slow),
            "queue_overflows": now.overflows.saturating_sub(before.overflows),
            "argon2_queue": state.accounts.passwords.queue_depth(),
            "status": status,
        });
        if let Ok(mut history) = self.history.lock() {
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(Arc::from(sample.to_string()));
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

/// `GET /v2/console/live`: an `event: history` with the recent samples, then one
/// `data:` line a second.
pub async fn stream(_: Staff, state: web::Data<AppState>) -> ConsoleResult {
    let live = &state.console.live;
    let viewer = live.viewer().ok_or(ErrorKind::TooManyLiveViewers)?;
    let first = format!("event: history\ndata: {}\n\n", live.history_json());
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
