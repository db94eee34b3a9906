use sea_orm::entity::prelude::*;

/// One console write or staff login attempt (console.md §4), newest has the largest id.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_audit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub create_time: i64,
    /// The staff username given (for a failed login, whatever was typed).
    pub username: String,
    /// `login`, `logout`, `ban`, `unban`, `delete`, `update`, `unlink_<kind>`.
    pub action: String,
    /// The user id acted on; empty for logins.
    pub target: String,
    pub client_address: String,
    /// `ok`, or why it failed (the error message given to the caller).
    pub result: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
