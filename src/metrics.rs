//! Counters, gauges and histograms for Prometheus (sessions-registry.md §4 plus Hearth's
//! own series). One registry per running app; hot paths touch pre-resolved atomics only.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::error::{ApiError, Code, ErrorKind};
use crate::store::BatchCounts;

/// The three login methods the client API has today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Device,
    Email,
    Custom,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [AuthMethod::Device, AuthMethod::Email, AuthMethod::Custom];
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Device => "device",
            AuthMethod::Email => "email",
            AuthMethod::Custom => "custom",
        }
    }
}

/// How a client API call arrived: REST (JSON over HTTP/1.1) or native gRPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Rest,
    Grpc,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Rest, Transport::Grpc];
    pub fn name(self) -> &'static str {
        match self {
            Transport::Rest => "rest",
            Transport::Grpc => "grpc",
        }
    }
}

/// How one authenticate request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    Created,
    Login,
    WrongCredentials,
    Throttled,
    Banned,
    NotFound,
    Invalid,
    Error,
}

impl AuthOutcome {
    pub const ALL: [AuthOutcome; 8] = [
        AuthOutcome::Created,
        AuthOutcome::Login,
        AuthOutcome::WrongCredentials,
        AuthOutcome::Throttled,
        AuthOutcome::Banned,
        AuthOutcome::NotFound,
        AuthOutcome::Invalid,
        AuthOutcome::Error,
    ];
    pub fn name(self) -> &'static str {
        match self {
            AuthOutcome::Created => "created",
            AuthOutcome::Login => "login",
            AuthOutcome::WrongCredentials => "wrong_credentials",
            AuthOutcome::Throttled => "throttled",
            AuthOutcome::Banned => "banned",
            AuthOutcome::NotFound => "not_found",
            AuthOutcome::Invalid => "invalid",
            AuthOutcome::Error => "error",
        }
    }

    /// How a refused login ended, read from its kind. The login kinds are named; every
    /// other refusal is read from its code: the request's own values (invalid, or in use)
    /// or a credential refused (a social token, say); what remains is an error.
    pub fn of(error: &ApiError) -> AuthOutcome {
        match error.kind() {
            ErrorKind::InvalidCredentials => AuthOutcome::WrongCredentials,
            ErrorKind::TryAgainLater => AuthOutcome::Throttled,
            ErrorKind::UserBanned => AuthOutcome::Banned,
            ErrorKind::UserNotFound => AuthOutcome::NotFound,
            ErrorKind::Internal(_) => AuthOutcome::Error,
            other => match other.code() {
                Code::InvalidArgument | Code::AlreadyExists => AuthOutcome::Invalid,
                Code::Unauthenticated => AuthOutcome::WrongCredentials,
                Code::ResourceExhausted => AuthOutcome::Throttled,
                Code::PermissionDenied => AuthOutcome::Banned,
                Code::NotFound => AuthOutcome::NotFound,
                _ => AuthOutcome::Error,
            },
        }
    }
}

/// Why tokens were revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationCause {
    Logout,
    LogoutAll,
    SingleSession,
    Ban,
    Delete,
}

impl RevocationCause {
    const ALL: [RevocationCause; 5] = [
        RevocationCause::Logout,
        RevocationCause::LogoutAll,
        RevocationCause::SingleSession,
        RevocationCause::Ban,
        RevocationCause::Delete,
    ];
    fn name(self) -> &'static str {
        match self {
            RevocationCause::Logout => "logout",
            RevocationCause::LogoutAll => "logout_all",
            RevocationCause::SingleSession => "single_session",
            RevocationCause::Ban => "ban",
            RevocationCause::Delete => "delete",
        }
    }
}

/// Database errors that reached the domain (counted in `Failure::because`, which has no
/// app state at hand: the one process-wide series, registered in every node's registry).
pub static DB_QUERY_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    IntCounter::new("db_query_errors", "Database queries that failed (as the domain saw them)").expect("valid counter")
});

