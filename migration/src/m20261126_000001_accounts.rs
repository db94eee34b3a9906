use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    AvatarUrl,
    LangTag,
    Location,
    Timezone,
    Metadata,
    Wallet,
    Email,
    Password,
    CustomId,
    FacebookId,
    GoogleId,
    GamecenterId,
    SteamId,
    FacebookInstantGameId,
    AppleId,
    EdgeCount,
    CreateTime,
    UpdateTime,
    VerifyTime,
    DisableTime,
}

#[derive(DeriveIden)]
enum UserDevice {
    Table,
    Id,
    UserId,
}

#[derive(DeriveIden)]
enum RevokedToken {
    Table,
    Tid,
    Kind,
    UserId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SessionInvalidation {
    Table,
    UserId,
    InvalidatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginFailure {
    Table,
    UserId,
    Failures,
    WindowStart,
}

/// A nullable identifier column of `users`; uniqueness comes from `unique_identifier`.
fn identifier(column: Users, len: u32) -> ColumnDef {
    ColumnDef::new(column).string_len(len).null().to_owned()
}

/// Unique among the accounts that have one: a partial index, so the many accounts without
/// the identifier add no index entry (a sign-up writes 3 index pages instead of 10). Named
/// `users_<column>_key` as Nakama's constraints, so logs and dashboards read the same.
fn unique_identifier(name: &str, column: Users) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(Users::Table)
        .col(column.clone())
        .unique()
        .and_where(Expr::col(column).is_not_null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Users::Username).string_len(128).not_null().unique_key())
                    .col(ColumnDef::new(Users::DisplayName).string_len(255).null())
                    .col(ColumnDef::new(Users::AvatarUrl).string_len(512).null())
                    .col(ColumnDef::new(Users::LangTag).string_len(18).not_null().default("en"))
                    .col(ColumnDef::new(Users::Location).string_len(255).null())
                    .col(ColumnDef::new(Users::Timezone).string_len(255).null())
                    .col(ColumnDef::new(Users::Metadata).text().not_null().default("{}"))
                    .col(ColumnDef::new(Users::Wallet).text().not_null().default("{}"))
                    .col(identifier(Users::Email, 255))
                    .col(ColumnDef::new(Users::Password).text().null())
                    .col(identifier(Users::CustomId, 128))
                    .col(identifier(Users::FacebookId, 128))
                    .col(identifier(Users::GoogleId, 128))
                    .col(identifier(Users::GamecenterId, 128))
                    .col(identifier(Users::SteamId, 128))
                    .col(identifier(Users::FacebookInstantGameId, 128))
                    .col(identifier(Users::AppleId, 128))
                    .col(ColumnDef::new(Users::EdgeCount).integer().not_null().default(0))
                    .col(ColumnDef::new(Users::CreateTime).big_integer().not_null())
                    .col(ColumnDef::new(Users::UpdateTime).big_integer().not_null())
                    .col(ColumnDef::new(Users::VerifyTime).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Users::DisableTime).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;

        for (name, column) in [
            ("users_email_key", Users::Email),
            ("users_custom_id_key", Users::CustomId),
            ("users_facebook_id_key", Users::FacebookId),
            ("users_google_id_key", Users::GoogleId),
            ("users_gamecenter_id_key", Users::GamecenterId),
            ("users_steam_id_key", Users::SteamId),
            ("users_facebook_instant_game_id_key", Users::FacebookInstantGameId),
            ("users_apple_id_key", Users::AppleId),
        ] {
            manager.create_index(unique_identifier(name, column)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(UserDevice::Table)
                    .col(ColumnDef::new(UserDevice::Id).string_len(128).not_null().primary_key())
                    .col(ColumnDef::new(UserDevice::UserId).uuid().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("user_device_user_id_fkey")
                            .from(UserDevice::Table, UserDevice::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("user_device_user_id_idx")
                    .table(UserDevice::Table)
                    .col(UserDevice::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RevokedToken::Table)
                    .col(ColumnDef::new(RevokedToken::Tid).uuid().not_null())
                    .col(ColumnDef::new(RevokedToken::Kind).small_integer().not_null())
                    .col(ColumnDef::new(RevokedToken::UserId).uuid().not_null())
                    .col(ColumnDef::new(RevokedToken::ExpiresAt).big_integer().not_null())
                    .primary_key(Index::create().col(RevokedToken::Tid).col(RevokedToken::Kind))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("revoked_token_expires_at_idx")
                    .table(RevokedToken::Table)
                    .col(RevokedToken::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SessionInvalidation::Table)
                    .col(ColumnDef::new(SessionInvalidation::UserId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(SessionInvalidation::InvalidatedAt).big_integer().not_null())
                    .col(ColumnDef::new(SessionInvalidation::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginFailure::Table)
                    .col(ColumnDef::new(LoginFailure::UserId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LoginFailure::Failures).integer().not_null())
                    .col(ColumnDef::new(LoginFailure::WindowStart).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginFailure::Table.into_iden(),
            SessionInvalidation::Table.into_iden(),
            RevokedToken::Table.into_iden(),
            UserDevice::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
