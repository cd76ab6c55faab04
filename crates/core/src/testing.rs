//! In-memory implementations of the ports, for domain tests (feature `test-support`).
//!
//! They follow the ports' contracts (conditional writes, versions, the live-session index)
//! so the entry points' logic can be tested fast and deterministically. They are never the
//! only test of an adapter: `bridge-aws` is tested against the real emulators.
//!
//! The std `Mutex` is right here: no guard is held across an `.await`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::ids::{
    ConnectionToken, ContactId, InboundMessageId, ItemId, ParticipantId, ParticipantToken,
    SmsMessageId,
};
use crate::menu::{Menu, MenuChange};
use crate::phone::PhoneNumber;
use crate::ports::{
    ChatError, ChatReader, ChatStarter, ChatWriter, Clock, ConnectParticipant, Connected,
    Connection, ConnectionKind, DedupeStore, ItemKind, Lease, LeaseStore, Marker, OwnerId, Role,
    SentMessage, SessionStore, SmsError, SmsSender, StartChat, StartedChat, StoreError,
    TranscriptItem, TranscriptPage, TranscriptStart, WebsocketUrl,
};
use crate::segment::CONNECT_MESSAGE_MAX_CHARS;
use crate::session::{Cursor, Session, SessionKey, Status};

/// Sessions, dedupe markers and leases in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<Sessions>,
    processed: Mutex<HashMap<InboundMessageId, Option<ContactId>>>,
    leases: Mutex<HashMap<u16, Lease>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every session, for assertions.
    pub fn sessions(&self) -> Vec<Session> {
        self.sessions
            .lock()
            .unwrap()
            .rows
            .values()
            .cloned()
            .collect()
    }
}

/// The session rows, and the keys of each shard's rows: like the `active_by_shard` index,
/// listing a shard costs that shard's rows, not the table's (the relay benchmark keeps
/// 10,000 sessions here and lists every shard every second).
#[derive(Debug, Default)]
struct Sessions {
    rows: HashMap<SessionKey, Session>,
    by_shard: HashMap<u16, HashSet<SessionKey>>,
}

impl Sessions {
    fn insert(&mut self, session: Session) {
        let moved_from = self
            .rows
            .get(&session.key)
            .map(|old| old.shard)
            .filter(|&shard| shard != session.shard);
        if let Some(keys) = moved_from.and_then(|shard| self.by_shard.get_mut(&shard)) {
            keys.remove(&session.key);
        }
        self.by_shard
            .entry(session.shard)
            .or_default()
            .insert(session.key.clone());
        self.rows.insert(session.key.clone(), session);
    }
}

