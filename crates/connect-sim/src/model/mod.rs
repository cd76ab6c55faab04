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

pub mod api;
pub mod contact;
pub mod ids;
pub mod item;
pub mod rules;
pub mod template;
pub mod timers;
pub mod transcript;
pub mod validate;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::config::SimConfig;
use crate::error::ApiError;
use crate::time::{Now, format_aws};
use api::{
    AgentJoinRequest, AgentJoinResponse, ChatMessage, ConnectionCredentials, ContactSummary,
    CreateParticipantConnectionRequest, CreateParticipantConnectionResponse,
    DisconnectParticipantRequest, FullTranscript, GetTranscriptRequest, GetTranscriptResponse,
    SendEventRequest, SendMessageRequest, SendResponse, StartChatContactRequest,
    StartChatContactResponse, StopContactRequest, Websocket,
};
use contact::{Author, Contact, Participant, Status};
use ids::{ConnectionToken, ContactId, ItemId, ParticipantId, ParticipantToken, SocketKey};
use item::{Item, ItemType, MessageMetadata, Receipt, Role, View, event};
use rules::{ContentError, EventKind, Sender};
use timers::{Phase, TimerRole};
use validate::{
    ConnectionTypes, parse_connection_types, parse_page_request, required, validate_start,
};

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

/// Operations that honour ClientToken (§1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IdempotentOp {
    StartChatContact,
    SendMessage,
    SendEvent,
    DisconnectParticipant,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct IdempotencyKey {
    op: IdempotentOp,
    scope: String,
    token: String,
}

#[derive(Debug, Clone)]
enum Reply {
    StartChat(StartChatContactResponse),
    Send(SendResponse),
    Disconnect,
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

/// Display name used when the agent API gives none.
const DEFAULT_AGENT_NAME: &str = "Agent";

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

    // ----- Connect (admin) API -------------------------------------------------------------

    /// StartChatContact (§2.1, §6.5). `ws_base` is `ws://host` for `ConnectionTypes`.
    ///
    /// # Errors
    /// InvalidRequestException for bad input, ResourceNotFoundException for an unknown
    /// persistent-chat source or related contact, LimitExceededException over the
    /// concurrent-chat quota.
    pub fn start_chat(
        &mut self,
        request: StartChatContactRequest,
        ws_base: &str,
        now: Now,
    ) -> Result<StartChatContactResponse, ApiError> {
        let input = validate_start(&request)?;
        let key = request.client_token.as_ref().map(|token| IdempotencyKey {
            op: IdempotentOp::StartChatContact,
            scope: input.instance_id.clone(),
            token: token.clone(),
        });
        if let Some(Reply::StartChat(reply)) = key.as_ref().and_then(|k| self.idempotency.get(k)) {
            return Ok(reply.clone());
        }
        if let Some(limit) = self.limits.concurrent_chat_limit
            && self.active >= limit
        {
            return Err(ApiError::limit_exceeded(format!(
                "the instance already has {limit} active chats"
            )));
        }
        let continued_from = self.resolve_persistent_source(&request, &input.instance_id)?;
        if let Some(related) = &request.related_contact_id
            && !self.contacts.contains_key(&ContactId::from_client(related))
        {
            return Err(ApiError::not_found(format!(
                "RelatedContactId {related} not found"
            )));
        }

        let contact_id = ContactId::random();
        let token = ParticipantToken::random();
        let customer = Participant {
            id: ParticipantId::random(),
            role: Role::Customer,
            display_name: input.display_name.clone(),
            token: Some(token.clone()),
            joined: false,
            left: false,
        };
        let customer_id = customer.id.clone();
        let duration = input
            .duration_minutes
            .map_or(self.limits.default_chat_duration, |m| {
                Duration::from_secs(u64::try_from(m).unwrap_or(0) * 60)
            });
        let mut contact = Contact::new(
            contact_id.clone(),
            input.instance_id.clone(),
            request.attributes.clone().unwrap_or_default(),
            customer,
            now.wall,
            now.mono + duration,
        );
        contact.supported_types = request.supported_messaging_content_types.clone();
        contact.continued_from = continued_from.clone();
        let connect_deadline = now.mono + self.limits.customer_connect_timeout;
        contact.connect_deadline = Some(connect_deadline);
        self.deadlines.insert((
            connect_deadline,
            Deadline::CustomerConnect(contact_id.clone()),
        ));
        self.deadlines
            .insert((contact.end_deadline, Deadline::ChatEnd(contact_id.clone())));
        self.participant_tokens
            .insert(token.clone(), (contact_id.clone(), customer_id.clone()));
        self.contacts.insert(contact_id.clone(), contact);
        self.order.push(contact_id.clone());
        self.active += 1;

        if let Some(initial) = input.initial_message {
            self.mark_joined(&contact_id, &customer_id, now);
            self.append_message(
                &contact_id,
                &customer_id,
                initial.content_type,
                initial.content,
                now,
            );
        }

        let mut response = StartChatContactResponse {
            contact_id: contact_id.to_string(),
            participant_id: customer_id.to_string(),
            participant_token: token.expose().to_owned(),
            continued_from_contact_id: continued_from.map(|c| c.to_string()),
            connection_credentials: None,
            websocket: None,
        };
        if let Some(types) = &input.connection_types {
            self.customer_connected(&contact_id, &customer_id, now);
            let issued = self.issue_connection(&contact_id, &customer_id, types, ws_base, now);
            response.connection_credentials = issued.connection_credentials;
            response.websocket = issued.websocket;
        }
        if let Some(key) = key {
            self.remember(key, Reply::StartChat(response.clone()), now);
        }
        Ok(response)
    }

