//! The ports: what the domain needs from the outside world, as object-safe async traits.
//!
//! Adapters in `bridge-aws` implement them over DynamoDB, SNS and Amazon Connect; the
//! in-memory versions in `crate::testing` (feature `test-support`) serve domain tests. Each trait states its
//! contract (idempotency, what "not found" means, ordering), and every error is typed and
//! answers [`StoreError::is_retriable`] (or its sibling) so entry points can decide between
//! "fail so the platform retries" and "acknowledge and log".
//!
//! The session store is split by capability, as the entry points use them: the inbound
//! Lambda needs [`SessionStore`] and [`DedupeStore`], the relay [`SessionStore`] and
//! [`LeaseStore`].

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{
    ConnectionToken, ContactFlowId, ContactId, InboundMessageId, InstanceId, ItemId, ParticipantId,
    ParticipantToken, SmsMessageId,
};
use crate::menu::MenuChange;
use crate::phone::PhoneNumber;
use crate::session::{Session, SessionKey};

/// The cause of an adapter error, kept whole (never flattened into a string).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

// ---------------------------------------------------------------------------------------
// Session store
// ---------------------------------------------------------------------------------------

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item changed (or appeared) since it was read.
    /// Callers re-read and decide again.
    #[error("conditional write lost: {what}")]
    Conflict {
        /// Which write lost, for logs.
        what: &'static str,
    },
    /// The store is throttling us; retrying later can succeed.
    #[error("store throttled the request")]
    Throttled(#[source] BoxError),
    /// A network error, timeout or 5xx; retrying can succeed.
    #[error("store unavailable")]
    Transient(#[source] BoxError),
    /// A stored item could not be understood (missing or malformed attribute).
    #[error("stored item {key} is corrupt: {problem}")]
    Corrupt {
        /// The item's key (no phone numbers: keys are logged masked by adapters).
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Anything else (misconfiguration, permissions, validation).
    #[error("store request failed")]
    Other(#[source] BoxError),
}

impl StoreError {
    /// Whether retrying the same request later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Throttled(_) | Self::Transient(_) => true,
            Self::Conflict { .. } | Self::Corrupt { .. } | Self::Other(_) => false,
        }
    }
}

/// Sessions: one item per (customer, support number), guarded by an optimistic version.
///
/// Writes are conditional, so two invocations racing on one customer can never both win:
/// the loser gets [`StoreError::Conflict`], re-reads, and decides again.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Reads a session. `Ok(None)` means no session was ever created for this pair
    /// (expired items count as absent).
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError>;

    /// Writes `session` if the stored version is `expected` (`None`: no item may exist),
    /// and returns it with its new version (`expected + 1`, or 1 for a new item).
    ///
    /// Never writes the relay cursor or the menu: they belong to the relay
    /// ([`Self::advance_cursor_and_menu`]).
    /// Maintains the `active_by_shard` index: the session is listed while `starting` or
    /// `active`, and not once `ended`.
    ///
    /// Repeating a put that already applied (the same `session`, with a `writer` id, and
    /// `expected`, as when a
    /// write is resent after a timed-out attempt) returns the stored session, not a
    /// conflict. Only an identical row counts, so two racing writers never both win.
    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError>;

    /// Marks the chat `contact_id` ended, if it is still the session's current chat and not
    /// already ended; returns the updated session. `Ok(None)` when the session has moved on
    /// (another chat, or already ended): nothing to do.
    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;

    /// Records that every transcript item up to and including `item` of chat `contact_id`
    /// was delivered as SMS. A no-op (`Ok(false)`) when `contact_id` is neither the
    /// session's current chat nor its previous one (a chat the customer's next text
    /// replaced is still written to while the relay finishes delivering it).
    async fn advance_cursor(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.advance_cursor_and_menu(key, contact_id, item, &MenuChange::Keep, now)
            .await
    }

    /// [`Self::advance_cursor`], changing the session's open menu in the same write:
    /// [`MenuChange::Open`] stores the menu as chat `contact_id`'s, [`MenuChange::Close`]
    /// removes whatever menu is stored. Only the relay writes the menu, as it does the
    /// cursor. (A late item of a chat the customer's next text replaced may close the
    /// new chat's menu: the customer's answer then goes to the chat as text.)
    async fn advance_cursor_and_menu(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        menu: &MenuChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Lists the `starting` and `active` sessions of one shard (through the sparse
    /// `active_by_shard` index; may lag writes by a moment, as a GSI does).
    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError>;

    /// Reads a session and, where the store can do it in the same round trip, whether the
    /// inbound message `id` was already processed (`Some(processed)`); `None` means the
    /// caller must ask [`DedupeStore::is_processed`] itself.
    ///
    /// The inbound resume path has a budget of three AWS calls (read, SendMessage, marker):
    /// a store that reads both items in one request keeps it there.
    ///
    /// No default body on purpose: a wrapper that forgot to forward this would silently split
    /// the read in two (the CLI's timing wrapper once did).
    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError>;

    /// [`Self::put`] and, in the same atomic write, `marker` ([`DedupeStore::mark_processed`]):
    /// both apply or neither does. The inbound first-text path activates its chat and marks
    /// its text processed in one call, keeping a first text at four AWS calls.
    ///
    /// The returned session carries the relay cursor of `session` as passed in (an atomic
    /// write of two items does not read the row back); everything else is as stored.
    /// Repeating a write that already applied returns the session, as `put` does.
    async fn put_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &Marker,
    ) -> Result<Session, StoreError>;

    /// Marks inbound text `marker` processed ([`DedupeStore::mark_processed`]) after it
    /// reached the session's chat, and records it as the session's latest activity
    /// (`updated_at`, which the row's expiry follows), in one request where the store can,
    /// keeping a resumed text at three AWS calls. After a take-over the relay reconnects
    /// the most recently active chats first, and a text sent while no relay held the
    /// chat's socket is exactly the activity that must count.
    ///
    /// The activity is best effort, the marker is not: when the combined write fails
    /// (the row expired meanwhile, a concurrent write), the marker is written on its own.
    /// No default body, for the reason [`Self::get_with_marker`] gives.
    async fn mark_resumed(&self, key: &SessionKey, marker: &Marker) -> Result<(), StoreError>;
}

/// A dedupe marker to write: "inbound message `id` reached chat `contact_id`".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The inbound message (or `<id>#initial@<contact>` for "part 1 went in as that chat's
    /// InitialMessage").
    pub id: InboundMessageId,
    /// The chat it reached, when there is one.
    pub contact_id: Option<ContactId>,
    /// When it was marked.
    pub at: DateTime<Utc>,
}

