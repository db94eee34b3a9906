//! Storage: sea-orm queries behind one `Store`; SQLite and PostgreSQL share every query.
//! Nothing outside `store`, `entity` and `migration` writes SQL.

mod accounts;
mod batch;
mod console;
mod friends;
mod import;
mod login_attempts;
mod revocations;
#[cfg(test)]
mod sql_columns;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbErr, SqlErr};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

pub use accounts::{AccountUpdate, CreateError, Identifier, Login, NewAccount, PasswordUpgrade, UnlinkOutcome};
pub use console::{AccountFilter, AfterCursor, AuditEntry, AuditFilter};
pub use friends::{EdgeCursor, FriendEdge};
pub use import::{identifier_columns, Clashes, ImportedAccount};
pub use revocations::{StoredInvalidation, StoredRevocations};

use crate::config::DatabaseConfig;

/// Reads go to `db`; writes go to `writer`. On PostgreSQL both are one pool. On SQLite the
/// writer is a single connection, so writers queue in the pool instead of spinning on
/// SQLite's busy handler (which made sign-ups slow and their tail long), while reads stay
/// concurrent under WAL.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) writer: DatabaseConnection,
    /// Device logins and sign-ups coalesced into one statement each.
    batches: Arc<batch::Batches>,
}

/// How many statements the coalesced queries ran, how many calls they carried, how many failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub lookup_statements: u64,
    pub lookup_calls: u64,
    /// Statements that failed; their calls then ran alone.
    pub lookup_failures: u64,
    pub sign_up_statements: u64,
    pub sign_up_calls: u64,
    pub sign_up_failures: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot create the folder of {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("bad database url: {0}")]
    Url(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
}

impl Store {
    /// Opens the database named by `database.url`; SQLite files (and their folder) are created.
    pub async fn connect(config: &DatabaseConfig) -> Result<Store, ConnectError> {
        if config.url.starts_with("sqlite:") {
            return Self::connect_sqlite(config).await;
        }
        let mut options = PgConnectOptions::from_str(&config.url).map_err(|e| ConnectError::Url(e.to_string()))?;
        if plain_on_loopback(&config.url, options.get_host()) {
            // TLS to a server on this machine protects nothing and costs a third of the
            // throughput of short queries; Nakama likewise defaults to sslmode=disable.
            options = options.ssl_mode(PgSslMode::Disable);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(1)
            // A request waits this long for a connection: while the database is unreachable,
            // requests fail fast rather than pile up (SQLite has nothing to wait for).
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    // Only a connection that sat idle long enough for a server restart or an
                    // idle cut to go unnoticed is checked: a round trip per query is too dear.
                    if meta.idle_for >= IDLE_CHECK {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.disable_statement_logging())
            .await
            .map_err(|e| ConnectError::Connect(e.to_string()))?;
        let batches = Arc::new(batch::Batches::postgres(pool.clone()));
        let db = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        Ok(Store { writer: db.clone(), db, batches })
    }

    async fn connect_sqlite(config: &DatabaseConfig) -> Result<Store, ConnectError> {
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| ConnectError::Url(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| ConnectError::Folder(options.get_filename().display().to_string(), e))?;
            }
        }
        let pool = |size: u32, options: SqliteConnectOptions| async move {
            SqlitePoolOptions::new()
                .max_connections(size)
                .min_connections(1)
                // A SQLite connection is a file handle in this process: nothing to test.
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(|e| ConnectError::Connect(e.to_string()))
        };
        let writer = pool(1, options.clone()).await?;
        let readers = pool(config.max_connections, options).await?;
        let batches = Arc::new(batch::Batches::sqlite(readers.clone(), writer.clone()));
        Ok(Store {
            db: sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(readers),
            writer: sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
            batches,
        })
    }

    pub async fn migrate_up(&self) -> Result<(), DbErr> {
        Migrator::up(&self.writer, None).await
    }

    /// Reverts the newest applied migration.
    pub async fn migrate_down(&self) -> Result<(), DbErr> {
        Migrator::down(&self.writer, Some(1)).await
    }

    /// How many of Hearth's migrations are not applied, without writing anything (reading
    /// the applied list makes sea-orm create its table, so that is looked for first).
    pub async fn pending_migrations(&self) -> Result<usize, DbErr> {
        let total = Migrator::migrations().len();
        if !migration::SchemaManager::new(&self.db).has_table("seaql_migrations").await? {
            return Ok(total);
        }
        Ok(self.migration_status().await?.iter().filter(|(_, applied)| !applied).count())
    }

    /// (migration name, applied?) for every migration Hearth knows.
    pub async fn migration_status(&self) -> Result<Vec<(String, bool)>, DbErr> {
        let applied: Vec<String> =
            Migrator::get_applied_migrations(&self.db).await?.into_iter().map(|m| m.name().to_string()).collect();
        Ok(Migrator::migrations()
            .into_iter()
            .map(|m| {
                let name = m.name().to_string();
                let done = applied.contains(&name);
                (name, done)
            })
            .collect())
    }

    /// True when the database answers a round trip within `within` (`/readyz`).
    pub async fn is_reachable(&self, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, self.db.ping()).await, Ok(Ok(())))
    }

    pub fn batch_counts(&self) -> BatchCounts {
        let b = &self.batches;
        let (lookup_statements, lookup_calls, lookup_failures) = b.find_device.counts();
        let (sign_up_statements, sign_up_calls, sign_up_failures) = b.insert_device.counts();
        BatchCounts {
            lookup_statements,
            lookup_calls,
            lookup_failures,
            sign_up_statements,
            sign_up_calls,
            sign_up_failures,
        }
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
        let _ = self.writer.close().await;
    }
}

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out.
const IDLE_CHECK: Duration = Duration::from_secs(10);

/// True when the URL names no `sslmode` (nor does `PGSSLMODE`) and the server is this
/// machine: a loopback address or a Unix socket.
fn plain_on_loopback(url: &str, host: &str) -> bool {
    let chosen = url.contains("sslmode=") || std::env::var_os("PGSSLMODE").is_some();
    let local = host == "localhost"
        || host.starts_with('/')
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    !chosen && local
}

/// The unique constraint a failed write ran into, if that is why it failed.
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::plain_on_loopback;

    #[test]
    fn tls_is_left_off_only_for_a_local_server_when_the_url_does_not_choose() {
        if std::env::var_os("PGSSLMODE").is_some() {
            return; // the environment chose; the rule below is then never applied
        }
        assert!(plain_on_loopback("postgres://u@127.0.0.1/db", "127.0.0.1"));
        assert!(plain_on_loopback("postgres://u@localhost/db", "localhost"));
        assert!(plain_on_loopback("postgres://u@[::1]/db", "[::1]"));
        assert!(plain_on_loopback("postgres:///db?host=/run/postgresql", "/run/postgresql"));
        assert!(!plain_on_loopback("postgres://u@127.0.0.1/db?sslmode=require", "127.0.0.1"));
        assert!(!plain_on_loopback("postgres://u@db.example.com/db", "db.example.com"));
        assert!(!plain_on_loopback("postgres://u@10.0.0.5/db", "10.0.0.5"));
    }
}