    /// StopContact (§2.2): ends the chat; an ended chat is a no-op.
    ///
    /// # Errors
    /// InvalidRequestException for missing ids, ResourceNotFoundException for an unknown
    /// contact or one of another instance.
    pub fn stop_contact(&mut self, request: &StopContactRequest, now: Now) -> Result<(), ApiError> {
        let contact_id = required(
            request.contact_id.as_deref(),
            "ContactId",
            1..=256,
            ApiError::invalid_request,
        )?;
        let instance_id = required(
            request.instance_id.as_deref(),
            "InstanceId",
            1..=100,
            ApiError::invalid_request,
        )?;
        let id = ContactId::from_client(contact_id);
        match self.contacts.get(&id) {
            Some(contact) if contact.instance_id == instance_id => {
                self.end_contact(&id, None, "StopContact", now);
                Ok(())
            }
            _ => Err(ApiError::not_found(format!(
                "contact {contact_id} not found in instance {instance_id}"
            ))),
        }
    }

    // ----- Participant API -----------------------------------------------------------------

    /// CreateParticipantConnection (§3.1) with a ParticipantToken.
    ///
    /// # Errors
    /// AccessDeniedException for an unknown token or an ended chat, ValidationException for a
    /// bad `Type`.
    pub fn create_connection(
        &mut self,
        participant_token: &str,
        request: &CreateParticipantConnectionRequest,
        ws_base: &str,
        now: Now,
    ) -> Result<CreateParticipantConnectionResponse, ApiError> {
        let (contact_id, participant_id) = self
            .participant_tokens
            .get(&ParticipantToken::from_client(participant_token))
            .cloned()
            .ok_or_else(|| ApiError::access_denied("invalid participant token"))?;
        self.require_live(&contact_id, &participant_id)?;
        let connect = request.connect_participant.unwrap_or(false);
        let types = match &request.connection_type {
            None if connect => None,
            None => {
                return Err(ApiError::validation(
                    "Type is required unless ConnectParticipant is true",
                ));
            }
            Some(list) => Some(parse_connection_types(list, ApiError::validation)?),
        };
        self.customer_connected(&contact_id, &participant_id, now);
        Ok(match types {
            None => CreateParticipantConnectionResponse::default(),
            Some(types) => {
                self.issue_connection(&contact_id, &participant_id, &types, ws_base, now)
            }
        })
    }

