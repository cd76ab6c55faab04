//! [`FakeChat`]: an in-memory Amazon Connect chat behind the chat ports ([`ChatStarter`],
//! [`ChatReader`], [`ChatWriter`]), with failure injection and call counts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::ids::{ConnectionToken, ContactId, ItemId, ParticipantId, ParticipantToken};
use crate::ports::{
    ChatError, ChatReader, ChatStarter, ChatWriter, Clock, ConnectParticipant, Connected,
    Connection, ConnectionKind, ItemKind, Role, SentMessage, StartChat, StartedChat,
    TranscriptItem, TranscriptPage, TranscriptStart, WebsocketUrl,
};
use crate::segment::CONNECT_MESSAGE_MAX_CHARS;

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
    use crate::testing::{ManualClock, block};

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
