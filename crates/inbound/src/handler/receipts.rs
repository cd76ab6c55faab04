//! Delivery events of End User Messaging SMS (the configuration set's event destination
//! publishes them to an SNS topic this function also reads): what the agent sees of the
//! SMS their messages went out as (`bridge_core::delivery`).
//!
//! A delivered last part → SendEvent `message.delivered` for the agent's message, as
//! Connect's own chat client sends when it shows a message; a failed part → a short note
//! in the chat, sent as the customer (the bridge's only voice there), once per message.
//! Both carry a ClientToken made from the message, so SNS redeliveries and a message's
//! several failed parts change nothing. 1 session read and 1 participant call per event
//! that matters (a refresh of an expired connection adds one); pending events cost none.
//!
//! Receipts are best effort: an event for a chat that has moved on or ended, or a refusal
//! that no retry can fix, is logged and acknowledged; throttling and outages fail the
//! invocation so Lambda retries it.

use bridge_core::delivery::{self, Receipt};
use bridge_core::ids::{ConnectionToken, ItemId};
use bridge_core::ports::{ChatError, ConnectParticipant, ConnectionKind};
use bridge_core::session::{Chat, SessionKey};
use tracing::{debug, info, warn};

use super::{Handler, HandlerError, Step};
use crate::outcome::{Outcome, ReceiptOutcome, RejectReason};

/// Content type of a delivered receipt (docs/connect-chat.md §3.3).
const MESSAGE_DELIVERED: &str = "application/vnd.amazonaws.connect.event.message.delivered";

impl Handler {
    /// Handles one delivery event (an SNS record's message).
    pub(super) async fn handle_delivery(&self, message: &str) -> Result<Outcome, HandlerError> {
        let event = match delivery::parse(message) {
            Ok(Some(event)) => event,
            Ok(None) => {
                debug!("delivery event of an sms the bridge did not tag");
                return Ok(Outcome::Receipt(ReceiptOutcome::Ignored));
            }
            Err(error) => {
                warn!(error = %super::chain_of(&error), "unreadable delivery event rejected");
                return Ok(Outcome::Rejected {
                    reason: RejectReason::Malformed {
                        kind: "delivery_event",
                        field: None,
                    },
                });
            }
        };
        let receipt = delivery::decide(&event);
        if receipt == Receipt::Nothing {
            return Ok(Outcome::Receipt(ReceiptOutcome::Ignored));
        }
        let key = SessionKey::new(event.customer, event.support);
        let session = self
            .sessions
            .get(&key)
            .await
            .map_err(|source| HandlerError::Store {
                step: Step::ReadSession,
                source,
            })?;
        let contact_id = &event.tag.contact_id;
        let Some(chat) = session
            .and_then(|session| session.chat)
            .filter(|chat| &chat.contact_id == contact_id)
        else {
            info!(contact_id = %contact_id, "delivery event of a chat the session has moved on from");
            return Ok(Outcome::Receipt(ReceiptOutcome::ChatOver));
        };
        let (result, kind, step) = match &receipt {
            Receipt::Delivered { item_id } => (
                self.with_connection(&chat, |token| async move {
                    let content = serde_json::json!({ "messageId": item_id }).to_string();
                    self.chat
                        .send_event(
                            &token,
                            MESSAGE_DELIVERED,
                            Some(&content),
                            &client_token("delivered", item_id),
                        )
                        .await
                })
                .await,
                ReceiptOutcome::Delivered {
                    contact_id: contact_id.clone(),
                },
                Step::SendEvent,
            ),
            Receipt::FailureNote { item_id, text } => (
                self.with_connection(&chat, |token| async move {
                    self.chat
                        .send_message(&token, text, &client_token("undelivered", item_id))
                        .await
                        .map(|_| ())
                })
                .await,
                ReceiptOutcome::FailureNoted {
                    contact_id: contact_id.clone(),
                },
                Step::SendMessage,
            ),
            Receipt::Nothing => return Ok(Outcome::Receipt(ReceiptOutcome::Ignored)),
        };
        match result {
            Ok(()) => {
                info!(contact_id = %contact_id, receipt = kind.as_str(), "delivery reported to the chat");
                Ok(Outcome::Receipt(kind))
            }
            Err(ChatError::ChatEnded) => {
                info!(contact_id = %contact_id, "delivery event of an ended chat");
                Ok(Outcome::Receipt(ReceiptOutcome::ChatOver))
            }
            Err(error) if error.is_retriable() => {
                warn!(contact_id = %contact_id, error = %super::chain_of(&error), "delivery not reported yet; the invocation fails so it is retried");
                Err(HandlerError::Chat {
                    step,
                    source: error,
                })
            }
            Err(error) => {
                // A chat with a supervisor in it refuses receipts (ConflictException), and
                // no retry changes that: the agent only misses a mark.
                warn!(contact_id = %contact_id, error = %super::chain_of(&error), "delivery not reported to the chat");
                Ok(Outcome::Receipt(ReceiptOutcome::Refused {
                    contact_id: contact_id.clone(),
                }))
            }
        }
    }

    /// Runs `call` with the session's connection token, and once more with a fresh one
    /// when it answers 403 (the token may just have expired); a token the session already
    /// knows has expired is not tried. The fresh token is not stored: a receipt is not worth
    /// a session write, and the next text refreshes the row's (`bridge_core::intake`).
    async fn with_connection<F, Fut>(&self, chat: &Chat, call: F) -> Result<(), ChatError>
    where
        F: Fn(ConnectionToken) -> Fut,
        Fut: std::future::Future<Output = Result<(), ChatError>>,
    {
        if chat.connection.expires_at > self.clock.now() {
            match call(chat.connection.token.clone()).await {
                Err(ChatError::ChatEnded) => {}
                other => return other,
            }
        }
        let fresh = self
            .chat
            .create_connection(
                &chat.participant_token,
                ConnectionKind::Credentials,
                ConnectParticipant::AlreadyJoined,
            )
            .await?;
        let Some(connection) = fresh.connection else {
            return Err(ChatError::ChatEnded);
        };
        call(connection.token).await
    }
}

/// The ClientToken of what a message's delivery causes: the same for every event of it.
fn client_token(what: &str, item_id: &ItemId) -> String {
    format!("{what}-{item_id}")
}
