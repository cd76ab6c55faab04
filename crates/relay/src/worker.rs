//! One session's worker: a single task that owns the session's socket, its cursor and its
//! order, from the first connection until the chat ends or the relay lets go of it.
//!
//! Each connection runs the same steps: CreateParticipantConnection (WEBSOCKET and
//! CONNECTION_CREDENTIALS, our own token for GetTranscript) → connect → subscribe → catch up
//! from the cursor with GetTranscript → stream, with ping + heartbeat every period. Any
//! failure ends the connection; the worker backs off (capped, full jitter) and starts over,
//! and catch-up fills whatever the gap swallowed. A planned renewal before the socket or
//! token ages out takes the same path without the backoff.
//!
//! Items are handled one at a time, in order: [`crate::forward`] decides, SNS publishes
//! every part (retried in place while the error is retriable, so order holds), and only then
//! is the cursor written. A message is skipped only when it can never be delivered (opted
//! out, rejected by SNS), and then it is logged and counted.
//!
//! Single owner, no locks: everything mutable lives in the worker; what is shared
//! ([`Shared`]) is read-only or internally synchronised (metrics, the connect semaphore).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bridge_core::ids::{
    ConnectionToken, ContactId, InstanceId, ItemId, ParticipantToken, SmsMessageId,
};
use bridge_core::menu::MenuChange;
use bridge_core::ports::{
    ChatError, ChatReader, ChatTimers, Clock, ConnectParticipant, ConnectionKind, DeliveryTag,
    IdleTimers, SessionStore, SmsError, SmsSender, StoreError, TranscriptArchive, TranscriptItem,
    TranscriptStart,
};
use bridge_core::session::{EndedChat, Session, SessionKey};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff;
use crate::config::BackoffPolicy;
use crate::error::{SessionError, chain, timed};
use crate::forward::{self, Action, Rules, Skip, SmsKind};
use crate::frame::{self, FrameError, ServerFrame};
use crate::leases::Owned;
use crate::metrics::{Metrics, OpenSocket};
use crate::progress::{AsCursor, Progress, Source};
use crate::rate::{RateLimit, Ticket};
use crate::ws::{self, Dialer, Socket};

/// Most GetTranscript pages one catch-up reads; a guard against a service that keeps
/// returning a NextToken.
const MAX_PAGES: usize = 10_000;
/// Renew the connection this long before its token expires.
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(300);
/// A connection is never planned to last less than this (a token that expires sooner
/// would otherwise make the worker renew in a tight loop).
const MIN_CONNECTION_LIFE: Duration = Duration::from_secs(60);

/// How sessions behave, from configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The forwarding rule's options.
    pub rules: Rules,
    /// SMS sent when the chat ends.
    pub closing_text: Option<String>,
    /// SMS sent when Connect marks the customer idle; `None`: nothing is sent.
    pub idle_warning: Option<String>,
    /// Ping + heartbeat period.
    pub heartbeat_every: Duration,
    /// Timeout of each API call.
    pub call_timeout: Duration,
    /// Timeout of connect + subscribe.
    pub connect_timeout: Duration,
    /// Reconnect and retry backoff.
    pub backoff: BackoffPolicy,
    /// Attempts per SMS part or store write.
    pub attempts: u32,
    /// Planned socket replacement.
    pub socket_lifetime: Duration,
    /// How long a chat that ended in a gap waits for its archived transcript.
    pub transcript_wait: Duration,
}

/// What every session worker shares.
pub struct Shared {
    /// Connect participant API.
    pub chat: Arc<dyn ChatReader>,
    /// Sessions (cursor, end of chat).
    pub sessions: Arc<dyn SessionStore>,
    /// Outbound SMS.
    pub sms: Arc<dyn SmsSender>,
    /// Wall time for store writes.
    pub clock: Arc<dyn Clock>,
    /// Behaviour.
    pub settings: Settings,
    /// Metrics handles.
    pub metrics: Metrics,
    /// Opens sockets (shared TLS config).
    pub dialer: Dialer,
    /// Bounds concurrent connection set-ups, so a mass reconnect does not stampede Connect.
    pub connect_permits: Semaphore,
    /// This instance's share of Connect's CreateParticipantConnection rate (`None`: no
    /// limit).
    pub connect_rate: Option<RateLimit>,
    /// The instant heartbeat slots are counted from (see [`first_heartbeat`]).
    pub epoch: Instant,
    /// Where ended chats' transcripts are archived (Connect's S3 bucket), when known.
    pub archive: Option<Arc<dyn TranscriptArchive>>,
    /// The customer's idle timers and where to set them, when configured.
    pub timers: Option<IdleTimerSetting>,
    /// The shards this instance holds, each with the time until which relaying it is safe
    /// (the lease manager's view): a worker never sends an SMS for a shard past it.
    pub owned: watch::Receiver<Owned>,
}

/// The customer's idle timers, set on each chat before the relay first connects to it.
pub struct IdleTimerSetting {
    /// Connect's UpdateParticipantRoleConfig.
    pub api: Arc<dyn ChatTimers>,
    /// The instance the chats are in.
    pub instance_id: InstanceId,
    /// The timers.
    pub timers: IdleTimers,
}

impl Shared {
    /// Whether this instance may still send for `shard` now: it holds the shard's lease,
    /// and the lease is not about to lapse. Checked before every SMS, so two relays never
    /// send for one session, whatever discovery is doing (a slow shard query, DynamoDB
    /// degraded so renewals fail while SNS still works).
    fn may_send(&self, shard: u16) -> bool {
        let now = self.clock.now();
        self.owned
            .borrow()
            .shards
            .get(&shard)
            .is_some_and(|until| now < *until)
    }
}

