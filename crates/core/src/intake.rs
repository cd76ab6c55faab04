//! What one inbound text does, from its first read to its dedupe marker: a sans-IO machine.
//!
//! [`session::decide`] chooses a first step from the stored session. Everything after it
//! lives here too: whether the text already arrived, which part to resume from, the 403
//! rule (refresh the connection once, then the chat is over and the text starts the next
//! one), the `starting` row written before StartChatContact and released when the start
//! fails, what a replayed start's transcript says, the opt-out rows, and the wait for a
//! chat another invocation is starting.
//!
//! The machine performs no I/O. [`Intake::begin`] and [`Intake::step`] hand out one
//! [`Command`] at a time (read the session, write it, start a chat, send a part…); the
//! caller performs it over the ports and reports what it observed ([`Observed`]), with
//! the time ([`Moment`]). The inbound handler (`crates/inbound/src/handler/interpret.rs`) is
//! such an interpreter; the property tests in `crates/core/tests/intake.rs` are another,
//! over a model of the store and of Connect with every interleaving and injected fault.
//!
//! [`Command::Finish`] ends a run. On a failure the caller reports the error of the
//! command that failed ([`Failure::Io`]): only it knows the cause.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{Span, debug, error, field, info, warn};

use crate::ids::{ConnectionToken, ContactId, InboundMessageId, ParticipantToken};
use crate::keyword::{self, Keyword};
use crate::ports::{
    ConnectParticipant, Connection, ItemKind, Marker, Role, StartedChat, TranscriptPage,
};
use crate::segment::{CONNECT_MESSAGE_MAX_CHARS, split_for_connect};
use crate::session::{
    self, Chat, Decision, Input, OnDenied, Policy, Session, SessionKey, StartPlan, Status,
    text_digest,
};

/// How many times one text may read and decide (lost conditional writes, a chat that
/// ended mid-send) before the run gives up and lets the platform retry it later.
pub const MAX_DECISIONS: u32 = 16;

/// Transcript pages read when checking whether a replayed start carried a text (a
/// persistent chat's history comes first).
pub const MAX_TRANSCRIPT_PAGES: usize = 10;

/// The longest keyword quoted back to the agent (keywords are short; this bounds a surprise).
const MAX_QUOTED_KEYWORD_CHARS: usize = 32;

/// One valid inbound text, as the machine handles it.
#[derive(Clone, Debug)]
pub struct Text {
    id: InboundMessageId,
    key: SessionKey,
    shard: u16,
    body: String,
    keyword: Option<Keyword>,
    /// The body cut for Connect's 1024-character limit: never empty, in order.
    chunks: Vec<String>,
}

impl Text {
    /// The text `id` from `key.customer` to `key.support`, on relay shard `shard`. `None`
    /// when the body has nothing to forward.
    pub fn new(id: InboundMessageId, key: SessionKey, shard: u16, body: &str) -> Option<Self> {
        let chunks = split_for_connect(body, CONNECT_MESSAGE_MAX_CHARS);
        if chunks.is_empty() {
            return None;
        }
        Some(Self {
            id,
            key,
            shard,
            body: body.to_owned(),
            keyword: keyword::classify(body),
            chunks,
        })
    }

    /// The inbound message id.
    pub fn id(&self) -> &InboundMessageId {
        &self.id
    }

    /// The session the text belongs to.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    /// The keyword the text is, if it is one.
    pub fn keyword(&self) -> Option<Keyword> {
        self.keyword
    }

    /// The body as texted.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The parts Connect gets, in order; never empty.
    pub fn parts(&self) -> &[String] {
        &self.chunks
    }

    /// The first part: a chat's InitialMessage when this text starts it.
    pub fn first_part(&self) -> &str {
        self.chunks.first().map_or("", String::as_str)
    }

    /// The SendMessage ClientToken of part `index` (0-based): the inbound message id for a
    /// one-part text, `<id>#<n>` (1-based) per part otherwise. Every attempt at the same
    /// part uses the same token, so Connect drops the repeats.
    pub fn part_token(&self, index: usize) -> String {
        if self.chunks.len() == 1 {
            self.id.to_string()
        } else {
            format!("{}#{}", self.id, index + 1)
        }
    }

    /// The dedupe key recording "part 1 of this text went in as chat `contact_id`'s
    /// InitialMessage", so a retry of a long first text does not send part 1 to that chat a
    /// second time. Per chat: should the chat end before the retry, the next chat gets the
    /// whole text. `None` if the id is too long to extend (then a retry may repeat part 1:
    /// at least once, not lost).
    pub fn initial_marker(&self, contact_id: &ContactId) -> Option<InboundMessageId> {
        InboundMessageId::new(format!("{}#initial@{contact_id}", self.id)).ok()
    }

    fn is_one_part(&self) -> bool {
        self.chunks.len() == 1
    }
}

/// What the machine needs from the configuration.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Takeover age and refresh margin.
    pub policy: Policy,
    /// A new chat after an ended one continues its transcript.
    pub persistent_chat: bool,
    /// How long a text waits for a chat another invocation is starting.
    pub wait_for_start: Duration,
    /// The reply to an opt-out, when one is configured.
    pub opt_out_text: Option<String>,
    /// The reply to an opt-in, when one is configured.
    pub opt_in_text: Option<String>,
    /// The reply to HELP.
    pub help_text: String,
}

/// When an observation was made: the wall clock (what rows record and the takeover age
/// compares) and the time since the run began (what bounds the wait for a start).
#[derive(Clone, Copy, Debug)]
pub struct Moment {
    /// Now, by the clock port.
    pub now: DateTime<Utc>,
    /// Since [`Intake::begin`], by a monotonic clock.
    pub elapsed: Duration,
}

