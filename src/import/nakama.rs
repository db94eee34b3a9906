//! Reading a Nakama 3.x PostgreSQL database (../shared/spec/nakama-import.md): its schema
//! check, and its accounts and friend edges in key order, a batch at a time.

use std::str::FromStr;
use std::time::Duration;

use entity::{user_edge, users};
use sea_orm::{IdenStatic, Iterable};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

use super::ImportError;
use crate::store::ImportedAccount;

/// The newest Nakama migration this import was written against (Nakama 3.40.0).
pub const KNOWN_SCHEMA: &str = "20260319134532-add-display-name-index.sql";

/// The tables and columns the import reads besides `users`; any missing one stops it (exit
/// code 2).
const REQUIRED: &[(&str, &[&str])] = &[
    ("user_device", &["id", "user_id"]),
    ("user_edge", &["source_id", "destination_id", "position", "update_time", "state", "metadata"]),
    ("migration_info", &["id"]),
];

/// Every column of Hearth's `users` is read from Nakama's, under the same name; `edge_count`
/// is recounted from the edges instead.
fn users_columns() -> Vec<String> {
    users::Column::iter().map(|c| c.as_str().to_string()).filter(|c| c != "edge_count").collect()
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Nakama's system user: never an account.
pub const SYSTEM_USER: Uuid = Uuid::nil();

/// Times become whole seconds since the epoch, as Hearth stores them; Nakama's "never" (the
/// epoch) is then 0, Hearth's "never".
const USERS: &str = "SELECT id, username, display_name, avatar_url, lang_tag, location, timezone, \
    metadata::text AS metadata, wallet::text AS wallet, email, password, custom_id, facebook_id, google_id, \
    gamecenter_id, steam_id, facebook_instant_game_id, apple_id, \
    floor(extract(epoch FROM create_time))::bigint AS create_time, \
    floor(extract(epoch FROM update_time))::bigint AS update_time, \
    floor(extract(epoch FROM verify_time))::bigint AS verify_time, \
    floor(extract(epoch FROM disable_time))::bigint AS disable_time \
    FROM users WHERE id > $1 ORDER BY id LIMIT $2";

const EDGES: &str = "SELECT source_id, destination_id, state, position, \
    floor(extract(epoch FROM update_time))::bigint AS update_time, metadata::text AS metadata \
    FROM user_edge WHERE (source_id, destination_id) > ($1, $2) ORDER BY source_id, destination_id LIMIT $3";

/// Row counts of what the import reads (the system user left out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCounts {
    pub users: u64,
    pub devices: u64,
    pub edges: u64,
    /// Deleted accounts Nakama remembers; Hearth keeps no tombstones.
    pub tombstones: u64,
    /// 1 when Nakama's system user is there.
    pub system_user: u64,
}

pub struct Source {
    pool: PgPool,
}