/// Keep-alives are spread over this many slots per period.
pub const HEARTBEAT_SLOTS: u32 = 50;

/// When a new socket's first heartbeat is due: at the start of slot `slot` (of
/// [`HEARTBEAT_SLOTS`] per period) in the period after `now`, slots counted from `epoch`.
///
/// Thousands of sessions share 50 slots (200 ms apart with the 10 s default), rather than
/// each waking at its own random instant: the process wakes 50 times a period and sends a
/// few hundred heartbeats each time (a few milliseconds of work), instead of waking and
/// switching threads for every socket. This halved the idle CPU of 10,000 sessions in the
/// load benchmark.
pub fn first_heartbeat(epoch: Instant, now: Instant, every: Duration, slot: u32) -> Instant {
    let width = (every / HEARTBEAT_SLOTS).max(Duration::from_millis(1));
    let elapsed = now.saturating_duration_since(epoch);
    let slots_so_far = elapsed.as_nanos() / width.as_nanos();
    let next = u32::try_from(slots_so_far + 1).unwrap_or(u32::MAX);
    let base = epoch + width.saturating_mul(next);
    base + width.saturating_mul(slot % HEARTBEAT_SLOTS)
}

/// How a worker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerEnd {
    /// The chat ended; the session is marked `ended`.
    Ended,
    /// The session moved on to another chat; a new worker takes it.
    Moved,
    /// Cancelled (shutdown, shard given up, session gone from the index).
    Stopped,
}

/// How one connection ended.
#[derive(Debug)]
enum Exit {
    Ended,
    Moved,
    Stopped,
}

/// How a catch-up ended.
enum CatchUp {
    /// Every item up to the transcript's end was handled: stream from here.
    Done,
    /// The session is over (the chat's end item, moved, cancelled).
    Exit(Exit),
    /// GetTranscript answered 403: the chat has ended and this token cannot read it.
    Ended,
}

/// What became of one item's SMS.
enum Delivery {
    Sent,
    Dropped,
    Cancelled,
}

/// One session's worker.
pub struct Worker {
    shared: Arc<Shared>,
    key: SessionKey,
    /// The session's shard, whose lease fences every SMS.
    shard: u16,
    contact_id: ContactId,
    participant_token: ParticipantToken,
    opted_out: bool,
    /// When the chat started (where to look for its archived transcript).
    started_at: DateTime<Utc>,
    /// The connection token of the latest connection: after a gap it may still read what
    /// was said in it.
    token: Option<ConnectionToken>,
    /// This chat was delivered to its end, closing text included (in this worker, or
    /// before a restart: [`Session::closing_sent`]); the closing text is never sent twice.
    closing_sent: bool,
    /// The idle timers are still to be set on this chat ([`Shared::timers`]).
    timers_due: bool,
    progress: Progress,
    /// The chat before this one, when its end may not have reached the phone
    /// ([`Session::undelivered_previous`]): delivered first. Boxed: rarely there.
    previous: Option<Box<EndedChat>>,
    /// When the chat was last active (the row's last write, then each item handled): a
    /// connection set-up's place in the queue for [`Shared::connect_rate`].
    active_at: DateTime<Utc>,
    /// A place in that queue taken for the first connection, when discovery queued it.
    ticket: Option<Ticket>,
    cancel: CancellationToken,
}

impl Worker {
    /// A worker for `session`'s current chat; `None` when it has no chat yet. `ticket`: its
    /// first connection's place in the [`Shared::connect_rate`] queue, when already taken.
    pub fn new(
        shared: Arc<Shared>,
        session: &Session,
        ticket: Option<Ticket>,
        cancel: CancellationToken,
    ) -> Option<Self> {
        let chat = session.chat.as_ref()?;
        let closing_sent = session.closing_sent();
        // A chat the relay has written a cursor for has been relayed (and its timers set)
        // before: timers are set once, before any agent is likely to have joined, since
        // Connect applies a change only from the next agent on.
        let timers_due = shared.timers.is_some() && session.cursor_for_current_chat().is_none();
        Some(Self {
            shared,
            key: session.key.clone(),
            shard: session.shard,
            contact_id: chat.contact_id.clone(),
            participant_token: chat.participant_token.clone(),
            opted_out: session.opted_out,
            started_at: session.started_at,
            token: None,
            closing_sent,
            timers_due,
            // After the closing text everything before it was delivered: nothing to read.
            progress: Progress::new(
                session
                    .cursor_for_current_chat()
                    .filter(|_| !closing_sent)
                    .cloned(),
            ),
            previous: session.undelivered_previous().map(Box::new),
            active_at: session.updated_at,
            ticket,
            cancel,
        })
    }

