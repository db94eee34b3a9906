//! Socket scenarios: `hearth-load sockets` (hold K authenticated sockets, measure connect
//! rate, drops and the server's RSS per socket), `hearth-load fanout` (one status update
//! fanned out to N followers: events/s and send-to-receive latency) and `hearth-load churn`
//! (open and close sockets in waves: RSS and the server's session count afterwards).
//!
//! Every socket needs an open file here and one in the server: with the usual 20,000 cap
//! per process, stay under about 19,000 sockets.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use clap::{value_parser, Arg, ArgMatches, Command};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::histogram::Histogram;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const MODES: [&str; 3] = ["sockets", "fanout", "churn"];

struct Common {
    url: String,
    ws_url: String,
    basic: String,
    server_pid: Option<u32>,
    metrics_url: Option<String>,
    connect_concurrency: usize,
    json: bool,
}

fn command(mode: &str) -> Command {
    let common =
        Command::new("hearth-load")
            .about("Socket load for Hearth (or any server speaking Nakama's realtime API)")
            .arg(Arg::new("url").long("url").default_value("http://127.0.0.1:7350").help("Client API root"))
            .arg(Arg::new("server-key").long("server-key").default_value("defaultkey"))
            .arg(
                Arg::new("server-pid")
                    .long("server-pid")
                    .value_parser(value_parser!(u32))
                    .help("Server process id: its RSS is read from /proc"),
            )
            .arg(Arg::new("metrics-url").long("metrics-url").help(
                "Prometheus endpoint of the server, to read its session count (e.g. http://127.0.0.1:7351/metrics)",
            ))
            .arg(
                Arg::new("connect-concurrency")
                    .long("connect-concurrency")
                    .value_parser(value_parser!(usize))
                    .default_value("256")
                    .help("Upgrades in flight at once"),
            )
            .arg(Arg::new("json").long("json").action(clap::ArgAction::SetTrue));
    match mode {
        "sockets" => common
            .about("Hold K authenticated sockets with status=true, pinging, and report connect rate, drops, RSS")
            .arg(Arg::new("sockets").long("sockets").value_parser(value_parser!(usize)).default_value("1000"))
            .arg(Arg::new("hold-secs").long("hold-secs").value_parser(value_parser!(u64)).default_value("60"))
            .arg(Arg::new("ping-secs").long("ping-secs").value_parser(value_parser!(u64)).default_value("10"))
            .arg(
                Arg::new("status")
                    .long("status")
                    .value_parser(value_parser!(bool))
                    .default_value("true")
                    .help("Open sockets with status=true"),
            ),
        "fanout" => common
            .about("One user's status updates fanned out to N following sockets")
            .arg(Arg::new("followers").long("followers").value_parser(value_parser!(usize)).default_value("1000"))
            .arg(Arg::new("updates").long("updates").value_parser(value_parser!(usize)).default_value("200"))
            .arg(
                Arg::new("interval-ms")
                    .long("interval-ms")
                    .value_parser(value_parser!(u64))
                    .default_value("0")
                    .help("Pause between updates (0 = back to back)"),
            ),
        _ => common
            .about("Open and close sockets in waves; compare RSS and the session count before and after")
            .arg(Arg::new("waves").long("waves").value_parser(value_parser!(usize)).default_value("10"))
            .arg(Arg::new("wave-size").long("wave-size").value_parser(value_parser!(usize)).default_value("10000")),
    }
}

/// Runs a socket mode; `args` starts with the program name, then the mode.
pub async fn main(mode: &str, args: Vec<std::ffi::OsString>) -> i32 {
    let matches = match command(mode).try_get_matches_from(args.into_iter().skip(1)) {
        Ok(m) => m,
        Err(e) => e.exit(),
    };
    let common = match common(&matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hearth-load: {e}");
            return 2;
        }
    };
    let result = match mode {
        "sockets" => hold(&common, &matches).await,
        "fanout" => fanout(&common, &matches).await,
        _ => churn(&common, &matches).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hearth-load: {e}");
            2
        }
    }
}

