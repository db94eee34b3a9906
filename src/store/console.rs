//! Rows of the console: account search for staff, the audit trail and logged-out console
//! tokens.

use entity::{console_audit, console_revoked_token, user_device, users};
use sea_orm::sea_query::{Expr, LikeExpr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::Store;

/// Which accounts a console list shows (console.md §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountFilter {
    All,
    Id(Uuid),
    /// Usernames made of these pieces in order with any text between them (the staff's
    /// `%`): each piece matches itself, letters A-Z in either case.
    UsernamePattern(Vec<String>),
    /// Exactly this username, device id or custom id, or an email equal to it when letters
    /// A-Z are compared in either case.
    Exact(String),
}

/// Where the previous page ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterCursor {
    Start,
    Id(Uuid),
    Username(String),
    /// The whole list, newest first: the last account's creation time and id.
    Newest(i64, Uuid),
}

/// Which audit rows to list: every given field must match; times are Unix seconds,
/// `since` included, `until` not.
#[derive(Default)]
pub struct AuditFilter {
    pub username: Option<String>,
    pub action: Option<String>,
    /// The account acted on (its id as text).
    pub target: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// An audit row to write.
pub struct AuditEntry<'a> {
    pub time: i64,
    pub username: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub client_address: &'a str,
    pub result: &'a str,
}

