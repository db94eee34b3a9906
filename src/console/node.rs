//! `GET /v2/console/status` (sessions-registry.md §3), `GET /v2/console/config` with secrets
//! redacted, and `GET /v2/console/audit` (console.md §4).

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use actix_web::web;
use serde_json::json;
use uuid::Uuid;

use super::{json_ok, ConsoleResult};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorKind, Failure};
use crate::http::{Query, QueryString, Staff};
use crate::store::AuditFilter;
use crate::AppState;

/// Threads of this process: what Hearth reports as `goroutine_count`.
fn thread_count() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").and_then(|n| n.trim().parse().ok())))
        .unwrap_or(0)
}

/// RFC 3339 with nanoseconds, as Nakama prints `create_time`.
fn rfc3339_nanos(time: std::time::SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = rfc3339(since.as_secs() as i64);
    format!("{}.{:09}Z", whole.trim_end_matches('Z'), since.subsec_nanos())
}

/// The node's status entry; the live feed repeats it every second.
pub fn node_status(state: &AppState) -> serde_json::Value {
    let window = state.console.live.window();
    let sockets = state.registry.socket_count();
    json!({
        "name": state.config.name,
        "health": 0,
        "session_count": sockets,
        "presence_count": sockets + state.status.presence_count(),
        "match_count": 0,
        "goroutine_count": thread_count(),
        "avg_latency_ms": window.avg_latency_ms,
        "avg_rate_sec": window.avg_rate_sec,
        "avg_input_kbs": window.avg_input_kbs,
        "avg_output_kbs": window.avg_output_kbs,
        "party_count": 0,
        "create_time": rfc3339_nanos(state.console.started),
    })
}

pub async fn status(_: Staff, state: web::Data<AppState>) -> ConsoleResult {
    let body = json!({"nodes": [node_status(&state)], "timestamp": rfc3339(state.clock.now())});
    Ok(json_ok(body.to_string()))
}

pub async fn config(_: Staff, state: web::Data<AppState>) -> ConsoleResult {
    let warnings: Vec<_> = state
        .config
        .insecure_defaults()
        .into_iter()
        .map(
            |field| json!({"field": field, "message": "Insecure default parameter value, change this for production!"}),
        )
        .collect();
    let body = json!({
        "config": state.config.redacted_json().to_string(),
        "warnings": warnings,
        "server_version": format!("hearth {}", env!("CARGO_PKG_VERSION")),
    });
    Ok(json_ok(body.to_string()))
}

const AUDIT_PAGE: u64 = 50;

/// A Unix-seconds query parameter; empty is absent.
fn seconds(query: &QueryString, name: &str) -> ApiResult<Option<i64>> {
    match query.string(name, name)? {
        text if text.is_empty() => Ok(None),
        text => match text.parse() {
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(ErrorKind::QueryNotInt { field: name.to_string(), value: text }.into()),
        },
    }
}

/// Newest first, 50 a page; `next_cursor` is the id to continue below (empty at the end).
/// Filters: `username` (staff), `action`, `target` (an account id), `since` and `until`
/// (Unix seconds). Each entry
/// names its target's username beside the id (empty when the account is gone).
pub async fn audit(_: Staff, query: Result<Query, ApiError>, state: web::Data<AppState>) -> ConsoleResult {
    let Query(query) = query?;
    let cursor = query.string("cursor", "cursor")?;
    let before = match cursor.as_str() {
        "" => None,
        c => Some(c.parse::<i64>().map_err(|_| ErrorKind::ConsoleCursor)?),
    };
    let text = |name: &str| query.string(name, name).map(|v| Some(v).filter(|v| !v.is_empty()));
    let filter = AuditFilter {
        username: text("username")?,
        action: text("action")?,
        target: text("target")?,
        since: seconds(&query, "since")?,
        until: seconds(&query, "until")?,
    };
    let failed = |e| Failure::ListingAuditTrail.because(e);
    let mut rows = state.store.list_audit(&filter, before, AUDIT_PAGE + 1).await.map_err(failed)?;
    let more = rows.len() as u64 > AUDIT_PAGE;
    rows.truncate(AUDIT_PAGE as usize);
    let next_cursor = match (more, rows.last()) {
        (true, Some(last)) => last.id.to_string(),
        _ => String::new(),
    };
    let targets: Vec<Uuid> = rows.iter().filter_map(|r| Uuid::parse_str(&r.target).ok()).collect();
    let names: HashMap<Uuid, String> = match targets.is_empty() {
        true => HashMap::new(),
        false => {
            let users = state.store.find_users(&targets, &[], &[]).await.map_err(failed)?;
            users.into_iter().map(|u| (u.id, u.username)).collect()
        }
    };
    let entries: Vec<_> = rows
        .iter()
        .map(|r| {
            let target_username = Uuid::parse_str(&r.target).ok().and_then(|id| names.get(&id)).cloned();
            json!({
                "id": r.id.to_string(),
                "create_time": rfc3339(r.create_time),
                "username": r.username,
                "action": r.action,
                "target": r.target,
                "target_username": target_username.unwrap_or_default(),
                "client_address": r.client_address,
                "result": r.result,
            })
        })
        .collect();
    Ok(json_ok(json!({"entries": entries, "next_cursor": next_cursor}).to_string()))
}
