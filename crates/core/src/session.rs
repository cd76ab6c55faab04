//! The session: one customer talking to one support number, and the pure machine that
//! decides what an inbound text does to it.
//!
//! A session lives through several chats (one per *generation*): `starting` while the first
//! text of a generation opens a chat, `active` while that chat is open, `ended` once it
//! closed; the next text starts generation + 1. Every decision here is a pure function of
//! the stored session, the input and the time, so races and retries are tested without I/O:
//! the entry point reads, calls [`decide`], performs the [`Decision`] with conditional
//! writes, and on a lost write reads and decides again.

use std::num::NonZeroU16;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::ids::{
    ConnectionToken, ContactId, InboundMessageId, ItemId, ParticipantId, ParticipantToken,
};
use crate::keyword::Keyword;
use crate::menu::Menu;
use crate::phone::PhoneNumber;

/// Identifies a session: the customer and the support number they texted.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SessionKey {
    /// The customer's phone.
    pub customer: PhoneNumber,
    /// Our support number the customer texted.
    pub support: PhoneNumber,
}

impl SessionKey {
    /// Builds a key.
    pub fn new(customer: PhoneNumber, support: PhoneNumber) -> Self {
        Self { customer, support }
    }

    /// The shard this session belongs to, stable across processes and releases.
    ///
    /// Uses the first 8 bytes of a SHA-256 of both numbers: `std`'s hasher is seeded per
    /// process, and a shard must mean the same thing to every relay instance.
    pub fn shard(&self, shard_count: NonZeroU16) -> u16 {
        let digest = self.digest();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let value = u64::from_be_bytes(first) % u64::from(shard_count.get());
        // INVARIANT: value < shard_count <= u16::MAX, so the conversion cannot fail.
        u16::try_from(value).unwrap_or(0)
    }

    /// The StartChatContact ClientToken for a generation of this session: the same for
    /// every retry and takeover of one start, different for the next chat.
    pub fn start_token(&self, generation: u32) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.customer.as_e164().as_bytes());
        hasher.update(b"|");
        hasher.update(self.support.as_e164().as_bytes());
        hasher.update(b"|");
        hasher.update(generation.to_be_bytes());
        format!("start-{}", &hex::encode(hasher.finalize())[..48])
    }

    fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.customer.as_e164().as_bytes());
        hasher.update(b"|");
        hasher.update(self.support.as_e164().as_bytes());
        hasher.finalize().into()
    }
}

/// Where a session is in its current generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    /// A chat is being started; `started_at` says since when.
    Starting,
    /// A chat is open.
    Active,
    /// The last chat ended; the next text starts a new one.
    Ended,
}

impl Status {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Active => "active",
            Self::Ended => "ended",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "starting" => Some(Self::Starting),
            "active" => Some(Self::Active),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }

    /// Whether the relay should hold a socket for this session (and the index lists it).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Starting | Self::Active)
    }
}

/// A connection token and its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The token (secret).
    pub token: ConnectionToken,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The Connect chat of a generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chat {
    /// The contact.
    pub contact_id: ContactId,
    /// The customer participant.
    pub participant_id: ParticipantId,
    /// The customer participant's token (lives as long as the participant).
    pub participant_token: ParticipantToken,
    /// The current connection token, used to send messages.
    pub connection: Connection,
}

/// How far the relay delivered the transcript of one chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The chat the cursor belongs to.
    pub contact_id: ContactId,
    /// The last item delivered (or deliberately skipped) as SMS.
    pub item_id: ItemId,
}

