//! The Connect (admin) API operations of [`Model`]: StartChatContact and StopContact
//! (docs/connect-chat.md §2). UpdateParticipantRoleConfig lives with the timers it sets, in
//! `timers.rs`.

use std::time::Duration;

use super::api::{StartChatContactRequest, StartChatContactResponse, StopContactRequest};
use super::contact::{Contact, Participant};
use super::idempotency::{IdempotencyKey, IdempotentOp, Reply};
use super::ids::{ContactId, ParticipantId, ParticipantToken};
use super::item::Role;
use super::validate::{required, validate_start};
use super::{Deadline, Model};
use crate::error::ApiError;
use crate::time::Now;

impl Model {
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
}
