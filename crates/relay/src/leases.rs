//! Shard leases: which shards this instance relays, shared fairly among live instances.
//!
//! Every renewal period the manager renews what it holds, lists every lease, counts the
//! live instances, and moves toward its fair share, `ceil(S / live)`: it acquires free or
//! expired shards when under it, and sheds the excess when over it. A shed shard is first
//! *drained* — taken out of the owned set so discovery stops its sessions — and released
//! only once discovery reports it idle, so two instances never relay one session at once.
//! On shutdown everything is released at once, after the sessions stopped.
//!
//! An instance is live when it holds an unexpired lease. A new instance holds no shard yet,
//! so it also holds a *membership* lease: one of [`MEMBER_SLOTS`] pseudo-shards numbered
//! right after the real ones (`S`, `S+1`, …), renewed with the others. That makes it count
//! in everyone's fair share before it owns anything, using the same `LeaseStore` port and
//! `LEASE#<n>` items as the shards (the store must list `0..S+MEMBER_SLOTS`; see
//! [`listed_leases`]).
//!
//! The manager publishes what it owns (with how long each lease is safe to use) on a
//! `watch` channel, and reads discovery's report of which shards still have sessions
//! running on another. It never waits on discovery and discovery never waits on it, so a
//! slow shard query cannot delay a renewal.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bridge_core::ports::{Clock, Lease, LeaseStore, OwnerId, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::join_all;
use futures_util::{StreamExt, stream};
use rand::seq::SliceRandom;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::LeaseTimings;
use crate::error::{chain, timed};
use crate::metrics::Metrics;

/// Shards that neither this instance (`held`) nor any live lease of `listing` covers.
pub fn unowned(
    shard_count: u16,
    listing: &[Lease],
    held: &BTreeSet<u16>,
    now: DateTime<Utc>,
) -> usize {
    let live: HashSet<u16> = listing
        .iter()
        .filter(|lease| lease.shard < shard_count && lease.expires_at > now)
        .map(|lease| lease.shard)
        .collect();
    (0..shard_count)
        .filter(|shard| !live.contains(shard) && !held.contains(shard))
        .count()
}

/// Number of membership pseudo-shards, so at most this many relay instances take part.
pub const MEMBER_SLOTS: u16 = 32;

/// How many lease items the store must list for `shard_count` shards: the shards and the
/// membership slots after them.
pub fn listed_leases(shard_count: u16) -> u16 {
    shard_count.saturating_add(MEMBER_SLOTS)
}
/// Lease calls in flight at once.
const CONCURRENT_CALLS: usize = 16;

/// The shards this instance may relay now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// Bumped on every change.
    pub version: u64,
    /// Shard → until when it is safe to relay it (the lease expiry minus a margin).
    pub shards: BTreeMap<u16, DateTime<Utc>>,
}

/// Discovery's report: which shards still have session workers alive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Busy {
    /// The [`Owned::version`] discovery had applied when it made this report.
    pub seen_version: u64,
    /// Shards with at least one worker not yet finished.
    pub shards: BTreeSet<u16>,
}

/// What one round should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Live instances, this one included.
    pub live: usize,
    /// This instance's fair share.
    pub fair: usize,
    /// Shards to drain and release.
    pub shed: Vec<u16>,
    /// Shards that may be acquired (with the lease they would replace), and how many to take.
    pub free: Vec<(u16, Option<Lease>)>,
    /// How many of `free` to take.
    pub want: usize,
}

/// `ceil(shards / live)`, with at least one live instance (this one).
pub fn fair_share(shard_count: u16, live: usize) -> usize {
    usize::from(shard_count).div_ceil(live.max(1))
}

