//! The Connect Participant half of the chat adapter: connections, messages, events,
//! transcripts, disconnect (docs/connect-chat.md §3).
//!
//! These calls authenticate with the participant's bearer tokens, not IAM, so a 403
//! AccessDeniedException means the chat ended or the token expired and becomes
//! [`ChatError::ChatEnded`]. [`crate::connect::ConnectChat`] exposes them through
//! the chat ports; this module only translates. Tokens go into request headers and nowhere
//! else: never into logs or errors.

mod map;

use aws_sdk_connectparticipant::Client;
use aws_sdk_connectparticipant::types::{ScanDirection, SortKey, StartPosition};
use bridge_core::ids::{ConnectionToken, ParticipantToken};
use bridge_core::ports::{
    ChatError, ConnectParticipant, Connected, ConnectionKind, SentMessage, TranscriptPage,
    TranscriptStart,
};

use crate::error::{ChatService, chat_error};
use crate::wire::TEXT_PLAIN;

/// The most items one GetTranscript page may hold.
const TRANSCRIPT_PAGE_SIZE: i32 = 100;

/// CreateParticipantConnection.
pub(crate) async fn create_connection(
    client: &Client,
    token: &ParticipantToken,
    kind: ConnectionKind,
    joining: ConnectParticipant,
) -> Result<Connected, ChatError> {
    let output = client
        .create_participant_connection()
        .participant_token(token.expose())
        .set_type(Some(map::connection_types(kind)))
        .connect_participant(joining == ConnectParticipant::Join)
        .send()
        .await
        .map_err(|error| chat_error(error, ChatService::Participant))?;
    map::connected(output, kind)
}

/// SendMessage, `text/plain`.
pub(crate) async fn send_message(
    client: &Client,
    token: &ConnectionToken,
    content: &str,
    client_token: &str,
) -> Result<SentMessage, ChatError> {
    let output = client
        .send_message()
        .connection_token(token.expose())
        .content_type(TEXT_PLAIN)
        .content(content)
        .client_token(client_token)
        .send()
        .await
        .map_err(|error| chat_error(error, ChatService::Participant))?;
    map::sent_message(output)
}

/// SendEvent.
pub(crate) async fn send_event(
    client: &Client,
    token: &ConnectionToken,
    content_type: &str,
    content: Option<&str>,
    client_token: &str,
) -> Result<(), ChatError> {
    client
        .send_event()
        .connection_token(token.expose())
        .content_type(content_type)
        .set_content(content.map(str::to_owned))
        .client_token(client_token)
        .send()
        .await
        .map_err(|error| chat_error(error, ChatService::Participant))?;
    Ok(())
}

/// One GetTranscript page, oldest first, scanning forwards.
pub(crate) async fn get_transcript(
    client: &Client,
    token: &ConnectionToken,
    start: &TranscriptStart,
    next_token: Option<&str>,
) -> Result<TranscriptPage, ChatError> {
    let start_position = match start {
        // Forwards without a position starts at the oldest item.
        TranscriptStart::Oldest => None,
        TranscriptStart::FromItem(item) => Some(StartPosition::builder().id(item.as_str()).build()),
    };
    let output = client
        .get_transcript()
        .connection_token(token.expose())
        .scan_direction(ScanDirection::Forward)
        .sort_order(SortKey::Ascending)
        .max_results(TRANSCRIPT_PAGE_SIZE)
        .set_start_position(start_position)
        .set_next_token(next_token.map(str::to_owned))
        .send()
        .await
        .map_err(|error| chat_error(error, ChatService::Participant))?;
    map::transcript_page(output)
}

/// DisconnectParticipant.
pub(crate) async fn disconnect(
    client: &Client,
    token: &ConnectionToken,
    client_token: &str,
) -> Result<(), ChatError> {
    client
        .disconnect_participant()
        .connection_token(token.expose())
        .client_token(client_token)
        .send()
        .await
        .map_err(|error| chat_error(error, ChatService::Participant))?;
    Ok(())
}
