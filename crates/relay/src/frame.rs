//! The participant WebSocket's frames: what the relay sends, and typed parsing of what the
//! service sends back (docs/connect-chat.md §5.2 and §4.1).
//!
//! Pure: text in, typed frame out. No socket here (that is [`crate::ws`]), and no decision
//! about what an item means for the customer (that is [`crate::forward`]). A frame that
//! cannot be parsed is an error value for the caller to count, never a panic.

use bridge_core::ids::{ContactId, ItemId};
use bridge_core::ports::{ItemKind, Role, TranscriptItem};
use serde::Deserialize;

/// Subscribes the socket to chat items.
pub const SUBSCRIBE: &str = r#"{"topic":"aws/subscribe","content":{"topics":["aws/chat"]}}"#;
/// Keep-alive; the service echoes the topic. An unanswered one means a dead socket.
pub const HEARTBEAT: &str = r#"{"topic":"aws/heartbeat"}"#;
/// Deep keep-alive; the service answers with a status code.
pub const PING: &str = r#"{"topic":"aws/ping"}"#;

const TOPIC_SUBSCRIBE: &str = "aws/subscribe";
const TOPIC_HEARTBEAT: &str = "aws/heartbeat";
const TOPIC_PING: &str = "aws/ping";
const TOPIC_CHAT: &str = "aws/chat";

/// A frame from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// The answer to our subscribe frame.
    Subscribed {
        /// `content.status == "success"`.
        success: bool,
    },
    /// The echo of our heartbeat.
    Heartbeat,
    /// The answer to our ping.
    Pong {
        /// `statusCode == 200`.
        ok: bool,
    },
    /// A chat item (message, event, attachment, receipt).
    Chat(Box<TranscriptItem>),
    /// A frame without a topic: the service reporting a failure.
    Failure,
    /// A topic this client does not use.
    Other,
}

