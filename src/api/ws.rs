//! `GET /ws`: the upgrade checks of realtime.md §1 in their order, then a socket actor.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::query::QueryString;
use crate::realtime::new_session_id;
use crate::realtime::socket::{self, SocketIdentity};
use crate::sessions::{self, TokenKind};
use crate::AppState;

fn plain(status: actix_web::http::StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

fn unauthorized() -> HttpResponse {
    plain(actix_web::http::StatusCode::UNAUTHORIZED, "Missing or invalid token\n")
}

/// Go's `strconv.ParseBool`, where anything else silently means false.
fn lenient_bool(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

pub async fn upgrade(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let query = QueryString::parse_lenient(req.query_string());
    let first = |name: &str| query.all(name, name).into_iter().next().unwrap_or_default();
    // Only JSON is served so far; protobuf answers as an unknown format does.
    let format = first("format");
    if !format.is_empty() && format != "json" {
        return plain(actix_web::http::StatusCode::BAD_REQUEST, "Invalid format parameter\n");
    }
    let token = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) => token.to_string(),
            None => return unauthorized(),
        },
        None => first("token"),
    };
    if token.is_empty() {
        return unauthorized();
    }
    // Signature, expiry, UUID uid, then revocation by tid and user-wide invalidation.
    let Some(claims) = sessions::verify(&state, &token, TokenKind::Access) else { return unauthorized() };
    let status = lenient_bool(&first("status"));
    let (response, ws, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(_) => {
            return HttpResponse::BadRequest()
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .insert_header((header::SEC_WEBSOCKET_VERSION, "13"))
                .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .body("Bad Request\n")
        }
    };
    let max = state.config.socket.max_message_size_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let identity = SocketIdentity {
        session_id: new_session_id(&state.config.name),
        user_id: claims.uid,
        username: claims.usn,
        tid: claims.tid,
        issued_at: claims.exp - state.tokens.token_expiry_sec,
        status,
        local: Some(req.app_config().local_addr()),
        peer: req.peer_addr(),
    };
    socket::start(state.clone(), identity, ws, stream);
    response
}