/// The next thing to do; the caller performs it and reports an [`Observed`].
#[derive(Clone, Debug)]
pub enum Command {
    /// Read the session. `with_marker`: and whether this text was already processed, in the
    /// same request where the store can ([`Observed::Session`]).
    ReadSession {
        /// Also read the text's dedupe marker.
        with_marker: bool,
    },
    /// Read dedupe marker `id` ([`Observed::Marker`]).
    ReadMarker(InboundMessageId),
    /// Write `row` if the stored version is `expected`, and `marker` in the same atomic
    /// write when there is one ([`Observed::Written`]; a lost write is `Written(None)`).
    /// The caller gives the row a fresh writer id.
    Put {
        /// The row (boxed: it is by far the largest command).
        row: Box<Session>,
        /// The version the stored row must have (`None`: absent).
        expected: Option<u64>,
        /// A dedupe marker to write with it.
        marker: Option<Marker>,
    },
    /// Mark chat `contact_id` of the text's session ended, if it still is the current one
    /// ([`Observed::EndedChat`]).
    EndChat(ContactId),
    /// Write a dedupe marker ([`Observed::Marked`]).
    MarkProcessed(Marker),
    /// Write the text's dedupe marker and record it as the session's latest activity
    /// ([`Observed::Marked`]).
    MarkResumed(Marker),
    /// StartChatContact for the text's support line, with the text's first part as
    /// InitialMessage ([`Observed::Started`]).
    StartChat {
        /// The ClientToken.
        client_token: String,
        /// Persistent chat: continue from this contact.
        continue_from: Option<ContactId>,
    },
    /// CreateParticipantConnection for credentials ([`Observed::Connected`], or
    /// [`Observed::ChatEnded`]).
    Connect {
        /// The participant.
        participant_token: ParticipantToken,
        /// Whether the customer joins with it (a chat just started) or already has.
        joining: ConnectParticipant,
    },
    /// One GetTranscript page, oldest first ([`Observed::Page`], or [`Observed::ChatEnded`]).
    ReadTranscript {
        /// The connection.
        token: ConnectionToken,
        /// The page after the one that named it.
        next_token: Option<String>,
    },
    /// SendMessage ([`Observed::Accepted`], [`Observed::Rejected`] or
    /// [`Observed::ChatEnded`]).
    SendMessage {
        /// The connection.
        token: ConnectionToken,
        /// The message.
        content: String,
        /// Its ClientToken.
        client_token: String,
    },
    /// DisconnectParticipant: the customer leaves and the chat ends ([`Observed::Accepted`]
    /// or [`Observed::ChatEnded`]).
    Disconnect {
        /// The connection.
        token: ConnectionToken,
        /// Its ClientToken.
        client_token: String,
    },
    /// Text `text` to the customer from the support number they texted
    /// ([`Observed::Replied`] or [`Observed::ReplyOptedOut`]).
    Reply(String),
    /// Wait for a chat another invocation is starting: the `attempt`-th poll's backoff, at
    /// most `at_most` ([`Observed::Slept`]).
    Sleep {
        /// Polls before this one.
        attempt: u32,
        /// The time left to wait.
        at_most: Duration,
    },
    /// The run is over.
    Finish(Result<Handled, Failure>),
}

/// What performing a [`Command`] showed.
#[derive(Clone, Debug)]
pub enum Observed {
    /// The session (`None`: no row) and, when read with it, whether the text was already
    /// processed.
    Session {
        /// The row.
        session: Option<Session>,
        /// The text's dedupe marker, when read in the same request.
        processed: Option<bool>,
    },
    /// Whether the dedupe marker exists.
    Marker(bool),
    /// The row as written; `None`: the conditional write lost.
    Written(Option<Session>),
    /// The row with its chat marked ended; `None`: it had moved on.
    EndedChat(Option<Session>),
    /// The marker is written.
    Marked,
    /// StartChatContact's answer.
    Started(StartedChat),
    /// CreateParticipantConnection's answer: the credentials, if it returned them.
    Connected(Option<Connection>),
    /// A transcript page.
    Page(TranscriptPage),
    /// The message was accepted, or the participant disconnected.
    Accepted,
    /// SendMessage answered 400: Connect will never accept this content.
    Rejected {
        /// The cause, for the log.
        cause: String,
    },
    /// 403: the chat ended, or the connection expired.
    ChatEnded,
    /// The reply went out.
    Replied {
        /// The SMS message id.
        message_id: String,
    },
    /// The reply was not sent: the number is on the opt-out list.
    ReplyOptedOut,
    /// The wait is over.
    Slept,
    /// The command failed otherwise; the caller holds the error.
    Failed,
}

/// How a text was handled, when it needs no retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// The text reached the chat (every part of it, in order).
    Delivered {
        /// The chat it is in.
        contact_id: ContactId,
        /// This run started (or took over the start of) that chat.
        started: bool,
    },
    /// The text was already processed: a redelivery.
    Duplicate,
    /// The customer is opted out: the text was not forwarded.
    Suppressed,
    /// Connect refused the text's content for good (400); acknowledged.
    Dropped {
        /// The chat that refused it.
        contact_id: ContactId,
    },
    /// The customer opted out.
    OptedOut {
        /// The chat that ended because of it, if one was open.
        ended: Option<ContactId>,
    },
    /// The customer opted back in.
    OptedIn,
    /// The customer asked for help and got the answer.
    Help,
}

impl Handled {
    /// The chat the text concerned, when there was one.
    pub fn contact_id(&self) -> Option<&ContactId> {
        match self {
            Self::Delivered { contact_id, .. } | Self::Dropped { contact_id } => Some(contact_id),
            Self::OptedOut { ended } => ended.as_ref(),
            Self::Duplicate | Self::Suppressed | Self::OptedIn | Self::Help => None,
        }
    }
}

/// Why a run failed; the platform retries the text later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The command before failed ([`Observed::Failed`]); its error is the caller's.
    Io,
    /// The session changed under this run more often than [`MAX_DECISIONS`] allows.
    Contention {
        /// Decisions made.
        decisions: u32,
    },
    /// The chat another invocation is starting was not active within the wait.
    StartPending {
        /// How long this run waited.
        waited: Duration,
    },
    /// CreateParticipantConnection succeeded without the credentials asked for.
    MissingCredentials,
    /// Two chats in a row ended under this text (a flow that ends every chat): not a third
    /// one now.
    EndedAtOnce,
    /// The caller reported an observation that does not answer the last command (a bug).
    Unexpected {
        /// The machine's state.
        state: &'static str,
    },
}

/// The session's open chat as this run holds it.
#[derive(Clone, Debug)]
struct Live {
    /// The session as last read or written.
    session: Session,
    contact_id: ContactId,
    /// The connection was already refreshed for this text (the 403 rule allows one).
    refreshed: bool,
}

impl Live {
    fn new(session: Session) -> Option<Self> {
        let contact_id = session.contact_id()?.clone();
        Some(Self {
            session,
            contact_id,
            refreshed: false,
        })
    }
}

/// The parts still to send.
#[derive(Clone, Debug)]
struct Parts {
    /// The next part's index.
    next: usize,
    /// This run started the chat.
    started: bool,
    /// What a one-part text answering the open menu goes in as.
    answer: Option<String>,
}

impl Parts {
    /// Parts `from..` into a chat that was open already.
    fn resumed(from: usize) -> Self {
        Self {
            next: from,
            started: false,
            answer: None,
        }
    }

    /// Parts `from..` into the chat this run started.
    fn started(from: usize) -> Self {
        Self {
            started: true,
            ..Self::resumed(from)
        }
    }
}

/// What a refresh was for.
#[derive(Clone, Debug)]
enum AfterRefresh {
    Parts(Parts),
    OptOutNote,
}

/// A start of this run: the `starting` row it won, and whether it takes over a stale one.
#[derive(Clone, Debug)]
struct Start {
    row: Session,
    takeover: bool,
}

/// What a transcript says about this text.
#[derive(Clone, Debug, Default)]
struct TranscriptCheck {
    /// The text's first part is among the chat's customer messages.
    found: bool,
    /// The chat's first customer message, when it was seen.
    opening: Option<String>,
}

/// A chat this run started, after its activation write.
#[derive(Clone, Debug)]
struct Activation {
    start: Start,
    chat: Chat,
    /// The session with the chat active (`None`: someone moved it elsewhere).
    session: Option<Session>,
    /// The activation write won.
    won: bool,
    /// The dedupe marker went with it.
    with_marker: bool,
}

