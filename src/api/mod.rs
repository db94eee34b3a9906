//! The client API over HTTP: routes, the gateway's headers and CORS, unknown routes and
//! methods. Handlers parse and authenticate, then call the domain; no SQL here.

pub mod account;
pub mod authenticate;
pub mod friend;
pub mod link;
pub mod session;
pub mod ws;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::accounts::LoginKind;
use crate::error::{ApiError, ErrorKind};
use crate::metrics::Transport;
use crate::AppState;
use authenticate::Op;

/// `200 {}`, the answer of every method returning `google.protobuf.Empty`.
pub fn empty() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body("{}")
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ErrorKind::RouteNotFound.into())
}

async fn healthcheck() -> HttpResponse {
    empty()
}

/// Readiness for a load balancer: `200 {"database":"up"}` while the database answers within
/// `database.acquire_timeout_ms`, else `503 {"database":"unreachable"}`. `/healthcheck`
/// stays liveness only, as in Nakama.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let within = std::time::Duration::from_millis(state.config.database.acquire_timeout_ms);
    let (mut response, database) = match state.store.is_reachable(within).await {
        true => (HttpResponse::Ok(), "up"),
        false => (HttpResponse::ServiceUnavailable(), "unreachable"),
    };
    response.content_type("application/json").body(format!(r#"{{"database":"{database}"}}"#))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    if req.method() == Method::HEAD {
        return HttpResponse::NotImplemented().finish();
    }
    actix_web::ResponseError::error_response(&ApiError::from(ErrorKind::MethodNotAllowed))
}

/// A path whose other methods answer 501 as the gateway does.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/").route(web::get().to(HttpResponse::Ok)))
        .service(resource("/healthcheck").route(web::get().to(healthcheck)))
        .service(resource("/readyz").route(web::get().to(readyz)))
        // Other methods on /ws fall through to the gateway's 404, as in Nakama.
        .service(web::resource("/ws").route(web::get().to(ws::not_upgraded)).default_service(web::to(not_found)))
        .service(resource("/v2/account/session/refresh").route(web::post().to(session::refresh)))
        .service(resource("/v2/session/logout").route(web::post().to(session::logout)))
        .service(
            resource("/v2/account")
                .route(web::get().to(account::get))
                .route(web::put().to(account::update))
                .route(web::delete().to(account::delete)),
        )
        .service(resource("/v2/user").route(web::get().to(account::get_users)))
        .service(resource("/v2/friend").route(web::get().to(friend::list)));
    for kind in LoginKind::ALL {
        for (op, verb) in [(Op::Authenticate, "authenticate"), (Op::Link, "link"), (Op::Unlink, "unlink")] {
            let path = format!("/v2/account/{verb}/{}", kind.name());
            cfg.service(resource(&path).route(authenticate::route(kind, op)));
        }
    }
    cfg.default_service(web::to(not_found));
}

const ALLOWED_METHODS: [&str; 5] = ["GET", "HEAD", "POST", "PUT", "DELETE"];
const ALLOWED_HEADERS: [&str; 3] = ["authorization", "content-type", "user-agent"];

/// CORS (http-conventions.md §9) and the headers on every gateway response (§5).
pub async fn gateway(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.path() == "/ws" && req.method() == Method::GET {
        // The upgrade answers with exactly the handshake headers.
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let started = std::time::Instant::now();
    let origin = req.headers().contains_key(header::ORIGIN);
    if req.method() == Method::OPTIONS {
        let response = preflight(&req, origin);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    }
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store, no-cache, must-revalidate"));
    headers.insert(header::VARY, header::HeaderValue::from_static("Accept-Encoding"));
    count_request(&res, started);
    Ok(res.map_into_left_body())
}

/// REST calls in the `overall_*` series, the calls by transport and their time.
fn count_request<B: MessageBody>(res: &ServiceResponse<B>, started: std::time::Instant) {
    let Some(state) = res.request().app_data::<web::Data<AppState>>() else { return };
    let m = &state.metrics;
    if !m.enabled() {
        return;
    }
    let received = res
        .request()
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let sent = match res.response().body().size() {
        actix_web::body::BodySize::Sized(n) => n,
        _ => 0,
    };
    let failed = res.status().is_client_error() || res.status().is_server_error();
    m.api_call(Transport::Rest, started.elapsed(), failed, received, sent);
}

fn preflight(req: &ServiceRequest, origin: bool) -> HttpResponse {
    let method = req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|v| v.to_str().ok());
    let (true, Some(method)) = (origin, method) else {
        return HttpResponse::Ok().finish();
    };
    let method = method.to_ascii_uppercase();
    if !ALLOWED_METHODS.contains(&method.as_str()) {
        return HttpResponse::MethodNotAllowed().finish();
    }
    let requested: Vec<String> = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect())
        .unwrap_or_default();
    if requested.iter().any(|h| !ALLOWED_HEADERS.contains(&h.as_str())) {
        return HttpResponse::Forbidden().finish();
    }
    let mut response = HttpResponse::Ok();
    response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    if !requested.is_empty() {
        response.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, requested.join(", ")));
    }
    if method == "PUT" || method == "DELETE" {
        response.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, method));
    }
    response.finish()
}