/// The conditional session write of [`SessionStore::put`].
fn put_row(
    sessions: &mut Sessions,
    session: &Session,
    expected: Option<u64>,
) -> Result<Session, StoreError> {
    let stored = sessions.rows.get(&session.key);
    let mut next = session.clone();
    next.version = expected.map_or(1, |v| v + 1);
    // The relay owns the cursor and the menu: keep what is stored.
    next.relay_cursor = stored.and_then(|s| s.relay_cursor.clone());
    next.menu = stored.and_then(|s| s.menu.clone());
    if stored.map(|s| s.version) != expected {
        // A repeat of the write that made the stored row is not a conflict.
        return match stored {
            Some(stored) if session.writer.is_some() && *stored == next => Ok(next),
            _ => Err(StoreError::Conflict {
                what: "session put",
            }),
        };
    }
    sessions.insert(next.clone());
    Ok(next)
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        Ok(self.sessions.lock().unwrap().rows.get(key).cloned())
    }

    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        put_row(&mut self.sessions.lock().unwrap(), session, expected)
    }

    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError> {
        let session = self.sessions.lock().unwrap().rows.get(key).cloned();
        let processed = self.processed.lock().unwrap().contains_key(id);
        Ok((session, Some(processed)))
    }

    async fn put_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &Marker,
    ) -> Result<Session, StoreError> {
        // Both locks for the whole write, sessions first (the order everywhere), so no
        // reader sees the row without its marker.
        let mut sessions = self.sessions.lock().unwrap();
        let mut processed = self.processed.lock().unwrap();
        let stored = put_row(&mut sessions, session, expected)?;
        processed.insert(marker.id.clone(), marker.contact_id.clone());
        Ok(stored)
    }

    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let mut sessions = self.sessions.lock().unwrap();
        let Some(session) = sessions.rows.get_mut(key) else {
            return Ok(None);
        };
        if session.status == Status::Ended || session.contact_id() != Some(contact_id) {
            return Ok(None);
        }
        session.status = Status::Ended;
        session.version += 1;
        session.updated_at = now;
        Ok(Some(session.clone()))
    }

    async fn advance_cursor_and_menu(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        menu: &MenuChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut sessions = self.sessions.lock().unwrap();
        let Some(session) = sessions.rows.get_mut(key) else {
            return Ok(false);
        };
        if session.contact_id() != Some(contact_id)
            && session.previous_contact_id.as_ref() != Some(contact_id)
        {
            return Ok(false);
        }
        session.relay_cursor = Some(Cursor {
            contact_id: contact_id.clone(),
            item_id: item.clone(),
        });
        match menu {
            MenuChange::Keep => {}
            MenuChange::Open(options) => {
                session.menu = Some(Menu {
                    contact_id: contact_id.clone(),
                    options: options.clone(),
                });
            }
            MenuChange::Close => session.menu = None,
        }
        session.updated_at = now;
        Ok(true)
    }

    async fn mark_resumed(&self, key: &SessionKey, marker: &Marker) -> Result<(), StoreError> {
        if let Some(row) = self.sessions.lock().unwrap().rows.get_mut(key)
            && row.contact_id() == marker.contact_id.as_ref()
        {
            row.updated_at = marker.at;
        }
        self.mark_processed(&marker.id, marker.contact_id.as_ref(), marker.at)
            .await
    }

    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        let sessions = self.sessions.lock().unwrap();
        Ok(sessions
            .by_shard
            .get(&shard)
            .into_iter()
            .flatten()
            .filter_map(|key| sessions.rows.get(key))
            .filter(|s| s.status.is_live())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DedupeStore for MemoryStore {
    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, StoreError> {
        Ok(self.processed.lock().unwrap().contains_key(id))
    }

    async fn mark_processed(
        &self,
        id: &InboundMessageId,
        contact_id: Option<&ContactId>,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.processed
            .lock()
            .unwrap()
            .insert(id.clone(), contact_id.cloned());
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(self.leases.lock().unwrap().values().cloned().collect())
    }

    async fn acquire(
        &self,
        shard: u16,
        owner: &OwnerId,
        previous: Option<&Lease>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Lease, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        let version = match leases.get(&shard) {
            None => 1,
            Some(stored) if stored.expires_at <= now || Some(stored) == previous => {
                stored.version + 1
            }
            // A repeat of the acquire that made the stored lease.
            Some(stored) if stored.owner == *owner && stored.expires_at == expires_at => {
                return Ok(stored.clone());
            }
            Some(_) => {
                return Err(StoreError::Conflict {
                    what: "lease acquire",
                });
            }
        };
        let lease = Lease {
            shard,
            owner: owner.clone(),
            expires_at,
            version,
        };
        leases.insert(shard, lease.clone());
        Ok(lease)
    }

    async fn renew(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<Lease, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        match leases.get(&lease.shard) {
            Some(stored) if stored == lease => {
                let renewed = Lease {
                    expires_at,
                    version: lease.version + 1,
                    ..lease.clone()
                };
                leases.insert(lease.shard, renewed.clone());
                Ok(renewed)
            }
            // A repeat of this very renewal.
            Some(stored)
                if stored.owner == lease.owner
                    && stored.version == lease.version + 1
                    && stored.expires_at == expires_at =>
            {
                Ok(stored.clone())
            }
            _ => Err(StoreError::Conflict {
                what: "lease renew",
            }),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap();
        if leases.get(&lease.shard) == Some(lease) {
            leases.remove(&lease.shard);
        }
        Ok(())
    }
}

/// One SMS a [`RecordingSms`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentSms {
    /// Destination.
    pub to: PhoneNumber,
    /// Origination (support number).
    pub from: PhoneNumber,
    /// Text.
    pub body: String,
}

/// An [`SmsSender`] that records what it was asked to send.
#[derive(Debug, Default)]
pub struct RecordingSms {
    sent: Mutex<Vec<SentSms>>,
    next_id: AtomicU64,
}

impl RecordingSms {
    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<SentSms> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl SmsSender for RecordingSms {
    async fn send(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError> {
        self.sent.lock().unwrap().push(SentSms {
            to: to.clone(),
            from: from.clone(),
            body: body.to_owned(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(SmsMessageId::new(format!("sms-{id}")).unwrap())
    }
}

/// A clock that moves only when told.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: TimeDelta) {
        *self.now.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Chat
// ---------------------------------------------------------------------------------------

/// A chat port call, for failure injection and call counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatOp {
    /// [`ChatStarter::start_chat`].
    StartChat,
    /// [`ChatReader::create_connection`].
    CreateConnection,
    /// [`ChatWriter::send_message`].
    SendMessage,
    /// [`ChatWriter::send_event`].
    SendEvent,
    /// [`ChatReader::get_transcript`].
    GetTranscript,
    /// [`ChatWriter::disconnect`].
    Disconnect,
}

/// A failure [`FakeChat`] can be told to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 403 AccessDeniedException: [`ChatError::ChatEnded`].
    Denied,
    /// 429: [`ChatError::Throttled`].
    Throttled,
    /// 5xx or timeout: [`ChatError::Transient`].
    Transient,
    /// 400: [`ChatError::Invalid`].
    Invalid,
    /// Anything else: [`ChatError::Other`].
    Other,
}

impl Failure {
    fn to_error(self, op: ChatOp) -> ChatError {
        let cause = || -> crate::ports::BoxError { format!("injected failure in {op:?}").into() };
        match self {
            Self::Denied => ChatError::ChatEnded,
            Self::Throttled => ChatError::Throttled(cause()),
            Self::Transient => ChatError::Transient(cause()),
            Self::Invalid => ChatError::Invalid(cause()),
            Self::Other => ChatError::Other(cause()),
        }
    }
}

/// One injected failure: answer the next call of an operation with `failure`, either
/// instead of doing it or after doing it (the response was lost on the way back).
#[derive(Clone, Copy, Debug)]
struct Injected {
    failure: Failure,
    after_effect: bool,
}

/// A chat message in a [`FakeChat`] transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMessage {
    /// The transcript item id.
    pub id: ItemId,
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
}

/// A contact as [`FakeChat`] holds it.
#[derive(Clone, Debug)]
pub struct FakeContact {
    /// The contact.
    pub contact_id: ContactId,
    /// The customer participant.
    pub participant_id: ParticipantId,
    /// The StartChatContact request that created it (attributes, InitialMessage, flow…).
    pub request: StartChat,
    /// The ended contact it continues (persistent chat).
    pub continued_from: Option<ContactId>,
    /// Messages in order; the InitialMessage, when given, is the first.
    pub messages: Vec<FakeMessage>,
    /// Whether CreateParticipantConnection was called with `connect_participant`.
    pub customer_connected: bool,
    /// Whether the chat ended.
    pub ended: bool,
    /// Events the customer sent (SendEvent), as `(content type, content)`, once per
    /// ClientToken.
    pub events: Vec<(String, Option<String>)>,
}

impl FakeContact {
    /// The customer's messages, in order.
    pub fn customer_texts(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|message| message.role == Role::Customer)
            .map(|message| message.content.clone())
            .collect()
    }
}

#[derive(Debug, Default)]
struct ChatState {
    contacts: Vec<FakeContact>,
    /// Participant token → contact index.
    participants: HashMap<String, usize>,
    /// Connection token → (contact index, expiry).
    connections: HashMap<String, (usize, DateTime<Utc>)>,
    /// StartChatContact ClientToken → the response it gave.
    starts: HashMap<String, StartedChat>,
    /// (contact index, operation, ClientToken) → SendMessage response.
    messages: HashMap<(usize, ChatOp, String), SentMessage>,
    failures: HashMap<ChatOp, VecDeque<Injected>>,
    calls: HashMap<ChatOp, usize>,
    next_id: u64,
    /// How many of the next new chats the contact flow ends at once.
    end_at_once: usize,
}

impl ChatState {
    fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Counts the call and takes its injected failure, if any.
    fn enter(&mut self, op: ChatOp) -> Option<Injected> {
        *self.calls.entry(op).or_default() += 1;
        self.failures.get_mut(&op).and_then(VecDeque::pop_front)
    }

    /// The live contact a connection token belongs to.
    fn connection(&self, token: &ConnectionToken, now: DateTime<Utc>) -> Result<usize, ChatError> {
        match self.connections.get(token.expose()) {
            Some(&(index, expires_at)) if now < expires_at && !self.contacts[index].ended => {
                Ok(index)
            }
            _ => Err(ChatError::ChatEnded),
        }
    }

    /// A connection of `kind` for the customer of contact `index`, as CreateParticipantConnection
    /// (or StartChatContact's `ConnectionTypes`) issues it.
    fn issue(
        &mut self,
        index: usize,
        kind: ConnectionKind,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Connected {
        let mut connected = Connected::default();
        if matches!(kind, ConnectionKind::Credentials | ConnectionKind::Both) {
            let issued = ConnectionToken::new(self.next_id("ctoken")).unwrap();
            let expires_at = now + ttl;
            self.connections
                .insert(issued.expose().to_owned(), (index, expires_at));
            connected.connection = Some(Connection {
                token: issued,
                expires_at,
            });
        }
        if matches!(kind, ConnectionKind::Websocket | ConnectionKind::Both) {
            connected.websocket = Some(WebsocketUrl {
                url: format!("ws://127.0.0.1:1/ws/{}", self.next_id("socket")),
                connect_by: now + TimeDelta::seconds(100),
            });
        }
        connected
    }

    fn push_message(&mut self, index: usize, role: Role, content: &str) -> ItemId {
        let id = ItemId::new(self.next_id("item")).unwrap();
        self.contacts[index].messages.push(FakeMessage {
            id: id.clone(),
            role,
            content: content.to_owned(),
        });
        id
    }
}

/// An in-memory Amazon Connect chat for domain tests.
///
/// It keeps the service's contract as the bridge relies on it (docs/connect-chat.md):
/// StartChatContact and SendMessage are idempotent on their ClientToken; a connection token
/// expires after a lifetime measured on the shared [`Clock`]; every participant call on an
/// ended chat answers 403 ([`ChatError::ChatEnded`]); persistent chat needs an ended source
/// contact. Failures can be queued per operation, before or after the call takes effect.
/// It is not the test of the real adapter, which runs against connect-sim.
pub struct FakeChat {
    clock: Arc<dyn Clock>,
    connection_ttl: TimeDelta,
    state: Mutex<ChatState>,
}

impl std::fmt::Debug for FakeChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeChat")
            .field("connection_ttl", &self.connection_ttl)
            .finish_non_exhaustive()
    }
}

impl FakeChat {
    /// A fake with no contacts whose connection tokens live one day, as Connect's do.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            connection_ttl: TimeDelta::days(1),
            state: Mutex::new(ChatState::default()),
        }
    }

    /// Sets how long connection tokens stay valid.
    pub fn with_connection_ttl(mut self, ttl: TimeDelta) -> Self {
        self.connection_ttl = ttl;
        self
    }

    /// The next call of `op` fails with `failure` and has no effect.
    pub fn fail_next(&self, op: ChatOp, failure: Failure) {
        self.inject(op, failure, false);
    }

    /// The next new chat is ended by its contact flow as soon as StartChatContact has
    /// answered (an out-of-hours flow that disconnects at once).
    pub fn end_next_chat_at_once(&self) {
        self.state.lock().unwrap().end_at_once += 1;
    }

    /// The next call of `op` takes effect, then fails with `failure`, as when the response
    /// is lost on the way back.
    pub fn fail_next_after_effect(&self, op: ChatOp, failure: Failure) {
        self.inject(op, failure, true);
    }

    fn inject(&self, op: ChatOp, failure: Failure, after_effect: bool) {
        self.state
            .lock()
            .unwrap()
            .failures
            .entry(op)
            .or_default()
            .push_back(Injected {
                failure,
                after_effect,
            });
    }

    /// How many times `op` was called (failed calls included).
    pub fn calls(&self, op: ChatOp) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(&op)
            .copied()
            .unwrap_or(0)
    }

    /// Every contact, in the order they were started.
    pub fn contacts(&self) -> Vec<FakeContact> {
        self.state.lock().unwrap().contacts.clone()
    }

    /// One contact.
    pub fn contact(&self, contact_id: &ContactId) -> Option<FakeContact> {
        self.state
            .lock()
            .unwrap()
            .contacts
            .iter()
            .find(|contact| &contact.contact_id == contact_id)
            .cloned()
    }

    /// Ends a chat from the agent's side; returns whether it existed.
    pub fn end_contact(&self, contact_id: &ContactId) -> bool {
        let mut state = self.state.lock().unwrap();
        match state
            .contacts
            .iter_mut()
            .find(|contact| &contact.contact_id == contact_id)
        {
            Some(contact) => {
                contact.ended = true;
                true
            }
            None => false,
        }
    }

    /// Posts a message as the agent; `None` when the contact is unknown or ended.
    pub fn agent_message(&self, contact_id: &ContactId, content: &str) -> Option<ItemId> {
        let mut state = self.state.lock().unwrap();
        let index = state
            .contacts
            .iter()
            .position(|contact| &contact.contact_id == contact_id && !contact.ended)?;
        Some(state.push_message(index, Role::Agent, content))
    }

    /// Runs `effect` for `op` with failure injection and call counting around it.
    fn call<T>(
        &self,
        op: ChatOp,
        effect: impl FnOnce(&mut ChatState, DateTime<Utc>) -> Result<T, ChatError>,
    ) -> Result<T, ChatError> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap();
        let injected = state.enter(op);
        match injected {
            Some(Injected {
                failure,
                after_effect: false,
            }) => Err(failure.to_error(op)),
            Some(Injected {
                failure,
                after_effect: true,
            }) => effect(&mut state, now).and(Err(failure.to_error(op))),
            None => effect(&mut state, now),
        }
    }
}

