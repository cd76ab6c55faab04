//! What became of each inbound SMS the handler acknowledged.
//!
//! An [`Outcome`] is a success for Lambda: the record is done and must not be retried, even
//! when the text was deliberately not forwarded (rejected input, an opted-out customer, a
//! text Connect refuses). Failures that should be retried are [`crate::HandlerError`]s.
//! Outcomes carry ids only, never phone numbers or bodies, so the [`Summary`] can be the
//! invocation's response and be logged.

use bridge_core::ids::{ContactId, InboundMessageId};
use bridge_core::inbound::ParseError;
use serde::Serialize;

/// Why an inbound SMS was rejected without touching any store or chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RejectReason {
    /// The SNS record does not hold a valid two-way SMS payload.
    Malformed {
        /// [`ParseError::kind`], e.g. `invalid_json`, `invalid_phone`.
        kind: &'static str,
        /// The payload field at fault, when there is one.
        field: Option<&'static str>,
    },
    /// The body is empty or only whitespace: there is nothing to forward.
    EmptyBody,
    /// The destination is not one of the configured support lines.
    UnknownSupportNumber,
}

impl RejectReason {
    /// The reason for a record that failed to parse.
    pub fn from_parse_error(error: &ParseError) -> Self {
        match error {
            ParseError::EmptyBody => Self::EmptyBody,
            other => Self::Malformed {
                kind: other.kind(),
                field: other.field(),
            },
        }
    }
}

/// Why a valid text was acknowledged without reaching the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// SendMessage answered 400 for this content: the same text can never be accepted, so
    /// retrying would only park it in the DLQ. Logged at ERROR and counted.
    RejectedByConnect,
}

/// What the handler did with one inbound SMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The text reached the chat (every part of it, in order).
    Delivered {
        /// The chat it is in.
        contact_id: ContactId,
        /// This invocation started (or took over the start of) that chat.
        started: bool,
    },
    /// The text was already processed: a redelivery.
    Duplicate,
    /// The input was unusable; it was logged and acknowledged.
    Rejected {
        /// Why.
        #[serde(flatten)]
        reason: RejectReason,
    },
    /// The customer opted out (STOP and its synonyms).
    OptedOut {
        /// The chat that was ended because of it, if one was open.
        ended: Option<ContactId>,
    },
    /// The customer opted back in (START, or YES while opted out).
    OptedIn,
    /// The customer asked for HELP and got the configured answer.
    Help,
    /// The customer is opted out: the text was not forwarded.
    Suppressed,
    /// The text was valid but could not be delivered, and never will be; acknowledged.
    Dropped {
        /// The chat that refused it.
        contact_id: ContactId,
        /// Why.
        reason: DropReason,
    },
    /// A delivery event of an SMS the relay sent (End User Messaging), not a text.
    Receipt(ReceiptOutcome),
}

/// What a delivery event did in the chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "receipt", rename_all = "snake_case")]
pub enum ReceiptOutcome {
    /// The agent's message is marked delivered.
    Delivered {
        /// The chat.
        contact_id: ContactId,
    },
    /// A note that the message did not reach the phone is in the chat.
    FailureNoted {
        /// The chat.
        contact_id: ContactId,
    },
    /// Nothing to report (a pending part, a part before the last, an untagged SMS).
    Ignored,
    /// The chat has ended or the session moved on.
    ChatOver,
    /// Connect refused the receipt for good (e.g. a supervisor is in the chat).
    Refused {
        /// The chat.
        contact_id: ContactId,
    },
}

impl ReceiptOutcome {
    /// The chat, when the event concerned one the session still has.
    pub fn contact_id(&self) -> Option<&ContactId> {
        match self {
            Self::Delivered { contact_id }
            | Self::FailureNoted { contact_id }
            | Self::Refused { contact_id } => Some(contact_id),
            Self::Ignored | Self::ChatOver => None,
        }
    }

    /// A stable snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::FailureNoted { .. } => "failure_noted",
            Self::Ignored => "ignored",
            Self::ChatOver => "chat_over",
            Self::Refused { .. } => "refused",
        }
    }
}

impl Outcome {
    /// A stable snake_case name, for logs and metric filters.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::Duplicate => "duplicate",
            Self::Rejected { .. } => "rejected",
            Self::OptedOut { .. } => "opted_out",
            Self::OptedIn => "opted_in",
            Self::Help => "help",
            Self::Suppressed => "suppressed",
            Self::Dropped { .. } => "dropped",
            Self::Receipt(_) => "receipt",
        }
    }

    /// The chat this outcome concerns, when there is one.
    pub fn contact_id(&self) -> Option<&ContactId> {
        match self {
            Self::Delivered { contact_id, .. } | Self::Dropped { contact_id, .. } => {
                Some(contact_id)
            }
            Self::OptedOut { ended } => ended.as_ref(),
            Self::Receipt(receipt) => receipt.contact_id(),
            Self::Duplicate
            | Self::Rejected { .. }
            | Self::OptedIn
            | Self::Help
            | Self::Suppressed => None,
        }
    }
}

/// The outcome of one record of an SNS event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordOutcome {
    /// 0-based index of the record in the event.
    pub index: usize,
    /// SNS's `MessageId` of the record.
    pub sns_message_id: String,
    /// End User Messaging's `inboundMessageId`, when the record could be parsed.
    pub sms_id: Option<InboundMessageId>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What the handler did with a whole SNS event: one entry per record, in order.
///
/// Only produced when every record was acknowledged; if any record failed, the invocation
/// fails instead (see [`crate::Handler::handle_event`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Per record, in event order.
    pub records: Vec<RecordOutcome>,
}

impl Summary {
    /// The outcomes alone, in event order.
    pub fn outcomes(&self) -> Vec<&Outcome> {
        self.records.iter().map(|record| &record.outcome).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_serialises_flat_and_without_personal_data() {
        let summary = Summary {
            records: vec![
                RecordOutcome {
                    index: 0,
                    sns_message_id: "sns-1".into(),
                    sms_id: Some(InboundMessageId::new("m-1").unwrap()),
                    outcome: Outcome::Delivered {
                        contact_id: ContactId::new("c-1").unwrap(),
                        started: true,
                    },
                },
                RecordOutcome {
                    index: 1,
                    sns_message_id: "sns-2".into(),
                    sms_id: None,
                    outcome: Outcome::Rejected {
                        reason: RejectReason::Malformed {
                            kind: "invalid_phone",
                            field: Some("originationNumber"),
                        },
                    },
                },
            ],
        };
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"records": [
                {"index": 0, "sns_message_id": "sns-1", "sms_id": "m-1",
                 "outcome": "delivered", "contact_id": "c-1", "started": true},
                {"index": 1, "sns_message_id": "sns-2", "sms_id": null,
                 "outcome": "rejected", "reason": "malformed", "kind": "invalid_phone",
                 "field": "originationNumber"},
            ]})
        );
    }

    #[test]
    fn empty_body_has_its_own_reason() {
        assert_eq!(
            RejectReason::from_parse_error(&ParseError::EmptyBody),
            RejectReason::EmptyBody
        );
        assert_eq!(
            RejectReason::from_parse_error(&ParseError::NoRecords),
            RejectReason::Malformed {
                kind: "no_records",
                field: None
            }
        );
    }
}
