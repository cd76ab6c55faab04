//! Content rules shared by StartChatContact, SendMessage, SendEvent and the agent API.
//!
//! Lengths are counted in Unicode scalar values (docs/connect-chat.md §3.2, emulator
//! decision). Functions return the matching `&'static str` so stored items never own a
//! content type.

use super::item::{event, message};

/// Message content types a participant may send, with their maximum content length.
const PARTICIPANT_MESSAGE_TYPES: [(&str, usize); 4] = [
    (message::TEXT_PLAIN, 1024),
    (message::TEXT_MARKDOWN, 1024),
    (message::APPLICATION_JSON, 12_000),
    (message::INTERACTIVE_RESPONSE, 12_288),
];

/// Interactive messages come from flows and bots; the agent API may send them.
const INTERACTIVE_MAX_CHARS: usize = 12_288;

/// Content types allowed in `SupportedMessagingContentTypes` [M-C].
pub const SUPPORTED_MESSAGING_CONTENT_TYPES: [&str; 5] = [
    message::TEXT_PLAIN,
    message::TEXT_MARKDOWN,
    message::APPLICATION_JSON,
    message::INTERACTIVE,
    message::INTERACTIVE_RESPONSE,
];

/// Maximum length of any content field in the models (`Content` 1–16384).
pub const MAX_CONTENT_CHARS: usize = 16_384;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The content type is not a message type the sender may use.
    #[error("unsupported ContentType {0:?}")]
    UnsupportedType(String),
    /// The contact did not list this type in SupportedMessagingContentTypes.
    #[error("ContentType {0:?} is not in the contact's SupportedMessagingContentTypes")]
    NotSupportedByContact(String),
    /// Empty content.
    #[error("Content must not be empty")]
    Empty,
    /// An interactive message that is not a template a flow would send.
    #[error("invalid interactive message template: {0}")]
    InvalidTemplate(String),
    /// Content longer than the type allows.
    #[error("Content has {len} characters; {content_type} allows at most {max}")]
    TooLong {
        /// Characters sent.
        len: usize,
        /// The content type.
        content_type: &'static str,
        /// The limit.
        max: usize,
    },
}

/// Who is sending a message: participants may not send flow-only interactive messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A participant through SendMessage (or InitialMessage).
    Participant,
    /// The agent through the control API.
    Agent,
}

/// Checks a message and returns its static content type.
///
/// # Errors
/// [`ContentError`] when the type is unknown or not allowed for the contact, or the length is
/// outside the type's range.
pub fn check_message(
    content_type: &str,
    content: &str,
    supported: Option<&[String]>,
    sender: Sender,
) -> Result<&'static str, ContentError> {
    let (static_type, max) = PARTICIPANT_MESSAGE_TYPES
        .iter()
        .copied()
        .find(|(t, _)| *t == content_type)
        .or_else(|| {
            (sender == Sender::Agent && content_type == message::INTERACTIVE)
                .then_some((message::INTERACTIVE, INTERACTIVE_MAX_CHARS))
        })
        .ok_or_else(|| ContentError::UnsupportedType(content_type.to_owned()))?;
    if let Some(list) = supported
        && !list.iter().any(|t| t == static_type)
    {
        return Err(ContentError::NotSupportedByContact(content_type.to_owned()));
    }
    let len = content.chars().count();
    if len == 0 {
        return Err(ContentError::Empty);
    }
    if len > max {
        return Err(ContentError::TooLong {
            len,
            content_type: static_type,
            max,
        });
    }
    if static_type == message::INTERACTIVE {
        super::template::check(content).map_err(ContentError::InvalidTemplate)?;
    }
    Ok(static_type)
}

/// What a SendEvent content type asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Typing indicator: broadcast, not stored.
    Typing,
    /// Delivered receipt.
    Delivered,
    /// Read receipt.
    Read,
    /// Deprecated connection acknowledgement.
    ConnectionAcknowledged,
}

/// Maps a SendEvent content type [M-CP] to its kind.
#[must_use]
pub fn event_kind(content_type: &str) -> Option<EventKind> {
    match content_type {
        event::TYPING => Some(EventKind::Typing),
        event::MESSAGE_DELIVERED => Some(EventKind::Delivered),
        event::MESSAGE_READ => Some(EventKind::Read),
        event::CONNECTION_ACKNOWLEDGED => Some(EventKind::ConnectionAcknowledged),
        _ => None,
    }
}

/// Attribute keys may hold only alphanumerics, `-` and `_` [M-C].
#[must_use]
pub fn is_attribute_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_allows_exactly_1024_characters() {
        let ok = "é".repeat(1024);
        assert_eq!(
            check_message("text/plain", &ok, None, Sender::Participant),
            Ok(message::TEXT_PLAIN)
        );
        let too_long = "a".repeat(1025);
        assert!(matches!(
            check_message("text/plain", &too_long, None, Sender::Participant),
            Err(ContentError::TooLong { len: 1025, .. })
        ));
    }

    #[test]
    fn empty_and_unknown_content_are_refused() {
        assert_eq!(
            check_message("text/plain", "", None, Sender::Participant),
            Err(ContentError::Empty)
        );
        assert!(matches!(
            check_message("text/html", "x", None, Sender::Participant),
            Err(ContentError::UnsupportedType(_))
        ));
    }

    #[test]
    fn json_allows_12000_characters() {
        let body = "1".repeat(12_000);
        assert!(check_message("application/json", &body, None, Sender::Participant).is_ok());
        let body = "1".repeat(12_001);
        assert!(check_message("application/json", &body, None, Sender::Participant).is_err());
    }

    #[test]
    fn interactive_is_for_the_agent_side_only() {
        let picker = r#"{"templateType":"QuickReply","version":"1.0","data":{"content":{"title":"t","elements":[{"title":"a"}]}}}"#;
        assert!(check_message(message::INTERACTIVE, picker, None, Sender::Participant).is_err());
        assert!(check_message(message::INTERACTIVE, picker, None, Sender::Agent).is_ok());
        assert!(matches!(
            check_message(message::INTERACTIVE, "{}", None, Sender::Agent),
            Err(ContentError::InvalidTemplate(_))
        ));
    }

    #[test]
    fn contact_list_restricts_types() {
        let list = vec!["text/plain".to_owned()];
        assert!(matches!(
            check_message("text/markdown", "*x*", Some(&list), Sender::Participant),
            Err(ContentError::NotSupportedByContact(_))
        ));
        assert!(check_message("text/plain", "x", Some(&list), Sender::Participant).is_ok());
    }

    #[test]
    fn attribute_keys_are_alphanumeric_dash_underscore() {
        assert!(is_attribute_key("customer-phone_1"));
        assert!(!is_attribute_key("has space"));
        assert!(!is_attribute_key(""));
    }
}
