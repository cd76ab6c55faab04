//! The emulated Connect chat service as plain state: no I/O, no async, time passed in.
//!
//! Every operation takes the current [`Now`] and returns its response or an [`ApiError`];
//! side effects on sockets (broadcasts, closes) are queued as [`Effect`]s that the caller
//! drains with [`Model::take_effects`] and applies while still holding the model, so frames
//! go out in transcript order. Rules follow docs/connect-chat.md (§ numbers below).
//!
//! Lifecycle timers: the model keeps a deadline set (customer-connect timeout, chat
//! duration, the chat idle timers of [`timers`]). It never sleeps; the server's reaper task
//! asks [`Model::next_deadline`], sleeps until then and calls [`Model::expire`]. Token and
//! URL expiries are checked lazily where they are used, and their bookkeeping is pruned on
//! insertion.
//!
//! The operations are split by API, each file with its own `impl Model` block:
//! - `connect.rs`: the Connect (admin) API, StartChatContact and StopContact (§2);
//!   UpdateParticipantRoleConfig is in [`timers`] with the timers it sets.
//! - `participant.rs`: the Participant API (§3), CreateParticipantConnection, SendMessage,
//!   SendEvent, GetTranscript, DisconnectParticipant, with their ConnectionToken checks,
//!   and the acceptance of WebSocket URLs (§5.1).
//! - `control.rs`: the agent control API under `/sim`: contacts, the agent joining,
//!   messaging and ending chats, full transcripts.
//! - `idempotency.rs`: ClientToken bookkeeping (§1.5).
//!
//! This file keeps the [`Model`] state, the deadline reaper ([`Model::expire`]) and the
//! helpers several APIs share: joining, appending messages and events, issuing
//! connections, ending a chat.

pub mod api;
pub mod contact;
pub mod ids;
pub mod item;
pub mod rules;
pub mod template;
pub mod timers;
pub mod transcript;
pub mod validate;

mod connect;
mod control;
mod idempotency;
mod participant;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::config::SimConfig;
use crate::error::ApiError;
use crate::time::{Now, format_aws};
use api::{ConnectionCredentials, CreateParticipantConnectionResponse, SendResponse, Websocket};
use contact::{Author, Contact, Status};
use idempotency::{IdempotencyKey, Reply};
use ids::{ConnectionToken, ContactId, ItemId, ParticipantId, ParticipantToken, SocketKey};
use item::{Item, ItemType, MessageMetadata, Receipt, View, event};
use rules::EventKind;
use timers::{Phase, TimerRole};
use validate::ConnectionTypes;

/// Socket work produced by an operation, applied in order by the caller.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Send this item on `aws/chat` to every subscribed socket of the contact.
    Broadcast {
        /// The contact.
        contact: ContactId,
        /// The item, rendered for sockets.
        item: Box<Item>,
    },
    /// Close every socket of the contact after the frames already queued (chat ended).
    CloseSockets {
        /// The contact.
        contact: ContactId,
    },
    /// Write the ended chat's transcript to the archive ([`crate::archive`]).
    Archive(crate::archive::Archived),
}

/// A WebSocket URL that was accepted: whose socket it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketGrant {
    /// The contact.
    pub contact: ContactId,
    /// The participant.
    pub participant: ParticipantId,
}

/// Why a WebSocket URL was refused (§5.1: all answer 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SocketRefusal {
    /// Never issued, or already used (URLs are single use).
    #[error("unknown or already used websocket url")]
    Unknown,
    /// Issued longer ago than the URL validity.
    #[error("websocket url expired")]
    Expired,
    /// The chat ended.
    #[error("chat has ended")]
    Ended,
}

/// Counts for `/sim/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelStats {
    /// Contacts kept (ended ones included).
    pub contacts: usize,
    /// Contacts not ended.
    pub active: usize,
    /// Live ConnectionTokens (not yet pruned).
    pub connection_tokens: usize,
    /// Issued WebSocket URLs not yet used or pruned.
    pub pending_sockets: usize,
}

/// A lifecycle deadline of a contact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Deadline {
    CustomerConnect(ContactId),
    ChatEnd(ContactId),
    /// An idle or auto-disconnect timer of one role ([`timers`]).
    Timer {
        contact: ContactId,
        role: TimerRole,
        phase: Phase,
    },
}

