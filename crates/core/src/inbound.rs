//! Inbound SMS: the End User Messaging two-way SMS payload.
//!
//! End User Messaging publishes one flat JSON object per inbound text to an SNS topic, and
//! Lambda receives it as a string inside an SNS event (docs/connect-chat.md §7.1; the typed
//! event is `bridge-inbound`'s `envelope`). This module turns a payload, or a recording's
//! line holding a payload or a whole SNS event, into an [`InboundSms`] whose numbers are valid E.164,
//! whose body is non-blank and bounded, and whose message id is usable as a dedupe key.
//!
//! It owns parsing only: it does no I/O, does not decide what to do with a text (see
//! `session`) and does not classify keywords (see [`crate::keyword`]). Errors name the field
//! at fault but never carry a full phone number or the message body, so they can be logged.

use std::fmt;

use serde_json::{Map, Value};

use crate::ids::{InboundMessageId, InvalidId};
use crate::phone::{PhoneError, PhoneNumber};

/// The longest body we accept, in Unicode scalar values (`char`s).
///
/// A concatenated SMS tops out near 1,600 characters; anything far larger is not a text a
/// customer typed, and bounding it keeps later splitting for Connect's 1024-character limit
/// cheap.
pub const MAX_BODY_CHARS: usize = 16_384;

/// The field names End User Messaging uses in the two-way SMS payload (§7.1).
pub mod field {
    /// The customer's number (the sender).
    pub const ORIGINATION_NUMBER: &str = "originationNumber";
    /// Our number that received the text.
    pub const DESTINATION_NUMBER: &str = "destinationNumber";
    /// The registered keyword associated with our number.
    pub const MESSAGE_KEYWORD: &str = "messageKeyword";
    /// The text itself.
    pub const MESSAGE_BODY: &str = "messageBody";
    /// Unique id of the inbound message: our dedupe key.
    pub const INBOUND_MESSAGE_ID: &str = "inboundMessageId";
    /// Id of the outbound message this text answers, when known.
    pub const PREVIOUS_PUBLISHED_MESSAGE_ID: &str = "previousPublishedMessageId";
    /// The key that marks a whole SNS event rather than a raw payload.
    pub const RECORDS: &str = "Records";

    /// Every payload field, in the order End User Messaging writes them.
    pub const PAYLOAD_FIELDS: [&str; 6] = [
        ORIGINATION_NUMBER,
        DESTINATION_NUMBER,
        MESSAGE_KEYWORD,
        MESSAGE_BODY,
        PREVIOUS_PUBLISHED_MESSAGE_ID,
        INBOUND_MESSAGE_ID,
    ];
}

/// Why an inbound payload, SNS event or JSON Lines line could not be turned into SMS.
///
/// Messages name the field at fault; none includes a full phone number or the body.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not JSON (also covers lone surrogate escapes, which serde_json rejects).
    #[error("invalid json at line {line}, column {column}")]
    InvalidJson {
        /// 1-based line of the error, as reported by serde_json.
        line: usize,
        /// 1-based column of the error, as reported by serde_json.
        column: usize,
        /// serde_json's description of the syntax error.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is valid but is not an object.
    #[error("payload is a json {found}, expected an object")]
    NotAnObject {
        /// The JSON type found instead (`array`, `string`, …).
        found: &'static str,
    },
    /// An object that is neither a two-way payload nor an SNS event.
    #[error(
        "json object is neither a two-way sms payload nor an sns event (no originationNumber or Records)"
    )]
    NotAnSmsPayload,
    /// An object with `Records` that does not have the shape of a Lambda SNS event.
    #[error("sns event envelope does not have the lambda sns event shape")]
    InvalidSnsEvent {
        /// serde's description of the mismatch.
        #[source]
        source: serde_json::Error,
    },
    /// An SNS event with an empty `Records` array.
    #[error("sns event has no records")]
    NoRecords,
    /// One record of an SNS event does not hold a valid payload.
    #[error("sns record {index} does not hold a valid two-way sms payload")]
    InRecord {
        /// 0-based index of the record in `Records`.
        index: usize,
        /// What is wrong with that record's payload.
        #[source]
        source: Box<ParseError>,
    },
    /// A required field is absent.
    #[error("missing field {field}")]
    MissingField {
        /// The payload field name.
        field: &'static str,
    },
    /// A field holds a JSON value of the wrong type.
    #[error("field {field} is a json {found}, expected a {expected}")]
    WrongType {
        /// The payload field name.
        field: &'static str,
        /// The JSON type required.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A number field is not an E.164 phone number.
    #[error("field {field} is not an e164 phone number")]
    InvalidPhone {
        /// The payload field name.
        field: &'static str,
        /// Why the number was rejected.
        #[source]
        source: PhoneError,
    },
    /// `inboundMessageId` is empty or too long.
    #[error("field inboundMessageId is not a valid message id")]
    InvalidMessageId {
        /// Why the id was rejected.
        #[source]
        source: InvalidId,
    },
    /// `messageBody` is empty or only whitespace: there is nothing to forward.
    #[error("field messageBody is empty or only whitespace")]
    EmptyBody,
    /// `messageBody` is longer than [`MAX_BODY_CHARS`].
    #[error("field messageBody has {chars} characters, more than {max}")]
    BodyTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit, [`MAX_BODY_CHARS`].
        max: usize,
    },
}

