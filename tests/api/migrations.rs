//! Every migration applies, reverts and applies again on both databases (`hearth migrate`).

use crate::helpers::{test_config, Backend, TestDb};

async fn down_and_up_again(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else { return };
    let config = test_config(&db.url);
    let store = hearth::store::Store::connect(&config.database).await.expect("connect");
    store.migrate_up().await.expect("up");
    let all = store.migration_status().await.expect("status");
    assert!(all.len() >= 5 && all.iter().all(|(_, applied)| *applied), "{all:?}");
    for n in (0..all.len()).rev() {
        store.migrate_down().await.unwrap_or_else(|e| panic!("down of {}: {e}", all[n].0));
        let status = store.migration_status().await.expect("status");
        assert_eq!(status.iter().filter(|(_, applied)| *applied).count(), n);
    }
    store.migrate_up().await.expect("up again");
    assert!(store.migration_status().await.expect("status").iter().all(|(_, applied)| *applied));
    store.close().await;
}

#[actix_rt::test]
async fn every_migration_reverts_and_reapplies_on_sqlite() {
    down_and_up_again(Backend::Sqlite).await;
}

#[actix_rt::test]
async fn every_migration_reverts_and_reapplies_on_postgres() {
    down_and_up_again(Backend::Postgres).await;
}

/// SQLite's one-statement sign-up inserts through the `new_device_account` view (migration
/// 4), whose trigger names the columns of `users`: a column added to `users` by a later
/// migration must reach the view too.
#[actix_rt::test]
async fn the_sqlite_sign_up_view_has_every_column_of_users() {
    use sqlx::{Connection, Row};
    let Some(db) = TestDb::create(Backend::Sqlite).await else { return };
    let config = test_config(&db.url);
    let store = hearth::store::Store::connect(&config.database).await.expect("connect");
    store.migrate_up().await.expect("up");
    store.close().await;
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("open");
    let mut columns = Vec::new();
    for table in ["users", "new_device_account"] {
        let rows = sqlx::query(&format!("PRAGMA table_info({table})")).fetch_all(&mut conn).await.expect("pragma");
        let mut names: Vec<String> = rows.iter().map(|r| r.get::<String, _>("name")).collect();
        names.retain(|n| n != "device_id");
        names.sort();
        columns.push(names);
    }
    assert_eq!(columns[0].len(), 23);
    assert_eq!(columns[0], columns[1]);
}