impl Source {
    /// Connects within 10 s; the error is one line naming the server, never the password.
    pub async fn connect(url: &str) -> Result<Source, ImportError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| ImportError::Unreachable(format!("--from is not a PostgreSQL URL: {}", first_line(&e))))?;
        let place =
            format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or_default());
        // One connection first, so that a refused or failed connection says why at once
        // (the pool would retry it until its timeout).
        let unreachable =
            |cause: String| ImportError::Unreachable(format!("cannot reach the Nakama database at {place}: {cause}"));
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Err(_) => return Err(unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
            Ok(Err(e)) => return Err(unreachable(cause(&e))),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
        }
        let pool = PgPoolOptions::new().max_connections(2).acquire_timeout(CONNECT_TIMEOUT).connect_lazy_with(options);
        Ok(Source { pool })
    }

    /// Checks that every table and column the import reads is there; returns the newest
    /// applied Nakama migration (`None` when `migration_info` is empty).
    pub async fn check_schema(&self) -> Result<Option<String>, ImportError> {
        let rows = sqlx::query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema()",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        let present: std::collections::HashSet<(String, String)> =
            rows.iter().map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))).collect();
        let users = users_columns();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let mut missing = Vec::new();
        for (table, columns) in std::iter::once(("users", users.as_slice())).chain(REQUIRED.iter().copied()) {
            if !present.iter().any(|(t, _)| t == table) {
                missing.push(format!("table {table}"));
                continue;
            }
            for column in columns {
                if !present.contains(&(table.to_string(), column.to_string())) {
                    missing.push(format!("column {table}.{column}"));
                }
            }
        }
        if !missing.is_empty() {
            return Err(ImportError::Schema(format!(
                "the source is not a Nakama database this import can read: missing {}",
                missing.join(", ")
            )));
        }
        let newest: Option<String> = sqlx::query_scalar("SELECT id FROM migration_info ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?;
        Ok(newest)
    }

    pub async fn counts(&self) -> Result<SourceCounts, ImportError> {
        let count = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.pool).await.map(|n| n.max(0) as u64).map_err(read_error)
        };
        // Older schemas have no tombstones: nothing to report.
        let tombstones = count("SELECT count(*) FROM user_tombstone").await.unwrap_or_default();
        Ok(SourceCounts {
            users: count("SELECT count(*) FROM users WHERE id <> '00000000-0000-0000-0000-000000000000'").await?,
            devices: count("SELECT count(*) FROM user_device").await?,
            edges: count("SELECT count(*) FROM user_edge").await?,
            tombstones,
            system_user: count("SELECT count(*) FROM users WHERE id = '00000000-0000-0000-0000-000000000000'").await?,
        })
    }

    /// Up to `limit` accounts with ids after `after`, with their devices; the system user
    /// is among them when it falls in the range (the caller skips it).
    pub async fn accounts_after(&self, after: Uuid, limit: u64) -> Result<Vec<ImportedAccount>, ImportError> {
        let rows = sqlx::query(USERS).bind(after).bind(limit as i64).fetch_all(&self.pool).await.map_err(read_error)?;
        let mut accounts = rows.iter().map(account).collect::<Result<Vec<_>, _>>().map_err(read_error)?;
        let ids: Vec<Uuid> = accounts.iter().map(|a| a.user.id).collect();
        let devices = sqlx::query("SELECT id, user_id FROM user_device WHERE user_id = ANY($1) ORDER BY id")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(read_error)?;
        let mut by_user: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
        for row in &devices {
            let (device, user): (String, Uuid) =
                (row.try_get(0).map_err(read_error)?, row.try_get(1).map_err(read_error)?);
            by_user.entry(user).or_default().push(device);
        }
        for account in &mut accounts {
            account.devices = by_user.remove(&account.user.id).unwrap_or_default();
        }
        Ok(accounts)
    }

    /// Up to `limit` edges after `after` in (source, destination) order.
    pub async fn edges_after(&self, after: (Uuid, Uuid), limit: u64) -> Result<Vec<user_edge::Model>, ImportError> {
        let rows = sqlx::query(EDGES)
            .bind(after.0)
            .bind(after.1)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(read_error)?;
        rows.iter()
            .map(|r| {
                Ok(user_edge::Model {
                    source_id: r.try_get("source_id")?,
                    destination_id: r.try_get("destination_id")?,
                    state: r.try_get("state")?,
                    position: r.try_get("position")?,
                    update_time: r.try_get("update_time")?,
                    metadata: r.try_get("metadata")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(read_error)
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

fn account(r: &PgRow) -> Result<ImportedAccount, sqlx::Error> {
    // bcrypt hashes are ASCII; anything else cannot be a hash Hearth can check.
    let password: Option<Vec<u8>> = r.try_get("password")?;
    let password = password.and_then(|p| String::from_utf8(p).ok()).filter(|p| !p.is_empty());
    let user = users::Model {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        avatar_url: r.try_get("avatar_url")?,
        lang_tag: r.try_get("lang_tag")?,
        location: r.try_get("location")?,
        timezone: r.try_get("timezone")?,
        metadata: r.try_get("metadata")?,
        wallet: r.try_get("wallet")?,
        email: r.try_get("email")?,
        password,
        custom_id: r.try_get("custom_id")?,
        facebook_id: r.try_get("facebook_id")?,
        google_id: r.try_get("google_id")?,
        gamecenter_id: r.try_get("gamecenter_id")?,
        steam_id: r.try_get("steam_id")?,
        facebook_instant_game_id: r.try_get("facebook_instant_game_id")?,
        apple_id: r.try_get("apple_id")?,
        // Recounted from the imported edges (Store::import_edges).
        edge_count: 0,
        create_time: r.try_get("create_time")?,
        update_time: r.try_get("update_time")?,
        verify_time: r.try_get::<i64, _>("verify_time")?.max(0),
        disable_time: r.try_get::<i64, _>("disable_time")?.max(0),
    };
    Ok(ImportedAccount { user, devices: Vec::new() })
}

fn read_error(e: sqlx::Error) -> ImportError {
    ImportError::Source(cause(&e))
}

/// The innermost useful message of a driver error, on one line.
fn cause(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
        other => first_line(other),
    }
}

fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}
