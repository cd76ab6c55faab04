//! The agent control API operations of [`Model`] (the `/sim` routes of `http/sim.rs`, used
//! by tests, the demo and the agent console): listing and inspecting contacts, the agent
//! joining, messaging, sending events and ending the chat, and a contact's whole transcript.

use super::api::{
    AgentJoinRequest, AgentJoinResponse, ChatMessage, ContactSummary, FullTranscript,
    SendEventRequest, SendResponse,
};
use super::contact::{Contact, Participant, Status};
use super::ids::{ContactId, ParticipantId};
use super::item::{self, Role, event};
use super::rules::{self, ContentError, EventKind, Sender};
use super::{Model, render_in_view, timers};
use crate::error::ApiError;
use crate::time::{Now, format_aws};

/// Display name used when the agent API gives none.
const DEFAULT_AGENT_NAME: &str = "Agent";

impl Model {
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
