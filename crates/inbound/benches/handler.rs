//! The inbound handler's own CPU time per SNS event, over the in-memory ports.
//!
//! `bridge-core`'s `test-support` ports (MemoryStore, FakeChat, RecordingSms, ManualClock)
//! answer at once, so what is measured is the handler's logic alone: parsing the SNS
//! envelope and the payload, validation, dedupe, the session decision, splitting, building
//! the requests and the summary. The AWS SDK, the network and the Lambda runtime are not
//! in it, and neither is logging: no tracing subscriber is installed, so spans and events
//! cost only their disabled-callsite check (in Lambda the JSON subscriber adds its own).
//!
//! Each scenario first proves once, untimed, that its event gets the intended [`Outcome`],
//! and every timed chunk is then checked to have done exactly that scenario's work (see
//! [`Tally`]), so a bench cannot silently measure another path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sns::SnsEvent;
use bridge_core::config::Config;
use bridge_core::ids::ContactId;
use bridge_core::ports::Role;
use bridge_core::segment::CONNECT_MESSAGE_MAX_CHARS;
use bridge_core::testing::{ChatOp, FakeChat, ManualClock, MemoryStore, RecordingSms};
use bridge_inbound::envelope::wrap_in_sns_event;
use bridge_inbound::{Handler, Outcome, Ports, RejectReason, Summary};
use chrono::DateTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const SUPPORT: &str = "+18005550100";
const FLOW: &str = "flow-main";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:inbound-sms";
/// The customer of the scenarios that need an open chat.
const CUSTOMER: &str = "+15550100123";
/// The one inbound message id the `duplicate` scenario delivers again and again.
const DUPLICATE_ID: &str = "msg-duplicate";
const SHORT_TEXT: &str = "Hi, my order #48213 has not arrived yet. Can you check where it is?";
/// Characters in the `long_text_resume` body: three parts for Connect.
const LONG_TEXT_CHARS: usize = 3_000;
/// Events handled by one world before it is thrown away and rebuilt (see [`measure`]).
const EVENTS_PER_WORLD: u64 = 1_000;
/// 2024-06-15T15:06:40Z: a fixed instant, so every world starts from the same state.
const EPOCH_SECONDS: i64 = 1_718_464_000;

/// A fresh inbound message id (or customer number suffix) per call, across all worlds.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn next_count() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn config() -> Config {
    let vars = BTreeMap::from([
        ("BRIDGE_CONNECT_INSTANCE_ID", "instance-1".to_owned()),
        ("BRIDGE_SUPPORT_LINES", format!("{SUPPORT}={FLOW}")),
        ("BRIDGE_TABLE_NAME", "bridge-bench".to_owned()),
    ]);
    Config::from_lookup(|name| vars.get(name).cloned()).expect("bench configuration is valid")
}

/// One set of in-memory ports and the handler over them.
struct World {
    store: Arc<MemoryStore>,
    chat: Arc<FakeChat>,
    handler: Handler,
}

impl World {
    fn new(config: &Config) -> Self {
        let now = DateTime::from_timestamp(EPOCH_SECONDS, 0).expect("valid timestamp");
        let clock = Arc::new(ManualClock::new(now));
        let store = Arc::new(MemoryStore::new());
        let chat = Arc::new(FakeChat::new(clock.clone()));
        let ports = Ports {
            sessions: store.clone(),
            dedupe: store.clone(),
            chat: chat.clone(),
            sms: Arc::new(RecordingSms::default()),
            clock,
        };
        Self {
            store,
            chat,
            handler: Handler::new(ports, config.clone()),
        }
    }

    /// Handles one event and returns its only outcome.
    fn handle(&self, runtime: &Runtime, event: SnsEvent) -> Outcome {
        only(runtime.block_on(self.handler.handle_event(event)))
    }

    /// What the world holds so far, to compare before and after a chunk of events.
    fn tally(&self) -> Tally {
        let contacts = self.chat.contacts();
        Tally {
            sessions: self.store.sessions().len(),
            contacts: contacts.len(),
            customer_texts: contacts
                .iter()
                .flat_map(|contact| &contact.messages)
                .filter(|message| message.role == Role::Customer)
                .count(),
            starts: self.chat.calls(ChatOp::StartChat),
            sends: self.chat.calls(ChatOp::SendMessage),
        }
    }
}

/// Counts that tell the paths apart: what one event of a scenario must add to the world.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    sessions: usize,
    contacts: usize,
    customer_texts: usize,
    starts: usize,
    sends: usize,
}