/// Decides one round from the full lease listing. `held` are the shards this instance
/// holds and is not draining.
pub fn plan(
    me: &OwnerId,
    shard_count: u16,
    listing: &[Lease],
    held: &BTreeSet<u16>,
    now: DateTime<Utc>,
    acquiring: bool,
) -> Plan {
    let live: HashSet<&OwnerId> = listing
        .iter()
        .filter(|lease| lease.expires_at > now)
        .map(|lease| &lease.owner)
        .chain(std::iter::once(me))
        .collect();
    let live = live.len();
    let fair = fair_share(shard_count, live);
    let shed: Vec<u16> = held
        .iter()
        .rev()
        .take(held.len().saturating_sub(fair))
        .copied()
        .collect();
    let want = if acquiring {
        fair.saturating_sub(held.len())
    } else {
        0
    };
    let free = if want == 0 {
        Vec::new()
    } else {
        let by_shard: BTreeMap<u16, &Lease> = listing
            .iter()
            .filter(|lease| lease.shard < shard_count)
            .map(|lease| (lease.shard, lease))
            .collect();
        (0..shard_count)
            .filter(|shard| !held.contains(shard))
            .filter_map(|shard| match by_shard.get(&shard) {
                None => Some((shard, None)),
                Some(lease) if lease.expires_at <= now || &lease.owner == me => {
                    Some((shard, Some((*lease).clone())))
                }
                Some(_) => None,
            })
            .collect()
    };
    Plan {
        live,
        fair,
        shed,
        free,
        want,
    }
}

/// Where this instance's membership lease should be: a free or expired slot, starting from
/// a slot derived from the owner id so instances rarely collide.
pub fn member_slot(
    me: &OwnerId,
    shard_count: u16,
    listing: &[Lease],
    now: DateTime<Utc>,
) -> Option<(u16, Option<Lease>)> {
    let start = me.0.bytes().fold(0u16, |acc, byte| {
        acc.wrapping_mul(31).wrapping_add(u16::from(byte))
    }) % MEMBER_SLOTS;
    let by_slot: BTreeMap<u16, &Lease> = listing
        .iter()
        .filter(|lease| lease.shard >= shard_count)
        .map(|lease| (lease.shard, lease))
        .collect();
    (0..MEMBER_SLOTS)
        .map(|offset| shard_count + (start + offset) % MEMBER_SLOTS)
        .find_map(|slot| match by_slot.get(&slot) {
            None => Some((slot, None)),
            Some(lease) if lease.expires_at <= now || &lease.owner == me => {
                Some((slot, Some((*lease).clone())))
            }
            Some(_) => None,
        })
}

/// A shard lease this instance holds.
#[derive(Clone, Debug)]
struct Held {
    lease: Lease,
    /// Set while shedding: the owned-set version that stopped relaying it, and since when.
    draining: Option<(u64, Instant)>,
}

/// The lease manager's dependencies and settings.
pub struct LeaseManager {
    store: Arc<dyn LeaseStore>,
    clock: Arc<dyn Clock>,
    owner: OwnerId,
    shard_count: u16,
    timings: LeaseTimings,
    call_timeout: Duration,
    drain: Duration,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
    owned_tx: watch::Sender<Owned>,
    busy_rx: watch::Receiver<Busy>,
    held: BTreeMap<u16, Held>,
    member: Option<Lease>,
}

/// Builds a [`LeaseManager`].
pub struct LeaseManagerParts {
    /// The lease store.
    pub store: Arc<dyn LeaseStore>,
    /// Wall time (leases compare expiry across instances).
    pub clock: Arc<dyn Clock>,
    /// This instance.
    pub owner: OwnerId,
    /// Number of real shards.
    pub shard_count: u16,
    /// TTL and renewal period.
    pub timings: LeaseTimings,
    /// Per-call timeout.
    pub call_timeout: Duration,
    /// How long a shed shard may take to drain before it is released anyway.
    pub drain: Duration,
    /// Metrics handles.
    pub metrics: Metrics,
    /// Set once the first round completed (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// Where the owned set is published.
    pub owned_tx: watch::Sender<Owned>,
    /// Discovery's busy report.
    pub busy_rx: watch::Receiver<Busy>,
}

impl LeaseManager {
    /// A manager that holds nothing yet.
    pub fn new(parts: LeaseManagerParts) -> Self {
        Self {
            store: parts.store,
            clock: parts.clock,
            owner: parts.owner,
            shard_count: parts.shard_count,
            timings: parts.timings,
            call_timeout: parts.call_timeout,
            drain: parts.drain,
            metrics: parts.metrics,
            ready: parts.ready,
            owned_tx: parts.owned_tx,
            busy_rx: parts.busy_rx,
            held: BTreeMap::new(),
            member: None,
        }
    }

