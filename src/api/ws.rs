//! `GET /ws`: the upgrade checks of realtime.md §1 in their order, then a socket actor on
//! the raw connection. Upgrade requests reach `serve_upgrade` straight from actix-http
//! (so the connection leaves the HTTP dispatcher and its buffers behind); a `GET /ws`
//! without an upgrade goes through the app and ends in `400 Bad Request`.

use std::convert::Infallible;
use std::rc::Rc;

use actix_codec::{Encoder, Framed};
use actix_http::body::{BodySize, MessageBody};
use actix_http::{h1, ConnectionType, Request, RequestHead, Response};
use actix_service::{fn_service, Service, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use crate::http::limits::Connection;
use crate::http::query::{go_parse_bool, QueryString};
use crate::realtime::new_session_id;
use crate::realtime::protocol::Format;
use crate::realtime::socket::{self, SocketIdentity};
use crate::sessions::TokenKind;
use crate::AppState;

fn plain(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

fn unauthorized() -> HttpResponse {
    plain(StatusCode::UNAUTHORIZED, "Missing or invalid token\n")
}

fn not_a_handshake() -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::SEC_WEBSOCKET_VERSION, "13"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body("Bad Request\n")
}

/// The format, token and status checks, in the spec's order.
fn authorize(state: &AppState, head: &RequestHead) -> Result<SocketIdentity, Box<HttpResponse>> {
    let query = QueryString::parse_lenient(head.uri.query().unwrap_or(""));
    let first = |name: &str| query.all(name, name).into_iter().next().unwrap_or_default();
    let Some(format) = Format::parse(&first("format")) else {
        return Err(Box::new(plain(StatusCode::BAD_REQUEST, "Invalid format parameter\n")));
    };
    let token = match head.headers.get(header::AUTHORIZATION) {
        Some(value) => match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) => token.to_string(),
            None => return Err(Box::new(unauthorized())),
        },
        None => first("token"),
    };
    if token.is_empty() {
        return Err(Box::new(unauthorized()));
    }
    // Signature, expiry, UUID uid, then revocation by tid and user-wide invalidation.
    let claims = state.sessions.verify(&token, TokenKind::Access).ok_or_else(|| Box::new(unauthorized()))?;
    Ok(SocketIdentity {
        session_id: new_session_id(&state.config.name),
        user_id: claims.uid,
        username: claims.usn,
        tid: claims.tid,
        issued_at: claims.iat,
        // Anything `strconv.ParseBool` refuses silently means false here.
        status: go_parse_bool(&first("status")).unwrap_or(false),
        format,
        local: None,
        peer: head.peer_addr,
    })
}

/// `GET /ws` that is not an upgrade: the same checks, then 400 as no handshake happened.
pub async fn not_upgraded(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match authorize(&state, req.head()) {
        Err(refusal) => *refusal,
        Ok(_) => not_a_handshake(),
    }
}

type Upgraded = Framed<Connection, h1::Codec>;

/// actix-http's upgrade service: `/ws` becomes a socket; anything else is answered by the
/// app as an ordinary request and the connection is closed.
pub fn upgrade_service<F, B>(
    state: web::Data<AppState>,
    app: F,
) -> impl ServiceFactory<(Request, Upgraded), Config = (), Response = (), Error = Infallible, InitError = ()>
where
    F: ServiceFactory<Request, Config = AppConfig, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    F::Service: 'static,
    F::InitError: std::fmt::Debug,
    B: MessageBody + 'static,
{
    let app = Rc::new(app);
    actix_service::fn_factory(move || {
        let state = state.clone();
        let app = app.clone();
        async move {
            let fallback = Rc::new(app.new_service(AppConfig::default()).await.map_err(|e| {
                tracing::error!(error = ?e, "cannot build the upgrade fallback service");
            })?);
            Ok(fn_service(move |(req, framed): (Request, Upgraded)| {
                let state = state.clone();
                let fallback = fallback.clone();
                async move {
                    if req.head().uri.path() == "/ws" && req.head().method == actix_web::http::Method::GET {
                        serve_upgrade(state, req, framed).await;
                    } else {
                        let answer = match fallback.call(req).await {
                            Ok(res) => res.into_parts().1.map_into_boxed_body(),
                            Err(e) => HttpResponse::from_error(e),
                        };
                        let _ = respond(framed, answer).await;
                    }
                    Ok::<_, Infallible>(())
                }
            }))
        }
    })
}

async fn serve_upgrade(state: web::Data<AppState>, req: Request, framed: Upgraded) {
    let mut identity = match authorize(&state, req.head()) {
        Ok(identity) => identity,
        Err(refusal) => {
            let _ = respond(framed, *refusal).await;
            return;
        }
    };
    let handshake = match actix_http::ws::handshake(req.head()) {
        Ok(mut builder) => builder.finish(),
        Err(_) => {
            let _ = respond(framed, not_a_handshake()).await;
            return;
        }
    };
    let (head, _) = handshake.into_parts();
    let mut parts = framed.into_parts();
    // The 101 is written by the socket actor as its first bytes: the socket is registered
    // before the client can learn the upgrade succeeded.
    let mut answer = BytesMut::new();
    if parts.codec.encode(h1::Message::Item((head, BodySize::None)), &mut answer).is_err() {
        return;
    }
    // The socket keeps its place under socket.max_connections while it lives.
    let (io, permit) = parts.io.into_parts();
    identity.local = io.local_addr().ok();
    // Frames the client sent right behind the upgrade request are already in read_buf.
    socket::start(state, identity, io, &parts.read_buf, answer, permit);
}

/// Writes a whole response on a connection that then closes.
async fn respond(framed: Upgraded, response: HttpResponse) -> std::io::Result<()> {
    let response: Response<_> = response.into();
    let (mut head, body) = response.into_parts();
    head.head_mut().set_connection_type(ConnectionType::Close);
    let body = actix_http::body::to_bytes(body).await.unwrap_or_default();
    let mut parts = framed.into_parts();
    let mut out = BytesMut::new();
    parts.codec.encode(h1::Message::Item((head, BodySize::Sized(body.len() as u64))), &mut out)?;
    if !body.is_empty() {
        parts.codec.encode(h1::Message::Chunk(Some(body)), &mut out)?;
    }
    parts.codec.encode(h1::Message::Chunk(None), &mut out)?;
    parts.io.write_all(&out).await?;
    parts.io.shutdown().await
}
