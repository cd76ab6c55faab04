//! The inbound handler: one SNS record → one text in the right Amazon Connect chat, once.
//!
//! It runs ARCHITECTURE.md's inbound steps against the ports only, so the Lambda, the CLI
//! and the tests drive the same code:
//!
//! 1. parse and validate ([`Handler::handle_event`]); unknown support number → rejected;
//! 2. dedupe on `inboundMessageId` (the marker is written last, after Connect has the text);
//! 3. keywords ([`keywords`]): STOP ends the chat and opts out, START opts back in, HELP
//!    answers;
//! 4. start a chat ([`start`]) when there is none, racing safely with other invocations;
//! 5. send to the open chat ([`send`]), refreshing the connection once on 403 and starting
//!    the next chat when the 403 persists;
//! 6. write the dedupe marker.
//!
//! Steps 3–5 are a bounded loop around [`session::decide`]: read the session, decide,
//! act with conditional writes, and on a lost write read and decide again. A text that
//! lost the race to start waits (bounded by the configuration's wait-for-start) for the
//! winner's chat, then sends into it.
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
//! | StartChatContact / CreateParticipantConnection / GetTranscript / Disconnect 4xx, store `Other`/`Corrupt`, SNS `Invalid`/`Other` | `Err`, `Permanent.*` |
//!
//! The last row is misconfiguration or corrupt data (unknown contact flow, missing IAM
//! permission, wrong table): it fails loudly so the event lands in the DLQ after Lambda's
//! own retries, and can be redriven once fixed. The poison row is acknowledged because no
//! fix on our side makes Connect accept that content. See [`crate::error`].
//!
//! [`session::decide`]: bridge_core::session::decide

mod keywords;
mod receipts;
mod send;
mod start;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aws_lambda_events::event::sns::SnsEvent;
use bridge_aws::{Clients, ConnectChat, DynamoSettings, DynamoStore, SdkConfig};
use bridge_core::backoff::{self, BackoffPolicy};
use bridge_core::config::{Config, SupportLine};
use bridge_core::ids::{ContactId, InboundMessageId};
use bridge_core::inbound::{InboundRecord, parse_sns_event};
use bridge_core::keyword::{self, Keyword};
use bridge_core::ports::{
    ChatApi, Clock, DedupeStore, Marker, SessionStore, SmsSender, StoreError, SystemClock,
};
use bridge_core::report::chain as chain_of;
use bridge_core::segment::{CONNECT_MESSAGE_MAX_CHARS, split_for_connect};
use bridge_core::session::{self, Decision, Input, Policy, Session, SessionKey, StartPlan};
use chrono::TimeDelta;
use lambda_runtime::{Diagnostic, LambdaEvent};
use tokio::time::Instant;
use tracing::{Instrument, Span, debug, error, field, info, info_span, warn};

use crate::error::{HandlerError, Step};
use crate::outcome::{Outcome, RecordOutcome, RejectReason, Summary};

pub use start::attribute;

/// How many times one SMS may read-and-decide (lost conditional writes, a chat that ended
/// mid-send) before the invocation gives up and lets Lambda retry it later.
const MAX_DECISIONS: u32 = 16;
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
    policy: Policy,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// One valid inbound text on its way through the handler.
struct Sms {
    id: InboundMessageId,
    key: SessionKey,
    shard: u16,
    line: SupportLine,
    body: String,
    keyword: Option<Keyword>,
    /// The body cut for Connect's 1024-character limit: never empty, in order.
    chunks: Vec<String>,
    /// A chat this text started was ended by its flow before the customer connected, and
    /// the text went on to the next chat; a second such chat fails the invocation.
    restarted_after_end: AtomicBool,
}

impl Sms {
    /// The SendMessage ClientToken of part `index` (0-based): the inbound message id for a
    /// one-part text, `<id>#<n>` (1-based) per part otherwise. Every attempt at the same
    /// part uses the same token, so Connect drops the repeats.
    fn part_token(&self, index: usize) -> String {
        if self.chunks.len() == 1 {
            self.id.to_string()
        } else {
            format!("{}#{}", self.id, index + 1)
        }
    }

    /// The dedupe key recording "part 1 of this text went in as a chat's InitialMessage",
    /// so a retry of a long first text does not send part 1 a second time. `None` if the
    /// id is too long to extend (then a retry may repeat part 1: at least once, not lost).
    fn initial_marker(&self) -> Option<InboundMessageId> {
        InboundMessageId::new(format!("{}#initial", self.id)).ok()
    }
}

/// How the read-decide-act loop finished.
enum Finished {
    /// The dedupe marker is still to be written.
    Unmarked(Outcome),
    /// The dedupe marker was written with the last session write.
    Marked(Outcome),
}

/// What the handler does after one step of the loop.
enum Next {
    /// Finished with this outcome.
    Done(Outcome),
    /// Finished with this outcome, and the text's dedupe marker is already written (with
    /// the session write that activated its chat).
    Marked(Outcome),
    /// Read the session again and decide again (a conditional write lost, or the chat moved).
    Redecide,
    /// Another invocation is starting the chat: wait a little, then decide again.
    Wait,
    /// The chat ended under us: start the next one with this plan (no re-read needed).
    Start(Box<StartPlan>),
}

