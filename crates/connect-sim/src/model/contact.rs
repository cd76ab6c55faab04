//! One contact: its participants, its ordered items and its lifecycle state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ids::{ContactId, ItemId, ParticipantId, ParticipantToken};
use super::item::{Item, ItemType, Role, StoredItem, View};
use super::timers::ContactTimers;

/// Lifecycle state (docs/connect-chat.md §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Started; the customer has not connected yet.
    Started,
    /// The customer connected; no agent yet.
    Connected,
    /// An agent joined.
    Active,
    /// Ended; participant calls answer 403.
    Ended,
}

/// A participant of a contact.
#[derive(Debug, Clone)]
pub struct Participant {
    /// Id.
    pub id: ParticipantId,
    /// Role.
    pub role: Role,
    /// Display name.
    pub display_name: String,
    /// ParticipantToken (customers only; the agent acts through the control API).
    pub token: Option<ParticipantToken>,
    /// Its participant.joined event was sent.
    pub joined: bool,
    /// Its participant.left event was sent.
    pub left: bool,
}

/// A chat contact.
#[derive(Debug, Clone)]
pub struct Contact {
    /// Id.
    pub id: ContactId,
    /// The chat's initial contact (itself: the emulator has no transfers).
    pub initial: ContactId,
    /// InstanceId given at start.
    pub instance_id: String,
    /// Attributes given at start.
    pub attributes: BTreeMap<String, String>,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time.
    pub ended_at: Option<DateTime<Utc>>,
    /// State.
    pub status: Status,
    /// Customer first, then the agent once joined.
    pub participants: Vec<Participant>,
    /// Stored items in order.
    pub items: Vec<StoredItem>,
    /// Persistent chat: the contact this one continues.
    pub continued_from: Option<ContactId>,
    /// SupportedMessagingContentTypes, when given.
    pub supported_types: Option<Vec<String>>,
    /// The customer connected (5-minute rule satisfied).
    pub customer_connected: bool,
    /// Pending customer-connect deadline.
    pub connect_deadline: Option<Instant>,
    /// Chat-duration deadline.
    pub end_deadline: Instant,
    /// Idle timers: configuration and running state (docs/connect-chat.md §6.1).
    pub timers: ContactTimers,
    /// Latest item time, so item times never go backwards.
    last_time: DateTime<Utc>,
}

impl Contact {
    /// A new contact with its customer.
    #[must_use]
    pub fn new(
        id: ContactId,
        instance_id: String,
        attributes: BTreeMap<String, String>,
        customer: Participant,
        started_at: DateTime<Utc>,
        end_deadline: Instant,
    ) -> Self {
        Self {
            initial: id.clone(),
            id,
            instance_id,
            attributes,
            started_at,
            ended_at: None,
            status: Status::Started,
            participants: vec![customer],
            items: Vec::new(),
            continued_from: None,
            supported_types: None,
            customer_connected: false,
            connect_deadline: None,
            end_deadline,
            timers: ContactTimers::default(),
            last_time: started_at,
        }
    }

    /// The customer participant.
    #[must_use]
    pub fn customer(&self) -> Option<&Participant> {
        self.participants.iter().find(|p| p.role == Role::Customer)
    }

    /// The agent participant, once joined.
    #[must_use]
    pub fn agent(&self) -> Option<&Participant> {
        self.participants.iter().find(|p| p.role == Role::Agent)
    }

    /// A participant by id.
    #[must_use]
    pub fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants.iter().find(|p| &p.id == id)
    }

    /// A participant by id, mutable.
    pub fn participant_mut(&mut self, id: &ParticipantId) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| &p.id == id)
    }

    /// Whether the chat has ended.
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.status == Status::Ended
    }

    /// A time for a new item: `now`, or the previous item's time if the clock went back.
    pub fn stamp(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let time = now.max(self.last_time);
        self.last_time = time;
        time
    }

    /// Appends an item from `sender` and returns its WebSocket rendering.
    pub fn append(
        &mut self,
        now: DateTime<Utc>,
        item_type: ItemType,
        content_type: &'static str,
        content: Option<String>,
        author: Author,
    ) -> Item {
        let time = self.stamp(now);
        let Author {
            id: participant_id,
            display_name,
            role,
        } = author;
        self.items.push(StoredItem {
            id: ItemId::random(),
            time,
            item_type,
            content_type,
            content,
            participant_id,
            display_name,
            role: Some(role),
            receipts: Vec::new(),
        });
        let stored = &self.items[self.items.len() - 1];
        stored.render(View::Socket {
            contact: &self.id,
            initial: &self.initial,
        })
    }

    /// Renders a not-stored item (typing) for the socket, stamped now.
    pub fn ephemeral(
        &mut self,
        now: DateTime<Utc>,
        content_type: &'static str,
        content: Option<String>,
        author: Author,
    ) -> Item {
        let time = self.stamp(now);
        let Author {
            id: participant_id,
            display_name,
            role,
        } = author;
        StoredItem {
            id: ItemId::random(),
            time,
            item_type: ItemType::Event,
            content_type,
            content,
            participant_id,
            display_name,
            role: Some(role),
            receipts: Vec::new(),
        }
        .render(View::Socket {
            contact: &self.id,
            initial: &self.initial,
        })
    }
}

/// Who an item is from (owned, so a contact can append while naming its own participant).
#[derive(Debug, Clone)]
pub struct Author {
    id: Option<ParticipantId>,
    display_name: Option<String>,
    role: Role,
}

impl Author {
    /// A participant.
    #[must_use]
    pub fn of(participant: &Participant) -> Self {
        Self {
            id: Some(participant.id.clone()),
            display_name: Some(participant.display_name.clone()),
            role: participant.role,
        }
    }

    /// The service itself (chat.ended).
    #[must_use]
    pub fn system() -> Self {
        Self {
            id: None,
            display_name: None,
            role: Role::System,
        }
    }
}