/// Why a transcript is read.
#[derive(Clone, Debug)]
enum Reading {
    /// A takeover's start: whose text opened the chat?
    Takeover(Box<Start>),
    /// The activation write lost: did our InitialMessage go in?
    LostActivation(Box<Activation>),
}

#[derive(Clone, Debug)]
enum State {
    New,
    FirstRead,
    FirstMarker(Option<Session>),
    Read,
    MarkerAfterWait(Session, bool),
    InitialMarker(Session, bool),
    Sleeping,
    WritingStarting(Box<StartPlan>),
    StartingChat(Start),
    ConnectingNewChat(Start, Box<StartedChat>),
    ReadingTranscript {
        chat: Chat,
        reading: Reading,
        check: TranscriptCheck,
        pages: usize,
    },
    Activating {
        start: Start,
        chat: Chat,
        check: Option<TranscriptCheck>,
        with_marker: bool,
    },
    ReadingAfterLostActivation {
        start: Start,
        chat: Chat,
        with_marker: bool,
    },
    MarkingInitial(Box<Activation>, bool),
    EndingAtOnce {
        takeover: bool,
        contact_id: ContactId,
    },
    Sending(Live, Parts),
    Refreshing(Live, AfterRefresh),
    StoringRefresh(Live, AfterRefresh),
    EndingChat,
    OptOutWrite(ContactId),
    OptOutNote(Live),
    OptOutDisconnect(ContactId),
    OptOutEndChat(ContactId),
    OptOutRow(Option<ContactId>),
    OptInWrite,
    Replying(Handled),
    Marking(Handled),
    Releasing(Failure),
    Finished,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::New => "new",
            Self::FirstRead => "first_read",
            Self::FirstMarker(..) => "first_marker",
            Self::Read => "read",
            Self::MarkerAfterWait(..) => "marker_after_wait",
            Self::InitialMarker(..) => "initial_marker",
            Self::Sleeping => "sleeping",
            Self::WritingStarting(..) => "writing_starting",
            Self::StartingChat(..) => "starting_chat",
            Self::ConnectingNewChat(..) => "connecting_new_chat",
            Self::ReadingTranscript { .. } => "reading_transcript",
            Self::Activating { .. } => "activating",
            Self::ReadingAfterLostActivation { .. } => "reading_after_lost_activation",
            Self::MarkingInitial(..) => "marking_initial",
            Self::EndingAtOnce { .. } => "ending_at_once",
            Self::Sending(..) => "sending",
            Self::Refreshing(..) => "refreshing",
            Self::StoringRefresh(..) => "storing_refresh",
            Self::EndingChat => "ending_chat",
            Self::OptOutWrite(..) => "opt_out_write",
            Self::OptOutNote(..) => "opt_out_note",
            Self::OptOutDisconnect(..) => "opt_out_disconnect",
            Self::OptOutEndChat(..) => "opt_out_end_chat",
            Self::OptOutRow(..) => "opt_out_row",
            Self::OptInWrite => "opt_in_write",
            Self::Replying(..) => "replying",
            Self::Marking(..) => "marking",
            Self::Releasing(..) => "releasing",
            Self::Finished => "finished",
        }
    }
}

/// One text's run: see the module documentation.
#[derive(Debug)]
pub struct Intake {
    text: Text,
    rules: Arc<Rules>,
    state: State,
    at: Moment,
    decisions: u32,
    polls: u32,
    /// A chat this text started was ended before it was delivered, and the text went on
    /// to the next chat; a second such chat fails the run.
    restarted_after_end: bool,
    /// The `starting` row this run wrote, released if the run fails before the start is
    /// over.
    starting: Option<Session>,
}

impl Intake {
    /// A run for `text` under `rules` (shared: one copy serves every text of a process).
    pub fn new(text: Text, rules: Arc<Rules>) -> Self {
        Self {
            text,
            rules,
            state: State::New,
            at: Moment {
                now: DateTime::<Utc>::UNIX_EPOCH,
                elapsed: Duration::ZERO,
            },
            decisions: 0,
            polls: 0,
            restarted_after_end: false,
            starting: None,
        }
    }

    /// The text this run handles.
    pub fn text(&self) -> &Text {
        &self.text
    }

    /// The first command: read the session and the text's dedupe marker.
    pub fn begin(&mut self, at: Moment) -> Command {
        self.at = at;
        self.state = State::FirstRead;
        Command::ReadSession { with_marker: true }
    }