#[derive(Debug, Clone)]
struct Grant {
    contact: ContactId,
    participant: ParticipantId,
    expires: Instant,
}

/// Lifetimes and limits the model enforces.
#[derive(Debug, Clone)]
struct Limits {
    connection_token_ttl: Duration,
    websocket_url_validity: Duration,
    customer_connect_timeout: Duration,
    default_chat_duration: Duration,
    concurrent_chat_limit: Option<usize>,
    idempotency_window: Duration,
    transcript_after_end: bool,
    past_items_forward: bool,
    archive_prefix: Option<String>,
}

/// The whole emulated service state.
#[derive(Debug)]
pub struct Model {
    limits: Limits,
    contacts: HashMap<ContactId, Contact>,
    order: Vec<ContactId>,
    participant_tokens: HashMap<ParticipantToken, (ContactId, ParticipantId)>,
    connection_tokens: HashMap<ConnectionToken, Grant>,
    connection_token_queue: VecDeque<(Instant, ConnectionToken)>,
    pending_sockets: HashMap<SocketKey, Grant>,
    pending_socket_queue: VecDeque<(Instant, SocketKey)>,
    idempotency: HashMap<IdempotencyKey, Reply>,
    idempotency_queue: VecDeque<(Instant, IdempotencyKey)>,
    deadlines: BTreeSet<(Instant, Deadline)>,
    active: usize,
    effects: Vec<Effect>,
}

impl Model {
    /// An empty service.
    #[must_use]
    pub fn new(config: &SimConfig) -> Self {
        Self {
            limits: Limits {
                connection_token_ttl: config.connection_token_ttl,
                websocket_url_validity: config.websocket_url_validity,
                customer_connect_timeout: config.customer_connect_timeout,
                default_chat_duration: config.default_chat_duration,
                concurrent_chat_limit: config.concurrent_chat_limit,
                idempotency_window: config.idempotency_window,
                transcript_after_end: config.transcript_after_end,
                past_items_forward: config.past_items_forward,
                archive_prefix: config
                    .transcript_archive
                    .as_ref()
                    .map(|target| target.prefix.clone()),
            },
            contacts: HashMap::new(),
            order: Vec::new(),
            participant_tokens: HashMap::new(),
            connection_tokens: HashMap::new(),
            connection_token_queue: VecDeque::new(),
            pending_sockets: HashMap::new(),
            pending_socket_queue: VecDeque::new(),
            idempotency: HashMap::new(),
            idempotency_queue: VecDeque::new(),
            deadlines: BTreeSet::new(),
            active: 0,
            effects: Vec::new(),
        }
    }

    /// Drains the socket effects queued by the operations since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Counts for the stats endpoint.
    #[must_use]
    pub fn stats(&self) -> ModelStats {
        ModelStats {
            contacts: self.contacts.len(),
            active: self.active,
            connection_tokens: self.connection_tokens.len(),
            pending_sockets: self.pending_sockets.len(),
        }
    }

    // ----- Timers --------------------------------------------------------------------------

    /// The earliest lifecycle deadline.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Applies every deadline at or before `now`; returns how many chats ended.
    pub fn expire(&mut self, now: Now) -> usize {
        let mut ended = 0;
        while let Some((at, _)) = self.deadlines.first() {
            if *at > now.mono {
                break;
            }
            let Some((at, deadline)) = self.deadlines.pop_first() else {
                break;
            };
            let (contact, cause) = match deadline {
                Deadline::CustomerConnect(id) => (id, "customer did not connect in time"),
                Deadline::ChatEnd(id) => (id, "chat duration elapsed"),
                Deadline::Timer {
                    contact,
                    role,
                    phase,
                } => {
                    if self.fire_timer(&contact, role, phase, at, now) {
                        ended += 1;
                    }
                    continue;
                }
            };
            if self.is_live(&contact) {
                self.end_contact(&contact, None, cause, now);
                ended += 1;
            }
        }
        self.prune(now.mono);
        ended
    }

    // ----- Internals -----------------------------------------------------------------------

