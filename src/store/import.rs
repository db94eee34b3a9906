//! Writes of `hearth import-nakama`: which Hearth accounts clash with imported ones, and the
//! batches themselves (accounts with their devices, then friend edges), each in one transaction.

use entity::{user_device, user_edge, users};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use super::Store;

/// An account as the import brings it: every `users` column, and its devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedAccount {
    pub user: users::Model,
    pub devices: Vec<String>,
}

/// What Hearth already holds that an imported batch could clash with.
#[derive(Debug, Default)]
pub struct Clashes {
    /// Accounts sharing an id, a username or an identifier with the batch.
    pub users: Vec<users::Model>,
    /// (device id, owner) of the batch's devices that exist already.
    pub devices: Vec<(String, Uuid)>,
}

/// At most this many accounts or edges per statement: SQLite allows 32,766 parameters and an
/// account row has 23 (a clash lookup about 10 per account).
const ROWS_PER_STATEMENT: usize = 500;

impl Store {
    /// The Hearth accounts and devices that share an id, username, identifier or device with
    /// `accounts`.
    pub async fn import_clashes(&self, accounts: &[ImportedAccount]) -> Result<Clashes, DbErr> {
        let mut clashes = Clashes::default();
        for chunk in accounts.chunks(ROWS_PER_STATEMENT) {
            let mut any = Condition::any()
                .add(users::Column::Id.is_in(chunk.iter().map(|a| a.user.id)))
                .add(users::Column::Username.is_in(chunk.iter().map(|a| a.user.username.clone())));
            for (column, _, value) in identifier_columns() {
                let values: Vec<String> = chunk.iter().filter_map(|a| value(&a.user).clone()).collect();
                if !values.is_empty() {
                    any = any.add(column.is_in(values));
                }
            }
            clashes.users.extend(users::Entity::find().filter(any).all(&self.db).await?);
            let devices: Vec<String> = chunk.iter().flat_map(|a| a.devices.iter().cloned()).collect();
            if !devices.is_empty() {
                let found =
                    user_device::Entity::find().filter(user_device::Column::Id.is_in(devices)).all(&self.db).await?;
                clashes.devices.extend(found.into_iter().map(|d| (d.id, d.user_id)));
            }
        }
        Ok(clashes)
    }

    /// Inserts the accounts and their devices in one transaction: all of them or none.
    pub async fn import_accounts(&self, accounts: &[ImportedAccount]) -> Result<(), DbErr> {
        if accounts.is_empty() {
            return Ok(());
        }
        let txn = self.writer.begin().await?;
        for chunk in accounts.chunks(ROWS_PER_STATEMENT) {
            users::Entity::insert_many(chunk.iter().map(|a| users::ActiveModel::from(a.user.clone())))
                .exec_without_returning(&txn)
                .await?;
            let devices: Vec<user_device::ActiveModel> = chunk
                .iter()
                .flat_map(|a| a.devices.iter().map(|d| user_device::Model { id: d.clone(), user_id: a.user.id }.into()))
                .collect();
            for devices in devices.chunks(ROWS_PER_STATEMENT) {
                user_device::Entity::insert_many(devices.to_vec()).exec_without_returning(&txn).await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Inserts the edges that are not there yet, and recounts `edge_count` of their sources,
    /// in one transaction. Returns how many edges were new.
    pub async fn import_edges(&self, edges: &[user_edge::Model]) -> Result<u64, DbErr> {
        if edges.is_empty() {
            return Ok(0);
        }
        let txn = self.writer.begin().await?;
        let mut inserted = 0;
        for chunk in edges.chunks(ROWS_PER_STATEMENT) {
            let rows = chunk.iter().map(|e| user_edge::ActiveModel::from(e.clone()));
            // Already there (a resumed run): left as it is.
            let result = user_edge::Entity::insert_many(rows)
                .on_conflict(OnConflict::new().do_nothing().to_owned())
                .exec_without_returning(&txn)
                .await;
            inserted += match result {
                Ok(n) => n,
                Err(DbErr::RecordNotInserted) => 0,
                Err(e) => return Err(e),
            };
        }
        let mut sources: Vec<Uuid> = edges.iter().map(|e| e.source_id).collect();
        sources.dedup();
        for sources in sources.chunks(ROWS_PER_STATEMENT) {
            let count = Query::select()
                .expr(Expr::col((user_edge::Entity, user_edge::Column::SourceId)).count())
                .from(user_edge::Entity)
                .and_where(
                    Expr::col((user_edge::Entity, user_edge::Column::SourceId))
                        .equals((users::Entity, users::Column::Id)),
                )
                .to_owned();
            users::Entity::update_many()
                .col_expr(
                    users::Column::EdgeCount,
                    SimpleExpr::SubQuery(None, Box::new(count.into_sub_query_statement())),
                )
                .filter(users::Column::Id.is_in(sources.iter().copied()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(inserted)
    }
}

type IdentifierOf = fn(&users::Model) -> &Option<String>;

/// Every single-valued login identifier of an account: its column, the column's name, its value.
pub fn identifier_columns() -> [(users::Column, &'static str, IdentifierOf); 8] {
    [
        (users::Column::Email, "email", |u| &u.email),
        (users::Column::CustomId, "custom_id", |u| &u.custom_id),
        (users::Column::FacebookId, "facebook_id", |u| &u.facebook_id),
        (users::Column::GoogleId, "google_id", |u| &u.google_id),
        (users::Column::GamecenterId, "gamecenter_id", |u| &u.gamecenter_id),
        (users::Column::SteamId, "steam_id", |u| &u.steam_id),
        (users::Column::FacebookInstantGameId, "facebook_instant_game_id", |u| &u.facebook_instant_game_id),
        (users::Column::AppleId, "apple_id", |u| &u.apple_id),
    ]
}
