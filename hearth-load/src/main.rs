//! `hearth-load`: a load generator for Hearth or any server speaking Nakama's client REST API.
//!
//! ```text
//! hearth-load --url http://127.0.0.1:7350 --scenario device-existing --concurrency 64 \
//!     --duration-secs 30 --also email --also-concurrency 16
//! ```
//!
//! Socket scenarios: `hearth-load sockets|fanout|churn --help` (see sockets.rs).
//!
//! A pure HTTP client: it shares no code with the server. Each worker task owns one keep-alive
//! HTTP/1.1 connection (its own `reqwest::Client`), or with `--transport grpc` one HTTP/2
//! connection to the gRPC port (grpc.rs), and sends requests back to back; latencies go
//! into a per-worker histogram merged at the end. A progress line goes to stderr every second,
//! the report to stdout (`--json` for JSON). Exit code 0 = run completed, 1 = more than 1% of
//! requests failed (or none completed), 2 = bad arguments, server unreachable or setup failed.

mod args;
mod grpc;
mod histogram;
mod report;
mod scenario;
mod sockets;

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use args::{ArgError, Options, Transport};
use report::GroupReport;
use scenario::{Endpoints, Lane, Live, Plan, RunClock, Tally};

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(mode) = argv.get(1).and_then(|m| m.to_str()).filter(|m| sockets::MODES.contains(m)) {
        let mode = mode.to_string();
        let code = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(sockets::main(&mode, argv)),
            Err(e) => {
                eprintln!("hearth-load: cannot start the async runtime: {e}");
                2
            }
        };
        std::process::exit(code);
    }
    let options = match args::parse(std::env::args_os()) {
        Ok(options) => options,
        Err(ArgError::Clap(e)) => e.exit(),
        Err(ArgError::Invalid(message)) => {
            eprintln!("hearth-load: {message}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hearth-load: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(async {
        match run(options).await {
            Ok(code) => code,
            Err(message) => {
                eprintln!("hearth-load: {message}");
                2
            }
        }
    });
    // Workers left waiting on a server that hangs must not hold the exit up.
    runtime.shutdown_background();
    std::process::exit(code);
}

/// A scenario as configured, with what its run produced.
struct Running {
    spec: args::Group,
    label: String,
    live: Arc<Live>,
    setup: Duration,
    refreshes: Option<Arc<scenario::Sessions>>,
}

async fn run(options: Options) -> Result<i32, String> {
    let endpoints = Arc::new(Endpoints::new(&options.base_url)?);
    let basic = scenario::basic_auth(&options.server_key)?;
    let control_client = scenario::client(options.timeout)?;
    check_reachable(&control_client, &endpoints, &options.base_url).await?;

    let specs: Vec<args::Group> = std::iter::once(options.primary.clone()).chain(options.also.clone()).collect();
    let mut groups: Vec<Running> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut label = spec.scenario.name().to_string();
            if i > 0 && spec.scenario == options.primary.scenario {
                label.push_str(" (also)");
            }
            Running { spec: spec.clone(), label, live: Arc::default(), setup: Duration::ZERO, refreshes: None }
        })
        .collect();

    let clock = Arc::new(RunClock::default());
    let progress = tokio::spawn(progress_loop(
        groups.iter().map(|g| (g.label.clone(), g.spec.clone(), g.live.clone())).collect(),
        clock.clone(),
    ));
    tokio::spawn(interrupt_handler(clock.clone()));

    // Setup, not measured: every connection of a group helps create its accounts.
    let mut prepared = Vec::new();
    for group in &mut groups {
        let clients =
            (0..group.spec.concurrency).map(|_| scenario::client(options.timeout)).collect::<Result<Vec<_>, _>>()?;
        let started = Instant::now();
        let plan = scenario::setup(group.spec.scenario, group.spec.users, &clients, &endpoints, &basic, &group.live)
            .await
            .map_err(|e| format!("setup of {} failed: {e}", group.label))?;
        group.setup = started.elapsed();
        if let Plan::AccountGet { sessions, .. } = &plan {
            group.refreshes = Some(sessions.clone());
        }
        prepared.push((plan, clients));
    }

    // Tokens made early in a long setup may already be due.
    let mut refreshers = Vec::new();
    for sessions in groups.iter().filter_map(|g| g.refreshes.clone()) {
        sessions.refresh_due(&control_client, &endpoints, &basic).await;
        refreshers.push(tokio::spawn(scenario::refresh_loop(
            sessions,
            control_client.clone(),
            endpoints.clone(),
            basic.clone(),
            clock.clone(),
        )));
    }

    let start = Instant::now();
    let measure_start = start + options.warmup;
    let deadline = measure_start + options.duration;
    clock.window.set((measure_start, deadline)).expect("set once");

    let mut workers = Vec::new();
    for (group, (plan, clients)) in groups.iter().zip(prepared) {
        let lanes: Vec<Lane> = match options.transport {
            Transport::Rest => clients.into_iter().map(Lane::Rest).collect(),
            Transport::Grpc => {
                let mut lanes = Vec::with_capacity(clients.len());
                for _ in 0..clients.len() {
                    lanes.push(Lane::Grpc(grpc::connect(&options.grpc_url, options.timeout).await?));
                }
                lanes
            }
        };
        let grpc = match options.transport {
            Transport::Rest => None,
            Transport::Grpc => Some((grpc::Messages::of(group.spec.scenario, &plan)?, grpc::basic(&basic)?)),
        };
        let shared = Arc::new(scenario::Group {
            plan,
            grpc,
            basic: basic.clone(),
            live: group.live.clone(),
            budget: group.spec.requests,
            concurrency: group.spec.concurrency,
        });
        let handles: Vec<_> = lanes
            .into_iter()
            .enumerate()
            .map(|(id, lane)| tokio::spawn(scenario::worker(id, lane, shared.clone(), clock.clone())))
            .collect();
        workers.push(handles);
    }

    // The primary group decides when the run ends; `--also` stops with it.
    let mut tallies = Vec::new();
    for (i, handles) in workers.into_iter().enumerate() {
        let mut tally = Tally::default();
        for handle in handles {
            tally.merge(handle.await.map_err(|e| format!("worker failed: {e}"))?);
        }
        if i == 0 {
            clock.stop.store(true, Relaxed);
        }
        tallies.push(tally);
    }
    let primary_end = tallies[0].last_end.unwrap_or(measure_start);
    clock.stop.store(true, Relaxed);
    progress.abort();
    for refresher in refreshers {
        refresher.abort();
    }

    let interrupted = clock.interrupted.load(Relaxed);
    let reports: Vec<GroupReport> = groups
        .into_iter()
        .zip(tallies)
        .enumerate()
        .map(|(i, (group, tally))| {
            let budget_spent = group.spec.requests.is_some_and(|b| group.live.issued.load(Relaxed) >= b);
            let stopped_by = if interrupted {
                "interrupt"
            } else if budget_spent {
                "requests"
            } else if i > 0 && primary_end < deadline {
                "primary done"
            } else {
                "duration"
            };
            let duration = tally.last_end.map_or(Duration::ZERO, |end| end.saturating_duration_since(measure_start));
            GroupReport {
                label: group.label,
                scenario: group.spec.scenario,
                concurrency: group.spec.concurrency,
                users: group.spec.scenario.uses_accounts().then_some(group.spec.users),
                budget: group.spec.requests,
                setup: group.setup,
                duration,
                latency: tally.latency,
                statuses: tally.statuses,
                transport: tally.transport,
                not_created: tally.not_created,
                refreshes: group.refreshes.map(|s| (s.refreshes.load(Relaxed), s.refresh_errors.load(Relaxed))),
                stopped_by,
            }
        })
        .collect();

    // Where the measured requests went: with gRPC, its root and the transport's name.
    let target = match options.transport {
        Transport::Rest => options.base_url.clone(),
        Transport::Grpc => format!("{} ({})", options.grpc_url, options.transport.name()),
    };
    if options.json {
        println!("{}", report::json(&target, options.warmup, &reports));
    } else {
        print!("{}", report::table(&target, options.warmup, &reports));
    }
    Ok(if reports.iter().any(GroupReport::failed) { 1 } else { 0 })
}

