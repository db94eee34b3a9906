//! `hearth import-nakama` (issue 15 items 1-2): a Nakama-shaped PostgreSQL database built
//! here from the spec's tables (../shared/spec/nakama-import.md), imported into a fresh
//! Hearth on SQLite and on PostgreSQL. Every test needs PostgreSQL for the source and says
//! SKIPPED when it cannot reach it.

use sea_orm::ConnectionTrait;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{claims, Backend, TestApp, TestDb};
use hearth::import::{self, Conflict, ConflictReason, ImportError, ImportOptions, OnConflict, Report};

const ALICE: Uuid = Uuid::from_u128(0x1111_1111_1111_1111_1111_1111_1111_1111);
const BOB: Uuid = Uuid::from_u128(0x2222_2222_2222_2222_2222_2222_2222_2222);
const CAROL: Uuid = Uuid::from_u128(0x3333_3333_3333_3333_3333_3333_3333_3333);
const DAVE: Uuid = Uuid::from_u128(0x4444_4444_4444_4444_4444_4444_4444_4444);

/// Nakama 3.40's tables as far as the import reads them, with the spec's types and defaults.
const NAKAMA_SCHEMA: &str = r#"
CREATE TABLE migration_info (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ);
INSERT INTO migration_info VALUES
  ('20180103142000-initial_schema.sql', now()),
  ('20260319134532-add-display-name-index.sql', now());
CREATE TABLE users (
  id UUID PRIMARY KEY NOT NULL,
  username VARCHAR(128) NOT NULL UNIQUE,
  display_name VARCHAR(255), avatar_url VARCHAR(512),
  lang_tag VARCHAR(18) NOT NULL DEFAULT 'en',
  location VARCHAR(255), timezone VARCHAR(255),
  metadata JSONB NOT NULL DEFAULT '{}', wallet JSONB NOT NULL DEFAULT '{}',
  email VARCHAR(255) UNIQUE,
  password BYTEA CHECK (length(password) < 32000),
  facebook_id VARCHAR(128) UNIQUE, google_id VARCHAR(128) UNIQUE, gamecenter_id VARCHAR(128) UNIQUE,
  steam_id VARCHAR(128) UNIQUE, custom_id VARCHAR(128) UNIQUE,
  facebook_instant_game_id VARCHAR(128) UNIQUE, apple_id VARCHAR(128) UNIQUE,
  edge_count INT NOT NULL DEFAULT 0 CHECK (edge_count >= 0),
  create_time TIMESTAMPTZ NOT NULL DEFAULT now(), update_time TIMESTAMPTZ NOT NULL DEFAULT now(),
  verify_time TIMESTAMPTZ NOT NULL DEFAULT '1970-01-01 00:00:00 UTC',
  disable_time TIMESTAMPTZ NOT NULL DEFAULT '1970-01-01 00:00:00 UTC'
);
CREATE TABLE user_device (
  id VARCHAR(128) PRIMARY KEY NOT NULL,
  user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  preferences JSONB NOT NULL DEFAULT '{}',
  push_token_amazon VARCHAR(512) NOT NULL DEFAULT '', push_token_android VARCHAR(512) NOT NULL DEFAULT '',
  push_token_huawei VARCHAR(512) NOT NULL DEFAULT '', push_token_ios VARCHAR(512) NOT NULL DEFAULT '',
  push_token_web VARCHAR(512) NOT NULL DEFAULT ''
);
CREATE TABLE user_edge (
  source_id UUID NOT NULL CHECK (source_id <> '00000000-0000-0000-0000-000000000000'),
  position BIGINT NOT NULL,
  update_time TIMESTAMPTZ NOT NULL DEFAULT now(),
  destination_id UUID NOT NULL CHECK (destination_id <> '00000000-0000-0000-0000-000000000000'),
  state SMALLINT NOT NULL DEFAULT 0,
  metadata JSONB NOT NULL DEFAULT '{}',
  UNIQUE (source_id, destination_id)
);
CREATE TABLE user_tombstone (user_id UUID NOT NULL UNIQUE, create_time TIMESTAMPTZ NOT NULL DEFAULT now());
"#;

