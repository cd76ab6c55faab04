//! Property tests of the inbound machine (`bridge_core::intake`): several deliveries of the
//! same and of different texts run through it at once, over a model of the session store
//! and of Amazon Connect, in every interleaving proptest draws, with faults injected at any
//! command. The model keeps the real services' rules the machine relies on: conditional
//! writes on a version, StartChatContact and SendMessage idempotent per ClientToken (a
//! replayed start returns the first chat and ignores its InitialMessage), 403 once a chat
//! ended, transcripts in pages.
//!
//! Faults: a command fails before it applies; it applies but its answer is lost (a
//! timeout); the run crashes right after it applied (no clean-up, the platform redelivers
//! the text); half a minute passes (a slow run, a stale `starting` row); the agent ends
//! the chat; the connection tokens issued before every running run began expire (the
//! 403 that a refresh cures).
//! A failed or crashed run is retried as the platform retries it.
//!
//! Texts only: keywords (STOP, START, HELP), Connect refusing a text (400) and persistent
//! chat are not drawn here; `crates/inbound/tests/domain.rs` covers them through the
//! handler.
//!
//! What must hold:
//! - at most one live chat for the session at any time;
//! - a text acknowledged as delivered is whole in a chat at that moment;
//! - every text ends up whole and in order in a chat; without faults in exactly one chat,
//!   each part once; a second whole copy, a part repeated, or some of its parts in another
//!   live chat, only after a crash or a lost answer of a command that changes something, a
//!   run stalled past the takeover age while a start is in the row (presumed dead) or a
//!   live chat ended under a second delivery of the same text: at most one per such fault,
//!   over the whole case;
//! - the machine never answers an observation it did not ask for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bridge_core::PhoneNumber;
use bridge_core::ids::{
    ConnectionToken, ContactId, InboundMessageId, ItemId, ParticipantId, ParticipantToken,
};
use bridge_core::intake::{Command, Failure, Handled, Intake, Moment, Observed, Rules, Text};
use bridge_core::ports::{
    Connected, Connection, ItemKind, Role, StartedChat, TranscriptItem, TranscriptPage,
};
use bridge_core::session::{Policy, Session, SessionKey, Status};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

/// Transcript items per page, small so the machine pages.
const PAGE_ITEMS: usize = 2;
/// Runs a case may start in all (first deliveries and retries) before it is called stuck.
const MAX_RUNS: usize = 60;
/// Steps after the drawn schedule, fault-free, for the runs left to finish.
const MAX_TAIL_STEPS: usize = 4_000;

fn key() -> SessionKey {
    SessionKey::new(
        PhoneNumber::parse("+15550100001").unwrap(),
        PhoneNumber::parse("+18005550100").unwrap(),
    )
}

fn rules() -> Rules {
    Rules {
        policy: Policy::default(),
        persistent_chat: false,
        wait_for_start: Duration::from_secs(20),
        opt_out_text: None,
        opt_in_text: None,
        help_text: "help".to_owned(),
    }
}

/// Text `n`: one part, or two when `long` (its first part is 1,024 characters).
fn text(n: usize, long: bool) -> Text {
    let body = if long {
        format!(
            "{}{n} tail of text {n}",
            char::from(b'a' + n as u8).to_string().repeat(1024)
        )
    } else {
        format!("text {n}")
    };
    Text::new(
        InboundMessageId::new(format!("sms-{n}")).unwrap(),
        key(),
        0,
        &body,
    )
    .unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// The command fails before it applies.
    Fail,
    /// The command applies; its answer is lost.
    LostAnswer,
    /// The command applies; the run dies at once.
    Crash,
    /// 31 seconds pass first.
    Slow,
    /// The agent ends the live chat first.
    AgentEnds,
    /// Every connection token issued so far stops working (expired); the chat goes on, and
    /// a new connection works.
    TokensExpire,
}

fn fault(n: u8) -> Fault {
    match n % 16 {
        0 => Fault::Fail,
        1 => Fault::LostAnswer,
        2 => Fault::Crash,
        3 => Fault::Slow,
        4 => Fault::AgentEnds,
        5 => Fault::TokensExpire,
        _ => Fault::None,
    }
}