/// One `GET /healthcheck` before anything else, so a wrong URL fails fast with exit code 2.
async fn check_reachable(client: &reqwest::Client, endpoints: &Endpoints, base: &str) -> Result<(), String> {
    let answer = client.get(endpoints.health.clone()).timeout(Duration::from_secs(5)).send().await;
    match answer {
        Err(e) => Err(format!("server unreachable at {base}: {}", scenario::error_chain(&e))),
        Ok(response) if !response.status().is_success() => {
            eprintln!("hearth-load: warning: GET {} answered {}", endpoints.health, response.status());
            Ok(())
        }
        Ok(_) => Ok(()),
    }
}

/// First Ctrl-C: stop after the requests in flight and report (or quit during setup).
/// Second: quit at once.
async fn interrupt_handler(clock: Arc<RunClock>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    if clock.window.get().is_none() {
        eprintln!("hearth-load: interrupted during setup");
        std::process::exit(130);
    }
    eprintln!("hearth-load: interrupted; finishing requests in flight (Ctrl-C again to quit)");
    clock.interrupted.store(true, Relaxed);
    clock.stop.store(true, Relaxed);
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// One line on stderr every second: phase, elapsed, completed, current req/s, errors.
async fn progress_loop(groups: Vec<(String, args::Group, Arc<Live>)>, clock: Arc<RunClock>) {
    let begun = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last_tick = Instant::now();
    let mut last_completed = vec![0u64; groups.len()];
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let mut line = String::new();
        match clock.window.get() {
            None => {
                let _ = write!(line, "[setup {:.0}s]", now.duration_since(begun).as_secs_f64());
                for (label, spec, live) in groups.iter().filter(|(_, spec, _)| spec.scenario.uses_accounts()) {
                    let _ = write!(line, " {label}: {}/{} accounts", live.setup_done.load(Relaxed), spec.users);
                }
            }
            Some(&(measure_start, _)) if now < measure_start => {
                let _ = write!(line, "[warmup, {:.0}s left]", measure_start.duration_since(now).as_secs_f64().ceil());
                for (label, _, live) in &groups {
                    let _ = write!(line, " {label}: {} requests", live.warmup_done.load(Relaxed));
                }
            }
            Some(&(measure_start, _)) => {
                let _ = write!(line, "[{:5.1}s]", now.duration_since(measure_start).as_secs_f64());
                let interval = now.duration_since(last_tick.max(measure_start)).as_secs_f64().max(1e-3);
                for (i, (label, _, live)) in groups.iter().enumerate() {
                    let completed = live.completed.load(Relaxed);
                    let rate = completed.saturating_sub(last_completed[i]) as f64 / interval;
                    let errors = live.errors.load(Relaxed);
                    let sep = if i == 0 { " " } else { " | " };
                    let _ = write!(line, "{sep}{label}: {completed} done, {rate:.0} req/s, {errors} errors");
                    last_completed[i] = completed;
                }
            }
        }
        last_tick = now;
        eprintln!("{line}");
    }
}