/// `lower(column)` over the letters A-Z only. SQLite's `lower()` knows no other letters;
/// PostgreSQL's follows the database locale unless told "C", so it is told, and both
/// databases list the same accounts for the same filter.
fn lower_ascii(backend: DbBackend, column: users::Column) -> SimpleExpr {
    let column = column.as_str();
    match backend {
        DbBackend::Postgres => Expr::cust(format!(r#"lower("users"."{column}" COLLATE "C")"#)),
        _ => Expr::cust(format!(r#"lower("users"."{column}")"#)),
    }
}

/// Text matched literally by `LIKE … ESCAPE '\'`.
fn like_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn filter_condition(filter: &AccountFilter, backend: DbBackend) -> Condition {
    match filter {
        AccountFilter::All => Condition::all(),
        AccountFilter::Id(id) => Condition::all().add(users::Column::Id.eq(*id)),
        AccountFilter::UsernamePattern(pieces) => {
            let pieces: Vec<String> = pieces.iter().map(|p| like_literal(&p.to_ascii_lowercase())).collect();
            let pattern = LikeExpr::new(pieces.join("%")).escape('\\');
            Condition::all().add(Expr::expr(lower_ascii(backend, users::Column::Username)).like(pattern))
        }
        AccountFilter::Exact(value) => Condition::any()
            .add(users::Column::Username.eq(value.as_str()))
            .add(users::Column::CustomId.eq(value.as_str()))
            // What email sign-up stores (Unicode lower case) and any case of A-Z.
            .add(
                Expr::expr(lower_ascii(backend, users::Column::Email))
                    .is_in([value.to_ascii_lowercase(), value.to_lowercase()]),
            )
            .add(
                users::Column::Id.in_subquery(
                    Query::select()
                        .column(user_device::Column::UserId)
                        .from(user_device::Entity)
                        .and_where(Expr::col((user_device::Entity, user_device::Column::Id)).eq(value.as_str()))
                        .to_owned(),
                ),
            ),
    }
}

impl Store {
    /// Up to `limit` accounts after `after`: the whole list newest first (creation time,
    /// then id, both descending), a username pattern by username, anything else by id.
    pub async fn list_users(
        &self,
        filter: &AccountFilter,
        after: &AfterCursor,
        limit: u64,
    ) -> Result<Vec<users::Model>, DbErr> {
        let backend = self.db.get_database_backend();
        let mut query = users::Entity::find().filter(filter_condition(filter, backend));
        query = match after {
            AfterCursor::Start => query,
            AfterCursor::Id(id) => query.filter(users::Column::Id.gt(*id)),
            AfterCursor::Username(name) => query.filter(users::Column::Username.gt(name.as_str())),
            AfterCursor::Newest(time, id) => query.filter(
                Condition::any()
                    .add(users::Column::CreateTime.lt(*time))
                    .add(Condition::all().add(users::Column::CreateTime.eq(*time)).add(users::Column::Id.lt(*id))),
            ),
        };
        query = match filter {
            AccountFilter::All => query.order_by_desc(users::Column::CreateTime).order_by_desc(users::Column::Id),
            AccountFilter::UsernamePattern(_) => query.order_by_asc(users::Column::Username),
            _ => query.order_by_asc(users::Column::Id),
        };
        query.limit(limit).all(&self.db).await
    }

    pub async fn count_users(&self, filter: &AccountFilter) -> Result<u64, DbErr> {
        let backend = self.db.get_database_backend();
        users::Entity::find().filter(filter_condition(filter, backend)).count(&self.db).await
    }

    pub async fn insert_audit(&self, entry: AuditEntry<'_>) -> Result<(), DbErr> {
        // Control characters are written as escapes: a NUL cannot be stored in PostgreSQL
        // text, and staff should see what was sent.
        let clip = |s: &str, max: usize| {
            s.chars()
                .flat_map(|c| if c.is_control() { c.escape_unicode().collect::<Vec<_>>() } else { vec![c] })
                .take(max)
                .collect::<String>()
        };
        console_audit::Entity::insert(console_audit::ActiveModel {
            create_time: Set(entry.time),
            username: Set(clip(entry.username, 128)),
            action: Set(clip(entry.action, 64)),
            target: Set(clip(entry.target, 64)),
            client_address: Set(clip(entry.client_address, 64)),
            result: Set(clip(entry.result, 255)),
            ..Default::default()
        })
        .exec_without_returning(&self.writer)
        .await
        .map(|_| ())
    }

    /// Newest first, `limit` rows with an id below `before` (all when `None`) that match
    /// `filter`.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<console_audit::Model>, DbErr> {
        let mut query = console_audit::Entity::find();
        if let Some(before) = before {
            query = query.filter(console_audit::Column::Id.lt(before));
        }
        if let Some(username) = &filter.username {
            query = query.filter(console_audit::Column::Username.eq(username.as_str()));
        }
        if let Some(action) = &filter.action {
            query = query.filter(console_audit::Column::Action.eq(action.as_str()));
        }
        if let Some(target) = &filter.target {
            query = query.filter(console_audit::Column::Target.eq(target.as_str()));
        }
        if let Some(since) = filter.since {
            query = query.filter(console_audit::Column::CreateTime.gte(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(console_audit::Column::CreateTime.lt(until));
        }
        query.order_by_desc(console_audit::Column::Id).limit(limit).all(&self.db).await
    }

    /// Deletes audit rows written before `before` (Unix seconds).
    pub async fn sweep_audit(&self, before: i64) -> Result<u64, DbErr> {
        console_audit::Entity::delete_many()
            .filter(console_audit::Column::CreateTime.lt(before))
            .exec(&self.writer)
            .await
            .map(|r| r.rows_affected)
    }

    pub async fn insert_console_revoked_token(&self, cki: Uuid, expires_at: i64) -> Result<(), DbErr> {
        console_revoked_token::Entity::insert(console_revoked_token::ActiveModel {
            cki: Set(cki),
            expires_at: Set(expires_at),
        })
        .on_conflict(OnConflict::column(console_revoked_token::Column::Cki).do_nothing().to_owned())
        .exec_without_returning(&self.writer)
        .await
        .map(|_| ())
        .or_else(|e| match e {
            DbErr::RecordNotInserted => Ok(()),
            e => Err(e),
        })
    }

    /// Console tokens still logged out at `now`: (cki, expires_at).
    pub async fn console_revoked_tokens(&self, now: i64) -> Result<Vec<(Uuid, i64)>, DbErr> {
        Ok(console_revoked_token::Entity::find()
            .filter(console_revoked_token::Column::ExpiresAt.gt(now))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.cki, r.expires_at))
            .collect())
    }

    /// Forgets console tokens that have expired anyway.
    pub async fn sweep_console(&self, now: i64) -> Result<(), DbErr> {
        console_revoked_token::Entity::delete_many()
            .filter(console_revoked_token::Column::ExpiresAt.lte(now))
            .exec(&self.writer)
            .await
            .map(|_| ())
    }

    /// (connections in use, idle connections) of the pool.
    pub fn pool_stats(&self) -> (i64, i64) {
        let (size, idle) = match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            sea_orm::DatabaseBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            sea_orm::DatabaseBackend::MySql => (0, 0),
        };
        (size as i64 - idle as i64, idle as i64)
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::QueryTrait;

    use super::*;

    #[test]
    fn like_literals_escape_the_three_special_characters() {
        assert_eq!(like_literal(r"a_b%c\d"), r"a\_b\%c\\d");
        assert_eq!(like_literal(r"ends\"), r"ends\\");
        assert_eq!(like_literal("Zoë 😀"), "Zoë 😀");
    }

    #[test]
    fn a_pattern_keeps_only_the_staff_wildcards() {
        let filter = AccountFilter::UsernamePattern(vec!["A_".into(), r"\".into(), String::new()]);
        let sql = |backend: DbBackend| {
            users::Entity::find().filter(filter_condition(&filter, backend)).build(backend).to_string()
        };
        let postgres = sql(DbBackend::Postgres);
        assert!(
            postgres.contains(r#"(lower("users"."username" COLLATE "C")) LIKE E'a\\_%\\\\%' ESCAPE E'\\'"#),
            "{postgres}"
        );
        let sqlite = sql(DbBackend::Sqlite);
        assert!(sqlite.contains(r#"(lower("users"."username")) LIKE 'a\_%\\%' ESCAPE '\'"#), "{sqlite}");
    }
}