/// Inbound dedupe markers: "this SMS already reached Connect".
#[async_trait]
pub trait DedupeStore: Send + Sync {
    /// Whether `id` was marked processed (and the marker has not expired).
    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, StoreError>;

    /// Marks `id` processed. Idempotent: marking twice is not an error.
    async fn mark_processed(
        &self,
        id: &InboundMessageId,
        contact_id: Option<&ContactId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Who holds a lease: one relay instance.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct OwnerId(pub String);

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shard lease as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Lease {
    /// The shard this lease covers.
    pub shard: u16,
    /// The holder.
    pub owner: OwnerId,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Optimistic-lock version.
    pub version: u64,
}

/// Shard leases for relay instances.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Every lease the store holds, in shard order. A lapsed lease stays listed until the
    /// store drops it (a day after it lapsed), so callers compare `expires_at` with their
    /// clock.
    async fn leases(&self) -> Result<Vec<Lease>, StoreError>;

    /// Takes `shard` for `owner` until `expires_at`, if it is free: absent, expired, or the
    /// exact `previous` lease (same version). [`StoreError::Conflict`] otherwise. A repeat
    /// that finds the lease already held by `owner` until `expires_at` returns it.
    async fn acquire(
        &self,
        shard: u16,
        owner: &OwnerId,
        previous: Option<&Lease>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Lease, StoreError>;

    /// Extends a lease we hold; [`StoreError::Conflict`] if it changed hands. A repeat that
    /// finds this very renewal applied (next version, same owner and expiry) returns it.
    async fn renew(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<Lease, StoreError>;

    /// Gives a lease up at once (on shutdown); a lease that changed hands is left alone.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;
}

// ---------------------------------------------------------------------------------------
// Chat API
// ---------------------------------------------------------------------------------------

/// Why a chat API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// 403 AccessDeniedException: the chat ended or the token expired. The caller may
    /// refresh the connection once; if that also fails the chat is over.
    #[error("chat ended or token no longer valid")]
    ChatEnded,
    /// 429: throttled even after the SDK's own retries.
    #[error("chat api throttled the request")]
    Throttled(#[source] BoxError),
    /// 5xx, timeouts, network errors: retrying later can succeed.
    #[error("chat api unavailable")]
    Transient(#[source] BoxError),
    /// 400: the request was invalid (too long, wrong content type, unknown flow).
    #[error("chat api rejected the request as invalid")]
    Invalid(#[source] BoxError),
    /// Anything else (404, permissions on the admin API, unexpected responses).
    #[error("chat api request failed")]
    Other(#[source] BoxError),
}

impl ChatError {
    /// Whether retrying the same request later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Throttled(_) | Self::Transient(_) => true,
            Self::ChatEnded | Self::Invalid(_) | Self::Other(_) => false,
        }
    }
}

/// What StartChatContact needs.
#[derive(Clone, Debug)]
pub struct StartChat {
    /// The Connect instance.
    pub instance_id: InstanceId,
    /// The contact flow of the support number that was texted.
    pub contact_flow_id: ContactFlowId,
    /// Idempotency key: the same token never starts a second chat.
    pub client_token: String,
    /// The customer's display name as agents see it.
    pub display_name: String,
    /// Contact attributes (customer number, support number, channel).
    pub attributes: BTreeMap<String, String>,
    /// The first text, sent as InitialMessage (at most 1024 characters).
    pub initial_message: Option<String>,
    /// Continue the transcript of this ended contact (persistent chat).
    pub continue_from: Option<ContactId>,
    /// ChatDurationInMinutes; `None` for the service default.
    pub duration_minutes: Option<u32>,
    /// `ConnectionTypes`: return the customer's connection in StartChatContact's own
    /// response, so no CreateParticipantConnection is needed (`None`: ask for nothing).
    pub connection: Option<ConnectionKind>,
}

/// What StartChatContact returned.
#[derive(Clone, Debug)]
pub struct StartedChat {
    /// The new contact.
    pub contact_id: ContactId,
    /// The customer participant.
    pub participant_id: ParticipantId,
    /// The customer participant's token (secret).
    pub participant_token: ParticipantToken,
    /// For persistent chats: the contact actually continued from.
    pub continued_from: Option<ContactId>,
    /// The customer's connection, when [`StartChat::connection`] asked for it and Connect
    /// returned it. A replayed start (same ClientToken) of a chat that has ended may come
    /// back without it: callers fall back to CreateParticipantConnection.
    pub connected: Connected,
}

/// Which connection kinds CreateParticipantConnection should return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionKind {
    /// A connection token only (the inbound Lambda sends messages with it).
    Credentials,
    /// A WebSocket URL only (the relay listens on it).
    Websocket,
    /// Both.
    Both,
}

/// A connection token and its expiry (defined with the session, which stores it).
pub use crate::session::Connection;

/// A participant WebSocket URL: single use, to be opened before `connect_by`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebsocketUrl {
    /// The URL. It authorises whoever holds it: treat as secret.
    pub url: String,
    /// Open it before this time.
    pub connect_by: DateTime<Utc>,
}

impl fmt::Debug for WebsocketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebsocketUrl")
            .field("url", &"<redacted>")
            .field("connect_by", &self.connect_by)
            .finish()
    }
}