const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Every series of one node. Fields are cheap handles (an `Arc` of atomics each).
pub struct Metrics {
    enabled: bool,
    registry: Registry,
    // Nakama's names (sessions-registry.md §4.1).
    pub sessions: IntGauge,
    pub presences: IntGauge,
    pub socket_ws_opened: IntCounter,
    pub socket_ws_closed: IntCounter,
    pub message_count: IntCounter,
    pub message_recv_bytes: IntCounter,
    pub message_sent_bytes: IntCounter,
    pub message_errors: IntCounter,
    pub overall_count: IntCounter,
    pub overall_recv_bytes: IntCounter,
    pub overall_sent_bytes: IntCounter,
    pub overall_errors: IntCounter,
    pub presence_event_count: IntCounter,
    // Hearth's own.
    pub message_sent_count: IntCounter,
    authentications: Vec<IntCounter>,
    authentication_latency: Vec<Histogram>,
    /// By `Transport`: calls, and their time.
    api_requests: [IntCounter; 2],
    request_latency: [Histogram; 2],
    pub session_refreshes: IntCounter,
    revocations: Vec<IntCounter>,
    pub socket_slow_disconnects: IntCounter,
    pub socket_queue_overflows: IntCounter,
    pub password_queue_depth: IntGauge,
    pub password_hash_seconds: Histogram,
    pub password_upgrades: IntCounter,
    pub db_connections_in_use: IntGauge,
    pub db_connections_idle: IntGauge,
    /// [device lookups, device sign-ups]: statements run and calls they carried (store::batch).
    db_batched_statements: [IntCounter; 2],
    db_batched_calls: [IntCounter; 2],
    db_batch_failures: [IntCounter; 2],
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::with_opts(Opts::new(name, help)).expect("valid counter");
    registry.register(Box::new(c.clone())).expect("unique counter");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::with_opts(Opts::new(name, help)).expect("valid gauge");
    registry.register(Box::new(g.clone())).expect("unique gauge");
    g
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid histogram");
    registry.register(Box::new(h.clone())).expect("unique histogram");
    h
}

