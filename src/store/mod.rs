//! Storage: sea-orm queries behind one `Store`; SQLite and PostgreSQL share every query.
//! Nothing outside `store`, `entity` and `migration` writes SQL.

mod accounts;
mod console;
mod friends;
mod revocations;

use std::str::FromStr;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbErr, SqlErr};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use accounts::{AccountUpdate, CreateError, Identifier, Login, NewAccount, UnlinkOutcome};
pub use console::{AccountFilter, AfterCursor, AuditEntry};
pub use friends::{EdgeCursor, FriendEdge};
pub use revocations::StoredRevocations;

use crate::config::DatabaseConfig;

/// Reads go to `db`; writes go to `writer`. On PostgreSQL both are one pool. On SQLite the
/// writer is a single connection, so writers queue in the pool instead of spinning on
/// SQLite's busy handler (which made sign-ups slow and their tail long), while reads stay
/// concurrent under WAL.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) writer: DatabaseConnection,
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
        let mut options = sea_orm::ConnectOptions::new(config.url.clone());
        options
            .max_connections(config.max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let db = sea_orm::Database::connect(options).await.map_err(|e| ConnectError::Connect(e.to_string()))?;
        Ok(Store { writer: db.clone(), db })
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
                .connect_with(options)
                .await
                .map_err(|e| ConnectError::Connect(e.to_string()))
        };
        let writer = pool(1, options.clone()).await?;
        let readers = pool(config.max_connections, options).await?;
        Ok(Store {
            db: sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(readers),
            writer: sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
        })
    }

    pub async fn migrate_up(&self) -> Result<(), DbErr> {
        Migrator::up(&self.writer, None).await
    }

    /// Reverts the newest applied migration.
    pub async fn migrate_down(&self) -> Result<(), DbErr> {
        Migrator::down(&self.writer, Some(1)).await
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

    pub async fn close(self) {
        let _ = self.db.close().await;
        let _ = self.writer.close().await;
    }
}

/// The unique constraint a failed write ran into, if that is why it failed.
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}
