//! Where a replay sends its events: the handler in-process, a deployed SNS topic, or a
//! deployed Lambda function; and what each reports back per text ([`Observed`]).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use bridge_inbound::Handler;
use serde::{Deserialize, Serialize};

use super::input::Event;
use crate::meter::{EVENT_CLOCK, EventClock};

/// `--target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// The inbound handler in-process.
    Local,
    /// SNS Publish of each payload to this topic.
    Sns(String),
    /// Lambda Invoke of this function with each SNS event.
    Lambda(String),
}

impl FromStr for TargetSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "local" => Ok(Self::Local),
            Some(("sns", arn)) if arn.starts_with("arn:") => Ok(Self::Sns(arn.to_owned())),
            Some(("lambda", name)) if !name.is_empty() => Ok(Self::Lambda(name.to_owned())),
            _ => Err(format!(
                "{text:?}: expected local, sns:<topic-arn> or lambda:<function>"
            )),
        }
    }
}

/// What became of one text, as the handler's summary says (or `published` for SNS).
///
/// The handler's `Outcome` serialises to this shape (`outcome`, then its fields), so local
/// and Lambda results read the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// `delivered`, `duplicate`, `rejected`, `opted_out`, `opted_in`, `help`,
    /// `suppressed`, `dropped`, or `published`.
    pub outcome: String,
    /// Why (rejected, dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The parser's error kind (rejected as malformed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The field at fault (rejected as malformed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The chat (delivered, dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The handler started that chat (delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    /// The SNS message id (published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl Observed {
    /// An unreadable line: rejected as malformed without being sent.
    pub fn unreadable(kind: &str, field: Option<&str>) -> Self {
        Self {
            outcome: "rejected".to_owned(),
            reason: Some(if kind == "empty_body" {
                "empty_body".to_owned()
            } else {
                "malformed".to_owned()
            }),
            kind: Some(kind.to_owned()),
            field: field.map(str::to_owned),
            ..Self::default()
        }
    }

    /// The rejection reason for reports: `kind (field)`, the reason itself otherwise.
    pub fn reject_label(&self) -> String {
        match (&self.kind, &self.field) {
            (Some(kind), Some(field)) => format!("{kind} ({field})"),
            (Some(kind), None) => kind.clone(),
            _ => self.reason.clone().unwrap_or_else(|| "unknown".to_owned()),
        }
    }
}

/// The handler's (or the function's) response: one entry per record.
#[derive(Debug, Deserialize)]
struct SummaryShape {
    records: Vec<Observed>,
}

/// Time measurements of one event handled in-process.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventTiming {
    /// From the call to its answer.
    pub wall: Duration,
    /// Of which at least one service call was in flight.
    pub in_services: Duration,
}

/// A target ready to send to.
pub enum Target {
    /// The handler in-process.
    Local(Arc<Handler>),
    /// SNS Publish.
    Sns {
        /// The client.
        client: aws_sdk_sns::Client,
        /// The topic.
        topic_arn: String,
    },
    /// Lambda Invoke.
    Lambda {
        /// The client.
        client: aws_sdk_lambda::Client,
        /// The function.
        function: String,
    },
}

impl Target {
    /// A short description for the report.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(_) => "the inbound handler (in-process)".to_owned(),
            Self::Sns { topic_arn, .. } => format!("sns topic {topic_arn}"),
            Self::Lambda { function, .. } => format!("lambda function {function}"),
        }
    }

    /// Whether results carry the handler's outcomes (`--expect` needs them).
    pub fn reports_outcomes(&self) -> bool {
        !matches!(self, Self::Sns { .. })
    }

    /// Sends one event; returns one [`Observed`] per text, and timings when in-process.
    ///
    /// # Errors
    /// The handler's error (the invocation would fail), or the call's.
    pub async fn send(
        &self,
        event: &Event,
    ) -> anyhow::Result<(Vec<Observed>, Option<EventTiming>)> {
        match self {
            Self::Local(handler) => {
                let clock = Arc::new(EventClock::default());
                let started = tokio::time::Instant::now();
                let result = EVENT_CLOCK
                    .scope(Arc::clone(&clock), handler.handle_event(event.sns.clone()))
                    .await;
                let timing = EventTiming {
                    wall: started.elapsed(),
                    in_services: clock.busy(),
                };
                let summary = result.map_err(anyhow::Error::from)?;
                let value = serde_json::to_value(&summary).context("reading the summary")?;
                let shape: SummaryShape =
                    serde_json::from_value(value).context("reading the summary")?;
                Ok((shape.records, Some(timing)))
            }
            Self::Sns { client, topic_arn } => {
                let mut observed = Vec::with_capacity(event.payloads.len());
                for payload in &event.payloads {
                    let output = client
                        .publish()
                        .topic_arn(topic_arn)
                        .message(payload)
                        .send()
                        .await
                        .context("sns publish failed")?;
                    observed.push(Observed {
                        outcome: "published".to_owned(),
                        message_id: output.message_id,
                        ..Observed::default()
                    });
                }
                Ok((observed, None))
            }
            Self::Lambda { client, function } => {
                let payload = serde_json::to_vec(&event.sns).context("writing the event")?;
                let output = client
                    .invoke()
                    .function_name(function)
                    .invocation_type(InvocationType::RequestResponse)
                    .payload(Blob::new(payload))
                    .send()
                    .await
                    .context("lambda invoke failed")?;
                let body = output.payload.map(Blob::into_inner).unwrap_or_default();
                if let Some(kind) = output.function_error {
                    bail!(
                        "the function failed ({kind}): {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                let shape: SummaryShape = serde_json::from_slice(&body)
                    .context("the function's response is not the handler's summary")?;
                Ok((shape.records, None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!("local".parse::<TargetSpec>(), Ok(TargetSpec::Local));
        assert_eq!(
            "sns:arn:aws:sns:us-east-1:1:t".parse::<TargetSpec>(),
            Ok(TargetSpec::Sns("arn:aws:sns:us-east-1:1:t".into()))
        );
        assert_eq!(
            "lambda:bridge-inbound".parse::<TargetSpec>(),
            Ok(TargetSpec::Lambda("bridge-inbound".into()))
        );
        assert!("sns:topic".parse::<TargetSpec>().is_err());
        assert!("lambda:".parse::<TargetSpec>().is_err());
        assert!("remote".parse::<TargetSpec>().is_err());
    }

    #[test]
    fn handler_outcomes_read_as_observed() {
        use bridge_core::ids::ContactId;
        use bridge_inbound::{Outcome, RejectReason};
        let read = |outcome: Outcome| {
            serde_json::from_value::<Observed>(serde_json::to_value(outcome).unwrap()).unwrap()
        };
        let delivered = read(Outcome::Delivered {
            contact_id: ContactId::new("c-1").unwrap(),
            started: true,
        });
        assert_eq!(delivered.outcome, "delivered");
        assert_eq!(delivered.contact_id.as_deref(), Some("c-1"));
        assert_eq!(delivered.started, Some(true));
        let rejected = read(Outcome::Rejected {
            reason: RejectReason::Malformed {
                kind: "invalid_phone",
                field: Some("originationNumber"),
            },
        });
        assert_eq!(rejected.reject_label(), "invalid_phone (originationNumber)");
        let unknown = read(Outcome::Rejected {
            reason: RejectReason::UnknownSupportNumber,
        });
        assert_eq!(unknown.reason.as_deref(), Some("unknown_support_number"));
    }
}
