// The in-memory world shared by the domain and log tests (included, not a test target).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_lambda_events::event::sns::SnsEvent;
use bridge_core::PhoneNumber;
use bridge_core::config::Config;
use bridge_core::ids::{
    ConnectionToken, ContactId, InboundMessageId, InstanceId, ItemId, ParticipantToken,
};
use bridge_core::menu::{MenuChange, MenuOption};
use bridge_core::inbound::parse_line;
use bridge_inbound::envelope::{InboundRecord, wrap_in_sns_event};
use bridge_core::ports::{
    ChatError, ChatReader, ChatStarter, ChatWriter, ConnectParticipant, Clock, Connected, ConnectionKind, DedupeStore, DeliveryTag, Marker, SentMessage, SessionStore,
    StartChat, StartedChat, StoreError, TranscriptPage, TranscriptStart,
};
use bridge_core::session::{Policy, Session, SessionKey, Status, text_digest};
use bridge_core::testing::{
    ChatOp, Failure, FakeChat, FakeContact, ManualClock, MemoryStore, RecordingSms,
};
use bridge_inbound::{
    Handler, HandlerError, Outcome, Ports, ReceiptOutcome, RejectReason, Summary, attribute,
};
use chrono::{DateTime, TimeDelta, Utc};
use lambda_runtime::{Context, LambdaEvent};


const SUPPORT: &str = "+18005550100";
const OTHER_SUPPORT: &str = "+18005550199";
const FLOW: &str = "flow-main";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:inbound-sms";

// ---------------------------------------------------------------------------------------
// Test doubles around the in-memory ports
// ---------------------------------------------------------------------------------------

/// The in-memory store, counting calls, yielding before each, with one injectable failure.
#[derive(Default)]
struct Store {
    inner: MemoryStore,
    gets: AtomicUsize,
    puts: AtomicUsize,
    end_chats: AtomicUsize,
    dedupe_reads: AtomicUsize,
    marks: AtomicUsize,
    fail_next_mark: AtomicBool,
}

impl Store {
    fn calls(&self) -> usize {
        self.reads() + self.writes()
    }
    fn reads(&self) -> usize {
        self.gets.load(Ordering::SeqCst) + self.dedupe_reads.load(Ordering::SeqCst)
    }
    fn writes(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
            + self.end_chats.load(Ordering::SeqCst)
            + self.marks.load(Ordering::SeqCst)
    }
    fn reset_counts(&self) {
        for counter in [
            &self.gets,
            &self.puts,
            &self.end_chats,
            &self.dedupe_reads,
            &self.marks,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        tokio::task::yield_now().await;
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        tokio::task::yield_now().await;
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(session, expected).await
    }
    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError> {
        // One read of both items, as DynamoDB's BatchGetItem: counted as one get.
        tokio::task::yield_now().await;
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_with_marker(key, id).await
    }
    async fn put_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &Marker,
    ) -> Result<Session, StoreError> {
        // One write of both items, as DynamoDB's TransactWriteItems: counted as one put.
        tokio::task::yield_now().await;
        self.puts.fetch_add(1, Ordering::SeqCst);
        if self.fail_next_mark.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Transient("injected dynamodb outage".into()));
        }
        self.inner.put_marked(session, expected, marker).await
    }
    async fn mark_resumed(&self, key: &SessionKey, marker: &Marker) -> Result<(), StoreError> {
        // One write of both items, as DynamoDB's TransactWriteItems: counted as one mark.
        tokio::task::yield_now().await;
        self.marks.fetch_add(1, Ordering::SeqCst);
        if self.fail_next_mark.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Transient("injected dynamodb outage".into()));
        }
        self.inner.mark_resumed(key, marker).await
    }
    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        tokio::task::yield_now().await;
        self.end_chats.fetch_add(1, Ordering::SeqCst);
        self.inner.end_chat(key, contact_id, now).await
    }
    async fn advance_cursor_and_menu(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        menu: &MenuChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.advance_cursor_and_menu(key, contact_id, item, menu, now).await
    }
    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        self.inner.active_in_shard(shard).await
    }
}

#[async_trait]
impl DedupeStore for Store {
    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.dedupe_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.is_processed(id).await
    }
    async fn mark_processed(
        &self,
        id: &InboundMessageId,
        contact_id: Option<&ContactId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.marks.fetch_add(1, Ordering::SeqCst);
        if self.fail_next_mark.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Transient("injected dynamodb outage".into()));
        }
        self.inner.mark_processed(id, contact_id, now).await
    }
}

/// FakeChat, yielding before each call.
struct Chat(Arc<FakeChat>);

#[async_trait]
impl ChatStarter for Chat {
    async fn start_chat(&self, request: &StartChat) -> Result<StartedChat, ChatError> {
        tokio::task::yield_now().await;
        self.0.start_chat(request).await
    }
}

#[async_trait]
impl ChatReader for Chat {
    async fn create_connection(
        &self,
        token: &ParticipantToken,
        kind: ConnectionKind,
        joining: ConnectParticipant,
    ) -> Result<Connected, ChatError> {
        tokio::task::yield_now().await;
        self.0
            .create_connection(token, kind, joining)
            .await
    }

    async fn get_transcript(
        &self,
        token: &ConnectionToken,
        start: &TranscriptStart,
        next_token: Option<&str>,
    ) -> Result<TranscriptPage, ChatError> {
        tokio::task::yield_now().await;
        self.0.get_transcript(token, start, next_token).await
    }
}

#[async_trait]
impl ChatWriter for Chat {
    async fn send_message(
        &self,
        token: &ConnectionToken,
        content: &str,
        client_token: &str,
    ) -> Result<SentMessage, ChatError> {
        tokio::task::yield_now().await;
        self.0.send_message(token, content, client_token).await
    }