impl Handler {
    /// A handler over `ports`. The policy's takeover age comes from `config`.
    pub fn new(ports: Ports, config: Config) -> Self {
        let defaults = Policy::default();
        let policy = Policy {
            takeover_after: TimeDelta::from_std(config.start_takeover)
                .unwrap_or(defaults.takeover_after),
            ..defaults
        };
        Self {
            sessions: ports.sessions,
            dedupe: ports.dedupe,
            chat: ports.chat,
            sms: ports.sms,
            clock: ports.clock,
            config,
            policy,
        }
    }

    /// Replaces the decision policy (tests shorten the refresh margin, for instance).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
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
        let chunks = split_for_connect(&sms.body, CONNECT_MESSAGE_MAX_CHARS);
        if chunks.is_empty() {
            // The parser never yields an empty body; this keeps the invariant local.
            warn!("text has an empty body; dropped");
            return Ok(Outcome::Rejected {
                reason: RejectReason::EmptyBody,
            });
        }
        let text = Sms {
            id: sms.inbound_message_id.clone(),
            shard: key.shard(self.config.shard_count),
            key,
            line: line.clone(),
            body: sms.body.clone(),
            keyword: keyword::classify(&sms.body),
            chunks,
            restarted_after_end: AtomicBool::new(false),
        };
        debug!(
            body_chars = text.body.chars().count(),
            parts = text.chunks.len(),
            keyword = text.keyword.map(Keyword::as_str),
            "text received"
        );

        // The session and the dedupe marker are read in one request where the store can
        // (DynamoDB: one BatchGetItem), keeping the resume path at three AWS calls.
        let (session, batched) = self
            .sessions
            .get_with_marker(&text.key, &text.id)
            .await
            .map_err(|e| HandlerError::store(Step::ReadSession, e))?;
        let processed = match batched {
            Some(processed) => processed,
            None => self.is_processed(&text.id).await?,
        };
        if processed {
            info!("text already processed; redelivery acknowledged");
            return Ok(Outcome::Duplicate);
        }

