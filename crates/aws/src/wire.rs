//! What both chat APIs (Connect's admin API and the Participant Service) put on the wire
//! and the adapter reads the same way: content types and times.

use bridge_core::ports::ChatError;
use chrono::{DateTime, Utc};

use crate::error::ResponseError;

/// Plain-text content type: what the bridge sends.
pub const TEXT_PLAIN: &str = "text/plain";
/// Markdown content type: what agents may send (rendered to plain text for SMS).
pub const TEXT_MARKDOWN: &str = "text/markdown";
/// Interactive messages (list pickers, quick replies…): declared on every chat, so flows
/// and bots send them; the relay renders them as numbered SMS menus (docs/connect-chat.md
/// §4.4).
pub const INTERACTIVE: &str = "application/vnd.amazonaws.connect.message.interactive";

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