    /// The view of a contact: ancestors' items (oldest first), then its own.
    fn view(&self, id: &ContactId) -> Vec<(&item::StoredItem, &ContactId)> {
        let mut chain = Vec::new();
        let mut next = Some(id);
        while let Some(current) = next {
            let Some(contact) = self.contacts.get(current) else {
                break;
            };
            chain.push(contact);
            next = contact.continued_from.as_ref();
        }
        chain
            .iter()
            .rev()
            .flat_map(|c| c.items.iter().map(move |item| (item, &c.id)))
            .collect()
    }

    fn customer_connected(
        &mut self,
        contact_id: &ContactId,
        participant: &ParticipantId,
        now: Now,
    ) {
        let Some(contact) = self.contacts.get_mut(contact_id) else {
            return;
        };
        let first =
            !contact.customer_connected && contact.customer().is_some_and(|c| &c.id == participant);
        if first {
            contact.customer_connected = true;
            if contact.status == Status::Started {
                contact.status = Status::Connected;
            }
            if let Some(at) = contact.connect_deadline.take() {
                self.deadlines
                    .remove(&(at, Deadline::CustomerConnect(contact_id.clone())));
            }
        }
        self.mark_joined(contact_id, participant, now);
        if first {
            self.start_timers(contact_id, false, now);
        }
    }

    fn mark_joined(&mut self, contact_id: &ContactId, participant: &ParticipantId, now: Now) {
        let Some(contact) = self.contacts.get_mut(contact_id) else {
            return;
        };
        let Some(p) = contact.participant_mut(participant) else {
            return;
        };
        if p.joined {
            return;
        }
        p.joined = true;
        let author = Author::of(p);
        let item = contact.append(
            now.wall,
            ItemType::Event,
            event::PARTICIPANT_JOINED,
            None,
            author,
        );
        self.effects.push(Effect::Broadcast {
            contact: contact_id.clone(),
            item: Box::new(item),
        });
    }

    fn append_message(
        &mut self,
        contact_id: &ContactId,
        participant: &ParticipantId,
        content_type: &'static str,
        content: String,
        now: Now,
    ) -> SendResponse {
        self.timer_activity(contact_id, participant, now);
        let Some(contact) = self.contacts.get_mut(contact_id) else {
            // Callers looked the contact up under the same borrow of `self`.
            return SendResponse {
                id: ItemId::random().to_string(),
                absolute_time: format_aws(now.wall),
            };
        };
        let author = contact
            .participant(participant)
            .map_or_else(Author::system, Author::of);
        let item = contact.append(
            now.wall,
            ItemType::Message,
            content_type,
            Some(content),
            author,
        );
        let reply = SendResponse {
            id: item.id.clone(),
            absolute_time: item.absolute_time.clone(),
        };
        self.effects.push(Effect::Broadcast {
            contact: contact_id.clone(),
            item: Box::new(item),
        });
        reply
    }

    fn apply_event(
        &mut self,
        contact_id: &ContactId,
        participant_id: &ParticipantId,
        kind: EventKind,
        content: Option<String>,
        now: Now,
    ) -> Result<SendResponse, ApiError> {
        if kind == EventKind::ConnectionAcknowledged {
            self.customer_connected(contact_id, participant_id, now);
            return Ok(SendResponse {
                id: ItemId::random().to_string(),
                absolute_time: format_aws(now.wall),
            });
        }
        let target = match kind {
            EventKind::Delivered | EventKind::Read => {
                Some(self.receipt_target(contact_id, content.as_deref())?)
            }
            EventKind::Typing | EventKind::ConnectionAcknowledged => None,
        };
        let contact = self
            .contacts
            .get_mut(contact_id)
            .ok_or_else(|| ApiError::access_denied("chat not found"))?;
        let author = contact
            .participant(participant_id)
            .map(Author::of)
            .ok_or_else(|| ApiError::access_denied("participant not found"))?;
        let item = match target {
            None => contact.ephemeral(now.wall, event::TYPING, content, author),
            Some((owner, message_id)) => {
                let time = contact.stamp(now.wall);
                let initial = contact.initial.clone();
                let receipt = self.record_receipt(&owner, &message_id, participant_id, kind, time);
                receipt_frame(contact_id, &initial, message_id, receipt, time)
            }
        };
        let reply = SendResponse {
            id: item.id.clone(),
            absolute_time: item.absolute_time.clone(),
        };
        self.effects.push(Effect::Broadcast {
            contact: contact_id.clone(),
            item: Box::new(item),
        });
        Ok(reply)
    }