/// An ended chat the relay still owes the phone the end of ([`Session::undelivered_previous`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedChat {
    /// The chat.
    pub contact_id: ContactId,
    /// When it started (where its archived transcript is filed).
    pub started_at: DateTime<Utc>,
    /// The last item delivered; `None`: nothing was.
    pub cursor: Option<ItemId>,
}

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Customer and support number.
    pub key: SessionKey,
    /// Where the current generation is.
    pub status: Status,
    /// The n-th chat of this pair (1 for the first).
    pub generation: u32,
    /// Optimistic-lock version (bumped by every write).
    pub version: u64,
    /// The current (or, when `ended`, the last) chat; `None` while starting generation 1.
    pub chat: Option<Chat>,
    /// The relay shard.
    pub shard: u16,
    /// The relay's delivery cursor, written only by the relay.
    pub relay_cursor: Option<Cursor>,
    /// The chat before the current one (for persistent chat, and for the relay: what
    /// that chat said after the relay last saw it is still owed to the phone).
    pub previous_contact_id: Option<ContactId>,
    /// When [`Self::previous_contact_id`] started (where its archived transcript is
    /// filed). `None` on rows written before it was kept: the relay then leaves that
    /// chat alone.
    pub previous_started_at: Option<DateTime<Utc>>,
    /// The customer texted an opt-out keyword and has not opted back in.
    pub opted_out: bool,
    /// When the current generation started (or began starting).
    pub started_at: DateTime<Utc>,
    /// Last write.
    pub updated_at: DateTime<Utc>,
    /// An opaque id of the write that produced this row, unique per write (the inbound
    /// handler draws a random one for each conditional put). It lets a put whose first
    /// attempt applied but timed out recognise its own row on the SDK's retry, without two
    /// different writers ever mistaking each other's identical-looking rows for their own.
    /// `None`: the writer cannot be recognised, so such a retry reports a conflict.
    pub writer: Option<String>,
    /// The inbound text whose (first part) is the current chat's InitialMessage, when that
    /// is certain: the chat was started by a first start of its generation, or a takeover
    /// read it off the transcript ([`Self::starting_sms`]). A delivery of that same text
    /// (SNS twice at once, or a retry after the dedupe marker failed) reads it here and
    /// does not send the text a second time, whether or not the marker was written yet.
    pub initial_sms: Option<InboundMessageId>,
    /// The inbound text whose first start of this generation wrote the `starting` row. A
    /// takeover keeps it (and [`Self::starting_digest`]): should it get back a chat whose
    /// opening text has the starter's digest, it names the starter as the chat's
    /// `initial_sms`, and the starter's retry does not send its text a second time. Only on
    /// that evidence: a wrong name would lose a text, a missing one only repeats it.
    pub starting_sms: Option<InboundMessageId>,
    /// [`text_digest`] of the first part of [`Self::starting_sms`]'s text.
    pub starting_digest: Option<String>,
    /// The interactive message the relay last sent as a numbered menu, written only by
    /// the relay (with its cursor); it answers only while its chat is the current one
    /// ([`Self::open_menu`]).
    pub menu: Option<Menu>,
}

impl Session {
    /// A new session row in `starting` for generation 1.
    pub fn first(key: SessionKey, shard: u16, now: DateTime<Utc>) -> Self {
        Self {
            key,
            status: Status::Starting,
            generation: 1,
            version: 0,
            chat: None,
            shard,
            relay_cursor: None,
            previous_contact_id: None,
            previous_started_at: None,
            opted_out: false,
            started_at: now,
            updated_at: now,
            writer: None,
            initial_sms: None,
            starting_sms: None,
            starting_digest: None,
            menu: None,
        }
    }

    /// This session moving to `starting` for the next generation. The ended chat becomes
    /// `previous_contact_id`, so persistent chat can continue from it (and the relay can
    /// finish delivering it: [`Self::undelivered_previous`]).
    pub fn next_generation(&self, now: DateTime<Utc>) -> Self {
        let (previous, previous_started_at) = match &self.chat {
            Some(chat) => (Some(chat.contact_id.clone()), Some(self.started_at)),
            None => (self.previous_contact_id.clone(), self.previous_started_at),
        };
        Self {
            status: Status::Starting,
            generation: self.generation.saturating_add(1),
            chat: None,
            previous_contact_id: previous,
            previous_started_at,
            started_at: now,
            updated_at: now,
            initial_sms: None,
            starting_sms: None,
            starting_digest: None,
            ..self.clone()
        }
    }