/// Why a frame could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Not JSON, or not the envelope shape.
    #[error("frame is not a json envelope")]
    Envelope(#[source] serde_json::Error),
    /// An `aws/chat` frame whose `content` is not a string.
    #[error("chat frame content is not a string")]
    ContentNotString,
    /// An `aws/chat` frame whose content is not an item.
    #[error("chat frame content is not an item")]
    Item(#[source] serde_json::Error),
    /// The item lacks an id (or it is out of bounds).
    #[error("chat item has no valid id")]
    ItemId,
}

#[derive(Deserialize)]
struct Envelope {
    topic: Option<String>,
    content: Option<serde_json::Value>,
    #[serde(rename = "statusCode")]
    status_code: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireItem {
    id: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    content_type: Option<String>,
    content: Option<String>,
    participant_role: Option<String>,
    display_name: Option<String>,
    absolute_time: Option<String>,
    contact_id: Option<String>,
    related_contact_id: Option<String>,
    #[serde(default)]
    attachments: Vec<WireAttachment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireAttachment {
    attachment_name: Option<String>,
}

/// Parses one text frame from the service.
///
/// # Errors
/// [`FrameError`] when the frame is not the documented envelope or carries a broken item.
pub fn parse(text: &str) -> Result<ServerFrame, FrameError> {
    let envelope: Envelope = serde_json::from_str(text).map_err(FrameError::Envelope)?;
    let Some(topic) = envelope.topic else {
        return Ok(ServerFrame::Failure);
    };
    Ok(match topic.as_str() {
        TOPIC_SUBSCRIBE => ServerFrame::Subscribed {
            success: envelope
                .content
                .as_ref()
                .and_then(|content| content.get("status"))
                .and_then(serde_json::Value::as_str)
                == Some("success"),
        },
        TOPIC_HEARTBEAT => ServerFrame::Heartbeat,
        TOPIC_PING => ServerFrame::Pong {
            ok: envelope.status_code == Some(200),
        },
        TOPIC_CHAT => {
            let Some(serde_json::Value::String(content)) = envelope.content else {
                return Err(FrameError::ContentNotString);
            };
            ServerFrame::Chat(Box::new(parse_item(&content)?))
        }
        _ => ServerFrame::Other,
    })
}

/// Parses the JSON of one item (the string inside an `aws/chat` frame).
///
/// # Errors
/// [`FrameError::Item`] for malformed JSON, [`FrameError::ItemId`] without a usable id.
pub fn parse_item(json: &str) -> Result<TranscriptItem, FrameError> {
    let wire: WireItem = serde_json::from_str(json).map_err(FrameError::Item)?;
    let id = wire
        .id
        .and_then(|id| ItemId::new(id).ok())
        .ok_or(FrameError::ItemId)?;
    Ok(TranscriptItem {
        id,
        kind: ItemKind::from_wire(wire.kind.as_deref().unwrap_or_default()),
        content_type: wire.content_type.unwrap_or_default(),
        content: wire.content,
        role: wire.participant_role.as_deref().map(Role::from_wire),
        display_name: wire.display_name,
        absolute_time: wire.absolute_time.unwrap_or_default(),
        contact_id: wire.contact_id.and_then(|id| ContactId::new(id).ok()),
        related_contact_id: wire
            .related_contact_id
            .and_then(|id| ContactId::new(id).ok()),
        attachment_names: wire
            .attachments
            .into_iter()
            .filter_map(|attachment| attachment.attachment_name)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_frame(item: &serde_json::Value) -> String {
        serde_json::json!({
            "topic": "aws/chat",
            "contentType": "application/json",
            "content": item.to_string(),
        })
        .to_string()
    }

    #[test]
    fn control_frames_are_recognised() {
        assert_eq!(
            parse(
                r#"{"topic":"aws/subscribe","content":{"status":"success","topics":["aws/chat"]}}"#
            )
            .unwrap(),
            ServerFrame::Subscribed { success: true }
        );
        assert_eq!(
            parse(r#"{"topic":"aws/subscribe","content":{"status":"failure"}}"#).unwrap(),
            ServerFrame::Subscribed { success: false }
        );
        assert_eq!(
            parse(r#"{"topic":"aws/heartbeat"}"#).unwrap(),
            ServerFrame::Heartbeat
        );
        assert_eq!(
            parse(r#"{"topic":"aws/ping","statusCode":200}"#).unwrap(),
            ServerFrame::Pong { ok: true }
        );
        assert_eq!(
            parse(r#"{"topic":"aws/ping","statusCode":500,"statusContent":"x"}"#).unwrap(),
            ServerFrame::Pong { ok: false }
        );
        assert_eq!(
            parse(r#"{"message":"Forbidden","connectionId":"c","requestId":"r"}"#).unwrap(),
            ServerFrame::Failure
        );
        assert_eq!(
            parse(r#"{"topic":"aws/other"}"#).unwrap(),
            ServerFrame::Other
        );
    }

    #[test]
    fn our_frames_are_the_documented_json() {
        for (frame, topic) in [
            (SUBSCRIBE, TOPIC_SUBSCRIBE),
            (HEARTBEAT, TOPIC_HEARTBEAT),
            (PING, TOPIC_PING),
        ] {
            let value: serde_json::Value = serde_json::from_str(frame).unwrap();
            assert_eq!(value["topic"], topic);
        }
        let value: serde_json::Value = serde_json::from_str(SUBSCRIBE).unwrap();
        assert_eq!(value["content"]["topics"][0], "aws/chat");
        assert!(
            serde_json::from_str::<serde_json::Value>(HEARTBEAT)
                .unwrap()
                .get("content")
                .is_none()
        );
    }

    #[test]
    fn chat_frame_carries_a_typed_item() {
        let frame = chat_frame(&serde_json::json!({
            "Id": "i-1", "Type": "MESSAGE", "ContentType": "text/markdown",
            "Content": "**hi**", "ParticipantRole": "AGENT", "DisplayName": "Ana",
            "AbsoluteTime": "2024-01-01T00:00:00.000Z", "ContactId": "c-1",
            "InitialContactId": "c-1", "ParticipantId": "p-9"
        }));
        let ServerFrame::Chat(item) = parse(&frame).unwrap() else {
            panic!("not chat")
        };
        assert_eq!(item.id.as_str(), "i-1");
        assert_eq!(item.kind, ItemKind::Message);
        assert_eq!(item.role, Some(Role::Agent));
        assert_eq!(item.content.as_deref(), Some("**hi**"));
        assert_eq!(item.display_name.as_deref(), Some("Ana"));
        assert_eq!(item.contact_id.as_ref().map(ContactId::as_str), Some("c-1"));
    }

    #[test]
    fn attachments_and_receipts_parse() {
        let frame = chat_frame(&serde_json::json!({
            "Id": "i-2", "Type": "ATTACHMENT", "ParticipantRole": "AGENT",
            "Attachments": [{"AttachmentName": "invoice.pdf", "AttachmentId": "a", "ContentType": "application/pdf", "Status": "APPROVED"}]
        }));
        let ServerFrame::Chat(item) = parse(&frame).unwrap() else {
            panic!("not chat")
        };
        assert_eq!(item.kind, ItemKind::Attachment);
        assert_eq!(item.attachment_names, ["invoice.pdf"]);
        let receipt = chat_frame(&serde_json::json!({
            "Id": "i-3", "Type": "MESSAGEMETADATA",
            "MessageMetadata": {"MessageId": "i-1", "Receipts": []}
        }));
        let ServerFrame::Chat(item) = parse(&receipt).unwrap() else {
            panic!("not chat")
        };
        assert_eq!(item.kind, ItemKind::Other("MESSAGEMETADATA".into()));
    }

    #[test]
    fn broken_frames_are_errors_not_panics() {
        assert!(matches!(parse("not json"), Err(FrameError::Envelope(_))));
        assert!(matches!(
            parse(r#"{"topic":"aws/chat","content":{"Id":"x"}}"#),
            Err(FrameError::ContentNotString)
        ));
        assert!(matches!(
            parse(r#"{"topic":"aws/chat","content":"{nope"}"#),
            Err(FrameError::Item(_))
        ));
        assert!(matches!(
            parse(r#"{"topic":"aws/chat","content":"{\"Type\":\"MESSAGE\"}"}"#),
            Err(FrameError::ItemId)
        ));
    }
}