fn common(m: &ArgMatches) -> Result<Common, String> {
    let url = m.get_one::<String>("url").cloned().unwrap_or_default().trim_end_matches('/').to_string();
    let ws_url = if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        return Err(format!("--url must start with http:// or https://: {url}"));
    };
    let key = m.get_one::<String>("server-key").cloned().unwrap_or_default();
    Ok(Common {
        url,
        ws_url,
        basic: format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))),
        server_pid: m.get_one::<u32>("server-pid").copied(),
        metrics_url: m.get_one::<String>("metrics-url").cloned(),
        connect_concurrency: m.get_one::<usize>("connect-concurrency").copied().unwrap_or(256).max(1),
        json: m.get_flag("json"),
    })
}

fn arg<T: Clone + Send + Sync + 'static>(m: &ArgMatches, name: &str) -> T {
    m.get_one::<T>(name).cloned().expect("clap gives every argument a default")
}

/// Server RSS in KiB, from /proc.
fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The server's live socket count, from its Prometheus endpoint (`*_sessions` gauge).
async fn server_sessions(client: &reqwest::Client, metrics_url: &Option<String>) -> Option<u64> {
    let text = client.get(metrics_url.as_ref()?).send().await.ok()?.text().await.ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(['{', ' ']).next().is_some_and(|name| name.ends_with("_sessions")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

struct Account {
    token: String,
    user_id: String,
}

/// Logs `count` device accounts in (creating them), 64 requests at a time.
async fn accounts(common: &Common, prefix: &str, count: usize) -> Result<Vec<Account>, String> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().map_err(|e| e.to_string())?;
    let url = format!("{}/v2/account/authenticate/device?create=true", common.url);
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let (client, url, basic, gate) = (client.clone(), url.clone(), common.basic.clone(), gate.clone());
        let body = format!(r#"{{"id":"{prefix}-{n:08}"}}"#);
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
            let res =
                client.post(&url).header("Authorization", basic).body(body).send().await.map_err(|e| e.to_string())?;
            let status = res.status();
            let json: Value = res.json().await.map_err(|e| e.to_string())?;
            let token = json["token"].as_str().ok_or_else(|| format!("login answered {status}: {json}"))?.to_string();
            let user_id = claim_uid(&token).ok_or("token without uid")?;
            Ok::<_, String>(Account { token, user_id })
        }));
    }
    let mut out = Vec::with_capacity(count);
    for task in tasks {
        out.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

fn claim_uid(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let json: Value = serde_json::from_slice(&bytes).ok()?;
    json["uid"].as_str().map(String::from)
}

/// Small buffers: this process holds thousands of sockets.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

async fn connect(ws_url: &str, token: &str, status: bool) -> Result<Socket, String> {
    let url = format!("{ws_url}/ws?lang=en&status={status}&token={token}");
    tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true)
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| e.to_string())
}

/// Opens one socket per token, `connect_concurrency` at a time.
async fn connect_all(common: &Common, tokens: Vec<String>, status: bool) -> (Vec<Socket>, usize, Duration) {
    let gate = Arc::new(Semaphore::new(common.connect_concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(tokens.len());
    for token in tokens {
        let (gate, ws_url) = (gate.clone(), common.ws_url.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.ok()?;
            connect(&ws_url, &token, status).await.ok()
        }));
    }
    let mut sockets = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        match task.await.ok().flatten() {
            Some(socket) => sockets.push(socket),
            None => failed += 1,
        }
    }
    (sockets, failed, started.elapsed())
}

#[derive(Default)]
struct HoldStats {
    open: AtomicUsize,
    dropped: AtomicUsize,
    pongs: AtomicU64,
}