    /// The next command, given what the last one showed at `at`.
    pub fn step(&mut self, observed: Observed, at: Moment) -> Command {
        self.at = at;
        let state = std::mem::replace(&mut self.state, State::Finished);
        match (state, observed) {
            (State::Releasing(failure), observed) => {
                match observed {
                    Observed::Written(Some(_)) => {
                        debug!("failed start released for an immediate takeover");
                    }
                    _ => debug!("failed start not released; it is taken over once stale"),
                }
                self.state = State::Finished;
                Command::Finish(Err(failure))
            }
            (_, Observed::Failed) => self.fail(Failure::Io),

            (State::FirstRead, Observed::Session { session, processed }) => match processed {
                Some(true) => self.already_processed(),
                Some(false) => self.decide(session),
                None => {
                    self.state = State::FirstMarker(session);
                    Command::ReadMarker(self.text.id.clone())
                }
            },
            (State::FirstMarker(_), Observed::Marker(true)) => self.already_processed(),
            (State::FirstMarker(session), Observed::Marker(false)) => self.decide(session),
            (State::Read, Observed::Session { session, .. }) => self.decide(session),
            (State::MarkerAfterWait(_, _), Observed::Marker(true)) => {
                info!("text delivered meanwhile by a concurrent delivery of the same record");
                self.finish(Handled::Duplicate)
            }
            (State::MarkerAfterWait(session, refresh_first), Observed::Marker(false)) => {
                self.send(session, refresh_first)
            }
            (State::InitialMarker(session, refresh_first), Observed::Marker(processed)) => self
                .send_parts(
                    session,
                    Parts::resumed(usize::from(processed)),
                    refresh_first,
                ),
            (State::Sleeping, Observed::Slept) => self.redecide(),

            // Starting a chat.
            (State::WritingStarting(_), Observed::Written(None)) => self.redecide(),
            (State::WritingStarting(plan), Observed::Written(Some(row))) => {
                self.start_chat(&plan, row)
            }
            (State::StartingChat(start), Observed::Started(started)) => {
                self.started(start, started)
            }
            (State::ConnectingNewChat(start, started), Observed::Connected(Some(connection))) => {
                self.have_chat(start, &started, connection)
            }
            (State::ConnectingNewChat(..), Observed::Connected(None)) => {
                self.fail(Failure::MissingCredentials)
            }
            (State::ConnectingNewChat(start, started), Observed::ChatEnded) => {
                self.ended_at_once(start, &started)
            }
            (
                State::ReadingTranscript {
                    chat,
                    reading,
                    check,
                    pages,
                },
                observed @ (Observed::Page(_) | Observed::ChatEnded),
            ) => self.transcript_page(chat, reading, check, pages, observed),
            (
                State::Activating {
                    start,
                    chat,
                    with_marker,
                    ..
                },
                Observed::Written(None),
            ) => {
                // Someone moved the row: a takeover of our (slow) start, which got this same
                // chat back from Connect and may have activated it already.
                self.state = State::ReadingAfterLostActivation {
                    start,
                    chat,
                    with_marker,
                };
                Command::ReadSession { with_marker: false }
            }
            (
                State::Activating {
                    start,
                    chat,
                    check,
                    with_marker,
                },
                Observed::Written(Some(active)),
            ) => {
                let activation = Activation {
                    start,
                    chat,
                    session: Some(active),
                    won: true,
                    with_marker,
                };
                self.settle(activation, check)
            }
            (
                State::ReadingAfterLostActivation {
                    start,
                    chat,
                    with_marker,
                },
                Observed::Session { session, .. },
            ) => {
                let session = session.filter(|current| {
                    current.status == Status::Active
                        && current.contact_id() == Some(&chat.contact_id)
                });
                let activation = Activation {
                    start,
                    chat,
                    session,
                    won: false,
                    with_marker,
                };
                self.settle(activation, None)
            }
            (State::MarkingInitial(activation, initial_delivered), Observed::Marked) => {
                self.continue_start(*activation, initial_delivered)
            }
            (
                State::EndingAtOnce {
                    takeover,
                    contact_id,
                },
                Observed::Written(written),
            ) => self.after_ended_at_once(takeover, written.is_some(), contact_id),

            // Sending.
            (State::Sending(live, mut parts), Observed::Accepted) => {
                parts.next += 1;
                self.send_next(live, parts)
            }
            (State::Sending(live, parts), Observed::ChatEnded) => {
                match session::on_denied(live.refreshed) {
                    OnDenied::RefreshAndRetry => {
                        debug!("send denied; refreshing the connection once");
                        self.refresh(live, AfterRefresh::Parts(parts))
                    }
                    OnDenied::ChatEnded => self.chat_over(&live),
                }
            }
            (State::Sending(live, parts), Observed::Rejected { cause }) => {
                error!(
                    part = parts.next + 1,
                    parts = self.text.chunks.len(),
                    error = %cause,
                    "connect rejected the text as invalid; dropped and acknowledged"
                );
                self.finish(Handled::Dropped {
                    contact_id: live.contact_id,
                })
            }
            (State::Refreshing(mut live, then), Observed::Connected(Some(connection))) => {
                info!(expires_at = %connection.expires_at, "connection refreshed");
                let refreshed = live.session.with_connection(connection, self.at.now);
                let expected = Some(live.session.version);
                live.session = refreshed.clone();
                self.state = State::StoringRefresh(live, then);
                Command::Put {
                    row: Box::new(refreshed),
                    expected,
                    marker: None,
                }
            }
            (State::Refreshing(..), Observed::Connected(None)) => {
                self.fail(Failure::MissingCredentials)
            }
            (State::Refreshing(live, then), Observed::ChatEnded) => {
                self.refresh_found_chat_over(&live, then)
            }
            (State::StoringRefresh(mut live, then), Observed::Written(stored)) => {
                // A lost write: someone else wrote the session meanwhile; our token is valid
                // all the same (a participant's connection tokens stay valid side by side).
                if let Some(stored) = stored {
                    live.session = stored;
                }
                match then {
                    AfterRefresh::Parts(parts) => self.send_next(live, parts),
                    AfterRefresh::OptOutNote => self.send_opt_out_note(live),
                }
            }
            (State::EndingChat, Observed::EndedChat(None)) => {
                // Already ended or replaced by another invocation: decide on a fresh read.
                self.redecide()
            }
            (State::EndingChat, Observed::EndedChat(Some(ended))) => {
                // restart_after_end always plans a start; should that change, a fresh read
                // decides.
                match session::restart_after_end(&ended, self.at.now, self.rules.persistent_chat) {
                    Decision::Start(plan) => {
                        self.decisions += 1;
                        if self.decisions > MAX_DECISIONS {
                            return self.contention();
                        }
                        self.start(*plan)
                    }
                    _ => self.redecide(),
                }
            }

            // Keywords.
            (State::OptOutWrite(_), Observed::Written(None)) => self.redecide(),
            (State::OptOutWrite(contact_id), Observed::Written(Some(marked))) => {
                self.end_for_opt_out(marked, contact_id)
            }
            (State::OptOutNote(live), Observed::Accepted) => self.disconnect(live),
            (State::OptOutNote(live), Observed::Rejected { cause }) => {
                warn!(
                    error = %cause,
                    "connect rejected the opt-out note; ending the chat without it"
                );
                self.disconnect(live)
            }
            (State::OptOutNote(live), Observed::ChatEnded) => {
                match session::on_denied(live.refreshed) {
                    OnDenied::RefreshAndRetry => {
                        debug!("send denied; refreshing the connection once");
                        self.refresh(live, AfterRefresh::OptOutNote)
                    }
                    OnDenied::ChatEnded => {
                        debug!("chat was already over");
                        self.opt_out_end_chat(live.contact_id)
                    }
                }
            }
            (State::OptOutDisconnect(contact_id), Observed::Accepted) => {
                info!("chat ended because the customer opted out");
                self.opt_out_end_chat(contact_id)
            }
            (State::OptOutDisconnect(contact_id), Observed::ChatEnded) => {
                debug!("chat was already over");
                self.opt_out_end_chat(contact_id)
            }
            (State::OptOutEndChat(contact_id), Observed::EndedChat(_)) => {
                self.opted_out(Some(contact_id))
            }
            (State::OptOutRow(_), Observed::Written(None)) => self.redecide(),
            (State::OptOutRow(end), Observed::Written(Some(_))) => self.opted_out(end),
            (State::OptInWrite, Observed::Written(None)) => self.redecide(),
            (State::OptInWrite, Observed::Written(Some(_))) => {
                info!("customer opted back in");
                self.reply_then(self.rules.opt_in_text.clone(), Handled::OptedIn)
            }
            (State::Replying(handled), Observed::Replied { message_id }) => {
                info!(sms_message_id = %message_id, "keyword reply sent");
                self.finish(handled)
            }
            (State::Replying(handled), Observed::ReplyOptedOut) => {
                // The carrier / End User Messaging list wins; nothing to retry.
                warn!("keyword reply not sent: the number is opted out");
                self.finish(handled)
            }

            (State::Marking(handled), Observed::Marked) => {
                self.state = State::Finished;
                Command::Finish(Ok(handled))
            }
            (state, _) => {
                let state = state.name();
                self.fail(Failure::Unexpected { state })
            }
        }
    }

    // -- Reading and deciding -----------------------------------------------------------

    fn already_processed(&mut self) -> Command {
        info!("text already processed; redelivery acknowledged");
        self.state = State::Finished;
        Command::Finish(Ok(Handled::Duplicate))
    }

    fn redecide(&mut self) -> Command {
        self.starting = None;
        self.state = State::Read;
        Command::ReadSession { with_marker: false }
    }

    fn contention(&mut self) -> Command {
        self.fail(Failure::Contention {
            decisions: MAX_DECISIONS,
        })
    }

