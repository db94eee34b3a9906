//! Hearth: a server speaking Nakama's client API for accounts, sessions and presence.

pub mod accounts;
pub mod api;
pub mod clock;
pub mod config;
pub mod error;
pub mod realtime;
pub mod sessions;
pub mod social;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::HttpService;
use actix_service::{map_config, IntoServiceFactory, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App};

use accounts::password::PasswordHasher;
use config::Config;
use realtime::bus::{LocalBus, PresenceBus};
use realtime::status::StatusRegistry;
use realtime::SessionRegistry;
use sessions::{SessionCache, TokenKeys};
use social::Social;
use store::Store;

/// Everything a request needs, shared by all workers.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub tokens: TokenKeys,
    pub cache: SessionCache,
    pub registry: SessionRegistry,
    pub status: Arc<StatusRegistry>,
    pub bus: Arc<dyn PresenceBus>,
    pub passwords: PasswordHasher,
    pub social: Social,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Connect(#[from] store::ConnectError),
    #[error("database migration failed: {0}")]
    Migrate(sea_orm::DbErr),
    #[error("cannot load revoked sessions: {0}")]
    Revocations(sea_orm::DbErr),
    #[error(transparent)]
    Social(#[from] social::ClientError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

impl AppState {
    /// Connects, migrates and loads the persisted revocations.
    pub async fn build(config: Config) -> Result<web::Data<AppState>, StartError> {
        let social = Social::new(config.social.clone())?;
        let store = Store::connect(&config.database).await?;
        store.migrate_up().await.map_err(StartError::Migrate)?;
        let registry = SessionRegistry::new(config.session.single_socket);
        let status = Arc::new(StatusRegistry::new());
        let bus: Arc<dyn PresenceBus> = Arc::new(LocalBus::new(status.clone(), registry.clone()));
        let state = web::Data::new(AppState {
            tokens: TokenKeys::new(&config.session),
            cache: SessionCache::new(config.session.token_expiry_sec, config.session.refresh_token_expiry_sec),
            registry,
            status,
            bus,
            passwords: PasswordHasher::start(config.hash_threads()),
            social,
            store,
            config,
        });
        sessions::load_revocations(&state).await.map_err(StartError::Revocations)?;
        Ok(state)
    }
}

/// A running server: its bound address and shared state.
pub struct Running {
    pub addr: SocketAddr,
    pub state: web::Data<AppState>,
    handle: actix_server::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    sweeper: tokio::task::JoinHandle<()>,
    idle_close: Arc<tokio::sync::Notify>,
}

/// How long shutdown waits for sockets to close before dropping them.
const SOCKET_DRAIN: Duration = Duration::from_secs(3);

impl Running {
    /// Graceful shutdown in bounded time: stop accepting, close every socket with a
    /// reason, wait for them (at most `SOCKET_DRAIN`), then let requests in flight finish.
    pub async fn stop(self) {
        self.handle.pause().await;
        self.state.registry.close_all("server shutting down");
        let deadline = tokio::time::Instant::now() + SOCKET_DRAIN;
        while self.state.registry.socket_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.sweeper.abort();
        self.idle_close.notify_waiters();
        self.handle.stop(true).await;
        let _ = self.task.await;
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn wait(mut self) -> std::io::Result<()> {
        tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                self.stop().await;
                Ok(())
            }
            ended = &mut self.task => {
                self.sweeper.abort();
                ended.unwrap_or(Ok(()))
            }
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts the client API on `socket.address:socket.port` (port 0 picks a free one).
pub async fn start(config: Config) -> Result<Running, StartError> {
    let state = AppState::build(config).await?;
    start_with_state(state).await
}

pub async fn start_with_state(state: web::Data<AppState>) -> Result<Running, StartError> {
    let address = format!("{}:{}", state.config.socket.address, state.config.socket.port);
    let listener = listen(&address).await.map_err(|e| StartError::Bind(address.clone(), e))?;
    let addr = listener.local_addr().map_err(|e| StartError::Bind(address.clone(), e))?;
    let app_state = state.clone();
    let idle_close = Arc::new(tokio::sync::Notify::new());
    let idle_signal = idle_close.clone();
    // actix-http directly (rather than actix-web's HttpServer) for its upgrade hook: a
    // WebSocket upgrade takes the connection out of the HTTP dispatcher.
    let server = actix_server::Server::build()
        .listen("hearth-client-api", listener, move || {
            let state = app_state.clone();
            let idle_signal = idle_signal.clone();
            HttpService::build()
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                // On shutdown, idle keep-alive connections close at once.
                .graceful_shutdown_signal(move || {
                    let signal = idle_signal.clone();
                    async move { signal.notified().await }
                })
                .local_addr(addr)
                .upgrade(api::ws::upgrade_service(state.clone(), client_app(state.clone()).into_factory()))
                .finish(map_config(client_app(state), |_| AppConfig::default()))
                .tcp()
        })
        .map_err(|e| StartError::Bind(address.clone(), e))?
        // Signals are ours: sockets are closed with a reason before the listener stops.
        .disable_signals()
        .shutdown_timeout(5)
        .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    let sweeper = tokio::spawn(sweep_loop(state.clone()));
    Ok(Running { addr, state, handle, task, sweeper, idle_close })
}

/// A listening socket with a deep accept backlog: bursts of connects (thousands of
/// sockets at once) must not overflow it, or clients wait a second for a SYN retry.
async fn listen(address: &str) -> std::io::Result<std::net::TcpListener> {
    let addr = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)?.into_std()
}

/// The client API as an actix-web app.
fn client_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .wrap(middleware::from_fn(api::gateway))
        .wrap(middleware::Compress::default())
        .configure(api::routes)
}

async fn sweep_loop(state: web::Data<AppState>) {
    let period = (2 * state.config.session.token_expiry_sec).clamp(1, 60) as u64;
    let mut ticker = tokio::time::interval(Duration::from_secs(period));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        sessions::sweep(&state).await;
    }
}
