//! The inbound handler: one SNS record → one text in the right Amazon Connect chat, once.
//!
//! It runs ARCHITECTURE.md's inbound steps against the ports only, so the Lambda, the CLI
//! and the tests drive the same code:
//!
//! 1. parse and validate ([`Handler::handle_event`]); unknown support number → rejected;
//! 2. dedupe on `inboundMessageId` (the marker is written last, after Connect has the text);
//! 3. keywords: STOP ends the chat and opts out, START opts back in, HELP answers;
//! 4. start a chat when there is none, racing safely with other invocations;
//! 5. send to the open chat, refreshing the connection once on 403 and starting the next
//!    chat when the 403 persists;
//! 6. write the dedupe marker.
//!
//! Steps 2–6 are [`bridge_core::intake`]'s: a sans-IO machine that hands out one command
//! at a time. This module checks the support line, builds the machine's text, and
//! `interpret.rs` performs each command over the ports (one port call each) and tells the
//! machine what came back; a text that lost the race to start waits there (bounded by the
//! configuration's wait-for-start) for the winner's chat.
//!
//! # What fails the invocation and what is acknowledged
//!
//! | situation | result |
//! |---|---|
//! | malformed record, empty body, unknown support number | `Ok(Rejected)`, logged |
//! | redelivered record | `Ok(Duplicate)` |
//! | opted-out customer's text | `Ok(Suppressed)` |
//! | SendMessage 400 for the customer's text (poison) | `Ok(Dropped)`, ERROR |
//! | keyword reply to a number SNS says opted out | acknowledged, WARN |
//! | throttling, 5xx, timeouts (store, Connect, SNS) | `Err`, `Retriable.*` |
//! | the chat another invocation starts is not active in time | `Err`, `Retriable.StartPending` |
//! | the inbound machine gets an answer it did not ask for (a bug) | `Err`, `Permanent.Internal` |
//! | StartChatContact / CreateParticipantConnection / GetTranscript / Disconnect 4xx, store `Other`/`Corrupt`, SNS `Invalid`/`Other` | `Err`, `Permanent.*` |
//!
//! The last row is misconfiguration or corrupt data (unknown contact flow, missing IAM
//! permission, wrong table): it fails loudly so the event lands in the DLQ after Lambda's
//! own retries, and can be redriven once fixed. The poison row is acknowledged because no
//! fix on our side makes Connect accept that content. See [`crate::error`].
//!

pub mod attribute;
mod interpret;
mod receipts;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sns::SnsEvent;
use bridge_aws::{Clients, ConnectChat, DynamoSettings, DynamoStore, SdkConfig};
use bridge_core::backoff::{self, BackoffPolicy};
use bridge_core::config::Config;
use bridge_core::intake::{Intake, Rules, Text};
use bridge_core::keyword::Keyword;
use bridge_core::ports::{ChatApi, Clock, DedupeStore, SessionStore, SmsSender, SystemClock};
use bridge_core::report::chain as chain_of;
use bridge_core::session::{Policy, SessionKey};
use chrono::TimeDelta;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::{Instrument, debug, error, field, info, info_span, warn};

use crate::envelope::{InboundRecord, RecordError, parse_sns_event};
use crate::error::{HandlerError, Step};
use crate::outcome::{Outcome, RecordOutcome, RejectReason, Summary};

/// First delay when polling for a chat another invocation is starting.
const POLL_BASE: Duration = Duration::from_millis(50);
/// Longest delay between two polls.
const POLL_CAP: Duration = Duration::from_secs(1);
/// Shortest delay between two polls, so full jitter cannot spin.
const POLL_FLOOR: Duration = Duration::from_millis(10);

