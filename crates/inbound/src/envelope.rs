//! The SNS envelope Lambda hands the function: one two-way SMS payload per record.
//!
//! The payload itself (its fields, their validation, a recording's lines) is
//! `bridge_core::inbound`'s; what is Lambda's and SNS's (the typed event, its records, and
//! building one around a payload, for the CLI and the tests) is here.

use aws_lambda_events::event::sns::{SnsEvent, SnsMessage, SnsRecord};
use bridge_core::inbound::{InboundSms, ParseError};
use chrono::{DateTime, Utc};

/// One SNS record that held a valid inbound text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// SNS's `MessageId`: unique per publish, kept when SNS redelivers.
    pub sns_message_id: String,
    /// The text inside the record.
    pub sms: InboundSms,
}

/// A record of an SNS event that does not hold a valid inbound text.
#[derive(Debug, thiserror::Error)]
#[error(
    "sns record {index} (sns message id {sns_message_id:?}) does not hold a valid two-way sms payload"
)]
pub struct RecordError {
    /// 0-based index of the record in the event.
    pub index: usize,
    /// SNS's `MessageId` of the record (not personal data).
    pub sns_message_id: String,
    /// What is wrong with the payload.
    #[source]
    pub source: ParseError,
}

/// Parses every record of an SNS event, one result per record, in order.
///
/// Records fail one at a time: a bad record does not hide the good ones.
pub fn parse_sns_event(event: &SnsEvent) -> Vec<Result<InboundRecord, RecordError>> {
    event
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| parse_record(index, record))
        .collect()
}

fn parse_record(index: usize, record: &SnsRecord) -> Result<InboundRecord, RecordError> {
    let sns_message_id = record.sns.message_id.clone();
    match InboundSms::from_json(&record.sns.message) {
        Ok(sms) => Ok(InboundRecord {
            sns_message_id,
            sms,
        }),
        Err(source) => Err(RecordError {
            index,
            sns_message_id,
            source,
        }),
    }
}

/// Builds a Lambda SNS event around a raw two-way payload, as SNS would deliver it.
///
/// For the CLI and tests: the event is not signed (`Signature` is a placeholder, which
/// Lambda never checks), and the region in the URLs is taken from `topic_arn`.
pub fn wrap_in_sns_event(
    payload_json: &str,
    sns_message_id: &str,
    topic_arn: &str,
    timestamp: DateTime<Utc>,
) -> SnsEvent {
    let region = topic_arn
        .split(':')
        .nth(3)
        .filter(|region| !region.is_empty())
        .unwrap_or("us-east-1");
    let host = format!("https://sns.{region}.amazonaws.com");

    let mut message = SnsMessage::default();
    message.sns_message_type = "Notification".to_owned();
    message.message_id = sns_message_id.to_owned();
    message.topic_arn = topic_arn.to_owned();
    message.subject = None;
    message.timestamp = timestamp;
    message.signature_version = "1".to_owned();
    message.signature = "EXAMPLE".to_owned();
    message.signing_cert_url = format!("{host}/SimpleNotificationService-EXAMPLE.pem");
    message.unsubscribe_url =
        format!("{host}/?Action=Unsubscribe&SubscriptionArn={topic_arn}:{sns_message_id}");
    message.message = payload_json.to_owned();

    let mut record = SnsRecord::default();
    record.event_source = "aws:sns".to_owned();
    record.event_version = "1.0".to_owned();
    record.event_subscription_arn = format!("{topic_arn}:{sns_message_id}");
    record.sns = message;

    let mut event = SnsEvent::default();
    event.records = vec![record];
    event
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use bridge_core::inbound::{field, parse_line};
    use serde_json::{Value, json};

    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-west-2:123456789012:sms-inbound";

    fn valid() -> Value {
        json!({
            "originationNumber": "+14255550182",
            "destinationNumber": "+12125550101",
            "messageKeyword": "",
            "messageBody": "Hi, my order never arrived",
            "previousPublishedMessageId": "",
            "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84"
        })
    }

    fn with(name: &str, value: Value) -> String {
        let mut payload = valid();
        payload[name] = value;
        payload.to_string()
    }

    fn without(name: &str) -> String {
        let mut payload = valid();
        payload.as_object_mut().unwrap().remove(name);
        payload.to_string()
    }

    #[test]
    fn wrapped_event_looks_like_a_lambda_sns_notification() {
        let payload = valid().to_string();
        let at = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let event = wrap_in_sns_event(&payload, "sns-1", TOPIC, at);
        let json = serde_json::to_value(&event).unwrap();
        let record = &json["Records"][0];
        assert_eq!(record["EventSource"], "aws:sns");
        assert_eq!(record["EventVersion"], "1.0");
        assert_eq!(record["Sns"]["Type"], "Notification");
        assert_eq!(record["Sns"]["MessageId"], "sns-1");
        assert_eq!(record["Sns"]["TopicArn"], TOPIC);
        assert_eq!(record["Sns"]["Message"], payload.as_str());
        assert_eq!(record["Sns"]["Timestamp"], "2024-05-01T12:00:00Z");
        assert!(
            record["Sns"]["SigningCertUrl"]
                .as_str()
                .unwrap()
                .contains("sns.us-west-2.")
        );
    }

    #[test]
    fn sns_event_records_are_parsed_in_order_and_fail_one_at_a_time() {
        let at = Utc::now();
        let mut event = wrap_in_sns_event(&valid().to_string(), "first", TOPIC, at);
        let bad = wrap_in_sns_event(&without(field::MESSAGE_BODY), "second", TOPIC, at);
        let third = wrap_in_sns_event(
            &with(field::MESSAGE_BODY, json!("third")),
            "third",
            TOPIC,
            at,
        );
        event.records.extend(bad.records);
        event.records.extend(third.records);

        let results = parse_sns_event(&event);
        assert_eq!(results.len(), 3);
        let first = results[0].as_ref().unwrap();
        assert_eq!(first.sns_message_id, "first");
        assert_eq!(first.sms.body, "Hi, my order never arrived");
        let error = results[1].as_ref().unwrap_err();
        assert_eq!(error.index, 1);
        assert_eq!(error.sns_message_id, "second");
        assert!(matches!(
            error.source,
            ParseError::MissingField {
                field: "messageBody"
            }
        ));
        assert!(
            error.source().is_some(),
            "the parse error is kept as the source"
        );
        assert_eq!(results[2].as_ref().unwrap().sms.body, "third");
    }

    #[test]
    fn sns_message_that_is_not_json_is_a_record_error() {
        let event = wrap_in_sns_event("STOP", "m-1", TOPIC, Utc::now());
        let results = parse_sns_event(&event);
        let error = results[0].as_ref().unwrap_err();
        assert!(
            matches!(error.source, ParseError::InvalidJson { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn a_wrapped_event_is_a_recording_line_too() {
        let at = Utc::now();
        let mut event = wrap_in_sns_event(&valid().to_string(), "a", TOPIC, at);
        event.records.extend(
            wrap_in_sns_event(&with(field::MESSAGE_BODY, json!("second")), "b", TOPIC, at).records,
        );
        let texts = parse_line(&serde_json::to_string(&event).unwrap()).unwrap();
        let bodies: Vec<_> = texts.iter().map(|sms| sms.body.as_str()).collect();
        assert_eq!(bodies, ["Hi, my order never arrived", "second"]);
    }
}