        let (outcome, marked) = match self.run(&text, session).await? {
            Finished::Marked(outcome) => (outcome, true),
            Finished::Unmarked(outcome) => (outcome, false),
        };
        if outcome != Outcome::Duplicate && !marked {
            let now = self.clock.now();
            let written = match &outcome {
                // A text into a chat already open: the session row records it as the
                // chat's latest activity, which orders the relay's reconnects.
                Outcome::Delivered {
                    contact_id,
                    started: false,
                } => {
                    let marker = Marker {
                        id: text.id.clone(),
                        contact_id: Some(contact_id.clone()),
                        at: now,
                    };
                    self.sessions.mark_resumed(&text.key, &marker).await
                }
                _ => {
                    self.dedupe
                        .mark_processed(&text.id, outcome.contact_id(), now)
                        .await
                }
            };
            written.map_err(|e| HandlerError::store(Step::MarkProcessed, e))?;
        }
        Ok(outcome)
    }

    /// Steps 3–5: read, decide, act; again on a lost write; bounded.
    async fn run(&self, sms: &Sms, prefetched: Option<Session>) -> Result<Finished, HandlerError> {
        let waiting_since = Instant::now();
        let deadline = waiting_since + self.config.wait_for_start;
        let mut polls = 0u32;
        let mut decisions = 0u32;
        let mut prefetched = Some(prefetched);
        let mut planned: Option<Box<StartPlan>> = None;
        loop {
            decisions += 1;
            if decisions > MAX_DECISIONS {
                return Err(HandlerError::Contention {
                    decisions: MAX_DECISIONS,
                });
            }
            let next = match planned.take() {
                Some(plan) => self.start(sms, *plan).await?,
                None => {
                    let session = match prefetched.take() {
                        Some(session) => session,
                        None => self.read_session(&sms.key).await?,
                    };
                    self.step(sms, session, polls > 0).await?
                }
            };
            match next {
                Next::Done(outcome) => return Ok(Finished::Unmarked(outcome)),
                Next::Marked(outcome) => return Ok(Finished::Marked(outcome)),
                Next::Redecide => {}
                Next::Start(plan) => planned = Some(plan),
                Next::Wait => {
                    // Waiting is bounded by time, not by the decision count.
                    decisions -= 1;
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(HandlerError::StartPending {
                            waited: now - waiting_since,
                        });
                    }
                    let delay = poll_delay(polls).min(deadline - now);
                    polls += 1;
                    debug!(
                        delay_ms = delay.as_millis(),
                        "waiting for the chat being started"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// One decision on a fresh read of the session, and the action it calls for.
    ///
    /// `waited`: this text waited for a chat another invocation was starting. That other
    /// invocation may have been handling this very text (SNS delivered it twice at once), in
    /// which case the text already went in as the chat's InitialMessage: check the dedupe
    /// marker again before sending it a second time (a cheap read, on the waiting path only).
    async fn step(
        &self,
        sms: &Sms,
        session: Option<Session>,
        waited: bool,
    ) -> Result<Next, HandlerError> {
        let now = self.clock.now();
        let input = input_for(sms.keyword, session.as_ref());
        let decision = session::decide(
            session.as_ref(),
            &sms.key,
            sms.shard,
            input,
            now,
            &self.policy,
            self.config.persistent_chat,
        );
        debug!(decision = decision_name(&decision), "decided");
        match decision {
            Decision::Send { .. } if waited && self.is_processed(&sms.id).await? => {
                info!("text delivered meanwhile by a concurrent delivery of the same record");
                Ok(Next::Done(Outcome::Duplicate))
            }
            Decision::Send { refresh_first, .. } => match session {
                Some(session) => self.send(sms, session, refresh_first).await,
                None => Ok(Next::Redecide),
            },
            Decision::Start(plan) => self.start(sms, *plan).await,
            Decision::AwaitStart => Ok(Next::Wait),
            Decision::OptOut { end } => self.opt_out(sms, session, end).await,
            Decision::OptIn => self.opt_in(sms, session).await,
            Decision::Help => self.help(sms).await,
            Decision::SuppressOptedOut => {
                info!("customer is opted out; text not forwarded until they text START");
                Ok(Next::Done(Outcome::Suppressed))
            }
        }
    }

    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, HandlerError> {
        self.dedupe
            .is_processed(id)
            .await
            .map_err(|e| HandlerError::store(Step::ReadDedupe, e))
    }

    async fn read_session(&self, key: &SessionKey) -> Result<Option<Session>, HandlerError> {
        self.sessions
            .get(key)
            .await
            .map_err(|e| HandlerError::store(Step::ReadSession, e))
    }

    /// A conditional session write and `marker` in one atomic write; `Ok(None)` when the
    /// session write lost to another writer (then the marker was not written either).
    async fn put_session_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &Marker,
    ) -> Result<Option<Session>, HandlerError> {
        let session = Session {
            writer: Some(new_writer_id()),
            ..session.clone()
        };
        match self.sessions.put_marked(&session, expected, marker).await {
            Ok(stored) => Ok(Some(stored)),
            Err(StoreError::Conflict { what }) => {
                debug!(what, "conditional session write lost; deciding again");
                Ok(None)
            }
            Err(error) => Err(HandlerError::store(Step::WriteSession, error)),
        }
    }

    /// A conditional session write; `Ok(None)` when it lost to another writer.
    async fn put_session(
        &self,
        session: &Session,
        expected: Option<u64>,
    ) -> Result<Option<Session>, HandlerError> {
        // A fresh writer id per write: the SDK's retry of this very put can recognise its
        // own row, and no other invocation's identical-looking row passes for ours.
        let session = Session {
            writer: Some(new_writer_id()),
            ..session.clone()
        };
        match self.sessions.put(&session, expected).await {
            Ok(stored) => Ok(Some(stored)),
            Err(StoreError::Conflict { what }) => {
                debug!(what, "conditional session write lost; deciding again");
                Ok(None)
            }
            Err(error) => Err(HandlerError::store(Step::WriteSession, error)),
        }
    }
}

/// What the text is for the session machine. YES/START are opt-in words only for an
/// opted-out customer; for anyone else "yes" is an answer to the agent and goes to the chat
/// (keyword.rs: "act on this only for an opted-out customer").
fn input_for(keyword: Option<Keyword>, session: Option<&Session>) -> Input {
    match keyword {
        Some(Keyword::OptIn) if !session.is_some_and(|s| s.opted_out) => Input::Text,
        Some(keyword) => Input::Keyword(keyword),
        None => Input::Text,
    }
}

/// A fresh writer id for one conditional session write ([`Session::writer`]).
fn new_writer_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn decision_name(decision: &Decision) -> &'static str {
    match decision {
        Decision::Send { .. } => "send",
        Decision::Start(plan) if plan.takeover => "take_over_start",
        Decision::Start(_) => "start",
        Decision::AwaitStart => "await_start",
        Decision::OptOut { .. } => "opt_out",
        Decision::OptIn => "opt_in",
        Decision::Help => "help",
        Decision::SuppressOptedOut => "suppress_opted_out",
    }
}

/// Capped exponential backoff with full jitter (and a small floor).
fn poll_delay(attempt: u32) -> Duration {
    let policy = BackoffPolicy {
        base: POLL_BASE,
        cap: POLL_CAP,
    };
    backoff::delay(policy, attempt).max(POLL_FLOOR)
}

fn record_contact(contact_id: &ContactId) {
    Span::current().record("contact_id", field::display(contact_id));
}

/// Logs a record that does not hold a valid text, with whatever numbers it has, masked.
fn log_parse_rejection(rejected: &bridge_core::inbound::RecordError, raw: Option<&str>) {
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
    fn yes_is_text_unless_the_customer_opted_out() {
        assert_eq!(input_for(Some(Keyword::OptIn), None), Input::Text);
        assert_eq!(
            input_for(Some(Keyword::OptOut), None),
            Input::Keyword(Keyword::OptOut)
        );
        assert_eq!(input_for(None, None), Input::Text);
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
