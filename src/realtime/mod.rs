//! Live sessions: one actor per user holding the user's live sessions, supervised by the
//! `SessionRegistry` (user id -> actor). Sockets attach here in the realtime issue.

mod registry;
mod user_sessions;

pub use registry::SessionRegistry;
pub use user_sessions::{LiveSession, UserSessions};