#[derive(Debug)]
struct Contact {
    client_token: String,
    ended: bool,
    /// (content, SendMessage ClientToken; `None` for the InitialMessage).
    messages: Vec<(String, Option<String>)>,
    connections: u32,
    /// When each connection token (numbered from 1) was issued.
    issued: Vec<DateTime<Utc>>,
    /// Connection tokens numbered up to this one have expired.
    expired_up_to: u32,
}

impl Contact {
    fn id(index: usize) -> ContactId {
        ContactId::new(format!("c-{index}")).unwrap()
    }
}

/// The store and Connect, as the machine sees them.
#[derive(Debug)]
struct World {
    now: DateTime<Utc>,
    row: Option<Session>,
    markers: BTreeSet<String>,
    contacts: Vec<Contact>,
}

impl World {
    fn new() -> Self {
        Self {
            now: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            row: None,
            markers: BTreeSet::new(),
            contacts: Vec::new(),
        }
    }

    fn live_contacts(&self) -> usize {
        self.contacts.iter().filter(|c| !c.ended).count()
    }

    fn end_live_chat(&mut self) {
        for contact in &mut self.contacts {
            contact.ended = true;
        }
    }

    fn connection(&mut self, index: usize) -> Connection {
        let contact = &mut self.contacts[index];
        contact.connections += 1;
        contact.issued.push(self.now);
        Connection {
            token: ConnectionToken::new(format!("ct|{index}|{}", contact.connections)).unwrap(),
            expires_at: self.now + TimeDelta::days(1),
        }
    }

    fn by_connection(token: &ConnectionToken) -> usize {
        token.expose().split('|').nth(1).unwrap().parse().unwrap()
    }

    /// Whether `token` is refused: its chat ended, or the token expired (both are 403).
    fn refuses(&self, token: &ConnectionToken) -> bool {
        let contact = &self.contacts[Self::by_connection(token)];
        let number: u32 = token.expose().split('|').nth(2).unwrap().parse().unwrap();
        contact.ended || number <= contact.expired_up_to
    }

    /// Expires the tokens issued before `before`. Tokens live a day and a run a few
    /// seconds: a token a running run got (a start, a refresh) does not expire under it, so
    /// `before` is when the oldest running run began.
    fn expire_tokens(&mut self, before: DateTime<Utc>) {
        for contact in &mut self.contacts {
            let old = contact.issued.iter().take_while(|at| **at < before).count();
            contact.expired_up_to = u32::try_from(old).unwrap();
        }
    }

    fn by_participant(token: &ParticipantToken) -> usize {
        token.expose().strip_prefix("pt|").unwrap().parse().unwrap()
    }

