//! SendTextMessage's request, its validation, and the service's errors.
//!
//! Constraints are the `pinpoint-sms-voice-v2` model's (docs/connect-chat.md §7.4, §7.5):
//! only `DestinationPhoneNumber` is required; `MessageBody` 1–1,600 characters and not only
//! whitespace; `MessageType` `TRANSACTIONAL` or `PROMOTIONAL`; `TimeToLive` 5–259,200
//! seconds; `Context` at most 5 entries, keys 1–100 characters without whitespace, values
//! 1–800 without leading or trailing whitespace; plus the lengths and character sets of the
//! other members. A violation answers ValidationException with `Reason`
//! `FIELD_VALIDATION_FAILED` and one `Fields` entry per violation, a missing member
//! `MISSING_PARAMETER`. *connect-sim:* a missing `MessageBody` is a missing parameter (the
//! model does not require it, but there is nothing to send), and `DestinationPhoneNumber`
//! must be E.164 with its `+` (the model's pattern makes the `+` optional; the API
//! reference asks for E.164).
//!
//! The model gives none of the errors an HTTP status, so by awsJson1_0's default every
//! client error is a 400 and InternalServerException a 500; SDKs tell them apart by
//! `__type`.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;

/// `TimeToLive` bounds, seconds.
pub const TIME_TO_LIVE: RangeInclusive<i64> = 5..=259_200;
/// `MessageBody` length bounds, characters.
pub const MESSAGE_BODY: RangeInclusive<usize> = 1..=1600;
/// Most `Context` entries.
pub const MAX_CONTEXT_ENTRIES: usize = 5;
/// Most `DestinationCountryParameters` entries.
const MAX_COUNTRY_PARAMETERS: usize = 10;

/// SendTextMessage's input, as sent (every member optional so that validation, not JSON
/// parsing, reports what is missing or out of range).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendTextMessageRequest {
    /// Recipient, E.164 (required).
    pub destination_phone_number: Option<String>,
    /// Phone number, pool, sender id, or one of their ARNs.
    pub origination_identity: Option<String>,
    /// The text.
    pub message_body: Option<String>,
    /// `TRANSACTIONAL` or `PROMOTIONAL`.
    pub message_type: Option<String>,
    /// US short code program keyword.
    pub keyword: Option<String>,
    /// Configuration set name or ARN.
    pub configuration_set_name: Option<String>,
    /// Most USD to spend a part.
    pub max_price: Option<String>,
    /// Seconds to try handing the message off.
    pub time_to_live: Option<i64>,
    /// Echoed in delivery events.
    pub context: Option<BTreeMap<String, String>>,
    /// India's registration parameters.
    pub destination_country_parameters: Option<BTreeMap<String, String>>,
    /// Validate only.
    pub dry_run: Option<bool>,
    /// Protect configuration id or ARN.
    pub protect_configuration_id: Option<String>,
    /// Message feedback on.
    pub message_feedback_enabled: Option<bool>,
}

/// `MessageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Critical or time-sensitive.
    Transactional,
    /// Not critical.
    Promotional,
}

impl MessageType {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "TRANSACTIONAL",
            Self::Promotional => "PROMOTIONAL",
        }
    }
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    /// Recipient, E.164.
    pub destination_phone_number: String,
    /// As given.
    pub origination_identity: Option<String>,
    /// The text.
    pub message_body: String,
    /// As given.
    pub message_type: Option<MessageType>,
    /// As given (name or ARN).
    pub configuration_set_name: Option<String>,
    /// As given.
    pub time_to_live: Option<i64>,
    /// As given.
    pub context: Option<BTreeMap<String, String>>,
    /// Validate only.
    pub dry_run: bool,
}

/// The service's 400 ValidationException with a `Reason` and the failed fields.
#[must_use]
pub fn validation_error(
    reason: &'static str,
    message: String,
    fields: &[(&str, String)],
) -> ApiError {
    let fields: Vec<serde_json::Value> = fields
        .iter()
        .map(|(name, message)| json!({"Name": name, "Message": message}))
        .collect();
    let error = ApiError::validation(message).with_member("Reason", reason);
    if fields.is_empty() {
        error
    } else {
        error.with_member("Fields", fields)
    }
}

/// 400 ResourceNotFoundException naming the resource.
#[must_use]
pub fn not_found(resource_type: &'static str, resource_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "ResourceNotFoundException",
        format!("{resource_type} {resource_id} does not exist"),
    )
    .with_member("ResourceType", resource_type)
    .with_member("ResourceId", resource_id)
}