fn check_content(content: &str) -> Result<(), ChatError> {
    let chars = content.chars().count();
    if chars == 0 || chars > CONNECT_MESSAGE_MAX_CHARS {
        return Err(ChatError::Invalid(
            format!("content must be 1 to {CONNECT_MESSAGE_MAX_CHARS} characters, got {chars}")
                .into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl ChatStarter for FakeChat {
    async fn start_chat(&self, request: &StartChat) -> Result<StartedChat, ChatError> {
        let ttl = self.connection_ttl;
        self.call(ChatOp::StartChat, |state, now| {
            if let Some(started) = state.starts.get(&request.client_token) {
                // A replay repeats the original answer; Connect may leave the connection
                // out once the chat has ended (the API reference says so of the websocket;
                // the fake drops both, the harder case for callers).
                let ended = state
                    .contacts
                    .iter()
                    .any(|contact| contact.contact_id == started.contact_id && contact.ended);
                let mut replayed = started.clone();
                if ended {
                    replayed.connected = Connected::default();
                }
                return Ok(replayed);
            }
            if let Some(message) = &request.initial_message {
                check_content(message)?;
            }
            let continued_from = match &request.continue_from {
                Some(source) => {
                    let ended = state
                        .contacts
                        .iter()
                        .any(|contact| &contact.contact_id == source && contact.ended);
                    if !ended {
                        return Err(ChatError::Invalid(
                            "persistent chat source is unknown or not ended".into(),
                        ));
                    }
                    Some(source.clone())
                }
                None => None,
            };
            let contact_id = ContactId::new(state.next_id("contact")).unwrap();
            let participant_id = ParticipantId::new(state.next_id("participant")).unwrap();
            let participant_token = ParticipantToken::new(state.next_id("ptoken")).unwrap();
            let index = state.contacts.len();
            state.contacts.push(FakeContact {
                contact_id: contact_id.clone(),
                participant_id: participant_id.clone(),
                request: request.clone(),
                continued_from: continued_from.clone(),
                messages: Vec::new(),
                customer_connected: false,
                ended: false,
                events: Vec::new(),
            });
            if let Some(message) = &request.initial_message {
                state.push_message(index, Role::Customer, message);
            }
            state
                .participants
                .insert(participant_token.expose().to_owned(), index);
            let connected = match request.connection {
                Some(kind) => {
                    state.contacts[index].customer_connected = true;
                    state.issue(index, kind, now, ttl)
                }
                None => Connected::default(),
            };
            let started = StartedChat {
                contact_id,
                participant_id,
                participant_token,
                continued_from,
                connected,
            };
            state
                .starts
                .insert(request.client_token.clone(), started.clone());
            if state.end_at_once > 0 {
                state.end_at_once -= 1;
                state.contacts[index].ended = true;
            }
            Ok(started)
        })
    }
}

#[async_trait]
impl ChatReader for FakeChat {
    async fn create_connection(
        &self,
        token: &ParticipantToken,
        kind: ConnectionKind,
        joining: ConnectParticipant,
    ) -> Result<Connected, ChatError> {
        let ttl = self.connection_ttl;
        self.call(ChatOp::CreateConnection, |state, now| {
            let index = match state.participants.get(token.expose()) {
                Some(&index) if !state.contacts[index].ended => index,
                _ => return Err(ChatError::ChatEnded),
            };
            if joining == ConnectParticipant::Join {
                state.contacts[index].customer_connected = true;
            }
            Ok(state.issue(index, kind, now, ttl))
        })
    }

    async fn get_transcript(
        &self,
        token: &ConnectionToken,
        _start: &TranscriptStart,
        _next_token: Option<&str>,
    ) -> Result<TranscriptPage, ChatError> {
        self.call(ChatOp::GetTranscript, |state, now| {
            let index = state.connection(token, now)?;
            let contact = &state.contacts[index];
            let items = contact
                .messages
                .iter()
                .map(|message| TranscriptItem {
                    id: message.id.clone(),
                    kind: ItemKind::Message,
                    content_type: "text/plain".to_owned(),
                    content: Some(message.content.clone()),
                    role: Some(message.role.clone()),
                    display_name: None,
                    absolute_time: now.to_rfc3339(),
                    contact_id: Some(contact.contact_id.clone()),
                    related_contact_id: None,
                    attachment_names: Vec::new(),
                })
                .collect();
            Ok(TranscriptPage {
                items,
                next_token: None,
            })
        })
    }
}

#[async_trait]
impl ChatWriter for FakeChat {
    async fn send_message(
        &self,
        token: &ConnectionToken,
        content: &str,
        client_token: &str,
    ) -> Result<SentMessage, ChatError> {
        self.call(ChatOp::SendMessage, |state, now| {
            let index = state.connection(token, now)?;
            let key = (index, ChatOp::SendMessage, client_token.to_owned());
            if let Some(sent) = state.messages.get(&key) {
                return Ok(sent.clone());
            }
            check_content(content)?;
            let id = state.push_message(index, Role::Customer, content);
            let sent = SentMessage {
                id,
                absolute_time: now.to_rfc3339(),
            };
            state.messages.insert(key, sent.clone());
            Ok(sent)
        })
    }

    async fn send_event(
        &self,
        token: &ConnectionToken,
        content_type: &str,
        content: Option<&str>,
        client_token: &str,
    ) -> Result<(), ChatError> {
        self.call(ChatOp::SendEvent, |state, now| {
            let index = state.connection(token, now)?;
            let key = (index, ChatOp::SendEvent, client_token.to_owned());
            if state.messages.contains_key(&key) {
                return Ok(());
            }
            let receipt = SentMessage {
                id: ItemId::new(state.next_id("event")).unwrap(),
                absolute_time: now.to_rfc3339(),
            };
            state.messages.insert(key, receipt);
            state.contacts[index]
                .events
                .push((content_type.to_owned(), content.map(str::to_owned)));
            Ok(())
        })
    }

    async fn disconnect(
        &self,
        token: &ConnectionToken,
        _client_token: &str,
    ) -> Result<(), ChatError> {
        self.call(ChatOp::Disconnect, |state, now| {
            let index = state.connection(token, now)?;
            state.contacts[index].ended = true;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstanceId;
    use crate::ids::{ConnectionToken, ParticipantId, ParticipantToken};
    use crate::ports::Connection;
    use crate::session::Chat;

    fn key() -> SessionKey {
        SessionKey::new(
            PhoneNumber::parse("+15550100002").unwrap(),
            PhoneNumber::parse("+18005550100").unwrap(),
        )
    }

    fn chat(contact: &str) -> Chat {
        Chat {
            contact_id: ContactId::new(contact).unwrap(),
            participant_id: ParticipantId::new("p").unwrap(),
            participant_token: ParticipantToken::new("pt").unwrap(),
            connection: Connection {
                token: ConnectionToken::new("ct").unwrap(),
                expires_at: Utc::now(),
            },
        }
    }

    /// Runs a future to completion on the current thread (the store never awaits).
    fn block<F: std::future::Future>(future: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }

    #[test]
    fn only_one_of_two_racing_creates_wins() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = Session {
            writer: Some("w-1".into()),
            ..Session::first(key(), 0, now)
        };
        // The rival's row is identical but for its writer id: still a rival, not a repeat.
        let rival = Session {
            writer: Some("w-2".into()),
            ..row.clone()
        };
        assert!(block(store.put(&row, None)).is_ok());
        assert!(matches!(
            block(store.put(&rival, None)),
            Err(StoreError::Conflict { .. })
        ));
        // Without a writer id nothing can be recognised as a repeat.
        let anonymous = Session {
            writer: None,
            ..row.clone()
        };
        assert!(matches!(
            block(store.put(&anonymous, None)),
            Err(StoreError::Conflict { .. })
        ));
        // The same writer's repeat is its own earlier success.
        assert!(block(store.put(&row, None)).is_ok());
    }

    #[test]
    fn repeating_an_applied_put_or_lease_write_is_not_a_conflict() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = Session {
            writer: Some("w-1".into()),
            ..Session::first(key(), 0, now)
        };
        let first = block(store.put(&row, None)).unwrap();
        assert_eq!(block(store.put(&row, None)).unwrap(), first);
        let other = Session::first(key(), 1, now);
        assert!(matches!(
            block(store.put(&other, None)),
            Err(StoreError::Conflict { .. })
        ));
        let owner = OwnerId("a".into());
        let until = now + TimeDelta::seconds(15);
        let lease = block(store.acquire(2, &owner, None, now, until)).unwrap();
        assert_eq!(
            block(store.acquire(2, &owner, None, now, until)).unwrap(),
            lease
        );
        let later = until + TimeDelta::seconds(5);
        let renewed = block(store.renew(&lease, later)).unwrap();
        assert_eq!(block(store.renew(&lease, later)).unwrap(), renewed);
        assert!(block(store.renew(&lease, later + TimeDelta::seconds(1))).is_err());
    }

    #[test]
    fn put_keeps_the_relays_cursor_and_bumps_the_version() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = block(store.put(&Session::first(key(), 0, now), None)).unwrap();
        let active = block(store.put(&row.activated(chat("c-1"), now), Some(row.version))).unwrap();
        assert_eq!(active.version, 2);
        let contact = ContactId::new("c-1").unwrap();
        assert!(
            block(store.advance_cursor(&key(), &contact, &ItemId::new("i-1").unwrap(), now))
                .unwrap()
        );
        // A write from a stale read must not roll the cursor back.
        let refreshed = block(store.put(&active.with_opt_out(false, now), Some(2))).unwrap();
        assert_eq!(
            refreshed.cursor_for_current_chat().map(ItemId::as_str),
            Some("i-1")
        );
    }

    #[test]
    fn end_chat_only_ends_the_current_chat() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = block(store.put(&Session::first(key(), 5, now), None)).unwrap();
        block(store.put(&row.activated(chat("c-2"), now), Some(1))).unwrap();
        let old = ContactId::new("c-1").unwrap();
        assert!(block(store.end_chat(&key(), &old, now)).unwrap().is_none());
        assert_eq!(block(store.active_in_shard(5)).unwrap().len(), 1);
        let current = ContactId::new("c-2").unwrap();
        let ended = block(store.end_chat(&key(), &current, now))
            .unwrap()
            .unwrap();
        assert_eq!(ended.status, Status::Ended);
        assert!(block(store.active_in_shard(5)).unwrap().is_empty());
    }

    #[test]
    fn expired_lease_can_be_taken_and_live_one_cannot() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let a = OwnerId("a".into());
        let b = OwnerId("b".into());
        let lease = block(store.acquire(1, &a, None, now, now + TimeDelta::seconds(15))).unwrap();
        assert!(block(store.acquire(1, &b, None, now, now + TimeDelta::seconds(15))).is_err());
        let later = now + TimeDelta::seconds(16);
        let taken =
            block(store.acquire(1, &b, None, later, later + TimeDelta::seconds(15))).unwrap();
        assert_eq!(taken.owner, b);
        assert!(
            block(store.renew(&lease, later)).is_err(),
            "a lost the lease"
        );
    }

    fn fake_chat() -> (Arc<ManualClock>, FakeChat) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let chat = FakeChat::new(clock.clone()).with_connection_ttl(TimeDelta::minutes(10));
        (clock, chat)
    }

    fn start_request(client_token: &str, text: &str) -> StartChat {
        StartChat {
            instance_id: InstanceId::new("instance").unwrap(),
            contact_flow_id: crate::ids::ContactFlowId::new("flow").unwrap(),
            client_token: client_token.to_owned(),
            display_name: "SMS customer".to_owned(),
            attributes: std::collections::BTreeMap::new(),
            initial_message: Some(text.to_owned()),
            continue_from: None,
            duration_minutes: None,
            connection: None,
        }
    }

    fn connect(chat: &FakeChat, started: &StartedChat) -> ConnectionToken {
        let connected = block(chat.create_connection(
            &started.participant_token,
            ConnectionKind::Credentials,
            ConnectParticipant::Join,
        ))
        .unwrap();
        connected.connection.unwrap().token
    }

    #[test]
    fn fake_chat_start_and_send_are_idempotent_on_client_token() {
        let (_clock, chat) = fake_chat();
        let first = block(chat.start_chat(&start_request("t-1", "hello"))).unwrap();
        let again = block(chat.start_chat(&start_request("t-1", "other text"))).unwrap();
        assert_eq!(first.contact_id, again.contact_id);
        assert_eq!(chat.contacts().len(), 1);
        let token = connect(&chat, &first);
        let sent = block(chat.send_message(&token, "second", "m-1")).unwrap();
        let repeat = block(chat.send_message(&token, "second", "m-1")).unwrap();
        assert_eq!(sent, repeat);
        let contact = chat.contact(&first.contact_id).unwrap();
        assert_eq!(contact.customer_texts(), ["hello", "second"]);
        assert!(contact.customer_connected);
    }

    #[test]
    fn fake_chat_denies_expired_connections_and_ended_chats() {
        let (clock, chat) = fake_chat();
        let started = block(chat.start_chat(&start_request("t-1", "hello"))).unwrap();
        let token = connect(&chat, &started);
        clock.advance(TimeDelta::minutes(10));
        assert!(matches!(
            block(chat.send_message(&token, "late", "m-1")),
            Err(ChatError::ChatEnded)
        ));
        let fresh = connect(&chat, &started);
        assert!(block(chat.send_message(&fresh, "late", "m-1")).is_ok());
        assert!(chat.end_contact(&started.contact_id));
        assert!(matches!(
            block(chat.send_message(&fresh, "after end", "m-2")),
            Err(ChatError::ChatEnded)
        ));
        assert!(matches!(
            block(chat.create_connection(
                &started.participant_token,
                ConnectionKind::Credentials,
                ConnectParticipant::AlreadyJoined
            )),
            Err(ChatError::ChatEnded)
        ));
    }

    #[test]
    fn fake_chat_injected_failures_happen_before_or_after_the_effect() {
        let (_clock, chat) = fake_chat();
        chat.fail_next(ChatOp::StartChat, Failure::Transient);
        assert!(matches!(
            block(chat.start_chat(&start_request("t-1", "hello"))),
            Err(ChatError::Transient(_))
        ));
        assert!(chat.contacts().is_empty(), "failed before the effect");
        chat.fail_next_after_effect(ChatOp::StartChat, Failure::Transient);
        assert!(block(chat.start_chat(&start_request("t-1", "hello"))).is_err());
        assert_eq!(chat.contacts().len(), 1, "took effect, then failed");
        let retried = block(chat.start_chat(&start_request("t-1", "hello"))).unwrap();
        assert_eq!(
            chat.contacts().len(),
            1,
            "the retry is answered from the token"
        );
        assert_eq!(retried.contact_id, chat.contacts()[0].contact_id);
        assert_eq!(chat.calls(ChatOp::StartChat), 3);
    }

    #[test]
    fn fake_chat_persistent_start_needs_an_ended_source() {
        let (_clock, chat) = fake_chat();
        let first = block(chat.start_chat(&start_request("t-1", "hello"))).unwrap();
        let mut next = start_request("t-2", "again");
        next.continue_from = Some(first.contact_id.clone());
        assert!(matches!(
            block(chat.start_chat(&next)),
            Err(ChatError::Invalid(_))
        ));
        chat.end_contact(&first.contact_id);
        let second = block(chat.start_chat(&next)).unwrap();
        assert_eq!(second.continued_from, Some(first.contact_id));
        assert!(
            chat.agent_message(&second.contact_id, "hi, how can I help?")
                .is_some()
        );
    }
}
