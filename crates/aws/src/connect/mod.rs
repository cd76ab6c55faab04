//! The chat adapter: [`ConnectChat`] implements the chat ports (`ChatStarter`, `ChatReader`,
//! `ChatWriter`) over the Amazon Connect admin API (StartChatContact; StopContact for tests
//! and tools; this module) and the Connect Participant API (the private `participant`
//! module, which depends on nothing here: what both read the same way is in `wire`), and
//! `ChatTimers` (UpdateParticipantRoleConfig, the private `timers` module).
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
    ChatError, ChatReader, ChatStarter, ChatTimers, ChatWriter, ConnectParticipant, Connected,
    ConnectionKind, IdleTimers, SentMessage, StartChat, StartedChat, TranscriptPage,
    TranscriptStart,
};

use crate::clients::OnFirstUse;
use crate::error::{ChatService, chat_error, code_of};
use crate::participant;

pub use crate::wire::{INTERACTIVE, TEXT_MARKDOWN, TEXT_PLAIN};

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

    /// StopContact. Stopping an ended chat is not an error. No code path of the bridge
    /// stops a chat (it is not a port): tests and tools use it to end one.
    ///
    /// # Errors
    /// As the chat ports do.
    pub async fn stop_chat(
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

#[async_trait]
impl ChatStarter for ConnectChat {
    async fn start_chat(&self, request: &StartChat) -> Result<StartedChat, ChatError> {
        let output = map::start_chat_request(self.connect.get(), request)?
            .send()
            .await
            .map_err(|error| chat_error(error, ChatService::Admin))?;
        map::started_chat(output)
    }
}

#[async_trait]
impl ChatReader for ConnectChat {
    async fn create_connection(
        &self,
        token: &ParticipantToken,
        kind: ConnectionKind,
        joining: ConnectParticipant,
    ) -> Result<Connected, ChatError> {
        participant::create_connection(self.participant.get(), token, kind, joining).await
    }

    async fn get_transcript(
        &self,
        token: &ConnectionToken,
        start: &TranscriptStart,
        next_token: Option<&str>,
    ) -> Result<TranscriptPage, ChatError> {
        participant::get_transcript(self.participant.get(), token, start, next_token).await
    }
}

#[async_trait]
impl ChatWriter for ConnectChat {
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

    use crate::wire::parse_time;

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
