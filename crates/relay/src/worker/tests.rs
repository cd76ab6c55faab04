//! Session worker tests with in-memory fakes: a scripted `ChatReader` (transcript pages), the
//! core `MemoryStore`, a scripted `SmsSender`, and a minimal participant WebSocket server on
//! a real loopback socket (subscribe, heartbeat, ping, pushed frames, a mute switch).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use bridge_core::PhoneNumber;
use bridge_core::ids::{ContactId, InstanceId, ParticipantId, SmsMessageId};
use bridge_core::menu::MenuChange;
use bridge_core::ports::{
    Connected, Connection, ItemKind, Role, StoreError, SystemClock, TranscriptPage,
    TranscriptStart, WebsocketUrl,
};
use bridge_core::session::{Chat, Status};
use bridge_core::testing::MemoryStore;
use chrono::{TimeDelta, Utc};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::*;

const WAIT: Duration = Duration::from_secs(10);
const EVENT: &str = "application/vnd.amazonaws.connect.event.";

fn contact() -> ContactId {
    ContactId::new("c-1").unwrap()
}

fn key() -> SessionKey {
    SessionKey::new(
        PhoneNumber::parse("+15550100042").unwrap(),
        PhoneNumber::parse("+18005550100").unwrap(),
    )
}

fn item(
    id: &str,
    kind: ItemKind,
    role: Role,
    content_type: &str,
    content: Option<&str>,
) -> TranscriptItem {
    let n: u32 = id
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    TranscriptItem {
        id: ItemId::new(id).unwrap(),
        kind,
        content_type: content_type.to_owned(),
        content: content.map(str::to_owned),
        role: Some(role),
        display_name: Some("Ana".to_owned()),
        absolute_time: format!("2024-01-01T00:00:{:02}.{:03}Z", n / 1000, n % 1000),
        contact_id: Some(contact()),
        related_contact_id: None,
        attachment_names: Vec::new(),
    }
}

fn agent(id: &str, text: &str) -> TranscriptItem {
    item(id, ItemKind::Message, Role::Agent, "text/plain", Some(text))
}

fn customer(id: &str, text: &str) -> TranscriptItem {
    item(
        id,
        ItemKind::Message,
        Role::Customer,
        "text/plain",
        Some(text),
    )
}

fn event(id: &str, role: Role, name: &str) -> TranscriptItem {
    item(id, ItemKind::Event, role, &format!("{EVENT}{name}"), None)
}

fn chat_frame(item: &TranscriptItem) -> String {
    let wire = serde_json::json!({
        "Id": item.id.as_str(),
        "Type": match &item.kind {
            ItemKind::Message => "MESSAGE",
            ItemKind::Event => "EVENT",
            ItemKind::Attachment => "ATTACHMENT",
            ItemKind::Other(other) => other.as_str(),
        },
        "ContentType": item.content_type,
        "Content": item.content,
        "ParticipantRole": match item.role {
            Some(Role::Agent) => "AGENT",
            Some(Role::Customer) => "CUSTOMER",
            _ => "SYSTEM",
        },
        "DisplayName": item.display_name,
        "AbsoluteTime": item.absolute_time,
        "ContactId": contact().as_str(),
        "InitialContactId": contact().as_str(),
    });
    serde_json::json!({"topic": "aws/chat", "contentType": "application/json", "content": wire.to_string()})
        .to_string()
}

/// A participant WebSocket endpoint: answers subscribe, heartbeat and ping, forwards pushed
/// frames to every subscribed socket, and can stop answering heartbeats.
struct SocketServer {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    mute: Arc<AtomicBool>,
    push: broadcast::Sender<String>,
    task: JoinHandle<()>,
}