    /// This session with its chat open.
    pub fn activated(&self, chat: Chat, now: DateTime<Utc>) -> Self {
        Self {
            status: Status::Active,
            chat: Some(chat),
            updated_at: now,
            ..self.clone()
        }
    }

    /// This session with a fresh connection token for the same chat.
    pub fn with_connection(&self, connection: Connection, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        if let Some(chat) = next.chat.as_mut() {
            chat.connection = connection;
        }
        next.updated_at = now;
        next
    }

    /// This session with the opt-out flag set or cleared.
    pub fn with_opt_out(&self, opted_out: bool, now: DateTime<Utc>) -> Self {
        Self {
            opted_out,
            updated_at: now,
            ..self.clone()
        }
    }

    /// The menu the customer's next text may answer: the last one the relay sent in the
    /// current chat, unless an agent or bot wrote since (the relay then removed it).
    pub fn open_menu(&self) -> Option<&Menu> {
        let chat = self
            .chat
            .as_ref()
            .filter(|_| self.status == Status::Active)?;
        self.menu
            .as_ref()
            .filter(|menu| menu.contact_id == chat.contact_id && !menu.options.is_empty())
    }

    /// The relay cursor, if it belongs to the current chat (a cursor left from an earlier
    /// chat means nothing of this one was delivered yet).
    pub fn cursor_for_current_chat(&self) -> Option<&ItemId> {
        let chat = self.chat.as_ref()?;
        self.relay_cursor
            .as_ref()
            .filter(|cursor| cursor.contact_id == chat.contact_id)
            .map(|cursor| &cursor.item_id)
    }

    /// The relay cursor value that says "this chat was delivered to its end": every item
    /// went out, then the closing text (when one is configured), and nothing but marking
    /// the chat ended is left. It is no transcript item id (Connect's are UUIDs), so it
    /// never names a real item.
    pub fn closing_sent_cursor() -> ItemId {
        // INVARIANT: a non-empty literal well under the id length limit.
        ItemId::new(CLOSING_SENT).unwrap_or_else(|_| unreachable!("valid literal"))
    }

    /// Whether the relay sent the current chat's closing text ([`Self::closing_sent_cursor`]).
    pub fn closing_sent(&self) -> bool {
        self.cursor_for_current_chat()
            .is_some_and(|cursor| cursor.as_str() == CLOSING_SENT)
    }

    /// The previous chat, when the relay may not have delivered all of it: it ended while
    /// no relay held its socket (a crash, a restart, a lease move), and the customer's next
    /// text started the current chat before a relay came back to read the end.
    ///
    /// The relay cursor tells: on the previous chat and short of its end marker, the
    /// relay delivered up to there; on the current chat, the relay moved on (it finishes a
    /// previous chat before it writes the current one's cursor); absent or on an older chat,
    /// nothing of the previous chat was delivered. Only while the current chat is live
    /// (a worker runs for it) and the previous one's start is known.
    pub fn undelivered_previous(&self) -> Option<EndedChat> {
        let contact_id = self.previous_contact_id.clone()?;
        let started_at = self.previous_started_at?;
        if !self.status.is_live() {
            return None;
        }
        let cursor = match &self.relay_cursor {
            Some(cursor) if cursor.contact_id == contact_id => {
                if cursor.item_id.as_str() == CLOSING_SENT {
                    return None;
                }
                Some(cursor.item_id.clone())
            }
            Some(cursor) if self.contact_id() == Some(&cursor.contact_id) => return None,
            _ => None,
        };
        Some(EndedChat {
            contact_id,
            started_at,
            cursor,
        })
    }

    /// The current chat's contact id.
    pub fn contact_id(&self) -> Option<&ContactId> {
        self.chat.as_ref().map(|chat| &chat.contact_id)
    }
}

/// A short digest of a text, to recognise it on the transcript without storing it.
pub fn text_digest(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..12])
}

