//! The console's lists: accounts newest first, users by (create_time, id); an account's
//! audit history, console_audit by (target, id).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    CreateTime,
}

#[derive(DeriveIden)]
enum ConsoleAudit {
    Table,
    Id,
    Target,
}

const NEWEST: &str = "users_create_time_id";
const BY_TARGET: &str = "console_audit_target_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create().name(NEWEST).table(Users::Table).col(Users::CreateTime).col(Users::Id).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_TARGET)
                    .table(ConsoleAudit::Table)
                    .col(ConsoleAudit::Target)
                    .col(ConsoleAudit::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(BY_TARGET).table(ConsoleAudit::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name(NEWEST).table(Users::Table).to_owned()).await
    }
}