    fn decide(&mut self, session: Option<Session>) -> Command {
        self.decisions += 1;
        if self.decisions > MAX_DECISIONS {
            return self.contention();
        }
        let input = match self.text.keyword {
            Some(keyword) => Input::Keyword(keyword),
            None => Input::Text,
        };
        let context = session::Context {
            key: &self.text.key,
            shard: self.text.shard,
            now: self.at.now,
            policy: &self.rules.policy,
            persistent_chat: self.rules.persistent_chat,
        };
        let decision = session::decide(session.as_ref(), input, &context);
        debug!(decision = decision.name(), "decided");
        match (decision, session) {
            // This text waited for a chat another invocation was starting. That invocation
            // may have been handling this very text (delivered twice at once); then the text
            // already went in as the chat's InitialMessage: check the dedupe marker again
            // before sending it a second time (a cheap read, on the waiting path only).
            (Decision::Send { refresh_first, .. }, Some(session)) if self.polls > 0 => {
                self.state = State::MarkerAfterWait(session, refresh_first);
                Command::ReadMarker(self.text.id.clone())
            }
            (Decision::Send { refresh_first, .. }, Some(session)) => {
                self.send(session, refresh_first)
            }
            (Decision::Send { .. }, None) => self.redecide(),
            (Decision::Start(plan), _) => self.start(*plan),
            (Decision::AwaitStart, _) => {
                // Waiting is bounded by time, not by the decision count.
                self.decisions -= 1;
                self.wait()
            }
            (Decision::OptOut { end }, session) => self.opt_out(session, end),
            (Decision::OptIn, session) => self.opt_in(session),
            (Decision::Help, _) => {
                self.reply_then(Some(self.rules.help_text.clone()), Handled::Help)
            }
            (Decision::SuppressOptedOut, _) => {
                info!("customer is opted out; text not forwarded until they text START");
                self.finish(Handled::Suppressed)
            }
        }
    }

    fn wait(&mut self) -> Command {
        let elapsed = self.at.elapsed;
        if elapsed >= self.rules.wait_for_start {
            return self.fail(Failure::StartPending { waited: elapsed });
        }
        let attempt = self.polls;
        self.polls += 1;
        self.state = State::Sleeping;
        Command::Sleep {
            attempt,
            at_most: self.rules.wait_for_start - elapsed,
        }
    }

    // -- Sending to the open chat -------------------------------------------------------

    /// Decision `Send`: the text to the session's open chat.
    fn send(&mut self, session: Session, refresh_first: bool) -> Command {
        // This very text opened the chat (another delivery of it started the chat, or an
        // earlier attempt did and then failed before its dedupe marker): part 1 is there.
        let opened_the_chat = session.initial_sms.as_ref() == Some(&self.text.id);
        if opened_the_chat && self.text.is_one_part() {
            info!("text is already the chat's initial message (a concurrent or earlier delivery)");
            return self.finish(Handled::Duplicate);
        }
        // A long text whose part 1 already went in as a chat's InitialMessage (an earlier
        // attempt started the chat, then failed on a later part) resumes at part 2.
        let marker = session
            .contact_id()
            .and_then(|contact_id| self.text.initial_marker(contact_id));
        match marker {
            _ if opened_the_chat => self.send_parts(session, Parts::resumed(1), refresh_first),
            Some(marker) if !self.text.is_one_part() => {
                self.state = State::InitialMarker(session, refresh_first);
                Command::ReadMarker(marker)
            }
            _ => self.send_parts(session, Parts::resumed(0), refresh_first),
        }
    }

    /// The text's `parts` to the session's chat, in order; the connection refreshed first
    /// when `refresh_first`.
    fn send_parts(&mut self, session: Session, mut parts: Parts, refresh_first: bool) -> Command {
        let Some(live) = Live::new(session) else {
            return self.redecide();
        };
        record_contact(&live.contact_id);
        parts.answer = self.menu_answer(&live.session);
        if refresh_first {
            debug!("connection token about to expire; refreshing before sending");
            return self.refresh(live, AfterRefresh::Parts(parts));
        }
        self.send_next(live, parts)
    }

    /// What a one-part text answering the menu the relay last sent in this chat goes in
    /// as: what Connect's chat widget sends for that choice (`2` → the option's text).
    fn menu_answer(&self, session: &Session) -> Option<String> {
        let [text] = self.text.chunks.as_slice() else {
            return None;
        };
        let answer = session.open_menu()?.answer(text)?;
        info!(option = answer.number, "text answers the open menu");
        Some(answer.reply.to_owned())
    }

    fn send_next(&mut self, live: Live, parts: Parts) -> Command {
        let Some(part) = self.text.chunks.get(parts.next) else {
            debug!(parts = self.text.chunks.len(), "text sent");
            let started = parts.started;
            return self.finish(Handled::Delivered {
                contact_id: live.contact_id,
                started,
            });
        };
        let Some(chat) = live.session.chat.as_ref() else {
            return self.chat_over(&live);
        };
        let command = Command::SendMessage {
            token: chat.connection.token.clone(),
            content: parts.answer.clone().unwrap_or_else(|| part.clone()),
            client_token: self.text.part_token(parts.next),
        };
        self.state = State::Sending(live, parts);
        command
    }

    /// CreateParticipantConnection with the participant token; the new connection is then
    /// stored.
    fn refresh(&mut self, mut live: Live, then: AfterRefresh) -> Command {
        live.refreshed = true;
        let Some(chat) = live.session.chat.as_ref() else {
            return self.refresh_found_chat_over(&live, then);
        };
        let command = Command::Connect {
            participant_token: chat.participant_token.clone(),
            joining: ConnectParticipant::AlreadyJoined,
        };
        self.state = State::Refreshing(live, then);
        command
    }

    fn refresh_found_chat_over(&mut self, live: &Live, then: AfterRefresh) -> Command {
        match then {
            AfterRefresh::Parts(_) => self.chat_over(live),
            AfterRefresh::OptOutNote => {
                debug!("chat was already over");
                self.opt_out_end_chat(live.contact_id.clone())
            }
        }
    }

    /// The chat is over (403 after a refresh): mark it ended, conditionally on this
    /// contact, and start the next chat with this text.
    fn chat_over(&mut self, live: &Live) -> Command {
        // Once per run: a second chat ending under this text (a flow that ends every chat
        // it starts) waits for the platform's retry instead of starting chat after chat.
        if std::mem::replace(&mut self.restarted_after_end, true) {
            return self.fail(Failure::EndedAtOnce);
        }
        warn!("chat is over (403 after a refresh); starting the next chat with this text");
        self.state = State::EndingChat;
        Command::EndChat(live.contact_id.clone())
    }

    // -- Starting a chat ----------------------------------------------------------------