/// What CreateParticipantConnection returned.
#[derive(Clone, Debug, Default)]
pub struct Connected {
    /// Present when credentials were asked for.
    pub connection: Option<Connection>,
    /// Present when a WebSocket was asked for.
    pub websocket: Option<WebsocketUrl>,
}

/// What SendMessage returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The transcript item id of the message.
    pub id: ItemId,
    /// Its AbsoluteTime as Connect wrote it.
    pub absolute_time: String,
}

/// Who wrote a transcript item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The customer (our own messages, echoed back).
    Customer,
    /// A human agent.
    Agent,
    /// The system (flows, automatic messages).
    System,
    /// A bot added with CreateParticipant.
    CustomBot,
    /// A supervisor who barged in.
    Supervisor,
    /// A role this version does not know.
    Unknown(String),
}

impl Role {
    /// Maps the wire value (`AGENT`, `CUSTOMER`, …).
    pub fn from_wire(value: &str) -> Self {
        match value {
            "CUSTOMER" => Self::Customer,
            "AGENT" => Self::Agent,
            "SYSTEM" => Self::System,
            "CUSTOM_BOT" => Self::CustomBot,
            "SUPERVISOR" => Self::Supervisor,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

/// The kind of a transcript item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// A chat message.
    Message,
    /// An event (joined, left, ended, typing…), told apart by content type.
    Event,
    /// An attachment.
    Attachment,
    /// Receipts and anything else.
    Other(String),
}

impl ItemKind {
    /// Maps the wire value of `Type`.
    pub fn from_wire(value: &str) -> Self {
        match value {
            "MESSAGE" => Self::Message,
            "EVENT" => Self::Event,
            "ATTACHMENT" => Self::Attachment,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One transcript item, as the relay needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptItem {
    /// Unique id.
    pub id: ItemId,
    /// Message, event, attachment…
    pub kind: ItemKind,
    /// The content type (`text/plain`, `…event.chat.ended`…).
    pub content_type: String,
    /// The content, when the item has one.
    pub content: Option<String>,
    /// The author's role, when known.
    pub role: Option<Role>,
    /// The author's display name.
    pub display_name: Option<String>,
    /// AbsoluteTime as sent by Connect (ISO 8601, ms, `Z`).
    pub absolute_time: String,
    /// The contact the item belongs to (absent on items of past, persistent chats).
    pub contact_id: Option<ContactId>,
    /// Set on items of a *past* chat of a persistent chat's history (`RelatedContactId`):
    /// they were another contact's, and are never this chat's to relay or match.
    pub related_contact_id: Option<ContactId>,
    /// Names of attachments, if any.
    pub attachment_names: Vec<String>,
}

/// Where a transcript page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptStart {
    /// From the oldest item, forwards.
    Oldest,
    /// From this item (inclusive), forwards.
    FromItem(ItemId),
}

/// One GetTranscript page.
#[derive(Clone, Debug, Default)]
pub struct TranscriptPage {
    /// Items in ascending order.
    pub items: Vec<TranscriptItem>,
    /// Token for the next page, when more items exist.
    pub next_token: Option<String>,
}

/// Whether CreateParticipantConnection also joins the customer to the chat
/// (`ConnectParticipant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectParticipant {
    /// The customer joins with this connection: a chat just started whose start did not
    /// return the customer's connection.
    Join,
    /// A further connection for a customer already in the chat (a refresh, the relay's
    /// socket).
    AlreadyJoined,
}

/// Amazon Connect's StartChatContact: opening a chat (the inbound side).
#[async_trait]
pub trait ChatStarter: Send + Sync {
    /// StartChatContact. Idempotent on `client_token`: a repeat returns the same chat.
    async fn start_chat(&self, request: &StartChat) -> Result<StartedChat, ChatError>;
}

/// A customer participant's connections and transcript (the Participant Service): what
/// the relay needs to follow a chat.
#[async_trait]
pub trait ChatReader: Send + Sync {
    /// CreateParticipantConnection.
    async fn create_connection(
        &self,
        token: &ParticipantToken,
        kind: ConnectionKind,
        participant: ConnectParticipant,
    ) -> Result<Connected, ChatError>;

    /// One page of GetTranscript, in ascending order, scanning forwards from `start`
    /// (or continuing from `next_token`).
    async fn get_transcript(
        &self,
        token: &ConnectionToken,
        start: &TranscriptStart,
        next_token: Option<&str>,
    ) -> Result<TranscriptPage, ChatError>;
}

/// Writing into a chat as its customer (the Participant Service): the inbound side's
/// texts, receipts and opt-outs.
#[async_trait]
pub trait ChatWriter: Send + Sync {
    /// SendMessage (`text/plain`). Idempotent on `client_token`.
    async fn send_message(
        &self,
        token: &ConnectionToken,
        content: &str,
        client_token: &str,
    ) -> Result<SentMessage, ChatError>;

    /// SendEvent (receipts). Idempotent on `client_token`.
    async fn send_event(
        &self,
        token: &ConnectionToken,
        content_type: &str,
        content: Option<&str>,
        client_token: &str,
    ) -> Result<(), ChatError>;

    /// DisconnectParticipant: the customer leaves, which ends the chat.
    async fn disconnect(
        &self,
        token: &ConnectionToken,
        client_token: &str,
    ) -> Result<(), ChatError>;
}

/// Every chat operation the inbound handler performs: starting, connecting, reading and
/// writing. Anything that is all three is one.
pub trait ChatApi: ChatStarter + ChatReader + ChatWriter {}

impl<T: ChatStarter + ChatReader + ChatWriter + ?Sized> ChatApi for T {}

/// The customer's chat timers on one chat (Connect's UpdateParticipantRoleConfig, role
/// CUSTOMER): they run while an agent is in the chat, and restart at each customer text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleTimers {
    /// Minutes without a customer text before Connect marks the customer idle (the
    /// `IDLE` timer); `None`: no such timer.
    pub idle: Option<u16>,
    /// Minutes before Connect disconnects the agent for the customer's idleness (the
    /// `DISCONNECT_NONCUSTOMER` timer), counted from the idle mark when [`Self::idle`] is
    /// set, else from the last text; `None`: no such timer.
    pub disconnect: Option<u16>,
}

impl IdleTimers {
    /// Shortest timer Connect accepts, minutes.
    pub const MIN_MINUTES: u16 = 2;
    /// Longest timer Connect accepts, minutes (8 hours).
    pub const MAX_MINUTES: u16 = 480;
}

/// Connect's chat timers (the admin API's UpdateParticipantRoleConfig). Only the relay
/// uses it, once for each new chat; apart from the chat ports so no other caller sees it.
#[async_trait]
pub trait ChatTimers: Send + Sync {
    /// Sets the customer's timers on `contact_id`. Setting the same timers again is
    /// harmless. Connect applies timers set while an agent is already in the chat only
    /// from the next agent on.
    async fn set_customer_timers(
        &self,
        instance_id: &InstanceId,
        contact_id: &ContactId,
        timers: IdleTimers,
    ) -> Result<(), ChatError>;
}

/// Transcripts of ended chats, as Connect archives them when a chat ends (the instance's
/// "chat transcripts" S3 storage). The relay reads one when a chat ended while it held no
/// socket and no connection token could read the transcript any more.
#[async_trait]
pub trait TranscriptArchive: Send + Sync {
    /// The transcript of the ended chat `contact_id`, which started at `started`, oldest
    /// item first. `Ok(None)` when it is not there (yet: Connect writes it some tens of
    /// seconds after the chat ended).
    async fn transcript(
        &self,
        contact_id: &ContactId,
        started: DateTime<Utc>,
    ) -> Result<Option<Vec<TranscriptItem>>, StoreError>;
}

// ---------------------------------------------------------------------------------------
// SMS
// ---------------------------------------------------------------------------------------

/// Why an SMS could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The destination opted out: the message will never be delivered.
    #[error("destination opted out of sms")]
    OptedOut,
    /// Throttled; retrying later can succeed.
    #[error("sms sending throttled")]
    Throttled(#[source] BoxError),
    /// Network error, timeout or 5xx; retrying later can succeed.
    #[error("sms service unavailable")]
    Transient(#[source] BoxError),
    /// The request was invalid (bad number, body too long).
    #[error("sms request rejected as invalid")]
    Invalid(#[source] BoxError),
    /// Anything else.
    #[error("sms request failed")]
    Other(#[source] BoxError),
}

impl SmsError {
    /// Whether this message can never be delivered as it is, to this number: the number
    /// opted out, or the request was refused as invalid (a bad destination number or
    /// content). Only such a message may be skipped. Everything else (throttling, an
    /// outage, an account-level refusal: permissions, KMS, credentials) can pass, and the
    /// message must wait for it rather than be lost.
    pub fn is_undeliverable(&self) -> bool {
        matches!(self, Self::OptedOut | Self::Invalid(_))
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Throttled(_) | Self::Transient(_) => true,
            Self::OptedOut | Self::Invalid(_) | Self::Other(_) => false,
        }
    }
}

/// Sends one SMS.
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends `body` (one SMS part, at most 1600 characters) to `to` from the support number
    /// `from`, so the reply comes from the number the customer texted. Not idempotent:
    /// callers retry only what they must, and accept a rare duplicate over a loss.
    async fn send(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError>;

    /// [`Self::send`] for one part of a chat message: a sender whose service reports
    /// deliveries (End User Messaging) sends `tag` along, so the delivery event names the
    /// message; others ignore it.
    async fn send_tagged(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
        tag: &DeliveryTag,
    ) -> Result<SmsMessageId, SmsError> {
        let _ = tag;
        self.send(to, from, body).await
    }
}

/// Which chat message an SMS part carries ([`SmsSender::send_tagged`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryTag {
    /// The chat.
    pub contact_id: ContactId,
    /// The agent's (or bot's) message.
    pub item_id: ItemId,
    /// This part's number, from 1.
    pub part: usize,
    /// How many parts the message went out in.
    pub parts: usize,
}

// ---------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------

/// The time, from outside the domain so tests control it.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
