//! Transcript items: how they are stored and how they look on the wire.
//!
//! One stored item renders three ways (docs/connect-chat.md §4.1, §5.5): in GetTranscript
//! of its own contact (with `ContactId`), in GetTranscript of a later persistent chat (with
//! `RelatedContactId` instead), and on the WebSocket (with `ContactId` and
//! `InitialContactId`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{ContactId, ItemId, ParticipantId};
use crate::time::format_aws;

/// Content types of chat events (`application/vnd.amazonaws.connect.event.*`).
pub mod event {
    /// A participant joined.
    pub const PARTICIPANT_JOINED: &str =
        "application/vnd.amazonaws.connect.event.participant.joined";
    /// A participant left.
    pub const PARTICIPANT_LEFT: &str = "application/vnd.amazonaws.connect.event.participant.left";
    /// The chat ended.
    pub const CHAT_ENDED: &str = "application/vnd.amazonaws.connect.event.chat.ended";
    /// A participant went idle (an idle timer ran out; socket only, never stored).
    pub const PARTICIPANT_IDLE: &str = "application/vnd.amazonaws.connect.event.participant.idle";
    /// An idle participant sent a message (socket only, never stored).
    pub const PARTICIPANT_RETURNED: &str =
        "application/vnd.amazonaws.connect.event.participant.returned";
    /// An auto-disconnect timer ran out (socket only, never stored).
    pub const PARTICIPANT_AUTODISCONNECTION: &str =
        "application/vnd.amazonaws.connect.event.participant.autodisconnection";
    /// Typing indicator.
    pub const TYPING: &str = "application/vnd.amazonaws.connect.event.typing";
    /// Delivered receipt.
    pub const MESSAGE_DELIVERED: &str = "application/vnd.amazonaws.connect.event.message.delivered";
    /// Read receipt.
    pub const MESSAGE_READ: &str = "application/vnd.amazonaws.connect.event.message.read";
    /// Deprecated connection acknowledgement (unsupported by AWS since 31 Dec 2024).
    pub const CONNECTION_ACKNOWLEDGED: &str =
        "application/vnd.amazonaws.connect.event.connection.acknowledged";
}

/// Content types of chat messages.
pub mod message {
    /// Plain text.
    pub const TEXT_PLAIN: &str = "text/plain";
    /// Markdown.
    pub const TEXT_MARKDOWN: &str = "text/markdown";
    /// JSON.
    pub const APPLICATION_JSON: &str = "application/json";
    /// Interactive message (sent by flows and bots, not by participants).
    pub const INTERACTIVE: &str = "application/vnd.amazonaws.connect.message.interactive";
    /// Reply to an interactive message.
    pub const INTERACTIVE_RESPONSE: &str =
        "application/vnd.amazonaws.connect.message.interactive.response";
}

/// The `Type` of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemType {
    /// A chat message.
    Message,
    /// Any event (joined, left, ended, typing): the emulator's choice, see §4.1.
    Event,
    /// A receipt broadcast on the socket (§4.3).
    #[serde(rename = "MESSAGEMETADATA")]
    MessageMetadata,
}

/// A participant role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// The end customer.
    Customer,
    /// The agent.
    Agent,
    /// The service itself (chat.ended).
    System,
}

/// One delivered/read receipt on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Receipt {
    /// When the recipient's client reported delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_timestamp: Option<String>,
    /// When the recipient's client reported reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timestamp: Option<String>,
    /// The participant who received or read the message.
    pub recipient_participant_id: String,
}

/// `MessageMetadata` of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageMetadata {
    /// The message the receipts are about.
    pub message_id: String,
    /// The receipts.
    pub receipts: Vec<Receipt>,
}

/// An item exactly as clients see it (GetTranscript entries and `aws/chat` frame content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Item {
    /// `YYYY-MM-DDThh:mm:ss.sssZ`.
    pub absolute_time: String,
    /// Message text (absent for most events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Content type (absent on receipt frames).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Unique item id.
    pub id: String,
    /// `MESSAGE`, `EVENT` or `MESSAGEMETADATA`.
    #[serde(rename = "Type")]
    pub item_type: ItemType,
    /// Sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    /// Sender's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Sender's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_role: Option<Role>,
    /// Receipts of a message, or the one receipt of a receipt frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_metadata: Option<MessageMetadata>,
    /// Set on items of a past contact (persistent chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_contact_id: Option<String>,
    /// Set on items of the current contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// Set on WebSocket frames only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_contact_id: Option<String>,
}

