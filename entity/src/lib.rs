//! sea-orm entities: the only Rust description of Hearth's tables.
//! Times are Unix seconds (`i64`) so SQLite and PostgreSQL compare them the same way.

pub mod console_audit;
pub mod console_revoked_token;
pub mod login_attempt;
pub mod revoked_token;
pub mod session_invalidation;
pub mod token_lifetime;
pub mod user_device;
pub mod user_edge;
pub mod users;