    /// Relays until the chat ends, the session moves on, or the worker is cancelled.
    ///
    /// Everything but waiting on the socket is boxed and awaited in place, so the task of an
    /// idle session holds little more than the worker and its socket (measured in
    /// `an_idle_worker_future_stays_small`).
    pub async fn run(mut self) -> WorkerEnd {
        info!("relaying session");
        let _running = Running::new(&self.shared.metrics);
        if self.previous.is_some() || self.closing_sent {
            // Work before any connection, however long: a turn granted meanwhile would be
            // spent late, outside the rate's spacing. The connection queues when it comes.
            self.ticket = None;
        }
        if let Some(previous) = self.previous.take()
            && let Some(outcome) = Box::pin(self.deliver_previous(*previous)).await
        {
            info!(outcome = ?outcome, "session released");
            return outcome;
        }
        let mut failures = 0u32;
        let outcome = loop {
            if self.closing_sent {
                // An earlier worker sent the closing text, then failed to mark the chat
                // ended (or crashed): only that is left to do.
                match Box::pin(self.finish(None)).await {
                    Ok(Exit::Ended) => break WorkerEnd::Ended,
                    Ok(_) => break WorkerEnd::Stopped,
                    Err(error) => {
                        warn!(error = %chain(&error), "chat end not recorded; retrying");
                        let delay = backoff::delay(self.shared.settings.backoff, failures);
                        failures = failures.saturating_add(1);
                        tokio::select! {
                            () = self.cancel.cancelled() => break WorkerEnd::Stopped,
                            () = Box::pin(tokio::time::sleep(delay)) => continue,
                        }
                    }
                }
            }
            let exit = match Box::pin(self.connection(&mut failures)).await {
                Ok(exit) => exit,
                Err(error) => {
                    warn!(kind = error.kind(), error = %chain(&error), failures, "session connection lost; reconnecting");
                    self.shared.metrics.error(error.kind());
                    self.shared.metrics.reconnect(error.kind());
                    let delay = backoff::delay(self.shared.settings.backoff, failures);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        () = self.cancel.cancelled() => Exit::Stopped,
                        // Boxed, like every rarely used future here: an idle session's task
                        // only holds what waiting on its socket needs.
                        () = Box::pin(tokio::time::sleep(delay)) => continue,
                    }
                }
            };
            match exit {
                Exit::Stopped => {
                    Box::pin(self.flush_cursor()).await;
                    break WorkerEnd::Stopped;
                }
                Exit::Ended => break WorkerEnd::Ended,
                Exit::Moved => break WorkerEnd::Moved,
            }
        };
        info!(outcome = ?outcome, "session released");
        outcome
    }

    /// The previous chat ended while no relay held its socket, and the customer's next
    /// text started this one before a relay came back to read that end: what the agent
    /// said in the gap, then the closing text, go out first, read as for any chat that
    /// ended in a gap ([`Self::ended_in_gap`]: its connection tokens went with it, so in
    /// practice from the archived transcript). Its cursor is written on the row as it
    /// goes (the store accepts the previous chat's), so a crash resumes where it stopped.
    /// `None`: done, relay this chat; `Some`: the worker is over (cancelled, or the
    /// session moved on again).
    async fn deliver_previous(&mut self, previous: EndedChat) -> Option<WorkerEnd> {
        info!(previous = %previous.contact_id, "the previous chat ended unseen; delivering its end first");
        let mut ended = Self {
            shared: Arc::clone(&self.shared),
            key: self.key.clone(),
            shard: self.shard,
            contact_id: previous.contact_id,
            participant_token: self.participant_token.clone(),
            opted_out: self.opted_out,
            started_at: previous.started_at,
            token: None,
            closing_sent: false,
            timers_due: false,
            progress: Progress::new(previous.cursor),
            previous: None,
            active_at: self.active_at,
            // It reads the archive, not a socket.
            ticket: None,
            cancel: self.cancel.clone(),
        };
        let mut failures = 0u32;
        loop {
            match Box::pin(ended.ended_in_gap()).await {
                Ok(Exit::Ended) => {
                    // What it learnt about STOP holds for this chat too.
                    self.opted_out |= ended.opted_out;
                    return None;
                }
                Ok(Exit::Stopped) => return Some(WorkerEnd::Stopped),
                Ok(Exit::Moved) => return Some(WorkerEnd::Moved),
                Err(error) => {
                    warn!(kind = error.kind(), error = %chain(&error), failures, "previous chat not delivered; retrying");
                    self.shared.metrics.error(error.kind());
                    let delay = backoff::delay(self.shared.settings.backoff, failures);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        () = self.cancel.cancelled() => return Some(WorkerEnd::Stopped),
                        () = Box::pin(tokio::time::sleep(delay)) => {}
                    }
                }
            }
        }
    }

    /// One connection: open, catch up, stream.
    async fn connection(&mut self, failures: &mut u32) -> Result<Exit, SessionError> {
        if self.timers_due {
            Box::pin(self.set_timers()).await;
        }
        let opening = Box::pin(self.open());
        let opened = tokio::select! {
            () = self.cancel.cancelled() => return Ok(Exit::Stopped),
            opened = opening => opened?,
        };
        let Some(Opened {
            mut socket,
            token,
            renew_at,
        }) = opened
        else {
            // 403 on CreateParticipantConnection: the chat is over, maybe with replies the
            // gap swallowed.
            return Box::pin(self.ended_in_gap()).await;
        };
        let _open = OpenSocket::new(&self.shared.metrics.sockets_open);
        let caught_up = Box::pin(self.catch_up(&token)).await;
        // Kept: should the chat end while no socket is open, it may still read what was
        // said in the gap.
        self.token = Some(token);
        match caught_up {
            Ok(CatchUp::Done) => self.stream(socket, renew_at, failures).await,
            Ok(CatchUp::Exit(exit)) => {
                Box::pin(ws::close(&mut socket)).await;
                Ok(exit)
            }
            Ok(CatchUp::Ended) => {
                Box::pin(ws::close(&mut socket)).await;
                Box::pin(self.ended_in_gap()).await
            }
            Err(error) => {
                Box::pin(ws::close(&mut socket)).await;
                Err(error)
            }
        }
    }

    /// The chat ended while this worker held no socket (a reconnect, a renewal, a restart
    /// or a lease move was under way): whatever the agent said in the gap is read from
    /// wherever it still can be, then the chat is closed as usual.
    ///
    /// 1. GetTranscript with this worker's last connection token, then with the session's
    ///    (the inbound side's): whether Connect answers an unexpired token after the chat
    ///    ended is not documented, so both are tried, and a 403 moves on.
    /// 2. The transcript Connect writes to S3 when the chat ends, when the relay is told
    ///    where ([`Shared::archive`]), waiting up to `transcript_wait` for it to appear.
    /// 3. Otherwise the gap's replies are lost: ERROR, counted, and the chat closes.
    async fn ended_in_gap(&mut self) -> Result<Exit, SessionError> {
        info!("chat ended while no socket was open; reading what it said since the cursor");
        let mut tokens: Vec<ConnectionToken> = self.token.take().into_iter().collect();
        if let Ok(Ok(Some(session))) = tokio::time::timeout(
            self.shared.settings.call_timeout,
            self.shared.sessions.get(&self.key),
        )
        .await
            && let Some(chat) = session
                .chat
                .filter(|chat| chat.contact_id == self.contact_id)
            && !tokens.contains(&chat.connection.token)
        {
            tokens.push(chat.connection.token);
        }
        for token in &tokens {
            match Box::pin(self.catch_up(token)).await? {
                CatchUp::Exit(exit) => return Ok(exit),
                // Read to the end without an end item: the transcript is all there is.
                CatchUp::Done => return Box::pin(self.finish(None)).await,
                CatchUp::Ended => debug!("connection token cannot read the ended chat"),
            }
        }
        if let Some(archive) = self.shared.archive.clone()
            && let Some(exit) = Box::pin(self.deliver_archived(archive.as_ref())).await?
        {
            return Ok(exit);
        }
        self.shared.metrics.error("transcript_unreadable");
        error!(
            archive = self.shared.archive.is_some(),
            "chat ended while no socket was open and its transcript could not be read: \
             replies sent in the gap are not delivered (configure the transcript bucket: \
             BRIDGE_RELAY_TRANSCRIPT_S3)"
        );
        Box::pin(self.finish(None)).await
    }

    /// Delivers what the archived transcript of the ended chat holds after the cursor,
    /// polling for it (Connect writes it some tens of seconds after the end) until
    /// `transcript_wait` has passed. `None` when it never came or could not be read.
    async fn deliver_archived(
        &mut self,
        archive: &dyn TranscriptArchive,
    ) -> Result<Option<Exit>, SessionError> {
        let settings = &self.shared.settings;
        let deadline = Instant::now() + settings.transcript_wait;
        let mut attempt = 0u32;
        let items = loop {
            let read = tokio::time::timeout(
                settings.call_timeout,
                archive.transcript(&self.contact_id, self.started_at),
            )
            .await;
            match read {
                Ok(Ok(Some(items))) => break items,
                Ok(Ok(None)) => debug!(attempt, "archived transcript not written yet"),
                Ok(Err(error))
                    if !error.is_retriable() && !matches!(error, StoreError::Other(_)) =>
                {
                    warn!(error = %chain(&error), "archived transcript unreadable");
                    return Ok(None);
                }
                Ok(Err(error)) => {
                    warn!(attempt, error = %chain(&error), "archived transcript not read; retrying")
                }
                Err(_) => warn!(attempt, "archived transcript read timed out; retrying"),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let delay = backoff::delay(settings.backoff, attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(Some(Exit::Stopped)),
                () = tokio::time::sleep(delay) => {}
            }
        };
        info!(
            items = items.len(),
            "delivering from the archived transcript"
        );
        self.shared.metrics.error("transcript_from_archive");
        // After the cursor: the archive is read whole, not from a start position.
        let from = match self.progress.start() {
            TranscriptStart::FromItem(cursor) => items
                .iter()
                .position(|item| item.id == cursor)
                .map_or(0, |at| at + 1),
            TranscriptStart::Oldest => 0,
        };
        for item in &items[from..] {
            if self.cancel.is_cancelled() {
                return Ok(Some(Exit::Stopped));
            }
            if let Some(exit) = self.handle(item, Source::Transcript, None).await? {
                return Ok(Some(exit));
            }
        }
        Ok(Some(Box::pin(self.finish(None)).await?))
    }

    /// Sets the customer's idle timers on this chat, retrying throttling and outages in
    /// place a few times (Connect allows 2 such calls a second per account; a burst of new
    /// chats can exceed it). A failure is logged and counted and never holds up the chat
    /// beyond that: one that may still pass is tried again at the next connection, a
    /// refusal is given up.
    async fn set_timers(&mut self) {
        let shared = Arc::clone(&self.shared);
        let Some(setting) = shared.timers.as_ref() else {
            self.timers_due = false;
            return;
        };
        let contact = &self.contact_id;
        let set = self
            .retrying("idle timers", || async move {
                setting
                    .api
                    .set_customer_timers(&setting.instance_id, contact, setting.timers)
                    .await
                    .map_err(SessionError::Timers)
            })
            .await;
        match set {
            Ok(Some(())) => {
                debug!(timers = ?setting.timers, "idle timers set");
                self.timers_due = false;
            }
            // Cancelled: the worker is going away.
            Ok(None) => {}
            Err(error) => {
                let retry = error.is_retriable();
                warn!(error = %chain(&error), retry, "idle timers not set on the chat");
                self.shared.metrics.error("idle_timers");
                self.timers_due = retry;
            }
        }
    }

    /// CreateParticipantConnection, connect, subscribe ([`open`]) for this session.
    fn open(
        &mut self,
    ) -> impl Future<Output = Result<Option<Opened>, SessionError>> + Send + 'static {
        let turn = self.shared.connect_rate.as_ref().map(|rate| {
            self.ticket
                .take()
                .unwrap_or_else(|| rate.ticket(self.active_at))
        });
        open(
            Arc::clone(&self.shared),
            self.participant_token.clone(),
            turn,
        )
    }

    /// Delivers what the transcript holds after the cursor. `Some` when the session is
    /// over (chat ended, moved, or the worker was cancelled).
    async fn catch_up(&mut self, token: &ConnectionToken) -> Result<CatchUp, SessionError> {
        let start = self.progress.start();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            if self.cancel.is_cancelled() {
                return Ok(CatchUp::Exit(Exit::Stopped));
            }
            let page = timed(
                self.shared.settings.call_timeout,
                "get transcript",
                self.shared
                    .chat
                    .get_transcript(token, &start, next_token.as_deref()),
            )
            .await?;
            let page = match page {
                Ok(page) => page,
                Err(ChatError::ChatEnded) => return Ok(CatchUp::Ended),
                Err(error) => return Err(SessionError::Transcript(error)),
            };
            for item in &page.items {
                // Stop between items, not after the page: a successor may start as soon as
                // this worker is gone, and must not find it still sending.
                if self.cancel.is_cancelled() {
                    return Ok(CatchUp::Exit(Exit::Stopped));
                }
                if let Some(exit) = self.handle(item, Source::Transcript, None).await? {
                    return Ok(CatchUp::Exit(exit));
                }
            }
            match page.next_token {
                Some(token) => next_token = Some(token),
                None => {
                    self.flush_cursor().await;
                    return Ok(CatchUp::Done);
                }
            }
        }
        warn!(pages = MAX_PAGES, "catch-up stopped at the page limit");
        self.flush_cursor().await;
        Ok(CatchUp::Done)
    }

    /// Reads frames and keeps the socket alive until the connection ends.
    ///
    /// Renewal is make-before-break: when the socket is due for replacement the next
    /// connection is opened (waiting its turn at the connection rate limit) while this one
    /// keeps streaming; once the new socket is subscribed, a catch-up through its token
    /// covers whatever arrived in between, and only then is the old socket closed. A reply
    /// never waits for a renewal, and a chat that ends during one is still streaming.
    async fn stream(
        &mut self,
        socket: Box<Socket>,
        renew_at: Instant,
        failures: &mut u32,
    ) -> Result<Exit, SessionError> {
        let mut socket = socket;
        let mut renew_at = renew_at;
        let mut next: Option<Opening> = None;
        let every = self.shared.settings.heartbeat_every;
        let first = first_heartbeat(
            self.shared.epoch,
            Instant::now(),
            every,
            rand::random_range(0..HEARTBEAT_SLOTS),
        );
        let mut ticker = tokio::time::interval_at(first, every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut unanswered = false;
        loop {
            // `biased`: frames already received (a heartbeat echo among them) are read
            // before the ticker is asked whether the last heartbeat went unanswered.
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    Box::pin(ws::close(&mut socket)).await;
                    return Ok(Exit::Stopped);
                }
                frame = socket.next() => {
                    let at = Instant::now();
                    let text = match frame {
                        None | Some(Ok(Message::Close(_))) => return Err(SessionError::Closed),
                        Some(Err(error)) => return Err(error.into()),
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(_)) => continue,
                    };
                    let handled = Box::pin(self.on_frame(&text, at, &mut unanswered, failures)).await;
                    match handled {
                        Ok(None) => {}
                        Ok(Some(exit)) => {
                            Box::pin(ws::close(&mut socket)).await;
                            return Ok(exit);
                        }
                        Err(error) => {
                            Box::pin(ws::close(&mut socket)).await;
                            return Err(error);
                        }
                    }
                }
                opened = async {
                    match next.as_mut() {
                        Some(opening) => opening.await,
                        None => std::future::pending().await,
                    }
                }, if next.is_some() => {
                    next = None;
                    match opened {
                        Ok(Some(opened)) => {
                            let old = std::mem::replace(&mut socket, opened.socket);
                            renew_at = opened.renew_at;
                            unanswered = false;
                            self.shared.metrics.reconnect("renew");
                            let caught_up = Box::pin(self.catch_up(&opened.token)).await;
                            self.token = Some(opened.token);
                            let mut old = old;
                            Box::pin(ws::close(&mut old)).await;
                            match caught_up {
                                Ok(CatchUp::Done) => debug!("connection renewed"),
                                Ok(CatchUp::Exit(exit)) => {
                                    Box::pin(ws::close(&mut socket)).await;
                                    return Ok(exit);
                                }
                                Ok(CatchUp::Ended) => {
                                    Box::pin(ws::close(&mut socket)).await;
                                    return Box::pin(self.ended_in_gap()).await;
                                }
                                Err(error) => {
                                    Box::pin(ws::close(&mut socket)).await;
                                    return Err(error);
                                }
                            }
                        }
                        // The chat is over: its end arrives on the socket still open.
                        Ok(None) => {
                            debug!("renewal refused: the chat has ended");
                            renew_at = Instant::now() + self.shared.settings.socket_lifetime;
                        }
                        Err(error) => {
                            warn!(kind = error.kind(), error = %chain(&error), "renewal failed; the current socket goes on");
                            self.shared.metrics.error(error.kind());
                            renew_at = Instant::now() + backoff::delay(self.shared.settings.backoff, *failures);
                            *failures = failures.saturating_add(1);
                        }
                    }
                }
                _ = ticker.tick() => {
                    if unanswered {
                        return Err(SessionError::HeartbeatMissed);
                    }
                    if next.is_none() && Instant::now() >= renew_at {
                        next = Some(Box::pin(self.open()));
                    }
                    Box::pin(timed(self.shared.settings.call_timeout, "heartbeat send", async {
                        // Fed, then sent: both frames leave in one write.
                        socket.feed(Message::text(frame::PING)).await?;
                        socket.send(Message::text(frame::HEARTBEAT)).await
                    }))
                    .await??;
                    unanswered = true;
                    Box::pin(self.flush_cursor()).await;
                }
            }
        }
    }

    async fn on_frame(
        &mut self,
        text: &str,
        at: Instant,
        unanswered: &mut bool,
        failures: &mut u32,
    ) -> Result<Option<Exit>, SessionError> {
        match frame::parse(text) {
            Ok(ServerFrame::Chat(item)) => self.handle(&item, Source::Stream, Some(at)).await,
            Ok(ServerFrame::Heartbeat) => {
                *unanswered = false;
                // A socket that carried a heartbeat round trip works: forget past failures.
                *failures = 0;
                Ok(None)
            }
            Ok(ServerFrame::Pong { ok: false }) => {
                self.shared.metrics.error("ping");
                warn!("deep heartbeat failed");
                Ok(None)
            }
            Ok(ServerFrame::Failure) => {
                self.shared.metrics.error("service_frame");
                warn!("service reported a socket failure");
                Ok(None)
            }
            Ok(
                ServerFrame::Pong { ok: true }
                | ServerFrame::Subscribed { .. }
                | ServerFrame::Other,
            ) => Ok(None),
            Err(FrameError::ItemId) => {
                // Without an id an item can be neither ordered nor a cursor; messages
                // always have one.
                self.shared.metrics.error("frame");
                warn!("chat item without an id ignored");
                Ok(None)
            }
            Err(error) => {
                // An item we could not read may be a message: resynchronise from the
                // transcript rather than lose it.
                Err(SessionError::Frame(error))
            }
        }
    }

    /// Handles one item in order. `Some` when the session is over.
    async fn handle(
        &mut self,
        item: &TranscriptItem,
        source: Source,
        frame_at: Option<Instant>,
    ) -> Result<Option<Exit>, SessionError> {
        if self.progress.is_seen(item, source) {
            return Ok(None);
        }
        self.active_at = self.shared.clock.now();
        match forward::decide(item, &self.contact_id, self.shared.settings.rules) {
            Action::Skip { why, persisted } => {
                let cursor = why != Skip::OtherChat && (persisted || source == Source::Transcript);
                debug!(item = %item.id, why = ?why, "item not sent");
                let cursor = if cursor {
                    AsCursor::Unwritten
                } else {
                    AsCursor::Never
                };
                self.progress.mark(item, source, cursor);
                Ok(None)
            }
            Action::Send { sent, parts, menu } => {
                let refused = if sent.is_notice() {
                    !self.notice_allowed().await
                } else {
                    self.opted_out
                };
                if refused {
                    if self.opted_out {
                        warn!(item = %item.id, kind = sent.as_str(), "customer opted out; item not sent");
                        self.shared.metrics.dropped("opted_out");
                    }
                    self.progress.mark(item, source, AsCursor::Unwritten);
                    return Ok(None);
                }
                match self.deliver(Some(&item.id), sent, &parts, frame_at).await? {
                    Delivery::Sent => {
                        if !self.write_cursor(&item.id, &menu).await? {
                            info!("session moved to another chat");
                            return Ok(Some(Exit::Moved));
                        }
                        self.progress.mark(item, source, AsCursor::Written);
                        Ok(None)
                    }
                    Delivery::Dropped => {
                        self.progress.mark(item, source, AsCursor::Unwritten);
                        Ok(None)
                    }
                    Delivery::Cancelled => Ok(Some(Exit::Stopped)),
                }
            }
            Action::End => self.finish(Some(item)).await.map(Some),
            Action::CustomerIdle => {
                // At most once: the event is not in the transcript, so no catch-up sees it
                // again, and the cursor stays where it is.
                self.progress.mark(item, source, AsCursor::Never);
                let Some(text) = self.shared.settings.idle_warning.as_deref() else {
                    return Ok(None);
                };
                let parts = forward::sms_parts(text, self.shared.settings.rules.numbering);
                if parts.is_empty() || !self.notice_allowed().await {
                    return Ok(None);
                }
                match self
                    .deliver(None, SmsKind::IdleWarning, &parts, None)
                    .await?
                {
                    Delivery::Cancelled => Ok(Some(Exit::Stopped)),
                    Delivery::Sent | Delivery::Dropped => Ok(None),
                }
            }
        }
    }

    /// Publishes `parts` in order, resuming after parts SNS already accepted for `id`.
    async fn deliver(
        &mut self,
        id: Option<&ItemId>,
        sent: SmsKind,
        parts: &[String],
        frame_at: Option<Instant>,
    ) -> Result<Delivery, SessionError> {
        let first = id.map_or(0, |id| self.progress.parts_done(id));
        if let Some(at) = frame_at.filter(|_| first == 0) {
            self.shared
                .metrics
                .agent_to_sms
                .observe(at.elapsed().as_secs_f64());
        }
        for (index, part) in parts.iter().enumerate().skip(first) {
            // What an agent or bot wrote is tagged, so a sender that reports deliveries
            // can mark it delivered in the chat; the bridge's own notices are not.
            let tag = id.filter(|_| !sent.is_notice()).map(|id| DeliveryTag {
                contact_id: self.contact_id.clone(),
                item_id: id.clone(),
                part: index + 1,
                parts: parts.len(),
            });
            match self.publish(sent, part, tag.as_ref()).await {
                Ok(Some(_message_id)) => {
                    self.shared.metrics.sms_parts.inc();
                    if let Some(id) = id {
                        self.progress.parts_sent(id, index + 1);
                    }
                }
                Ok(None) => return Ok(Delivery::Cancelled),
                Err(SmsError::OptedOut) => {
                    warn!(
                        kind = sent.as_str(),
                        "customer opted out of sms; item not delivered"
                    );
                    self.shared.metrics.dropped("opted_out");
                    return Ok(Delivery::Dropped);
                }
                Err(error) => {
                    error!(kind = sent.as_str(), error = %chain(&error), "sms rejected; item will not be delivered");
                    self.shared.metrics.dropped("rejected");
                    return Ok(Delivery::Dropped);
                }
            }
        }
        self.shared.metrics.relayed(sent.as_str());
        debug!(kind = sent.as_str(), parts = parts.len(), "relayed as sms");
        Ok(Delivery::Sent)
    }

    /// Publishes one SMS part. Every failure but one that can never pass for this message
    /// (opted out, rejected as invalid: [`SmsError::is_undeliverable`]) is retried in place
    /// with capped backoff for as long as it lasts, the cursor held: throttling and
    /// outages pass by themselves, and permissions, KMS or credential failures are the
    /// operator's to fix (ERROR, counted), after which every held reply goes out, in order.
    /// `Ok(None)` when cancelled while waiting.
    async fn publish(
        &self,
        sent: SmsKind,
        part: &str,
        tag: Option<&DeliveryTag>,
    ) -> Result<Option<SmsMessageId>, SmsError> {
        let settings = &self.shared.settings;
        let mut attempt = 0u32;
        loop {
            if !self.shared.may_send(self.shard) {
                // Another instance may hold the shard by now (or will, once the lease
                // lapses): stop without sending; whoever owns it next resumes from the
                // cursor.
                warn!(
                    shard = self.shard,
                    kind = sent.as_str(),
                    "shard lease lost or about to lapse; not sending"
                );
                self.shared.metrics.error("lease_fenced");
                return Ok(None);
            }
            let (sms, key) = (&self.shared.sms, &self.key);
            let sending = async move {
                match tag {
                    Some(tag) => {
                        sms.send_tagged(&key.customer, &key.support, part, tag)
                            .await
                    }
                    None => sms.send(&key.customer, &key.support, part).await,
                }
            };
            let (error, reason) = match timed(settings.call_timeout, "sms publish", sending).await {
                Ok(Ok(message_id)) => {
                    if attempt > 0 {
                        info!(kind = sent.as_str(), attempt, "sms sent after failures");
                    }
                    return Ok(Some(message_id));
                }
                Ok(Err(error)) if error.is_undeliverable() => return Err(error),
                Ok(Err(error)) => {
                    let reason = match &error {
                        SmsError::Throttled(_) => "throttled",
                        SmsError::Transient(_) => "unavailable",
                        _ => "refused",
                    };
                    (SessionError::Sms(error), reason)
                }
                Err(timeout) => (timeout, "timeout"),
            };
            attempt = attempt.saturating_add(1);
            self.shared.metrics.sms_held(reason);
            // Once, then every 20th attempt: a long outage is paged, not flooded.
            if attempt == 1 || attempt.is_multiple_of(20) {
                if error.is_retriable() {
                    warn!(kind = sent.as_str(), attempt, error = %chain(&error), "sms failed; holding the reply and retrying");
                } else {
                    error!(kind = sent.as_str(), attempt, error = %chain(&error), "sms refused for the account (permissions, KMS, credentials?); holding every reply and retrying until it is fixed");
                }
            }
            let delay = backoff::delay(settings.backoff, attempt - 1);
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(None),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Whether a notice the customer did not ask for (an agent joined, the chat ended) may
    /// go out: the session is read again, since the customer may have texted STOP after
    /// this worker started (the inbound side records that before it ends the chat). A
    /// failed read refuses this one notice (a notice is not worth an SMS to a number that
    /// may have left) and changes nothing else: only a read that says "opted out" stops
    /// what follows.
    async fn notice_allowed(&mut self) -> bool {
        if self.opted_out {
            return false;
        }
        let (store, key) = (&self.shared.sessions, &self.key);
        let read = self
            .retrying("session read", || async move {
                store.get(key).await.map_err(SessionError::Store)
            })
            .await;
        match read {
            Ok(Some(Some(session))) => {
                self.opted_out = session.opted_out;
                !session.opted_out
            }
            Ok(Some(None)) => true,
            Ok(None) => false,
            Err(error) => {
                warn!(error = %chain(&error), "session not readable; notice not sent");
                self.shared.metrics.dropped("notice_unverified");
                false
            }
        }
    }

    /// Writes the cursor, and the item's change to the open menu. `false` when the
    /// session's current chat is no longer ours.
    async fn write_cursor(&self, id: &ItemId, menu: &MenuChange) -> Result<bool, SessionError> {
        let (store, clock) = (&self.shared.sessions, &self.shared.clock);
        let (key, contact) = (&self.key, &self.contact_id);
        let written = self
            .retrying("cursor write", || async move {
                store
                    .advance_cursor_and_menu(key, contact, id, menu, clock.now())
                    .await
                    .map_err(SessionError::Store)
            })
            .await?;
        // Cancelled while retrying: the cursor stays where it was, which only costs a
        // repeat of this message by the next owner.
        Ok(written.unwrap_or(true))
    }

    /// Writes a cursor position that moved without an SMS, if any. Best effort: losing it
    /// only costs a rescan.
    async fn flush_cursor(&mut self) {
        if self.closing_sent {
            // The cursor says "closing text sent": no item position may overwrite it.
            return;
        }
        let Some(id) = self.progress.unwritten().cloned() else {
            return;
        };
        let written = tokio::time::timeout(
            self.shared.settings.call_timeout,
            self.shared.sessions.advance_cursor(
                &self.key,
                &self.contact_id,
                &id,
                self.shared.clock.now(),
            ),
        )
        .await;
        match written {
            Ok(Ok(_)) => self.progress.written(&id),
            Ok(Err(error)) => {
                self.shared.metrics.error("store");
                warn!(error = %chain(&error), "cursor write failed; will retry");
            }
            Err(_) => {
                self.shared.metrics.error("timeout");
                warn!("cursor write timed out; will retry");
            }
        }
    }

    /// The chat ended: closing SMS (when configured), session `ended`.
    async fn finish(&mut self, item: Option<&TranscriptItem>) -> Result<Exit, SessionError> {
        info!("chat ended");
        let closing = self
            .shared
            .settings
            .closing_text
            .as_deref()
            .map(|text| forward::sms_parts(text, self.shared.settings.rules.numbering))
            .unwrap_or_default();
        if !self.closing_sent {
            if !closing.is_empty() && self.notice_allowed().await {
                let id = item.map(|item| &item.id);
                if let Delivery::Cancelled =
                    self.deliver(id, SmsKind::Closing, &closing, None).await?
                {
                    return Ok(Exit::Stopped);
                }
            }
            self.closing_sent = true;
            // Remembered on the row too, so a worker after a crash or a failed end below
            // does not send the closing text again, and a worker for the customer's next
            // chat knows this one needs nothing more ([`Session::undelivered_previous`]);
            // best effort: this worker remembers it regardless.
            let marked = tokio::time::timeout(
                self.shared.settings.call_timeout,
                self.shared.sessions.advance_cursor(
                    &self.key,
                    &self.contact_id,
                    &Session::closing_sent_cursor(),
                    self.shared.clock.now(),
                ),
            )
            .await;
            if !matches!(marked, Ok(Ok(_))) {
                warn!("closing text not recorded on the session; a restart may repeat it");
            }
        }
        let (store, clock) = (&self.shared.sessions, &self.shared.clock);
        let (key, contact) = (&self.key, &self.contact_id);
        let ended = self
            .retrying("end chat", || async move {
                store
                    .end_chat(key, contact, clock.now())
                    .await
                    .map_err(SessionError::Store)
            })
            .await?;
        // `Some(None)`: someone else (the inbound Lambda) ended it first; either way this
        // chat is over. `None`: cancelled while retrying; the next owner ends it.
        Ok(match ended {
            Some(_) => Exit::Ended,
            None => Exit::Stopped,
        })
    }

    /// Runs `op` with a timeout, retrying retriable failures with backoff up to the
    /// configured attempts. `Ok(None)` when cancelled while waiting to retry.
    async fn retrying<T, Fut>(
        &self,
        call: &'static str,
        mut op: impl FnMut() -> Fut,
    ) -> Result<Option<T>, SessionError>
    where
        Fut: Future<Output = Result<T, SessionError>>,
    {
        let settings = &self.shared.settings;
        let mut attempt = 0u32;
        loop {
            let error = match timed(settings.call_timeout, call, op())
                .await
                .and_then(|done| done)
            {
                Ok(value) => return Ok(Some(value)),
                Err(error) => error,
            };
            attempt += 1;
            if !error.is_retriable() || attempt >= settings.attempts {
                return Err(error);
            }
            self.shared.metrics.error("retry");
            warn!(call, attempt, error = %chain(&error), "call failed; retrying");
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(None),
                () = tokio::time::sleep(backoff::delay(settings.backoff, attempt - 1)) => {}
            }
        }
    }
}