    /// SendMessage (§3.2).
    ///
    /// # Errors
    /// AccessDeniedException for a bad/expired token or ended chat, ValidationException for
    /// content rules.
    pub fn send_message(
        &mut self,
        connection_token: &str,
        request: &SendMessageRequest,
        now: Now,
    ) -> Result<SendResponse, ApiError> {
        let (contact_id, participant_id) = self.authorize(connection_token, now)?;
        let key = idempotency_key(
            IdempotentOp::SendMessage,
            &participant_id,
            &request.client_token,
        );
        if let Some(Reply::Send(reply)) = key.as_ref().and_then(|k| self.idempotency.get(k)) {
            return Ok(reply.clone());
        }
        let content_type = required(
            request.content_type.as_deref(),
            "ContentType",
            1..=100,
            ApiError::validation,
        )?;
        let content = request
            .content
            .as_deref()
            .ok_or_else(|| ApiError::validation("Content is required"))?;
        let supported = self
            .contacts
            .get(&contact_id)
            .and_then(|c| c.supported_types.clone());
        let content_type = rules::check_message(
            content_type,
            content,
            supported.as_deref(),
            Sender::Participant,
        )
        .map_err(|e| ApiError::validation(e.to_string()))?;
        let reply = self.append_message(
            &contact_id,
            &participant_id,
            content_type,
            content.to_owned(),
            now,
        );
        if let Some(key) = key {
            self.remember(key, Reply::Send(reply.clone()), now);
        }
        Ok(reply)
    }

    /// SendEvent (§3.3): typing is broadcast only, receipts update the message and are
    /// broadcast as MESSAGEMETADATA, connection.acknowledged marks the caller connected.
    ///
    /// # Errors
    /// AccessDeniedException for a bad/expired token or ended chat, ValidationException for an
    /// unknown event type or a malformed receipt.
    pub fn send_event(
        &mut self,
        connection_token: &str,
        request: &SendEventRequest,
        now: Now,
    ) -> Result<SendResponse, ApiError> {
        let (contact_id, participant_id) = self.authorize(connection_token, now)?;
        let key = idempotency_key(
            IdempotentOp::SendEvent,
            &participant_id,
            &request.client_token,
        );
        if let Some(Reply::Send(reply)) = key.as_ref().and_then(|k| self.idempotency.get(k)) {
            return Ok(reply.clone());
        }
        let content_type = required(
            request.content_type.as_deref(),
            "ContentType",
            1..=100,
            ApiError::validation,
        )?;
        let kind = rules::event_kind(content_type).ok_or_else(|| {
            ApiError::validation(format!("unsupported event ContentType {content_type:?}"))
        })?;
        if let Some(content) = &request.content {
            let len = content.chars().count();
            if len == 0 || len > rules::MAX_CONTENT_CHARS {
                return Err(ApiError::validation("Content must have 1-16384 characters"));
            }
        }
        let reply = self.apply_event(
            &contact_id,
            &participant_id,
            kind,
            request.content.clone(),
            now,
        )?;
        if let Some(key) = key {
            self.remember(key, Reply::Send(reply.clone()), now);
        }
        Ok(reply)
    }

    /// GetTranscript (§3.4); paging rules in [`transcript`].
    ///
    /// # Errors
    /// AccessDeniedException for a bad/expired token or ended chat, ValidationException for bad
    /// paging parameters.
    pub fn get_transcript(
        &self,
        connection_token: &str,
        request: &GetTranscriptRequest,
        now: Now,
    ) -> Result<GetTranscriptResponse, ApiError> {
        let (contact_id, _) = if self.limits.transcript_after_end {
            self.authorize_read(connection_token, now)?
        } else {
            self.authorize(connection_token, now)?
        };
        let contact = self
            .contacts
            .get(&contact_id)
            .ok_or_else(|| ApiError::access_denied("chat not found"))?;
        if let Some(asked) = &request.contact_id
            && asked != contact.id.as_str()
            && asked != contact.initial.as_str()
        {
            return Err(ApiError::validation(format!(
                "ContactId {asked} is not in the current contact chain"
            )));
        }
        let mut page_request = parse_page_request(request, &contact_id)?;
        page_request.past_forward = self.limits.past_items_forward;
        let view = self.view(&contact_id);
        let stored: Vec<&item::StoredItem> = view.iter().map(|(item, _)| *item).collect();
        let current_start = view
            .iter()
            .take_while(|(_, owner)| *owner != &contact.id)
            .count();
        let page = transcript::select(&stored, current_start, &contact_id, &page_request)
            .map_err(|e| ApiError::validation(e.to_string()))?;
        let transcript = page
            .indices
            .iter()
            .map(|&i| render_in_view(view[i], &contact.id))
            .collect();
        Ok(GetTranscriptResponse {
            initial_contact_id: contact.initial.to_string(),
            transcript,
            next_token: page.next.map(|c| c.encode()),
        })
    }