    /// Runs rounds until `stop`; stops acquiring once `root` is cancelled (shutdown has
    /// begun), then releases everything when `stop` fires (sessions have stopped).
    pub async fn run(mut self, root: CancellationToken, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(self.timings.renew_every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = ticker.tick() => {
                    self.round(!root.is_cancelled()).await;
                    self.ready.store(true, Ordering::Release);
                }
                changed = self.busy_rx.changed() => {
                    if changed.is_err() {
                        // Discovery is gone: nothing will report drains any more.
                        stop.cancelled().await;
                        break;
                    }
                    self.release_drained().await;
                }
            }
        }
        self.release_all().await;
    }

    /// One round: renew, list, rebalance, publish.
    pub async fn round(&mut self, acquiring: bool) {
        let now = self.clock.now();
        self.renew_all(now).await;
        // Extend the sessions' safe window as soon as the renewals are in, before the
        // (possibly slow) listing and acquisitions.
        self.publish();
        let listing = match self.call("lease list", self.store.leases()).await {
            Ok(listing) => listing,
            Err(error) => {
                self.metrics.error("lease");
                warn!(error = %chain(&error), "listing leases failed; keeping what is held");
                self.publish();
                return;
            }
        };
        if self.member.is_none() {
            self.join(&listing, now).await;
        }
        let active: BTreeSet<u16> = self
            .held
            .iter()
            .filter(|(_, held)| held.draining.is_none())
            .map(|(shard, _)| *shard)
            .collect();
        // Renewals and the listing may have taken a while: new leases expire a TTL from
        // now, not from the start of the round.
        let now = self.clock.now();
        let plan = plan(
            &self.owner,
            self.shard_count,
            &listing,
            &active,
            now,
            acquiring,
        );
        self.metrics
            .live_instances
            .set(i64::try_from(plan.live).unwrap_or(i64::MAX));
        self.metrics.shards_unowned.set(
            i64::try_from(unowned(self.shard_count, &listing, &active, now)).unwrap_or(i64::MAX),
        );
        debug!(
            live = plan.live,
            fair = plan.fair,
            held = active.len(),
            "lease round"
        );
        if !plan.shed.is_empty() {
            let version = self.owned_tx.borrow().version + 1;
            for shard in &plan.shed {
                if let Some(held) = self.held.get_mut(shard) {
                    held.draining = Some((version, Instant::now()));
                }
            }
            info!(
                shards = plan.shed.len(),
                fair = plan.fair,
                live = plan.live,
                "shedding shards over fair share"
            );
        }
        if plan.want > 0 && !plan.free.is_empty() {
            self.acquire(plan.free, plan.want, now).await;
        }
        self.publish();
        self.release_drained().await;
    }

    async fn renew_all(&mut self, now: DateTime<Utc>) {
        let expires_at = now + ttl(self.timings.ttl);
        let leases: Vec<Lease> = self.held.values().map(|held| held.lease.clone()).collect();
        let store = &self.store;
        let timeout = self.call_timeout;
        let results: Vec<(Lease, Result<Lease, StoreError>)> = stream::iter(leases)
            .map(|lease| async move {
                let result =
                    store_call(timeout, "lease renew", store.renew(&lease, expires_at)).await;
                (lease, result)
            })
            .buffer_unordered(CONCURRENT_CALLS)
            .collect()
            .await;
        let margin = self.safety_margin();
        for (old, result) in results {
            match result {
                Ok(renewed) => {
                    if let Some(held) = self.held.get_mut(&old.shard) {
                        held.lease = renewed;
                    }
                }
                Err(StoreError::Conflict { .. }) => {
                    self.metrics.error("lease_lost");
                    warn!(shard = old.shard, "shard lease lost to another instance");
                    self.held.remove(&old.shard);
                }
                Err(error) => {
                    self.metrics.error("lease");
                    warn!(shard = old.shard, error = %chain(&error), "lease renewal failed");
                    if old.expires_at - margin <= now {
                        warn!(
                            shard = old.shard,
                            "lease about to lapse unrenewed; giving the shard up"
                        );
                        self.held.remove(&old.shard);
                    }
                }
            }
        }
        if let Some(member) = self.member.clone() {
            match self
                .call("membership renew", self.store.renew(&member, expires_at))
                .await
            {
                Ok(renewed) => self.member = Some(renewed),
                Err(error) => {
                    if matches!(error, StoreError::Conflict { .. }) || member.expires_at <= now {
                        self.member = None;
                    }
                    self.metrics.error("lease");
                    warn!(error = %chain(&error), "membership renewal failed");
                }
            }
        }
    }

    async fn join(&mut self, listing: &[Lease], now: DateTime<Utc>) {
        let Some((slot, previous)) = member_slot(&self.owner, self.shard_count, listing, now)
        else {
            warn!("no free membership slot: too many relay instances");
            return;
        };
        let expires_at = now + ttl(self.timings.ttl);
        match self
            .call(
                "membership acquire",
                self.store
                    .acquire(slot, &self.owner, previous.as_ref(), now, expires_at),
            )
            .await
        {
            Ok(lease) => {
                info!(slot = slot - self.shard_count, "joined the relay group");
                self.member = Some(lease);
            }
            Err(error) => {
                // Another instance took the slot at the same moment: try again next round.
                debug!(error = %chain(&error), "membership slot taken");
            }
        }
    }

    async fn acquire(
        &mut self,
        mut free: Vec<(u16, Option<Lease>)>,
        want: usize,
        now: DateTime<Utc>,
    ) {
        // Random order, so instances starting together rarely race for the same shards.
        free.shuffle(&mut rand::rng());
        let expires_at = now + ttl(self.timings.ttl);
        let mut candidates = free.into_iter();
        let mut acquired: Vec<Lease> = Vec::new();
        // Batches never exceed what is still wanted, so a round cannot overshoot its share.
        while acquired.len() < want {
            let batch: Vec<(u16, Option<Lease>)> = candidates
                .by_ref()
                .take((want - acquired.len()).min(CONCURRENT_CALLS))
                .collect();
            if batch.is_empty() {
                break;
            }
            let (store, owner, timeout) = (&self.store, &self.owner, self.call_timeout);
            let results = join_all(batch.into_iter().map(|(shard, previous)| async move {
                store_call(
                    timeout,
                    "lease acquire",
                    store.acquire(shard, owner, previous.as_ref(), now, expires_at),
                )
                .await
            }))
            .await;
            for result in results {
                match result {
                    Ok(lease) => acquired.push(lease),
                    Err(StoreError::Conflict { .. }) => {}
                    Err(error) => {
                        self.metrics.error("lease");
                        warn!(error = %chain(&error), "lease acquisition failed");
                    }
                }
            }
        }
        if !acquired.is_empty() {
            info!(shards = acquired.len(), "shard leases acquired");
        }
        for lease in acquired {
            self.held.insert(
                lease.shard,
                Held {
                    lease,
                    draining: None,
                },
            );
        }
    }

    /// Releases shed shards once discovery reports them idle. A shard still busy at the
    /// drain deadline is never released early: it is let go without a release, so its lease
    /// lapses (its workers, fenced by the lease, send nothing past it), and only then can
    /// another instance take it.
    async fn release_drained(&mut self) {
        let busy = self.busy_rx.borrow_and_update().clone();
        let mut ready: Vec<Lease> = Vec::new();
        let mut lapsing: Vec<u16> = Vec::new();
        for held in self.held.values() {
            let Some((version, since)) = held.draining else {
                continue;
            };
            let idle = busy.seen_version >= version && !busy.shards.contains(&held.lease.shard);
            if idle {
                ready.push(held.lease.clone());
            } else if since.elapsed() >= self.drain {
                lapsing.push(held.lease.shard);
            }
        }
        for shard in lapsing {
            self.held.remove(&shard);
            self.metrics.error("lease_lapsed_busy");
            warn!(
                shard,
                "shed shard still busy at the drain deadline; letting its lease lapse"
            );
        }
        for lease in ready {
            self.held.remove(&lease.shard);
            if let Err(error) = self.call("lease release", self.store.release(&lease)).await {
                self.metrics.error("lease");
                warn!(shard = lease.shard, error = %chain(&error), "lease release failed; it will lapse");
            }
        }
        self.publish();
    }

    async fn release_all(&mut self) {
        let leases: Vec<Lease> = self
            .held
            .values()
            .map(|held| held.lease.clone())
            .chain(self.member.take())
            .collect();
        self.held.clear();
        self.publish();
        let (store, timeout) = (&self.store, self.call_timeout);
        let failures = stream::iter(leases)
            .map(|lease| async move {
                store_call(timeout, "lease release", store.release(&lease)).await
            })
            .buffer_unordered(CONCURRENT_CALLS)
            .filter(|result| std::future::ready(result.is_err()))
            .count()
            .await;
        if failures > 0 {
            warn!(
                failures,
                "some leases could not be released; they will lapse"
            );
        }
        info!("shard leases released");
    }

    /// Publishes the non-draining shards, each safe until its expiry minus a margin.
    fn publish(&self) {
        let margin = self.safety_margin();
        let shards: BTreeMap<u16, DateTime<Utc>> = self
            .held
            .values()
            .filter(|held| held.draining.is_none())
            .map(|held| (held.lease.shard, held.lease.expires_at - margin))
            .collect();
        self.metrics
            .shards_owned
            .set(i64::try_from(shards.len()).unwrap_or(i64::MAX));
        self.owned_tx.send_if_modified(|owned| {
            if owned.shards == shards {
                return false;
            }
            owned.version += 1;
            owned.shards = shards;
            true
        });
    }

    /// Sessions stop this long before a lease expires, so a takeover by another instance
    /// (possible only after expiry) never overlaps with us. Covers clock skew too.
    fn safety_margin(&self) -> TimeDelta {
        ttl(self.timings.renew_every / 2)
    }

    async fn call<T>(
        &self,
        call: &'static str,
        future: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        store_call(self.call_timeout, call, future).await
    }
}

