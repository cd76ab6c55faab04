//! Discovery: turns owned shards into running session workers, and back.
//!
//! Every period, and at once when a shard is gained, it queries the `active_by_shard` index
//! for each owned shard and reconciles: a worker per active session with a chat, a new
//! worker when the session moved to a new chat, and cancellation for sessions that left the
//! index or shards no longer owned (or whose lease is about to lapse unrenewed).
//!
//! It is the single owner of the workers: they run in its `JoinSet`, each under a
//! cancellation token that is a child of its shard's token, itself a child of the root. A
//! session has at most one task alive: a successor starts only after a cancelled worker has
//! finished the item in hand. A failed shard query keeps that shard's workers as they are
//! (the index is read again next period). After each reconcile and each reaped worker it
//! reports which shards still have workers alive ([`Busy`]), which is what lets the lease
//! manager release a shed shard without two instances relaying it at once.
//!
//! A reconcile costs O(sessions): one pass over the query results, one over the workers.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bridge_core::ids::ContactId;
use bridge_core::ports::{SessionStore, StoreError};
use bridge_core::session::{Session, SessionKey, Status};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use tokio::sync::watch;
use tokio::task::{Id as TaskId, JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::error::chain;
use crate::leases::{Busy, Owned};
use crate::rate::RateLimit;
use crate::worker::{Shared, Worker, WorkerEnd};

/// Shard queries in flight at once.
const CONCURRENT_QUERIES: usize = 8;
/// A chat whose worker finished is not restarted for this long: the index may still list
/// the session for a moment after it was marked ended.
const ENDED_COOLDOWN: Duration = Duration::from_secs(60);
/// A worker that panicked is restarted no sooner than this.
const PANIC_COOLDOWN: Duration = Duration::from_secs(5);

/// The one task alive for a session.
struct Slot {
    task: TaskId,
    contact_id: ContactId,
    shard: u16,
    cancel: CancellationToken,
    /// The reconcile round that last found the session in the index.
    listed_in: u64,
}

impl Slot {
    /// Cancelled: finishing the item in hand, no longer relaying.
    fn stopping(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Discovery's settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Query period.
    pub every: Duration,
    /// Per-query timeout.
    pub call_timeout: Duration,
    /// Session limit.
    pub max_sessions: usize,
    /// How long shutdown waits for workers.
    pub drain: Duration,
}

/// The discovery loop and the workers it owns.
pub struct Discovery {
    shared: Arc<Shared>,
    sessions: Arc<dyn SessionStore>,
    settings: Settings,
    owned_rx: watch::Receiver<Owned>,
    busy_tx: watch::Sender<Busy>,
    root: CancellationToken,
    workers: JoinSet<WorkerEnd>,
    /// Every session with a task alive (the key is shared with `tasks`).
    slots: HashMap<Arc<SessionKey>, Slot>,
    tasks: HashMap<TaskId, Arc<SessionKey>>,
    alive_per_shard: BTreeMap<u16, usize>,
    shard_tokens: BTreeMap<u16, CancellationToken>,
    cooldown: HashMap<ContactId, Instant>,
    /// The shards the last query round covered.
    queried: BTreeSet<u16>,
    /// Reconcile rounds so far (marks which slots the current round listed).
    round: u64,
    seen_version: u64,
    full_warned: bool,
}

impl Discovery {
    /// Discovery with no workers yet.
    pub fn new(
        shared: Arc<Shared>,
        settings: Settings,
        owned_rx: watch::Receiver<Owned>,
        busy_tx: watch::Sender<Busy>,
        root: CancellationToken,
    ) -> Self {
        Self {
            sessions: Arc::clone(&shared.sessions),
            shared,
            settings,
            owned_rx,
            busy_tx,
            root,
            workers: JoinSet::new(),
            slots: HashMap::new(),
            tasks: HashMap::new(),
            alive_per_shard: BTreeMap::new(),
            shard_tokens: BTreeMap::new(),
            cooldown: HashMap::new(),
            queried: BTreeSet::new(),
            round: 0,
            seen_version: 0,
            full_warned: false,
        }
    }

    /// Reconciles until the root token is cancelled, then stops every worker within the
    /// drain deadline (aborting and logging any that overrun).
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.settings.every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = self.root.cancelled() => break,
                Some(done) = self.workers.join_next_with_id() => self.reap(done),
                changed = self.owned_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    // Renewals only move expiry times: stopping lost shards is enough. A
                    // gained shard is queried at once.
                    if self.stop_lost() {
                        self.reconcile().await;
                    }
                }
                _ = ticker.tick() => self.reconcile().await,
            }
        }
        self.drain().await;
    }

    /// Stops the workers of shards no longer owned, or whose lease is about to lapse
    /// unrenewed. Returns whether a shard was gained since the last query round.
    fn stop_lost(&mut self) -> bool {
        let owned = self.owned_rx.borrow_and_update().clone();
        let valid = valid_shards(&owned, self.shared.clock.now());
        let lost: BTreeSet<u16> = self
            .shard_tokens
            .keys()
            .filter(|shard| !valid.contains(shard))
            .copied()
            .collect();
        for shard in &lost {
            if let Some(token) = self.shard_tokens.remove(shard) {
                debug!(shard, "shard no longer owned; stopping its sessions");
                token.cancel();
            }
        }
        let gained = !valid.is_subset(&self.queried);
        self.queried.retain(|shard| valid.contains(shard));
        self.seen_version = owned.version;
        self.report();
        gained
    }

    /// One reconcile: stop what is no longer ours, query owned shards, start what is missing,
    /// stop what left the index.
    async fn reconcile(&mut self) {
        self.stop_lost();
        let valid = valid_shards(&self.owned_rx.borrow(), self.shared.clock.now());
        // A round over shards just gained (a start, a take-over) holds the connection turns
        // until every session it lists is queued, so the most recently active of all of them
        // go first rather than the sessions of whichever shard answered first.
        let gained = !valid.is_subset(&self.queried);
        let shared = Arc::clone(&self.shared);
        let _hold = shared
            .connect_rate
            .as_ref()
            .filter(|_| gained)
            .map(RateLimit::hold);
        self.queried.clone_from(&valid);
        let now = Instant::now();
        self.cooldown.retain(|_, until| *until > now);

        // Each shard's sessions are handled as its query answers, so a round holds a few
        // shards' rows at a time, not every session of the instance.
        let sessions = Arc::clone(&self.sessions);
        let timeout = self.settings.call_timeout;
        let mut queries = stream::iter(valid)
            .map(|shard| {
                let sessions = Arc::clone(&sessions);
                async move {
                    let result = tokio::time::timeout(timeout, sessions.active_in_shard(shard))
                        .await
                        .unwrap_or_else(|elapsed| Err(StoreError::Transient(Box::new(elapsed))));
                    (shard, result)
                }
            })
            .buffer_unordered(CONCURRENT_QUERIES);
        self.round += 1;
        let mut answered: HashSet<u16> = HashSet::new();
        while let Some((shard, result)) = queries.next().await {
            match result {
                Ok(found) => {
                    answered.insert(shard);
                    for session in &found {
                        self.start(shard, session);
                    }
                    drop(found);
                    // A round over 10,000 sessions is milliseconds of work: let the sessions
                    // (an agent's message waiting to be relayed) run between shards.
                    tokio::task::yield_now().await;
                }
                Err(error) => {
                    self.shared.metrics.error("discovery");
                    warn!(shard, error = %chain(&error), "listing a shard's sessions failed");
                }
            }
        }
        // Sessions of an answered shard that this round did not list have ended (or moved
        // on).
        for slot in self.slots.values() {
            if answered.contains(&slot.shard) && slot.listed_in != self.round && !slot.stopping() {
                debug!(contact_id = %slot.contact_id, "session left the index; stopping");
                slot.cancel.cancel();
            }
        }
        self.report();
    }

    /// Makes sure a listed session that is active with a chat has its worker.
    fn start(&mut self, shard: u16, session: &Session) {
        let Some(chat) = session
            .chat
            .as_ref()
            .filter(|_| session.status == Status::Active)
        else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(&session.key) {
            slot.listed_in = self.round;
            if !slot.stopping() && slot.contact_id != chat.contact_id {
                // The customer is on a new chat: the old worker stops; once it is reaped,
                // a later reconcile starts the new one.
                slot.cancel.cancel();
            }
            return;
        }
        if !self.cooldown.contains_key(&chat.contact_id) {
            self.spawn(shard, session);
        }
    }

    fn spawn(&mut self, shard: u16, session: &Session) {
        // The query took time: start nothing on a shard that stopped being ours meanwhile.
        let now = self.shared.clock.now();
        let still_owned = self
            .owned_rx
            .borrow()
            .shards
            .get(&shard)
            .is_some_and(|until| *until > now);
        if !still_owned {
            return;
        }
        if self.slots.len() >= self.settings.max_sessions {
            self.shared.metrics.error("capacity");
            if !self.full_warned {
                warn!(
                    max = self.settings.max_sessions,
                    "session limit reached; not relaying more sessions"
                );
                self.full_warned = true;
            }
            return;
        }
        self.full_warned = false;
        let shard_token = self
            .shard_tokens
            .entry(shard)
            .or_insert_with(|| self.root.child_token());
        let cancel = shard_token.child_token();
        // Queued now, in the order of this round: see `reconcile`'s hold.
        let ticket = self
            .shared
            .connect_rate
            .as_ref()
            .map(|rate| rate.ticket(session.updated_at));
        let Some(worker) = Worker::new(Arc::clone(&self.shared), session, ticket, cancel.clone())
        else {
            return;
        };
        let Some(contact_id) = session.contact_id().cloned() else {
            return;
        };
        let span = info_span!("session", contact_id = %contact_id, phone = %session.key.customer);
        let task = self.workers.spawn(worker.run().instrument(span)).id();
        let key = Arc::new(session.key.clone());
        self.tasks.insert(task, Arc::clone(&key));
        *self.alive_per_shard.entry(shard).or_default() += 1;
        self.slots.insert(
            key,
            Slot {
                task,
                contact_id,
                shard,
                cancel,
                listed_in: self.round,
            },
        );
    }

    /// Accounts for a finished worker.
    fn reap(&mut self, done: Result<(TaskId, WorkerEnd), JoinError>) {
        let (task, outcome) = match done {
            Ok((task, outcome)) => (task, Some(outcome)),
            Err(join) => {
                if join.is_panic() {
                    self.shared.metrics.error("panic");
                    error!(error = %join, "session worker panicked");
                }
                (join.id(), None)
            }
        };
        let Some(key) = self.tasks.remove(&task) else {
            return;
        };
        let Some(slot) = self.slots.remove(&key).filter(|slot| slot.task == task) else {
            return;
        };
        if let Some(alive) = self.alive_per_shard.get_mut(&slot.shard) {
            *alive = alive.saturating_sub(1);
            if *alive == 0 {
                self.alive_per_shard.remove(&slot.shard);
            }
        }
        let cooldown = match outcome {
            Some(WorkerEnd::Ended | WorkerEnd::Moved) => Some(ENDED_COOLDOWN),
            None => Some(PANIC_COOLDOWN),
            Some(WorkerEnd::Stopped) => None,
        };
        if let Some(cooldown) = cooldown {
            self.cooldown
                .insert(slot.contact_id, Instant::now() + cooldown);
        }
        self.report();
    }

    /// Publishes which shards still have workers alive.
    fn report(&self) {
        let busy = Busy {
            seen_version: self.seen_version,
            shards: self.alive_per_shard.keys().copied().collect(),
        };
        self.busy_tx.send_if_modified(|current| {
            if *current == busy {
                return false;
            }
            *current = busy;
            true
        });
    }

    async fn drain(&mut self) {
        for token in self.shard_tokens.values() {
            token.cancel();
        }
        let count = self.workers.len();
        if count > 0 {
            info!(sessions = count, "stopping sessions");
        }
        let deadline = Instant::now() + self.settings.drain;
        loop {
            match tokio::time::timeout_at(deadline, self.workers.join_next_with_id()).await {
                Ok(Some(done)) => self.reap(done),
                Ok(None) => break,
                Err(_) => {
                    let left = self.workers.len();
                    error!(
                        sessions = left,
                        "drain deadline passed; aborting sessions still running"
                    );
                    self.workers.abort_all();
                    while let Some(done) = self.workers.join_next_with_id().await {
                        self.reap(done);
                    }
                    break;
                }
            }
        }
        self.report();
    }
}