    /// DisconnectParticipant (§3.5): the customer leaving ends the chat.
    ///
    /// # Errors
    /// AccessDeniedException for a bad/expired token or ended chat.
    pub fn disconnect(
        &mut self,
        connection_token: &str,
        request: &DisconnectParticipantRequest,
        now: Now,
    ) -> Result<(), ApiError> {
        let (contact_id, participant_id) = self.authorize(connection_token, now)?;
        let key = idempotency_key(
            IdempotentOp::DisconnectParticipant,
            &participant_id,
            &request.client_token,
        );
        if key
            .as_ref()
            .is_some_and(|k| self.idempotency.contains_key(k))
        {
            return Ok(());
        }
        self.end_contact(
            &contact_id,
            Some(&participant_id),
            "participant disconnected",
            now,
        );
        if let Some(key) = key {
            self.remember(key, Reply::Disconnect, now);
        }
        Ok(())
    }

    /// Accepts a WebSocket URL key once, within its validity (§5.1).
    ///
    /// # Errors
    /// [`SocketRefusal`] for unknown/used, expired URLs and ended chats.
    pub fn open_socket(&mut self, key: &str, now: Now) -> Result<SocketGrant, SocketRefusal> {
        let grant = self
            .pending_sockets
            .remove(&SocketKey::from_client(key))
            .ok_or(SocketRefusal::Unknown)?;
        if now.mono > grant.expires {
            return Err(SocketRefusal::Expired);
        }
        match self.contacts.get(&grant.contact) {
            Some(contact) if !contact.is_ended() => Ok(SocketGrant {
                contact: grant.contact,
                participant: grant.participant,
            }),
            _ => Err(SocketRefusal::Ended),
        }
    }

    /// Whether a contact is still live (sockets use it when they subscribe).
    #[must_use]
    pub fn is_live(&self, contact: &ContactId) -> bool {
        self.contacts.get(contact).is_some_and(|c| !c.is_ended())
    }

    // ----- Control API ---------------------------------------------------------------------

    /// Every contact, in start order.
    #[must_use]
    pub fn list_contacts(&self) -> Vec<ContactSummary> {
        self.order
            .iter()
            .filter_map(|id| self.contacts.get(id))
            .map(summarize)
            .collect()
    }

    /// One contact.
    #[must_use]
    pub fn contact_summary(&self, id: &ContactId) -> Option<ContactSummary> {
        self.contacts.get(id).map(summarize)
    }

    /// The agent joins (idempotent: a present agent is returned as is).
    ///
    /// # Errors
    /// ResourceNotFoundException for an unknown contact, ConflictException for an ended chat,
    /// ValidationException for a bad display name.
    pub fn agent_join(
        &mut self,
        id: &ContactId,
        request: &AgentJoinRequest,
        now: Now,
    ) -> Result<AgentJoinResponse, ApiError> {
        let name = request
            .display_name
            .clone()
            .unwrap_or_else(|| DEFAULT_AGENT_NAME.to_owned());
        if name.is_empty() || name.chars().count() > 256 {
            return Err(ApiError::validation(
                "DisplayName must have 1-256 characters",
            ));
        }
        let agent = self.ensure_agent(id, name, now)?;
        Ok(AgentJoinResponse {
            participant_id: agent.0.to_string(),
            display_name: agent.1,
        })
    }

