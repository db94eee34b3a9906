//! Hearth: a server speaking Nakama's client API for accounts, sessions and presence.

pub mod accounts;
pub mod api;
pub mod clock;
pub mod config;
pub mod console;
pub mod error;
pub mod grpc;
pub mod http;
pub mod import;
pub mod metrics;
pub mod proto;
pub mod realtime;
pub mod sessions;
pub mod social;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_service::{map_config, IntoServiceFactory, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App};

use accounts::password::PasswordHasher;
use accounts::Accounts;
use clock::Clock;
use config::Config;
use console::ConsoleState;
use http::limits::{self, ConnectionGate, Limits};
use metrics::Metrics;
use realtime::bus::{LocalBus, PresenceBus};
use realtime::status::StatusRegistry;
use realtime::SessionRegistry;
use sessions::Sessions;
use social::Social;
use store::Store;

/// Where the transports (client API, console, socket) are wired together: the domain's
/// services, realtime, metrics and the console's own state. Nothing below the transports
/// receives it.
pub struct AppState {
    pub config: Config,
    /// Logins, links, profiles, friends, bans and the console's account work.
    pub accounts: Accounts,
    /// Tokens, revocation and live sessions; it reports ended sessions to the registry.
    pub sessions: Arc<Sessions>,
    /// For the transports' own reads (readiness, the console's counts and audit list).
    pub store: Store,
    pub registry: SessionRegistry,
    pub status: Arc<StatusRegistry>,
    pub bus: Arc<dyn PresenceBus>,
    /// Time for sessions, lockouts and stored times (tests move it).
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub console: ConsoleState,
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
        Self::build_with_clock(config, Clock::system()).await
    }

    /// `build` with the time the app reads (tests pass one they can advance).
    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<web::Data<AppState>, StartError> {
        let social = Social::new(config.social.clone())?;
        let store = Store::connect(&config.database).await?;
        store.migrate_up().await.map_err(StartError::Migrate)?;
        let metrics = Arc::new(Metrics::new(&config.metrics.prefix, &config.name, config.metrics.enabled));
        let registry = SessionRegistry::new(config.session.single_socket, metrics.clone());
        let status = Arc::new(StatusRegistry::new(metrics.clone()));
        let hash_timer = config.metrics.enabled.then(|| metrics.password_hash_seconds.clone());
        let upgrades = config.metrics.enabled.then(|| metrics.password_upgrades.clone());
        let bus: Arc<dyn PresenceBus> = Arc::new(LocalBus::new(status.clone(), registry.clone()));
        let events = Arc::new(registry.clone());
        let sessions = Arc::new(Sessions::new(&config.session, store.clone(), clock.clone(), events, metrics.clone()));
        let passwords = PasswordHasher::start_timed(config.hash_threads(), hash_timer, upgrades);
        let accounts = Accounts::new(
            store.clone(),
            clock.clone(),
            passwords,
            social,
            sessions.clone(),
            &config.session,
            &config.console,
        );
        let state = web::Data::new(AppState {
            accounts,
            sessions,
            registry,
            status,
            bus,
            clock,
            metrics,
            console: ConsoleState::new(&config),
            store,
            config,
        });
        state.sessions.load_revocations().await.map_err(StartError::Revocations)?;
        console::load_revocations(&state).await.map_err(StartError::Revocations)?;
        Ok(state)
    }
}

/// A running server: its bound addresses and shared state.
pub struct Running {
    /// The client API.
    pub addr: SocketAddr,
    /// The console: staff API, web page, `/metrics`.
    pub console_addr: SocketAddr,
    /// The extra Prometheus listener, when `metrics.prometheus_port` is set.
    pub metrics_addr: Option<SocketAddr>,
    /// The native gRPC API (`socket.port - 1`).
    pub grpc_addr: SocketAddr,
    grpc: grpc::GrpcListener,
    pub state: web::Data<AppState>,
    /// Open connections of the client API (sockets included) and of the console.
    gates: [ConnectionGate; 2],
    handle: actix_server::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    idle_close: Arc<tokio::sync::Notify>,
    /// Console and Prometheus listeners.
    side: Vec<Listener>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// How long shutdown waits for sockets to close before dropping them.
const SOCKET_DRAIN: Duration = Duration::from_secs(3);

impl Running {
    /// Connections open now on the client API (WebSockets included) and on the console.
    pub fn open_connections(&self) -> (usize, usize) {
        (self.gates[0].open(), self.gates[1].open())
    }

