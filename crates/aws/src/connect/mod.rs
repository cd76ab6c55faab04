//! The chat adapter: [`ConnectChat`] implements `ChatApi` over the Amazon Connect admin API
//! (StartChatContact, StopContact; this module) and the Connect Participant API
//! (the private `participant` module), and `ChatTimers` (UpdateParticipantRoleConfig, the
//! private `timers` module).
//!
//! `aws-sdk-connect` is large and slow to build; nothing outside this module touches it.
//! Errors are classified once (see [`crate::error`]): 403 on the participant API →
//! `ChatEnded`, 429 and throttling codes → `Throttled` (after the SDK's own retries), 5xx
//! and timeouts → `Transient`, 400 validation errors → `Invalid`, the rest → `Other`.
//! Tokens are passed through, never logged.

mod map;
mod timers;

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use bridge_core::ids::{ConnectionToken, ContactId, InstanceId, ParticipantToken};
use bridge_core::ports::{
    ChatApi, ChatError, ChatTimers, Connected, ConnectionKind, IdleTimers, SentMessage, StartChat,
    StartedChat, TranscriptPage, TranscriptStart,
};
use chrono::{DateTime, Utc};

use crate::clients::OnFirstUse;
use crate::error::{ChatService, ResponseError, chat_error, code_of};
use crate::participant;

/// Plain-text content type: what the bridge sends.
pub const TEXT_PLAIN: &str = "text/plain";
/// Markdown content type: what agents may send (rendered to plain text for SMS).
pub const TEXT_MARKDOWN: &str = "text/markdown";
/// Interactive messages (list pickers, quick replies…): declared on every chat, so flows
/// and bots send them; the relay renders them as numbered SMS menus (docs/connect-chat.md
/// §4.4).
pub const INTERACTIVE: &str = "application/vnd.amazonaws.connect.message.interactive";

/// StopContact's answer for a contact that is gone; stopping it again is success.
const CONTACT_NOT_FOUND: &str = "ContactNotFoundException";

/// Amazon Connect chat, as the bridge uses it.
#[derive(Clone, Debug)]
pub struct ConnectChat {
    connect: Arc<OnFirstUse<aws_sdk_connect::Client>>,
    participant: Arc<OnFirstUse<aws_sdk_connectparticipant::Client>>,
}

impl ConnectChat {
    /// An adapter over the two clients (their endpoints may differ, e.g. connect-sim).
    pub fn new(
        connect: aws_sdk_connect::Client,
        participant: aws_sdk_connectparticipant::Client,
    ) -> Self {
        Self {
            connect: Arc::new(OnFirstUse::ready(connect)),
            participant: Arc::new(OnFirstUse::ready(participant)),
        }
    }

    /// An adapter whose clients are built from `shared` when first used ([`OnFirstUse`]).
    pub fn on_first_use(shared: &SdkConfig) -> Self {
        Self {
            connect: Arc::new(OnFirstUse::later(shared, aws_sdk_connect::Client::new)),
            participant: Arc::new(OnFirstUse::later(
                shared,
                aws_sdk_connectparticipant::Client::new,
            )),
        }
    }
}

/// Parses an ISO 8601 time as the chat APIs send it (`2019-11-08T02:41:28.172Z`).
pub(crate) fn parse_time(
    operation: &'static str,
    field: &'static str,
    value: &str,
) -> Result<DateTime<Utc>, ChatError> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|source| {
            ChatError::Other(Box::new(ResponseError::InvalidTime {
                operation,
                field,
                source,
            }))
        })
}

#[async_trait]
impl ChatApi for ConnectChat {
    async fn start_chat(&self, request: &StartChat) -> Result<StartedChat, ChatError> {
        let output = map::start_chat_request(self.connect.get(), request)?
            .send()
            .await
            .map_err(|error| chat_error(error, ChatService::Admin))?;
        map::started_chat(output)
    }

    async fn stop_chat(
        &self,
        instance_id: &InstanceId,
        contact_id: &ContactId,
    ) -> Result<(), ChatError> {
        let stopped = self
            .connect
            .get()
            .stop_contact()
            .instance_id(instance_id.as_str())
            .contact_id(contact_id.as_str())
            .send()
            .await;
        match stopped {
            Ok(_) => Ok(()),
            Err(error) if code_of(&error) == Some(CONTACT_NOT_FOUND) => Ok(()),
            Err(error) => Err(chat_error(error, ChatService::Admin)),
        }
    }

    async fn create_connection(
        &self,
        token: &ParticipantToken,
        kind: ConnectionKind,
        connect_participant: bool,
    ) -> Result<Connected, ChatError> {
        participant::create_connection(self.participant.get(), token, kind, connect_participant)
            .await
    }

    async fn send_message(
        &self,
        token: &ConnectionToken,
        content: &str,
        client_token: &str,
    ) -> Result<SentMessage, ChatError> {
        participant::send_message(self.participant.get(), token, content, client_token).await
    }

    async fn send_event(
        &self,
        token: &ConnectionToken,
        content_type: &str,
        content: Option<&str>,
        client_token: &str,
    ) -> Result<(), ChatError> {
        participant::send_event(
            self.participant.get(),
            token,
            content_type,
            content,
            client_token,
        )
        .await
    }

    async fn get_transcript(
        &self,
        token: &ConnectionToken,
        start: &TranscriptStart,
        next_token: Option<&str>,
    ) -> Result<TranscriptPage, ChatError> {
        participant::get_transcript(self.participant.get(), token, start, next_token).await
    }

    async fn disconnect(
        &self,
        token: &ConnectionToken,
        client_token: &str,
    ) -> Result<(), ChatError> {
        participant::disconnect(self.participant.get(), token, client_token).await
    }
}

#[async_trait]
impl ChatTimers for ConnectChat {
    async fn set_customer_timers(
        &self,
        instance_id: &InstanceId,
        contact_id: &ContactId,
        timers: IdleTimers,
    ) -> Result<(), ChatError> {
        timers::set_customer_timers(self.connect.get(), instance_id, contact_id, timers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_times_parse_with_milliseconds() {
        let time = parse_time("Op", "Expiry", "2019-11-08T02:41:28.172Z").unwrap();
        assert_eq!(time.timestamp_millis(), 1_573_180_888_172);
        assert!(matches!(
            parse_time("Op", "Expiry", "yesterday"),
            Err(ChatError::Other(_))
        ));
    }
}
