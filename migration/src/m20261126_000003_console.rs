//! The console's tables: the audit trail, staff login failures, logged-out console tokens.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleAudit {
    Table,
    Id,
    CreateTime,
    Username,
    Action,
    Target,
    ClientAddress,
    Result,
}

#[derive(DeriveIden)]
enum ConsoleLoginFailure {
    Table,
    Username,
    Failures,
    WindowStart,
}

#[derive(DeriveIden)]
enum ConsoleRevokedToken {
    Table,
    Cki,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite autoincrements only an INTEGER primary key (which is 64-bit there).
        let mut id = ColumnDef::new(ConsoleAudit::Id);
        match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Sqlite => id.integer(),
            _ => id.big_integer(),
        };
        manager
            .create_table(
                Table::create()
                    .table(ConsoleAudit::Table)
                    .col(id.not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(ConsoleAudit::CreateTime).big_integer().not_null())
                    .col(ColumnDef::new(ConsoleAudit::Username).string_len(128).not_null())
                    .col(ColumnDef::new(ConsoleAudit::Action).string_len(64).not_null())
                    .col(ColumnDef::new(ConsoleAudit::Target).string_len(64).not_null())
                    .col(ColumnDef::new(ConsoleAudit::ClientAddress).string_len(64).not_null())
                    .col(ColumnDef::new(ConsoleAudit::Result).string_len(255).not_null())
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
        manager
            .create_table(
                Table::create()
                    .table(ConsoleRevokedToken::Table)
                    .col(ColumnDef::new(ConsoleRevokedToken::Cki).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ConsoleRevokedToken::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConsoleRevokedToken::Table.into_iden(),
            ConsoleLoginFailure::Table.into_iden(),
            ConsoleAudit::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
