//! Realtime: the `/ws` socket actors, one actor per user with open sockets (the
//! `SessionRegistry` supervises both), the status registry and the bus presence events
//! travel through.

pub mod bus;
pub mod protobuf;
pub mod protocol;
mod registry;
pub mod socket;
pub mod status;
pub mod transport;
mod user_sessions;

pub use registry::SessionRegistry;
pub use user_sessions::UserSessions;

use sha1::{Digest, Sha1};
use uuid::Uuid;

/// Session ids are version-1 UUIDs whose node field is the first 6 bytes of SHA-1(node
/// name), as Nakama makes them, so an id tells which node holds the socket.
pub fn new_session_id(node_name: &str) -> Uuid {
    let digest = Sha1::digest(node_name.as_bytes());
    let mut node = [0u8; 6];
    node.copy_from_slice(&digest[..6]);
    Uuid::now_v1(&node)
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_id_carries_the_node_hash() {
        let id = super::new_session_id("nakama1").to_string();
        assert!(id.ends_with("-7106fdcb5b46"), "{id}");
        assert_eq!(id.as_bytes()[14], b'1');
    }
}