impl Metrics {
    /// `prefix` "" gives bare names; every series carries `node_name`.
    pub fn new(prefix: &str, node_name: &str, enabled: bool) -> Self {
        let labels = HashMap::from([("node_name".to_string(), node_name.to_string())]);
        let prefix = (!prefix.is_empty()).then(|| prefix.to_string());
        let r = Registry::new_custom(prefix, Some(labels)).expect("valid registry");

        let auth_opts = Opts::new("authentications", "Client API authentications by method and outcome");
        let auth_vec = IntCounterVec::new(auth_opts, &["method", "outcome"]).expect("valid counter vec");
        r.register(Box::new(auth_vec.clone())).expect("unique counter vec");
        let mut authentications = Vec::new();
        for method in AuthMethod::ALL {
            for outcome in AuthOutcome::ALL {
                authentications.push(auth_vec.with_label_values(&[method.name(), outcome.name()]));
            }
        }
        let latency_opts =
            HistogramOpts::new("authentication_latency_seconds", "Client API authentication time by method")
                .buckets(LATENCY_BUCKETS.to_vec());
        let latency_vec = HistogramVec::new(latency_opts, &["method"]).expect("valid histogram vec");
        r.register(Box::new(latency_vec.clone())).expect("unique histogram vec");
        let authentication_latency =
            AuthMethod::ALL.iter().map(|m| latency_vec.with_label_values(&[m.name()])).collect();
        let requests_vec =
            IntCounterVec::new(Opts::new("api_requests", "Client API calls by transport (rest, grpc)"), &["transport"])
                .expect("valid counter vec");
        r.register(Box::new(requests_vec.clone())).expect("unique counter vec");
        let api_requests = Transport::ALL.map(|t| requests_vec.with_label_values(&[t.name()]));
        let request_latency_opts = HistogramOpts::new(
            "request_latency_seconds",
            "Client API call time by transport (REST: all routes but /ws)",
        )
        .buckets(LATENCY_BUCKETS.to_vec());
        let request_latency_vec = HistogramVec::new(request_latency_opts, &["transport"]).expect("valid histogram vec");
        r.register(Box::new(request_latency_vec.clone())).expect("unique histogram vec");
        let request_latency = Transport::ALL.map(|t| request_latency_vec.with_label_values(&[t.name()]));
        let revocation_vec =
            IntCounterVec::new(Opts::new("session_revocations", "Token revocations by cause"), &["cause"])
                .expect("valid counter vec");
        r.register(Box::new(revocation_vec.clone())).expect("unique counter vec");
        let revocations = RevocationCause::ALL.iter().map(|c| revocation_vec.with_label_values(&[c.name()])).collect();
        let build = IntGaugeVec::new(Opts::new("build_info", "Hearth version"), &["version"]).expect("valid gauge");
        r.register(Box::new(build.clone())).expect("unique gauge");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        r.register(Box::new(DB_QUERY_ERRORS.clone())).expect("unique counter");
        let batched = |name: &str, help: &str| {
            let vec = IntCounterVec::new(Opts::new(name, help), &["query"]).expect("valid counter vec");
            r.register(Box::new(vec.clone())).expect("unique counter vec");
            ["device_lookup", "device_sign_up"].map(|q| vec.with_label_values(&[q]))
        };
        let db_batched_statements =
            batched("db_batched_statements", "PostgreSQL statements run by the query coalescers, by query");
        let db_batched_calls =
            batched("db_batched_calls", "Calls the coalesced statements carried (calls / statements = batch size)");
        let db_batch_failures =
            batched("db_batch_failures", "Coalesced statements that failed (a conflict): their calls ran alone");

        Metrics {
            enabled,
            sessions: gauge(&r, "sessions", "Live sockets in the session registry"),
            presences: gauge(&r, "presences", "Tracked presences, hidden notification presences included"),
            socket_ws_opened: counter(&r, "socket_ws_opened", "Successful socket upgrades"),
            socket_ws_closed: counter(&r, "socket_ws_closed", "Sockets that finished closing"),
            message_count: counter(&r, "overall_message_count", "Inbound socket data messages"),
            message_recv_bytes: counter(&r, "overall_message_recv_bytes", "Bytes of inbound socket messages"),
            message_sent_bytes: counter(&r, "overall_message_sent_bytes", "Bytes of socket frames written"),
            message_errors: counter(&r, "overall_message_errors", "Sockets whose reading ended with an error"),
            overall_count: counter(&r, "overall_count", "Client API calls (REST and gRPC) and socket messages"),
            overall_recv_bytes: counter(&r, "overall_recv_bytes", "Bytes received by API calls and sockets"),
            overall_sent_bytes: counter(&r, "overall_sent_bytes", "Bytes sent by API calls and sockets"),
            overall_errors: counter(&r, "overall_errors", "Failed API calls and socket errors"),
            presence_event_count: counter(&r, "presence_event_count", "Presence events published"),
            message_sent_count: counter(&r, "socket_messages_sent", "Socket data frames written"),
            authentications,
            authentication_latency,
            api_requests,
            request_latency,
            session_refreshes: counter(&r, "session_refreshes", "Successful token refreshes"),
            revocations,
            socket_slow_disconnects: counter(
                &r,
                "socket_slow_disconnects",
                "Sockets closed because a write missed socket.write_wait_ms",
            ),
            socket_queue_overflows: counter(
                &r,
                "socket_outgoing_queue_overflows",
                "Sockets closed because their outgoing queue was full",
            ),
            password_queue_depth: gauge(&r, "password_hash_queue_depth", "argon2 jobs waiting for a thread"),
            password_hash_seconds: histogram(
                &r,
                "password_hash_seconds",
                "argon2 hash or verify time",
                &[0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0],
            ),
            password_upgrades: counter(
                &r,
                "password_upgrades",
                "Imported (bcrypt) password hashes replaced by argon2id at a login",
            ),
            db_connections_in_use: gauge(&r, "db_connections_in_use", "Database pool connections in use"),
            db_connections_idle: gauge(&r, "db_connections_idle", "Database pool connections idle"),
            db_batched_statements,
            db_batched_calls,
            db_batch_failures,
            registry: r,
        }
    }