    /// Performs `command` for `text`; what the machine observes.
    fn perform(&mut self, text: &Text, command: &Command) -> Observed {
        match command {
            Command::ReadSession { with_marker } => Observed::Session {
                session: self.row.clone(),
                processed: with_marker.then(|| self.markers.contains(text.id().as_str())),
            },
            Command::ReadMarker(id) => Observed::Marker(self.markers.contains(id.as_str())),
            Command::Put {
                row,
                expected,
                marker,
            } => {
                let current = self.row.as_ref().map(|row| row.version);
                if current != *expected {
                    return Observed::Written(None);
                }
                let stored = Session {
                    version: expected.map_or(1, |v| v + 1),
                    ..(**row).clone()
                };
                self.row = Some(stored.clone());
                if let Some(marker) = marker {
                    self.markers.insert(marker.id.to_string());
                }
                Observed::Written(Some(stored))
            }
            Command::EndChat(contact_id) => {
                let now = self.now;
                match self.row.as_mut() {
                    Some(row)
                        if row.status != Status::Ended && row.contact_id() == Some(contact_id) =>
                    {
                        row.status = Status::Ended;
                        row.version += 1;
                        row.updated_at = now;
                        Observed::EndedChat(Some(row.clone()))
                    }
                    _ => Observed::EndedChat(None),
                }
            }
            Command::MarkProcessed(marker) | Command::MarkResumed(marker) => {
                self.markers.insert(marker.id.to_string());
                Observed::Marked
            }
            Command::StartChat { client_token, .. } => {
                let index = match self
                    .contacts
                    .iter()
                    .position(|c| &c.client_token == client_token)
                {
                    Some(index) => index,
                    None => {
                        self.contacts.push(Contact {
                            client_token: client_token.clone(),
                            ended: false,
                            messages: vec![(text.first_part().to_owned(), None)],
                            connections: 0,
                            issued: Vec::new(),
                            expired_up_to: 0,
                        });
                        self.contacts.len() - 1
                    }
                };
                let connection = (!self.contacts[index].ended).then(|| self.connection(index));
                Observed::Started(StartedChat {
                    contact_id: Contact::id(index),
                    participant_id: ParticipantId::new(format!("p-{index}")).unwrap(),
                    participant_token: ParticipantToken::new(format!("pt|{index}")).unwrap(),
                    continued_from: None,
                    connected: Connected {
                        connection,
                        websocket: None,
                    },
                })
            }
            Command::Connect {
                participant_token, ..
            } => {
                let index = Self::by_participant(participant_token);
                if self.contacts[index].ended {
                    return Observed::ChatEnded;
                }
                Observed::Connected(Some(self.connection(index)))
            }
            Command::ReadTranscript { token, next_token } => {
                let index = Self::by_connection(token);
                if self.refuses(token) {
                    return Observed::ChatEnded;
                }
                let contact = &self.contacts[index];
                let from: usize = next_token.as_deref().map_or(0, |t| t.parse().unwrap());
                let items = contact
                    .messages
                    .iter()
                    .enumerate()
                    .skip(from)
                    .take(PAGE_ITEMS)
                    .map(|(n, (content, _))| TranscriptItem {
                        id: ItemId::new(format!("i-{index}-{n}")).unwrap(),
                        kind: ItemKind::Message,
                        content_type: "text/plain".to_owned(),
                        content: Some(content.clone()),
                        role: Some(Role::Customer),
                        display_name: None,
                        absolute_time: String::new(),
                        contact_id: Some(Contact::id(index)),
                        related_contact_id: None,
                        attachment_names: Vec::new(),
                    })
                    .collect();
                let next = from + PAGE_ITEMS;
                Observed::Page(TranscriptPage {
                    items,
                    next_token: (next < contact.messages.len()).then(|| next.to_string()),
                })
            }
            Command::SendMessage {
                token,
                content,
                client_token,
            } => {
                if self.refuses(token) {
                    return Observed::ChatEnded;
                }
                let contact = &mut self.contacts[Self::by_connection(token)];
                let seen = contact
                    .messages
                    .iter()
                    .any(|(_, token)| token.as_ref() == Some(client_token));
                if !seen {
                    contact
                        .messages
                        .push((content.clone(), Some(client_token.clone())));
                }
                Observed::Accepted
            }
            Command::Disconnect { token, .. } => {
                let contact = &mut self.contacts[Self::by_connection(token)];
                contact.ended = true;
                Observed::Accepted
            }
            Command::Reply(_) => Observed::Replied {
                message_id: "m-1".to_owned(),
            },
            Command::Sleep { at_most, .. } => {
                self.now += TimeDelta::from_std((*at_most).min(Duration::from_secs(2))).unwrap();
                Observed::Slept
            }
            Command::Finish(_) => unreachable!("finished runs are not stepped"),
        }
    }

    /// How many chats hold every part of `text` in order, and how many hold some but not
    /// all of them, each of those ended; how often a part repeats within one chat.
    fn copies(&self, text: &Text) -> Copies {
        let mut copies = Copies::default();
        for contact in &self.contacts {
            let contents: Vec<&str> = contact.messages.iter().map(|(c, _)| c.as_str()).collect();
            let counts: Vec<usize> = text
                .parts()
                .iter()
                .map(|part| contents.iter().filter(|c| **c == part).count())
                .collect();
            copies.repeats += counts.iter().map(|n| n.saturating_sub(1)).sum::<usize>();
            if counts.iter().all(|n| *n > 0) {
                let positions: Vec<usize> = text
                    .parts()
                    .iter()
                    .map(|part| contents.iter().position(|c| *c == part).unwrap())
                    .collect();
                copies.in_order &= positions.windows(2).all(|w| w[0] < w[1]);
                copies.whole += 1;
            } else if counts.iter().any(|n| *n > 0) {
                copies.partial_in_live += usize::from(!contact.ended);
            }
        }
        copies
    }
}

