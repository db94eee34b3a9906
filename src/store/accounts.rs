//! Account rows: lookup by identifier, creation with the first identifier in one
//! transaction, profile updates, link and unlink, deletion.

use entity::{login_attempt, user_device, user_edge, users};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IdenStatic, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait, Value,
};
use uuid::Uuid;

use super::batch::DeviceSignUp;

use super::{unique_violation, Store};

/// A login identifier: a device row, or one unique column of `users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identifier {
    Device(String),
    Custom(String),
    Email(String),
    Apple(String),
    Facebook(String),
    FacebookInstantGame(String),
    Google(String),
    GameCenter(String),
    Steam(String),
}

impl Identifier {
    pub fn value(&self) -> &str {
        match self {
            Identifier::Device(v)
            | Identifier::Custom(v)
            | Identifier::Email(v)
            | Identifier::Apple(v)
            | Identifier::Facebook(v)
            | Identifier::FacebookInstantGame(v)
            | Identifier::Google(v)
            | Identifier::GameCenter(v)
            | Identifier::Steam(v) => v,
        }
    }

    /// The `users` column holding this identifier; `None` for devices.
    pub fn column(&self) -> Option<users::Column> {
        Some(match self {
            Identifier::Device(_) => return None,
            Identifier::Custom(_) => users::Column::CustomId,
            Identifier::Email(_) => users::Column::Email,
            Identifier::Apple(_) => users::Column::AppleId,
            Identifier::Facebook(_) => users::Column::FacebookId,
            Identifier::FacebookInstantGame(_) => users::Column::FacebookInstantGameId,
            Identifier::Google(_) => users::Column::GoogleId,
            Identifier::GameCenter(_) => users::Column::GamecenterId,
            Identifier::Steam(_) => users::Column::SteamId,
        })
    }
}

/// Every single-valued identifier column; an account keeps at least one of these or a device.
pub const IDENTIFIER_COLUMNS: [users::Column; 8] = [
    users::Column::AppleId,
    users::Column::CustomId,
    users::Column::Email,
    users::Column::FacebookId,
    users::Column::FacebookInstantGameId,
    users::Column::GamecenterId,
    users::Column::GoogleId,
    users::Column::SteamId,
];

pub struct NewAccount {
    pub username: String,
    pub identifier: Identifier,
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// A provider-supplied email stored beside a social identifier.
    pub email: Option<String>,
    pub now: i64,
}

/// The columns of an account a login reads.
#[derive(Clone, Debug)]
pub struct Login {
    pub id: Uuid,
    pub username: String,
    /// 0 = not banned.
    pub disable_time: i64,
    pub password: Option<String>,
}

impl From<users::Model> for Login {
    fn from(u: users::Model) -> Self {
        Login { id: u.id, username: u.username, disable_time: u.disable_time, password: u.password }
    }
}

/// An imported (bcrypt) hash to replace with argon2id once a login proved the password.
#[derive(Clone, Debug)]
pub struct PasswordUpgrade {
    pub user_id: Uuid,
    /// The hash the login verified: replaced only while the row still holds it.
    pub old: String,
    pub new: String,
}

#[derive(Debug)]
pub enum CreateError {
    UsernameTaken,
    IdentifierTaken,
    Db(DbErr),
}

/// Fields of `PUT /v2/account`: `Some("")` clears a column, `None` leaves it.
#[derive(Clone, Debug, Default)]
pub struct AccountUpdate {
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub lang_tag: Option<String>,
    pub location: Option<String>,
    pub timezone: Option<String>,
    /// A JSON object as text (the console only; the client API cannot set it).
    pub metadata: Option<String>,
}

impl AccountUpdate {
    /// No field given: nothing to update.
    pub fn is_empty(&self) -> bool {
        let AccountUpdate { username, display_name, avatar_url, lang_tag, location, timezone, metadata } = self;
        [username, display_name, avatar_url, lang_tag, location, timezone, metadata].iter().all(|f| f.is_none())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum UnlinkOutcome {
    Unlinked,
    /// Nothing matched, or it was the account's last identifier.
    Refused,
}

/// PostgreSQL: insert an account and its first device in one statement.
pub(crate) const INSERT_USER_WITH_DEVICE: &str = "WITH new_user AS (INSERT INTO users (id, username, display_name, \
    avatar_url, lang_tag, location, timezone, metadata, wallet, email, password, custom_id, facebook_id, \
    google_id, gamecenter_id, steam_id, facebook_instant_game_id, apple_id, edge_count, create_time, \
    update_time, verify_time, disable_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
    $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)) \
    INSERT INTO user_device (id, user_id) VALUES ($24, $1)";