    async fn send_event(
        &self,
        token: &ConnectionToken,
        content_type: &str,
        content: Option<&str>,
        client_token: &str,
    ) -> Result<(), ChatError> {
        self.0
            .send_event(token, content_type, content, client_token)
            .await
    }

    async fn disconnect(
        &self,
        token: &ConnectionToken,
        client_token: &str,
    ) -> Result<(), ChatError> {
        tokio::task::yield_now().await;
        self.0.disconnect(token, client_token).await
    }
}

// ---------------------------------------------------------------------------------------
// The world a test runs in
// ---------------------------------------------------------------------------------------

struct World {
    clock: Arc<ManualClock>,
    store: Arc<Store>,
    chat: Arc<FakeChat>,
    sms: Arc<RecordingSms>,
    handler: Arc<Handler>,
    next_id: AtomicUsize,
}

#[derive(Default)]
struct Options {
    persistent: bool,
    opt_out_text: Option<&'static str>,
    opt_in_text: Option<&'static str>,
    refresh_margin: Option<TimeDelta>,
    connection_ttl: Option<TimeDelta>,
}

fn config(options: &Options) -> Config {
    let mut vars = BTreeMap::from([
        ("BRIDGE_CONNECT_INSTANCE_ID", "instance-1".to_owned()),
        (
            "BRIDGE_SUPPORT_LINES",
            format!("{SUPPORT}={FLOW},{OTHER_SUPPORT}=flow-other"),
        ),
        ("BRIDGE_TABLE_NAME", "bridge-test".to_owned()),
        ("BRIDGE_PERSISTENT_CHAT", options.persistent.to_string()),
        (
            "BRIDGE_HELP_TEXT",
            "Text us your question. Reply STOP to opt out.".to_owned(),
        ),
    ]);
    if let Some(text) = options.opt_out_text {
        vars.insert("BRIDGE_OPT_OUT_TEXT", text.to_owned());
    }
    if let Some(text) = options.opt_in_text {
        vars.insert("BRIDGE_OPT_IN_TEXT", text.to_owned());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

impl World {
    fn new() -> Self {
        Self::with(Options::default())
    }

    fn with(options: Options) -> Self {
        let clock = Arc::new(ManualClock::new(
            DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
        ));
        let store = Arc::new(Store::default());
        let mut chat = FakeChat::new(clock.clone());
        if let Some(ttl) = options.connection_ttl {
            chat = chat.with_connection_ttl(ttl);
        }
        let chat = Arc::new(chat);
        let sms = Arc::new(RecordingSms::default());
        let ports = Ports {
            sessions: store.clone(),
            dedupe: store.clone(),
            chat: Arc::new(Chat(chat.clone())),
            sms: sms.clone(),
            clock: clock.clone(),
        };
        let mut handler = Handler::new(ports, config(&options));
        if let Some(margin) = options.refresh_margin {
            handler = handler.with_policy(Policy {
                refresh_margin: margin,
                ..Policy::default()
            });
        }
        Self {
            clock,
            store,
            chat,
            sms,
            handler: Arc::new(handler),
            next_id: AtomicUsize::new(0),
        }
    }

    /// A fresh inbound message id.
    fn id(&self) -> String {
        format!("msg-{}", self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    /// An SNS event holding one text from `from` to `to`.
    fn event_to(&self, id: &str, from: &str, to: &str, body: &str) -> SnsEvent {
        let payload = serde_json::json!({
            "originationNumber": from,
            "destinationNumber": to,
            "messageKeyword": "KEYWORD_123456789012",
            "messageBody": body,
            "inboundMessageId": id,
            "previousPublishedMessageId": null,
        });
        wrap_in_sns_event(
            &payload.to_string(),
            &format!("sns-{id}"),
            TOPIC,
            Utc::now(),
        )
    }

    fn event(&self, id: &str, from: &str, body: &str) -> SnsEvent {
        self.event_to(id, from, SUPPORT, body)
    }

    /// Handles one text and returns its outcome (panics if the event is not one record).
    async fn text(&self, from: &str, body: &str) -> Result<Outcome, HandlerError> {
        let id = self.id();
        self.deliver(&id, from, body).await
    }

    /// Handles the text with this inbound message id (a redelivery when repeated).
    async fn deliver(&self, id: &str, from: &str, body: &str) -> Result<Outcome, HandlerError> {
        only(self.handler.handle_event(self.event(id, from, body)).await)
    }

    fn key(&self, customer: &str) -> SessionKey {
        SessionKey::new(phone(customer), phone(SUPPORT))
    }

    async fn session(&self, customer: &str) -> Option<Session> {
        self.store.inner.get(&self.key(customer)).await.unwrap()
    }

    fn contacts(&self) -> Vec<FakeContact> {
        self.chat.contacts()
    }

    fn only_contact(&self) -> FakeContact {
        let contacts = self.contacts();
        assert_eq!(contacts.len(), 1, "{contacts:#?}");
        contacts.into_iter().next().unwrap()
    }
}

fn only(result: Result<Summary, HandlerError>) -> Result<Outcome, HandlerError> {
    let summary = result?;
    assert_eq!(summary.records.len(), 1, "{summary:?}");
    Ok(summary.records.into_iter().next().unwrap().outcome)
}

fn phone(number: &str) -> PhoneNumber {
    PhoneNumber::parse(number).unwrap()
}

fn delivered(outcome: &Outcome) -> (ContactId, bool) {
    match outcome {
        Outcome::Delivered {
            contact_id,
            started,
        } => (contact_id.clone(), *started),
        other => panic!("expected delivered, got {other:?}"),
    }
}