#[derive(Debug)]
struct Copies {
    whole: usize,
    repeats: usize,
    in_order: bool,
    /// Live chats holding some but not all of the text's parts.
    partial_in_live: usize,
}

impl Default for Copies {
    fn default() -> Self {
        Self {
            whole: 0,
            repeats: 0,
            in_order: true,
            partial_in_live: 0,
        }
    }
}

struct Run {
    text: usize,
    intake: Intake,
    began: DateTime<Utc>,
    next: Command,
}

struct Case {
    world: World,
    texts: Vec<Text>,
    runs: Vec<Run>,
    started: usize,
    acknowledged: BTreeSet<usize>,
    /// Crashes and lost answers: each may leave one extra copy.
    ambiguous: usize,
    /// What happened, one line per step, for a failing case's message.
    trace: Vec<String>,
}

impl Case {
    fn new(texts: Vec<Text>, deliveries: &[usize]) -> Self {
        let mut case = Self {
            world: World::new(),
            texts,
            runs: Vec::new(),
            started: 0,
            acknowledged: BTreeSet::new(),
            ambiguous: 0,
            trace: Vec::new(),
        };
        for &text in deliveries {
            case.deliver(text);
        }
        case
    }

    fn moment(&self, began: DateTime<Utc>) -> Moment {
        Moment {
            now: self.world.now,
            elapsed: (self.world.now - began).to_std().unwrap_or_default(),
        }
    }

    fn deliver(&mut self, text: usize) {
        assert!(
            self.started < MAX_RUNS,
            "too many runs: the texts do not settle"
        );
        self.started += 1;
        let began = self.world.now;
        let mut intake = Intake::new(self.texts[text].clone(), Arc::new(rules()));
        let next = intake.begin(self.moment(began));
        self.runs.push(Run {
            text,
            intake,
            began,
            next,
        });
    }