/// The players: the system user, alice (email + bcrypt password, custom and Google ids, a
/// full profile, two devices), bob (Steam, Facebook, a device), carol (banned, Apple, a
/// device), dave (a device); alice and bob are friends, alice invited carol, dave blocked
/// alice; one deleted account's tombstone.
fn players(alice_hash: &str) -> String {
    format!(
        r#"
INSERT INTO users (id, username, create_time, update_time) VALUES
  ('00000000-0000-0000-0000-000000000000', '', '2024-01-01 00:00:00+00', '2024-01-01 00:00:00+00');
INSERT INTO users (id, username, display_name, avatar_url, lang_tag, location, timezone, metadata, wallet,
  email, password, custom_id, google_id, edge_count, create_time, update_time, verify_time) VALUES
  ('{ALICE}', 'alice', 'Alice', 'https://example.com/alice.png', 'fr', 'Paris', 'Europe/Paris',
   '{{"level": 3}}', '{{"coins": 10}}', 'alice@example.com', convert_to('{alice_hash}', 'UTF8'),
   'alice-custom-id', 'google-alice', 2,
   '2024-01-02 03:04:05+00', '2024-02-03 04:05:06+00', '2024-01-05 00:00:00+00');
INSERT INTO users (id, username, steam_id, facebook_id, edge_count, create_time, update_time) VALUES
  ('{BOB}', 'bob', 'steam-bob', 'facebook-bob', 1, '2024-03-01 00:00:00+00', '2024-03-01 00:00:00+00');
INSERT INTO users (id, username, apple_id, edge_count, create_time, update_time, disable_time) VALUES
  ('{CAROL}', 'carol', 'apple-carol', 1, '2024-04-01 00:00:00+00', '2024-04-01 00:00:00+00',
   '2025-06-01 00:00:00+00');
INSERT INTO users (id, username, edge_count, create_time, update_time) VALUES
  ('{DAVE}', 'dave', 1, '2024-05-01 00:00:00+00', '2024-05-01 00:00:00+00');
INSERT INTO user_device (id, user_id) VALUES
  ('alice-device-1', '{ALICE}'), ('alice-device-2', '{ALICE}'), ('bob-device-1', '{BOB}'),
  ('carol-device-1', '{CAROL}'), ('dave-device-1', '{DAVE}');
INSERT INTO user_edge (source_id, destination_id, state, position, update_time, metadata) VALUES
  ('{ALICE}', '{BOB}', 0, 1700000000000000001, '2024-06-01 00:00:00+00', '{{}}'),
  ('{BOB}', '{ALICE}', 0, 1700000000000000001, '2024-06-01 00:00:00+00', '{{}}'),
  ('{ALICE}', '{CAROL}', 1, 1700000000000000002, '2024-06-02 00:00:00+00', '{{}}'),
  ('{CAROL}', '{ALICE}', 2, 1700000000000000002, '2024-06-02 00:00:00+00', '{{}}'),
  ('{DAVE}', '{ALICE}', 3, 1700000000000000003, '2024-06-03 00:00:00+00', '{{"why": "spam"}}');
INSERT INTO user_tombstone (user_id, create_time) VALUES ('99999999-9999-9999-9999-999999999999', now());
"#
    )
}

const ALICE_PASSWORD: &str = "alice-password";

/// A fresh Nakama-shaped database with the players in it; `None` (and a SKIPPED line) when
/// PostgreSQL cannot be reached.
async fn nakama() -> Option<TestDb> {
    let db = TestDb::create(Backend::Postgres).await?;
    let hash = bcrypt::hash_with_result(ALICE_PASSWORD, 4).expect("bcrypt").format_for_version(bcrypt::Version::TwoA);
    execute(&db, &format!("{NAKAMA_SCHEMA}{}", players(&hash))).await;
    Some(db)
}

async fn execute(db: &TestDb, sql: &str) {
    let mut conn = PgConnection::connect(&db.url).await.expect("connect to the Nakama database");
    conn.execute(sql).await.expect("Nakama fixture SQL");
    let _ = conn.close().await;
}

fn options(source: &TestDb) -> ImportOptions {
    ImportOptions { from: source.url.clone(), dry_run: false, batch: 2, on_conflict: OnConflict::Stop, progress: false }
}

