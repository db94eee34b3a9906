use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "id, username, display_name, avatar_url, lang_tag, location, timezone, metadata, wallet, \
    email, password, custom_id, facebook_id, google_id, gamecenter_id, steam_id, facebook_instant_game_id, \
    apple_id, edge_count, create_time, update_time, verify_time, disable_time";

/// SQLite only: a view whose INSERT creates an account and its first device in one
/// statement (PostgreSQL does the same with a data-modifying CTE). One statement is one
/// round trip to SQLite's single writer, instead of BEGIN, two INSERTs and COMMIT; a
/// constraint failure in the trigger undoes the whole statement.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE VIEW new_device_account AS SELECT {COLUMNS}, '' AS device_id FROM users WHERE 0"
        ))
        .await?;
        let values: Vec<String> = COLUMNS.split(", ").map(|c| format!("NEW.{}", c.trim())).collect();
        db.execute_unprepared(&format!(
            "CREATE TRIGGER new_device_account_insert INSTEAD OF INSERT ON new_device_account BEGIN \
             INSERT INTO users ({COLUMNS}) VALUES ({}); \
             INSERT INTO user_device (id, user_id) VALUES (NEW.device_id, NEW.id); END",
            values.join(", ")
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS new_device_account_insert").await?;
        db.execute_unprepared("DROP VIEW IF EXISTS new_device_account").await?;
        Ok(())
    }
}