    /// One command of run `pick`, under `fault`.
    fn step(&mut self, pick: usize, fault: Fault) -> Result<(), TestCaseError> {
        let index = pick % self.runs.len();
        // Whether the fault can leave a repeat behind (below): only a stall while a start
        // is in the row, a chat end while one is live, and a crash or lost answer of a
        // command that changes something.
        let starting = self
            .world
            .row
            .as_ref()
            .is_some_and(|row| row.status == Status::Starting);
        let live = self.world.live_contacts() > 0;
        let changes = matches!(
            self.runs[index].next,
            Command::Put { .. }
                | Command::EndChat(_)
                | Command::MarkProcessed(_)
                | Command::MarkResumed(_)
                | Command::StartChat { .. }
                | Command::SendMessage { .. }
                | Command::Disconnect { .. }
        );
        match fault {
            Fault::Slow => self.world.now += TimeDelta::seconds(31),
            Fault::AgentEnds => self.world.end_live_chat(),
            Fault::TokensExpire => {
                let oldest = self.runs.iter().map(|run| run.began).min();
                self.world.expire_tokens(oldest.unwrap_or(self.world.now));
            }
            _ => {}
        }
        let run = &mut self.runs[index];
        let text = run.text;
        let observed = match fault {
            Fault::Fail => Observed::Failed,
            _ => self.world.perform(run.intake.text(), &run.next),
        };
        prop_assert!(
            self.world.live_contacts() <= 1,
            "two live chats: {}",
            self.report()
        );
        match fault {
            // A run stalled past the takeover age is presumed dead, like a crashed one. A
            // chat ending while a second delivery of the same text is still sending makes
            // that delivery start the next chat with the text (no run can tell the other
            // one finished).
            Fault::Slow if starting => self.ambiguous += 1,
            Fault::AgentEnds if live => self.ambiguous += 1,
            Fault::Crash => {
                self.trace
                    .push(format!("run {index} (text {text}) crashed"));
                self.ambiguous += usize::from(changes);
                self.runs.swap_remove(index);
                self.deliver(text);
                return Ok(());
            }
            Fault::LostAnswer => self.ambiguous += usize::from(changes),
            _ => {}
        }
        let observed = match fault {
            Fault::LostAnswer => Observed::Failed,
            _ => observed,
        };
        let line = format!(
            "t={} run {index} (text {text}) {} {fault:?} -> {}",
            (self.world.now.timestamp() - 1_800_000_000),
            brief_command(&self.runs[index].next),
            brief_observed(&observed),
        );
        self.trace.push(line);
        let began = self.runs[index].began;
        let moment = self.moment(began);
        let run = &mut self.runs[index];
        run.next = run.intake.step(observed, moment);
        match &run.next {
            Command::Finish(Ok(handled)) => {
                if matches!(handled, Handled::Delivered { .. } | Handled::Duplicate) {
                    let copies = self.world.copies(&self.texts[text]);
                    prop_assert!(
                        copies.whole >= 1,
                        "text {text} acknowledged unsent: {}",
                        self.report()
                    );
                }
                self.acknowledged.insert(text);
                self.runs.swap_remove(index);
            }
            Command::Finish(Err(failure)) => {
                prop_assert!(
                    !matches!(failure, Failure::Unexpected { .. }),
                    "the machine got an answer it did not ask for: {failure:?}"
                );
                self.runs.swap_remove(index);
                self.deliver(text);
            }
            _ => {}
        }
        Ok(())
    }

    /// The trace and each chat's messages (contents cut short), for a failing case.
    fn report(&self) -> String {
        let chats: Vec<String> = self
            .world
            .contacts
            .iter()
            .enumerate()
            .map(|(n, contact)| {
                let messages: Vec<String> = contact
                    .messages
                    .iter()
                    .map(|(content, token)| {
                        let short: String = content.chars().rev().take(12).collect();
                        format!("{:?}/{token:?}", short.chars().rev().collect::<String>())
                    })
                    .collect();
                format!("c-{n} ended {}: {}", contact.ended, messages.join(", "))
            })
            .collect();
        format!("\n{}\n{}", self.trace.join("\n"), chats.join("\n"))
    }

    fn check_end(&self) -> Result<(), TestCaseError> {
        prop_assert!(self.runs.is_empty(), "runs left unfinished");
        for (n, text) in self.texts.iter().enumerate() {
            prop_assert!(
                self.acknowledged.contains(&n),
                "text {n} never acknowledged"
            );
            let copies = self.world.copies(text);
            prop_assert!(copies.whole >= 1, "text {n} lost: {}", self.report());
            prop_assert!(copies.in_order, "text {n} out of order");
            prop_assert!(
                copies.whole - 1 + copies.repeats + copies.partial_in_live <= self.ambiguous,
                "text {n}: {} whole copies, {} repeated parts, {} live chats with a part, after {} faults that allow a repeat: {}",
                copies.whole,
                copies.repeats,
                copies.partial_in_live,
                self.ambiguous,
                self.report()
            );
        }
        Ok(())
    }
}

fn brief_command(command: &Command) -> String {
    match command {
        Command::Put {
            row,
            expected,
            marker,
        } => format!(
            "Put({:?} gen {} v{:?}->{} initial {:?} marker {:?})",
            row.status,
            row.generation,
            expected,
            expected.map_or(1, |v| v + 1),
            row.initial_sms.as_ref().map(|i| i.to_string()),
            marker.as_ref().map(|m| m.id.to_string())
        ),
        Command::SendMessage {
            token,
            client_token,
            ..
        } => {
            format!("Send({} {client_token})", token.expose())
        }
        other => {
            let text = format!("{other:?}");
            text.chars().take(90).collect()
        }
    }
}