/// 400 ConflictException with its `Reason`.
#[must_use]
pub fn conflict(
    reason: &'static str,
    resource_type: &'static str,
    resource_id: &str,
    message: String,
) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ConflictException", message)
        .with_member("Reason", reason)
        .with_member("ResourceType", resource_type)
        .with_member("ResourceId", resource_id)
}

/// Whether `number` is E.164: `+`, then 2–15 digits, the first not 0.
#[must_use]
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Violations found so far: (member, constraint).
#[derive(Debug, Default)]
struct Violations(Vec<(&'static str, String)>);

impl Violations {
    fn add(&mut self, member: &'static str, constraint: impl Into<String>) {
        self.0.push((member, constraint.into()));
    }

    /// A string member: length in characters, then allowed characters.
    fn text(
        &mut self,
        member: &'static str,
        value: Option<&str>,
        length: RangeInclusive<usize>,
        allowed: fn(char) -> bool,
    ) {
        let Some(value) = value else { return };
        let count = value.chars().count();
        if count < *length.start() {
            self.add(
                member,
                format!(
                    "Member must have length greater than or equal to {}",
                    length.start()
                ),
            );
        } else if count > *length.end() {
            self.add(
                member,
                format!(
                    "Member must have length less than or equal to {}",
                    length.end()
                ),
            );
        } else if !value.chars().all(allowed) {
            self.add(member, "Member must satisfy its regular expression pattern");
        }
    }

    /// `N validation error(s) detected: Value at 'member' failed to satisfy constraint: …`,
    /// as AWS words model violations.
    fn into_error(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let count = self.0.len();
        let details: Vec<String> = self
            .0
            .iter()
            .map(|(member, constraint)| {
                format!(
                    "Value at '{}' failed to satisfy constraint: {constraint}",
                    lower_first(member)
                )
            })
            .collect();
        let plural = if count == 1 { "" } else { "s" };
        let message = format!(
            "{count} validation error{plural} detected: {}",
            details.join("; ")
        );
        let fields: Vec<(&str, String)> = self.0.into_iter().collect();
        Err(validation_error(
            "FIELD_VALIDATION_FAILED",
            message,
            &fields,
        ))
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

/// `[A-Za-z0-9_:/-]`: configuration set and protect configuration names or ARNs.
fn resource_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '/' | '-')
}

/// Whether `value` is `[0-9]{0,2}\.[0-9]{1,5}` (MaxPrice).
fn is_price(value: &str) -> bool {
    value.split_once('.').is_some_and(|(units, fraction)| {
        units.len() <= 2
            && (1..=5).contains(&fraction.len())
            && units
                .chars()
                .chain(fraction.chars())
                .all(|c| c.is_ascii_digit())
    })
}

impl SendTextMessageRequest {
    /// Checks every member against the model.
    ///
    /// # Errors
    /// ValidationException: `MISSING_PARAMETER` for the first missing member, else
    /// `FIELD_VALIDATION_FAILED` listing every violation.
    pub fn validate(self) -> Result<TextMessage, ApiError> {
        let missing = |member: &str| {
            validation_error(
                "MISSING_PARAMETER",
                format!("{member} is required"),
                &[(member, "Member must not be null".to_owned())],
            )
        };
        let destination = self
            .destination_phone_number
            .ok_or_else(|| missing("DestinationPhoneNumber"))?;
        let body = self.message_body.ok_or_else(|| missing("MessageBody"))?;
        let mut violations = Violations::default();
        if !is_e164(&destination) {
            violations.add(
                "DestinationPhoneNumber",
                "Member must be a phone number in E.164 format (+ and 2-15 digits)",
            );
        }
        violations.text("MessageBody", Some(&body), MESSAGE_BODY, |_| true);
        if !body.is_empty() && body.chars().all(char::is_whitespace) {
            violations.add("MessageBody", "Member must not be only whitespace");
        }
        violations.text(
            "OriginationIdentity",
            self.origination_identity.as_deref(),
            1..=256,
            |c| resource_char(c) || c == '+',
        );
        let message_type = match self.message_type.as_deref() {
            None => None,
            Some("TRANSACTIONAL") => Some(MessageType::Transactional),
            Some("PROMOTIONAL") => Some(MessageType::Promotional),
            Some(_) => {
                violations.add(
                    "MessageType",
                    "Member must satisfy enum value set: [TRANSACTIONAL, PROMOTIONAL]",
                );
                None
            }
        };
        violations.text("Keyword", self.keyword.as_deref(), 1..=30, |c| {
            c == ' ' || !c.is_whitespace()
        });
        violations.text(
            "ConfigurationSetName",
            self.configuration_set_name.as_deref(),
            1..=256,
            resource_char,
        );
        if let Some(price) = self.max_price.as_deref()
            && !((2..=8).contains(&price.len()) && is_price(price))
        {
            violations.add(
                "MaxPrice",
                "Member must be a price such as 0.01 or 10.00000",
            );
        }
        if let Some(ttl) = self.time_to_live {
            if ttl < *TIME_TO_LIVE.start() {
                violations.add(
                    "TimeToLive",
                    "Member must have value greater than or equal to 5",
                );
            } else if ttl > *TIME_TO_LIVE.end() {
                violations.add(
                    "TimeToLive",
                    "Member must have value less than or equal to 259200",
                );
            }
        }
        if let Some(context) = &self.context {
            check_context(&mut violations, context);
        }
        if let Some(parameters) = &self.destination_country_parameters {
            check_country_parameters(&mut violations, parameters);
        }
        violations.text(
            "ProtectConfigurationId",
            self.protect_configuration_id.as_deref(),
            1..=256,
            resource_char,
        );
        violations.into_error()?;
        Ok(TextMessage {
            destination_phone_number: destination,
            origination_identity: self.origination_identity,
            message_body: body,
            message_type,
            configuration_set_name: self.configuration_set_name,
            time_to_live: self.time_to_live,
            context: self.context,
            dry_run: self.dry_run.unwrap_or(false),
        })
    }
}

fn check_context(violations: &mut Violations, context: &BTreeMap<String, String>) {
    if context.len() > MAX_CONTEXT_ENTRIES {
        violations.add("Context", "Member must have length less than or equal to 5");
    }
    for (key, value) in context {
        let key_ok =
            (1..=100).contains(&key.chars().count()) && !key.chars().any(char::is_whitespace);
        if !key_ok {
            violations.add(
                "Context",
                format!("Map keys must have 1-100 characters and no whitespace: {key:?}"),
            );
        }
        let trimmed = value.trim() == value;
        if !(1..=800).contains(&value.chars().count()) || !trimmed {
            violations.add(
                "Context",
                format!(
                    "Map value of {key:?} must have 1-800 characters, without leading or trailing whitespace"
                ),
            );
        }
    }
}

fn check_country_parameters(violations: &mut Violations, parameters: &BTreeMap<String, String>) {
    if parameters.len() > MAX_COUNTRY_PARAMETERS {
        violations.add(
            "DestinationCountryParameters",
            "Member must have length less than or equal to 10",
        );
    }
    for (key, value) in parameters {
        if !matches!(key.as_str(), "IN_TEMPLATE_ID" | "IN_ENTITY_ID") {
            violations.add(
                "DestinationCountryParameters",
                format!(
                    "Map keys must satisfy enum value set: [IN_TEMPLATE_ID, IN_ENTITY_ID]: {key:?}"
                ),
            );
        }
        if !(1..=64).contains(&value.chars().count()) || value.chars().any(char::is_whitespace) {
            violations.add(
                "DestinationCountryParameters",
                format!("Map value of {key:?} must have 1-64 characters and no whitespace"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> SendTextMessageRequest {
        serde_json::from_value(json).unwrap()
    }

    fn valid() -> serde_json::Value {
        json!({"DestinationPhoneNumber": "+14255550156", "MessageBody": "hello"})
    }

    fn with(member: &str, value: serde_json::Value) -> SendTextMessageRequest {
        let mut body = valid();
        body[member] = value;
        request(body)
    }

    fn reason_and_fields(error: &ApiError) -> (String, Vec<String>) {
        let reason = error
            .member("Reason")
            .and_then(|r| r.as_str())
            .unwrap_or_default()
            .to_owned();
        let fields = error
            .member("Fields")
            .and_then(|f| f.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|field| field["Name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        (reason, fields)
    }

    #[track_caller]
    fn assert_field_fails(request: SendTextMessageRequest, member: &str) {
        let error = request.validate().expect_err("invalid");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.error_type(), "ValidationException");
        let (reason, fields) = reason_and_fields(&error);
        assert_eq!(reason, "FIELD_VALIDATION_FAILED", "{error}");
        assert_eq!(fields, [member], "{error}");
    }

    #[test]
    fn a_minimal_request_is_valid() {
        let message = request(valid()).validate().unwrap();
        assert_eq!(message.destination_phone_number, "+14255550156");
        assert_eq!(message.message_body, "hello");
        assert!(!message.dry_run);
        assert_eq!(message.message_type, None);
    }

    #[test]
    fn every_member_within_its_bounds_is_valid() {
        let message = request(json!({
            "DestinationPhoneNumber": "+447700900123",
            "OriginationIdentity": "arn:aws:sms-voice:us-east-1:123456789012:pool/pool-1",
            "MessageBody": "x".repeat(1600),
            "MessageType": "PROMOTIONAL",
            "Keyword": "JOIN NOW",
            "ConfigurationSetName": "events",
            "MaxPrice": "0.00581",
            "TimeToLive": 259_200,
            "Context": {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"},
            "DestinationCountryParameters": {"IN_ENTITY_ID": "e-1"},
            "DryRun": true,
            "ProtectConfigurationId": "protect-1",
            "MessageFeedbackEnabled": false
        }))
        .validate()
        .unwrap();
        assert_eq!(message.message_type, Some(MessageType::Promotional));
        assert!(message.dry_run);
        assert_eq!(message.time_to_live, Some(259_200));
    }

    #[test]
    fn missing_members_are_missing_parameters() {
        for (body, member) in [
            (json!({"MessageBody": "hi"}), "DestinationPhoneNumber"),
            (
                json!({"DestinationPhoneNumber": "+14255550156"}),
                "MessageBody",
            ),
        ] {
            let error = request(body).validate().expect_err("missing");
            assert_eq!(error.error_type(), "ValidationException");
            let (reason, fields) = reason_and_fields(&error);
            assert_eq!(reason, "MISSING_PARAMETER");
            assert_eq!(fields, [member]);
        }
    }

    #[test]
    fn destinations_must_be_e164() {
        for bad in [
            "14255550156",
            "+0425555015",
            "+1",
            "+1425555015612345",
            "+1 425 555 0156",
            "",
        ] {
            assert_field_fails(
                with("DestinationPhoneNumber", json!(bad)),
                "DestinationPhoneNumber",
            );
        }
        assert!(is_e164("+12"));
        assert!(is_e164("+123456789012345"));
    }

    #[test]
    fn bodies_are_1_to_1600_characters_and_not_blank() {
        assert_field_fails(with("MessageBody", json!("")), "MessageBody");
        assert_field_fails(with("MessageBody", json!(" \n ")), "MessageBody");
        assert_field_fails(with("MessageBody", json!("x".repeat(1601))), "MessageBody");
        // Characters, not bytes: 1,600 two-byte characters fit.
        assert!(
            with("MessageBody", json!("é".repeat(1600)))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn enums_ranges_and_patterns_are_checked() {
        assert_field_fails(with("MessageType", json!("URGENT")), "MessageType");
        assert_field_fails(with("TimeToLive", json!(4)), "TimeToLive");
        assert_field_fails(with("TimeToLive", json!(259_201)), "TimeToLive");
        assert!(with("TimeToLive", json!(5)).validate().is_ok());
        assert_field_fails(
            with("OriginationIdentity", json!("+1 425")),
            "OriginationIdentity",
        );
        assert_field_fails(
            with("ConfigurationSetName", json!("a b")),
            "ConfigurationSetName",
        );
        assert_field_fails(with("Keyword", json!("a\tb")), "Keyword");
        assert_field_fails(with("MaxPrice", json!("1")), "MaxPrice");
        assert_field_fails(with("MaxPrice", json!("100.1")), "MaxPrice");
        assert!(with("MaxPrice", json!(".5")).validate().is_ok());
        assert_field_fails(
            with("ProtectConfigurationId", json!("")),
            "ProtectConfigurationId",
        );
        assert_field_fails(
            with("DestinationCountryParameters", json!({"US_ID": "x"})),
            "DestinationCountryParameters",
        );
    }

    #[test]
    fn context_holds_five_trimmed_entries() {
        let six = json!({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"});
        assert_field_fails(with("Context", six), "Context");
        assert_field_fails(with("Context", json!({"a b": "1"})), "Context");
        assert_field_fails(with("Context", json!({"a": " 1"})), "Context");
        assert_field_fails(with("Context", json!({"a": ""})), "Context");
        assert_field_fails(with("Context", json!({"a": "x".repeat(801)})), "Context");
    }

    #[test]
    fn every_violation_is_listed() {
        let mut body = valid();
        body["TimeToLive"] = json!(1);
        body["MessageType"] = json!("NOPE");
        let error = request(body).validate().expect_err("invalid");
        let (_, fields) = reason_and_fields(&error);
        assert_eq!(fields, ["MessageType", "TimeToLive"]);
        assert!(
            error
                .message()
                .starts_with("2 validation errors detected: "),
            "{error}"
        );
        assert!(error.message().contains("Value at 'timeToLive'"), "{error}");
    }
}