impl Tally {
    fn since(self, before: Self) -> Self {
        Self {
            sessions: self.sessions - before.sessions,
            contacts: self.contacts - before.contacts,
            customer_texts: self.customer_texts - before.customer_texts,
            starts: self.starts - before.starts,
            sends: self.sends - before.sends,
        }
    }

    fn times(self, events: usize) -> Self {
        Self {
            sessions: self.sessions * events,
            contacts: self.contacts * events,
            customer_texts: self.customer_texts * events,
            starts: self.starts * events,
            sends: self.sends * events,
        }
    }
}

fn only(result: Result<Summary, bridge_inbound::HandlerError>) -> Outcome {
    let summary = result.expect("the handler succeeds on the in-memory ports");
    assert_eq!(summary.records.len(), 1, "{summary:?}");
    summary
        .records
        .into_iter()
        .next()
        .expect("one record")
        .outcome
}

/// An SNS event holding one End User Messaging payload (as the domain tests build them).
fn event(id: &str, from: &str, body: &str) -> SnsEvent {
    let payload = serde_json::json!({
        "originationNumber": from,
        "destinationNumber": SUPPORT,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": body,
        "inboundMessageId": id,
        "previousPublishedMessageId": null,
    });
    sns(&payload.to_string(), id)
}

fn sns(payload: &str, id: &str) -> SnsEvent {
    let timestamp = DateTime::from_timestamp(EPOCH_SECONDS, 0).expect("valid timestamp");
    wrap_in_sns_event(payload, &format!("sns-{id}"), TOPIC, timestamp)
}

/// A valid E.164 customer number of the form +1555XXXXXXX, never ending in 99.
fn fresh_customer() -> String {
    loop {
        let suffix = next_count() % 10_000_000;
        if suffix % 100 != 99 {
            return format!("+1555{suffix:07}");
        }
    }
}

fn long_text() -> String {
    "Your parcel was left at the wrong door, and the neighbour says it is not there. "
        .chars()
        .cycle()
        .take(LONG_TEXT_CHARS)
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// An active chat; a new text goes to it. The hot path.
    Resume,
    /// No session for the number: a chat is started with the text as InitialMessage.
    FirstText,
    /// The same record again, its marker present.
    Duplicate,
    /// A 3,000-character text to an active chat: three SendMessage parts.
    LongTextResume,
    /// A payload with an invalid customer number: rejected at parsing.
    RejectedMalformed,
}

impl Scenario {
    const ALL: [Self; 5] = [
        Self::Resume,
        Self::FirstText,
        Self::Duplicate,
        Self::LongTextResume,
        Self::RejectedMalformed,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Resume => "resume",
            Self::FirstText => "first_text",
            Self::Duplicate => "duplicate",
            Self::LongTextResume => "long_text_resume",
            Self::RejectedMalformed => "rejected_malformed",
        }
    }

    /// A world in the state the scenario starts from, reached through the handler itself.
    fn world(self, runtime: &Runtime, config: &Config) -> World {
        let world = World::new(config);
        match self {
            Self::Resume | Self::LongTextResume => {
                let id = format!("msg-{}", next_count());
                world.handle(runtime, event(&id, CUSTOMER, SHORT_TEXT));
            }
            Self::Duplicate => {
                world.handle(runtime, event(DUPLICATE_ID, CUSTOMER, SHORT_TEXT));
            }
            Self::FirstText | Self::RejectedMalformed => {}
        }
        world
    }

    /// The next event to handle; each call gives a fresh id (and number) where it must.
    fn event(self, long_text: &str) -> SnsEvent {
        let id = || format!("msg-{}", next_count());
        match self {
            Self::Resume => event(&id(), CUSTOMER, SHORT_TEXT),
            Self::FirstText => event(&id(), &fresh_customer(), SHORT_TEXT),
            Self::Duplicate => event(DUPLICATE_ID, CUSTOMER, SHORT_TEXT),
            Self::LongTextResume => event(&id(), CUSTOMER, long_text),
            Self::RejectedMalformed => {
                let payload = serde_json::json!({
                    "originationNumber": "call me maybe",
                    "destinationNumber": SUPPORT,
                    "messageKeyword": "KEYWORD_123456789012",
                    "messageBody": SHORT_TEXT,
                    "inboundMessageId": id(),
                    "previousPublishedMessageId": null,
                });
                sns(&payload.to_string(), "malformed")
            }
        }
    }

    /// What one event adds to the world: this tells the paths apart.
    fn per_event(self) -> Tally {
        match self {
            Self::Resume => Tally {
                customer_texts: 1,
                sends: 1,
                ..Tally::default()
            },
            Self::FirstText => Tally {
                sessions: 1,
                contacts: 1,
                customer_texts: 1,
                starts: 1,
                sends: 0,
            },
            Self::LongTextResume => Tally {
                customer_texts: 3,
                sends: 3,
                ..Tally::default()
            },
            Self::Duplicate | Self::RejectedMalformed => Tally::default(),
        }
    }

    /// Panics unless one event of this scenario gets its intended outcome and effects.
    fn prove(self, runtime: &Runtime, config: &Config, long_text: &str) {
        let world = self.world(runtime, config);
        let open_chat = world.chat.contacts().first().map(|c| c.contact_id.clone());
        let before = world.tally();
        let outcome = world.handle(runtime, self.event(long_text));
        let name = self.name();
        match (self, &outcome) {
            (
                Self::Resume | Self::LongTextResume,
                Outcome::Delivered {
                    contact_id,
                    started: false,
                },
            ) => assert_eq!(Some(contact_id), open_chat.as_ref(), "{name}"),
            (Self::FirstText, Outcome::Delivered { started: true, .. })
            | (Self::Duplicate, Outcome::Duplicate)
            | (
                Self::RejectedMalformed,
                Outcome::Rejected {
                    reason:
                        RejectReason::Malformed {
                            kind: "invalid_phone",
                            field: Some("originationNumber"),
                        },
                },
            ) => {}
            (scenario, other) => panic!("{scenario:?} got {other:?}"),
        }
        assert_eq!(world.tally().since(before), self.per_event(), "{name}");
        if let Self::LongTextResume = self {
            let chat = open_chat.as_ref().expect("an open chat");
            assert_parts(&world, chat, long_text);
        }
    }
}