impl ParseError {
    /// A stable snake_case name for the kind of error, for metrics labels and fixtures.
    ///
    /// [`ParseError::InRecord`] reports the kind of the error inside the record.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidJson { .. } => "invalid_json",
            Self::NotAnObject { .. } => "not_an_object",
            Self::NotAnSmsPayload => "not_an_sms_payload",
            Self::InvalidSnsEvent { .. } => "invalid_sns_event",
            Self::NoRecords => "no_records",
            Self::InRecord { source, .. } => source.kind(),
            Self::MissingField { .. } => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::InvalidPhone { .. } => "invalid_phone",
            Self::InvalidMessageId { .. } => "invalid_message_id",
            Self::EmptyBody => "empty_body",
            Self::BodyTooLong { .. } => "body_too_long",
        }
    }

    /// The payload field at fault, when the error is about one field.
    ///
    /// [`ParseError::InRecord`] reports the field of the error inside the record.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::MissingField { field }
            | Self::WrongType { field, .. }
            | Self::InvalidPhone { field, .. } => Some(field),
            Self::InvalidMessageId { .. } => Some(field::INBOUND_MESSAGE_ID),
            Self::EmptyBody | Self::BodyTooLong { .. } => Some(field::MESSAGE_BODY),
            Self::InRecord { source, .. } => source.field(),
            Self::InvalidJson { .. }
            | Self::NotAnObject { .. }
            | Self::NotAnSmsPayload
            | Self::InvalidSnsEvent { .. }
            | Self::NoRecords => None,
        }
    }
}

/// One inbound text, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The customer's number (`originationNumber`).
    pub origination: PhoneNumber,
    /// Our support number the customer texted (`destinationNumber`).
    pub destination: PhoneNumber,
    /// The registered keyword of our number (`messageKeyword`); `None` when absent or empty.
    /// This is not the customer's STOP/HELP: classify the body for that.
    pub keyword: Option<String>,
    /// The text exactly as received: never blank, at most [`MAX_BODY_CHARS`] characters.
    pub body: String,
    /// End User Messaging's unique id of this text: the dedupe key.
    pub inbound_message_id: InboundMessageId,
    /// The outbound message this text answers (`previousPublishedMessageId`); `None` when
    /// absent or empty.
    pub previous_published_message_id: Option<String>,
}

impl fmt::Debug for InboundSms {
    /// Bodies are personal data: only their length is shown. Numbers mask themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSms")
            .field("origination", &self.origination)
            .field("destination", &self.destination)
            .field("keyword", &self.keyword)
            .field("body_chars", &self.body.chars().count())
            .field("inbound_message_id", &self.inbound_message_id)
            .field(
                "previous_published_message_id",
                &self.previous_published_message_id,
            )
            .finish()
    }
}

impl InboundSms {
    /// Parses one two-way SMS payload (the JSON End User Messaging publishes).
    ///
    /// Unknown fields are ignored. `messageKeyword` and `previousPublishedMessageId` may be
    /// absent, `null` or empty (all read as `None`); the other four fields are required.
    ///
    /// # Errors
    /// [`ParseError::InvalidJson`] for text that is not JSON, [`ParseError::NotAnObject`]
    /// for other JSON values, and a field-level [`ParseError`] for the first field that is
    /// missing, of the wrong type or invalid.
    pub fn from_json(payload: &str) -> Result<Self, ParseError> {
        let value = parse_json(payload)?;
        Self::from_value(&value)
    }