/// The ports the handler drives.
#[derive(Clone)]
pub struct Ports {
    /// Sessions (one item per customer and support number).
    pub sessions: Arc<dyn SessionStore>,
    /// Inbound dedupe markers.
    pub dedupe: Arc<dyn DedupeStore>,
    /// Amazon Connect chat and participant APIs.
    pub chat: Arc<dyn ChatApi>,
    /// Outbound SMS, for keyword replies.
    pub sms: Arc<dyn SmsSender>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The production wiring: the `bridge-aws` adapters over `clients` (DynamoDB for the
    /// sessions and dedupe markers in the configured table, Amazon Connect and its
    /// participant service for chats, the configured SMS service for keyword replies, as
    /// transactional SMS) and the system clock.
    pub fn aws(clients: &Clients, config: &Config) -> Self {
        Self::over(
            DynamoStore::new(
                clients.dynamodb.clone(),
                config.table_name.as_str(),
                DynamoSettings::default(),
            ),
            ConnectChat::new(clients.connect.clone(), clients.participant.clone()),
            clients.sms_sender(&config.sms_api),
        )
    }

    /// The same wiring over `shared`, the DynamoDB client built now (every event reads the
    /// session) and the others when an event first needs them: what the Lambda binary
    /// runs, so its init builds one client rather than four ([`bridge_aws::OnFirstUse`]).
    pub fn aws_on_first_use(shared: &SdkConfig, config: &Config) -> Self {
        Self::over(
            DynamoStore::new(
                bridge_aws::clients::dynamodb_client(shared),
                config.table_name.as_str(),
                DynamoSettings::default(),
            ),
            ConnectChat::on_first_use(shared),
            bridge_aws::clients::sms_sender_on_first_use(shared, &config.sms_api),
        )
    }

    fn over(store: DynamoStore, chat: ConnectChat, sms: Arc<dyn SmsSender>) -> Self {
        let clock = Arc::new(SystemClock);
        let store = Arc::new(store.with_clock(clock.clone()));
        Self {
            sessions: store.clone(),
            dedupe: store,
            chat: Arc::new(chat),
            sms,
            clock,
        }
    }
}

/// The inbound SMS handler. Cheap to share: build it once per process and call it for
/// every event, concurrently if need be.
pub struct Handler {
    sessions: Arc<dyn SessionStore>,
    dedupe: Arc<dyn DedupeStore>,
    chat: Arc<dyn ChatApi>,
    sms: Arc<dyn SmsSender>,
    clock: Arc<dyn Clock>,
    config: Config,
    /// What the inbound machine needs of `config`, shared by every text's run.
    rules: Arc<Rules>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("config", &self.config)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Handler {
    /// A handler over `ports`. The policy's takeover age comes from `config`.
    pub fn new(ports: Ports, config: Config) -> Self {
        let defaults = Policy::default();
        let rules = Arc::new(Rules {
            policy: Policy {
                takeover_after: TimeDelta::from_std(config.start_takeover)
                    .unwrap_or(defaults.takeover_after),
                ..defaults
            },
            persistent_chat: config.persistent_chat,
            wait_for_start: config.wait_for_start,
            opt_out_text: config.opt_out_text.clone(),
            opt_in_text: config.opt_in_text.clone(),
            help_text: config.help_text.clone(),
        });
        Self {
            sessions: ports.sessions,
            dedupe: ports.dedupe,
            chat: ports.chat,
            sms: ports.sms,
            clock: ports.clock,
            config,
            rules,
        }
    }

    /// Replaces the decision policy (tests shorten the refresh margin, for instance).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        Arc::make_mut(&mut self.rules).policy = policy;
        self
    }

    /// The configuration the handler runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The Lambda entry point: handles the SNS event of one invocation.
    ///
    /// The runtime's own span already carries the request id; nothing else of the context
    /// is needed (the wait for a chat being started is bounded by the configuration, which
    /// must stay well under the function's timeout).
    ///
    /// # Errors
    /// As [`Self::handle_event`], already as the [`Diagnostic`] the runtime reports: the
    /// runtime logs the error it is handed with `{:?}`, and a [`HandlerError`]'s `Debug`
    /// carries the SDK's error (a raw response included). The handler has logged the
    /// failure itself; the runtime's line stays the short, curated diagnostic.
    pub async fn handle_lambda(&self, event: LambdaEvent<SnsEvent>) -> Result<Summary, Diagnostic> {
        self.handle_event(event.payload)
            .await
            .map_err(Diagnostic::from)
    }

