//! [`Shared`]: what every handler and task of one emulator instance holds.
//!
//! The model and the socket hub sit together behind one std `Mutex` ([`Core`]). Every
//! operation is a short synchronous section (no `.await` under the lock): run the model
//! operation, then queue the resulting frames on the sockets, so frame order equals
//! transcript order. One lock is enough here: an operation costs microseconds, far below the
//! HTTP handling around it, and the fan-out is `try_send` only (see [`crate::hub`]). The SMS
//! stand-in's state ([`crate::sms`]) has a lock of its own: no chat rule reads it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tokio::sync::mpsc;

use crate::archive::{self, Archived};
use crate::config::SimConfig;
use crate::faults::{Faults, SocketFaults};
use crate::hub::{Hub, Metrics};
use crate::model::{Effect, Model};
use crate::quotas::Quotas;
use crate::sms::SmsService;
use crate::sms::sns::SnsPublisher;
use crate::time::{Now, SimClock};

/// Creates the SNS topic of every configuration set's destination, each once, in the
/// background.
fn create_sms_topics(
    config: &SimConfig,
    sns: &Arc<SnsPublisher>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) {
    let mut seen = HashSet::new();
    let topics = config
        .sms_configuration_sets
        .iter()
        .filter_map(|set| set.destination.clone())
        .filter(|topic| seen.insert((topic.endpoint.clone(), topic.topic_arn.clone())));
    for destination in topics {
        let sns = sns.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = sns.create_topic(&destination) => {}
            }
        });
    }
}

/// The model and the hub, locked together.
#[derive(Debug)]
pub struct Core {
    /// Service state.
    pub model: Model,
    /// Sockets.
    pub hub: Hub,
}

/// One emulator instance's shared state.
#[derive(Debug)]
pub struct Shared {
    /// Configuration.
    pub config: SimConfig,
    /// The listener's address (fallback for WebSocket URLs when a request has no Host).
    pub local_addr: SocketAddr,
    /// Simulated time.
    pub clock: SimClock,
    /// Fault queues.
    pub faults: Faults,
    /// WebSocket fault switches.
    pub socket_faults: SocketFaults,
    /// TPS quotas.
    pub quotas: Quotas,
    /// Socket counters.
    pub metrics: Arc<Metrics>,
    /// Cancelled at shutdown; every task selects on it.
    pub cancel: CancellationToken,
    /// Owns the socket tasks and the reaper.
    pub tasks: TaskTracker,
    core: Mutex<Core>,
    version: watch::Sender<u64>,
    deadlines_changed: Notify,
    /// Ended chats' transcripts on their way to the archive writer, when one is configured.
    archive: Option<mpsc::Sender<Archived>>,
    /// The SendTextMessage stand-in's state, apart from the chat model: no chat rule reads
    /// it, and its lock is held for microseconds, never across `.await`.
    sms: Mutex<SmsService>,
    /// Publishes SMS delivery events to SNS.
    pub sns: Arc<SnsPublisher>,
}

impl Shared {
    /// A fresh instance.
    #[must_use]
    pub fn new(config: SimConfig, local_addr: SocketAddr, cancel: CancellationToken) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        let tasks = TaskTracker::new();
        let archive = config.transcript_archive.clone().map(|target| {
            let (queue, received) = mpsc::channel(archive::QUEUE);
            tasks.spawn(archive::writer(target, received, cancel.clone()));
            queue
        });
        let sns = Arc::new(SnsPublisher::new());
        create_sms_topics(&config, &sns, &tasks, &cancel);
        let sms = Mutex::new(SmsService::new(
            &config.sms_configuration_sets,
            config.sms_delivery_delay,
        ));
        let core = Core {
            model: Model::new(&config),
            hub: Hub::new(
                config.socket_buffer.get(),
                config.max_sockets_per_participant.get(),
                metrics.clone(),
            ),
        };
        Arc::new(Self {
            quotas: Quotas::new(config.quotas),
            config,
            local_addr,
            clock: SimClock::default(),
            faults: Faults::default(),
            socket_faults: SocketFaults::default(),
            metrics,
            cancel,
            tasks,
            core: Mutex::new(core),
            version: watch::Sender::new(0),
            deadlines_changed: Notify::new(),
            archive,
            sms,
            sns,
        })
    }

    /// Queues a transcript for the archive writer; a full queue drops it, loudly.
    fn send_to_archive(&self, archived: Archived) {
        let Some(queue) = &self.archive else { return };
        if let Err(error) = queue.try_send(archived) {
            tracing::error!(%error, "chat transcript not queued for the archive; dropped");
        }
    }

    /// Runs a state change: the closure, then the socket effects it produced, then wakes
    /// waiters (long polls, the reaper).
    pub fn mutate<R>(&self, f: impl FnOnce(&mut Core, Now) -> R) -> R {
        let now = self.clock.now();
        let result = {
            let mut core = self.lock();
            let result = f(&mut core, now);
            let mut effects = core.model.take_effects();
            effects.retain(|effect| match effect {
                Effect::Archive(archived) => {
                    self.send_to_archive(archived.clone());
                    false
                }
                Effect::Broadcast { .. } | Effect::CloseSockets { .. } => true,
            });
            core.hub.apply(effects);
            result
        };
        self.version.send_modify(|v| *v += 1);
        self.deadlines_changed.notify_one();
        result
    }

    /// Runs a socket bookkeeping change that the control API and the reaper need not see.
    pub fn sockets<R>(&self, f: impl FnOnce(&mut Hub) -> R) -> R {
        f(&mut self.lock().hub)
    }

    /// Reads state without changing it.
    pub fn read<R>(&self, f: impl FnOnce(&Core, Now) -> R) -> R {
        let now = self.clock.now();
        let core = self.lock();
        f(&core, now)
    }

    /// A receiver that sees every state change (for long polls).
    #[must_use]
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Resolves when a state change may have moved the next deadline.
    pub async fn deadlines_changed(&self) {
        self.deadlines_changed.notified().await;
    }

    /// Replaces the model (keeps counters), for `/sim/reset`.
    pub fn reset_model(&self) {
        self.mutate(|core, _| core.model = Model::new(&self.config));
    }

    /// Runs `f` on the SMS stand-in's state.
    pub fn sms<R>(&self, f: impl FnOnce(&mut SmsService) -> R) -> R {
        // As for the core: a panic mid-operation leaves state worth serving.
        f(&mut self.sms.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic inside an operation is a bug already logged by the runtime; keep serving
        // the state as it is rather than failing every later request.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