/// The stored form of [`Session::closing_sent_cursor`].
const CLOSING_SENT: &str = "#closing-sent";

/// Tunables of the decision.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// A `starting` row older than this is taken over (its starter is presumed dead).
    pub takeover_after: TimeDelta,
    /// Refresh a connection token this long before it expires, rather than risk a 403.
    pub refresh_margin: TimeDelta,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            takeover_after: TimeDelta::seconds(30),
            refresh_margin: TimeDelta::minutes(5),
        }
    }
}

/// What the inbound text is, once classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// An ordinary text, to reach the chat.
    Text,
    /// A keyword message.
    Keyword(Keyword),
}

/// How to start a chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartPlan {
    /// The row to write (status `starting`) before calling StartChatContact.
    pub row: Session,
    /// The version the stored row must have for the write to win (`None`: absent).
    pub expected_version: Option<u64>,
    /// The StartChatContact ClientToken (same for every attempt of this generation).
    pub client_token: String,
    /// Continue from this contact (persistent chat), when enabled by configuration.
    pub continue_from: Option<ContactId>,
    /// This start takes over a stale `starting` row (its starter presumed dead).
    pub takeover: bool,
}

/// What to do with an inbound message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send the text to the open chat; refresh the connection token first when it is
    /// about to expire.
    Send {
        /// The chat.
        contact_id: ContactId,
        /// Refresh the connection token before sending.
        refresh_first: bool,
    },
    /// Start a chat with the text as its first message (boxed: it carries a whole row).
    Start(Box<StartPlan>),
    /// Another invocation is starting the chat: wait for it to become `active`, then
    /// decide again.
    AwaitStart,
    /// Opt-out keyword: end the open chat (if any) and record the opt-out.
    OptOut {
        /// The chat to end, if one is open.
        end: Option<ContactId>,
    },
    /// Opt-in keyword: clear the opt-out.
    OptIn,
    /// Help keyword: answer with the configured help text.
    Help,
    /// The customer opted out: the text is not forwarded (they must text START first).
    SuppressOptedOut,
}

impl Decision {
    /// A stable snake_case name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Send { .. } => "send",
            Self::Start(plan) if plan.takeover => "take_over_start",
            Self::Start(_) => "start",
            Self::AwaitStart => "await_start",
            Self::OptOut { .. } => "opt_out",
            Self::OptIn => "opt_in",
            Self::Help => "help",
            Self::SuppressOptedOut => "suppress_opted_out",
        }
    }
}

/// What [`decide`] knows besides the stored session and the input: whose text it is, when,
/// and under which rules.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The session the text belongs to.
    pub key: &'a SessionKey,
    /// Its relay shard (for a first row).
    pub shard: u16,
    /// Now.
    pub now: DateTime<Utc>,
    /// Takeover age and refresh margin.
    pub policy: &'a Policy,
    /// When a new chat follows an ended one, continue its transcript.
    pub persistent_chat: bool,
}