fn brief_observed(observed: &Observed) -> String {
    match observed {
        Observed::Session { session, processed } => format!(
            "Session({:?}, processed {processed:?})",
            session.as_ref().map(|s| (
                s.status,
                s.generation,
                s.version,
                s.contact_id().map(|c| c.to_string())
            ))
        ),
        Observed::Written(row) => format!("Written({:?})", row.as_ref().map(|r| r.version)),
        Observed::Page(page) => format!(
            "Page({} items, next {:?})",
            page.items.len(),
            page.next_token
        ),
        Observed::Started(started) => format!("Started({})", started.contact_id),
        other => {
            let text = format!("{other:?}");
            text.chars().take(60).collect()
        }
    }
}

fn run_case(
    texts: Vec<Text>,
    deliveries: &[usize],
    schedule: &[(usize, u8)],
) -> Result<(), TestCaseError> {
    let mut case = Case::new(texts, deliveries);
    for &(pick, f) in schedule {
        if case.runs.is_empty() {
            break;
        }
        case.step(pick, fault(f))?;
    }
    let mut steps = 0;
    while !case.runs.is_empty() {
        steps += 1;
        prop_assert!(steps < MAX_TAIL_STEPS, "runs do not finish");
        case.step(steps, Fault::None)?;
    }
    case.check_end()
}

fn texts_and_deliveries() -> impl Strategy<Value = (Vec<Text>, Vec<usize>)> {
    (
        1usize..=3,
        prop::collection::vec(any::<bool>(), 3),
        0usize..=3,
    )
        .prop_map(|(count, long, extra)| {
            let texts: Vec<Text> = (0..count).map(|n| text(n, long[n])).collect();
            // Every text once, and up to three more deliveries of the same texts.
            let mut deliveries: Vec<usize> = (0..count).collect();
            deliveries.extend((0..extra).map(|n| n % count));
            (texts, deliveries)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Deliveries racing, faults anywhere: the delivery promises hold.
    #[test]
    fn every_text_reaches_one_chat_once_whatever_the_interleaving_and_faults(
        (texts, deliveries) in texts_and_deliveries(),
        schedule in prop::collection::vec((0usize..8, any::<u8>()), 0..80),
    ) {
        run_case(texts, &deliveries, &schedule)?;
    }
}

/// Without faults, two deliveries of one text and one of another, every choice of which
/// run moves for the first 8 steps (3^8 schedules, for a one-part and a two-part text): each
/// text ends up in the chat exactly once.
#[test]
fn every_early_interleaving_of_three_deliveries_without_faults() {
    for long in [false, true] {
        let texts = vec![text(0, long), text(1, false)];
        for n in 0..3usize.pow(8) {
            let schedule: Vec<(usize, u8)> =
                (0..8).map(|i| ((n / 3usize.pow(i)) % 3, 15)).collect();
            run_case(texts.clone(), &[0, 0, 1], &schedule)
                .unwrap_or_else(|e| panic!("schedule {n}: {e}"));
        }
    }
}

/// The checker sees what it must: a part repeated in one chat, a second whole copy, and a
/// fragment left in a live chat.
#[test]
fn copies_counts_repeats_copies_and_live_fragments() {
    let long = text(0, true);
    let [first, second] = long.parts() else {
        panic!("two parts")
    };
    let contact = |ended, parts: &[&String]| Contact {
        client_token: String::new(),
        ended,
        messages: parts.iter().map(|p| ((*p).clone(), None)).collect(),
        connections: 0,
        issued: Vec::new(),
        expired_up_to: 0,
    };
    let mut world = World::new();
    world.contacts.push(contact(true, &[first, first, second]));
    world.contacts.push(contact(false, &[first, second]));
    let copies = world.copies(&long);
    assert_eq!((copies.whole, copies.repeats), (2, 1));
    assert!(copies.in_order && copies.partial_in_live == 0);
    world.contacts.push(contact(false, &[first]));
    assert_eq!(world.copies(&long).partial_in_live, 1);
    world.contacts.push(contact(true, &[second, first]));
    assert!(!world.copies(&long).in_order);
}