/// SQLite: the same through the `new_device_account` view (migration 4).
pub(crate) const INSERT_USER_WITH_DEVICE_SQLITE: &str = "INSERT INTO new_device_account (id, username, display_name, \
    avatar_url, lang_tag, location, timezone, metadata, wallet, email, password, custom_id, facebook_id, \
    google_id, gamecenter_id, steam_id, facebook_instant_game_id, apple_id, edge_count, create_time, \
    update_time, verify_time, disable_time, device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
    ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The values of the users columns of both statements, in order.
pub(crate) fn user_values(m: &users::Model) -> Vec<Value> {
    vec![
        m.id.into(),
        m.username.clone().into(),
        m.display_name.clone().into(),
        m.avatar_url.clone().into(),
        m.lang_tag.clone().into(),
        m.location.clone().into(),
        m.timezone.clone().into(),
        m.metadata.clone().into(),
        m.wallet.clone().into(),
        m.email.clone().into(),
        m.password.clone().into(),
        m.custom_id.clone().into(),
        m.facebook_id.clone().into(),
        m.google_id.clone().into(),
        m.gamecenter_id.clone().into(),
        m.steam_id.clone().into(),
        m.facebook_instant_game_id.clone().into(),
        m.apple_id.clone().into(),
        m.edge_count.into(),
        m.create_time.into(),
        m.update_time.into(),
        m.verify_time.into(),
        m.disable_time.into(),
    ]
}