    fn from_value(value: &Value) -> Result<Self, ParseError> {
        let object = as_object(value)?;
        let origination = phone_field(object, field::ORIGINATION_NUMBER)?;
        let destination = phone_field(object, field::DESTINATION_NUMBER)?;
        let keyword = optional_string(object, field::MESSAGE_KEYWORD)?;
        let body = body_field(object)?;
        let inbound_message_id =
            InboundMessageId::new(required_string(object, field::INBOUND_MESSAGE_ID)?)
                .map_err(|source| ParseError::InvalidMessageId { source })?;
        let previous_published_message_id =
            optional_string(object, field::PREVIOUS_PUBLISHED_MESSAGE_ID)?;
        Ok(Self {
            origination,
            destination,
            keyword,
            body,
            inbound_message_id,
            previous_published_message_id,
        })
    }
}

/// Parses one line of a JSON Lines recording into the texts it holds.
///
/// A line is either a raw two-way payload (one text) or a whole Lambda SNS event (one text
/// per record). A line with `originationNumber`, or with any other payload field and no
/// `Records`, is read as a raw payload; extra keys on it (such as a replay's `delay_ms`)
/// are ignored.
///
/// # Errors
/// The first problem found: [`ParseError::InvalidJson`], [`ParseError::NotAnObject`],
/// [`ParseError::NotAnSmsPayload`], [`ParseError::InvalidSnsEvent`],
/// [`ParseError::NoRecords`], [`ParseError::InRecord`] for a bad record, or a field-level
/// error for a raw payload.
pub fn parse_line(line: &str) -> Result<Vec<InboundSms>, ParseError> {
    let value = parse_json(line)?;
    let object = as_object(&value)?;
    let has = |key: &str| object.contains_key(key);
    if has(field::ORIGINATION_NUMBER) {
        return InboundSms::from_value(&value).map(|sms| vec![sms]);
    }
    if has(field::RECORDS) {
        return parse_sns_value(value);
    }
    if field::PAYLOAD_FIELDS.iter().any(|name| has(name)) {
        // A payload missing its sender: report the missing field, not "unknown shape".
        return InboundSms::from_value(&value).map(|sms| vec![sms]);
    }
    Err(ParseError::NotAnSmsPayload)
}

/// The parts of a Lambda SNS event a recording's line needs: each record's message. (The
/// Lambda's own typed event, and the envelope it hands the handler, are `bridge-inbound`'s.)
#[derive(serde::Deserialize)]
struct SnsLine {
    #[serde(rename = "Records")]
    records: Vec<SnsLineRecord>,
}

#[derive(serde::Deserialize)]
struct SnsLineRecord {
    #[serde(rename = "Sns")]
    sns: SnsLineMessage,
}

#[derive(serde::Deserialize)]
struct SnsLineMessage {
    #[serde(rename = "MessageId")]
    #[allow(dead_code)] // required, as in every SNS notification; not otherwise read
    message_id: String,
    #[serde(rename = "Message")]
    message: String,
}

fn parse_sns_value(value: Value) -> Result<Vec<InboundSms>, ParseError> {
    let event: SnsLine =
        serde_json::from_value(value).map_err(|source| ParseError::InvalidSnsEvent { source })?;
    if event.records.is_empty() {
        return Err(ParseError::NoRecords);
    }
    event
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            InboundSms::from_json(&record.sns.message).map_err(|error| ParseError::InRecord {
                index,
                source: Box::new(error),
            })
        })
        .collect()
}

/// Writes a two-way SMS payload with End User Messaging's field names and field order.
///
/// `messageKeyword` and `previousPublishedMessageId` are written empty, as for a text that
/// answers nothing in particular.
pub fn payload_json(
    origination: &PhoneNumber,
    destination: &PhoneNumber,
    body: &str,
    inbound_message_id: &str,
) -> String {
    // `Value`'s Display is infallible and escapes strings exactly as JSON requires.
    let quote = |text: &str| Value::from(text).to_string();
    format!(
        "{{\"{}\":{},\"{}\":{},\"{}\":\"\",\"{}\":{},\"{}\":\"\",\"{}\":{}}}",
        field::ORIGINATION_NUMBER,
        quote(origination.as_e164()),
        field::DESTINATION_NUMBER,
        quote(destination.as_e164()),
        field::MESSAGE_KEYWORD,
        field::MESSAGE_BODY,
        quote(body),
        field::PREVIOUS_PUBLISHED_MESSAGE_ID,
        field::INBOUND_MESSAGE_ID,
        quote(inbound_message_id),
    )
}