/// Decides what an inbound message does to the session. Pure and total.
pub fn decide(session: Option<&Session>, input: Input, context: &Context<'_>) -> Decision {
    let &Context {
        key,
        shard,
        now,
        policy,
        persistent_chat,
    } = context;
    match input {
        // Let the start finish, then end that chat: otherwise it would stay open, unseen,
        // with the customer gone.
        Input::Keyword(Keyword::OptOut)
            if session.is_some_and(|session| start_in_progress(session, now, policy)) =>
        {
            return Decision::AwaitStart;
        }
        Input::Keyword(Keyword::OptOut) => {
            let end = session
                .filter(|session| session.status == Status::Active)
                .and_then(Session::contact_id)
                .cloned();
            return Decision::OptOut { end };
        }
        // Opt-in words ("YES", "START") only opt back in a customer who opted out; from
        // anyone else they are ordinary text and must reach the chat.
        Input::Keyword(Keyword::OptIn) if session.is_some_and(|s| s.opted_out) => {
            return Decision::OptIn;
        }
        Input::Keyword(Keyword::Help) => return Decision::Help,
        Input::Keyword(Keyword::OptIn) | Input::Text => {}
    }
    let Some(session) = session else {
        return Decision::Start(Box::new(StartPlan {
            row: Session::first(key.clone(), shard, now),
            expected_version: None,
            client_token: key.start_token(1),
            continue_from: None,
            takeover: false,
        }));
    };
    if session.opted_out {
        return Decision::SuppressOptedOut;
    }
    match (session.status, session.chat.as_ref()) {
        (Status::Active, Some(chat)) => Decision::Send {
            contact_id: chat.contact_id.clone(),
            refresh_first: chat.connection.expires_at - policy.refresh_margin <= now,
        },
        // An active row without a chat is corrupt; starting afresh is the safe repair,
        // and so is starting after an ended chat.
        (Status::Active, None) | (Status::Ended, _) => start_next(session, now, persistent_chat),
        (Status::Starting, _) if !start_in_progress(session, now, policy) => {
            // Same generation, same ClientToken: if the dead starter's StartChatContact
            // went through, Connect returns that same chat instead of a second one.
            // Which text the chat will open with is not certain after a takeover.
            let row = Session {
                started_at: now,
                updated_at: now,
                initial_sms: None,
                ..session.clone()
            };
            Decision::Start(Box::new(StartPlan {
                client_token: key.start_token(session.generation),
                continue_from: persistent_chat
                    .then(|| session.previous_contact_id.clone())
                    .flatten(),
                expected_version: Some(session.version),
                row,
                takeover: true,
            }))
        }
        (Status::Starting, _) => Decision::AwaitStart,
    }
}

/// Whether another invocation is starting the session's chat: the row is `starting` and
/// younger than the takeover age (older, its starter is presumed dead).
fn start_in_progress(session: &Session, now: DateTime<Utc>, policy: &Policy) -> bool {
    session.status == Status::Starting && now - session.started_at < policy.takeover_after
}

/// The start that follows a chat found ended: by status, or by a 403 that a connection
/// refresh did not cure (then `session` is still `active` in the store).
pub fn restart_after_end(session: &Session, now: DateTime<Utc>, persistent_chat: bool) -> Decision {
    start_next(session, now, persistent_chat)
}

fn start_next(session: &Session, now: DateTime<Utc>, persistent_chat: bool) -> Decision {
    let row = session.next_generation(now);
    Decision::Start(Box::new(StartPlan {
        client_token: session.key.start_token(row.generation),
        continue_from: persistent_chat
            .then(|| row.previous_contact_id.clone())
            .flatten(),
        expected_version: Some(session.version),
        row,
        takeover: false,
    }))
}

/// What to do when SendMessage answered 403 (AccessDenied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDenied {
    /// First 403: the connection token may have expired; refresh it and send again.
    RefreshAndRetry,
    /// 403 again after a refresh: the chat is over; mark it ended and start a new one
    /// with this text.
    ChatEnded,
}

