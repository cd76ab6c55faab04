//! Why handling an inbound SMS failed, classified for Lambda.
//!
//! Only failures that make the invocation fail live here: anything the handler acknowledges
//! (malformed input, an unknown support number, a text Connect rejects as invalid, a reply
//! to an opted-out number) is an [`crate::Outcome`] instead. Every error answers
//! [`HandlerError::is_retriable`] and maps to a Lambda [`Diagnostic`] with an explicit
//! `error_type`, `Retriable.*` or `Permanent.*`, so alarms and the DLQ can tell a throttled
//! table from a misconfigured contact flow without parsing messages.
//!
//! SNS invokes the function asynchronously: Lambda retries *any* failed invocation (twice
//! by default) and then hands the event to the DLQ / on-failure destination. So a
//! `Permanent.*` error is still retried a little, uselessly but harmlessly (every side effect
//! is idempotent or deduplicated), and then parked where an operator sees it; that is the
//! point: those errors mean a misconfiguration or corrupt data that someone must fix before
//! redriving.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use bridge_core::ports::{ChatError, SmsError, StoreError};
use lambda_runtime::Diagnostic;

/// The step that failed, for error messages and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `DedupeStore::is_processed`.
    ReadDedupe,
    /// `SessionStore::get`.
    ReadSession,
    /// `SessionStore::put`.
    WriteSession,
    /// `SessionStore::end_chat`.
    EndSession,
    /// `DedupeStore::mark_processed`.
    MarkProcessed,
    /// StartChatContact.
    StartChat,
    /// CreateParticipantConnection.
    Connect,
    /// SendMessage.
    SendMessage,
    /// SendEvent (a delivered receipt).
    SendEvent,
    /// GetTranscript.
    GetTranscript,
    /// DisconnectParticipant.
    Disconnect,
}

impl Step {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadDedupe => "read_dedupe",
            Self::ReadSession => "read_session",
            Self::WriteSession => "write_session",
            Self::EndSession => "end_session",
            Self::MarkProcessed => "mark_processed",
            Self::StartChat => "start_chat",
            Self::Connect => "create_connection",
            Self::SendMessage => "send_message",
            Self::SendEvent => "send_event",
            Self::GetTranscript => "get_transcript",
            Self::Disconnect => "disconnect",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an inbound SMS could not be handled; the invocation fails with it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The session or dedupe store failed.
    #[error("session store failed at {step}")]
    Store {
        /// What was being done.
        step: Step,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A Connect or Connect Participant call failed.
    #[error("chat api failed at {step}")]
    Chat {
        /// What was being done.
        step: Step,
        /// The chat API's error.
        #[source]
        source: ChatError,
    },
    /// A keyword reply (HELP, or the configured STOP/START text) could not be sent.
    #[error("keyword reply sms could not be sent")]
    Sms(#[source] SmsError),
    /// Another invocation is starting the chat and it did not become active in time.
    #[error("chat being started by another invocation was not active after {waited:?}")]
    StartPending {
        /// How long this invocation waited.
        waited: Duration,
    },
    /// The session changed under this invocation more often than the bound allows.
    #[error("session kept changing under this invocation ({decisions} decisions)")]
    Contention {
        /// How many times the handler read and decided.
        decisions: u32,
    },
    /// CreateParticipantConnection succeeded without the credentials asked for.
    #[error("create participant connection returned no connection credentials")]
    MissingCredentials,
    /// Two chats this long text started in a row were ended by the contact flow before the
    /// customer connected (a flow that ends every chat, out of hours?): the text waits for
    /// Lambda's retry rather than start more chats now.
    #[error("the contact flow ended two chats of this text at once; not starting a third now")]
    EndedAtOnce,
    /// The inbound machine and its interpreter disagreed (a bug): fails loudly.
    #[error("inbound machine in state {state} got an answer that does not fit")]
    Internal {
        /// The machine's state.
        state: &'static str,
    },
}

impl HandlerError {
    pub(crate) fn store(step: Step, source: StoreError) -> Self {
        Self::Store { step, source }
    }

    pub(crate) fn chat(step: Step, source: ChatError) -> Self {
        Self::Chat { step, source }
    }

    /// Whether retrying the invocation later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Store { source, .. } => source.is_retriable(),
            Self::Chat { source, .. } => source.is_retriable(),
            Self::Sms(source) => source.is_retriable(),
            Self::StartPending { .. } | Self::Contention { .. } | Self::EndedAtOnce => true,
            Self::MissingCredentials | Self::Internal { .. } => false,
        }
    }

