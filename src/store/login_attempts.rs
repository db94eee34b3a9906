//! Login attempts per lockout key (client accounts and console staff alike). An attempt is
//! counted before its password is checked, in one atomic statement, so concurrent guesses
//! cannot all pass the limit check before any of them is recorded.

use entity::login_attempt;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::Store;

impl Store {
    /// Counts one attempt for `key` unless `limit` attempts were already counted in the
    /// window that is open at `now`; after the window a new one starts with this attempt.
    /// `true`: counted (the caller may check the password); `false`: refused.
    pub async fn reserve_login_attempt(&self, key: &str, now: i64, window_sec: i64, limit: u32) -> Result<bool, DbErr> {
        let t = login_attempt::Entity;
        let window_open = Expr::col((t, login_attempt::Column::WindowStart)).gt(now - window_sec);
        let inserted = login_attempt::Entity::insert(login_attempt::ActiveModel {
            key: Set(key.to_string()),
            attempts: Set(1),
            window_start: Set(now),
        })
        .on_conflict(
            OnConflict::column(login_attempt::Column::Key)
                .value(
                    login_attempt::Column::Attempts,
                    Expr::case(window_open.clone(), Expr::col((t, login_attempt::Column::Attempts)).add(1)).finally(1),
                )
                .value(
                    login_attempt::Column::WindowStart,
                    Expr::case(window_open.clone(), Expr::col((t, login_attempt::Column::WindowStart))).finally(now),
                )
                // The row is left alone (nothing counted) while the window is open and full.
                .action_and_where(
                    window_open.not().or(Expr::col((t, login_attempt::Column::Attempts)).lt(limit as i32)),
                )
                .to_owned(),
        )
        .exec_without_returning(&self.writer)
        .await;
        match inserted {
            Ok(rows) => Ok(rows > 0),
            Err(DbErr::RecordNotInserted) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets the attempts of `key` (a right password).
    pub async fn clear_login_attempts(&self, key: &str) -> Result<(), DbErr> {
        login_attempt::Entity::delete_by_id(key.to_string()).exec(&self.writer).await.map(|_| ())
    }

    /// Attempts counted for `key` in its current row (tests and the console).
    pub async fn login_attempts(&self, key: &str) -> Result<Option<(i32, i64)>, DbErr> {
        Ok(login_attempt::Entity::find_by_id(key.to_string())
            .one(&self.db)
            .await?
            .map(|r| (r.attempts, r.window_start)))
    }

    /// Drops windows that started at or before `before`.
    pub async fn sweep_login_attempts(&self, before: i64) -> Result<(), DbErr> {
        login_attempt::Entity::delete_many()
            .filter(login_attempt::Column::WindowStart.lte(before))
            .exec(&self.writer)
            .await
            .map(|_| ())
    }
}