    /// Brings the batch series up to the store's running totals (at scrape time).
    pub fn batched(&self, counts: BatchCounts) {
        let pairs = [
            (&self.db_batched_statements[0], counts.lookup_statements),
            (&self.db_batched_calls[0], counts.lookup_calls),
            (&self.db_batched_statements[1], counts.sign_up_statements),
            (&self.db_batched_calls[1], counts.sign_up_calls),
            (&self.db_batch_failures[0], counts.lookup_failures),
            (&self.db_batch_failures[1], counts.sign_up_failures),
        ];
        for (counter, total) in pairs {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Adds to a counter unless metrics are off (the one branch hot paths pay for them).
    #[inline]
    pub fn add(&self, counter: &IntCounter, n: u64) {
        if self.enabled {
            counter.inc_by(n);
        }
    }

    #[inline]
    pub fn gauge_add(&self, gauge: &IntGauge, n: i64) {
        if self.enabled {
            gauge.add(n);
        }
    }

    pub fn authentication(&self, method: AuthMethod, outcome: AuthOutcome, took: Duration) {
        if !self.enabled {
            return;
        }
        let m = method as usize;
        self.authentications[m * AuthOutcome::ALL.len() + outcome as usize].inc();
        self.authentication_latency[m].observe(took.as_secs_f64());
    }

    /// One client API call: the `overall_*` series (Nakama's, both transports together), the
    /// calls by transport and their time. `failed`: an error status (4xx/5xx, gRPC non-OK).
    pub fn api_call(&self, transport: Transport, took: Duration, failed: bool, received: u64, sent: u64) {
        if !self.enabled {
            return;
        }
        self.overall_count.inc();
        self.overall_recv_bytes.inc_by(received);
        self.overall_sent_bytes.inc_by(sent);
        if failed {
            self.overall_errors.inc();
        }
        self.api_requests[transport as usize].inc();
        self.request_latency[transport as usize].observe(took.as_secs_f64());
    }

    /// Client API calls so far over `transport`.
    pub fn api_requests(&self, transport: Transport) -> u64 {
        self.api_requests[transport as usize].get()
    }

    /// `buckets` of the call time of both transports together, and the sum of the times.
    pub fn request_latency(&self) -> ((Vec<(f64, u64)>, u64), f64) {
        let [rest, grpc] = &self.request_latency;
        let (mut pairs, mut count) = buckets(rest);
        let (other, other_count) = buckets(grpc);
        for ((_, n), (_, m)) in pairs.iter_mut().zip(other) {
            *n += m;
        }
        count += other_count;
        ((pairs, count), rest.get_sample_sum() + grpc.get_sample_sum())
    }

    /// Authentications so far with this method and outcome.
    pub fn authentications(&self, method: AuthMethod, outcome: AuthOutcome) -> u64 {
        self.authentications[method as usize * AuthOutcome::ALL.len() + outcome as usize].get()
    }

    pub fn revocation(&self, cause: RevocationCause) {
        if self.enabled {
            self.revocations[cause as usize].inc();
        }
    }

    pub fn observe(&self, histogram: &Histogram, took: Duration) {
        if self.enabled {
            histogram.observe(took.as_secs_f64());
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Cumulative bucket counts of a histogram: (upper bound, count) pairs plus the total.
pub fn buckets(histogram: &Histogram) -> (Vec<(f64, u64)>, u64) {
    let metric = prometheus::core::Metric::metric(histogram);
    let h = metric.get_histogram();
    let pairs = h.get_bucket().iter().map(|b| (b.upper_bound(), b.cumulative_count())).collect();
    (pairs, h.get_sample_count())
}

/// The `q` quantile (0..1) of the observations between two snapshots of `buckets`,
/// interpolated inside its bucket as Prometheus' `histogram_quantile` does.
pub fn quantile_between(before: &(Vec<(f64, u64)>, u64), after: &(Vec<(f64, u64)>, u64), q: f64) -> f64 {
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0.0;
    }
    let rank = q * total as f64;
    let mut lower_bound = 0.0;
    let mut lower_count = 0u64;
    for (i, (bound, count)) in after.0.iter().enumerate() {
        let count = count.saturating_sub(before.0.get(i).map(|b| b.1).unwrap_or(0));
        if count as f64 >= rank {
            let in_bucket = (count - lower_count).max(1) as f64;
            return lower_bound + (bound - lower_bound) * ((rank - lower_count as f64) / in_bucket);
        }
        lower_bound = *bound;
        lower_count = count;
    }
    lower_bound
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome each code stood for before outcomes were read from the kind.
    fn outcome_by_code(code: Code) -> AuthOutcome {
        match code {
            Code::Unauthenticated => AuthOutcome::WrongCredentials,
            Code::ResourceExhausted => AuthOutcome::Throttled,
            Code::PermissionDenied => AuthOutcome::Banned,
            Code::NotFound => AuthOutcome::NotFound,
            Code::InvalidArgument | Code::AlreadyExists => AuthOutcome::Invalid,
            _ => AuthOutcome::Error,
        }
    }

    #[test]
    fn login_outcomes_are_read_from_the_kind_as_they_were_from_the_code() {
        for kind in crate::error::every_kind() {
            let error = ApiError::from(kind.clone());
            assert_eq!(AuthOutcome::of(&error), outcome_by_code(kind.code()), "{kind:?}");
        }
        let refused = ApiError::from(ErrorKind::ProviderRefused(crate::accounts::LoginKind::Apple));
        assert_eq!(AuthOutcome::of(&refused), AuthOutcome::WrongCredentials);
        assert_eq!(AuthOutcome::of(&ErrorKind::UserBanned.into()), AuthOutcome::Banned);
        assert_eq!(AuthOutcome::of(&ErrorKind::TryAgainLater.into()), AuthOutcome::Throttled);
    }

    #[test]
    fn names_carry_the_prefix_and_node_name_without_total_suffix() {
        let m = Metrics::new("nakama", "node1", true);
        m.add(&m.socket_ws_opened, 2);
        m.gauge_add(&m.sessions, 1);
        let text = m.render();
        assert!(text.contains("nakama_socket_ws_opened{node_name=\"node1\"} 2"), "{text}");
        assert!(text.contains("nakama_sessions{node_name=\"node1\"} 1"), "{text}");
        assert!(!text.contains("_total"), "{text}");
    }

    #[test]
    fn api_calls_count_by_transport_and_in_nakamas_overall_series() {
        let m = Metrics::new("nakama", "node1", true);
        m.api_call(Transport::Rest, Duration::from_millis(2), false, 30, 120);
        m.api_call(Transport::Grpc, Duration::from_millis(1), false, 20, 90);
        m.api_call(Transport::Grpc, Duration::from_millis(1), true, 10, 0);
        assert_eq!((m.api_requests(Transport::Rest), m.api_requests(Transport::Grpc)), (1, 2));
        assert_eq!(m.overall_count.get(), 3);
        assert_eq!((m.overall_recv_bytes.get(), m.overall_sent_bytes.get(), m.overall_errors.get()), (60, 210, 1));
        let text = m.render();
        assert!(text.contains("nakama_api_requests{transport=\"grpc\",node_name=\"node1\"} 2"), "{text}");
        assert!(
            text.contains("nakama_request_latency_seconds_count{transport=\"rest\",node_name=\"node1\"} 1"),
            "{text}"
        );
        assert!(text.contains("nakama_overall_count{node_name=\"node1\"} 3"), "{text}");
    }

    #[test]
    fn disabled_metrics_count_nothing() {
        let m = Metrics::new("hearth", "n", false);
        m.add(&m.overall_count, 1);
        m.api_call(Transport::Grpc, Duration::from_millis(1), true, 1, 1);
        m.authentication(AuthMethod::Email, AuthOutcome::Throttled, Duration::from_millis(3));
        assert_eq!(m.overall_count.get(), 0);
        assert_eq!(m.api_requests(Transport::Grpc), 0);
        assert_eq!(m.authentications(AuthMethod::Email, AuthOutcome::Throttled), 0);
    }

    #[test]
    fn quantiles_come_from_the_bucket_deltas() {
        let m = Metrics::new("", "n", true);
        for _ in 0..50 {
            m.api_call(Transport::Rest, Duration::from_millis(100), false, 0, 0);
        }
        let (before, _) = m.request_latency();
        for i in 0..99 {
            let transport = if i % 2 == 0 { Transport::Rest } else { Transport::Grpc };
            m.api_call(transport, Duration::from_micros(200), false, 0, 0);
        }
        m.api_call(Transport::Grpc, Duration::from_secs(3), true, 0, 0);
        let (after, sum) = m.request_latency();
        assert_eq!(after.1, 150, "both transports");
        assert!((sum - (5.0 + 99.0 * 0.0002 + 3.0)).abs() < 1e-6, "{sum}");
        assert!(quantile_between(&before, &after, 0.5) <= 0.0005);
        let p99 = quantile_between(&before, &after, 0.995);
        assert!(p99 > 2.5 && p99 <= 5.0, "{p99}");
    }
}