async fn hold(common: &Common, m: &ArgMatches) -> Result<i32, String> {
    let count: usize = arg(m, "sockets");
    let hold_for = Duration::from_secs(arg(m, "hold-secs"));
    let ping_every = Duration::from_secs(arg::<u64>(m, "ping-secs").max(1));
    let status: bool = arg(m, "status");
    let run = std::process::id();
    eprintln!("hearth-load: logging in {count} device accounts");
    let tokens: Vec<String> =
        accounts(common, &format!("sock-{run}"), count).await?.into_iter().map(|a| a.token).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(common.server_pid);
    eprintln!("hearth-load: opening {count} sockets (status={status})");
    let (sockets, failed, took) = connect_all(common, tokens, status).await;
    let opened = sockets.len();
    let stats = Arc::new(HoldStats::default());
    stats.open.store(opened, Relaxed);
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::with_capacity(opened);
    for (n, socket) in sockets.into_iter().enumerate() {
        let (stats, stop) = (stats.clone(), stop.clone());
        // Spread the pings over the period.
        let offset = ping_every.mul_f64((n % 1000) as f64 / 1000.0);
        tasks.push(tokio::spawn(keep_alive(socket, stats, stop, ping_every, offset)));
    }
    let connect_rate = opened as f64 / took.as_secs_f64().max(1e-9);
    eprintln!(
        "hearth-load: {opened} open in {:.2} s ({connect_rate:.0}/s), {failed} failed; holding",
        took.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_open = rss_kib(common.server_pid);
    let held = Instant::now();
    while held.elapsed() < hold_for {
        tokio::time::sleep(Duration::from_secs(5).min(hold_for.saturating_sub(held.elapsed()))).await;
        eprintln!(
            "  {:>4.0} s  open {:>6}  dropped {:>4}  pongs {}",
            held.elapsed().as_secs_f64(),
            stats.open.load(Relaxed),
            stats.dropped.load(Relaxed),
            stats.pongs.load(Relaxed)
        );
    }
    let rss_held = rss_kib(common.server_pid);
    let dropped = stats.dropped.load(Relaxed);
    stop.notify_waiters();
    for task in tasks {
        let _ = task.await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_kib(common.server_pid);
    let per_socket = match (rss_before, rss_open) {
        (Some(b), Some(o)) if opened > 0 => Some((o as f64 - b as f64) / opened as f64),
        _ => None,
    };
    let report = serde_json::json!({
        "mode": "sockets",
        "status": status,
        "requested": count,
        "opened": opened,
        "connect_failures": failed,
        "connect_seconds": took.as_secs_f64(),
        "connects_per_second": connect_rate,
        "held_seconds": hold_for.as_secs(),
        "dropped": dropped,
        "pongs": stats.pongs.load(Relaxed),
        "server_rss_kib_before": rss_before,
        "server_rss_kib_open": rss_open,
        "server_rss_kib_end_of_hold": rss_held,
        "server_rss_kib_after_close": rss_after,
        "server_kib_per_socket": per_socket,
    });
    print_report(common, &report);
    Ok(if failed > 0 || dropped > 0 { 1 } else { 0 })
}

/// Reads everything, sends an app-level ping every period, counts an unexpected end as a drop.
async fn keep_alive(
    socket: Socket,
    stats: Arc<HoldStats>,
    stop: Arc<tokio::sync::Notify>,
    every: Duration,
    offset: Duration,
) {
    let (mut sink, mut stream) = socket.split();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset + every, every);
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => {
                let _ = sink.send(Message::Close(None)).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = stream.next().await {} }).await;
                stats.open.fetch_sub(1, Relaxed);
                return;
            }
            _ = ticker.tick() => {
                if sink.send(Message::Text(r#"{"cid":"p","ping":{}}"#.into())).await.is_err() {
                    break;
                }
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if text.contains("\"pong\"") {
                        stats.pongs.fetch_add(1, Relaxed);
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    stats.open.fetch_sub(1, Relaxed);
    stats.dropped.fetch_add(1, Relaxed);
    // Wait for the stop, so the task count stays simple.
    stopped.await;
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

async fn fanout(common: &Common, m: &ArgMatches) -> Result<i32, String> {
    let followers: usize = arg(m, "followers");
    let updates: usize = arg(m, "updates");
    let interval = Duration::from_millis(arg(m, "interval-ms"));
    let run = std::process::id();
    let publisher = accounts(common, &format!("fan-pub-{run}"), 1).await?.pop().ok_or("no publisher account")?;
    eprintln!("hearth-load: logging in {followers} followers");
    let tokens: Vec<String> =
        accounts(common, &format!("fan-{run}"), followers).await?.into_iter().map(|a| a.token).collect();
    let (sockets, failed, _) = connect_all(common, tokens, false).await;
    if failed > 0 {
        return Err(format!("{failed} follower sockets failed to open"));
    }
    // Everyone follows the publisher before the first update.
    let follow = format!(r#"{{"cid":"f","status_follow":{{"user_ids":["{}"]}}}}"#, publisher.user_id);
    let received = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let last_receipt = Arc::new(AtomicU64::new(0));
    let expected = (followers * updates) as u64;
    let mut readers = Vec::with_capacity(followers);
    for mut socket in sockets {
        socket.send(Message::Text(follow.clone().into())).await.map_err(|e| e.to_string())?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(t))) if t.contains("\"cid\":\"f\"") => break,
                Some(Ok(_)) => continue,
                other => return Err(format!("follow failed: {other:?}")),
            }
        }
        let (received, closed, last_receipt) = (received.clone(), closed.clone(), last_receipt.clone());
        readers.push(tokio::spawn(async move {
            let mut latencies = Histogram::default();
            let mut mine = 0usize;
            while mine < updates {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let now = now_micros();
                        if let Some(sent) = sent_micros(&text) {
                            latencies.record(now.saturating_sub(sent));
                            mine += 1;
                            received.fetch_add(1, Relaxed);
                            last_receipt.fetch_max(now, Relaxed);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => {
                        closed.fetch_add(1, Relaxed);
                        break;
                    }
                }
            }
            let _ = socket.close(None).await;
            latencies
        }));
    }
    let (mut sink, mut stream) = connect(&common.ws_url, &publisher.token, false).await?.split();
    // The publisher follows itself: drain its own events.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    eprintln!("hearth-load: {followers} followers ready; sending {updates} updates");
    let first_send = now_micros();
    for n in 0..updates {
        let update = format!(r#"{{"status_update":{{"status":"t{}:{n}"}}}}"#, now_micros());
        sink.send(Message::Text(update.into())).await.map_err(|e| e.to_string())?;
        if !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
    }
    let mut latencies = Histogram::default();
    let wait = tokio::time::timeout(Duration::from_secs(60), async {
        for reader in readers {
            if let Ok(h) = reader.await {
                latencies.merge(&h);
            }
        }
    })
    .await;
    drain.abort();
    let delivered = received.load(Relaxed);
    let elapsed = last_receipt.load(Relaxed).saturating_sub(first_send) as f64 / 1e6;
    let ms = |p: u32| latencies.percentile(p).map(|v| v as f64 / 1000.0);
    let report = serde_json::json!({
        "mode": "fanout",
        "followers": followers,
        "updates": updates,
        "events_expected": expected,
        "events_delivered": delivered,
        "sockets_closed_early": closed.load(Relaxed),
        "timed_out": wait.is_err(),
        "seconds": elapsed,
        "events_per_second": delivered as f64 / elapsed.max(1e-9),
        "latency_ms_p50": ms(5000),
        "latency_ms_p99": ms(9900),
        "latency_ms_max": latencies.max().map(|v| v as f64 / 1000.0),
    });
    print_report(common, &report);
    Ok(if delivered == expected { 0 } else { 1 })
}

/// The send time embedded in a status event by `fanout` (`"status":"t<micros>:<n>"`).
fn sent_micros(text: &str) -> Option<u64> {
    if !text.contains("\"joins\"") {
        return None;
    }
    let start = text.find("\"status\":\"t")? + "\"status\":\"t".len();
    let rest = &text[start..];
    rest[..rest.find(':')?].parse().ok()
}

async fn churn(common: &Common, m: &ArgMatches) -> Result<i32, String> {
    let waves: usize = arg(m, "waves");
    let size: usize = arg(m, "wave-size");
    let run = std::process::id();
    let client = reqwest::Client::new();
    // One token per account, reused by every wave: the waves measure sockets only. Tokens
    // must outlive the run (session.token_expiry_sec; 60 s by default).
    eprintln!("hearth-load: logging in {size} device accounts");
    let tokens: Vec<String> =
        accounts(common, &format!("churn-{run}"), size).await?.into_iter().map(|a| a.token).collect();
    let started = Instant::now();
    // A first wave, not measured, so "before" already includes the structures a node
    // grows once to its peak (socket tables) and keeps.
    let (warmup, _, _) = connect_all(common, tokens.clone(), true).await;
    for mut socket in warmup {
        let _ = socket.close(None).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rss_before = rss_kib(common.server_pid);
    let mut total_opened = 0;
    let mut total_failed = 0;
    for wave in 0..waves {
        let (sockets, failed, took) = connect_all(common, tokens.clone(), true).await;
        total_opened += sockets.len();
        total_failed += failed;
        let open_sessions = server_sessions(&client, &common.metrics_url).await;
        for mut socket in sockets {
            let _ = socket.close(None).await;
        }
        // Let the server finish closing before reading its numbers.
        let mut sessions = server_sessions(&client, &common.metrics_url).await;
        for _ in 0..50 {
            if sessions.is_none_or(|s| s == 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            sessions = server_sessions(&client, &common.metrics_url).await;
        }
        eprintln!(
            "  wave {:>3}: opened {} in {:.2} s ({} failed), server sessions open {:?} -> closed {:?}, rss {:?} KiB",
            wave + 1,
            size - failed,
            took.as_secs_f64(),
            failed,
            open_sessions,
            sessions,
            rss_kib(common.server_pid)
        );
    }
    // The server gives freed memory back within a few seconds of a mass close.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rss_after = rss_kib(common.server_pid);
    let sessions_end = server_sessions(&client, &common.metrics_url).await;
    let growth = match (rss_before, rss_after) {
        (Some(a), Some(b)) => Some((b as f64 - a as f64) / a as f64 * 100.0),
        _ => None,
    };
    let report = serde_json::json!({
        "mode": "churn",
        "waves": waves,
        "wave_size": size,
        "opened": total_opened,
        "connect_failures": total_failed,
        "seconds": started.elapsed().as_secs_f64(),
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "rss_growth_percent": growth,
        "server_sessions_end": sessions_end,
    });
    print_report(common, &report);
    Ok(if total_failed > 0 || sessions_end.is_some_and(|s| s != 0) { 1 } else { 0 })
}

fn print_report(common: &Common, report: &Value) {
    if common.json {
        println!("{report}");
        return;
    }
    if let Value::Object(map) = report {
        for (key, value) in map {
            let shown = match value {
                Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or_default()),
                Value::Null => "-".to_string(),
                other => other.to_string(),
            };
            println!("{key:<36} {shown}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_time_is_read_from_joins_only() {
        let join = r#"{"status_presence_event":{"joins":[{"user_id":"u","session_id":"s","status":"t123456:7"}],"leaves":[{"status":"t1:6"}]}}"#;
        assert_eq!(sent_micros(join), Some(123456));
        assert_eq!(sent_micros(r#"{"status_presence_event":{"leaves":[{"status":"t1:6"}]}}"#), None);
    }

    #[test]
    fn uid_is_read_from_the_token() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"uid":"abc","exp":1}"#);
        assert_eq!(claim_uid(&format!("h.{payload}.s")).as_deref(), Some("abc"));
    }
}
