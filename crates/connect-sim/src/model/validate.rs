//! Input validation of the emulated operations (pure functions over request bodies).
//!
//! Each failure maps to the service's own 400: InvalidRequestException for the Connect admin
//! API, ValidationException for the participant API (docs/connect-chat.md §1.4, §8).

use std::collections::BTreeMap;

use super::api::{self, GetTranscriptRequest, StartChatContactRequest};
use super::ids::ContactId;
use super::item;
use super::rules::{self, Sender};
use super::transcript::{self, Cursor, Direction, PageError, PageRequest, Sort, Start};
use crate::error::ApiError;

/// Minimum and maximum `ChatDurationInMinutes` [M-C].
const CHAT_DURATION_MINUTES: std::ops::RangeInclusive<i64> = 60..=10_080;
/// Attribute map limit: 32,768 UTF-8 bytes across keys and values [M-C].
const MAX_ATTRIBUTE_BYTES: usize = 32_768;

/// Which connection parts were asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionTypes {
    /// `WEBSOCKET`.
    pub websocket: bool,
    /// `CONNECTION_CREDENTIALS`.
    pub credentials: bool,
}

pub fn parse_connection_types(
    list: &[String],
    error: fn(String) -> ApiError,
) -> Result<ConnectionTypes, ApiError> {
    if list.is_empty() {
        return Err(error("Type must list at least one connection type".into()));
    }
    let mut types = ConnectionTypes::default();
    for value in list {
        match value.as_str() {
            "WEBSOCKET" => types.websocket = true,
            "CONNECTION_CREDENTIALS" => types.credentials = true,
            other => return Err(error(format!("unknown connection type {other:?}"))),
        }
    }
    Ok(types)
}

/// A required string field within a length range.
pub fn required<'a>(
    value: Option<&'a str>,
    name: &str,
    range: std::ops::RangeInclusive<usize>,
    error: fn(String) -> ApiError,
) -> Result<&'a str, ApiError> {
    let value = value.ok_or_else(|| error(format!("{name} is required")))?;
    let len = value.chars().count();
    if !range.contains(&len) {
        return Err(error(format!(
            "{name} must have {}-{} characters",
            range.start(),
            range.end()
        )));
    }
    Ok(value)
}

/// StartChatContact input after validation.
pub struct StartInput {
    pub instance_id: String,
    pub display_name: String,
    pub duration_minutes: Option<i64>,
    pub initial_message: Option<ValidMessage>,
    pub connection_types: Option<ConnectionTypes>,
}

pub struct ValidMessage {
    pub content_type: &'static str,
    pub content: String,
}

pub fn validate_start(request: &StartChatContactRequest) -> Result<StartInput, ApiError> {
    let invalid = ApiError::invalid_request;
    let instance_id = required(
        request.instance_id.as_deref(),
        "InstanceId",
        1..=100,
        invalid,
    )?;
    required(
        request.contact_flow_id.as_deref(),
        "ContactFlowId",
        0..=500,
        invalid,
    )?;
    let details = request
        .participant_details
        .as_ref()
        .ok_or_else(|| invalid("ParticipantDetails is required".into()))?;
    let display_name = required(
        details.display_name.as_deref(),
        "ParticipantDetails.DisplayName",
        1..=256,
        invalid,
    )?;
    if let Some(attributes) = &request.attributes {
        validate_attributes(attributes)?;
    }
    if let Some(types) = &request.supported_messaging_content_types {
        if let Some(bad) = types
            .iter()
            .find(|t| !rules::SUPPORTED_MESSAGING_CONTENT_TYPES.contains(&t.as_str()))
        {
            return Err(invalid(format!(
                "unsupported messaging content type {bad:?}"
            )));
        }
        if !types.iter().any(|t| t == item::message::TEXT_PLAIN) {
            return Err(invalid(
                "SupportedMessagingContentTypes must include text/plain".into(),
            ));
        }
    }
    if let Some(minutes) = request.chat_duration_in_minutes
        && !CHAT_DURATION_MINUTES.contains(&minutes)
    {
        return Err(invalid(
            "ChatDurationInMinutes must be between 60 and 10080".into(),
        ));
    }
    let initial_message = match &request.initial_message {
        None => None,
        Some(message) => {
            let content_type = required(
                message.content_type.as_deref(),
                "InitialMessage.ContentType",
                1..=100,
                invalid,
            )?;
            let content = required(
                message.content.as_deref(),
                "InitialMessage.Content",
                1..=rules::MAX_CONTENT_CHARS,
                invalid,
            )?;
            let content_type = rules::check_message(
                content_type,
                content,
                request.supported_messaging_content_types.as_deref(),
                Sender::Participant,
            )
            .map_err(|e| invalid(format!("InitialMessage: {e}")))?;
            Some(ValidMessage {
                content_type,
                content: content.to_owned(),
            })
        }
    };
    validate_links(request)?;
    if let Some(customer_id) = &request.customer_id {
        required(Some(customer_id), "CustomerId", 1..=128, invalid)?;
    }
    if let Some(segment) = &request.segment_attributes {
        validate_segment_attributes(segment, request)?;
    }
    if request.chat_streaming_configuration.is_some() {
        return Err(invalid(
            "ChatStreamingConfiguration is not implemented by connect-sim".into(),
        ));
    }
    let connection_types = request
        .connection_types
        .as_deref()
        .map(|list| parse_connection_types(list, invalid))
        .transpose()?;
    Ok(StartInput {
        instance_id: instance_id.to_owned(),
        display_name: display_name.to_owned(),
        duration_minutes: request.chat_duration_in_minutes,
        initial_message,
        connection_types,
    })
}