    /// Writes the `starting` row; the chat is started once it is ours.
    fn start(&mut self, plan: StartPlan) -> Command {
        self.starting = None;
        // A first start names its text on the row; a takeover keeps the dead starter's.
        let row = if plan.takeover {
            plan.row.clone()
        } else {
            Session {
                starting_sms: Some(self.text.id.clone()),
                starting_digest: Some(text_digest(self.text.first_part())),
                ..plan.row.clone()
            }
        };
        let expected = plan.expected_version;
        self.state = State::WritingStarting(Box::new(plan));
        Command::Put {
            row: Box::new(row),
            expected,
            marker: None,
        }
    }

    fn start_chat(&mut self, plan: &StartPlan, row: Session) -> Command {
        info!(
            generation = row.generation,
            takeover = plan.takeover,
            continue_from = plan.continue_from.as_ref().map(field::display),
            "starting chat"
        );
        self.starting = Some(row.clone());
        self.state = State::StartingChat(Start {
            row,
            takeover: plan.takeover,
        });
        Command::StartChat {
            client_token: plan.client_token.clone(),
            continue_from: plan.continue_from.clone(),
        }
    }

    fn started(&mut self, start: Start, started: StartedChat) -> Command {
        record_contact(&started.contact_id);
        match started.connected.connection.clone() {
            Some(connection) => self.have_chat(start, &started, connection),
            // StartChatContact answers with the customer's connection, but a replayed start
            // of a chat that has ended may come back without it: ask.
            None => {
                let participant_token = started.participant_token.clone();
                self.state = State::ConnectingNewChat(start, Box::new(started));
                Command::Connect {
                    participant_token,
                    joining: ConnectParticipant::Join,
                }
            }
        }
    }

    fn have_chat(
        &mut self,
        start: Start,
        started: &StartedChat,
        connection: Connection,
    ) -> Command {
        let chat = Chat {
            contact_id: started.contact_id.clone(),
            participant_id: started.participant_id.clone(),
            participant_token: started.participant_token.clone(),
            connection,
        };
        // A takeover cannot know whose request created the chat: Connect answers a
        // repeated ClientToken with the original chat and ignores the new InitialMessage.
        if start.takeover {
            self.read_transcript(chat, Reading::Takeover(Box::new(start)))
        } else {
            self.activate(start, chat, None)
        }
    }

    fn read_transcript(&mut self, chat: Chat, reading: Reading) -> Command {
        let token = chat.connection.token.clone();
        self.state = State::ReadingTranscript {
            chat,
            reading,
            check: TranscriptCheck::default(),
            pages: 1,
        };
        Command::ReadTranscript {
            token,
            next_token: None,
        }
    }

    /// One page of what the chat's transcript says about this text: whether its first
    /// part is in it, and the chat's opening text (its first customer message). Only this
    /// chat's own items count: in a persistent chat the history of past chats may hold the
    /// same words from an older text. A chat that ended meanwhile leaves both unknown.
    fn transcript_page(
        &mut self,
        chat: Chat,
        reading: Reading,
        mut check: TranscriptCheck,
        pages: usize,
        observed: Observed,
    ) -> Command {
        let next_token = match observed {
            Observed::Page(page) => {
                let first = self.text.first_part();
                let texts = page.items.iter().filter(|item| {
                    item.kind == ItemKind::Message
                        && item.role == Some(Role::Customer)
                        && item.related_contact_id.is_none()
                        && item
                            .contact_id
                            .as_ref()
                            .is_none_or(|id| id == &chat.contact_id)
                });
                for content in texts.filter_map(|item| item.content.as_deref()) {
                    check.opening.get_or_insert_with(|| content.to_owned());
                    check.found |= content == first;
                }
                page.next_token
            }
            _ => None,
        };
        match next_token {
            Some(next_token) if !check.found && pages < MAX_TRANSCRIPT_PAGES => {
                let token = chat.connection.token.clone();
                self.state = State::ReadingTranscript {
                    chat,
                    reading,
                    check,
                    pages: pages + 1,
                };
                Command::ReadTranscript {
                    token,
                    next_token: Some(next_token),
                }
            }
            next_token => {
                if next_token.is_some() && !check.found {
                    debug!("text not found in the first transcript pages");
                }
                match reading {
                    Reading::Takeover(start) => self.activate(*start, chat, Some(check)),
                    Reading::LostActivation(activation) => {
                        self.initial_delivered(*activation, check.found)
                    }
                }
            }
        }
    }

    /// Activates the chat; a first start marks what its InitialMessage carried in the same
    /// write.
    fn activate(&mut self, start: Start, chat: Chat, check: Option<TranscriptCheck>) -> Command {
        let now = self.at.now;
        let mut activated = start.row.activated(chat.clone(), now);
        // Whose text the chat opened with: this text's own, or the starter's the row names
        // (by digest), or, when the transcript cannot tell, nobody's (then a retry may
        // repeat a text, which is better than a wrong name, which would lose one).
        activated.initial_sms = match &check {
            None => Some(self.text.id.clone()),
            Some(check) => match check.opening.as_deref() {
                Some(opening) if opening == self.text.first_part() => Some(self.text.id.clone()),
                Some(opening)
                    if start.row.starting_digest.as_deref() == Some(&text_digest(opening)) =>
                {
                    start.row.starting_sms.clone()
                }
                _ => None,
            },
        };
        // The whole text when it has one part (then the text is done), part 1 otherwise.
        // Only if that write wins is the text certainly in the chat.
        let marker = (!start.takeover)
            .then(|| match self.text.is_one_part() {
                true => Some(self.text.id.clone()),
                false => self.text.initial_marker(&chat.contact_id),
            })
            .flatten()
            .map(|id| Marker {
                id,
                contact_id: Some(chat.contact_id.clone()),
                at: now,
            });
        let expected = Some(start.row.version);
        self.state = State::Activating {
            start,
            chat,
            check,
            with_marker: marker.is_some(),
        };
        Command::Put {
            row: Box::new(activated),
            expected,
            marker,
        }
    }

    /// Whether the InitialMessage is this text's: for sure only when this run's call created
    /// the chat (a first start whose row nobody touched in between); else the transcript says.
    fn settle(&mut self, activation: Activation, check: Option<TranscriptCheck>) -> Command {
        match check {
            Some(check) => self.initial_delivered(activation, check.found),
            None if activation.won => self.initial_delivered(activation, true),
            None => {
                let chat = activation.chat.clone();
                self.read_transcript(chat, Reading::LostActivation(Box::new(activation)))
            }
        }
    }

    fn initial_delivered(&mut self, activation: Activation, initial_delivered: bool) -> Command {
        info!(
            generation = activation.start.row.generation,
            initial_delivered, "chat started"
        );
        let marked = activation.won && activation.with_marker;
        if marked && self.text.is_one_part() {
            let contact_id = activation.chat.contact_id;
            return self.finish_marked(Handled::Delivered {
                contact_id,
                started: true,
            });
        }
        // Part 1 went in as the InitialMessage: recorded before the other parts are sent,
        // so a retry resumes at part 2.
        if initial_delivered
            && !self.text.is_one_part()
            && !marked
            && let Some(id) = self.text.initial_marker(&activation.chat.contact_id)
        {
            let marker = Marker {
                id,
                contact_id: Some(activation.chat.contact_id.clone()),
                at: self.at.now,
            };
            self.state = State::MarkingInitial(Box::new(activation), initial_delivered);
            return Command::MarkProcessed(marker);
        }
        self.continue_start(activation, initial_delivered)
    }

