//! `hearth` serves; `hearth migrate up|down|status` manages the schema; `hearth
//! import-nakama --from URL` moves a Nakama database's players in.

use std::process::ExitCode;

use hearth::config::{self, Command, Config, MigrateAction};
use hearth::import::ImportOptions;
use hearth::store::Store;

fn main() -> ExitCode {
    let (command, config) = match config::from_args(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("hearth: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let system = actix_rt::System::new();
    let result = match command {
        Command::Serve => system.block_on(serve(config)),
        Command::Migrate(action) => system.block_on(migrate(config, action)),
        Command::ImportNakama(options) => return system.block_on(import_nakama(config, options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("hearth: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{},sqlx=warn", config.logger.level)));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

async fn serve(config: Config) -> Result<(), String> {
    for param in config.insecure_defaults() {
        tracing::warn!(param, "WARNING: insecure default parameter value, change this for production!");
    }
    if config.social.gamecenter.allow_insecure_key_url {
        tracing::warn!(
            param = "social.gamecenter.allow_insecure_key_url",
            "WARNING: Game Center keys are accepted from any http(s) URL; this setting is for tests only!"
        );
    }
    let sockets = raise_open_file_limit();
    if sockets < 65_536 {
        tracing::warn!(
            open_files = sockets,
            "the open-file limit caps this node at about {sockets} sockets; raise the hard limit (ulimit -Hn) for more"
        );
    } else {
        tracing::info!(open_files = sockets, "socket capacity from the open-file limit");
    }
    let cap = config.socket.max_connections.saturating_add(config.console.max_connections) as u64;
    if cap > sockets {
        tracing::warn!(
            open_files = sockets,
            max_connections = cap,
            "socket.max_connections and console.max_connections exceed the open-file limit: past it, \
             connections fail to be accepted instead of getting 503"
        );
    }
    let backend = if config.database.url.starts_with("sqlite:") { "sqlite" } else { "postgres" };
    let running = hearth::start(config).await.map_err(|e| e.to_string())?;
    tracing::info!(address = %running.addr, database = backend, "Hearth client API listening");
    tracing::info!(address = %running.console_addr, "Hearth console listening (web page, staff API, /metrics)");
    if let Some(addr) = running.metrics_addr {
        tracing::info!(address = %addr, "Prometheus metrics listening");
    }
    running.wait().await.map_err(|e| e.to_string())
}

async fn migrate(config: Config, action: MigrateAction) -> Result<(), String> {
    let store = Store::connect(&config.database).await.map_err(|e| e.to_string())?;
    match action {
        MigrateAction::Up => store.migrate_up().await.map_err(|e| e.to_string())?,
        MigrateAction::Down => store.migrate_down().await.map_err(|e| e.to_string())?,
        MigrateAction::Status => {
            for (name, applied) in store.migration_status().await.map_err(|e| e.to_string())? {
                println!("{} {name}", if applied { "applied" } else { "pending" });
            }
        }
    }
    store.close().await;
    Ok(())
}

/// Migrates Hearth's database (a dry run only checks it is), imports, prints the report. Exit codes: 0 done (or a clean
/// dry run), 1 stopped on conflicts or failed, 2 the source lacks a table or column.
async fn import_nakama(config: Config, options: ImportOptions) -> ExitCode {
    let store = match Store::connect(&config.database).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("hearth: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A dry run writes nothing, migrations included: it needs a database already migrated.
    let prepared = match options.dry_run {
        false => store.migrate_up().await.map_err(|e| format!("hearth: cannot migrate Hearth's database: {e}")),
        true => match store.pending_migrations().await {
            Ok(0) => Ok(()),
            Ok(pending) => Err(format!(
                "hearth import-nakama: a dry run writes nothing, and Hearth's database lacks {pending} of its \
                 migrations; run `hearth migrate` first"
            )),
            Err(e) => Err(format!("hearth: cannot read Hearth's migrations: {e}")),
        },
    };
    if let Err(message) = prepared {
        eprintln!("{message}");
        store.close().await;
        return ExitCode::FAILURE;
    }
    let result = hearth::import::run(&store, &options).await;
    store.close().await;
    match result {
        Ok(report) => {
            print!("{report}");
            if report.stopped {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("hearth import-nakama: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Raises the open-file soft limit to the hard limit; returns the resulting soft limit.
fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// jemalloc gives freed memory back to the system within seconds (background purging with
/// a 2 s decay), so a node's RSS follows its live sockets down after a peak; glibc's
/// allocator kept most of it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:2000,muzzy_decay_ms:2000\0";