fn parse_json(text: &str) -> Result<Value, ParseError> {
    serde_json::from_str(text).map_err(|source| ParseError::InvalidJson {
        line: source.line(),
        column: source.column(),
        source,
    })
}

fn as_object(value: &Value) -> Result<&Map<String, Value>, ParseError> {
    value.as_object().ok_or(ParseError::NotAnObject {
        found: json_type(value),
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn required_string<'a>(
    object: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ParseError> {
    match object.get(field) {
        None => Err(ParseError::MissingField { field }),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(ParseError::WrongType {
            field,
            expected: "string",
            found: json_type(other),
        }),
    }
}

/// Absent, `null` and `""` all mean "none": End User Messaging writes `""` for no value.
fn optional_string(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ParseError::WrongType {
            field,
            expected: "string",
            found: json_type(other),
        }),
    }
}

fn phone_field(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<PhoneNumber, ParseError> {
    PhoneNumber::parse(required_string(object, field)?)
        .map_err(|source| ParseError::InvalidPhone { field, source })
}

fn body_field(object: &Map<String, Value>) -> Result<String, ParseError> {
    let body = required_string(object, field::MESSAGE_BODY)?;
    if body.trim().is_empty() {
        return Err(ParseError::EmptyBody);
    }
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(ParseError::BodyTooLong {
            chars,
            max: MAX_BODY_CHARS,
        });
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const CUSTOMER: &str = "+12065550123";
    const SUPPORT: &str = "+18005550100";
    const TOPIC: &str = "arn:aws:sns:us-west-2:123456789012:sms-inbound";

    fn valid() -> Value {
        json!({
            "originationNumber": CUSTOMER,
            "destinationNumber": SUPPORT,
            "messageKeyword": "KEYWORD_123456789012",
            "messageBody": "Hi, my order never arrived",
            "previousPublishedMessageId": "wJ9ZcTg0E4r2T0nC",
            "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
        })
    }

    fn with(field: &str, value: Value) -> String {
        let mut payload = valid();
        payload[field] = value;
        payload.to_string()
    }

    /// A Lambda SNS event, as a recording's line, with one record per payload (the fields
    /// SNS writes; `bridge-inbound`'s `wrap_in_sns_event` builds the typed event).
    fn sns_line(payloads: &[&str]) -> String {
        let records: Vec<Value> = payloads
            .iter()
            .enumerate()
            .map(|(n, payload)| {
                json!({
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": format!("{TOPIC}:m-{n}"),
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": format!("m-{n}"),
                        "TopicArn": TOPIC,
                        "Message": payload,
                        "Timestamp": "2024-05-01T12:00:00.000Z",
                        "SignatureVersion": "1",
                        "Signature": "EXAMPLE",
                        "SigningCertUrl": "https://sns.us-west-2.amazonaws.com/x.pem",
                        "UnsubscribeUrl": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
                        "MessageAttributes": {}
                    }
                })
            })
            .collect();
        json!({ "Records": records }).to_string()
    }

    fn without(field: &str) -> String {
        let mut payload = valid();
        if let Some(object) = payload.as_object_mut() {
            object.remove(field);
        }
        payload.to_string()
    }

    use crate::report::chain;

    fn phone(text: &str) -> PhoneNumber {
        PhoneNumber::parse(text).unwrap()
    }

    #[test]
    fn valid_payload_is_parsed_into_every_field() {
        let sms = InboundSms::from_json(&valid().to_string()).unwrap();
        assert_eq!(sms.origination.as_e164(), CUSTOMER);
        assert_eq!(sms.destination.as_e164(), SUPPORT);
        assert_eq!(sms.keyword.as_deref(), Some("KEYWORD_123456789012"));
        assert_eq!(sms.body, "Hi, my order never arrived");
        assert_eq!(
            sms.inbound_message_id.as_str(),
            "cae173d2-66b9-564c-8309-21f858e9fb84"
        );
        assert_eq!(
            sms.previous_published_message_id.as_deref(),
            Some("wJ9ZcTg0E4r2T0nC")
        );
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let sms = InboundSms::from_json(&with("carrierName", json!({"nested": [1, 2]}))).unwrap();
        assert_eq!(sms.body, "Hi, my order never arrived");
    }

    #[test]
    fn empty_null_or_absent_optional_fields_are_none() {
        for payload in [
            with(field::MESSAGE_KEYWORD, json!("")),
            with(field::MESSAGE_KEYWORD, Value::Null),
            without(field::MESSAGE_KEYWORD),
        ] {
            assert_eq!(
                InboundSms::from_json(&payload).unwrap().keyword,
                None,
                "{payload}"
            );
        }
        for payload in [
            with(field::PREVIOUS_PUBLISHED_MESSAGE_ID, json!("")),
            with(field::PREVIOUS_PUBLISHED_MESSAGE_ID, Value::Null),
            without(field::PREVIOUS_PUBLISHED_MESSAGE_ID),
        ] {
            let sms = InboundSms::from_json(&payload).unwrap();
            assert_eq!(sms.previous_published_message_id, None, "{payload}");
        }
    }

    #[test]
    fn body_is_kept_exactly_as_received() {
        let sms =
            InboundSms::from_json(&with(field::MESSAGE_BODY, json!("  two\nlines  "))).unwrap();
        assert_eq!(sms.body, "  two\nlines  ");
    }

    #[test]
    fn each_missing_required_field_is_named() {
        for name in [
            field::ORIGINATION_NUMBER,
            field::DESTINATION_NUMBER,
            field::MESSAGE_BODY,
            field::INBOUND_MESSAGE_ID,
        ] {
            let error = InboundSms::from_json(&without(name)).unwrap_err();
            assert!(
                matches!(error, ParseError::MissingField { field } if field == name),
                "{name}: {error:?}"
            );
            assert_eq!(error.to_string(), format!("missing field {name}"));
        }
    }

    #[test]
    fn wrong_json_type_names_the_field_and_both_types() {
        for name in field::PAYLOAD_FIELDS {
            let error = InboundSms::from_json(&with(name, json!(42))).unwrap_err();
            assert!(
                matches!(error, ParseError::WrongType { field, expected: "string", found: "number" } if field == name),
                "{name}: {error:?}"
            );
            assert_eq!(
                error.to_string(),
                format!("field {name} is a json number, expected a string")
            );
        }
        let error =
            InboundSms::from_json(&with(field::ORIGINATION_NUMBER, Value::Null)).unwrap_err();
        assert!(
            matches!(error, ParseError::WrongType { found: "null", .. }),
            "{error:?}"
        );
    }

    #[test]
    fn invalid_phone_names_the_field_keeps_the_cause_and_hides_the_number() {
        let error = InboundSms::from_json(&with(field::ORIGINATION_NUMBER, json!("12065550199")))
            .unwrap_err();
        assert!(
            matches!(
                &error,
                ParseError::InvalidPhone {
                    field: "originationNumber",
                    source: PhoneError::MissingPlus
                }
            ),
            "{error:?}"
        );
        assert!(!chain(&error).contains("2065550199"), "{}", chain(&error));

        let error =
            InboundSms::from_json(&with(field::DESTINATION_NUMBER, json!("12345"))).unwrap_err();
        assert!(
            matches!(
                &error,
                ParseError::InvalidPhone {
                    field: "destinationNumber",
                    source: PhoneError::ShortCode { digits: 5 }
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn empty_message_id_is_rejected() {
        let error = InboundSms::from_json(&with(field::INBOUND_MESSAGE_ID, json!(""))).unwrap_err();
        assert!(
            matches!(error, ParseError::InvalidMessageId { .. }),
            "{error:?}"
        );
        assert_eq!(error.field(), Some(field::INBOUND_MESSAGE_ID));
    }

    #[test]
    fn empty_and_whitespace_only_bodies_are_rejected() {
        for body in ["", " ", "\n\t \r\n", "\u{3000}\u{a0}"] {
            let error = InboundSms::from_json(&with(field::MESSAGE_BODY, json!(body))).unwrap_err();
            assert!(
                matches!(error, ParseError::EmptyBody),
                "{body:?}: {error:?}"
            );
        }
    }

    #[test]
    fn body_limit_counts_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_BODY_CHARS);
        assert!(InboundSms::from_json(&with(field::MESSAGE_BODY, json!(at_limit))).is_ok());

        let over = "é".repeat(MAX_BODY_CHARS + 1);
        let error = InboundSms::from_json(&with(field::MESSAGE_BODY, json!(over))).unwrap_err();
        assert!(
            matches!(error, ParseError::BodyTooLong { chars, max } if chars == MAX_BODY_CHARS + 1 && max == MAX_BODY_CHARS),
            "{error:?}"
        );
    }

    #[test]
    fn bad_json_reports_line_and_column() {
        let error = InboundSms::from_json("{\n  \"originationNumber\": \"+12065550123\",\n  oops")
            .unwrap_err();
        assert!(
            matches!(
                error,
                ParseError::InvalidJson {
                    line: 3,
                    column: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "invalid json at line 3, column 3");
        assert!(error.source().is_some());
    }

    #[test]
    fn lone_surrogate_escape_is_a_json_error() {
        let payload = valid()
            .to_string()
            .replace("Hi, my order", "Hi \\ud83d my order");
        let error = InboundSms::from_json(&payload).unwrap_err();
        assert!(matches!(error, ParseError::InvalidJson { .. }), "{error:?}");
    }

    #[test]
    fn non_object_json_is_rejected_with_its_type() {
        for (text, found) in [
            ("[1]", "array"),
            ("\"hi\"", "string"),
            ("null", "null"),
            ("7", "number"),
        ] {
            let error = InboundSms::from_json(text).unwrap_err();
            assert!(
                matches!(error, ParseError::NotAnObject { found: f } if f == found),
                "{text}: {error:?}"
            );
        }
    }

    #[test]
    fn errors_never_show_the_body() {
        let secret = "my card is 4111 1111 1111 1111";
        let cases = [
            with(
                field::MESSAGE_BODY,
                json!(format!("{secret}{}", "x".repeat(MAX_BODY_CHARS))),
            ),
            with(field::ORIGINATION_NUMBER, json!(secret)),
            with(field::INBOUND_MESSAGE_ID, json!("")),
        ];
        for payload in cases {
            let error = InboundSms::from_json(&payload).unwrap_err();
            assert!(!chain(&error).contains("4111"), "{}", chain(&error));
        }
    }

    #[test]
    fn debug_shows_body_length_not_body_and_masks_numbers() {
        let sms = InboundSms::from_json(&valid().to_string()).unwrap();
        let printed = format!("{sms:?}");
        assert!(!printed.contains("order never arrived"), "{printed}");
        assert!(printed.contains("body_chars: 26"), "{printed}");
        assert!(!printed.contains("2065550123"), "{printed}");
        assert!(printed.contains("+1******0123"), "{printed}");
    }

    #[test]
    fn payload_json_uses_end_user_messaging_field_names_in_order() {
        let text = payload_json(&phone(CUSTOMER), &phone(SUPPORT), "say \"hi\"\n", "id-1");
        assert_eq!(
            text,
            "{\"originationNumber\":\"+12065550123\",\"destinationNumber\":\"+18005550100\",\
             \"messageKeyword\":\"\",\"messageBody\":\"say \\\"hi\\\"\\n\",\
             \"previousPublishedMessageId\":\"\",\"inboundMessageId\":\"id-1\"}"
        );
        let sms = InboundSms::from_json(&text).unwrap();
        assert_eq!(sms.body, "say \"hi\"\n");
        assert_eq!(sms.keyword, None);
    }

    #[test]
    fn parse_line_reads_a_raw_payload_and_ignores_replay_keys() {
        let line = with("delay_ms", json!(250));
        let texts = parse_line(&line).unwrap();
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0].body, "Hi, my order never arrived");
    }

    #[test]
    fn parse_line_reads_every_record_of_an_sns_event() {
        let second = with(field::MESSAGE_BODY, json!("second"));
        let line = sns_line(&[&valid().to_string(), &second]);
        let texts = parse_line(&line).unwrap();
        let bodies: Vec<_> = texts.iter().map(|sms| sms.body.as_str()).collect();
        assert_eq!(bodies, ["Hi, my order never arrived", "second"]);
    }

    #[test]
    fn parse_line_names_the_bad_record_and_its_inner_error() {
        let blank = with(field::MESSAGE_BODY, json!(" "));
        let error = parse_line(&sns_line(&[&valid().to_string(), &blank])).unwrap_err();
        assert!(
            matches!(&error, ParseError::InRecord { index: 1, .. }),
            "{error:?}"
        );
        assert_eq!(error.kind(), "empty_body");
        assert_eq!(error.field(), Some(field::MESSAGE_BODY));
    }

    #[test]
    fn parse_line_reports_a_raw_payload_missing_its_sender_as_missing_field() {
        let error = parse_line(&without(field::ORIGINATION_NUMBER)).unwrap_err();
        assert!(
            matches!(
                error,
                ParseError::MissingField {
                    field: "originationNumber"
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn parse_line_rejects_other_shapes() {
        assert!(matches!(
            parse_line("{\"hello\":\"world\"}"),
            Err(ParseError::NotAnSmsPayload)
        ));
        assert!(matches!(
            parse_line("[]"),
            Err(ParseError::NotAnObject { found: "array" })
        ));
        assert!(matches!(
            parse_line("{\"Records\":[]}"),
            Err(ParseError::NoRecords)
        ));
        assert!(matches!(
            parse_line("{\"Records\":[{\"Sns\":{}}]}"),
            Err(ParseError::InvalidSnsEvent { .. })
        ));
        assert!(matches!(
            parse_line(""),
            Err(ParseError::InvalidJson { .. })
        ));
    }

    #[test]
    fn error_kinds_are_stable_snake_case() {
        assert_eq!(ParseError::EmptyBody.kind(), "empty_body");
        assert_eq!(ParseError::NotAnSmsPayload.kind(), "not_an_sms_payload");
        assert_eq!(
            ParseError::MissingField { field: "x" }.kind(),
            "missing_field"
        );
        assert_eq!(
            ParseError::BodyTooLong { chars: 2, max: 1 }.kind(),
            "body_too_long"
        );
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,30}".prop_map(Value::from),
            "\\+?[0-9 ()-]{0,18}".prop_map(Value::from),
            Just(Value::from(" \t\n")),
            Just(Value::from("x".repeat(MAX_BODY_CHARS + 1))),
        ]
    }

    fn any_json() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(field::PAYLOAD_FIELDS.to_vec()).prop_map(str::to_owned),
            Just(field::RECORDS.to_owned()),
            Just("delay_ms".to_owned()),
            ".{0,8}",
        ]
    }

    fn payload_like_object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(key(), any_json(), 0..9)
            .prop_map(|map| Value::Object(map.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_text(text in "\\PC{0,200}") {
            let _ = InboundSms::from_json(&text);
            let _ = parse_line(&text);
        }

        #[test]
        fn parsers_never_panic_on_objects_of_payload_fields(object in payload_like_object()) {
            let text = object.to_string();
            if let Ok(sms) = InboundSms::from_json(&text) {
                prop_assert!(!sms.body.trim().is_empty());
                prop_assert!(sms.body.chars().count() <= MAX_BODY_CHARS);
            }
            let _ = parse_line(&text);
            let _ = parse_line(&sns_line(&[&text]));
        }

        #[test]
        fn valid_payloads_round_trip(
            from in "[1-9][0-9]{6,14}",
            to in "[1-9][0-9]{6,14}",
            body in "\\PC{0,300}[^\\s]\\PC{0,300}",
            id in "[A-Za-z0-9-]{1,64}",
        ) {
            let (from, to) = (phone(&format!("+{from}")), phone(&format!("+{to}")));
            let text = payload_json(&from, &to, &body, &id);
            let sms = InboundSms::from_json(&text).unwrap();
            prop_assert_eq!(&sms.origination, &from);
            prop_assert_eq!(&sms.destination, &to);
            prop_assert_eq!(&sms.body, &body);
            prop_assert_eq!(sms.inbound_message_id.as_str(), id.as_str());
            prop_assert_eq!(&sms.keyword, &None);

            let texts = parse_line(&sns_line(&[&text])).unwrap();
            prop_assert_eq!(texts, vec![sms]);
        }
    }
}
