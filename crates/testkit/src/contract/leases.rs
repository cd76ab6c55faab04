//! Lease cases: acquire, renew, release, take-over, and the listing.

use bridge_core::ports::OwnerId;
use chrono::TimeDelta;

use super::{Store, StoreUnderTest, assert_conflict};

pub async fn leases_acquire_renew_and_release(s: &StoreUnderTest<impl Store>) {
    let a = OwnerId("relay-a".into());
    let b = OwnerId("relay-b".into());
    let now = s.now();
    let lease = s
        .store
        .acquire(3, &a, None, now, now + TimeDelta::seconds(15))
        .await
        .unwrap();
    assert_eq!((lease.shard, &lease.owner, lease.version), (3, &a, 1));
    assert_eq!(
        lease.expires_at.timestamp_millis(),
        (now + TimeDelta::seconds(15)).timestamp_millis()
    );
    assert_conflict(
        s.store
            .acquire(3, &b, None, now, now + TimeDelta::seconds(15))
            .await,
    );
    let renewed = s
        .store
        .renew(&lease, now + TimeDelta::seconds(20))
        .await
        .unwrap();
    assert_eq!(renewed.version, 2);
    assert_eq!(renewed.owner, a);
    assert_conflict(s.store.renew(&lease, now + TimeDelta::seconds(25)).await);
    assert_eq!(
        s.store.leases().await.unwrap(),
        std::slice::from_ref(&renewed)
    );
    // Releasing a stale copy leaves the lease alone; the current one frees it.
    s.store.release(&lease).await.unwrap();
    assert_eq!(s.store.leases().await.unwrap().len(), 1);
    s.store.release(&renewed).await.unwrap();
    assert_eq!(s.store.leases().await.unwrap(), []);
    let taken = s
        .store
        .acquire(3, &b, None, now, now + TimeDelta::seconds(15))
        .await
        .unwrap();
    assert_eq!(taken.owner, b);
    assert_eq!(taken.version, 1);
}

/// What the SDK does when an attempt times out after the write applied: send it again.
pub async fn repeated_lease_writes_that_already_applied_are_not_conflicts(
    s: &StoreUnderTest<impl Store>,
) {
    let owner = OwnerId("relay-a".into());
    let until = s.now() + TimeDelta::seconds(15);
    let lease = s
        .store
        .acquire(1, &owner, None, s.now(), until)
        .await
        .unwrap();
    assert_eq!(
        s.store
            .acquire(1, &owner, None, s.now(), until)
            .await
            .unwrap(),
        lease
    );
    let later = until + TimeDelta::seconds(5);
    let renewed = s.store.renew(&lease, later).await.unwrap();
    assert_eq!(s.store.renew(&lease, later).await.unwrap(), renewed);
    assert_conflict(s.store.renew(&lease, later + TimeDelta::seconds(1)).await);
}

pub async fn expired_lease_is_stolen_and_the_loser_cannot_renew(s: &StoreUnderTest<impl Store>) {
    let a = OwnerId("relay-a".into());
    let b = OwnerId("relay-b".into());
    let now = s.now();
    let held = s
        .store
        .acquire(1, &a, None, now, now + TimeDelta::seconds(15))
        .await
        .unwrap();
    let before_lapse = now + TimeDelta::seconds(14);
    assert_conflict(
        s.store
            .acquire(
                1,
                &b,
                None,
                before_lapse,
                before_lapse + TimeDelta::seconds(15),
            )
            .await,
    );
    let later = now + TimeDelta::seconds(15);
    let stolen = s
        .store
        .acquire(1, &b, None, later, later + TimeDelta::seconds(15))
        .await
        .unwrap();
    assert_eq!(stolen.owner, b);
    assert_eq!(stolen.version, held.version + 1);
    assert_conflict(s.store.renew(&held, later + TimeDelta::seconds(30)).await);
    s.store.release(&held).await.unwrap();
    assert_eq!(s.store.leases().await.unwrap(), [stolen]);
}

pub async fn acquire_takes_over_exactly_the_previous_lease(s: &StoreUnderTest<impl Store>) {
    let a = OwnerId("relay-a".into());
    let b = OwnerId("relay-b".into());
    let c = OwnerId("relay-c".into());
    let now = s.now();
    let held = s
        .store
        .acquire(2, &a, None, now, now + TimeDelta::seconds(15))
        .await
        .unwrap();
    // Not expired, but the caller names the exact lease it saw (a handover).
    let handed = s
        .store
        .acquire(2, &b, Some(&held), now, now + TimeDelta::seconds(15))
        .await
        .unwrap();
    assert_eq!((handed.owner.clone(), handed.version), (b, 2));
    assert_conflict(
        s.store
            .acquire(2, &c, Some(&held), now, now + TimeDelta::seconds(15))
            .await,
    );
}

pub async fn leases_lists_every_shard_and_drops_expired_items(s: &StoreUnderTest<impl Store>) {
    let owner = OwnerId("relay-a".into());
    let now = s.now();
    for shard in [7, 0, 4] {
        s.store
            .acquire(shard, &owner, None, now, now + TimeDelta::seconds(15))
            .await
            .unwrap();
    }
    let shards: Vec<_> = s
        .store
        .leases()
        .await
        .unwrap()
        .iter()
        .map(|l| l.shard)
        .collect();
    assert_eq!(shards, [0, 4, 7]);
    // Lapsed leases are still listed (callers judge them) until their item's ttl passes.
    s.clock.advance(TimeDelta::seconds(16));
    assert_eq!(s.store.leases().await.unwrap().len(), 3);
    s.clock.advance(TimeDelta::days(1));
    assert_eq!(s.store.leases().await.unwrap(), []);
}