/// Which contact's point of view an item is rendered from.
#[derive(Debug, Clone, Copy)]
pub enum View<'a> {
    /// GetTranscript of the item's own contact.
    Current(&'a ContactId),
    /// GetTranscript of a later contact that continues this one.
    Past(&'a ContactId),
    /// A WebSocket frame.
    Socket {
        /// The item's contact.
        contact: &'a ContactId,
        /// The chat's initial contact.
        initial: &'a ContactId,
    },
}

/// A transcript item as stored in its contact.
#[derive(Debug, Clone)]
pub struct StoredItem {
    /// Unique id.
    pub id: ItemId,
    /// When it happened (non-decreasing within a contact).
    pub time: DateTime<Utc>,
    /// Message or event.
    pub item_type: ItemType,
    /// Content type (client types are validated against a fixed list, so always static).
    pub content_type: &'static str,
    /// Message text or event content.
    pub content: Option<String>,
    /// Sender.
    pub participant_id: Option<ParticipantId>,
    /// Sender's display name.
    pub display_name: Option<String>,
    /// Sender's role.
    pub role: Option<Role>,
    /// Receipts recorded on a message.
    pub receipts: Vec<Receipt>,
}

impl StoredItem {
    /// Renders the item for `view`.
    #[must_use]
    pub fn render(&self, view: View<'_>) -> Item {
        let (contact_id, related_contact_id, initial_contact_id) = match view {
            View::Current(contact) => (Some(contact.to_string()), None, None),
            View::Past(contact) => (None, Some(contact.to_string()), None),
            View::Socket { contact, initial } => {
                (Some(contact.to_string()), None, Some(initial.to_string()))
            }
        };
        let message_metadata = (!self.receipts.is_empty()).then(|| MessageMetadata {
            message_id: self.id.to_string(),
            receipts: self.receipts.clone(),
        });
        Item {
            absolute_time: format_aws(self.time),
            content: self.content.clone(),
            content_type: Some(self.content_type.to_owned()),
            id: self.id.to_string(),
            item_type: self.item_type,
            participant_id: self.participant_id.as_ref().map(ToString::to_string),
            display_name: self.display_name.clone(),
            participant_role: self.role,
            message_metadata,
            related_contact_id,
            contact_id,
            initial_contact_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> StoredItem {
        StoredItem {
            id: ItemId::from_client("i-1"),
            time: DateTime::<Utc>::from_timestamp_millis(1_573_180_888_172).expect("time"),
            item_type: ItemType::Message,
            content_type: message::TEXT_PLAIN,
            content: Some("hi".into()),
            participant_id: Some(ParticipantId::from_client("p-1")),
            display_name: Some("Ann".into()),
            role: Some(Role::Customer),
            receipts: Vec::new(),
        }
    }

    #[test]
    fn current_items_carry_contact_id_only() {
        let contact = ContactId::from_client("c-1");
        let json = serde_json::to_value(message().render(View::Current(&contact))).expect("json");
        assert_eq!(json["ContactId"], "c-1");
        assert_eq!(json["Type"], "MESSAGE");
        assert_eq!(json["ParticipantRole"], "CUSTOMER");
        assert_eq!(json["AbsoluteTime"], "2019-11-08T02:41:28.172Z");
        assert!(json.get("RelatedContactId").is_none());
        assert!(json.get("InitialContactId").is_none());
    }

    #[test]
    fn past_items_carry_related_contact_id_only() {
        let contact = ContactId::from_client("c-1");
        let json = serde_json::to_value(message().render(View::Past(&contact))).expect("json");
        assert_eq!(json["RelatedContactId"], "c-1");
        assert!(json.get("ContactId").is_none());
    }

    #[test]
    fn socket_items_carry_both_contact_ids() {
        let contact = ContactId::from_client("c-2");
        let initial = ContactId::from_client("c-1");
        let json = serde_json::to_value(message().render(View::Socket {
            contact: &contact,
            initial: &initial,
        }))
        .expect("json");
        assert_eq!(json["ContactId"], "c-2");
        assert_eq!(json["InitialContactId"], "c-1");
    }
}