/// The owned shards still safe to relay at `now`.
fn valid_shards(owned: &Owned, now: DateTime<Utc>) -> BTreeSet<u16> {
    owned
        .shards
        .iter()
        .filter(|(_, until)| **until > now)
        .map(|(shard, _)| *shard)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use bridge_core::PhoneNumber;
    use bridge_core::ids::{ConnectionToken, ParticipantId, ParticipantToken};
    use bridge_core::ports::{
        ChatError, ChatReader, ConnectParticipant, Connected, Connection, ConnectionKind,
        SystemClock, TranscriptPage, TranscriptStart,
    };
    use bridge_core::session::Chat;
    use bridge_core::testing::{MemoryStore, RecordingSms};
    use chrono::TimeDelta;

    use super::*;
    use crate::config::BackoffPolicy;
    use crate::forward::Rules;
    use crate::metrics::Metrics;
    use crate::worker::Settings as WorkerSettings;
    use crate::ws::Dialer;

    /// A chat API whose CreateParticipantConnection never answers: workers stay connecting
    /// until cancelled, and the fake counts how many are connecting at once.
    #[derive(Default)]
    struct Hanging {
        calls: AtomicUsize,
        connecting: AtomicUsize,
        most: AtomicUsize,
        /// Each call's participant token, and when it came.
        order: std::sync::Mutex<Vec<(String, Instant)>>,
    }

    struct Leaving<'a>(&'a AtomicUsize);

    impl Drop for Leaving<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl ChatReader for Hanging {
        async fn create_connection(
            &self,
            token: &ParticipantToken,
            _: ConnectionKind,
            _: ConnectParticipant,
        ) -> Result<Connected, ChatError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.order
                .lock()
                .unwrap()
                .push((token.expose().to_owned(), Instant::now()));
            let now = self.connecting.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let _leaving = Leaving(&self.connecting);
            std::future::pending().await
        }

        async fn get_transcript(
            &self,
            _: &ConnectionToken,
            _: &TranscriptStart,
            _: Option<&str>,
        ) -> Result<TranscriptPage, ChatError> {
            Err(ChatError::Invalid("unused".into()))
        }
    }

    fn key(n: u32) -> SessionKey {
        SessionKey::new(
            PhoneNumber::parse(&format!("+1555010{n:04}")).unwrap(),
            PhoneNumber::parse("+18005550100").unwrap(),
        )
    }

    fn chat(contact: &str) -> Chat {
        Chat {
            contact_id: ContactId::new(contact).unwrap(),
            participant_id: ParticipantId::new("p").unwrap(),
            participant_token: ParticipantToken::new(format!("pt-{contact}")).unwrap(),
            connection: Connection {
                token: ConnectionToken::new("ct").unwrap(),
                expires_at: Utc::now() + TimeDelta::days(1),
            },
        }
    }

    struct Harness {
        store: Arc<MemoryStore>,
        chat: Arc<Hanging>,
        metrics: Metrics,
        owned: watch::Sender<Owned>,
        busy: watch::Receiver<Busy>,
        root: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    impl Harness {
        fn start(store: Arc<MemoryStore>) -> Self {
            Self::start_with(store, None)
        }

        /// Discovery with connection set-ups limited to `rate`.
        fn start_with(store: Arc<MemoryStore>, rate: Option<crate::rate::Rate>) -> Self {
            let chat = Arc::new(Hanging::default());
            let metrics = Metrics::unregistered();
            let (owned, owned_rx) = watch::channel(Owned::default());
            let shared = Arc::new(Shared {
                chat: chat.clone(),
                sessions: store.clone(),
                sms: Arc::new(RecordingSms::default()),
                clock: Arc::new(SystemClock),
                settings: WorkerSettings {
                    rules: Rules::default(),
                    closing_text: None,
                    idle_warning: None,
                    heartbeat_every: Duration::from_secs(10),
                    call_timeout: Duration::from_secs(3600),
                    connect_timeout: Duration::from_secs(10),
                    backoff: BackoffPolicy {
                        base: Duration::from_millis(10),
                        cap: Duration::from_millis(10),
                    },
                    attempts: 1,
                    socket_lifetime: Duration::from_secs(3600),
                    transcript_wait: Duration::from_secs(1),
                },
                metrics: metrics.clone(),
                dialer: Dialer::default(),
                connect_permits: tokio::sync::Semaphore::new(64),
                connect_rate: rate.map(RateLimit::new),
                epoch: Instant::now(),
                archive: None,
                timers: None,
                owned: owned_rx.clone(),
            });
            let (busy_tx, busy) = watch::channel(Busy::default());
            let root = CancellationToken::new();
            let discovery = Discovery::new(
                shared,
                Settings {
                    every: Duration::from_millis(20),
                    call_timeout: Duration::from_secs(1),
                    max_sessions: 1000,
                    drain: Duration::from_secs(1),
                },
                owned_rx,
                busy_tx,
                root.clone(),
            );
            let task = tokio::spawn(discovery.run());
            Self {
                store,
                chat,
                metrics,
                owned,
                busy,
                root,
                task,
            }
        }

        fn own(&self, shards: &[u16]) {
            let until = Utc::now() + TimeDelta::hours(1);
            self.owned.send_modify(|owned| {
                owned.version += 1;
                owned.shards = shards.iter().map(|shard| (*shard, until)).collect();
            });
        }

        async fn sessions_become(&self, count: i64) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.metrics.sessions.get() != count {
                assert!(
                    Instant::now() < deadline,
                    "{} workers, wanted {count}",
                    self.metrics.sessions.get()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        async fn stop(self) {
            self.root.cancel();
            self.task.await.unwrap();
            assert_eq!(self.metrics.sessions.get(), 0, "every worker drained");
        }
    }

    async fn active(store: &MemoryStore, n: u32, shard: u16, contact: &str) -> Session {
        active_at(store, n, shard, contact, Utc::now()).await
    }

    /// An active session whose row was last written at `at`.
    async fn active_at(
        store: &MemoryStore,
        n: u32,
        shard: u16,
        contact: &str,
        at: DateTime<Utc>,
    ) -> Session {
        let row = store
            .put(&Session::first(key(n), shard, at), None)
            .await
            .unwrap();
        store
            .put(&row.activated(chat(contact), at), Some(row.version))
            .await
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_take_over_the_most_recently_active_chats_connect_first() {
        let store = Arc::new(MemoryStore::new());
        let now = Utc::now();
        // 200 sessions over 4 shards; session n was last active `rank` minutes ago, the
        // ranks shuffled (73 is coprime with 200), so neither the index nor the shards list
        // them in order of recency.
        for n in 0..200u32 {
            let rank = (n * 73) % 200;
            let at = now - TimeDelta::minutes(i64::from(rank));
            active_at(&store, n, (n % 4) as u16, &format!("c-{rank}"), at).await;
        }
        // The relay's default share of Connect's quota: 2 a second, burst 4.
        let rate = crate::rate::Rate {
            per_second: 2.try_into().unwrap(),
            burst: 4.try_into().unwrap(),
        };
        let h = Harness::start_with(store, Some(rate));
        let taken_over = Instant::now();
        h.own(&[0, 1, 2, 3]);
        while h.chat.calls.load(Ordering::SeqCst) < 20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let first: Vec<(String, Instant)> = h.chat.order.lock().unwrap()[..20].to_vec();
        let tokens: Vec<&str> = first.iter().map(|(token, _)| token.as_str()).collect();
        let expected: Vec<String> = (0..20).map(|rank| format!("pt-c-{rank}")).collect();
        assert_eq!(
            tokens, expected,
            "the 20 most recent first, in order of recency"
        );
        let twentieth = first[19].1 - taken_over;
        assert!(
            twentieth <= Duration::from_secs(10),
            "the 20th most recent connected {twentieth:?} after the take-over"
        );
        h.stop().await;
    }

    #[tokio::test]
    async fn owned_shards_get_one_worker_per_active_session_and_lost_shards_none() {
        let store = Arc::new(MemoryStore::new());
        active(&store, 1, 0, "c-1").await;
        active(&store, 2, 0, "c-2").await;
        active(&store, 3, 1, "c-3").await;
        // A starting session (no chat yet) gets no worker.
        store
            .put(&Session::first(key(4), 0, Utc::now()), None)
            .await
            .unwrap();
        let h = Harness::start(store);
        h.own(&[0]);
        h.sessions_become(2).await;
        h.own(&[0, 1]);
        h.sessions_become(3).await;
        // Losing shard 0 stops its two workers; once they are gone, discovery says so.
        h.own(&[1]);
        h.sessions_become(1).await;
        let mut busy = h.busy.clone();
        busy.wait_for(|busy| busy.shards == BTreeSet::from([1]))
            .await
            .unwrap();
        h.stop().await;
    }

    #[tokio::test]
    async fn an_ended_session_is_stopped_and_a_new_chat_never_overlaps_the_old_worker() {
        let store = Arc::new(MemoryStore::new());
        let session = active(&store, 1, 0, "c-1").await;
        let h = Harness::start(store.clone());
        h.own(&[0]);
        h.sessions_become(1).await;
        // The customer's chat moves on to a new contact: the old worker stops first.
        let moved = store.sessions().pop().unwrap();
        h.store
            .put(
                &moved.activated(chat("c-2"), Utc::now()),
                Some(moved.version),
            )
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while h.chat.calls.load(Ordering::SeqCst) < 2 || h.metrics.sessions.get() != 1 {
            assert!(Instant::now() < deadline, "the new chat got no worker");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The chat ends (as the inbound Lambda would record): its worker stops.
        let current = h.store.sessions().pop().unwrap();
        h.store
            .end_chat(&session.key, current.contact_id().unwrap(), Utc::now())
            .await
            .unwrap();
        h.sessions_become(0).await;
        assert_eq!(
            h.chat.most.load(Ordering::SeqCst),
            1,
            "never two workers for one session"
        );
        h.stop().await;
    }
}