    fn continue_start(&mut self, activation: Activation, initial_delivered: bool) -> Command {
        match activation.session {
            Some(session) => {
                let parts = Parts::started(usize::from(initial_delivered));
                self.send_parts(session, parts, false)
            }
            None if initial_delivered && self.text.is_one_part() => {
                self.finish(Handled::Delivered {
                    contact_id: activation.chat.contact_id,
                    started: true,
                })
            }
            None => self.redecide(),
        }
    }

    /// The chat ended before the customer could even connect: a flow that disconnects at
    /// once, or a replayed start of a chat Connect already closed. Recorded as ended so the
    /// next text starts the next generation instead of replaying this one forever.
    fn ended_at_once(&mut self, start: Start, started: &StartedChat) -> Command {
        warn!("chat ended before the customer connected");
        let ended = Session {
            status: Status::Ended,
            chat: None,
            previous_contact_id: Some(started.contact_id.clone()),
            previous_started_at: Some(start.row.started_at),
            updated_at: self.at.now,
            ..start.row.clone()
        };
        let expected = Some(start.row.version);
        self.state = State::EndingAtOnce {
            takeover: start.takeover,
            contact_id: started.contact_id.clone(),
        };
        Command::Put {
            row: Box::new(ended),
            expected,
            marker: None,
        }
    }

    fn after_ended_at_once(&mut self, takeover: bool, won: bool, contact_id: ContactId) -> Command {
        if takeover || !won {
            // A replay, or a start someone took over meanwhile (the row moved): the
            // InitialMessage may be someone else's. Ours goes to the next chat.
            return self.redecide();
        }
        if !self.text.is_one_part() {
            // Only part 1 reached that chat: the whole text goes to the next one rather
            // than parts 2.. being acknowledged unsent. Once per run: a flow that ends
            // every chat (out of hours) must not get a chat per decision.
            if std::mem::replace(&mut self.restarted_after_end, true) {
                return self.fail(Failure::EndedAtOnce);
            }
            warn!(
                parts = self.text.chunks.len(),
                "only the first part reached the chat before it ended; the text goes to the next chat"
            );
            return self.redecide();
        }
        self.finish(Handled::Delivered {
            contact_id,
            started: true,
        })
    }

    // -- Keywords -----------------------------------------------------------------------

    /// Opt-out: record the opt-out, then end the open chat (if any), reply if configured.
    ///
    /// The opt-out is written *before* the chat is ended: ending it makes the relay send
    /// the closing text, and the relay reads the row before any notice, so it must already
    /// say "opted out" by then.
    fn opt_out(&mut self, session: Option<Session>, end: Option<ContactId>) -> Command {
        let now = self.at.now;
        match (session, end) {
            (Some(current), Some(contact_id)) => {
                record_contact(&contact_id);
                // 1. The opt-out, the chat still open (a retry finds it already written).
                if current.opted_out {
                    return self.end_for_opt_out(current, contact_id);
                }
                let row = current.with_opt_out(true, now);
                let expected = Some(current.version);
                self.state = State::OptOutWrite(contact_id);
                Command::Put {
                    row: Box::new(row),
                    expected,
                    marker: None,
                }
            }
            (session, end) => {
                let write = match &session {
                    Some(current) if current.opted_out && !current.status.is_live() => None,
                    Some(current) => Some((
                        Session {
                            status: if current.status.is_live() {
                                Status::Ended
                            } else {
                                current.status
                            },
                            opted_out: true,
                            updated_at: now,
                            ..current.clone()
                        },
                        Some(current.version),
                    )),
                    // Nobody to end, but later texts must still be held back: a row with
                    // no chat yet (generation 0), so the first text after START starts
                    // generation 1.
                    None => Some((
                        Session {
                            status: Status::Ended,
                            generation: 0,
                            opted_out: true,
                            ..Session::first(self.text.key.clone(), self.text.shard, now)
                        },
                        None,
                    )),
                };
                match write {
                    Some((row, expected)) => {
                        self.state = State::OptOutRow(end);
                        Command::Put {
                            row: Box::new(row),
                            expected,
                            marker: None,
                        }
                    }
                    None => self.opted_out(end),
                }
            }
        }
    }

    /// 2. The agent's note, then the customer leaves (the chat ends).
    fn end_for_opt_out(&mut self, marked: Session, contact_id: ContactId) -> Command {
        match Live::new(marked) {
            Some(live) => self.send_opt_out_note(live),
            None => self.opt_out_end_chat(contact_id),
        }
    }

    fn send_opt_out_note(&mut self, live: Live) -> Command {
        let Some(chat) = live.session.chat.as_ref() else {
            return self.opt_out_end_chat(live.contact_id);
        };
        let command = Command::SendMessage {
            token: chat.connection.token.clone(),
            content: opt_out_note(&self.text.body),
            client_token: format!("{}#opt-out", self.text.id),
        };
        self.state = State::OptOutNote(live);
        command
    }

    fn disconnect(&mut self, live: Live) -> Command {
        let Some(chat) = live.session.chat.as_ref() else {
            return self.opt_out_end_chat(live.contact_id);
        };
        let command = Command::Disconnect {
            token: chat.connection.token.clone(),
            client_token: format!("{}#disconnect", self.text.id),
        };
        self.state = State::OptOutDisconnect(live.contact_id);
        command
    }

    /// 3. The row says so; the relay may have marked it ended first.
    fn opt_out_end_chat(&mut self, contact_id: ContactId) -> Command {
        self.state = State::OptOutEndChat(contact_id.clone());
        Command::EndChat(contact_id)
    }

    fn opted_out(&mut self, ended: Option<ContactId>) -> Command {
        info!(
            ended = ended.as_ref().map(field::display),
            "customer opted out"
        );
        self.reply_then(self.rules.opt_out_text.clone(), Handled::OptedOut { ended })
    }

    /// Opt-in (START, or YES while opted out): clear the opt-out, reply if configured.
    fn opt_in(&mut self, session: Option<Session>) -> Command {
        match session.filter(|current| current.opted_out) {
            Some(current) => {
                let row = current.with_opt_out(false, self.at.now);
                self.state = State::OptInWrite;
                Command::Put {
                    row: Box::new(row),
                    expected: Some(current.version),
                    marker: None,
                }
            }
            None => self.reply_then(self.rules.opt_in_text.clone(), Handled::OptedIn),
        }
    }

    fn reply_then(&mut self, text: Option<String>, handled: Handled) -> Command {
        match text {
            Some(text) => {
                self.state = State::Replying(handled);
                Command::Reply(text)
            }
            None => self.finish(handled),
        }
    }

    // -- Ending the run -----------------------------------------------------------------

