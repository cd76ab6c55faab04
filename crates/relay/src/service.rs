//! Wires the relay together and runs it until the root token is cancelled.
//!
//! Three long-lived tasks: the lease manager, discovery (which owns every session worker)
//! and the admin server. Shutdown runs in a fixed order so no session is relayed twice and
//! nothing in hand is lost: `/readyz` turns unready; discovery stops the workers (each
//! finishes the item in hand, within the drain deadline); only then are the leases
//! released, so another instance can take the shards at once; the admin listener closes
//! last, so the drain stays observable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bridge_core::ports::{
    ChatReader, ChatTimers, Clock, LeaseStore, SessionStore, SmsSender, TranscriptArchive,
};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::admin::{self, Admin, Health};
use crate::config::Config;
use crate::discovery::{self, Discovery};
use crate::error::RelayError;
use crate::forward::Rules;
use crate::leases::{Busy, LeaseManager, LeaseManagerParts, Owned};
use crate::metrics::Metrics;
use crate::rate::RateLimit;
use crate::report;
use crate::worker::{self, IdleTimerSetting, Shared};
use crate::ws::Dialer;

/// The ports the relay runs on.
#[derive(Clone)]
pub struct Ports {
    /// Sessions: the index of active sessions, cursors, end of chat.
    pub sessions: Arc<dyn SessionStore>,
    /// Shard leases.
    pub leases: Arc<dyn LeaseStore>,
    /// Connect participant API.
    pub chat: Arc<dyn ChatReader>,
    /// Connect's chat timers (used only when idle timers are configured).
    pub timers: Arc<dyn ChatTimers>,
    /// Outbound SMS.
    pub sms: Arc<dyn SmsSender>,
    /// Wall time.
    pub clock: Arc<dyn Clock>,
    /// Ended chats' archived transcripts (Connect's S3 bucket), when configured.
    pub archive: Option<Arc<dyn TranscriptArchive>>,
}

/// Runs the relay until `root` is cancelled, then shuts down in order (see the module docs).
///
/// `admin` is the bound admin listener (bind port 0 in tests and read its address first).
///
/// # Errors
/// [`RelayError`] when a component failed; the relay has stopped either way.
pub async fn run(
    config: Config,
    ports: Ports,
    admin: TcpListener,
    root: CancellationToken,
) -> Result<(), RelayError> {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let leases_ready = Arc::new(AtomicBool::new(false));
    let health = Arc::new(Health {
        leases_ready: Arc::clone(&leases_ready),
        stopping: AtomicBool::new(false),
    });
    let (owned_tx, owned_rx) = watch::channel(Owned::default());
    let (busy_tx, busy_rx) = watch::channel(Busy::default());

    let shared = Arc::new(Shared {
        chat: ports.chat,
        sessions: Arc::clone(&ports.sessions),
        sms: ports.sms,
        clock: Arc::clone(&ports.clock),
        settings: worker::Settings {
            rules: Rules {
                joined_notice: config.core.joined_notice,
                numbering: config.core.sms_numbering,
            },
            closing_text: config.core.closing_text.clone(),
            idle_warning: config
                .core
                .idle_timers
                .and_then(|timers| timers.idle)
                .map(|_| config.core.idle_warning_text.clone()),
            heartbeat_every: config.heartbeat_every,
            call_timeout: config.call_timeout,
            connect_timeout: config.connect_timeout,
            backoff: config.backoff,
            attempts: config.sms_attempts.get(),
            socket_lifetime: config.socket_lifetime,
            transcript_wait: config.transcript_wait,
        },
        metrics: metrics.clone(),
        dialer: Dialer::trusting(config.extra_ca.clone()),
        connect_permits: Semaphore::new(config.connect_concurrency.get()),
        connect_rate: config.connect_rate.map(RateLimit::new),
        epoch: tokio::time::Instant::now(),
        archive: ports.archive,
        timers: config.core.idle_timers.map(|timers| IdleTimerSetting {
            api: ports.timers,
            instance_id: config.core.connect_instance_id.clone(),
            timers,
        }),
        owned: owned_rx.clone(),
    });

    let leases_stop = CancellationToken::new();
    let lease_manager = LeaseManager::new(LeaseManagerParts {
        store: ports.leases,
        clock: ports.clock,
        owner: config.owner.clone(),
        shard_count: config.core.shard_count.get(),
        timings: config.lease,
        call_timeout: config.call_timeout,
        drain: config.drain,
        metrics: metrics.clone(),
        ready: leases_ready,
        owned_tx,
        busy_rx,
    });
    let discovery = Discovery::new(
        shared,
        discovery::Settings {
            every: config.discovery_every,
            call_timeout: config.call_timeout,
            max_sessions: config.max_sessions.get(),
            drain: config.drain,
        },
        owned_rx,
        busy_tx,
        root.clone(),
    );

    let admin_stop = CancellationToken::new();
    let admin_state = Arc::new(Admin {
        registry,
        health: Arc::clone(&health),
    });
    let admin_task: JoinHandle<std::io::Result<()>> = tokio::spawn({
        let stop = admin_stop.clone();
        async move {
            axum::serve(admin, admin::router(admin_state))
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });
    let report_stop = CancellationToken::new();
    let report_task = tokio::spawn(report::run(metrics.clone(), report_stop.clone()));
    let leases_task = tokio::spawn(lease_manager.run(root.clone(), leases_stop.clone()));
    let discovery_task = tokio::spawn(discovery.run());
    info!(owner = %config.owner, "relay started");

    let mut failure = None;
    // Discovery returns once `root` is cancelled and its workers are drained. If a sibling
    // dies first, that is fatal: cancel the root so discovery drains and the relay stops.
    tokio::pin!(discovery_task);
    tokio::pin!(leases_task);
    tokio::pin!(admin_task);
    let mut leases_done = false;
    let mut admin_done = false;
    loop {
        tokio::select! {
            result = &mut discovery_task => {
                if result.is_err() {
                    failure.get_or_insert(RelayError::Component { component: "discovery" });
                }
                break;
            }
            result = &mut leases_task, if !leases_done => {
                leases_done = true;
                error!(panicked = result.is_err(), "lease manager stopped unexpectedly; shutting down");
                failure.get_or_insert(RelayError::Component { component: "leases" });
                root.cancel();
            }
            result = &mut admin_task, if !admin_done => {
                admin_done = true;
                match result {
                    Ok(Err(io)) => {
                        error!(error = %io, "admin listener failed; shutting down");
                        failure.get_or_insert(RelayError::Admin(io));
                    }
                    _ => {
                        failure.get_or_insert(RelayError::Component { component: "admin" });
                    }
                }
                root.cancel();
            }
            () = root.cancelled(), if !health.stopping.load(Ordering::Acquire) => {
                info!("shutting down: stopping sessions, then releasing leases");
                health.stopping.store(true, Ordering::Release);
            }
        }
    }
    health.stopping.store(true, Ordering::Release);
    report_stop.cancel();
    if report_task.await.is_err() {
        error!("metrics report task panicked");
    }
    leases_stop.cancel();
    if !leases_done && leases_task.await.is_err() {
        failure.get_or_insert(RelayError::Component {
            component: "leases",
        });
    }
    admin_stop.cancel();
    if !admin_done {
        match admin_task.await {
            Ok(Ok(())) => {}
            Ok(Err(io)) => error!(error = %io, "admin listener failed while stopping"),
            Err(join) => error!(error = %join, "admin listener task failed"),
        }
    }
    info!("relay stopped");
    failure.map_or(Ok(()), Err)
}
