//! How presence events and pushes travel: one small trait, so that a multi-node transport
//! can replace the in-process one without touching the socket or status code.

use std::sync::Arc;

use uuid::Uuid;

use super::protocol::{Format, ServerMessage};
use super::registry::SessionRegistry;
use super::socket::Push;
use super::status::StatusRegistry;

pub trait PresenceBus: Send + Sync {
    /// Delivers a push about `user_id` (a presence event) to every session following that user.
    fn publish(&self, user_id: Uuid, event: &ServerMessage<'_>);
    /// Delivers a push to one session; false when it is not connected here.
    fn deliver(&self, session_id: Uuid, message: &ServerMessage<'_>) -> bool;
}

/// Everything on this node: followers are looked up in the status registry and each gets
/// the frame of its format, encoded once per format on first need (a reference-counted
/// buffer, not a copy).
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
    fn publish(&self, user_id: Uuid, event: &ServerMessage<'_>) {
        // At most one encoding per format: every follower of a format writes the same bytes
        // (server frames are unmasked), and a format nobody follows in is never encoded.
        let (mut json, mut protobuf) = (None, None);
        self.status.for_each_follower(user_id, |socket| {
            let slot = match socket.format {
                Format::Json => &mut json,
                Format::Protobuf => &mut protobuf,
            };
            let push: &Push = slot.get_or_insert_with(|| Push::encode(event, socket.format));
            socket.addr.do_send(push.clone());
        });
    }

    fn deliver(&self, session_id: Uuid, message: &ServerMessage<'_>) -> bool {
        match self.registry.socket(session_id) {
            Some(socket) => {
                socket.addr.do_send(Push::encode(message, socket.format));
                true
            }
            None => false,
        }
    }
}