    /// An agent message (joins the agent first if needed).
    ///
    /// # Errors
    /// ResourceNotFoundException, ConflictException (ended), ValidationException (content).
    pub fn agent_message(
        &mut self,
        id: &ContactId,
        request: &ChatMessage,
        now: Now,
    ) -> Result<SendResponse, ApiError> {
        let content_type = request
            .content_type
            .as_deref()
            .unwrap_or(item::message::TEXT_PLAIN);
        let content = request
            .content
            .as_deref()
            .ok_or_else(|| ApiError::validation("Content is required"))?;
        let supported = self
            .contacts
            .get(id)
            .ok_or_else(|| ApiError::not_found(format!("contact {id} not found")))?
            .supported_types
            .clone();
        let content_type =
            rules::check_message(content_type, content, supported.as_deref(), Sender::Agent)
                .map_err(|e: ContentError| ApiError::validation(e.to_string()))?;
        let (agent_id, _) = self.ensure_agent(id, DEFAULT_AGENT_NAME.to_owned(), now)?;
        Ok(self.append_message(id, &agent_id, content_type, content.to_owned(), now))
    }

    /// An agent event: typing or a receipt (joins the agent first if needed).
    ///
    /// # Errors
    /// ResourceNotFoundException, ConflictException (ended), ValidationException.
    pub fn agent_event(
        &mut self,
        id: &ContactId,
        request: &SendEventRequest,
        now: Now,
    ) -> Result<SendResponse, ApiError> {
        let content_type = request.content_type.as_deref().unwrap_or(event::TYPING);
        let kind = rules::event_kind(content_type)
            .filter(|k| *k != EventKind::ConnectionAcknowledged)
            .ok_or_else(|| {
                ApiError::validation(format!("unsupported event ContentType {content_type:?}"))
            })?;
        let (agent_id, _) = self.ensure_agent(id, DEFAULT_AGENT_NAME.to_owned(), now)?;
        self.apply_event(id, &agent_id, kind, request.content.clone(), now)
    }

    /// Ends a chat from the agent side.
    ///
    /// # Errors
    /// ResourceNotFoundException for an unknown contact.
    pub fn agent_end(&mut self, id: &ContactId, now: Now) -> Result<(), ApiError> {
        let agent = self
            .contacts
            .get(id)
            .ok_or_else(|| ApiError::not_found(format!("contact {id} not found")))?
            .agent()
            .map(|a| a.id.clone());
        self.end_contact(id, agent.as_ref(), "ended by the agent", now);
        Ok(())
    }

