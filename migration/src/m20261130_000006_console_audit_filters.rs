//! The console's audit list filtered by staff user or action (newest first, by id), and the
//! retention sweep by time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ConsoleAudit {
    Table,
    Id,
    CreateTime,
    Username,
    Action,
}

const BY_USERNAME: &str = "console_audit_username_id";
const BY_ACTION: &str = "console_audit_action_id";
const BY_TIME: &str = "console_audit_create_time";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let index = |name: &str, columns: &[ConsoleAudit]| {
            let mut index = Index::create();
            index.name(name).table(ConsoleAudit::Table);
            for column in columns {
                index.col(*column);
            }
            index.to_owned()
        };
        manager.create_index(index(BY_USERNAME, &[ConsoleAudit::Username, ConsoleAudit::Id])).await?;
        manager.create_index(index(BY_ACTION, &[ConsoleAudit::Action, ConsoleAudit::Id])).await?;
        manager.create_index(index(BY_TIME, &[ConsoleAudit::CreateTime])).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [BY_USERNAME, BY_ACTION, BY_TIME] {
            manager.drop_index(Index::drop().name(name).table(ConsoleAudit::Table).to_owned()).await?;
        }
        Ok(())
    }
}
