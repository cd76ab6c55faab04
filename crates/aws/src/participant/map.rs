//! Participant responses → domain types.

use aws_sdk_connectparticipant::operation::create_participant_connection::CreateParticipantConnectionOutput;
use aws_sdk_connectparticipant::operation::get_transcript::GetTranscriptOutput;
use aws_sdk_connectparticipant::operation::send_message::SendMessageOutput;
use aws_sdk_connectparticipant::types::{ConnectionType, Item};
use bridge_core::ids::{ConnectionToken, ContactId, ItemId};
use bridge_core::ports::{
    ChatError, Connected, Connection, ConnectionKind, ItemKind, Role, SentMessage, TranscriptItem,
    TranscriptPage, WebsocketUrl,
};

use crate::error::ResponseError;
use crate::wire::parse_time;

const CREATE_CONNECTION: &str = "CreateParticipantConnection";
const SEND_MESSAGE: &str = "SendMessage";
const GET_TRANSCRIPT: &str = "GetTranscript";

/// The `Type` list for a connection kind.
pub(super) fn connection_types(kind: ConnectionKind) -> Vec<ConnectionType> {
    match kind {
        ConnectionKind::Credentials => vec![ConnectionType::ConnectionCredentials],
        ConnectionKind::Websocket => vec![ConnectionType::Websocket],
        ConnectionKind::Both => vec![
            ConnectionType::Websocket,
            ConnectionType::ConnectionCredentials,
        ],
    }
}

fn other(error: ResponseError) -> ChatError {
    ChatError::Other(Box::new(error))
}

fn missing(operation: &'static str, field: &'static str) -> ChatError {
    other(ResponseError::Missing { operation, field })
}

/// What CreateParticipantConnection returned, holding the parts `kind` asked for.
pub(super) fn connected(
    output: CreateParticipantConnectionOutput,
    kind: ConnectionKind,
) -> Result<Connected, ChatError> {
    let wants_credentials = matches!(kind, ConnectionKind::Credentials | ConnectionKind::Both);
    let wants_websocket = matches!(kind, ConnectionKind::Websocket | ConnectionKind::Both);
    let connection = if wants_credentials {
        let credentials = output
            .connection_credentials
            .ok_or_else(|| missing(CREATE_CONNECTION, "ConnectionCredentials"))?;
        let token = credentials
            .connection_token
            .ok_or_else(|| missing(CREATE_CONNECTION, "ConnectionToken"))?;
        let token = ConnectionToken::new(token).map_err(|source| {
            other(ResponseError::InvalidId {
                operation: CREATE_CONNECTION,
                field: "ConnectionToken",
                source,
            })
        })?;
        let expiry = credentials
            .expiry
            .ok_or_else(|| missing(CREATE_CONNECTION, "Expiry"))?;
        Some(Connection {
            token,
            expires_at: parse_time(CREATE_CONNECTION, "Expiry", &expiry)?,
        })
    } else {
        None
    };
    let websocket = if wants_websocket {
        let websocket = output
            .websocket
            .ok_or_else(|| missing(CREATE_CONNECTION, "Websocket"))?;
        let url = websocket
            .url
            .ok_or_else(|| missing(CREATE_CONNECTION, "Url"))?;
        let expiry = websocket
            .connection_expiry
            .ok_or_else(|| missing(CREATE_CONNECTION, "ConnectionExpiry"))?;
        Some(WebsocketUrl {
            url,
            connect_by: parse_time(CREATE_CONNECTION, "ConnectionExpiry", &expiry)?,
        })
    } else {
        None
    };
    Ok(Connected {
        connection,
        websocket,
    })
}

/// What SendMessage returned.
pub(super) fn sent_message(output: SendMessageOutput) -> Result<SentMessage, ChatError> {
    let id = output.id.ok_or_else(|| missing(SEND_MESSAGE, "Id"))?;
    let id = ItemId::new(id).map_err(|source| {
        other(ResponseError::InvalidId {
            operation: SEND_MESSAGE,
            field: "Id",
            source,
        })
    })?;
    Ok(SentMessage {
        id,
        absolute_time: output
            .absolute_time
            .ok_or_else(|| missing(SEND_MESSAGE, "AbsoluteTime"))?,
    })
}

/// One transcript page.
pub(super) fn transcript_page(output: GetTranscriptOutput) -> Result<TranscriptPage, ChatError> {
    let items = output
        .transcript
        .unwrap_or_default()
        .into_iter()
        .map(transcript_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TranscriptPage {
        items,
        next_token: output.next_token.filter(|token| !token.is_empty()),
    })
}

/// One transcript item. Only the id is required (the relay's cursor is built on ids);
/// anything else missing is left empty rather than failing the whole page.
fn transcript_item(item: Item) -> Result<TranscriptItem, ChatError> {
    let id = item.id.ok_or_else(|| missing(GET_TRANSCRIPT, "Item.Id"))?;
    let id = ItemId::new(id).map_err(|source| {
        other(ResponseError::InvalidId {
            operation: GET_TRANSCRIPT,
            field: "Item.Id",
            source,
        })
    })?;
    Ok(TranscriptItem {
        id,
        kind: item.r#type.map_or(ItemKind::Other(String::new()), |kind| {
            ItemKind::from_wire(kind.as_str())
        }),
        content_type: item.content_type.unwrap_or_default(),
        content: item.content,
        role: item
            .participant_role
            .map(|role| Role::from_wire(role.as_str())),
        display_name: item.display_name,
        absolute_time: item.absolute_time.unwrap_or_default(),
        contact_id: item.contact_id.and_then(|id| ContactId::new(id).ok()),
        related_contact_id: item
            .related_contact_id
            .and_then(|id| ContactId::new(id).ok()),
        attachment_names: item
            .attachments
            .unwrap_or_default()
            .into_iter()
            .filter_map(|attachment| attachment.attachment_name)
            .collect(),
    })
}