    /// Finds the contact holding the message a receipt names (`{"messageId": "…"}`).
    fn receipt_target(
        &self,
        contact_id: &ContactId,
        content: Option<&str>,
    ) -> Result<(ContactId, ItemId), ApiError> {
        let message_id = content
            .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
            .and_then(|v| {
                v.get("messageId")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::validation("receipt Content must be JSON {\"messageId\":\"...\"}")
            })?;
        self.view(contact_id)
            .into_iter()
            .find(|(item, _)| item.id.as_str() == message_id && item.item_type == ItemType::Message)
            .map(|(item, owner)| (owner.clone(), item.id.clone()))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "messageId {message_id} is not a message of this chat"
                ))
            })
    }

    fn record_receipt(
        &mut self,
        owner: &ContactId,
        message_id: &ItemId,
        recipient: &ParticipantId,
        kind: EventKind,
        time: DateTime<Utc>,
    ) -> Receipt {
        let stamp = format_aws(time);
        let mut receipt = Receipt {
            delivered_timestamp: None,
            read_timestamp: None,
            recipient_participant_id: recipient.to_string(),
        };
        match kind {
            EventKind::Read => receipt.read_timestamp = Some(stamp),
            EventKind::Delivered | EventKind::Typing | EventKind::ConnectionAcknowledged => {
                receipt.delivered_timestamp = Some(stamp);
            }
        }
        if let Some(message) = self
            .contacts
            .get_mut(owner)
            .and_then(|c| c.items.iter_mut().find(|i| &i.id == message_id))
        {
            match message
                .receipts
                .iter_mut()
                .find(|r| r.recipient_participant_id == receipt.recipient_participant_id)
            {
                Some(existing) => {
                    if receipt.read_timestamp.is_some() {
                        existing.read_timestamp.clone_from(&receipt.read_timestamp);
                    }
                    if existing.delivered_timestamp.is_none() {
                        existing
                            .delivered_timestamp
                            .clone_from(&receipt.delivered_timestamp);
                    }
                }
                None => message.receipts.push(receipt.clone()),
            }
        }
        receipt
    }

    fn issue_connection(
        &mut self,
        contact: &ContactId,
        participant: &ParticipantId,
        types: &ConnectionTypes,
        ws_base: &str,
        now: Now,
    ) -> CreateParticipantConnectionResponse {
        let mut response = CreateParticipantConnectionResponse::default();
        if types.websocket {
            let key = SocketKey::random();
            let expires = now.mono + self.limits.websocket_url_validity;
            self.prune_pending_sockets(now.mono);
            self.pending_sockets.insert(
                key.clone(),
                Grant {
                    contact: contact.clone(),
                    participant: participant.clone(),
                    expires,
                },
            );
            self.pending_socket_queue.push_back((expires, key.clone()));
            response.websocket = Some(Websocket {
                url: format!("{ws_base}/ws/{}", key.expose()),
                connection_expiry: format_aws(now.wall + self.limits.websocket_url_validity),
            });
        }
        if types.credentials {
            let token = ConnectionToken::random();
            let expires = now.mono + self.limits.connection_token_ttl;
            self.prune_connection_tokens(now.mono);
            self.connection_tokens.insert(
                token.clone(),
                Grant {
                    contact: contact.clone(),
                    participant: participant.clone(),
                    expires,
                },
            );
            self.connection_token_queue
                .push_back((expires, token.clone()));
            response.connection_credentials = Some(ConnectionCredentials {
                connection_token: token.expose().to_owned(),
                expiry: format_aws(now.wall + self.limits.connection_token_ttl),
            });
        }
        response
    }

    /// Ends a chat (§6.2): participant.left for everyone present (`first` first), then
    /// chat.ended, then the sockets close. Ending an ended chat does nothing.
    fn end_contact(
        &mut self,
        id: &ContactId,
        first: Option<&ParticipantId>,
        cause: &'static str,
        now: Now,
    ) {
        let Some(contact) = self.contacts.get_mut(id) else {
            return;
        };
        if contact.is_ended() {
            return;
        }
        tracing::info!(contact_id = %id, cause, "chat ended");
        let mut present: Vec<usize> = (0..contact.participants.len())
            .filter(|&i| contact.participants[i].joined && !contact.participants[i].left)
            .collect();
        if let Some(first) = first {
            present.sort_by_key(|&i| &contact.participants[i].id != first);
        }
        let mut items = Vec::with_capacity(present.len() + 1);
        for i in present {
            contact.participants[i].left = true;
            let author = Author::of(&contact.participants[i]);
            items.push(contact.append(
                now.wall,
                ItemType::Event,
                event::PARTICIPANT_LEFT,
                None,
                author,
            ));
        }
        items.push(contact.append(
            now.wall,
            ItemType::Event,
            event::CHAT_ENDED,
            None,
            Author::system(),
        ));
        contact.status = Status::Ended;
        contact.ended_at = Some(now.wall);
        if let Some(at) = contact.connect_deadline.take() {
            self.deadlines
                .remove(&(at, Deadline::CustomerConnect(id.clone())));
        }
        self.deadlines
            .remove(&(contact.end_deadline, Deadline::ChatEnd(id.clone())));
        timers::disarm(&mut self.deadlines, id, &mut contact.timers);
        self.active = self.active.saturating_sub(1);
        self.effects
            .extend(items.into_iter().map(|item| Effect::Broadcast {
                contact: id.clone(),
                item: Box::new(item),
            }));
        self.effects.push(Effect::CloseSockets {
            contact: id.clone(),
        });
        if let Some(prefix) = &self.limits.archive_prefix
            && let Some(contact) = self.contacts.get(id)
        {
            let archived = archived(prefix, contact, now.wall);
            self.effects.push(Effect::Archive(archived));
        }
    }

    fn prune(&mut self, now: Instant) {
        self.prune_pending_sockets(now);
        self.prune_connection_tokens(now);
    }

    fn prune_pending_sockets(&mut self, now: Instant) {
        while let Some((at, _)) = self.pending_socket_queue.front() {
            if *at >= now {
                break;
            }
            if let Some((_, key)) = self.pending_socket_queue.pop_front() {
                self.pending_sockets.remove(&key);
            }
        }
    }

    fn prune_connection_tokens(&mut self, now: Instant) {
        while let Some((at, _)) = self.connection_token_queue.front() {
            if *at >= now {
                break;
            }
            if let Some((_, token)) = self.connection_token_queue.pop_front() {
                self.connection_tokens.remove(&token);
            }
        }
    }
}