/// A connection ready to stream: subscribed socket, its token, and when to renew it.
struct Opened {
    /// The socket comes boxed: it is the largest part of a session, and a box keeps it out
    /// of every future it passes through.
    socket: Box<Socket>,
    token: ConnectionToken,
    renew_at: Instant,
}

/// CreateParticipantConnection, connect, subscribe. `None` when the chat has ended.
///
/// Owns what it needs (no borrow of the worker), so a renewal can open the next connection
/// while the worker keeps reading the current one.
async fn open(
    shared: Arc<Shared>,
    participant_token: ParticipantToken,
    turn: Option<Ticket>,
) -> Result<Option<Opened>, SessionError> {
    let settings = &shared.settings;
    // The turn first: permits are handed out first come, first served, and must not undo
    // the rate limit's most-recent-first order.
    if let Some(turn) = turn {
        turn.wait().await;
    }
    // The semaphore is never closed, so acquiring only waits.
    let _permit = shared.connect_permits.acquire().await;
    let connected = timed(
        settings.call_timeout,
        "create participant connection",
        shared.chat.create_connection(
            &participant_token,
            ConnectionKind::Both,
            ConnectParticipant::AlreadyJoined,
        ),
    )
    .await?;
    let connected = match connected {
        Ok(connected) => connected,
        Err(ChatError::ChatEnded) => return Ok(None),
        Err(error) => return Err(SessionError::Connection(error)),
    };
    let (Some(websocket), Some(connection)) = (connected.websocket, connected.connection) else {
        return Err(SessionError::IncompleteConnection);
    };
    let socket = timed(settings.connect_timeout, "websocket connect", async {
        let mut socket = shared.dialer.connect(&websocket.url).await?;
        ws::subscribe(&mut socket).await?;
        Ok::<_, SessionError>(socket)
    })
    .await??;
    // Renew before the token ages out, but never in a tight loop on a short-lived token;
    // the configured lifetime itself is the operator's (60 s at least in production).
    let token_life = (connection.expires_at - shared.clock.now())
        .to_std()
        .unwrap_or_default()
        .saturating_sub(TOKEN_RENEW_MARGIN)
        .max(MIN_CONNECTION_LIFE);
    let life = settings.socket_lifetime.min(token_life);
    debug!("socket subscribed");
    Ok(Some(Opened {
        socket: Box::new(socket),
        token: connection.token,
        renew_at: Instant::now() + life,
    }))
}

/// The next connection being opened during a renewal (boxed: it is rarely there).
type Opening = Pin<Box<dyn Future<Output = Result<Option<Opened>, SessionError>> + Send>>;

/// Keeps `relay_sessions` equal to the workers alive.
struct Running(prometheus_client::metrics::gauge::Gauge);

impl Running {
    fn new(metrics: &Metrics) -> Self {
        metrics.sessions.inc();
        Self(metrics.sessions.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;
