//! The console listener (console.md): staff login, account operations, audit trail, node
//! status and config, the live feed, `/metrics` and the embedded web page.

mod accounts;
mod auth;
mod live;
mod node;
mod web;

pub use live::{sample_loop, LiveFeed};

use std::time::SystemTime;

use actix_web::http::{header, StatusCode};
use actix_web::{web as aw, HttpResponse, ResponseError};

use crate::error::{ApiError, ErrorKind};
use crate::http::staff::StaffTokens;
use crate::AppState;

/// What the console keeps between requests.
pub struct ConsoleState {
    pub tokens: StaffTokens,
    pub live: LiveFeed,
    pub started: SystemTime,
}

impl ConsoleState {
    pub fn new(config: &crate::config::Config) -> Self {
        Self { tokens: StaffTokens::new(&config.console), live: LiveFeed::new(), started: SystemTime::now() }
    }
}

/// A console error: the client API's body plus `"details":[]`, as the console prints
/// every field (console.md §1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConsoleError(pub ApiError);

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        ConsoleError(e)
    }
}

impl From<ErrorKind> for ConsoleError {
    fn from(kind: ErrorKind) -> Self {
        ConsoleError(kind.into())
    }
}

pub type ConsoleResult = Result<HttpResponse, ConsoleError>;

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    code: i32,
    message: &'a str,
    details: [(); 0],
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        crate::http::error::status(self.0.code)
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).insert_header((header::CACHE_CONTROL, "no-store")).json(ErrorBody {
            code: self.0.code as i32,
            message: &self.0.message,
            details: [],
        })
    }
}

/// `200 {}`.
fn empty() -> HttpResponse {
    json_ok("{}".to_string())
}

fn json_ok(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").insert_header((header::CACHE_CONTROL, "no-store")).body(body)
}

async fn not_found() -> ConsoleResult {
    Err(ErrorKind::RouteNotFound.into())
}

/// Prometheus text format, no authentication (console.md §4).
pub async fn metrics(state: aw::Data<AppState>) -> HttpResponse {
    if !state.metrics.enabled() {
        return HttpResponse::NotFound().body("metrics are off (metrics.enabled = false)\n");
    }
    let m = &state.metrics;
    m.password_queue_depth.set(state.accounts.passwords.queue_depth() as i64);
    let (in_use, idle) = state.store.pool_stats();
    m.db_connections_in_use.set(in_use);
    m.db_connections_idle.set(idle);
    m.batched(state.store.batch_counts());
    HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(m.render())
}

pub fn routes(cfg: &mut aw::ServiceConfig) {
    use aw::{delete, get, post, resource};
    cfg.service(resource("/").route(get().to(web::index)))
        .service(resource("/console.js").route(get().to(web::script)))
        .service(resource("/console.css").route(get().to(web::style)))
        .service(resource("/vendor/uPlot.iife.min.js").route(get().to(web::uplot_script)))
        .service(resource("/vendor/uPlot.min.css").route(get().to(web::uplot_style)))
        .service(resource("/vendor/uPlot.LICENSE.txt").route(get().to(web::uplot_license)))
        .service(resource("/metrics").route(get().to(metrics)))
        .service(resource("/v2/console/authenticate").route(post().to(auth::authenticate)))
        .service(resource("/v2/console/authenticate/logout").route(post().to(auth::logout)))
        .service(resource("/v2/console/account").route(get().to(accounts::list)))
        .service(
            resource("/v2/console/account/{id}")
                .route(get().to(accounts::get))
                .route(post().to(accounts::update))
                .route(delete().to(accounts::delete)),
        )
        .service(resource("/v2/console/account/{id}/ban").route(post().to(accounts::ban)))
        .service(resource("/v2/console/account/{id}/unban").route(post().to(accounts::unban)))
        .service(resource("/v2/console/account/{id}/unlink/{kind}").route(post().to(accounts::unlink)))
        .service(resource("/v2/console/account/{id}/friend").route(get().to(accounts::friends)))
        .service(resource("/v2/console/status").route(get().to(node::status)))
        .service(resource("/v2/console/config").route(get().to(node::config)))
        .service(resource("/v2/console/audit").route(get().to(node::audit)))
        .service(resource("/v2/console/live").route(get().to(live::stream)))
        .default_service(aw::to(not_found));
}

/// Forgets logged-out console tokens that have expired anyway.
pub async fn sweep(state: &AppState) {
    let now = state.clock.now();
    state.console.tokens.sweep(now);
    if let Err(e) = state.store.sweep_console(now).await {
        tracing::warn!(error = %e, "console sweep failed");
    }
    let days = state.config.console.audit_retention_days;
    if days > 0 {
        match state.store.sweep_audit(now - i64::from(days) * 86_400).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, days, "audit rows past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "audit retention sweep failed"),
        }
    }
    state.accounts.flush_audit_cap().await;
}

/// Loads logged-out console tokens (at start).
pub async fn load_revocations(state: &AppState) -> Result<(), sea_orm::DbErr> {
    let now = state.clock.now();
    for (cki, expires_at) in state.store.console_revoked_tokens(now).await? {
        state.console.tokens.revoke(cki, expires_at);
    }
    Ok(())
}
