//! Rows behind the session cache: revoked token ids, per-user invalidations and the
//! longest token lifetime ever issued.

use entity::{revoked_token, session_invalidation, token_lifetime};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::Store;

/// A user's invalidation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInvalidation {
    pub user: Uuid,
    pub at: i64,
    pub expires: i64,
    /// Tokens issued after it within its own second.
    pub kept: Vec<Uuid>,
}

/// Everything still in force, loaded at start.
#[derive(Default)]
pub struct StoredRevocations {
    pub invalidations: Vec<StoredInvalidation>,
    /// (tid, kind, user, expires_at)
    pub tokens: Vec<(Uuid, i16, Uuid, i64)>,
}

impl From<session_invalidation::Model> for StoredInvalidation {
    fn from(r: session_invalidation::Model) -> Self {
        StoredInvalidation {
            user: r.user_id,
            at: r.invalidated_at,
            expires: r.expires_at,
            kept: kept_list(&r.kept_tids),
        }
    }
}

fn kept_text(kept: &[Uuid]) -> String {
    kept.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",")
}

fn kept_list(text: &str) -> Vec<Uuid> {
    text.split(',').filter_map(|t| Uuid::parse_str(t).ok()).collect()
}

impl Store {
    pub async fn load_revocations(&self, now: i64) -> Result<StoredRevocations, DbErr> {
        let invalidations = session_invalidation::Entity::find()
            .filter(session_invalidation::Column::ExpiresAt.gt(now))
            .all(&self.db)
            .await?
            .into_iter()
            .map(StoredInvalidation::from)
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

    /// The user's stored invalidation, if any.
    pub async fn invalidation_of(&self, user_id: Uuid) -> Result<Option<StoredInvalidation>, DbErr> {
        Ok(session_invalidation::Entity::find_by_id(user_id).one(&self.writer).await?.map(StoredInvalidation::from))
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

    /// Stores the user's invalidation, replacing the previous one.
    pub async fn upsert_invalidation(&self, user_id: Uuid, at: i64, expires: i64, kept: &[Uuid]) -> Result<(), DbErr> {
        session_invalidation::Entity::insert(session_invalidation::ActiveModel {
            user_id: Set(user_id),
            invalidated_at: Set(at),
            expires_at: Set(expires),
            kept_tids: Set(kept_text(kept)),
        })
        .on_conflict(
            OnConflict::column(session_invalidation::Column::UserId)
                .update_columns([
                    session_invalidation::Column::InvalidatedAt,
                    session_invalidation::Column::ExpiresAt,
                    session_invalidation::Column::KeptTids,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.writer)
        .await
        .map(|_| ())
    }

    /// Adds `tid` to the tokens kept by the user's invalidation at `at`, provided that is
    /// still the stored one and it keeps exactly `kept` (compare and set: a concurrent
    /// invalidation or keep makes this return `false`, and the caller looks again).
    pub async fn keep_token(&self, user_id: Uuid, at: i64, kept: &[Uuid], tid: Uuid) -> Result<bool, DbErr> {
        let mut next = kept.to_vec();
        next.push(tid);
        let result = session_invalidation::Entity::update_many()
            .col_expr(session_invalidation::Column::KeptTids, Expr::value(kept_text(&next)))
            .filter(session_invalidation::Column::UserId.eq(user_id))
            .filter(session_invalidation::Column::InvalidatedAt.eq(at))
            .filter(session_invalidation::Column::KeptTids.eq(kept_text(kept)))
            .exec(&self.writer)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Records that tokens live `lifetime` seconds on this node and answers the longest
    /// lifetime any node has stored.
    pub async fn record_token_lifetime(&self, lifetime: i64) -> Result<i64, DbErr> {
        token_lifetime::Entity::insert(token_lifetime::ActiveModel { id: Set(1), longest_sec: Set(lifetime) })
            .on_conflict(
                OnConflict::column(token_lifetime::Column::Id)
                    .value(
                        token_lifetime::Column::LongestSec,
                        Expr::case(
                            Expr::col((token_lifetime::Entity, token_lifetime::Column::LongestSec)).lt(lifetime),
                            lifetime,
                        )
                        .finally(Expr::col((token_lifetime::Entity, token_lifetime::Column::LongestSec))),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await?;
        self.longest_token_lifetime().await.map(|stored| stored.unwrap_or(lifetime).max(lifetime))
    }

    pub async fn longest_token_lifetime(&self) -> Result<Option<i64>, DbErr> {
        Ok(token_lifetime::Entity::find_by_id(1i16).one(&self.db).await?.map(|r| r.longest_sec))
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
}
