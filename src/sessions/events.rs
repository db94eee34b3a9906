//! What the sessions service tells the rest of the server when tokens stop being valid:
//! one small trait, so that sessions know nothing of sockets (realtime implements it), and
//! a cluster can carry the same events to the other nodes.

use uuid::Uuid;

use super::cache::Invalidation;

/// Why every session of a user before some instant ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndCause {
    /// Logout with an empty body: sockets opened with older tokens close.
    LogoutAll,
    /// `single_session`: older tokens are void, sockets stay (as in Nakama).
    SingleSession,
    /// Ban: every socket gets the `banned` notification and closes.
    Ban,
    /// Account deleted: every socket closes.
    Delete,
}

pub trait SessionEvents: Send + Sync {
    /// One access token id was revoked (a logout naming it).
    fn token_revoked(&self, user_id: Uuid, tid: Uuid);
    /// Every token of the user the invalidation voids stopped being valid.
    fn sessions_ended(&self, user_id: Uuid, invalidation: &Invalidation, cause: EndCause);
}