async fn run(app: &TestApp, options: &ImportOptions) -> Report {
    match import::run(&app.state.store, options).await {
        Ok(report) => report,
        Err(e) => panic!("import failed: {e}"),
    }
}

/// The report of a first import of `players` into an empty Hearth.
fn full_import() -> Report {
    Report {
        schema: Some("20260319134532-add-display-name-index.sql".into()),
        accounts: 4,
        devices: 5,
        edges: 5,
        system_user: 1,
        tombstones: 1,
        ..Report::default()
    }
}

async fn uid_of(app: &TestApp, path: &str, body: &str) -> String {
    let reply = app.post_key(path, body).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    claims(&reply.token())["uid"].as_str().unwrap_or_default().to_string()
}

both_backends!(import_moves_accounts_devices_identifiers_bans_edges_and_hashes);
async fn import_moves_accounts_devices_identifiers_bans_edges_and_hashes(app: TestApp) {
    let Some(source) = nakama().await else { return };
    assert_eq!(run(&app, &options(&source)).await, full_import());
    assert_eq!(app.account_count().await, 4, "the system user is not an account");

    let store = &app.state.store;
    let alice = store.find_user(ALICE).await.expect("read").expect("alice imported");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.display_name.as_deref(), Some("Alice"));
    assert_eq!(alice.avatar_url.as_deref(), Some("https://example.com/alice.png"));
    assert_eq!((alice.lang_tag.as_str(), alice.location.as_deref()), ("fr", Some("Paris")));
    assert_eq!(alice.timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&alice.metadata).ok(), Some(serde_json::json!({"level": 3})));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&alice.wallet).ok(), Some(serde_json::json!({"coins": 10})));
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert!(alice.password.as_deref().unwrap_or_default().starts_with("$2a$04$"));
    assert_eq!(alice.custom_id.as_deref(), Some("alice-custom-id"));
    assert_eq!(alice.google_id.as_deref(), Some("google-alice"));
    assert_eq!(
        (alice.create_time, alice.update_time, alice.verify_time),
        (1_704_164_645, 1_706_933_106, 1_704_412_800)
    );
    assert_eq!((alice.disable_time, alice.edge_count), (0, 2));
    assert_eq!(store.devices_of(ALICE).await.expect("devices"), ["alice-device-1", "alice-device-2"]);
    let bob = store.find_user(BOB).await.expect("read").expect("bob imported");
    assert_eq!((bob.steam_id.as_deref(), bob.facebook_id.as_deref()), (Some("steam-bob"), Some("facebook-bob")));
    assert_eq!((bob.password, bob.email, bob.edge_count), (None, None, 1));
    let carol = store.find_user(CAROL).await.expect("read").expect("carol imported");
    assert_eq!((carol.disable_time, carol.apple_id.as_deref()), (1_748_736_000, Some("apple-carol")));

    // Over REST, every kind of identifier reaches the same user id.
    let email = "/v2/account/authenticate/email";
    let alice_id = ALICE.to_string();
    let by_email = format!(r#"{{"email":"alice@example.com","password":"{ALICE_PASSWORD}"}}"#);
    assert_eq!(uid_of(&app, email, &by_email).await, alice_id);
    let stored = store.find_user(ALICE).await.expect("read").and_then(|u| u.password).unwrap_or_default();
    assert!(stored.starts_with("$argon2id$"), "the imported bcrypt hash is upgraded: {stored}");
    let by_username = format!(r#"{{"password":"{ALICE_PASSWORD}"}}"#);
    assert_eq!(uid_of(&app, &format!("{email}?username=alice"), &by_username).await, alice_id);
    let device = "/v2/account/authenticate/device";
    assert_eq!(uid_of(&app, device, r#"{"id":"alice-device-2"}"#).await, alice_id);
    assert_eq!(uid_of(&app, "/v2/account/authenticate/custom", r#"{"id":"alice-custom-id"}"#).await, alice_id);
    assert_eq!(uid_of(&app, device, r#"{"id":"bob-device-1"}"#).await, BOB.to_string());
    app.device("carol-device-1").await.assert_error(403, 7, "User account banned.");

    // The friend edges keep their states.
    let token = app.post_key(device, r#"{"id":"alice-device-1"}"#).await.token();
    let friends = app.get_bearer("/v2/friend", &token).await;
    assert_eq!(friends.status, 200, "{}", friends.text);
    let mut listed: Vec<(String, i64)> = friends.body["friends"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (f["user"]["username"].as_str().unwrap_or_default().to_string(), f["state"].as_i64().unwrap_or(-1))
                })
                .collect()
        })
        .unwrap_or_default();
    listed.sort();
    assert_eq!(listed, [("bob".to_string(), 0), ("carol".to_string(), 1)]);
    let dave = app.post_key(device, r#"{"id":"dave-device-1"}"#).await.token();
    let blocked = app.get_bearer("/v2/friend", &dave).await;
    assert_eq!(blocked.body["friends"][0]["user"]["id"], alice_id, "{}", blocked.text);
    assert_eq!(blocked.body["friends"][0]["state"], 3);
}

both_backends!(a_second_run_imports_only_what_is_missing);
async fn a_second_run_imports_only_what_is_missing(app: TestApp) {
    let Some(source) = nakama().await else { return };
    assert_eq!(run(&app, &options(&source)).await, full_import());
    let before = app.state.store.find_user(ALICE).await.expect("read");
    let again = run(&app, &options(&source)).await;
    let nothing_new = Report { accounts_already_imported: 4, edges_already_imported: 5, ..full_import() };
    assert_eq!(again, Report { accounts: 0, devices: 0, edges: 0, ..nothing_new });
    assert_eq!(app.state.store.find_user(ALICE).await.expect("read"), before, "nothing imported is changed");

    // A run stopped half-way leaves some accounts out: the next run brings just those.
    assert!(app.state.store.delete_account(DAVE).await.expect("delete dave"));
    let resumed = run(&app, &options(&source)).await;
    assert_eq!((resumed.accounts, resumed.devices, resumed.edges), (1, 1, 1));
    assert_eq!((resumed.accounts_already_imported, resumed.edges_already_imported), (3, 4));
    assert_eq!(app.account_count().await, 4);
    assert_eq!(app.state.store.devices_of(DAVE).await.expect("devices"), ["dave-device-1"]);
}

both_backends!(a_conflict_stops_the_run_before_anything_is_written_unless_skipped);
async fn a_conflict_stops_the_run_before_anything_is_written_unless_skipped(app: TestApp) {
    let Some(source) = nakama().await else { return };
    // A Hearth player already called bob, with dave's device.
    let mine = app.post_key("/v2/account/authenticate/device?username=bob", r#"{"id":"dave-device-1"}"#).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let stopped = run(&app, &options(&source)).await;
    let conflicts = vec![
        Conflict { id: BOB, username: "bob".into(), reason: ConflictReason::UsernameInUse },
        Conflict { id: DAVE, username: "dave".into(), reason: ConflictReason::IdentifierInUse("device") },
    ];
    let expected = Report { accounts: 2, devices: 3, edges: 0, stopped: true, conflicts, ..full_import() };
    assert_eq!(stopped, expected);
    assert_eq!(app.account_count().await, 1, "nothing was written");
    assert!(stopped.to_string().contains("its username is in use in Hearth"), "{stopped}");

    let skipped = run(&app, &ImportOptions { on_conflict: OnConflict::Skip, ..options(&source) }).await;
    // alice and carol come in with their devices and the two edges between them.
    assert_eq!((skipped.accounts, skipped.devices, skipped.edges), (2, 3, 2));
    assert_eq!((skipped.edges_of_skipped_accounts, skipped.conflicts.len(), skipped.stopped), (3, 2, false));
    assert_eq!(app.account_count().await, 3);
    let alice = app.state.store.find_user(ALICE).await.expect("read").expect("alice imported");
    assert_eq!(alice.edge_count, 1, "only the edge to carol");
}

both_backends!(a_dry_run_reads_everything_and_writes_nothing);
async fn a_dry_run_reads_everything_and_writes_nothing(app: TestApp) {
    let Some(source) = nakama().await else { return };
    let report = run(&app, &ImportOptions { dry_run: true, ..options(&source) }).await;
    assert_eq!(report, Report { dry_run: true, ..full_import() });
    assert!(report.to_string().starts_with("import-nakama: dry run: nothing was written\n"), "{report}");
    assert_eq!(app.account_count().await, 0);
}

both_backends!(another_schema_version_is_a_warning_that_names_it);
async fn another_schema_version_is_a_warning_that_names_it(app: TestApp) {
    let Some(source) = nakama().await else { return };
    execute(&source, "INSERT INTO migration_info VALUES ('20270101000000-future.sql', now())").await;
    let report = run(&app, &ImportOptions { dry_run: true, ..options(&source) }).await;
    assert_eq!(report.schema.as_deref(), Some("20270101000000-future.sql"));
    assert_eq!(report.warnings.len(), 1);
    assert!(
        report.warnings[0].contains("migration 20270101000000-future.sql, not 20260319134532"),
        "{:?}",
        report.warnings
    );
}

both_backends!(a_missing_column_is_a_schema_error_with_exit_code_2);
async fn a_missing_column_is_a_schema_error_with_exit_code_2(app: TestApp) {
    let Some(source) = nakama().await else { return };
    execute(&source, "ALTER TABLE users DROP COLUMN apple_id; DROP TABLE user_edge").await;
    match import::run(&app.state.store, &options(&source)).await {
        Err(e @ ImportError::Schema(_)) => {
            assert_eq!(e.exit_code(), 2);
            assert_eq!(
                e.to_string(),
                "the source is not a Nakama database this import can read: missing column users.apple_id, table user_edge"
            );
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
    assert_eq!(app.account_count().await, 0);
}

/// The binary itself: its exit code and what it prints.
fn hearth(args: &[&str], hearth_db: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .args(["--database.url", hearth_db])
        .env("RUST_LOG", "off")
        .output()
        .expect("run hearth")
}

#[test]
fn an_unreachable_source_is_one_line_and_exit_code_1() {
    let hearth_db = std::env::temp_dir().join(format!("hearth_import_{}.sqlite3", Uuid::new_v4().simple()));
    let url = format!("sqlite://{}", hearth_db.display());
    let out = hearth(&["import-nakama", "--from", "postgres://nakama:secret@127.0.0.1:1/nakama"], &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("hearth import-nakama: cannot reach the Nakama database at 127.0.0.1:1/nakama: "),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password is never printed: {stderr}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", hearth_db.display()));
    }
}

#[actix_rt::test]
async fn a_dry_run_does_not_migrate_hearths_database() {
    let Some(source) = nakama().await else { return };
    let Some(target) = TestDb::create(Backend::Sqlite).await else { return };
    let out = hearth(&["import-nakama", "--from", &source.url, "--dry-run"], &target.url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("hearth import-nakama: a dry run writes nothing, and Hearth's database lacks "),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("migrations; run `hearth migrate` first"), "{stderr}");
    // Not one table was made.
    let db = sea_orm::Database::connect(&target.url).await.unwrap();
    let tables = db
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        ))
        .await
        .unwrap();
    assert!(tables.is_empty(), "{} tables", tables.len());
    db.close().await.unwrap();
    // Once migrated, the dry run reads everything and still writes no account.
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["migrate", "up", "--database.url", &target.url])
        .env("RUST_LOG", "off")
        .output()
        .expect("run hearth migrate");
    assert_eq!(migrate.status.code(), Some(0), "{}", String::from_utf8_lossy(&migrate.stderr));
    let out = hearth(&["import-nakama", "--from", &source.url, "--dry-run"], &target.url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("to import: 4 accounts"), "{stdout}");
}

#[actix_rt::test]
async fn the_command_imports_and_exits_2_on_a_missing_table() {
    let Some(source) = nakama().await else { return };
    let Some(target) = TestDb::create(Backend::Sqlite).await else { return };
    let out = hearth(&["import-nakama", "--from", &source.url, "--batch", "3"], &target.url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("import-nakama: done\n"), "{stdout}");
    assert!(stdout.contains("imported: 4 accounts, 5 devices, 5 friend edges"), "{stdout}");
    execute(&source, "DROP TABLE user_device CASCADE").await;
    let out = hearth(&["import-nakama", "--from", &source.url], &target.url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "hearth import-nakama: the source is not a Nakama database this import can read: missing table user_device"
    );
}
