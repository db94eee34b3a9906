//! Friend edges: provider imports (both directions, idempotent, edge counts kept in the
//! same transaction) and the caller's friend list.

use std::collections::{HashMap, HashSet};

use entity::{user_edge, users};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::Store;

pub const MUTUAL: i16 = 0;
pub const INVITE_SENT: i16 = 1;
pub const INVITE_RECEIVED: i16 = 2;
pub const BLOCKED: i16 = 3;

/// Identifier lists are matched this many at a time, well under every bind-parameter limit.
const MATCH_CHUNK: usize = 500;

/// A friend as listed: the edge from the caller's side and the friend's account.
pub struct FriendEdge {
    pub edge: user_edge::Model,
    pub user: users::Model,
}

/// Where a list page starts: after this (state, position).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeCursor {
    pub state: i16,
    pub position: i64,
}

impl Store {
    /// Makes `user_id` mutual friends with every other account whose `column` holds one of
    /// `provider_ids`; returns the accounts that became friends now. Existing edges are
    /// left alone, a pending invite either way is accepted, a block either way is kept.
    pub async fn import_friends(
        &self,
        user_id: Uuid,
        column: users::Column,
        provider: &str,
        provider_ids: &[String],
        now: i64,
    ) -> Result<Vec<Uuid>, DbErr> {
        let txn = self.writer.begin().await?;
        let mut candidates = Vec::new();
        let mut seen = HashSet::new();
        for chunk in provider_ids.chunks(MATCH_CHUNK) {
            let ids: Vec<Uuid> = users::Entity::find()
                .select_only()
                .column(users::Column::Id)
                .filter(column.is_in(chunk.iter().cloned()))
                .filter(users::Column::Id.ne(user_id))
                .into_tuple()
                .all(&txn)
                .await?;
            candidates.extend(ids.into_iter().filter(|id| seen.insert(*id)));
        }
        let position = now_nanos();
        let metadata = format!(r#"{{"provider": "{provider}"}}"#);
        let mut connected = Vec::new();
        for (i, friend) in candidates.into_iter().enumerate() {
            let edges = user_edge::Entity::find()
                .filter(
                    Condition::any()
                        .add(user_edge::Column::SourceId.eq(user_id).and(user_edge::Column::DestinationId.eq(friend)))
                        .add(user_edge::Column::SourceId.eq(friend).and(user_edge::Column::DestinationId.eq(user_id))),
                )
                .all(&txn)
                .await?;
            if edges.iter().any(|e| e.state == BLOCKED) {
                continue;
            }
            if edges.iter().any(|e| e.state == INVITE_SENT || e.state == INVITE_RECEIVED) {
                for edge in edges.iter().filter(|e| e.state != MUTUAL) {
                    user_edge::Entity::update_many()
                        .col_expr(user_edge::Column::State, Expr::value(MUTUAL))
                        .col_expr(user_edge::Column::UpdateTime, Expr::value(now))
                        .col_expr(user_edge::Column::Metadata, Expr::value(merge_provider(&edge.metadata, provider)))
                        .filter(user_edge::Column::SourceId.eq(edge.source_id))
                        .filter(user_edge::Column::DestinationId.eq(edge.destination_id))
                        .exec(&txn)
                        .await?;
                }
                connected.push(friend);
                continue;
            }
            let mut written = 0;
            for (source, destination) in [(user_id, friend), (friend, user_id)] {
                if insert_edge(&txn, source, destination, position + i as i64, now, &metadata).await? {
                    users::Entity::update_many()
                        .col_expr(users::Column::EdgeCount, Expr::col(users::Column::EdgeCount).add(1))
                        .col_expr(users::Column::UpdateTime, Expr::value(now))
                        .filter(users::Column::Id.eq(source))
                        .exec(&txn)
                        .await?;
                    written += 1;
                }
            }
            if written == 2 {
                connected.push(friend);
            }
        }
        txn.commit().await?;
        Ok(connected)
    }

    /// A page of the user's edges ordered by state then position, with each friend's account.
    pub async fn list_friends(
        &self,
        user_id: Uuid,
        state: Option<i16>,
        after: Option<EdgeCursor>,
        limit: u64,
    ) -> Result<Vec<FriendEdge>, DbErr> {
        let mut query = user_edge::Entity::find().filter(user_edge::Column::SourceId.eq(user_id));
        if let Some(state) = state {
            query = query.filter(user_edge::Column::State.eq(state));
        }
        if let Some(after) = after {
            query = query.filter(
                Condition::any()
                    .add(user_edge::Column::State.gt(after.state))
                    .add(user_edge::Column::State.eq(after.state).and(user_edge::Column::Position.gt(after.position))),
            );
        }
        let edges = query
            .order_by_asc(user_edge::Column::State)
            .order_by_asc(user_edge::Column::Position)
            .limit(limit)
            .all(&self.db)
            .await?;
        let ids: Vec<Uuid> = edges.iter().map(|e| e.destination_id).collect();
        let mut users: HashMap<Uuid, users::Model> = users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        Ok(edges
            .into_iter()
            .filter_map(|edge| Some(FriendEdge { user: users.remove(&edge.destination_id)?, edge }))
            .collect())
    }
}

/// Inserts one directed edge unless the pair already has one; `true` when written.
async fn insert_edge(
    db: &impl ConnectionTrait,
    source: Uuid,
    destination: Uuid,
    position: i64,
    now: i64,
    metadata: &str,
) -> Result<bool, DbErr> {
    let edge = user_edge::ActiveModel {
        source_id: Set(source),
        destination_id: Set(destination),
        state: Set(MUTUAL),
        position: Set(position),
        update_time: Set(now),
        metadata: Set(metadata.to_string()),
    };
    let conflict =
        OnConflict::columns([user_edge::Column::SourceId, user_edge::Column::DestinationId]).do_nothing().to_owned();
    match user_edge::Entity::insert(edge).on_conflict(conflict).exec_without_returning(db).await {
        Ok(rows) => Ok(rows > 0),
        Err(DbErr::RecordNotInserted) => Ok(false),
        Err(e) => Err(e),
    }
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Adds `"provider"` to an edge's metadata object, written as PostgreSQL writes `jsonb`
/// text (keys by length then bytes, `": "` and `", "`), which is what Nakama returns.
fn merge_provider(metadata: &str, provider: &str) -> String {
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(metadata).unwrap_or_default();
    object.insert("provider".into(), serde_json::Value::String(provider.into()));
    jsonb_text(&serde_json::Value::Object(object))
}

fn jsonb_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}: {}", serde_json::Value::String(k.clone()), jsonb_text(&object[k])))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(jsonb_text).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_metadata_reads_like_jsonb() {
        assert_eq!(merge_provider("{}", "facebook"), r#"{"provider": "facebook"}"#);
        assert_eq!(
            merge_provider(r#"{"zz":[1,{"b":2,"a":1}],"a":true}"#, "steam"),
            r#"{"a": true, "zz": [1, {"a": 1, "b": 2}], "provider": "steam"}"#
        );
        assert_eq!(merge_provider("not json", "steam"), r#"{"provider": "steam"}"#);
    }
}