/// The long text reached the chat as parts within Connect's limit that rejoin to it.
fn assert_parts(world: &World, chat: &ContactId, long_text: &str) {
    let contact = world.chat.contact(chat).expect("the open chat");
    let texts = contact.customer_texts();
    let parts = &texts[1..];
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert!(
        parts
            .iter()
            .all(|part| part.chars().count() <= CONNECT_MESSAGE_MAX_CHARS)
    );
    assert_eq!(parts.concat(), long_text);
}

/// Times `iters` events of `scenario`, in chunks of [`EVENTS_PER_WORLD`], each chunk on a
/// freshly built world.
///
/// Why chunks and not one world, nor `iter_batched`: one world kept for the whole run
/// grows without bound (the open chat's transcript, FakeChat's SendMessage idempotency map,
/// the dedupe markers, one session and contact per `first_text`), so later samples would
/// pay for ever larger maps and vectors and the estimate would drift with the iteration
/// count. `iter_batched` needs a world per input and holds a whole batch of them at once,
/// so every timed event would touch cold memory and the setup (a first text per world)
/// would dominate the wall time. A world per thousand events bounds the state to what a
/// busy chat or a warm Lambda plausibly holds, keeps it warm in cache, and leaves building
/// the world and the events outside the timed region. Dropping the world is untimed too.
fn measure(
    runtime: &Runtime,
    config: &Config,
    scenario: Scenario,
    long_text: &str,
    iters: u64,
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let count = (iters - done).min(EVENTS_PER_WORLD);
        let world = scenario.world(runtime, config);
        let events: Vec<SnsEvent> = (0..count).map(|_| scenario.event(long_text)).collect();
        let before = world.tally();

        let start = Instant::now();
        for event in events {
            black_box(runtime.block_on(world.handler.handle_event(black_box(event))))
                .expect("the handler succeeds on the in-memory ports");
        }
        timed += start.elapsed();

        let events = usize::try_from(count).expect("a chunk fits in usize");
        assert_eq!(
            world.tally().since(before),
            scenario.per_event().times(events),
            "{} took another path during measurement",
            scenario.name()
        );
        done += count;
    }
    timed
}

fn benches(c: &mut Criterion) {
    // One current-thread runtime, as in Lambda (one event at a time). Timers are off: the
    // measured paths never wait, and one that tried to would panic instead of being timed.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let config = config();
    let long_text = long_text();

    let mut group = c.benchmark_group("inbound_handler");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50);
    for scenario in Scenario::ALL {
        scenario.prove(&runtime, &config, &long_text);
        group.bench_function(scenario.name(), |b| {
            b.iter_custom(|iters| measure(&runtime, &config, scenario, &long_text, iters));
        });
    }
    group.finish();
}

criterion_group!(inbound_handler, benches);
criterion_main!(inbound_handler);