    /// The whole view of a contact, oldest first.
    ///
    /// # Errors
    /// ResourceNotFoundException for an unknown contact.
    pub fn full_transcript(&self, id: &ContactId) -> Result<FullTranscript, ApiError> {
        let contact = self
            .contacts
            .get(id)
            .ok_or_else(|| ApiError::not_found(format!("contact {id} not found")))?;
        Ok(FullTranscript {
            initial_contact_id: contact.initial.to_string(),
            transcript: self
                .view(id)
                .into_iter()
                .map(|entry| render_in_view(entry, id))
                .collect(),
        })
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

    fn authorize(&self, token: &str, now: Now) -> Result<(ContactId, ParticipantId), ApiError> {
        let grant = self
            .connection_tokens
            .get(&ConnectionToken::from_client(token))
            .ok_or_else(|| ApiError::access_denied("invalid connection token"))?;
        if now.mono > grant.expires {
            return Err(ApiError::access_denied("connection token expired"));
        }
        self.require_live(&grant.contact, &grant.participant)?;
        Ok((grant.contact.clone(), grant.participant.clone()))
    }

    /// As [`Self::authorize`], but an unexpired token keeps reading its chat after the chat
    /// ended (`SimConfig::transcript_after_end`).
    fn authorize_read(
        &self,
        token: &str,
        now: Now,
    ) -> Result<(ContactId, ParticipantId), ApiError> {
        let grant = self
            .connection_tokens
            .get(&ConnectionToken::from_client(token))
            .ok_or_else(|| ApiError::access_denied("invalid connection token"))?;
        if now.mono > grant.expires {
            return Err(ApiError::access_denied("connection token expired"));
        }
        if !self.contacts.contains_key(&grant.contact) {
            return Err(ApiError::access_denied("chat not found"));
        }
        Ok((grant.contact.clone(), grant.participant.clone()))
    }

    fn require_live(
        &self,
        contact: &ContactId,
        participant: &ParticipantId,
    ) -> Result<(), ApiError> {
        let contact = self
            .contacts
            .get(contact)
            .ok_or_else(|| ApiError::access_denied("chat not found"))?;
        if contact.is_ended() {
            return Err(ApiError::access_denied("the chat has ended"));
        }
        if contact.participant(participant).is_none_or(|p| p.left) {
            return Err(ApiError::access_denied("participant has left the chat"));
        }
        Ok(())
    }

    fn resolve_persistent_source(
        &self,
        request: &StartChatContactRequest,
        instance_id: &str,
    ) -> Result<Option<ContactId>, ApiError> {
        let Some(persistent) = &request.persistent_chat else {
            return Ok(None);
        };
        let source = persistent.source_contact_id.as_deref().unwrap_or_default();
        let id = ContactId::from_client(source);
        let contact = self
            .contacts
            .get(&id)
            .filter(|c| c.instance_id == instance_id)
            .ok_or_else(|| ApiError::not_found(format!("SourceContactId {source} not found")))?;
        if persistent.rehydration_type.as_deref() == Some("ENTIRE_PAST_SESSION")
            && contact.initial != contact.id
        {
            return Err(ApiError::invalid_request(
                "ENTIRE_PAST_SESSION needs the initial contact id of the past session",
            ));
        }
        if !contact.is_ended() {
            return Err(ApiError::invalid_request(format!(
                "SourceContactId {source} has not ended; only ended chats can be continued"
            )));
        }
        // ENTIRE_PAST_SESSION continues from the session's most recently ended contact; with
        // no transfers in the emulator every session has exactly one contact, so both
        // rehydration types continue from the source itself.
        Ok(Some(contact.id.clone()))
    }

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

    fn ensure_agent(
        &mut self,
        id: &ContactId,
        name: String,
        now: Now,
    ) -> Result<(ParticipantId, String), ApiError> {
        let contact = self
            .contacts
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found(format!("contact {id} not found")))?;
        if contact.is_ended() {
            return Err(ApiError::conflict("the chat has ended"));
        }
        if let Some(agent) = contact.agent() {
            return Ok((agent.id.clone(), agent.display_name.clone()));
        }
        let agent = Participant {
            id: ParticipantId::random(),
            role: Role::Agent,
            display_name: name.clone(),
            token: None,
            joined: false,
            left: false,
        };
        let agent_id = agent.id.clone();
        contact.participants.push(agent);
        contact.status = Status::Active;
        self.mark_joined(id, &agent_id, now);
        self.start_timers(id, true, now);
        Ok((agent_id, name))
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

    fn remember(&mut self, key: IdempotencyKey, reply: Reply, now: Now) {
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

fn idempotency_key(
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

fn summarize(contact: &Contact) -> ContactSummary {
    ContactSummary {
        contact_id: contact.id.to_string(),
        initial_contact_id: contact.initial.to_string(),
        status: contact.status,
        attributes: contact.attributes.clone(),
        customer_display_name: contact
            .customer()
            .map(|c| c.display_name.clone())
            .unwrap_or_default(),
        started_at: format_aws(contact.started_at),
        ended_at: contact.ended_at.map(format_aws),
        agent_display_name: contact.agent().map(|a| a.display_name.clone()),
        continued_from_contact_id: contact.continued_from.as_ref().map(ToString::to_string),
        timers: contact.timers.applied.summary(),
        pending_timers: contact
            .timers
            .pending
            .as_ref()
            .map(timers::TimerConfig::summary),
        subscribed_sockets: None,
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