fn validate_attributes(attributes: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let invalid = ApiError::invalid_request;
    let mut bytes = 0;
    for (key, value) in attributes {
        if !rules::is_attribute_key(key) || key.len() > 32_767 {
            return Err(invalid(format!(
                "attribute key {key:?} must be 1-32767 alphanumerics, '-' or '_'"
            )));
        }
        bytes += key.len() + value.len();
    }
    if bytes > MAX_ATTRIBUTE_BYTES {
        return Err(invalid(format!(
            "attributes total {bytes} bytes; at most {MAX_ATTRIBUTE_BYTES} allowed"
        )));
    }
    Ok(())
}

fn validate_links(request: &StartChatContactRequest) -> Result<(), ApiError> {
    let invalid = ApiError::invalid_request;
    if request.persistent_chat.is_some() && request.related_contact_id.is_some() {
        return Err(invalid(
            "RelatedContactId and PersistentChat cannot both be given".into(),
        ));
    }
    if let Some(related) = &request.related_contact_id {
        required(Some(related), "RelatedContactId", 1..=256, invalid)?;
    }
    if let Some(persistent) = &request.persistent_chat {
        match persistent.rehydration_type.as_deref() {
            Some("ENTIRE_PAST_SESSION" | "FROM_SEGMENT") => {}
            Some(other) => {
                return Err(invalid(format!("unknown RehydrationType {other:?}")));
            }
            None => {
                return Err(invalid(
                    "PersistentChat.RehydrationType is required for persistent chat".into(),
                ));
            }
        }
        required(
            persistent.source_contact_id.as_deref(),
            "PersistentChat.SourceContactId",
            1..=256,
            invalid,
        )?;
    }
    Ok(())
}

fn validate_segment_attributes(
    segment: &BTreeMap<String, serde_json::Value>,
    request: &StartChatContactRequest,
) -> Result<(), ApiError> {
    let invalid = ApiError::invalid_request;
    for key in segment.keys() {
        let valid_key = !key.is_empty()
            && key.len() <= 128
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'));
        if !valid_key {
            return Err(invalid(format!("invalid SegmentAttributes key {key:?}")));
        }
    }
    let guide = segment
        .get("connect:Subtype")
        .and_then(|v| v.get("ValueString"))
        .and_then(|v| v.as_str())
        == Some("connect:Guide");
    if guide {
        let types = request
            .supported_messaging_content_types
            .as_deref()
            .unwrap_or_default();
        let has = |t: &str| types.iter().any(|x| x == t);
        if !has(item::message::INTERACTIVE) || !has(item::message::INTERACTIVE_RESPONSE) {
            return Err(invalid(
                "connect:Guide needs both interactive types in SupportedMessagingContentTypes"
                    .into(),
            ));
        }
    }
    Ok(())
}

pub fn parse_page_request(
    request: &GetTranscriptRequest,
    contact: &ContactId,
) -> Result<PageRequest, ApiError> {
    let max_results = match request.max_results {
        None | Some(0) => transcript::DEFAULT_MAX_RESULTS,
        Some(n) if (1..=100).contains(&n) => {
            usize::try_from(n).unwrap_or(transcript::DEFAULT_MAX_RESULTS)
        }
        Some(n) => {
            return Err(ApiError::validation(format!(
                "MaxResults {n} is outside 0-{}",
                transcript::MAX_MAX_RESULTS
            )));
        }
    };
    let direction = match request.scan_direction.as_deref() {
        None => None,
        Some("FORWARD") => Some(Direction::Forward),
        Some("BACKWARD") => Some(Direction::Backward),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "unknown ScanDirection {other:?}"
            )));
        }
    };
    let sort = match request.sort_order.as_deref() {
        None | Some("DESCENDING") => Sort::Descending,
        Some("ASCENDING") => Sort::Ascending,
        Some(other) => return Err(ApiError::validation(format!("unknown SortOrder {other:?}"))),
    };
    let start = if let Some(token) = &request.next_token {
        Start::Cursor(
            Cursor::decode(token, contact)
                .map_err(|e: PageError| ApiError::validation(e.to_string()))?,
        )
    } else {
        parse_start_position(request.start_position.as_ref())?
    };
    Ok(PageRequest {
        max_results,
        direction,
        sort,
        start,
        past_forward: false,
    })
}

/// `StartPosition: {}` (what chatjs sends) means no start position (§3.4).
fn parse_start_position(position: Option<&api::StartPosition>) -> Result<Start, ApiError> {
    let Some(position) = position else {
        return Ok(Start::Default);
    };
    let given = [
        position.id.is_some(),
        position.absolute_time.is_some(),
        position.most_recent.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if given > 1 {
        return Err(ApiError::validation(
            "StartPosition takes only one of Id, AbsoluteTime and MostRecent",
        ));
    }
    if let Some(id) = &position.id {
        required(Some(id), "StartPosition.Id", 1..=256, ApiError::validation)?;
        return Ok(Start::Id(id.clone()));
    }
    if let Some(time) = &position.absolute_time {
        let parsed = crate::time::parse_aws(time).ok_or_else(|| {
            ApiError::validation(format!(
                "StartPosition.AbsoluteTime {time:?} is not ISO 8601"
            ))
        })?;
        return Ok(Start::Time(parsed));
    }
    if let Some(n) = position.most_recent {
        let n = u32::try_from(n)
            .ok()
            .filter(|n| *n <= 100)
            .ok_or_else(|| ApiError::validation("StartPosition.MostRecent must be 0-100"))?;
        return Ok(Start::MostRecent(n));
    }
    Ok(Start::Default)
}
