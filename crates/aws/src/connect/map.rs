//! StartChatContact request and response ↔ domain types.

use aws_sdk_connect::Client;
use aws_sdk_connect::operation::start_chat_contact::StartChatContactOutput;
use aws_sdk_connect::operation::start_chat_contact::builders::StartChatContactFluentBuilder;
use aws_sdk_connect::types::{
    ChatMessage, ConnectionCredentials, ConnectionType, ParticipantDetails, PersistentChat,
    RehydrationType, Websocket,
};
use bridge_core::ids::{ConnectionToken, ContactId, InvalidId, ParticipantId, ParticipantToken};
use bridge_core::ports::{
    ChatError, Connected, Connection, ConnectionKind, StartChat, StartedChat, WebsocketUrl,
};

use crate::error::{RequestError, ResponseError};
use crate::wire::{INTERACTIVE, TEXT_MARKDOWN, TEXT_PLAIN, parse_time};

const START_CHAT: &str = "StartChatContact";

fn build_error(source: aws_smithy_types::error::operation::BuildError) -> ChatError {
    ChatError::Invalid(Box::new(RequestError::Build {
        operation: START_CHAT,
        source: source.into(),
    }))
}

/// The StartChatContact call for `request`: plain text and markdown supported, the first
/// text as `InitialMessage`, and persistent chat from the previous contact's segment.
pub(super) fn start_chat_request(
    client: &Client,
    request: &StartChat,
) -> Result<StartChatContactFluentBuilder, ChatError> {
    let details = ParticipantDetails::builder()
        .display_name(&request.display_name)
        .build()
        .map_err(build_error)?;
    let attributes = (!request.attributes.is_empty()).then(|| {
        request
            .attributes
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    });
    let initial_message = request
        .initial_message
        .as_ref()
        .map(|text| {
            ChatMessage::builder()
                .content_type(TEXT_PLAIN)
                .content(text)
                .build()
        })
        .transpose()
        .map_err(build_error)?;
    let persistent_chat = request.continue_from.as_ref().map(|contact| {
        PersistentChat::builder()
            .rehydration_type(RehydrationType::FromSegment)
            .source_contact_id(contact.as_str())
            .build()
    });
    let connection_types = request.connection.map(|kind| match kind {
        ConnectionKind::Credentials => vec![ConnectionType::ConnectionCredentials],
        ConnectionKind::Websocket => vec![ConnectionType::Websocket],
        ConnectionKind::Both => vec![
            ConnectionType::Websocket,
            ConnectionType::ConnectionCredentials,
        ],
    });
    let duration = request
        .duration_minutes
        .map(|minutes| i32::try_from(minutes).unwrap_or(i32::MAX));
    Ok(client
        .start_chat_contact()
        .instance_id(request.instance_id.as_str())
        .contact_flow_id(request.contact_flow_id.as_str())
        .set_attributes(attributes)
        .participant_details(details)
        .set_initial_message(initial_message)
        .client_token(&request.client_token)
        .set_chat_duration_in_minutes(duration)
        .supported_messaging_content_types(TEXT_PLAIN)
        .supported_messaging_content_types(TEXT_MARKDOWN)
        .supported_messaging_content_types(INTERACTIVE)
        .set_persistent_chat(persistent_chat)
        .set_connection_types(connection_types))
}

fn required<T>(
    value: Option<String>,
    field: &'static str,
    parse: impl FnOnce(String) -> Result<T, InvalidId>,
) -> Result<T, ChatError> {
    let value = value.ok_or(ResponseError::Missing {
        operation: START_CHAT,
        field,
    });
    value
        .and_then(|value| {
            parse(value).map_err(|source| ResponseError::InvalidId {
                operation: START_CHAT,
                field,
                source,
            })
        })
        .map_err(|error| ChatError::Other(Box::new(error)))
}

/// What StartChatContact returned.
pub(super) fn started_chat(output: StartChatContactOutput) -> Result<StartedChat, ChatError> {
    Ok(StartedChat {
        contact_id: required(output.contact_id, "ContactId", ContactId::new)?,
        participant_id: required(output.participant_id, "ParticipantId", ParticipantId::new)?,
        participant_token: required(
            output.participant_token,
            "ParticipantToken",
            ParticipantToken::new,
        )?,
        continued_from: output
            .continued_from_contact_id
            .map(|id| required(Some(id), "ContinuedFromContactId", ContactId::new))
            .transpose()?,
        connected: Connected {
            connection: output.connection_credentials.map(connection).transpose()?,
            websocket: output.websocket.map(websocket).transpose()?,
        },
    })
}

/// `ConnectionCredentials` of the response. Present but incomplete is an error: Connect
/// either returns what `ConnectionTypes` asked for or fails the call.
fn connection(credentials: ConnectionCredentials) -> Result<Connection, ChatError> {
    let token = required(
        credentials.connection_token,
        "ConnectionToken",
        ConnectionToken::new,
    )?;
    let expiry = required(credentials.expiry, "Expiry", Ok)?;
    Ok(Connection {
        token,
        expires_at: parse_time(START_CHAT, "Expiry", &expiry)?,
    })
}

/// `Websocket` of the response.
fn websocket(websocket: Websocket) -> Result<WebsocketUrl, ChatError> {
    let url = required(websocket.url, "Url", Ok)?;
    let expiry = required(websocket.connection_expiry, "ConnectionExpiry", Ok)?;
    Ok(WebsocketUrl {
        url,
        connect_by: parse_time(START_CHAT, "ConnectionExpiry", &expiry)?,
    })
}