    /// Graceful shutdown in bounded time: stop accepting, close every socket with a
    /// reason, wait for them (at most `SOCKET_DRAIN`), then let requests in flight finish.
    pub async fn stop(self) {
        self.handle.pause().await;
        // Live streams end first so the console listener can stop at once.
        self.state.console.live.close();
        for (handle, _) in &self.side {
            handle.pause().await;
        }
        self.state.registry.close_all("server shutting down");
        self.grpc.stop().await;
        let deadline = tokio::time::Instant::now() + SOCKET_DRAIN;
        while self.state.registry.socket_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for task in &self.background {
            task.abort();
        }
        self.idle_close.notify_waiters();
        self.handle.stop(true).await;
        let _ = self.task.await;
        for (handle, task) in self.side {
            handle.stop(true).await;
            let _ = task.await;
        }
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
                for task in &self.background {
                    task.abort();
                }
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
    start_with_clock(config, Clock::system()).await
}

/// `start`, reading time from `clock`.
pub async fn start_with_clock(config: Config, clock: Clock) -> Result<Running, StartError> {
    let state = AppState::build_with_clock(config, clock).await?;
    start_with_state(state).await
}

pub async fn start_with_state(state: web::Data<AppState>) -> Result<Running, StartError> {
    let address = format!("{}:{}", state.config.socket.address, state.config.socket.port);
    let listener = listen(&address).await.map_err(|e| StartError::Bind(address.clone(), e))?;
    let addr = listener.local_addr().map_err(|e| StartError::Bind(address.clone(), e))?;
    let app_state = state.clone();
    let idle_close = Arc::new(tokio::sync::Notify::new());
    let idle_signal = idle_close.clone();
    let client_limits = Limits::client(&state.config.socket);
    let client_gate = ConnectionGate::new("client API", client_limits.max_connections);
    let gate = client_gate.clone();
    // actix-http directly (rather than actix-web's HttpServer) for its upgrade hook: a
    // WebSocket upgrade takes the connection out of the HTTP dispatcher.
    let server = actix_server::Server::build()
        .listen("hearth-client-api", listener, move || {
            let state = app_state.clone();
            let http = limits::builder(&client_limits)
                .graceful_shutdown_signal(shutdown_signal_of(&idle_signal))
                .local_addr(addr)
                .upgrade(api::ws::upgrade_service(state.clone(), client_app(state.clone()).into_factory()))
                .finish(map_config(client_app(state), |_| AppConfig::default()));
            limits::guarded(gate.clone(), client_limits.read_timeout, http)
        })
        .map_err(|e| StartError::Bind(address.clone(), e))?
        .workers(match state.config.socket.workers {
            0 => config::cores(),
            n => n,
        })
        .max_concurrent_connections(client_limits.worker_connections())
        // Signals are ours: sockets are closed with a reason before the listener stops.
        .disable_signals()
        .shutdown_timeout(5)
        .run();
    let handle = server.handle();
    let task = tokio::spawn(server);

    let grpc_address = format!("{}:{}", state.config.socket.address, grpc::port(state.config.socket.port));
    let grpc_bind_error = |e| StartError::Bind(grpc_address.clone(), e);
    let grpc_listener = listen(&grpc_address).await.map_err(grpc_bind_error)?;
    let grpc = grpc::GrpcListener::start(state.clone(), grpc_listener, client_gate.clone()).map_err(grpc_bind_error)?;
    let grpc_addr = grpc.addr;

    let mut side = Vec::new();
    let console_limits = Limits::console(&state.config.console);
    let console_gate = ConnectionGate::new("console", console_limits.max_connections);
    let console_address = format!("{}:{}", state.config.console.address, state.config.console.port);
    let console_state = state.clone();
    let (server, console_addr) =
        side_listener(&console_address, console_limits, console_gate.clone(), &idle_close, move || {
            App::new().app_data(console_state.clone()).configure(console::routes)
        })
        .await?;
    side.push(spawn_side(server));
    let metrics_addr = match state.config.metrics.prometheus_port {
        0 => None,
        port => {
            // As Nakama's exporter: all interfaces, any path; the console's limits.
            let metrics_address = format!("0.0.0.0:{port}");
            let metrics_state = state.clone();
            let gate = ConnectionGate::new("prometheus", console_limits.max_connections);
            let (server, addr) = side_listener(&metrics_address, console_limits, gate, &idle_close, move || {
                App::new().app_data(metrics_state.clone()).default_service(web::to(console::metrics))
            })
            .await?;
            side.push(spawn_side(server));
            Some(addr)
        }
    };
    let mut background =
        vec![tokio::spawn(sweep_loop(state.clone())), tokio::spawn(console::sample_loop(state.clone()))];
    if let Some(mut advances) = state.clock.advances() {
        // A test moved time: sockets look at their keepalive again at once.
        let registry = state.registry.clone();
        background.push(tokio::spawn(async move {
            while advances.changed().await.is_ok() {
                registry.check_keepalive();
            }
        }));
    }
    let gates = [client_gate, console_gate];
    Ok(Running {
        addr,
        console_addr,
        metrics_addr,
        grpc_addr,
        grpc,
        state,
        gates,
        handle,
        task,
        idle_close,
        side,
        background,
    })
}

type Listener = (actix_server::ServerHandle, tokio::task::JoinHandle<std::io::Result<()>>);

/// On shutdown, idle keep-alive connections close at once.
fn shutdown_signal_of(
    signal: &Arc<tokio::sync::Notify>,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + 'static {
    let signal = signal.clone();
    move || {
        let signal = signal.clone();
        Box::pin(async move { signal.notified().await })
    }
}

/// A console-side listener (one worker) serving the app `make` builds, with `limits`.
async fn side_listener<F, T, B>(
    address: &str,
    limits: Limits,
    gate: ConnectionGate,
    idle_signal: &Arc<tokio::sync::Notify>,
    make: F,
) -> Result<(actix_server::Server, SocketAddr), StartError>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let bind_error = |e| StartError::Bind(address.to_string(), e);
    let listener = listen(address).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let idle_signal = idle_signal.clone();
    let server = actix_server::Server::build()
        .listen(address, listener, move || {
            let app = make().wrap(middleware::from_fn(limits::request_read));
            let http = limits::builder(&limits)
                .graceful_shutdown_signal(shutdown_signal_of(&idle_signal))
                .local_addr(addr)
                .finish(map_config(app, |_| AppConfig::default()));
            limits::guarded(gate.clone(), limits.read_timeout, http)
        })
        .map_err(bind_error)?
        .workers(1)
        .max_concurrent_connections(limits.worker_connections())
        .disable_signals()
        .shutdown_timeout(2)
        .run();
    Ok((server, addr))
}

fn spawn_side(server: actix_server::Server) -> Listener {
    let handle = server.handle();
    (handle, tokio::spawn(server))
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
        .wrap(middleware::from_fn(limits::request_read))
        .configure(api::routes)
}

async fn sweep_loop(state: web::Data<AppState>) {
    let period = (2 * state.config.session.token_expiry_sec).clamp(1, 60) as u64;
    let mut ticker = tokio::time::interval(Duration::from_secs(period));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        state.sessions.sweep().await;
        console::sweep(&state).await;
        let (session, console) = (&state.config.session, &state.config.console);
        accounts::lockout::sweep(
            &state.store,
            state.clock.now(),
            accounts::lockout::Lockout {
                limit: session.max_failed_logins,
                window_sec: session.failed_login_window_sec,
            },
            accounts::lockout::Lockout {
                limit: console.max_failed_logins,
                window_sec: console.failed_login_window_sec,
            },
        )
        .await;
    }
}
