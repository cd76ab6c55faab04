//! Reading a recording: JSON Lines, each line a raw two-way SMS payload (as End User
//! Messaging publishes it) or a whole Lambda SNS event.
//!
//! Every line goes through the same parser the Lambda uses (`bridge_core::inbound`). A line
//! that does not hold a valid text is *unreadable*: it is reported with its line number and
//! the parser's error kind, and never sent (a retry could not fix it, and Lambda would only
//! acknowledge it). The others become [`Event`]s, each with its SNS event (built around a
//! raw payload, as SNS would) and its place on the replay's timeline.
//!
//! # Pacing keys
//! - `delay_ms` (raw payloads; a number ≥ 0): wait this long after the previous line.
//! - `timestamp` (raw payloads, RFC 3339), or the SNS record's `Timestamp`: wait the time
//!   since the previous timestamped line.
//!
//! Both keys are removed from a raw payload before it is sent. Pauses longer than
//! `max_gap` are shortened to it: recordings span hours.

use std::time::Duration;

use aws_lambda_events::event::sns::SnsEvent;
use bridge_core::inbound::{self, field};
use bridge_inbound::envelope::wrap_in_sns_event;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// Replay key: pause before this line, in milliseconds.
pub const DELAY_MS: &str = "delay_ms";
/// Replay key: when this line was received (RFC 3339).
pub const TIMESTAMP: &str = "timestamp";
/// The topic ARN written into SNS events built around raw payloads.
pub const REPLAY_TOPIC_ARN: &str = "arn:aws:sns:us-east-1:000000000000:bridge-replay";

/// One non-blank line of a recording.
#[derive(Debug)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: usize,
    /// What the line holds.
    pub content: Content,
    /// When to send it, from the start of the replay (before `--speed`).
    pub at: Duration,
}

/// What a line holds.
#[derive(Debug)]
pub enum Content {
    /// Texts to send.
    Event(Box<Event>),
    /// Not a valid text: the parser's error kind and field.
    Unreadable {
        /// `ParseError::kind()`, or `invalid_utf8`.
        kind: &'static str,
        /// `ParseError::field()`.
        field: Option<&'static str>,
    },
}

/// A readable line.
#[derive(Debug)]
pub struct Event {
    /// As Lambda receives it.
    pub sns: SnsEvent,
    /// The two-way payload of each record, as published to the topic.
    pub payloads: Vec<String>,
    /// Sender and support number of the first text: lines with the same key are replayed
    /// in order under `--order sender`.
    pub key: String,
}

/// How to read lines.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Replace every `inboundMessageId` with one derived from it and this run id, so a
    /// recording can be replayed again against the same table.
    pub new_ids: Option<String>,
    /// Longest pause kept from the recording.
    pub max_gap: Duration,
}

/// Splits `bytes` into lines and reads each.
pub fn read(bytes: &[u8], options: &ReadOptions) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut at = Duration::ZERO;
    let mut last_time: Option<DateTime<Utc>> = None;
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            lines.push(Line {
                number,
                content: Content::Unreadable {
                    kind: "invalid_utf8",
                    field: None,
                },
                at,
            });
            continue;
        };
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let value: Option<Value> = serde_json::from_str(text).ok();
        let gap = gap_of(value.as_ref(), &mut last_time);
        at += gap.min(options.max_gap);
        let content = match inbound::parse_line(text) {
            Err(error) => Content::Unreadable {
                kind: error.kind(),
                field: error.field(),
            },
            Ok(texts) => {
                let key = texts
                    .first()
                    .map(|sms| {
                        format!(
                            "{}>{}",
                            sms.origination.as_e164(),
                            sms.destination.as_e164()
                        )
                    })
                    .unwrap_or_default();
                match value.and_then(|value| event_of(value, number, options)) {
                    Some((sns, payloads)) => Content::Event(Box::new(Event { sns, payloads, key })),
                    // parse_line accepted it, so it is JSON of one of the two shapes.
                    None => Content::Unreadable {
                        kind: "invalid_sns_event",
                        field: None,
                    },
                }
            }
        };
        lines.push(Line {
            number,
            content,
            at,
        });
    }
    lines
}

/// The pause before a line, from its pacing keys.
fn gap_of(value: Option<&Value>, last_time: &mut Option<DateTime<Utc>>) -> Duration {
    let Some(object) = value.and_then(Value::as_object) else {
        return Duration::ZERO;
    };
    if let Some(ms) = object.get(DELAY_MS).and_then(Value::as_u64) {
        return Duration::from_millis(ms);
    }
    let time = object
        .get(TIMESTAMP)
        .and_then(Value::as_str)
        .or_else(|| {
            object
                .get(field::RECORDS)?
                .get(0)?
                .get("Sns")?
                .get("Timestamp")?
                .as_str()
        })
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&Utc));
    let Some(time) = time else {
        return Duration::ZERO;
    };
    let gap = last_time
        .map(|last| (time - last).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(Duration::ZERO);
    *last_time = Some(time);
    gap
}

