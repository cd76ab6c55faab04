//! The Connect Participant API operations of [`Model`] (docs/connect-chat.md §3):
//! CreateParticipantConnection, SendMessage, SendEvent, GetTranscript and
//! DisconnectParticipant, the ConnectionToken checks they share, and the acceptance of the
//! participant WebSocket URLs they issue (§5.1).

use super::api::{
    CreateParticipantConnectionRequest, CreateParticipantConnectionResponse,
    DisconnectParticipantRequest, GetTranscriptRequest, GetTranscriptResponse, SendEventRequest,
    SendMessageRequest, SendResponse,
};
use super::idempotency::{IdempotentOp, Reply, idempotency_key};
use super::ids::{ConnectionToken, ContactId, ParticipantId, ParticipantToken, SocketKey};
use super::rules::{self, Sender};
use super::validate::{parse_connection_types, parse_page_request, required};
use super::{Model, SocketGrant, SocketRefusal, item, render_in_view, transcript};
use crate::error::ApiError;
use crate::time::Now;

impl Model {
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
}