    /// Done: the dedupe marker is all that is left to write.
    fn finish(&mut self, handled: Handled) -> Command {
        self.starting = None;
        if handled == Handled::Duplicate {
            self.state = State::Finished;
            return Command::Finish(Ok(handled));
        }
        let marker = Marker {
            id: self.text.id.clone(),
            contact_id: handled.contact_id().cloned(),
            at: self.at.now,
        };
        // A text into a chat already open: the session row records it as the chat's
        // latest activity, which orders the relay's reconnects.
        let resumed = matches!(handled, Handled::Delivered { started: false, .. });
        self.state = State::Marking(handled);
        if resumed {
            Command::MarkResumed(marker)
        } else {
            Command::MarkProcessed(marker)
        }
    }

    /// Done, the dedupe marker written with the last session write.
    fn finish_marked(&mut self, handled: Handled) -> Command {
        self.starting = None;
        self.state = State::Finished;
        Command::Finish(Ok(handled))
    }

    /// Failed. A `starting` row this run wrote is backdated first, so the next attempt (or
    /// a text waiting for it) takes it over at once instead of after the takeover age.
    /// Same generation, so the takeover reuses the ClientToken and gets the chat back if the
    /// failed call did create it. Best effort: if the row moved on, so be it.
    fn fail(&mut self, failure: Failure) -> Command {
        match self.starting.take() {
            Some(starting) => {
                let released = Session {
                    started_at: starting.started_at - self.rules.policy.takeover_after,
                    updated_at: self.at.now,
                    ..starting.clone()
                };
                self.state = State::Releasing(failure);
                Command::Put {
                    row: Box::new(released),
                    expected: Some(starting.version),
                    marker: None,
                }
            }
            None => {
                self.state = State::Finished;
                Command::Finish(Err(failure))
            }
        }
    }
}

/// The note the agent sees before an opt-out ends the chat, quoting the keyword.
pub fn opt_out_note(body: &str) -> String {
    let keyword: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
        .chars()
        .take(MAX_QUOTED_KEYWORD_CHARS)
        .collect();
    format!("Customer opted out of SMS (texted {keyword}).")
}

/// Names the chat on the current span (the caller's, which declares `contact_id`).
fn record_contact(contact_id: &ContactId) {
    Span::current().record("contact_id", field::display(contact_id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ParticipantId;
    use crate::phone::PhoneNumber;
    use crate::ports::Connected;

    fn at(seconds: u64) -> Moment {
        Moment {
            now: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
                + chrono::TimeDelta::seconds(seconds as i64),
            elapsed: Duration::from_secs(seconds),
        }
    }

    fn intake(body: &str) -> Intake {
        let key = SessionKey::new(
            PhoneNumber::parse("+15550100001").unwrap(),
            PhoneNumber::parse("+18005550100").unwrap(),
        );
        let text = Text::new(InboundMessageId::new("sms-1").unwrap(), key, 0, body).unwrap();
        Intake::new(
            text,
            Arc::new(Rules {
                policy: Policy::default(),
                persistent_chat: false,
                wait_for_start: Duration::from_secs(20),
                opt_out_text: None,
                opt_in_text: None,
                help_text: "help".to_owned(),
            }),
        )
    }

    /// The machine up to its StartChatContact on an absent row; the `starting` row it won.
    fn started_first(intake: &mut Intake) -> Session {
        assert!(matches!(
            intake.begin(at(0)),
            Command::ReadSession { with_marker: true }
        ));
        let observed = Observed::Session {
            session: None,
            processed: Some(false),
        };
        let Command::Put { row, expected, .. } = intake.step(observed, at(0)) else {
            panic!("expected the starting row");
        };
        assert_eq!((row.status, expected), (Status::Starting, None));
        let row = Session { version: 1, ..*row };
        let command = intake.step(Observed::Written(Some(row.clone())), at(0));
        assert!(matches!(command, Command::StartChat { .. }), "{command:?}");
        row
    }

    fn replayed_ended_chat() -> StartedChat {
        StartedChat {
            contact_id: ContactId::new("c-0").unwrap(),
            participant_id: ParticipantId::new("p-0").unwrap(),
            participant_token: ParticipantToken::new("pt").unwrap(),
            continued_from: None,
            connected: Connected::default(),
        }
    }

    #[test]
    fn a_chat_ended_at_once_under_a_start_someone_took_over_is_not_called_delivered() {
        // Found by the property tests (crates/core/tests/intake.rs): this run's start was
        // taken over, the taker's chat (same ClientToken) ended, and this run's
        // StartChatContact got that chat back: its InitialMessage is the taker's text.
        let mut intake = intake("hello");
        started_first(&mut intake);
        let command = intake.step(Observed::Started(replayed_ended_chat()), at(1));
        assert!(matches!(
            command,
            Command::Connect {
                joining: ConnectParticipant::Join,
                ..
            }
        ));
        let Command::Put { row, .. } = intake.step(Observed::ChatEnded, at(1)) else {
            panic!("expected the ended row");
        };
        assert_eq!(row.status, Status::Ended);

        // The ended row lost: someone moved this run's row.
        let command = intake.step(Observed::Written(None), at(1));

        assert!(
            matches!(command, Command::ReadSession { with_marker: false }),
            "the text must decide again, not be acknowledged: {command:?}"
        );
    }

    #[test]
    fn a_chat_ended_at_once_under_an_untouched_first_start_had_the_text() {
        let mut intake = intake("hello");
        let row = started_first(&mut intake);
        intake.step(Observed::Started(replayed_ended_chat()), at(1));
        intake.step(Observed::ChatEnded, at(1));

        let ended = Session {
            status: Status::Ended,
            version: 2,
            ..row
        };
        let command = intake.step(Observed::Written(Some(ended)), at(1));

        let Command::MarkProcessed(marker) = command else {
            panic!("expected the dedupe marker: {command:?}");
        };
        assert_eq!(
            marker.contact_id.map(|c| c.to_string()).as_deref(),
            Some("c-0")
        );
    }

    #[test]
    fn a_failed_start_releases_its_starting_row_then_fails_with_the_io_error() {
        let mut intake = intake("hello");
        let row = started_first(&mut intake);

        let Command::Put {
            row: released,
            expected,
            marker,
        } = intake.step(Observed::Failed, at(2))
        else {
            panic!("expected the release");
        };
        assert_eq!(expected, Some(row.version));
        assert!(marker.is_none());
        assert_eq!(
            released.started_at,
            row.started_at - Policy::default().takeover_after,
            "backdated for an immediate takeover"
        );
        let command = intake.step(Observed::Written(None), at(2));
        assert!(
            matches!(command, Command::Finish(Err(Failure::Io))),
            "{command:?}"
        );
    }

    #[test]
    fn an_answer_that_does_not_fit_fails_the_run() {
        let mut intake = intake("hello");
        intake.begin(at(0));
        let command = intake.step(Observed::Slept, at(0));
        assert!(
            matches!(
                command,
                Command::Finish(Err(Failure::Unexpected {
                    state: "first_read"
                }))
            ),
            "{command:?}"
        );
    }

    #[test]
    fn opt_out_note_quotes_the_keyword_normalised() {
        assert_eq!(
            opt_out_note("  stop "),
            "Customer opted out of SMS (texted STOP)."
        );
        assert_eq!(
            opt_out_note("opt   out!"),
            "Customer opted out of SMS (texted OPT OUT!)."
        );
    }
}
