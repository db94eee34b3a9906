//! Rows behind the session cache (revoked token ids, per-user invalidation times) and the
//! failed-login counters.

use entity::{login_failure, revoked_token, session_invalidation};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::Store;

/// Everything still in force, loaded at start.
#[derive(Default)]
pub struct StoredRevocations {
    /// (user, invalidated_at, expires_at)
    pub invalidations: Vec<(Uuid, i64, i64)>,
    /// (tid, kind, user, expires_at)
    pub tokens: Vec<(Uuid, i16, Uuid, i64)>,
}

impl Store {
    pub async fn load_revocations(&self, now: i64) -> Result<StoredRevocations, DbErr> {
        let invalidations = session_invalidation::Entity::find()
            .filter(session_invalidation::Column::ExpiresAt.gt(now))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.user_id, r.invalidated_at, r.expires_at))
            .collect();
        let tokens = revoked_token::Entity::find()
            .filter(revoked_token::Column::ExpiresAt.gt(now))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.tid, r.kind, r.user_id, r.expires_at))
            .collect();
        Ok(StoredRevocations { invalidations, tokens })
    }

    pub async fn insert_revoked_token(
        &self,
        tid: Uuid,
        kind: i16,
        user_id: Uuid,
        expires_at: i64,
    ) -> Result<(), DbErr> {
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            tid: Set(tid),
            kind: Set(kind),
            user_id: Set(user_id),
            expires_at: Set(expires_at),
        })
        .on_conflict(
            OnConflict::columns([revoked_token::Column::Tid, revoked_token::Column::Kind])
                .update_column(revoked_token::Column::ExpiresAt)
                .to_owned(),
        )
        .exec_without_returning(&self.writer)
        .await
        .map(|_| ())
    }

    pub async fn upsert_invalidation(&self, user_id: Uuid, invalidated_at: i64, expires_at: i64) -> Result<(), DbErr> {
        session_invalidation::Entity::insert(session_invalidation::ActiveModel {
            user_id: Set(user_id),
            invalidated_at: Set(invalidated_at),
            expires_at: Set(expires_at),
        })
        .on_conflict(
            OnConflict::column(session_invalidation::Column::UserId)
                .update_columns([session_invalidation::Column::InvalidatedAt, session_invalidation::Column::ExpiresAt])
                .to_owned(),
        )
        .exec_without_returning(&self.writer)
        .await
        .map(|_| ())
    }

    /// Drops rows whose tokens have all expired.
    pub async fn sweep_revocations(&self, now: i64) -> Result<(), DbErr> {
        revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lte(now))
            .exec(&self.writer)
            .await?;
        session_invalidation::Entity::delete_many()
            .filter(session_invalidation::Column::ExpiresAt.lte(now))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    /// (failures, window_start) of an account, if any were recorded.
    pub async fn login_failures(&self, user_id: Uuid) -> Result<Option<(i32, i64)>, DbErr> {
        Ok(login_failure::Entity::find_by_id(user_id).one(&self.db).await?.map(|r| (r.failures, r.window_start)))
    }

    /// Counts one wrong password atomically: within the window the count grows, after it
    /// a new window starts at `now`.
    pub async fn record_login_failure(&self, user_id: Uuid, now: i64, window_sec: i64) -> Result<(), DbErr> {
        let window_open = Expr::col((login_failure::Entity, login_failure::Column::WindowStart)).gt(now - window_sec);
        login_failure::Entity::insert(login_failure::ActiveModel {
            user_id: Set(user_id),
            failures: Set(1),
            window_start: Set(now),
        })
        .on_conflict(
            OnConflict::column(login_failure::Column::UserId)
                .value(
                    login_failure::Column::Failures,
                    Expr::case(
                        window_open.clone(),
                        Expr::col((login_failure::Entity, login_failure::Column::Failures)).add(1),
                    )
                    .finally(1),
                )
                .value(
                    login_failure::Column::WindowStart,
                    Expr::case(window_open, Expr::col((login_failure::Entity, login_failure::Column::WindowStart)))
                        .finally(now),
                )
                .to_owned(),
        )
        .exec_without_returning(&self.writer)
        .await
        .map(|_| ())
    }

    pub async fn clear_login_failures(&self, user_id: Uuid) -> Result<(), DbErr> {
        login_failure::Entity::delete_by_id(user_id).exec(&self.writer).await.map(|_| ())
    }
}
