//! Nakama's native gRPC API (grpc.md) over tonic, on `socket.address:socket.port - 1`: the
//! same domain services, credential checks and error kinds as the REST API.

mod calls;
mod limits;
mod messages;
mod service;
mod wording;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::web;
use tonic::codec::CompressionEncoding;

use crate::error::ApiError;
use crate::http::limits::{ConnectionGate, Limits};
use crate::AppState;

/// The messages, the server and the client generated from `proto/api.proto` (build.rs).
pub use crate::proto::api as proto;

/// An error kind as a gRPC status: the kind's code and message, nothing attached.
impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        tonic::Status::new(tonic::Code::from_i32(error.code as i32), error.message)
    }
}

/// The port Nakama derives for gRPC: one below the client API's. A client API on port 0
/// (a free port) gives a free port too.
pub fn port(socket_port: u16) -> u16 {
    socket_port.saturating_sub(1)
}

/// The gRPC listener: it serves on a runtime of its own (one thread per client API
/// worker), since tonic's connections need a multi-threaded executor to spread.
pub struct GrpcListener {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl GrpcListener {
    /// Serves `state` on the already bound `listener`, its connections counted under `gate`
    /// (the client API's: `socket.max_connections` covers both listeners).
    pub fn start(
        state: web::Data<AppState>,
        listener: std::net::TcpListener,
        gate: ConnectionGate,
    ) -> std::io::Result<GrpcListener> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let workers = match state.config.socket.workers {
            0 => crate::config::cores(),
            n => n,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("hearth-grpc")
            .enable_all()
            .build()?;
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = tokio::sync::oneshot::channel::<()>();
        let limit = state.config.socket.max_request_size_bytes;
        let limits = Limits::client(&state.config.socket);
        let metrics = state.metrics.clone();
        let service = proto::nakama_server::NakamaServer::from_arc(Arc::new(service::Nakama::new(state)))
            .max_decoding_message_size(limit)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip);
        std::thread::Builder::new().name("hearth-grpc".into()).spawn(move || {
            runtime.block_on(async move {
                let incoming = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => limits::incoming(listener, gate, limits),
                    Err(e) => {
                        tracing::error!(error = %e, "gRPC listener");
                        return;
                    }
                };
                let served = tonic::transport::Server::builder()
                    .layer(calls::CallsLayer { metrics })
                    .layer(wording::NakamaWordingLayer { limit })
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stop.await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "gRPC listener stopped");
                }
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            let _ = finished.send(());
        })?;
        Ok(GrpcListener { addr, shutdown: Some(shutdown), done: Some(done) })
    }

    /// Stops accepting, lets calls in flight finish, and waits for the runtime to end.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}
