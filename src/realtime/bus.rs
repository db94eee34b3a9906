//! How presence events and pushes travel: one small trait, so that a multi-node transport
//! can replace the in-process one without touching the socket or status code.

use std::sync::Arc;

use bytestring::ByteString;
use uuid::Uuid;

use super::registry::SessionRegistry;
use super::socket::Push;
use super::status::StatusRegistry;

pub trait PresenceBus: Send + Sync {
    /// Delivers an encoded event about `user_id` to every session following that user.
    fn publish(&self, user_id: Uuid, frame: ByteString);
    /// Delivers an encoded frame to one session; false when it is not connected here.
    fn deliver(&self, session_id: Uuid, frame: ByteString) -> bool;
}

/// Everything on this node: followers are looked up in the status registry and each gets
/// the same encoded frame (a reference-counted buffer, not a copy).
pub struct LocalBus {
    status: Arc<StatusRegistry>,
    registry: SessionRegistry,
}

impl LocalBus {
    pub fn new(status: Arc<StatusRegistry>, registry: SessionRegistry) -> Self {
        Self { status, registry }
    }
}

impl PresenceBus for LocalBus {
    fn publish(&self, user_id: Uuid, frame: ByteString) {
        // Encoded once: every follower writes the same bytes (server frames are unmasked).
        let frame = Push::encode(frame);
        self.status.for_each_follower(user_id, |socket| socket.do_send(frame.clone()));
    }

    fn deliver(&self, session_id: Uuid, frame: ByteString) -> bool {
        match self.registry.socket(session_id) {
            Some(socket) => {
                socket.do_send(Push::encode(frame));
                true
            }
            None => false,
        }
    }
}
