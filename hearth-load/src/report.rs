//! The final report: one column per scenario as a text table, or one JSON object.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::args::Scenario;
use crate::histogram::Histogram;

/// What one scenario did during the measured window.
pub struct GroupReport {
    pub label: String,
    pub scenario: Scenario,
    pub concurrency: usize,
    /// Accounts made during setup; `None` for `device-new`.
    pub users: Option<usize>,
    pub budget: Option<u64>,
    pub setup: Duration,
    /// First measured request start to last measured request end.
    pub duration: Duration,
    pub latency: Histogram,
    pub statuses: BTreeMap<u16, u64>,
    pub transport: BTreeMap<&'static str, u64>,
    pub not_created: u64,
    /// `account-get` only: token refreshes done and failed, outside the measurement.
    pub refreshes: Option<(u64, u64)>,
    pub stopped_by: &'static str,
}

impl GroupReport {
    pub fn ok(&self) -> u64 {
        self.latency.count()
    }

    pub fn errors(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport.values().sum::<u64>() + self.not_created
    }

    pub fn completed(&self) -> u64 {
        self.ok() + self.errors()
    }

    pub fn requests_per_sec(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.completed() as f64 / secs
        } else {
            0.0
        }
    }

    pub fn error_rate(&self) -> f64 {
        match self.completed() {
            0 => 0.0,
            n => self.errors() as f64 / n as f64,
        }
    }

    /// More than 1% of requests failed, or none completed at all.
    pub fn failed(&self) -> bool {
        self.completed() == 0 || self.errors() * 100 > self.completed()
    }

    fn percentile_ms(&self, per_10k: u32) -> Option<f64> {
        self.latency.percentile(per_10k).map(ms)
    }

    fn to_json(&self, url: &str, warmup: Duration) -> Map<String, Value> {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        let mut o = Map::new();
        o.insert("scenario".into(), json!(self.scenario.name()));
        o.insert("url".into(), json!(url));
        o.insert("concurrency".into(), json!(self.concurrency));
        o.insert("users".into(), json!(self.users));
        o.insert("request_limit".into(), json!(self.budget));
        o.insert("completed".into(), json!(self.completed()));
        o.insert("ok".into(), json!(self.ok()));
        o.insert("errors".into(), json!(self.errors()));
        o.insert("error_rate".into(), json!(round(self.error_rate() * 100.0) / 100.0));
        o.insert("duration_secs".into(), json!(round(self.duration.as_secs_f64())));
        o.insert("requests_per_sec".into(), json!(round(self.requests_per_sec())));
        o.insert(
            "latency_ms".into(),
            json!({
                "p50": self.percentile_ms(5_000).map(round),
                "p90": self.percentile_ms(9_000).map(round),
                "p99": self.percentile_ms(9_900).map(round),
                "max": self.latency.max().map(ms).map(round),
                "mean": self.latency.mean().map(|us| round(us / 1000.0)),
            }),
        );
        let statuses: Map<String, Value> = self.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect();
        o.insert("errors_by_status".into(), Value::Object(statuses));
        let transport: Map<String, Value> = self.transport.iter().map(|(k, n)| (k.to_string(), json!(n))).collect();
        o.insert("transport_errors".into(), Value::Object(transport));
        if self.scenario == Scenario::DeviceNew {
            o.insert("not_created".into(), json!(self.not_created));
        }
        if let Some((done, failed)) = self.refreshes {
            o.insert("token_refreshes".into(), json!(done));
            o.insert("token_refresh_errors".into(), json!(failed));
        }
        o.insert("setup_secs".into(), json!(round(self.setup.as_secs_f64())));
        o.insert("warmup_secs".into(), json!(round(warmup.as_secs_f64())));
        o.insert("stopped_by".into(), json!(self.stopped_by));
        o
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The primary scenario's object; a second scenario sits under `"also"`.
pub fn json(url: &str, warmup: Duration, groups: &[GroupReport]) -> String {
    let mut objects = groups.iter().map(|g| g.to_json(url, warmup));
    let mut top = objects.next().unwrap_or_default();
    if let Some(also) = objects.next() {
        top.insert("also".into(), Value::Object(also));
    }
    serde_json::to_string_pretty(&Value::Object(top)).expect("a JSON value serializes")
}

pub fn table(url: &str, warmup: Duration, groups: &[GroupReport]) -> String {
    let cells = |f: &dyn Fn(&GroupReport) -> String| groups.iter().map(f).collect::<Vec<_>>();
    let latency =
        |per_10k: u32| move |g: &GroupReport| g.percentile_ms(per_10k).map_or("-".into(), |v| format!("{v:.2}"));
    let mut rows: Vec<(&str, Vec<String>)> = vec![
        ("scenario", cells(&|g| g.label.clone())),
        ("concurrency", cells(&|g| g.concurrency.to_string())),
        ("accounts", cells(&|g| g.users.map_or("-".into(), |n| n.to_string()))),
        ("setup", cells(&|g| format!("{:.2} s", g.setup.as_secs_f64()))),
        ("duration", cells(&|g| format!("{:.2} s", g.duration.as_secs_f64()))),
        ("completed", cells(&|g| g.completed().to_string())),
        ("errors", cells(&|g| format!("{} ({:.2}%)", g.errors(), g.error_rate() * 100.0))),
        ("req/s", cells(&|g| format!("{:.1}", g.requests_per_sec()))),
        ("latency p50 ms", cells(&latency(5_000))),
        ("latency p90 ms", cells(&latency(9_000))),
        ("latency p99 ms", cells(&latency(9_900))),
        ("latency max ms", cells(&|g| g.latency.max().map_or("-".into(), |v| format!("{:.2}", ms(v))))),
        ("latency mean ms", cells(&|g| g.latency.mean().map_or("-".into(), |v| format!("{:.2}", v / 1000.0)))),
        (
            "errors by status",
            cells(&|g| {
                let mut parts: Vec<String> = g.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
                if g.not_created > 0 {
                    parts.push(format!("200 not created: {}", g.not_created));
                }
                list_or_none(parts)
            }),
        ),
        ("transport errors", cells(&|g| list_or_none(g.transport.iter().map(|(k, n)| format!("{k}: {n}")).collect()))),
    ];
    if groups.iter().any(|g| g.refreshes.is_some()) {
        rows.push((
            "token refreshes",
            cells(&|g| g.refreshes.map_or("-".into(), |(done, failed)| format!("{done} ({failed} failed)"))),
        ));
    }
    rows.push(("stopped by", cells(&|g| g.stopped_by.to_string())));

    let label_width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..groups.len())
        .map(|i| rows.iter().map(|(_, values)| values[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "hearth-load: {url}, warmup {:.1} s (not measured); latency of successful requests\n",
        warmup.as_secs_f64()
    );
    for (label, values) in &rows {
        let mut line = format!("{label:<label_width$}");
        for (value, width) in values.iter().zip(&widths) {
            line.push_str(&format!("  {value:<width$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn list_or_none(parts: Vec<String>) -> String {
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GroupReport {
        let mut latency = Histogram::default();
        for us in 1..=100u64 {
            latency.record(us);
        }
        GroupReport {
            label: "device-existing".into(),
            scenario: Scenario::DeviceExisting,
            concurrency: 4,
            users: Some(4),
            budget: Some(1000),
            setup: Duration::from_millis(250),
            duration: Duration::from_secs(2),
            latency,
            statuses: BTreeMap::from([(500, 1)]),
            transport: BTreeMap::from([("timeout", 1)]),
            not_created: 0,
            refreshes: None,
            stopped_by: "duration",
        }
    }

    #[test]
    fn counts_rates_and_failure_threshold() {
        let g = sample();
        assert_eq!((g.ok(), g.errors(), g.completed()), (100, 2, 102));
        assert_eq!(g.requests_per_sec(), 51.0);
        assert!(g.failed(), "2 of 102 is over 1%");

        let mut g = sample();
        for _ in 0..98 {
            g.latency.record(10);
        }
        assert_eq!(g.completed(), 200);
        assert!(!g.failed(), "exactly 1% is not more than 1%");

        let mut g = sample();
        g.latency = Histogram::default();
        g.statuses.clear();
        g.transport.clear();
        assert!(g.failed(), "nothing completed");
        assert_eq!(g.requests_per_sec(), 0.0);
    }

    #[test]
    fn json_has_the_fields_and_nests_also() {
        let mut also = sample();
        also.scenario = Scenario::Email;
        let out = json("http://h", Duration::from_secs(2), &[sample(), also]);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["scenario"], "device-existing");
        assert_eq!(v["completed"], 102);
        assert_eq!(v["requests_per_sec"], 51.0);
        assert_eq!(v["latency_ms"]["p50"], 0.05);
        assert_eq!(v["latency_ms"]["p99"], 0.099);
        assert_eq!(v["latency_ms"]["max"], 0.1);
        assert_eq!(v["latency_ms"]["mean"], 0.051);
        assert_eq!(v["errors_by_status"]["500"], 1);
        assert_eq!(v["transport_errors"]["timeout"], 1);
        assert_eq!(v["also"]["scenario"], "email");
        assert!(v["also"].get("also").is_none());
    }

    #[test]
    fn table_lines_up() {
        let out = table("http://h", Duration::from_secs(2), &[sample()]);
        assert!(out.contains("latency p99 ms    0.10\n"), "{out}");
        assert!(out.contains("errors            2 (1.96%)\n"), "{out}");
        assert!(out.contains("errors by status  500: 1\n"), "{out}");
        assert!(out.contains("transport errors  timeout: 1\n"), "{out}");
    }
}