/// The SNS event and payloads of a line `parse_line` accepted.
fn event_of(value: Value, number: usize, options: &ReadOptions) -> Option<(SnsEvent, Vec<String>)> {
    let Value::Object(mut object) = value else {
        return None;
    };
    if object.contains_key(field::ORIGINATION_NUMBER) || !object.contains_key(field::RECORDS) {
        object.remove(DELAY_MS);
        object.remove(TIMESTAMP);
        renew_id(&mut object, options.new_ids.as_deref());
        let payload = Value::Object(object).to_string();
        let sns = wrap_in_sns_event(
            &payload,
            &sns_message_id(number, options.new_ids.as_deref()),
            REPLAY_TOPIC_ARN,
            Utc::now(),
        );
        return Some((sns, vec![payload]));
    }
    let mut sns: SnsEvent = serde_json::from_value(Value::Object(object)).ok()?;
    let mut payloads = Vec::with_capacity(sns.records.len());
    for record in &mut sns.records {
        if let Some(run) = options.new_ids.as_deref() {
            if let Ok(Value::Object(mut payload)) = serde_json::from_str(&record.sns.message) {
                renew_id(&mut payload, Some(run));
                record.sns.message = Value::Object(payload).to_string();
            }
            record.sns.message_id = derived_id(&record.sns.message_id, run);
        }
        payloads.push(record.sns.message.clone());
    }
    Some((sns, payloads))
}

fn renew_id(payload: &mut Map<String, Value>, run: Option<&str>) {
    let Some(run) = run else { return };
    if let Some(Value::String(id)) = payload.get_mut(field::INBOUND_MESSAGE_ID) {
        *id = derived_id(id, run);
    }
}

fn sns_message_id(number: usize, run: Option<&str>) -> String {
    derived_id(&format!("line-{number}"), run.unwrap_or("replay"))
}

/// A UUID-shaped id derived from `id` and `run`: the same inputs give the same id, so a
/// duplicate in the recording stays a duplicate.
pub fn derived_id(id: &str, run: &str) -> String {
    let digest = Sha256::new()
        .chain_update(run.as_bytes())
        .chain_update([0])
        .chain_update(id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::from_bytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn options() -> ReadOptions {
        ReadOptions {
            new_ids: None,
            max_gap: Duration::from_secs(5),
        }
    }

    const RAW: &str = r#"{"originationNumber":"+12065550123","destinationNumber":"+18005550100","messageKeyword":"K","messageBody":"hi","previousPublishedMessageId":"","inboundMessageId":"m-1","delay_ms":1500}"#;

    #[test]
    fn raw_payload_is_wrapped_without_its_replay_keys() {
        let lines = read(RAW.as_bytes(), &options());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].at, Duration::from_millis(1500));
        let Content::Event(event) = &lines[0].content else {
            panic!("{:?}", lines[0].content)
        };
        assert!(!event.payloads[0].contains("delay_ms"));
        assert_eq!(event.sns.records.len(), 1);
        assert_eq!(event.sns.records[0].sns.message, event.payloads[0]);
        assert_eq!(event.key, "+12065550123>+18005550100");
    }

    #[test]
    fn bad_lines_keep_their_numbers_and_blank_lines_are_skipped() {
        let text = format!("{RAW}\n\nnot json\n[1]\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        let lines = read(&bytes, &options());
        let kinds: Vec<_> = lines
            .iter()
            .map(|line| match &line.content {
                Content::Event(_) => (line.number, "event"),
                Content::Unreadable { kind, .. } => (line.number, *kind),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, "event"),
                (3, "invalid_json"),
                (4, "not_an_object"),
                (5, "invalid_utf8")
            ]
        );
    }

    #[test]
    fn new_ids_are_stable_per_run_and_differ_between_runs() {
        let run = |id: &str| ReadOptions {
            new_ids: Some(id.to_owned()),
            ..options()
        };
        let payload = |lines: Vec<Line>| match &lines[0].content {
            Content::Event(event) => event.payloads[0].clone(),
            Content::Unreadable { .. } => panic!("unreadable"),
        };
        let a1 = payload(read(RAW.as_bytes(), &run("a")));
        let a2 = payload(read(RAW.as_bytes(), &run("a")));
        let b = payload(read(RAW.as_bytes(), &run("b")));
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert!(!a1.contains("\"m-1\""));
        bridge_core::inbound::InboundSms::from_json(&a1).unwrap();
    }

    #[test]
    fn timestamps_pace_lines_and_long_pauses_are_cut() {
        let first = r#"{"originationNumber":"+12065550123","destinationNumber":"+18005550100","messageBody":"a","inboundMessageId":"m-1","timestamp":"2024-05-01T10:00:00Z"}"#;
        let second = r#"{"originationNumber":"+12065550123","destinationNumber":"+18005550100","messageBody":"b","inboundMessageId":"m-2","timestamp":"2024-05-01T10:00:02Z"}"#;
        let third = r#"{"originationNumber":"+12065550123","destinationNumber":"+18005550100","messageBody":"c","inboundMessageId":"m-3","timestamp":"2024-05-01T11:00:00Z"}"#;
        let lines = read(format!("{first}\n{second}\n{third}").as_bytes(), &options());
        let at: Vec<_> = lines.iter().map(|line| line.at.as_secs()).collect();
        assert_eq!(at, vec![0, 2, 7]);
    }
}