fn render_in_view(entry: (&item::StoredItem, &ContactId), current: &ContactId) -> Item {
    let (item, owner) = entry;
    if owner == current {
        item.render(View::Current(owner))
    } else {
        item.render(View::Past(owner))
    }
}

fn receipt_frame(
    contact: &ContactId,
    initial: &ContactId,
    message_id: ItemId,
    receipt: Receipt,
    time: DateTime<Utc>,
) -> Item {
    Item {
        absolute_time: format_aws(time),
        content: None,
        content_type: None,
        id: ItemId::random().to_string(),
        item_type: ItemType::MessageMetadata,
        participant_id: None,
        display_name: None,
        participant_role: None,
        message_metadata: Some(MessageMetadata {
            message_id: message_id.to_string(),
            receipts: vec![receipt],
        }),
        related_contact_id: None,
        contact_id: Some(contact.to_string()),
        initial_contact_id: Some(initial.to_string()),
    }
}

/// The transcript document of an ended `contact` and its key under `prefix`.
fn archived(prefix: &str, contact: &Contact, ended_at: DateTime<Utc>) -> crate::archive::Archived {
    let document = crate::archive::Document {
        version: "2019-08-26",
        aws_account_id: "000000000000",
        instance_id: contact.instance_id.clone(),
        initial_contact_id: contact.initial.to_string(),
        contact_id: contact.id.to_string(),
        participants: contact
            .participants
            .iter()
            .map(|participant| crate::archive::DocumentParticipant {
                participant_id: participant.id.to_string(),
            })
            .collect(),
        transcript: contact
            .items
            .iter()
            .map(|item| item.render(View::Current(&contact.id)))
            .collect(),
    };
    crate::archive::Archived {
        key: crate::archive::key(prefix, contact.id.as_str(), ended_at),
        // Serialising plain strings and lists cannot fail; an empty body would be noticed.
        body: serde_json::to_string(&document).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests;