    /// Handles every record of an SNS event, in order.
    ///
    /// SNS invokes Lambda with one record per event in practice; the loop is for the CLI and
    /// for safety. A failing record does not stop the others (they are independent texts).
    ///
    /// # Errors
    /// The first record's [`HandlerError`], if any record failed: the whole invocation then
    /// fails so Lambda retries it, and the records that succeeded come back as `Duplicate`.
    pub async fn handle_event(&self, event: SnsEvent) -> Result<Summary, HandlerError> {
        if event.records.is_empty() {
            warn!("sns event has no records");
        }
        let mut summary = Summary::default();
        let mut failure = None;
        for (index, parsed) in parse_sns_event(&event).into_iter().enumerate() {
            let message = event.records.get(index).map(|r| r.sns.message.as_str());
            match parsed {
                // Not a text: a delivery event of an SMS the relay sent.
                Err(rejected) if message.is_some_and(bridge_core::delivery::is_delivery_event) => {
                    let outcome = self.handle_delivery(message.unwrap_or_default()).await;
                    match outcome {
                        Ok(outcome) => summary.records.push(RecordOutcome {
                            index,
                            sns_message_id: rejected.sns_message_id,
                            sms_id: None,
                            outcome,
                        }),
                        Err(error) => {
                            failure.get_or_insert(error);
                        }
                    }
                }
                Err(rejected) => {
                    let reason = RejectReason::from_parse_error(&rejected.source);
                    log_parse_rejection(
                        &rejected,
                        event.records.get(index).map(|r| r.sns.message.as_str()),
                    );
                    summary.records.push(RecordOutcome {
                        index,
                        sns_message_id: rejected.sns_message_id,
                        sms_id: None,
                        outcome: Outcome::Rejected { reason },
                    });
                }
                Ok(record) => {
                    let sns_message_id = record.sns_message_id.clone();
                    let sms_id = record.sms.inbound_message_id.clone();
                    match self.handle_sms(record).await {
                        Ok(outcome) => summary.records.push(RecordOutcome {
                            index,
                            sns_message_id,
                            sms_id: Some(sms_id),
                            outcome,
                        }),
                        Err(error) => {
                            failure.get_or_insert(error);
                        }
                    }
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(summary),
        }
    }

    /// Handles one parsed inbound SMS: ARCHITECTURE's inbound steps 1 (the support-number
    /// check) to 6, in a span carrying `sms_id`, the masked numbers and, once known,
    /// `contact_id`. Logs its own failure once, with the whole cause chain.
    ///
    /// # Errors
    /// A [`HandlerError`] when the text may not have reached Connect and retrying can help
    /// ([`HandlerError::is_retriable`]), or when a misconfiguration must reach the DLQ.
    pub async fn handle_sms(&self, record: InboundRecord) -> Result<Outcome, HandlerError> {
        let sms = &record.sms;
        let span = info_span!(
            "sms",
            sms_id = %sms.inbound_message_id,
            phone = %sms.origination,
            support = %sms.destination,
            contact_id = field::Empty,
        );
        let result = self.handle_in_span(&record).instrument(span.clone()).await;
        let _entered = span.enter();
        match &result {
            Ok(outcome) => info!(
                outcome = outcome.kind(),
                contact_id = outcome.contact_id().map(tracing::field::display),
                "sms handled"
            ),
            Err(error) if error.is_retriable() => warn!(
                error_type = error.error_type(),
                error = %error.chain(),
                "sms not handled; the invocation fails so lambda retries it"
            ),
            Err(error) => error!(
                error_type = error.error_type(),
                error = %error.chain(),
                "sms not handled and retrying will not help; the event goes to the dlq after lambda's retries"
            ),
        }
        result
    }

    async fn handle_in_span(&self, record: &InboundRecord) -> Result<Outcome, HandlerError> {
        let sms = &record.sms;
        let Some(line) = self.config.support_line(&sms.destination) else {
            error!(
                config_var = bridge_core::config::SUPPORT_LINES,
                "text to a number that is not a configured support line; dropped"
            );
            return Ok(Outcome::Rejected {
                reason: RejectReason::UnknownSupportNumber,
            });
        };
        let key = SessionKey::new(sms.origination.clone(), sms.destination.clone());
        let shard = key.shard(self.config.shard_count);
        let Some(text) = Text::new(sms.inbound_message_id.clone(), key, shard, &sms.body) else {
            // The parser never yields an empty body; this keeps the invariant local.
            warn!("text has an empty body; dropped");
            return Ok(Outcome::Rejected {
                reason: RejectReason::EmptyBody,
            });
        };
        debug!(
            body_chars = text.body().chars().count(),
            parts = text.parts().len(),
            keyword = text.keyword().map(Keyword::as_str),
            "text received"
        );
        let handled = self
            .interpret(Intake::new(text, Arc::clone(&self.rules)), line)
            .await?;
        Ok(Outcome::from(handled))
    }
}

/// A fresh writer id for one conditional session write (`Session::writer`).
fn new_writer_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Capped exponential backoff with full jitter (and a small floor).
fn poll_delay(attempt: u32) -> Duration {
    let policy = BackoffPolicy {
        base: POLL_BASE,
        cap: POLL_CAP,
    };
    backoff::delay(policy, attempt).max(POLL_FLOOR)
}

/// Logs a record that does not hold a valid text, with whatever numbers it has, masked.
fn log_parse_rejection(rejected: &RecordError, raw: Option<&str>) {
    let (phone, support) = raw.map(masked_numbers).unwrap_or_default();
    let kind = rejected.source.kind();
    let field = rejected.source.field();
    let error = chain_of(&rejected.source);
    let span = info_span!("sms", sns_message_id = %rejected.sns_message_id, phone, support);
    let _entered = span.enter();
    if matches!(rejected.source, bridge_core::inbound::ParseError::EmptyBody) {
        warn!(
            kind,
            field, "text has an empty body; nothing to forward, acknowledged"
        );
    } else {
        error!(kind, field, %error, "sns record does not hold a valid sms; dropped and acknowledged");
    }
}

/// Best effort: the masked customer and support numbers of an unparseable payload.
fn masked_numbers(raw: &str) -> (Option<String>, Option<String>) {
    use bridge_core::inbound::field as names;
    let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(raw)
    else {
        return (None, None);
    };
    let masked = |name: &str| {
        object
            .get(name)
            .and_then(serde_json::Value::as_str)
            .and_then(|value| bridge_core::PhoneNumber::parse(value).ok())
            .map(|number| number.masked())
    };
    (
        masked(names::ORIGINATION_NUMBER),
        masked(names::DESTINATION_NUMBER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_delay_is_capped_and_never_zero() {
        for attempt in 0..40 {
            let delay = poll_delay(attempt);
            assert!(delay >= POLL_FLOOR && delay <= POLL_CAP, "{delay:?}");
        }
    }

    #[test]
    fn masked_numbers_never_reveal_the_full_number() {
        let (phone, support) = masked_numbers(
            r#"{"originationNumber":"+15550100123","destinationNumber":"+18005550100","messageBody":""}"#,
        );
        assert_eq!(phone.as_deref(), Some("+1******0123"));
        assert_eq!(support.as_deref(), Some("+1******0100"));
        assert_eq!(masked_numbers("not json"), (None, None));
    }
}