fn or_null(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl Store {
    pub async fn find_user(&self, id: Uuid) -> Result<Option<users::Model>, DbErr> {
        users::Entity::find_by_id(id).one(&self.db).await
    }

    pub async fn find_user_by_username(&self, username: &str) -> Result<Option<users::Model>, DbErr> {
        users::Entity::find().filter(users::Column::Username.eq(username)).one(&self.db).await
    }

    /// What a login needs of the account holding `identifier`: a narrow row, as this is
    /// the query behind every login.
    pub async fn find_login(&self, identifier: &Identifier) -> Result<Option<Login>, DbErr> {
        if let Identifier::Device(device) = identifier {
            if let Some(found) = self.batches.find_device.call(device.clone()).await {
                return Ok(found?);
            }
        }
        let query = match identifier.column() {
            Some(column) => users::Entity::find().filter(column.eq(identifier.value())),
            None => users::Entity::find()
                .inner_join(user_device::Entity)
                .filter(user_device::Column::Id.eq(identifier.value())),
        };
        let row: Option<(Uuid, String, i64, Option<String>)> = query
            .select_only()
            .columns([users::Column::Id, users::Column::Username, users::Column::DisableTime, users::Column::Password])
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(row.map(|(id, username, disable_time, password)| Login { id, username, disable_time, password }))
    }

    /// Inserts the account and its first identifier in one transaction.
    pub async fn create_account(&self, new: NewAccount) -> Result<users::Model, CreateError> {
        let id = Uuid::new_v4();
        let mut model = users::Model {
            id,
            username: new.username,
            display_name: or_null(new.display_name),
            avatar_url: or_null(new.avatar_url),
            lang_tag: "en".into(),
            location: None,
            timezone: None,
            metadata: "{}".into(),
            wallet: "{}".into(),
            email: or_null(new.email),
            password: new.password,
            custom_id: None,
            facebook_id: None,
            google_id: None,
            gamecenter_id: None,
            steam_id: None,
            facebook_instant_game_id: None,
            apple_id: None,
            edge_count: 0,
            create_time: new.now,
            update_time: new.now,
            verify_time: 0,
            disable_time: 0,
        };
        let value = Some(new.identifier.value().to_string());
        match &new.identifier {
            Identifier::Device(_) => {}
            Identifier::Custom(_) => model.custom_id = value,
            Identifier::Email(_) => model.email = value,
            Identifier::Apple(_) => model.apple_id = value,
            Identifier::Facebook(_) => model.facebook_id = value,
            Identifier::FacebookInstantGame(_) => model.facebook_instant_game_id = value,
            Identifier::Google(_) => model.google_id = value,
            Identifier::GameCenter(_) => model.gamecenter_id = value,
            Identifier::Steam(_) => model.steam_id = value,
        }
        let classify = |err: DbErr| match unique_violation(&err) {
            Some(message) if message.contains("username") => CreateError::UsernameTaken,
            Some(_) => CreateError::IdentifierTaken,
            None => CreateError::Db(err),
        };
        let plain = model.password.is_none()
            && model.display_name.is_none()
            && model.avatar_url.is_none()
            && model.email.is_none();
        if let (Identifier::Device(device), true) = (&new.identifier, plain) {
            let sign_up = DeviceSignUp { id, username: model.username.clone(), device: device.clone(), now: new.now };
            if let Some(inserted) = self.batches.insert_device.call(sign_up).await {
                inserted.map_err(|e| CreateError::Db(e.into()))?;
                return Ok(model);
            }
            // The batch failed: this call goes alone, which tells a conflict of its own.
        }
        match &new.identifier {
            Identifier::Device(device) if self.writer.get_database_backend() == DbBackend::Postgres => {
                // One statement, one round trip: the account and its device or neither.
                let statement = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    INSERT_USER_WITH_DEVICE,
                    user_values(&model).into_iter().chain([device.clone().into()]),
                );
                self.writer.execute(statement).await.map_err(classify)?;
            }
            Identifier::Device(device) => {
                // SQLite: the new_device_account view's trigger inserts both rows.
                let statement = Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    INSERT_USER_WITH_DEVICE_SQLITE,
                    user_values(&model).into_iter().chain([device.clone().into()]),
                );
                self.writer.execute(statement).await.map_err(classify)?;
            }
            _ => {
                users::Entity::insert(users::ActiveModel::from(model.clone()))
                    .exec_without_returning(&self.writer)
                    .await
                    .map_err(classify)?;
            }
        }
        Ok(model)
    }

    pub async fn devices_of(&self, user_id: Uuid) -> Result<Vec<String>, DbErr> {
        Ok(user_device::Entity::find()
            .filter(user_device::Column::UserId.eq(user_id))
            .order_by_asc(user_device::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect())
    }

    /// Users whose id, username or Facebook id is in the given lists.
    pub async fn find_users(
        &self,
        ids: &[Uuid],
        usernames: &[String],
        facebook_ids: &[String],
    ) -> Result<Vec<users::Model>, DbErr> {
        let mut any = Condition::any();
        if !ids.is_empty() {
            any = any.add(users::Column::Id.is_in(ids.iter().copied()));
        }
        if !usernames.is_empty() {
            any = any.add(users::Column::Username.is_in(usernames.iter().cloned()));
        }
        if !facebook_ids.is_empty() {
            any = any.add(users::Column::FacebookId.is_in(facebook_ids.iter().cloned()));
        }
        if any.is_empty() {
            return Ok(Vec::new());
        }
        users::Entity::find().filter(any).order_by_asc(users::Column::Username).all(&self.db).await
    }

    /// Applies `update` to the row if anything differs. `Ok(false)`: nothing to change or
    /// no such user. A taken username is reported as a unique violation in `Err`.
    pub async fn update_account(&self, user: &users::Model, update: AccountUpdate, now: i64) -> Result<bool, DbErr> {
        let mut active = users::ActiveModel::from(user.clone());
        let mut changed = false;
        if let Some(username) = update.username {
            if username != user.username {
                active.username = Set(username);
                changed = true;
            }
        }
        let mut set_optional =
            |field: Option<String>, current: &Option<String>, slot: &mut sea_orm::ActiveValue<Option<String>>| {
                if let Some(value) = field {
                    let value = or_null(Some(value));
                    if &value != current {
                        *slot = Set(value);
                        changed = true;
                    }
                }
            };
        set_optional(update.display_name, &user.display_name, &mut active.display_name);
        set_optional(update.avatar_url, &user.avatar_url, &mut active.avatar_url);
        set_optional(update.location, &user.location, &mut active.location);
        set_optional(update.timezone, &user.timezone, &mut active.timezone);
        if let Some(metadata) = update.metadata {
            if metadata != user.metadata {
                active.metadata = Set(metadata);
                changed = true;
            }
        }
        if let Some(lang) = update.lang_tag {
            if lang != user.lang_tag {
                active.lang_tag = Set(lang);
                changed = true;
            }
        }
        if !changed {
            return Ok(false);
        }
        active.update_time = Set(now);
        active.update(&self.writer).await.map(|_| true).or_else(|e| match e {
            DbErr::RecordNotUpdated => Ok(false),
            e => Err(e),
        })
    }

    /// Removes the account; devices go by cascade. `Ok(false)` when it was already gone.
    pub async fn delete_account(&self, user_id: Uuid) -> Result<bool, DbErr> {
        let txn = self.writer.begin().await?;
        // SQLite honours ON DELETE CASCADE only with foreign_keys on; delete explicitly
        // so a database opened by another tool cannot leave orphans.
        user_device::Entity::delete_many().filter(user_device::Column::UserId.eq(user_id)).exec(&txn).await?;
        // Friends lose their edge to this account, and its count.
        users::Entity::update_many()
            .col_expr(users::Column::EdgeCount, Expr::col(users::Column::EdgeCount).sub(1))
            .filter(
                users::Column::Id.in_subquery(
                    Query::select()
                        .column(user_edge::Column::SourceId)
                        .from(user_edge::Entity)
                        .and_where(Expr::col(user_edge::Column::DestinationId).eq(user_id))
                        .to_owned(),
                ),
            )
            .exec(&txn)
            .await?;
        user_edge::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(user_edge::Column::SourceId.eq(user_id))
                    .add(user_edge::Column::DestinationId.eq(user_id)),
            )
            .exec(&txn)
            .await?;
        let result = users::Entity::delete_by_id(user_id).exec(&txn).await?;
        txn.commit().await?;
        Ok(result.rows_affected > 0)
    }

    /// Adds a device to the account. `Ok(Some(owner))` when the device already exists.
    pub async fn link_device(&self, user_id: Uuid, device_id: &str, now: i64) -> Result<Option<Uuid>, DbErr> {
        let txn = self.writer.begin().await?;
        let inserted = user_device::Entity::insert(user_device::ActiveModel {
            id: Set(device_id.to_string()),
            user_id: Set(user_id),
        })
        .exec_without_returning(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if unique_violation(&e).is_some() => {
                drop(txn);
                let owner = user_device::Entity::find_by_id(device_id.to_string()).one(&self.db).await?;
                return Ok(Some(owner.map(|d| d.user_id).unwrap_or_default()));
            }
            Err(e) => return Err(e),
        }
        users::Entity::update_many()
            .col_expr(users::Column::UpdateTime, Expr::value(now))
            .filter(users::Column::Id.eq(user_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(None)
    }

    /// Sets a single-valued identifier (and optionally the password). `Ok(false)` when no
    /// row was updated (the account is gone). A value owned by another account is a
    /// unique violation in `Err`.
    pub async fn set_identifier(
        &self,
        user_id: Uuid,
        identifier: &Identifier,
        password: Option<String>,
        now: i64,
    ) -> Result<bool, DbErr> {
        let Some(column) = identifier.column() else {
            return Ok(false);
        };
        let mut update = users::Entity::update_many()
            .col_expr(column, Expr::value(identifier.value()))
            .col_expr(users::Column::UpdateTime, Expr::value(now));
        if let Some(password) = password {
            update = update.col_expr(users::Column::Password, Expr::value(password));
        }
        let result = update.filter(users::Column::Id.eq(user_id)).exec(&self.writer).await?;
        Ok(result.rows_affected > 0)
    }

    /// Sets the display name and avatar from a provider, each only where it is empty.
    pub async fn fill_empty_profile(
        &self,
        user_id: Uuid,
        display_name: Option<&str>,
        avatar_url: Option<&str>,
        now: i64,
    ) -> Result<(), DbErr> {
        for (column, value) in [(users::Column::DisplayName, display_name), (users::Column::AvatarUrl, avatar_url)] {
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            users::Entity::update_many()
                .col_expr(column, Expr::value(value))
                .col_expr(users::Column::UpdateTime, Expr::value(now))
                .filter(users::Column::Id.eq(user_id))
                .filter(Condition::any().add(column.is_null()).add(column.eq("")))
                .exec(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Overwrites the email with a provider's (the password stays). An email owned by another
    /// account is a unique violation in `Err`.
    pub async fn import_email(&self, user_id: Uuid, email: &str, now: i64) -> Result<(), DbErr> {
        users::Entity::update_many()
            .col_expr(users::Column::Email, Expr::value(email))
            .col_expr(users::Column::UpdateTime, Expr::value(now))
            .filter(users::Column::Id.eq(user_id))
            .exec(&self.writer)
            .await
            .map(|_| ())
    }

    /// Clears `column` (and the password with the email) when it matches `expected` (any
    /// value when `None`) and the account keeps another identifier afterwards.
    pub async fn unlink_column(
        &self,
        user_id: Uuid,
        column: users::Column,
        expected: Option<&str>,
        now: i64,
    ) -> Result<UnlinkOutcome, DbErr> {
        let mut keeps_another = Condition::any().add(device_exists(user_id));
        for other in IDENTIFIER_COLUMNS.iter().filter(|c| c.as_str() != column.as_str()) {
            keeps_another = keeps_another.add(other.is_not_null());
        }
        let mut filter = Condition::all().add(users::Column::Id.eq(user_id)).add(keeps_another);
        if let Some(value) = expected {
            filter = filter.add(column.eq(value));
        }
        let mut update = users::Entity::update_many()
            .col_expr(column, Expr::value(Option::<String>::None))
            .col_expr(users::Column::UpdateTime, Expr::value(now));
        if column.as_str() == users::Column::Email.as_str() {
            update = update.col_expr(users::Column::Password, Expr::value(Option::<String>::None));
        }
        let txn = self.writer.begin().await?;
        lock_account(&txn, user_id).await?;
        let result = update.filter(filter).exec(&txn).await?;
        txn.commit().await?;
        Ok(if result.rows_affected > 0 { UnlinkOutcome::Unlinked } else { UnlinkOutcome::Refused })
    }

    /// Removes the caller's device when the account keeps another device or identifier.
    pub async fn unlink_device(&self, user_id: Uuid, device_id: &str, now: i64) -> Result<UnlinkOutcome, DbErr> {
        let mut keeps_another = Condition::any().add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(user_device::Entity)
                .and_where(Expr::col((user_device::Entity, user_device::Column::UserId)).eq(user_id))
                .and_where(Expr::col((user_device::Entity, user_device::Column::Id)).ne(device_id))
                .to_owned(),
        ));
        let mut columns = Condition::any();
        for column in IDENTIFIER_COLUMNS {
            columns = columns.add(Expr::col((users::Entity, column)).is_not_null());
        }
        keeps_another = keeps_another.add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(users::Entity)
                .and_where(Expr::col((users::Entity, users::Column::Id)).eq(user_id))
                .cond_where(columns)
                .to_owned(),
        ));
        let txn = self.writer.begin().await?;
        lock_account(&txn, user_id).await?;
        let result = user_device::Entity::delete_many()
            .filter(user_device::Column::Id.eq(device_id))
            .filter(user_device::Column::UserId.eq(user_id))
            .filter(keeps_another)
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(UnlinkOutcome::Refused);
        }
        users::Entity::update_many()
            .col_expr(users::Column::UpdateTime, Expr::value(now))
            .filter(users::Column::Id.eq(user_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(UnlinkOutcome::Unlinked)
    }

    /// Ends a password login that passed, in one transaction: forgets the attempts counted
    /// for `attempts_key` and stores the argon2id replacement of an imported hash. The
    /// replacement is a compare-and-set on the old hash, so of concurrent logins one stores
    /// its hash and the others change nothing. `Ok(true)`: this call replaced the hash.
    pub async fn finish_password_login(
        &self,
        attempts_key: Option<&str>,
        upgrade: Option<&PasswordUpgrade>,
    ) -> Result<bool, DbErr> {
        let txn = self.writer.begin().await?;
        if let Some(key) = attempts_key {
            login_attempt::Entity::delete_by_id(key.to_string()).exec(&txn).await?;
        }
        let mut upgraded = false;
        if let Some(upgrade) = upgrade {
            let result = users::Entity::update_many()
                .col_expr(users::Column::Password, Expr::value(upgrade.new.clone()))
                .filter(users::Column::Id.eq(upgrade.user_id))
                .filter(users::Column::Password.eq(upgrade.old.clone()))
                .exec(&txn)
                .await?;
            upgraded = result.rows_affected > 0;
        }
        txn.commit().await?;
        Ok(upgraded)
    }

    /// Sets `disable_time` (ban when > 0, unban with 0). `Ok(false)` when no such user.
    pub async fn set_disable_time(&self, user_id: Uuid, disable_time: i64) -> Result<bool, DbErr> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::DisableTime, Expr::value(disable_time))
            .filter(users::Column::Id.eq(user_id))
            .exec(&self.writer)
            .await?;
        Ok(result.rows_affected > 0)
    }
}

/// Takes the account row's lock for the rest of the transaction (PostgreSQL; SQLite's one
/// writer serialises every transaction anyway). Each unlink checks "another identifier
/// remains" and then removes one: without the lock, two concurrent unlinks under READ
/// COMMITTED each see the other's identifier and together remove both.
async fn lock_account(txn: &DatabaseTransaction, user_id: Uuid) -> Result<(), DbErr> {
    users::Entity::find_by_id(user_id)
        .select_only()
        .column(users::Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .one(txn)
        .await
        .map(|_| ())
}

fn device_exists(user_id: Uuid) -> sea_orm::sea_query::SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(user_device::Entity)
            .and_where(Expr::col((user_device::Entity, user_device::Column::UserId)).eq(user_id))
            .to_owned(),
    )
}