    /// The Lambda `error_type`: `Retriable.<Kind>` or `Permanent.<Kind>`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Store { source, .. } => match source {
                StoreError::Throttled(_) => "Retriable.StoreThrottled",
                StoreError::Transient(_) => "Retriable.StoreUnavailable",
                StoreError::Conflict { .. } => "Permanent.StoreConflict",
                StoreError::Corrupt { .. } => "Permanent.StoreCorrupt",
                StoreError::Other(_) => "Permanent.StoreFailed",
            },
            Self::Chat { source, .. } => match source {
                ChatError::Throttled(_) => "Retriable.ChatThrottled",
                ChatError::Transient(_) => "Retriable.ChatUnavailable",
                ChatError::ChatEnded => "Permanent.ChatDenied",
                ChatError::Invalid(_) => "Permanent.ChatInvalid",
                ChatError::Other(_) => "Permanent.ChatFailed",
            },
            Self::Sms(source) => match source {
                SmsError::Throttled(_) => "Retriable.SmsThrottled",
                SmsError::Transient(_) => "Retriable.SmsUnavailable",
                SmsError::OptedOut => "Permanent.SmsOptedOut",
                SmsError::Invalid(_) => "Permanent.SmsInvalid",
                SmsError::Other(_) => "Permanent.SmsFailed",
            },
            Self::StartPending { .. } => "Retriable.StartPending",
            Self::Contention { .. } => "Retriable.Contention",
            Self::MissingCredentials => "Permanent.MissingCredentials",
            Self::EndedAtOnce => "Retriable.EndedAtOnce",
            Self::Internal { .. } => "Permanent.Internal",
        }
    }

    /// The error and its whole source chain on one line, for logs, phone numbers masked.
    pub fn chain(&self) -> String {
        bridge_core::report::chain(self)
    }
}

impl From<HandlerError> for Diagnostic {
    /// The message carries one level of cause: the port error's own fixed wording, never
    /// the adapter's underlying SDK text (which could quote a request). Logs carry the rest.
    fn from(error: HandlerError) -> Self {
        let message = match error.source() {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        };
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<HandlerError> {
        let cause = || -> bridge_core::ports::BoxError { "sdk said 555-0100".into() };
        vec![
            HandlerError::store(Step::ReadSession, StoreError::Throttled(cause())),
            HandlerError::store(Step::ReadSession, StoreError::Transient(cause())),
            HandlerError::store(Step::WriteSession, StoreError::Conflict { what: "put" }),
            HandlerError::store(
                Step::ReadSession,
                StoreError::Corrupt {
                    key: "SESSION#…".into(),
                    problem: "no status".into(),
                },
            ),
            HandlerError::store(Step::MarkProcessed, StoreError::Other(cause())),
            HandlerError::chat(Step::SendMessage, ChatError::Throttled(cause())),
            HandlerError::chat(Step::SendMessage, ChatError::Transient(cause())),
            HandlerError::chat(Step::StartChat, ChatError::ChatEnded),
            HandlerError::chat(Step::StartChat, ChatError::Invalid(cause())),
            HandlerError::chat(Step::Connect, ChatError::Other(cause())),
            HandlerError::Sms(SmsError::Throttled(cause())),
            HandlerError::Sms(SmsError::Transient(cause())),
            HandlerError::Sms(SmsError::OptedOut),
            HandlerError::Sms(SmsError::Invalid(cause())),
            HandlerError::Sms(SmsError::Other(cause())),
            HandlerError::StartPending {
                waited: Duration::from_secs(10),
            },
            HandlerError::Contention { decisions: 17 },
            HandlerError::MissingCredentials,
        ]
    }

    #[test]
    fn error_type_prefix_follows_retriability() {
        for error in every_error() {
            let expected = if error.is_retriable() {
                "Retriable."
            } else {
                "Permanent."
            };
            assert!(
                error.error_type().starts_with(expected),
                "{error:?} → {}",
                error.error_type()
            );
        }
    }

    #[test]
    fn throttling_and_outages_are_retriable_misconfiguration_is_not() {
        assert!(
            HandlerError::chat(Step::SendMessage, ChatError::Transient("500".into()))
                .is_retriable()
        );
        assert!(
            HandlerError::store(Step::ReadSession, StoreError::Throttled("429".into()))
                .is_retriable()
        );
        assert!(
            !HandlerError::chat(Step::StartChat, ChatError::Other("unknown flow".into()))
                .is_retriable()
        );
        assert!(
            !HandlerError::store(Step::ReadSession, StoreError::Other("no table".into()))
                .is_retriable()
        );
    }

    #[test]
    fn diagnostic_has_explicit_type_and_no_sdk_text() {
        for error in every_error() {
            let error_type = error.error_type();
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, error_type);
            assert!(
                !diagnostic.error_message.contains("555-0100"),
                "{}",
                diagnostic.error_message
            );
        }
        let diagnostic = Diagnostic::from(HandlerError::chat(
            Step::SendMessage,
            ChatError::Transient("boom".into()),
        ));
        assert_eq!(
            diagnostic.error_message,
            "chat api failed at send_message: chat api unavailable"
        );
    }

    #[test]
    fn chain_includes_every_cause() {
        let error = HandlerError::chat(Step::SendMessage, ChatError::Transient("boom".into()));
        assert_eq!(
            error.chain(),
            "chat api failed at send_message: chat api unavailable: boom"
        );
    }
}
