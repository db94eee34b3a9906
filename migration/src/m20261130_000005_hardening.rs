//! Wave 2 hardening: one table of login attempts for client and console lockouts (an
//! attempt is reserved before the password is checked), the tokens kept by an
//! invalidation within its own second, the longest token lifetime ever in force, and an
//! index for the console's case-insensitive email search.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginAttempt {
    Table,
    Key,
    Attempts,
    WindowStart,
}

#[derive(DeriveIden)]
enum LoginFailure {
    Table,
    UserId,
    Failures,
    WindowStart,
}

#[derive(DeriveIden)]
enum ConsoleLoginFailure {
    Table,
    Username,
    Failures,
    WindowStart,
}

#[derive(DeriveIden)]
enum SessionInvalidation {
    Table,
    KeptTids,
}

#[derive(DeriveIden)]
enum TokenLifetime {
    Table,
    Id,
    LongestSec,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginAttempt::Table)
                    .col(ColumnDef::new(LoginAttempt::Key).string_len(160).not_null().primary_key())
                    .col(ColumnDef::new(LoginAttempt::Attempts).integer().not_null())
                    .col(ColumnDef::new(LoginAttempt::WindowStart).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // The old counters held open lockout windows only (minutes long); they start afresh.
        manager.drop_table(Table::drop().table(LoginFailure::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ConsoleLoginFailure::Table).to_owned()).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SessionInvalidation::Table)
                    .add_column(ColumnDef::new(SessionInvalidation::KeptTids).text().not_null().default(""))
                    .to_owned(),
            )
            .await?;
        // The console's exact search compares emails with A-Z in either case (store/console.rs):
        // an index on that expression keeps it from scanning every account.
        let email_index = match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => {
                r#"CREATE INDEX users_email_lower_idx ON users (lower(email COLLATE "C"))"#
            }
            _ => "CREATE INDEX users_email_lower_idx ON users (lower(email))",
        };
        manager.get_connection().execute_unprepared(email_index).await?;
        manager
            .create_table(
                Table::create()
                    .table(TokenLifetime::Table)
                    .col(ColumnDef::new(TokenLifetime::Id).small_integer().not_null().primary_key())
                    .col(ColumnDef::new(TokenLifetime::LongestSec).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TokenLifetime::Table).to_owned()).await?;
        manager.get_connection().execute_unprepared("DROP INDEX users_email_lower_idx").await?;
        manager
            .alter_table(
                Table::alter().table(SessionInvalidation::Table).drop_column(SessionInvalidation::KeptTids).to_owned(),
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
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsoleLoginFailure::Table)
                    .col(ColumnDef::new(ConsoleLoginFailure::Username).string_len(128).not_null().primary_key())
                    .col(ColumnDef::new(ConsoleLoginFailure::Failures).integer().not_null())
                    .col(ColumnDef::new(ConsoleLoginFailure::WindowStart).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(LoginAttempt::Table).to_owned()).await
    }
}