impl SocketServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let mute = Arc::new(AtomicBool::new(false));
        let (push, _) = broadcast::channel(64);
        let task = tokio::spawn({
            let (connections, mute, push) = (connections.clone(), mute.clone(), push.clone());
            async move {
                let mut sockets = tokio::task::JoinSet::new();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        break;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (mute, mut frames) = (mute.clone(), push.subscribe());
                    sockets.spawn(async move {
                        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                        loop {
                            tokio::select! {
                                incoming = ws.next() => {
                                    let Some(Ok(Message::Text(text))) = incoming else { return };
                                    let reply = match text.as_str() {
                                        frame::SUBSCRIBE => r#"{"topic":"aws/subscribe","content":{"status":"success","topics":["aws/chat"]}}"#,
                                        frame::HEARTBEAT if !mute.load(Ordering::SeqCst) => r#"{"topic":"aws/heartbeat"}"#,
                                        frame::PING => r#"{"topic":"aws/ping","statusCode":200}"#,
                                        _ => continue,
                                    };
                                    if ws.send(Message::text(reply)).await.is_err() {
                                        return;
                                    }
                                }
                                Ok(pushed) = frames.recv() => {
                                    if ws.send(Message::text(pushed)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            }
        });
        Self {
            addr,
            connections,
            mute,
            push,
            task,
        }
    }
}

/// A `ChatReader` serving a scripted transcript, two items per page.
struct FakeChat {
    url: String,
    transcript: Mutex<Vec<TranscriptItem>>,
    ended: AtomicBool,
    /// GetTranscript still answers an unexpired token after the chat ended.
    readable_after_end: AtomicBool,
    /// The connection tokens GetTranscript was called with, in order.
    transcript_tokens: Mutex<Vec<String>>,
    connections: AtomicUsize,
}

impl FakeChat {
    fn new(server: &SocketServer, transcript: Vec<TranscriptItem>) -> Self {
        Self {
            url: format!("ws://{}/ws/test", server.addr),
            transcript: Mutex::new(transcript),
            ended: AtomicBool::new(false),
            readable_after_end: AtomicBool::new(false),
            transcript_tokens: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl ChatReader for FakeChat {
    async fn create_connection(
        &self,
        _: &ParticipantToken,
        kind: ConnectionKind,
        joining: ConnectParticipant,
    ) -> Result<Connected, ChatError> {
        assert_eq!(
            kind,
            ConnectionKind::Both,
            "the relay needs its own token and socket"
        );
        assert_eq!(joining, ConnectParticipant::AlreadyJoined);
        self.connections.fetch_add(1, Ordering::SeqCst);
        if self.ended.load(Ordering::SeqCst) {
            return Err(ChatError::ChatEnded);
        }
        let now = Utc::now();
        Ok(Connected {
            connection: Some(Connection {
                token: ConnectionToken::new("relay-token").unwrap(),
                expires_at: now + TimeDelta::days(1),
            }),
            websocket: Some(WebsocketUrl {
                url: self.url.clone(),
                connect_by: now + TimeDelta::seconds(100),
            }),
        })
    }

    async fn get_transcript(
        &self,
        token: &ConnectionToken,
        start: &TranscriptStart,
        next_token: Option<&str>,
    ) -> Result<TranscriptPage, ChatError> {
        self.transcript_tokens
            .lock()
            .unwrap()
            .push(token.expose().to_owned());
        if self.ended.load(Ordering::SeqCst) && !self.readable_after_end.load(Ordering::SeqCst) {
            return Err(ChatError::ChatEnded);
        }
        let items = self.transcript.lock().unwrap().clone();
        let from =
            match (next_token, start) {
                (Some(token), _) => token.parse().unwrap(),
                (None, TranscriptStart::Oldest) => 0,
                (None, TranscriptStart::FromItem(id)) => items
                    .iter()
                    .position(|item| &item.id == id)
                    .ok_or_else(|| ChatError::Invalid("unknown start item".into()))?,
            };
        let to = (from + 2).min(items.len());
        Ok(TranscriptPage {
            items: items[from..to].to_vec(),
            next_token: (to < items.len()).then(|| to.to_string()),
        })
    }
}

/// An `SmsSender` that fails as scripted, then accepts; records what it accepted.
#[derive(Default)]
struct ScriptedSms {
    failures: Mutex<VecDeque<SmsError>>,
    sent: Mutex<Vec<String>>,
    sent_at: Mutex<Vec<tokio::time::Instant>>,
    calls: AtomicUsize,
    /// The delivery tag of each accepted SMS, in order.
    tags: Mutex<Vec<Option<DeliveryTag>>>,
}

impl ScriptedSms {
    fn failing(failures: Vec<SmsError>) -> Self {
        Self {
            failures: Mutex::new(failures.into()),
            ..Self::default()
        }
    }

    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl SmsSender for ScriptedSms {
    async fn send(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError> {
        assert_eq!((to, from), (&key().customer, &key().support));
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        self.sent.lock().unwrap().push(body.to_owned());
        self.sent_at
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        self.tags.lock().unwrap().push(None);
        Ok(SmsMessageId::new(format!("sms-{call}")).unwrap())
    }

    async fn send_tagged(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
        tag: &DeliveryTag,
    ) -> Result<SmsMessageId, SmsError> {
        let sent = self.send(to, from, body).await?;
        *self.tags.lock().unwrap().last_mut().unwrap() = Some(tag.clone());
        Ok(sent)
    }
}

/// The in-memory store, with `end_chat` failing as many times as asked (DynamoDB
/// degraded for the relay's writes).
struct FlakyStore {
    inner: Arc<MemoryStore>,
    end_failures: AtomicUsize,
    end_calls: AtomicUsize,
    get_failures: AtomicUsize,
    /// Every cursor position written, in order.
    cursor_writes: Mutex<Vec<String>>,
}

/// Takes one of `count`'s failures, if any are left.
fn take_failure(count: &AtomicUsize) -> bool {
    count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl SessionStore for FlakyStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        if take_failure(&self.get_failures) {
            return Err(StoreError::Other("injected AccessDeniedException".into()));
        }
        self.inner.get(key).await
    }
    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &bridge_core::ids::InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError> {
        self.inner.get_with_marker(key, id).await
    }
    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        self.inner.put(session, expected).await
    }
    async fn put_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &bridge_core::ports::Marker,
    ) -> Result<Session, StoreError> {
        self.inner.put_marked(session, expected, marker).await
    }
    async fn mark_resumed(
        &self,
        key: &SessionKey,
        marker: &bridge_core::ports::Marker,
    ) -> Result<(), StoreError> {
        self.inner.mark_resumed(key, marker).await
    }
    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        self.end_calls.fetch_add(1, Ordering::SeqCst);
        if take_failure(&self.end_failures) {
            return Err(StoreError::Transient("injected dynamodb outage".into()));
        }
        self.inner.end_chat(key, contact_id, now).await
    }
    async fn advance_cursor_and_menu(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        menu: &MenuChange,
        now: chrono::DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.cursor_writes.lock().unwrap().push(item.to_string());
        self.inner
            .advance_cursor_and_menu(key, contact_id, item, menu, now)
            .await
    }
    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        self.inner.active_in_shard(shard).await
    }
}

struct Harness {
    /// The lease manager's view the workers are fenced by: shard 0 held for an hour.
    owned: watch::Sender<crate::leases::Owned>,
    server: SocketServer,
    chat: Arc<FakeChat>,
    store: Arc<MemoryStore>,
    flaky: Arc<FlakyStore>,
    sms: Arc<ScriptedSms>,
    shared: Arc<Shared>,
}

impl Harness {
    async fn new(transcript: Vec<TranscriptItem>, sms: ScriptedSms, cursor: Option<&str>) -> Self {
        Self::with_closing(transcript, sms, cursor, None).await
    }

    async fn with_closing(
        transcript: Vec<TranscriptItem>,
        sms: ScriptedSms,
        cursor: Option<&str>,
        closing_text: Option<&str>,
    ) -> Self {
        Self::with_archive(transcript, sms, cursor, closing_text, None).await
    }

    async fn with_archive(
        transcript: Vec<TranscriptItem>,
        sms: ScriptedSms,
        cursor: Option<&str>,
        closing_text: Option<&str>,
        archive: Option<Arc<dyn TranscriptArchive>>,
    ) -> Self {
        Self::with_connections(
            transcript,
            sms,
            cursor,
            closing_text,
            archive,
            Duration::from_secs(3600),
            None,
        )
        .await
    }

    /// As [`Self::with_archive`], with sockets renewed every `socket_lifetime` and
    /// connection set-ups limited to `rate`.
    async fn with_connections(
        transcript: Vec<TranscriptItem>,
        sms: ScriptedSms,
        cursor: Option<&str>,
        closing_text: Option<&str>,
        archive: Option<Arc<dyn TranscriptArchive>>,
        socket_lifetime: Duration,
        rate: Option<crate::rate::Rate>,
    ) -> Self {
        let server = SocketServer::start().await;
        let chat = Arc::new(FakeChat::new(&server, transcript));
        let store = Arc::new(MemoryStore::new());
        let now = Utc::now();
        let row = store
            .put(&Session::first(key(), 0, now), None)
            .await
            .unwrap();
        let active = row.activated(
            Chat {
                contact_id: contact(),
                participant_id: ParticipantId::new("p-1").unwrap(),
                participant_token: ParticipantToken::new("participant-token").unwrap(),
                connection: Connection {
                    token: ConnectionToken::new("inbound-token").unwrap(),
                    expires_at: now + TimeDelta::days(1),
                },
            },
            now,
        );
        store.put(&active, Some(row.version)).await.unwrap();
        if let Some(cursor) = cursor {
            store
                .advance_cursor(&key(), &contact(), &ItemId::new(cursor).unwrap(), now)
                .await
                .unwrap();
        }
        let sms = Arc::new(sms);
        let flaky = Arc::new(FlakyStore {
            inner: store.clone(),
            end_failures: AtomicUsize::new(0),
            end_calls: AtomicUsize::new(0),
            get_failures: AtomicUsize::new(0),
            cursor_writes: Mutex::new(Vec::new()),
        });
        let (owned, owned_rx) = watch::channel(crate::leases::Owned {
            version: 1,
            shards: std::iter::once((0, Utc::now() + TimeDelta::hours(1))).collect(),
        });
        let shared = Arc::new(Shared {
            owned: owned_rx,
            chat: chat.clone(),
            sessions: flaky.clone(),
            sms: sms.clone(),
            clock: Arc::new(SystemClock),
            settings: Settings {
                rules: Rules {
                    joined_notice: true,
                    numbering: true,
                },
                closing_text: closing_text.map(str::to_owned),
                idle_warning: None,
                heartbeat_every: Duration::from_millis(200),
                call_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(2),
                backoff: BackoffPolicy {
                    base: Duration::from_millis(10),
                    cap: Duration::from_millis(50),
                },
                attempts: 4,
                socket_lifetime,
                transcript_wait: Duration::from_secs(1),
            },
            metrics: Metrics::unregistered(),
            dialer: Dialer::default(),
            connect_permits: Semaphore::new(4),
            connect_rate: rate.map(RateLimit::new),
            epoch: tokio::time::Instant::now(),
            archive,
            timers: None,
        });
        Self {
            owned,
            server,
            chat,
            store,
            flaky,
            sms,
            shared,
        }
    }

    async fn session(&self) -> Session {
        self.store.get(&key()).await.unwrap().unwrap()
    }

    /// The customer texts STOP: the inbound side records the opt-out on the row.
    async fn opt_out(&self) {
        let session = self.session().await;
        self.store
            .put(
                &session.with_opt_out(true, Utc::now()),
                Some(session.version),
            )
            .await
            .unwrap();
    }

    fn start(&self, cancel: &CancellationToken) -> JoinHandle<WorkerEnd> {
        let session = self.store.sessions().pop().unwrap();
        let worker = Worker::new(self.shared.clone(), &session, None, cancel.clone()).unwrap();
        tokio::spawn(worker.run())
    }

    async fn wait_sent(&self, count: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let sent = self.sms.sent();
            if sent.len() >= count {
                return sent;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {sent:?} sent");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn cursor(&self) -> Option<String> {
        self.session()
            .await
            .cursor_for_current_chat()
            .map(|id| id.to_string())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.task.abort();
    }
}

#[tokio::test]
async fn catch_up_reads_every_page_from_the_cursor_and_forwards_only_agent_messages() {
    // GIVEN a transcript over several pages, and a cursor after the first reply
    let transcript = vec![
        event("i-1", Role::Customer, "participant.joined"),
        customer("i-2", "first text"),
        agent("i-3", "already delivered"),
        event("i-4", Role::Agent, "typing"),
        customer("i-5", "customer again"),
        agent("i-6", "reply one"),
        agent("i-7", "reply two"),
        event("i-8", Role::Agent, "participant.left"),
    ];
    let h = Harness::new(transcript, ScriptedSms::default(), Some("i-3")).await;
    let cancel = CancellationToken::new();
    // WHEN the worker connects
    let task = h.start(&cancel);
    // THEN only the agent replies after the cursor are sent, in order
    assert_eq!(h.wait_sent(2).await, ["reply one", "reply two"]);
    // AND it read them with its own connection, not the inbound side's
    assert!(
        h.chat
            .transcript_tokens
            .lock()
            .unwrap()
            .iter()
            .all(|token| token == "relay-token")
    );
    // AND the cursor ends on the last stored item, written lazily after catch-up
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.cursor().await.as_deref() != Some("i-8") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cursor {:?}",
            h.cursor().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    assert_eq!(task.await.unwrap(), WorkerEnd::Stopped);
    assert_eq!(h.sms.sent().len(), 2);
}

#[tokio::test]
async fn stream_items_already_caught_up_are_not_sent_twice() {
    // GIVEN a worker that caught up on two replies
    let first = agent("i-1", "caught up one");
    let second = agent("i-2", "caught up two");
    let h = Harness::new(
        vec![first.clone(), second.clone()],
        ScriptedSms::default(),
        None,
    )
    .await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    assert_eq!(h.wait_sent(2).await.len(), 2);
    // WHEN the socket then delivers the same two items (they arrived while catching up)
    // and a new one
    for pushed in [&first, &second, &agent("i-3", "live")] {
        h.server.push.send(chat_frame(pushed)).unwrap();
    }
    // THEN only the new one is sent
    assert_eq!(
        h.wait_sent(3).await,
        ["caught up one", "caught up two", "live"]
    );
    assert_eq!(h.cursor().await.as_deref(), Some("i-3"));
    cancel.cancel();
    assert_eq!(task.await.unwrap(), WorkerEnd::Stopped);
    assert_eq!(h.sms.sent().len(), 3);
}

#[tokio::test]
async fn an_interactive_message_opens_a_menu_on_the_row_and_the_next_reply_closes_it() {
    // GIVEN a chat whose bot sent a quick reply
    let picker = r#"{"templateType":"QuickReply","version":"1.0","data":{"content":{"title":"Rate us","elements":[{"title":"Good"},{"title":"Bad"}]}}}"#;
    let quick_reply = item(
        "i-1",
        ItemKind::Message,
        Role::System,
        "application/vnd.amazonaws.connect.message.interactive",
        Some(picker),
    );
    let h = Harness::new(vec![quick_reply], ScriptedSms::default(), None).await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    // THEN the customer gets a numbered menu, and the row remembers it for the inbound side
    assert_eq!(
        h.wait_sent(1).await,
        ["Rate us\n1. Good\n2. Bad\nReply 1 or 2."]
    );
    let menu = h
        .session()
        .await
        .open_menu()
        .cloned()
        .expect("an open menu");
    assert_eq!(menu.answer("2").map(|answer| answer.reply), Some("Bad"));
    // WHEN the agent's next message goes out, the menu has expired
    h.server
        .push
        .send(chat_frame(&agent("i-2", "thanks")))
        .unwrap();
    assert_eq!(h.wait_sent(2).await[1], "thanks");
    assert_eq!(h.cursor().await.as_deref(), Some("i-2"));
    assert_eq!(h.session().await.menu, None);
    cancel.cancel();
    assert_eq!(task.await.unwrap(), WorkerEnd::Stopped);
}

#[tokio::test]
async fn retriable_sms_failures_are_retried_in_place_and_order_holds() {
    let transcript = vec![
        agent("i-1", "one"),
        agent("i-2", "two"),
        agent("i-3", "three"),
    ];
    let throttled = || SmsError::Throttled("slow down".into());
    let h = Harness::new(
        transcript,
        ScriptedSms::failing(vec![throttled(), throttled(), throttled()]),
        None,
    )
    .await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    assert_eq!(h.wait_sent(3).await, ["one", "two", "three"]);
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(
        h.sms.calls.load(Ordering::SeqCst),
        6,
        "3 failures + 3 successes"
    );
}

#[tokio::test]
async fn an_sns_outage_holds_the_replies_in_place_and_delivers_them_in_order_after() {
    // GIVEN SNS failing transiently many more times than the per-call attempts (4)
    let transient = || SmsError::Transient("sns down".into());
    let h = Harness::new(
        vec![agent("i-1", "one"), agent("i-2", "two")],
        ScriptedSms::failing((0..12).map(|_| transient()).collect()),
        None,
    )
    .await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    // THEN both replies arrive once it clears, in order, nothing dropped, and the worker
    // waited in place rather than spending connection set-ups on reconnects
    assert_eq!(h.wait_sent(2).await, ["one", "two"]);
    assert_eq!(h.chat.connections.load(Ordering::SeqCst), 1, "no reconnect");
    let held = h
        .shared
        .metrics
        .sms_held
        .get_or_create(&[("reason", "unavailable")])
        .get();
    assert_eq!(held, 12);
    assert_eq!(
        h.shared
            .metrics
            .dropped
            .get_or_create(&[("reason", "rejected")])
            .get(),
        0
    );
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn an_account_level_sns_refusal_holds_every_reply_until_it_is_fixed() {
    // GIVEN SNS refusing for the account (AuthorizationError, a KMS key disabled, expired
    // credentials: SmsError::Other) for a while; before, such a reply was skipped for good
    let refused = || SmsError::Other("AuthorizationError: not authorized to publish".into());
    let h = Harness::new(
        vec![agent("i-1", "refund done"), agent("i-2", "anything else?")],
        ScriptedSms::failing((0..8).map(|_| refused()).collect()),
        None,
    )
    .await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    // THEN the cursor does not move past an unsent reply while it lasts
    // AND once it clears every reply is delivered, in order, and none was dropped
    assert_eq!(h.wait_sent(2).await, ["refund done", "anything else?"]);
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.cursor().await.as_deref() != Some("i-2") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cursor {:?}",
            h.cursor().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let metric = |family: &prometheus_client::metrics::family::Family<
        _,
        prometheus_client::metrics::counter::Counter,
    >,
                  label| { family.get_or_create(&[label]).get() };
    assert_eq!(metric(&h.shared.metrics.sms_held, ("reason", "refused")), 8);
    assert_eq!(metric(&h.shared.metrics.dropped, ("reason", "rejected")), 0);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn opted_out_and_rejected_messages_are_dropped_loudly_and_the_cursor_moves_on() {
    let h = Harness::new(
        vec![
            agent("i-1", "to an opted-out phone"),
            agent("i-2", "rejected"),
            agent("i-3", "fine"),
        ],
        ScriptedSms::failing(vec![
            SmsError::OptedOut,
            SmsError::Invalid("bad number".into()),
        ]),
        None,
    )
    .await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    assert_eq!(h.wait_sent(1).await, ["fine"]);
    assert_eq!(h.cursor().await.as_deref(), Some("i-3"));
    let dropped = |reason| {
        h.shared
            .metrics
            .dropped
            .get_or_create(&[("reason", reason)])
            .get()
    };
    assert_eq!((dropped("opted_out"), dropped("rejected")), (1, 1));
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn chat_ended_event_sends_the_closing_text_and_ends_the_session() {
    let h = Harness::with_closing(
        vec![
            agent("i-1", "bye"),
            event("i-2", Role::System, "chat.ended"),
        ],
        ScriptedSms::default(),
        None,
        Some("Chat closed."),
    )
    .await;
    let cancel = CancellationToken::new();
    let outcome = h.start(&cancel).await.unwrap();
    assert_eq!(outcome, WorkerEnd::Ended);
    assert_eq!(h.sms.sent(), ["bye", "Chat closed."]);
    assert_eq!(h.session().await.status, Status::Ended);
    assert_eq!(h.shared.metrics.sockets_open.get(), 0, "socket released");
    assert_eq!(h.shared.metrics.sessions.get(), 0, "worker gone");
}

#[tokio::test]
async fn access_denied_on_connect_means_the_chat_is_over() {
    let h = Harness::with_closing(
        Vec::new(),
        ScriptedSms::default(),
        None,
        Some("Chat closed."),
    )
    .await;
    h.chat.ended.store(true, Ordering::SeqCst);
    let outcome = h.start(&CancellationToken::new()).await.unwrap();
    assert_eq!(outcome, WorkerEnd::Ended);
    assert_eq!(h.sms.sent(), ["Chat closed."]);
    assert_eq!(h.session().await.status, Status::Ended);
    assert_eq!(
        h.server.connections.load(Ordering::SeqCst),
        0,
        "no socket opened"
    );
}

#[tokio::test]
async fn an_unanswered_heartbeat_replaces_the_socket() {
    let h = Harness::new(Vec::new(), ScriptedSms::default(), None).await;
    h.server.mute.store(true, Ordering::SeqCst);
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    h.wait_connections(2).await;
    let missed = h
        .shared
        .metrics
        .reconnects
        .get_or_create(&[("reason", "heartbeat")])
        .get();
    assert!(missed >= 1);
    // A live item after the reconnect still comes through.
    h.server.mute.store(false, Ordering::SeqCst);
    h.chat
        .transcript
        .lock()
        .unwrap()
        .push(agent("i-1", "after reconnect"));
    h.server
        .push
        .send(chat_frame(&agent("i-1", "after reconnect")))
        .unwrap();
    assert_eq!(h.wait_sent(1).await, ["after reconnect"]);
    cancel.cancel();
    assert_eq!(task.await.unwrap(), WorkerEnd::Stopped);
}

#[tokio::test]
async fn the_closing_text_goes_out_once_while_the_chat_end_keeps_failing_to_record() {
    // GIVEN a chat that ended while no socket was open (CreateParticipantConnection
    // answers 403), and DynamoDB failing the "ended" write more often than one round of
    // attempts (4); before, every retry came back through that 403 and sent the closing
    // text again
    let h = Harness::with_closing(
        Vec::new(),
        ScriptedSms::default(),
        None,
        Some("Chat closed."),
    )
    .await;
    h.chat.ended.store(true, Ordering::SeqCst);
    h.flaky.end_failures.store(9, Ordering::SeqCst);
    // WHEN the worker runs until the end is recorded
    let outcome = h.start(&CancellationToken::new()).await.unwrap();
    // THEN the closing text went out exactly once, and the session ended
    assert_eq!(outcome, WorkerEnd::Ended);
    assert_eq!(h.sms.sent(), ["Chat closed."]);
    assert!(h.flaky.end_calls.load(Ordering::SeqCst) >= 10);
    assert_eq!(h.session().await.status, Status::Ended);
}

#[tokio::test]
async fn a_worker_after_a_crash_does_not_repeat_a_closing_text_already_sent() {
    // GIVEN a session whose closing text was sent, but whose end was never recorded (the
    // relay crashed in between), and a chat Connect has ended
    let h = Harness::with_closing(
        vec![
            agent("i-1", "bye"),
            event("i-2", Role::System, "chat.ended"),
        ],
        ScriptedSms::default(),
        Some("i-2"),
        Some("Chat closed."),
    )
    .await;
    h.store
        .advance_cursor(
            &key(),
            &contact(),
            &Session::closing_sent_cursor(),
            Utc::now(),
        )
        .await
        .unwrap();
    h.chat.ended.store(true, Ordering::SeqCst);
    // WHEN a new worker takes the session
    let outcome = h.start(&CancellationToken::new()).await.unwrap();
    // THEN it only records the end: no SMS, no connection
    assert_eq!(outcome, WorkerEnd::Ended);
    assert!(h.sms.sent().is_empty(), "{:?}", h.sms.sent());
    assert_eq!(h.chat.connections.load(Ordering::SeqCst), 0);
    assert_eq!(h.session().await.status, Status::Ended);
}

#[tokio::test]
async fn no_notice_reaches_a_customer_who_texted_stop_after_the_worker_started() {
    // GIVEN a running worker for a customer who had not opted out, with a closing text
    // and an idle warning configured
    let h = Harness::with_closing(
        Vec::new(),
        ScriptedSms::default(),
        None,
        Some("Chat closed."),
    )
    .await;
    let (h, _timers) = h.with_idle(Vec::new(), Some("Still there?"));
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    h.wait_connections(1).await;
    // WHEN the customer texts STOP: the inbound side records the opt-out, then ends the
    // chat, so an agent joining, an idle mark and the chat ending arrive after it
    h.opt_out().await;
    // (the idle mark first: nothing before it has read the opt-out)
    for pushed in [
        event("i-1", Role::Customer, "participant.idle"),
        event("i-2", Role::Agent, "participant.joined"),
        event("i-3", Role::System, "chat.ended"),
    ] {
        h.server.push.send(chat_frame(&pushed)).unwrap();
    }
    // THEN the chat ends with neither the joined notice, the idle warning nor the closing
    // text sent
    let outcome = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(outcome, WorkerEnd::Ended);
    assert!(h.sms.sent().is_empty(), "{:?}", h.sms.sent());
    assert_eq!(
        h.shared
            .metrics
            .dropped
            .get_or_create(&[("reason", "opted_out")])
            .get(),
        1,
        "the joined notice"
    );
}

#[tokio::test]
async fn a_failed_opt_out_read_skips_only_that_notice() {
    // GIVEN a worker whose session read fails when an agent joins (the joined notice asks
    // the row whether the customer opted out)
    let h = Harness::new(
        vec![
            event("i-1", Role::Agent, "participant.joined"),
            agent("i-2", "how can I help?"),
        ],
        ScriptedSms::default(),
        None,
    )
    .await;
    h.flaky.get_failures.store(100, Ordering::SeqCst);
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    // THEN the notice is not sent, but the agent's reply after it is
    assert_eq!(h.wait_sent(1).await, ["how can I help?"]);
    let unverified = h
        .shared
        .metrics
        .dropped
        .get_or_create(&[("reason", "notice_unverified")])
        .get();
    assert_eq!(unverified, 1);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_worker_stopped_while_recording_the_end_keeps_the_closing_text_recorded() {
    // GIVEN a chat whose end came after an item that moved the cursor only in memory (a
    // participant left), and an "ended" write that keeps failing
    let h = Harness::with_closing(
        vec![
            agent("i-1", "bye"),
            event("i-2", Role::Agent, "participant.left"),
            event("i-3", Role::System, "chat.ended"),
        ],
        ScriptedSms::default(),
        None,
        Some("Chat closed."),
    )
    .await;
    h.flaky.end_failures.store(usize::MAX, Ordering::SeqCst);
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    assert_eq!(h.wait_sent(2).await, ["bye", "Chat closed."]);
    // WHEN the worker is stopped (shutdown, the shard moved) while it retries the write
    while h.flaky.end_calls.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    assert_eq!(task.await.unwrap(), WorkerEnd::Stopped);
    // THEN the row still says the closing text went out (no item position overwrote it),
    // so the next owner does not send it again
    assert!(h.session().await.closing_sent(), "{:?}", h.cursor().await);
}

/// A transcript archive that has nothing for the first `misses` reads, then `items`.
struct SlowArchive {
    misses: AtomicUsize,
    items: Vec<TranscriptItem>,
    reads: AtomicUsize,
}

#[async_trait]
impl TranscriptArchive for SlowArchive {
    async fn transcript(
        &self,
        contact_id: &ContactId,
        _started: chrono::DateTime<Utc>,
    ) -> Result<Option<Vec<TranscriptItem>>, StoreError> {
        assert_eq!(contact_id, &contact());
        self.reads.fetch_add(1, Ordering::SeqCst);
        if take_failure(&self.misses) {
            return Ok(None);
        }
        Ok(Some(self.items.clone()))
    }
}

/// What the agent said while the relay held no socket, then the end; the cursor is at i-1.
fn gap_transcript() -> Vec<TranscriptItem> {
    vec![
        agent("i-1", "delivered before the gap"),
        agent("i-2", "refund done"),
        agent("i-3", "anything else?"),
        event("i-4", Role::Agent, "participant.left"),
        event("i-5", Role::System, "chat.ended"),
    ]
}

#[tokio::test]
async fn a_chat_that_ended_in_a_gap_delivers_its_replies_with_a_token_that_still_reads() {
    // GIVEN a chat that ended while no socket was open (a relay restart: this worker never
    // connected), after two replies past the cursor, and a Connect that still lets an
    // unexpired connection token read an ended chat
    let h = Harness::with_closing(
        gap_transcript(),
        ScriptedSms::default(),
        Some("i-1"),
        Some("Chat closed."),
    )
    .await;
    h.chat.ended.store(true, Ordering::SeqCst);
    h.chat.readable_after_end.store(true, Ordering::SeqCst);
    // WHEN the worker starts (CreateParticipantConnection answers 403)
    let outcome = h.start(&CancellationToken::new()).await.unwrap();
    // THEN both replies, then the closing text, reach the phone once, in order, read with
    // the session's own connection token
    assert_eq!(outcome, WorkerEnd::Ended);
    assert_eq!(
        h.sms.sent(),
        ["refund done", "anything else?", "Chat closed."]
    );
    assert!(
        h.chat
            .transcript_tokens
            .lock()
            .unwrap()
            .contains(&"inbound-token".to_owned())
    );
    assert_eq!(h.session().await.status, Status::Ended);
}

#[tokio::test]
async fn a_chat_that_ended_in_a_gap_delivers_its_replies_from_the_archived_transcript() {
    // GIVEN a chat that ended while no socket was open, a Connect that refuses an ended
    // chat's transcript to every token (403), and the archived transcript appearing in S3
    // only after a couple of reads
    let archive = Arc::new(SlowArchive {
        misses: AtomicUsize::new(2),
        items: gap_transcript(),
        reads: AtomicUsize::new(0),
    });
    let h = Harness::with_archive(
        gap_transcript(),
        ScriptedSms::default(),
        Some("i-1"),
        Some("Chat closed."),
        Some(archive.clone()),
    )
    .await;
    h.chat.ended.store(true, Ordering::SeqCst);
    // WHEN the worker starts
    let outcome = h.start(&CancellationToken::new()).await.unwrap();
    // THEN the replies after the cursor and the closing text come from the archive, once,
    // in order
    assert_eq!(outcome, WorkerEnd::Ended);
    assert_eq!(
        h.sms.sent(),
        ["refund done", "anything else?", "Chat closed."]
    );
    assert_eq!(archive.reads.load(Ordering::SeqCst), 3);
    assert_eq!(h.session().await.status, Status::Ended);
}

#[tokio::test]
async fn a_chat_whose_gap_cannot_be_read_still_closes_and_says_so() {
    // GIVEN a chat that ended in a gap, no token that reads it, and no archive
    let h = Harness::with_closing(
        gap_transcript(),
        ScriptedSms::default(),
        Some("i-1"),
        Some("Chat closed."),
    )
    .await;
    h.chat.ended.store(true, Ordering::SeqCst);
    let outcome = h.start(&CancellationToken::new()).await.unwrap();
    // THEN the chat closes with its closing text, and the loss is counted
    assert_eq!(outcome, WorkerEnd::Ended);
    assert_eq!(h.sms.sent(), ["Chat closed."]);
    let unreadable = h
        .shared
        .metrics
        .errors
        .get_or_create(&[("kind", "transcript_unreadable")])
        .get();
    assert_eq!(unreadable, 1);
}

#[tokio::test]
async fn a_renewal_opens_the_next_socket_before_closing_the_current_one() {
    // GIVEN sockets renewed every 300 ms, and connection set-ups held to one a second (the
    // relay's share of Connect's quota), so each renewal waits its turn ~700 ms
    let h = Harness::with_connections(
        Vec::new(),
        ScriptedSms::default(),
        None,
        None,
        None,
        Duration::from_millis(300),
        Some(crate::rate::Rate {
            per_second: std::num::NonZeroU32::MIN,
            burst: std::num::NonZeroU32::MIN,
        }),
    )
    .await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    h.wait_connections(1).await;
    // WHEN the agent writes every 40 ms for 2.5 s, across renewals
    let mut pushed = Vec::new();
    for n in 1..=60 {
        let item = agent(&format!("i-{n}"), &format!("reply {n:02}"));
        h.chat.transcript.lock().unwrap().push(item.clone());
        // No socket open at that moment (between two): only the transcript has it.
        let _ = h.server.push.send(chat_frame(&item));
        pushed.push(tokio::time::Instant::now());
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let sent = h.wait_sent(60).await;
    // THEN every reply went out once, in order, across at least two renewals
    let expected: Vec<String> = (1..=60).map(|n| format!("reply {n:02}")).collect();
    assert_eq!(sent, expected);
    assert!(
        h.server.connections.load(Ordering::SeqCst) >= 3,
        "renewed: {} sockets",
        h.server.connections.load(Ordering::SeqCst)
    );
    // AND none waited for a renewal: each left well within one connection set-up wait
    // (break-before-make held every reply that came during the ~700 ms wait)
    let sent_at = h.sms.sent_at.lock().unwrap().clone();
    let worst = pushed
        .iter()
        .zip(&sent_at)
        .map(|(pushed, sent)| sent.saturating_duration_since(*pushed))
        .max()
        .unwrap();
    assert!(
        worst < Duration::from_millis(500),
        "a reply waited {worst:?}"
    );
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_worker_sends_nothing_once_its_shard_lease_is_lost_or_about_to_lapse() {
    // GIVEN a streaming worker
    let h = Harness::new(Vec::new(), ScriptedSms::default(), None).await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.server.push.receiver_count() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no socket");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.chat
        .transcript
        .lock()
        .unwrap()
        .push(agent("i-1", "before"));
    h.server
        .push
        .send(chat_frame(&agent("i-1", "before")))
        .unwrap();
    assert_eq!(h.wait_sent(1).await, ["before"]);
    // WHEN the lease manager says the shard's lease is about to lapse (DynamoDB degraded:
    // renewals fail while SNS still works), with discovery not looking (the worker is not
    // cancelled)
    h.owned.send_modify(|owned| {
        owned.version += 1;
        owned.shards.insert(0, Utc::now() - TimeDelta::seconds(1));
    });
    h.chat
        .transcript
        .lock()
        .unwrap()
        .push(agent("i-2", "after"));
    h.server
        .push
        .send(chat_frame(&agent("i-2", "after")))
        .unwrap();
    // THEN the worker stops without sending it, and the cursor stays before it
    let outcome = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(outcome, WorkerEnd::Stopped);
    assert_eq!(h.sms.sent(), ["before"]);
    assert_eq!(h.cursor().await.as_deref(), Some("i-1"));
    let fenced = h
        .shared
        .metrics
        .errors
        .get_or_create(&[("kind", "lease_fenced")])
        .get();
    assert_eq!(fenced, 1);
}

#[tokio::test]
async fn an_idle_worker_future_stays_small() {
    let h = Harness::new(Vec::new(), ScriptedSms::default(), None).await;
    let session = h.store.sessions().pop().unwrap();
    let worker = Worker::new(h.shared.clone(), &session, None, CancellationToken::new()).unwrap();
    let future = worker.run();
    let size = std::mem::size_of_val(&future);
    // 1,360 bytes when written; the socket, buffers and in-flight calls live in boxed
    // futures that exist only while connected.
    assert!(size <= 2048, "worker future is {size} bytes");
}

#[test]
fn heartbeats_share_slots_counted_from_the_epoch() {
    let epoch = Instant::now();
    let every = Duration::from_secs(10);
    let width = every / HEARTBEAT_SLOTS;
    for (offset_ms, slot) in [(0, 0), (1, 7), (499, 19), (500, 3), (12_345, 11)] {
        let now = epoch + Duration::from_millis(offset_ms);
        let first = first_heartbeat(epoch, now, every, slot);
        assert!(first > now, "in the future");
        assert!(first - now <= every + width, "within a period and a slot");
        let since = (first - epoch).as_millis();
        assert_eq!(since % width.as_millis(), 0, "on a slot boundary");
    }
    // Two sockets opened at different moments of one slot, given the same slot, wake
    // together.
    let a = first_heartbeat(epoch, epoch + width / 4, every, 5);
    let b = first_heartbeat(epoch, epoch + width * 3 / 4, every, 5);
    assert_eq!(a, b);
}

/// `ChatTimers` that records each call, with how many connections the chat had by then,
/// and fails as scripted first.
struct RecordingTimers {
    chat: Arc<FakeChat>,
    failures: Mutex<VecDeque<ChatError>>,
    calls: Mutex<Vec<(ContactId, IdleTimers, usize)>>,
}

impl RecordingTimers {
    fn new(chat: &Arc<FakeChat>, failures: Vec<ChatError>) -> Arc<Self> {
        Arc::new(Self {
            chat: Arc::clone(chat),
            failures: Mutex::new(failures.into()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<(ContactId, IdleTimers, usize)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl ChatTimers for RecordingTimers {
    async fn set_customer_timers(
        &self,
        instance_id: &InstanceId,
        contact_id: &ContactId,
        timers: IdleTimers,
    ) -> Result<(), ChatError> {
        assert_eq!(instance_id.as_str(), "instance-1");
        let connections = self.chat.connections.load(Ordering::SeqCst);
        self.calls
            .lock()
            .unwrap()
            .push((contact_id.clone(), timers, connections));
        match self.failures.lock().unwrap().pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

const TIMERS: IdleTimers = IdleTimers {
    idle: Some(10),
    disconnect: Some(5),
};

impl Harness {
    /// The relay configured with idle timers (and `warning` as the idle warning).
    fn with_idle(
        mut self,
        failures: Vec<ChatError>,
        warning: Option<&str>,
    ) -> (Self, Arc<RecordingTimers>) {
        let timers = RecordingTimers::new(&self.chat, failures);
        let shared = Arc::get_mut(&mut self.shared).expect("set up before any worker runs");
        shared.settings.idle_warning = warning.map(str::to_owned);
        shared.timers = Some(IdleTimerSetting {
            api: Arc::clone(&timers) as Arc<dyn ChatTimers>,
            instance_id: InstanceId::new("instance-1").unwrap(),
            timers: TIMERS,
        });
        (self, timers)
    }

    async fn wait_connections(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.server.connections.load(Ordering::SeqCst) < count {
            assert!(tokio::time::Instant::now() < deadline, "no socket");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn a_new_chat_gets_its_idle_timers_once_before_the_relay_first_connects() {
    // GIVEN a new chat (no cursor) and a relay configured with idle timers, whose calls
    // are throttled for longer than the in-place retries last
    let h = Harness::new(vec![customer("i-1", "hello")], ScriptedSms::default(), None).await;
    let attempts = usize::try_from(h.shared.settings.attempts).unwrap();
    let throttled = (0..attempts)
        .map(|_| ChatError::Throttled("slow down".into()))
        .collect();
    let (h, timers) = h.with_idle(throttled, None);
    let cancel = CancellationToken::new();
    // WHEN the worker connects, and later reconnects (the socket stops answering)
    let task = h.start(&cancel);
    h.wait_connections(1).await;
    h.server.mute.store(true, Ordering::SeqCst);
    h.wait_connections(3).await;
    cancel.cancel();
    task.await.unwrap();
    // THEN the timers were asked for before the first connection, retried in place, asked
    // again at the next connection because throttling may pass, and never after they were
    // set
    let mut expected = vec![(contact(), TIMERS, 0); attempts];
    expected.push((contact(), TIMERS, 1));
    assert_eq!(timers.calls(), expected);
    assert_eq!(
        h.shared
            .metrics
            .errors
            .get_or_create(&[("kind", "idle_timers")])
            .get(),
        1
    );
}

#[tokio::test]
async fn a_chat_already_relayed_or_refused_is_not_given_timers_again() {
    // GIVEN a chat the relay has a cursor for (a restart, a lease move)
    let h = Harness::new(
        vec![customer("i-1", "hello"), agent("i-2", "hi")],
        ScriptedSms::default(),
        Some("i-2"),
    )
    .await;
    let (h, timers) = h.with_idle(Vec::new(), None);
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    h.wait_connections(1).await;
    cancel.cancel();
    task.await.unwrap();
    // THEN its timers are left alone
    assert!(timers.calls().is_empty(), "{:?}", timers.calls());

    // AND a new chat whose timers Connect refuses outright is not asked twice
    let h = Harness::new(Vec::new(), ScriptedSms::default(), None).await;
    let (h, timers) = h.with_idle(vec![ChatError::Invalid("bad request".into())], None);
    let task = h.start(&CancellationToken::new());
    h.wait_connections(1).await;
    h.server.mute.store(true, Ordering::SeqCst);
    h.wait_connections(2).await;
    task.abort();
    assert_eq!(timers.calls().len(), 1, "{:?}", timers.calls());
}

#[tokio::test]
async fn the_customers_idle_mark_sends_the_warning_once_and_moves_no_cursor() {
    // GIVEN a relayed chat with an idle warning configured
    let h = Harness::new(
        vec![customer("i-1", "hello"), agent("i-2", "hi")],
        ScriptedSms::default(),
        Some("i-2"),
    )
    .await;
    let (h, _timers) = h.with_idle(Vec::new(), Some("Still there? Reply to keep chatting."));
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    h.wait_connections(1).await;
    // WHEN Connect marks the agent idle, then the customer (twice on the wire), and the
    // agent writes again
    for pushed in [
        event("i-3", Role::Agent, "participant.idle"),
        event("i-4", Role::Customer, "participant.idle"),
        event("i-4", Role::Customer, "participant.idle"),
        agent("i-5", "are you there?"),
    ] {
        h.server.push.send(chat_frame(&pushed)).unwrap();
    }
    // THEN the customer gets the warning once, before the agent's next reply
    assert_eq!(
        h.wait_sent(2).await,
        ["Still there? Reply to keep chatting.", "are you there?"]
    );
    // AND the cursor never pointed at the idle event (it is not in the transcript): it
    // went from the reply before it to the reply after it
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.cursor().await.as_deref() != Some("i-5") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cursor {:?}",
            h.cursor().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    let writes = h.flaky.cursor_writes.lock().unwrap().clone();
    assert!(!writes.iter().any(|id| id == "i-4"), "{writes:?}");
    assert_eq!(h.sms.sent().len(), 2);
}

#[tokio::test]
async fn agent_messages_go_out_tagged_for_delivery_events_and_notices_do_not() {
    // GIVEN an agent who joins and writes a reply long enough for two SMS
    let long = "word ".repeat(50);
    let h = Harness::new(
        vec![
            event("i-1", Role::Agent, "participant.joined"),
            agent("i-2", &long),
        ],
        ScriptedSms::default(),
        None,
    )
    .await;
    let cancel = CancellationToken::new();
    let task = h.start(&cancel);
    // WHEN the worker relays them
    h.wait_sent(3).await;
    cancel.cancel();
    task.await.unwrap();
    // THEN each part of the reply names the message and its place; the notice carries none
    let tag = |part| {
        Some(DeliveryTag {
            contact_id: contact(),
            item_id: ItemId::new("i-2").unwrap(),
            part,
            parts: 2,
        })
    };
    assert_eq!(*h.sms.tags.lock().unwrap(), [None, tag(1), tag(2)]);
}
