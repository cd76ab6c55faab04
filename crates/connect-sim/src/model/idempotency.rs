//! ClientToken idempotency (docs/connect-chat.md §1.5): which operations honour it, how a
//! token is keyed, and the replies remembered for the idempotency window.

use super::Model;
use super::api::{SendResponse, StartChatContactResponse};
use super::ids::ParticipantId;
use crate::time::Now;

/// Operations that honour ClientToken (§1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum IdempotentOp {
    StartChatContact,
    SendMessage,
    SendEvent,
    DisconnectParticipant,
}

/// A ClientToken of one operation, scoped to the instance (StartChatContact) or to the
/// calling participant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct IdempotencyKey {
    pub(super) op: IdempotentOp,
    pub(super) scope: String,
    pub(super) token: String,
}

/// The reply remembered for a ClientToken, returned again when the token repeats.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    StartChat(StartChatContactResponse),
    Send(SendResponse),
    Disconnect,
}

impl Model {
    /// Remembers `reply` under `key` for the idempotency window, first dropping the
    /// replies whose window has passed.
    pub(super) fn remember(&mut self, key: IdempotencyKey, reply: Reply, now: Now) {
        while let Some((at, _)) = self.idempotency_queue.front() {
            if *at > now.mono {
                break;
            }
            if let Some((_, old)) = self.idempotency_queue.pop_front() {
                self.idempotency.remove(&old);
            }
        }
        let expires = now.mono + self.limits.idempotency_window;
        self.idempotency_queue.push_back((expires, key.clone()));
        self.idempotency.insert(key, reply);
    }
}

/// The key of a Participant API request's ClientToken, if it has one.
pub(super) fn idempotency_key(
    op: IdempotentOp,
    participant: &ParticipantId,
    token: &Option<String>,
) -> Option<IdempotencyKey> {
    token.as_ref().map(|token| IdempotencyKey {
        op,
        scope: participant.to_string(),
        token: token.clone(),
    })
}
