//! Hearth's schema migrations, run at start and by `hearth migrate`.
//! The same migrations serve SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_accounts;
mod m20261126_000002_user_edge;
mod m20261126_000003_console;
mod m20261126_000004_sqlite_device_signup;
mod m20261130_000005_hardening;
mod m20261130_000006_console_audit_filters;
mod m20261130_000007_console_lists;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_accounts::Migration),
            Box::new(m20261126_000002_user_edge::Migration),
            Box::new(m20261126_000003_console::Migration),
            Box::new(m20261126_000004_sqlite_device_signup::Migration),
            Box::new(m20261130_000005_hardening::Migration),
            Box::new(m20261130_000006_console_audit_filters::Migration),
            Box::new(m20261130_000007_console_lists::Migration),
        ]
    }
}
