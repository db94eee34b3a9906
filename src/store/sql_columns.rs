//! The hand-written SQL of the hot paths (store::batch, the one-statement sign-up) names the
//! columns of `users` itself. These tests fail when a column is added to the entity (or
//! renamed) without the statements following.

use entity::users;
use sea_orm::{ColumnTrait, IdenStatic, Iterable};

use super::accounts::{user_values, INSERT_USER_WITH_DEVICE, INSERT_USER_WITH_DEVICE_SQLITE};
use super::batch::{PG_FIND_DEVICES, PG_INSERT_DEVICE_ACCOUNTS, SQLITE_FIND_DEVICES, SQLITE_INSERT_DEVICE_ACCOUNTS};

/// Columns of `users` the batched inserts leave to their database defaults (every other
/// column is listed in them); a test checks the two lists against the entity.
const DEFAULTED_BY_PG_BATCH: [&str; 19] = [
    "display_name",
    "avatar_url",
    "lang_tag",
    "location",
    "timezone",
    "metadata",
    "wallet",
    "email",
    "password",
    "custom_id",
    "facebook_id",
    "google_id",
    "gamecenter_id",
    "steam_id",
    "facebook_instant_game_id",
    "apple_id",
    "edge_count",
    "verify_time",
    "disable_time",
];

/// The same for the SQLite batch, which goes through a view: a view has no defaults, so
/// only the nullable columns are left out.
const DEFAULTED_BY_SQLITE_BATCH: [&str; 13] = [
    "display_name",
    "avatar_url",
    "location",
    "timezone",
    "email",
    "password",
    "custom_id",
    "facebook_id",
    "google_id",
    "gamecenter_id",
    "steam_id",
    "facebook_instant_game_id",
    "apple_id",
];

fn entity_columns() -> Vec<String> {
    users::Column::iter().map(|c| c.as_str().to_string()).collect()
}

/// The column list in `(...)` right after `into` in `sql`.
fn listed(sql: &str, into: &str) -> Vec<String> {
    let start = sql.find(into).unwrap_or_else(|| panic!("{into} not in {sql}")) + into.len();
    let rest = sql[start..].trim_start().strip_prefix('(').expect("a column list");
    let end = rest.find(')').expect("the end of the column list");
    rest[..end].split(',').map(|c| c.trim().to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn the_one_statement_sign_ups_list_every_column_in_the_entitys_order() {
    assert_eq!(listed(INSERT_USER_WITH_DEVICE, "INSERT INTO users"), entity_columns());
    let mut sqlite = listed(INSERT_USER_WITH_DEVICE_SQLITE, "INSERT INTO new_device_account");
    assert_eq!(sqlite.pop().as_deref(), Some("device_id"));
    assert_eq!(sqlite, entity_columns());
    let model = users::Model {
        id: uuid::Uuid::nil(),
        username: String::new(),
        display_name: None,
        avatar_url: None,
        lang_tag: String::new(),
        location: None,
        timezone: None,
        metadata: String::new(),
        wallet: String::new(),
        email: None,
        password: None,
        custom_id: None,
        facebook_id: None,
        google_id: None,
        gamecenter_id: None,
        steam_id: None,
        facebook_instant_game_id: None,
        apple_id: None,
        edge_count: 0,
        create_time: 0,
        update_time: 0,
        verify_time: 0,
        disable_time: 0,
    };
    assert_eq!(user_values(&model).len(), entity_columns().len());
}

#[test]
fn the_batched_sign_ups_list_or_default_every_column() {
    let mut pg = listed(PG_INSERT_DEVICE_ACCOUNTS, "INSERT INTO users");
    pg.extend(DEFAULTED_BY_PG_BATCH.iter().map(|c| c.to_string()));
    assert_eq!(sorted(pg), sorted(entity_columns()));

    let mut sqlite = listed(SQLITE_INSERT_DEVICE_ACCOUNTS, "INSERT INTO new_device_account");
    assert_eq!(sqlite.pop().as_deref(), Some("device_id"));
    sqlite.extend(DEFAULTED_BY_SQLITE_BATCH.iter().map(|c| c.to_string()));
    assert_eq!(sorted(sqlite), sorted(entity_columns()));
    // A view has no defaults: what the SQLite batch leaves out must be nullable.
    for column in users::Column::iter().filter(|c| DEFAULTED_BY_SQLITE_BATCH.contains(&c.as_str())) {
        assert!(column.def().is_null(), "{} is left out of the SQLite batch but NOT NULL", column.as_str());
    }
}

#[test]
fn the_narrow_login_rows_read_what_a_login_needs() {
    let columns = entity_columns();
    for sql in [PG_FIND_DEVICES, SQLITE_FIND_DEVICES] {
        let select = sql.strip_prefix("SELECT ").and_then(|s| s.split(" FROM ").next()).expect("a select list");
        let read: Vec<&str> = select.split(',').map(str::trim).filter_map(|c| c.strip_prefix("u.")).collect();
        // The fields of `store::Login`, in the order the rows are read into it.
        assert_eq!(read, ["id", "username", "disable_time", "password"]);
        assert!(read.iter().all(|c| columns.iter().any(|e| e == c)), "{read:?}");
    }
}