/// A lease store call bounded by `timeout` ([`timed`]); running out of time is transient.
async fn store_call<T>(
    timeout: Duration,
    call: &'static str,
    future: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    timed(timeout, call, future)
        .await
        .unwrap_or_else(|timeout| Err(StoreError::Transient(Box::new(timeout))))
}

fn ttl(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use bridge_core::testing::{ManualClock, MemoryStore};

    use super::*;

    fn owner(name: &str) -> OwnerId {
        OwnerId(name.to_owned())
    }

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn lease(shard: u16, who: &str, expires: i64) -> Lease {
        Lease {
            shard,
            owner: owner(who),
            expires_at: t(expires),
            version: 1,
        }
    }

    #[test]
    fn fair_share_rounds_up() {
        assert_eq!(fair_share(64, 1), 64);
        assert_eq!(fair_share(64, 2), 32);
        assert_eq!(fair_share(64, 3), 22);
        assert_eq!(fair_share(64, 0), 64);
        assert_eq!(fair_share(1, 5), 1);
        // Shares always cover every shard.
        for live in 1..70 {
            assert!(fair_share(64, live) * live >= 64);
        }
    }

    #[test]
    fn a_lone_instance_wants_every_free_shard() {
        let plan = plan(&owner("a"), 8, &[], &BTreeSet::new(), t(0), true);
        assert_eq!((plan.live, plan.fair, plan.want), (1, 8, 8));
        assert_eq!(plan.free.len(), 8);
        assert!(plan.shed.is_empty());
    }

    #[test]
    fn a_new_member_makes_the_holder_shed_half() {
        // GIVEN a holds all 8 shards and b only its membership slot
        let mut listing: Vec<Lease> = (0..8).map(|s| lease(s, "a", 10)).collect();
        listing.push(lease(8 + 3, "b", 10));
        let held: BTreeSet<u16> = (0..8).collect();
        // WHEN a plans
        let plan_a = plan(&owner("a"), 8, &listing, &held, t(0), true);
        // THEN it sheds its 4 highest shards and wants none
        assert_eq!((plan_a.live, plan_a.fair), (2, 4));
        assert_eq!(plan_a.shed, [7, 6, 5, 4]);
        assert_eq!(plan_a.want, 0);
        // AND b sees nothing free yet (a's leases are live)
        let plan_b = plan(&owner("b"), 8, &listing, &BTreeSet::new(), t(0), true);
        assert_eq!((plan_b.fair, plan_b.want), (4, 4));
        assert!(plan_b.free.is_empty());
    }

    #[test]
    fn expired_leases_are_free_and_their_owner_no_longer_counts() {
        let listing = vec![
            lease(0, "dead", -1),
            lease(1, "b", 10),
            lease(4, "dead", -1),
        ];
        let plan = plan(&owner("a"), 4, &listing, &BTreeSet::new(), t(0), true);
        assert_eq!(plan.live, 2, "a and b");
        assert_eq!(plan.fair, 2);
        let free: Vec<u16> = plan.free.iter().map(|(s, _)| *s).collect();
        assert_eq!(free, [0, 2, 3]);
        assert_eq!(
            plan.free[0].1.as_ref().map(|l| l.owner.0.as_str()),
            Some("dead")
        );
    }

    #[test]
    fn nothing_is_acquired_during_shutdown() {
        let plan = plan(&owner("a"), 8, &[], &BTreeSet::new(), t(0), false);
        assert_eq!(plan.want, 0);
        assert!(plan.free.is_empty());
    }

    #[test]
    fn member_slots_skip_live_ones_and_reuse_expired_ones() {
        let me = owner("a");
        let (first, previous) = member_slot(&me, 64, &[], t(0)).unwrap();
        assert!((64..64 + MEMBER_SLOTS).contains(&first) && previous.is_none());
        let taken = vec![lease(first, "b", 10)];
        let (second, _) = member_slot(&me, 64, &taken, t(0)).unwrap();
        assert_ne!(second, first);
        assert!((64..64 + MEMBER_SLOTS).contains(&second));
        let expired = vec![lease(first, "b", -5)];
        assert_eq!(member_slot(&me, 64, &expired, t(0)).unwrap().0, first);
        let full: Vec<Lease> = (64..64 + MEMBER_SLOTS)
            .map(|s| lease(s, "other", 10))
            .collect();
        assert_eq!(member_slot(&me, 64, &full, t(0)), None);
    }

    struct Harness {
        manager: LeaseManager,
        owned: watch::Receiver<Owned>,
        busy: watch::Sender<Busy>,
    }

    fn harness(store: Arc<MemoryStore>, clock: Arc<ManualClock>, name: &str) -> Harness {
        harness_draining_for(store, clock, name, Duration::from_secs(60))
    }

    fn harness_draining_for(
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
        name: &str,
        drain: Duration,
    ) -> Harness {
        let (owned_tx, owned) = watch::channel(Owned::default());
        let (busy, busy_rx) = watch::channel(Busy::default());
        let manager = LeaseManager::new(LeaseManagerParts {
            store,
            clock,
            owner: owner(name),
            shard_count: 8,
            timings: LeaseTimings {
                ttl: Duration::from_secs(15),
                renew_every: Duration::from_secs(5),
            },
            call_timeout: Duration::from_secs(1),
            drain,
            metrics: Metrics::unregistered(),
            ready: Arc::new(AtomicBool::new(false)),
            owned_tx,
            busy_rx,
        });
        Harness {
            manager,
            owned,
            busy,
        }
    }

    #[tokio::test]
    async fn two_instances_converge_to_half_each_after_draining() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(t(0)));
        let mut a = harness(store.clone(), clock.clone(), "a");
        let mut b = harness(store.clone(), clock.clone(), "b");
        a.manager.round(true).await;
        assert_eq!(a.owned.borrow().shards.len(), 8);
        b.manager.round(true).await;
        assert_eq!(b.owned.borrow().shards.len(), 0, "nothing free yet");
        // a notices b, stops relaying 4 shards, but keeps the leases while they drain.
        a.manager.round(true).await;
        let owned_a = a.owned.borrow().clone();
        assert_eq!(owned_a.shards.len(), 4);
        assert_eq!(
            store
                .leases()
                .await
                .unwrap()
                .iter()
                .filter(|l| l.owner.0 == "a" && l.shard < 8)
                .count(),
            8
        );
        // Discovery reports the drained shards idle: a releases them.
        a.busy
            .send(Busy {
                seen_version: owned_a.version,
                shards: BTreeSet::new(),
            })
            .unwrap();
        a.manager.release_drained().await;
        assert_eq!(
            store
                .leases()
                .await
                .unwrap()
                .iter()
                .filter(|l| l.owner.0 == "a" && l.shard < 8)
                .count(),
            4
        );
        b.manager.round(true).await;
        assert_eq!(b.owned.borrow().shards.len(), 4);
        let a_shards: BTreeSet<u16> = a.owned.borrow().shards.keys().copied().collect();
        let b_shards: BTreeSet<u16> = b.owned.borrow().shards.keys().copied().collect();
        assert!(a_shards.is_disjoint(&b_shards));
    }

    #[tokio::test]
    async fn a_busy_draining_shard_is_not_released() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(t(0)));
        let mut a = harness(store.clone(), clock.clone(), "a");
        let mut b = harness(store.clone(), clock.clone(), "b");
        a.manager.round(true).await;
        b.manager.round(true).await;
        a.manager.round(true).await;
        let version = a.owned.borrow().version;
        // Discovery has seen the change but shard 7 still has a worker finishing.
        a.busy
            .send(Busy {
                seen_version: version,
                shards: BTreeSet::from([7]),
            })
            .unwrap();
        a.manager.release_drained().await;
        let held_7 = store
            .leases()
            .await
            .unwrap()
            .into_iter()
            .any(|l| l.shard == 7 && l.owner.0 == "a");
        assert!(held_7);
        // An older report (discovery had not applied the change) never releases anything.
        a.busy
            .send(Busy {
                seen_version: version - 1,
                shards: BTreeSet::new(),
            })
            .unwrap();
        a.manager.release_drained().await;
        assert!(
            store
                .leases()
                .await
                .unwrap()
                .into_iter()
                .any(|l| l.shard == 7 && l.owner.0 == "a")
        );
    }

    #[tokio::test]
    async fn a_shard_still_busy_at_the_drain_deadline_lapses_instead_of_being_released() {
        // GIVEN a sheds shards to b, with no time to drain, and shard 7 still busy
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(t(0)));
        let mut a = harness_draining_for(store.clone(), clock.clone(), "a", Duration::ZERO);
        let mut b = harness(store.clone(), clock.clone(), "b");
        a.manager.round(true).await;
        b.manager.round(true).await;
        a.manager.round(true).await;
        let version = a.owned.borrow().version;
        a.busy
            .send(Busy {
                seen_version: version,
                shards: BTreeSet::from([7]),
            })
            .unwrap();
        // WHEN the deadline passes (at once) and a round renews what a holds
        a.manager.release_drained().await;
        let before = store
            .leases()
            .await
            .unwrap()
            .into_iter()
            .find(|l| l.shard == 7)
            .unwrap();
        clock.advance(TimeDelta::seconds(5));
        a.manager.round(true).await;
        // THEN shard 7 was not released (another instance cannot take it yet) and is not
        // renewed any more: its lease lapses at the expiry it had
        let after = store
            .leases()
            .await
            .unwrap()
            .into_iter()
            .find(|l| l.shard == 7)
            .unwrap();
        assert_eq!(after.owner.0, "a");
        assert_eq!(after.expires_at, before.expires_at, "not renewed");
        assert!(!a.owned.borrow().shards.contains_key(&7));
        // AND b takes it only once it has lapsed
        b.manager.round(true).await;
        assert_eq!(
            store
                .leases()
                .await
                .unwrap()
                .into_iter()
                .find(|l| l.shard == 7)
                .unwrap()
                .owner
                .0,
            "a"
        );
        clock.advance(TimeDelta::seconds(11));
        b.manager.round(true).await;
        assert_eq!(
            store
                .leases()
                .await
                .unwrap()
                .into_iter()
                .find(|l| l.shard == 7)
                .unwrap()
                .owner
                .0,
            "b"
        );
    }

    #[tokio::test]
    async fn a_dead_instances_shards_are_taken_after_expiry() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(t(0)));
        let mut dead = harness(store.clone(), clock.clone(), "dead");
        dead.manager.round(true).await;
        let mut a = harness(store.clone(), clock.clone(), "a");
        a.manager.round(true).await;
        assert!(a.owned.borrow().shards.is_empty());
        clock.advance(TimeDelta::seconds(16));
        a.manager.round(true).await;
        assert_eq!(a.owned.borrow().shards.len(), 8);
        let _ = &dead.busy;
    }

    #[tokio::test]
    async fn shutdown_releases_every_lease_including_membership() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(t(0)));
        let a = harness(store.clone(), clock.clone(), "a");
        let mut owned = a.owned.clone();
        let root = CancellationToken::new();
        let stop = CancellationToken::new();
        let task = tokio::spawn(a.manager.run(root.clone(), stop.clone()));
        owned
            .wait_for(|owned| owned.shards.len() == 8)
            .await
            .unwrap();
        root.cancel();
        stop.cancel();
        task.await.unwrap();
        assert!(store.leases().await.unwrap().is_empty());
        assert!(a.owned.borrow().shards.is_empty());
    }
}