/// Decides what a 403 from SendMessage means, given whether the connection was already
/// refreshed for this text.
pub fn on_denied(already_refreshed: bool) -> OnDenied {
    if already_refreshed {
        OnDenied::ChatEnded
    } else {
        OnDenied::RefreshAndRetry
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ids::ConnectionToken;

    fn key() -> SessionKey {
        SessionKey::new(
            PhoneNumber::parse("+15550100001").unwrap(),
            PhoneNumber::parse("+18005550100").unwrap(),
        )
    }

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn chat(contact: &str, expires_at: DateTime<Utc>) -> Chat {
        Chat {
            contact_id: ContactId::new(contact).unwrap(),
            participant_id: ParticipantId::new("p-1").unwrap(),
            participant_token: ParticipantToken::new("pt").unwrap(),
            connection: Connection {
                token: ConnectionToken::new("ct").unwrap(),
                expires_at,
            },
        }
    }

    fn active(contact: &str, now: DateTime<Utc>) -> Session {
        let mut session =
            Session::first(key(), 3, now).activated(chat(contact, now + TimeDelta::days(1)), now);
        session.version = 2;
        session
    }

    fn decide_text(session: Option<&Session>, now: DateTime<Utc>, persistent: bool) -> Decision {
        decide_with(session, Input::Text, now, persistent)
    }

    fn decide_with(
        session: Option<&Session>,
        input: Input,
        now: DateTime<Utc>,
        persistent_chat: bool,
    ) -> Decision {
        let key = key();
        let context = Context {
            key: &key,
            shard: 3,
            now,
            policy: &Policy::default(),
            persistent_chat,
        };
        decide(session, input, &context)
    }

    /// `c-1` ended; the customer's next text started `c-2`; the relay cursor as given.
    fn replaced(cursor: Option<(&str, &str)>) -> Session {
        let first = active("c-1", t(0));
        let mut next = first
            .next_generation(t(100))
            .activated(chat("c-2", t(200)), t(101));
        next.relay_cursor = cursor.map(|(contact, item)| Cursor {
            contact_id: ContactId::new(contact).unwrap(),
            item_id: ItemId::new(item).unwrap(),
        });
        next
    }

    #[test]
    fn the_previous_chat_is_owed_from_where_the_relay_stopped_in_it() {
        let owed = replaced(Some(("c-1", "item-7")))
            .undelivered_previous()
            .unwrap();
        assert_eq!(owed.contact_id.as_str(), "c-1");
        assert_eq!(owed.started_at, t(0), "where its transcript is filed");
        assert_eq!(owed.cursor.unwrap().as_str(), "item-7");
        // Nothing of it delivered (cursor absent or on an older chat): all of it.
        for cursor in [None, Some(("c-0", "item-1"))] {
            let owed = replaced(cursor).undelivered_previous().unwrap();
            assert_eq!(owed.contact_id.as_str(), "c-1");
            assert_eq!(owed.cursor, None);
        }
    }

    #[test]
    fn the_previous_chat_is_not_owed_once_delivered_to_its_end_or_left_behind() {
        // Delivered to its end (closing text sent, or none configured).
        assert_eq!(
            replaced(Some(("c-1", CLOSING_SENT))).undelivered_previous(),
            None
        );
        // The relay writes the current chat's cursor only after the previous one's end.
        assert_eq!(
            replaced(Some(("c-2", "item-1"))).undelivered_previous(),
            None
        );
        // A row from before `previous_started_at` was kept: left alone.
        let mut old = replaced(None);
        old.previous_started_at = None;
        assert_eq!(old.undelivered_previous(), None);
        // No previous chat at all.
        assert_eq!(active("c-1", t(0)).undelivered_previous(), None);
    }

    #[test]
    fn a_chat_that_ended_at_once_is_still_the_previous_one_of_the_next_generation() {
        let mut ended = Session::first(key(), 3, t(0)).next_generation(t(5));
        ended.status = Status::Ended;
        ended.previous_contact_id = Some(ContactId::new("c-1").unwrap());
        ended.previous_started_at = Some(t(5));
        let next = ended
            .next_generation(t(50))
            .activated(chat("c-2", t(99)), t(51));
        let owed = next.undelivered_previous().unwrap();
        assert_eq!((owed.contact_id.as_str(), owed.started_at), ("c-1", t(5)));
    }

    #[test]
    fn first_text_starts_generation_one_on_an_absent_row() {
        let Decision::Start(plan) = decide_text(None, t(0), false) else {
            panic!("expected a start");
        };
        assert_eq!(plan.expected_version, None);
        assert_eq!(plan.row.generation, 1);
        assert_eq!(plan.row.status, Status::Starting);
        assert_eq!(plan.row.shard, 3);
        assert_eq!(plan.client_token, key().start_token(1));
        assert!(!plan.takeover);
    }

    #[test]
    fn text_to_active_chat_is_sent() {
        let session = active("c-1", t(0));
        assert_eq!(
            decide_text(Some(&session), t(10), false),
            Decision::Send {
                contact_id: ContactId::new("c-1").unwrap(),
                refresh_first: false
            }
        );
    }

    #[test]
    fn connection_about_to_expire_is_refreshed_first() {
        let session = active("c-1", t(0));
        let near_expiry = t(0) + TimeDelta::days(1) - TimeDelta::minutes(1);
        assert_eq!(
            decide_text(Some(&session), near_expiry, false),
            Decision::Send {
                contact_id: ContactId::new("c-1").unwrap(),
                refresh_first: true
            }
        );
    }

    #[test]
    fn text_after_ended_chat_starts_next_generation_with_new_token() {
        let mut session = active("c-1", t(0));
        session.status = Status::Ended;
        let Decision::Start(plan) = decide_text(Some(&session), t(100), false) else {
            panic!("expected a start");
        };
        assert_eq!(plan.row.generation, 2);
        assert_eq!(plan.expected_version, Some(2));
        assert_eq!(
            plan.row.previous_contact_id,
            Some(ContactId::new("c-1").unwrap())
        );
        assert_eq!(plan.continue_from, None, "persistent chat is off");
        assert_ne!(plan.client_token, key().start_token(1));
        assert_eq!(plan.row.chat, None);
    }

    #[test]
    fn persistent_chat_continues_from_the_ended_contact() {
        let mut session = active("c-1", t(0));
        session.status = Status::Ended;
        let Decision::Start(plan) = decide_text(Some(&session), t(100), true) else {
            panic!("expected a start");
        };
        assert_eq!(plan.continue_from, Some(ContactId::new("c-1").unwrap()));
    }

    #[test]
    fn fresh_starting_row_makes_the_loser_wait() {
        let session = Session::first(key(), 3, t(0));
        assert_eq!(
            decide_text(Some(&session), t(5), false),
            Decision::AwaitStart
        );
    }

    #[test]
    fn stale_starting_row_is_taken_over_with_the_same_client_token() {
        let mut session = Session::first(key(), 3, t(0));
        session.version = 1;
        let Decision::Start(plan) = decide_text(Some(&session), t(31), false) else {
            panic!("expected a takeover");
        };
        assert!(plan.takeover);
        assert_eq!(plan.row.generation, 1);
        assert_eq!(plan.client_token, key().start_token(1));
        assert_eq!(plan.expected_version, Some(1));
        assert_eq!(plan.row.started_at, t(31));
    }

    #[test]
    fn opt_out_ends_the_active_chat() {
        let session = active("c-1", t(0));
        let decision = decide_with(Some(&session), Input::Keyword(Keyword::OptOut), t(1), false);
        assert_eq!(
            decision,
            Decision::OptOut {
                end: Some(ContactId::new("c-1").unwrap())
            }
        );
        let decision = decide_with(None, Input::Keyword(Keyword::OptOut), t(1), false);
        assert_eq!(decision, Decision::OptOut { end: None });
    }

    #[test]
    fn opted_out_customer_text_is_suppressed_until_opt_in() {
        let session = active("c-1", t(0)).with_opt_out(true, t(1));
        assert_eq!(
            decide_text(Some(&session), t(2), false),
            Decision::SuppressOptedOut
        );
        let decision = decide_with(Some(&session), Input::Keyword(Keyword::OptIn), t(3), false);
        assert_eq!(decision, Decision::OptIn);
        let cleared = session.with_opt_out(false, t(4));
        let yes = decide_with(Some(&cleared), Input::Keyword(Keyword::OptIn), t(5), false);
        assert!(
            matches!(yes, Decision::Send { .. }),
            "YES from a subscribed customer is text: {yes:?}"
        );
        assert!(matches!(
            decide_text(Some(&cleared), t(5), false),
            Decision::Send { .. }
        ));
    }

    #[test]
    fn help_keyword_is_answered_in_any_state() {
        for session in [None, Some(active("c-1", t(0)))] {
            let decision =
                decide_with(session.as_ref(), Input::Keyword(Keyword::Help), t(1), false);
            assert_eq!(decision, Decision::Help);
        }
    }

    #[test]
    fn denied_send_refreshes_once_then_treats_chat_as_ended() {
        assert_eq!(on_denied(false), OnDenied::RefreshAndRetry);
        assert_eq!(on_denied(true), OnDenied::ChatEnded);
        let session = active("c-1", t(0));
        let Decision::Start(plan) = restart_after_end(&session, t(9), true) else {
            panic!("expected a start");
        };
        assert_eq!(plan.row.generation, 2);
        assert_eq!(plan.continue_from, Some(ContactId::new("c-1").unwrap()));
    }

    #[test]
    fn cursor_of_an_earlier_chat_is_ignored() {
        let mut session = active("c-2", t(0));
        session.relay_cursor = Some(Cursor {
            contact_id: ContactId::new("c-1").unwrap(),
            item_id: ItemId::new("i-9").unwrap(),
        });
        assert_eq!(session.cursor_for_current_chat(), None);
        session.relay_cursor = Some(Cursor {
            contact_id: ContactId::new("c-2").unwrap(),
            item_id: ItemId::new("i-3").unwrap(),
        });
        assert_eq!(
            session.cursor_for_current_chat().map(ItemId::as_str),
            Some("i-3")
        );
    }

    #[test]
    fn shard_is_stable_and_in_range() {
        let count = NonZeroU16::new(64).unwrap();
        let shard = key().shard(count);
        assert!(shard < 64);
        assert_eq!(shard, key().shard(count));
        assert_eq!(key().shard(NonZeroU16::new(1).unwrap()), 0);
    }

    #[test]
    fn status_round_trips_through_its_stored_form() {
        for status in [Status::Starting, Status::Active, Status::Ended] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("open"), None);
    }

    fn arb_session() -> impl Strategy<Value = Session> {
        (
            0u8..3,
            1u32..50,
            0u64..100,
            any::<bool>(),
            0i64..200,
            any::<bool>(),
            0i64..200_000,
        )
            .prop_map(
                |(status, generation, version, opted_out, started, has_chat, expiry)| {
                    let mut session = Session::first(key(), 3, t(started));
                    session.status =
                        [Status::Starting, Status::Active, Status::Ended][usize::from(status)];
                    session.generation = generation;
                    session.version = version;
                    session.opted_out = opted_out;
                    if has_chat {
                        session.chat = Some(chat("c-x", t(expiry)));
                    }
                    session
                },
            )
    }

    proptest! {
        /// Whatever the stored state, a text is never dropped silently: it is sent, starts a
        /// chat, waits for one, or is suppressed because the customer opted out.
        #[test]
        fn text_always_has_a_path_to_a_chat(session in arb_session(), now in 0i64..400) {
            let decision = decide_text(Some(&session), t(now), false);
            match decision {
                Decision::Send { .. } => prop_assert!(session.status == Status::Active && !session.opted_out),
                Decision::Start(plan) => {
                    prop_assert!(!session.opted_out);
                    prop_assert_eq!(plan.expected_version, Some(session.version));
                    prop_assert_eq!(plan.row.status, Status::Starting);
                    // A new generation gets a new token; a takeover keeps the old one.
                    let expected_generation = if plan.takeover { session.generation } else { session.generation + 1 };
                    prop_assert_eq!(plan.row.generation, expected_generation);
                    prop_assert_eq!(plan.client_token, key().start_token(expected_generation));
                }
                Decision::AwaitStart => prop_assert_eq!(session.status, Status::Starting),
                Decision::SuppressOptedOut => prop_assert!(session.opted_out),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }

        /// Distinct generations never share a StartChatContact ClientToken.
        #[test]
        fn start_tokens_differ_per_generation(a in 1u32..10_000, b in 1u32..10_000) {
            prop_assume!(a != b);
            prop_assert_ne!(key().start_token(a), key().start_token(b));
        }
    }
}
