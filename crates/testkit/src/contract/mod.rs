//! The store contract: what every implementation of the store ports (`SessionStore`,
//! `DedupeStore`, `LeaseStore`) must do, written once as cases over those ports and a
//! clock, and run against each store by [`store_contract!`](crate::store_contract).
//!
//! The cases hold the in-memory fake (`bridge_core::testing::MemoryStore`) to the contract
//! the DynamoDB adapter is held to, so a domain test on the fake cannot pass on behaviour
//! the real store does not have. What only DynamoDB has (the table's schema, raw items,
//! corrupt rows, the engines' quirks) is tested with the adapter, in
//! `crates/aws/tests/dynamo.rs`.
//!
//! Each case takes a fresh, empty store and the [`ManualClock`] it judges expiry by, and
//! moves that clock forward only: DynamoDB Local deletes expired items by real time, so the
//! clock starts at the real time (see [`StoreUnderTest::new`]). Stores keep items for the
//! DynamoDB adapter's default lifetimes: sessions 30 days after their last write, dedupe
//! markers 7 days, leases a day after they lapse. Cases use lease shards below 8.
//!
//! # Layout
//! - `sessions`: versions, racing writes, the relay's cursor and menu, the shard listing,
//!   expiry.
//! - `markers`: dedupe markers, alone and written or read with a session.
//! - `leases`: acquire, renew, release, take-over and the lease listing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod leases;
mod markers;
mod sessions;

use std::sync::Arc;

use bridge_core::PhoneNumber;
use bridge_core::ids::{
    ConnectionToken, ContactId, InboundMessageId, ParticipantId, ParticipantToken,
};
use bridge_core::ports::{Clock, Connection, DedupeStore, LeaseStore, SessionStore, StoreError};
use bridge_core::session::{Chat, Session, SessionKey};
use bridge_core::testing::ManualClock;
use chrono::{DateTime, TimeDelta, Timelike, Utc};

pub use self::leases::{
    acquire_takes_over_exactly_the_previous_lease,
    expired_lease_is_stolen_and_the_loser_cannot_renew, leases_acquire_renew_and_release,
    leases_lists_every_shard_and_drops_expired_items,
    repeated_lease_writes_that_already_applied_are_not_conflicts,
};
pub use self::markers::{
    a_resumed_text_is_marked_and_recorded_as_the_sessions_latest_activity,
    a_resumed_text_of_no_named_chat_is_recorded_on_the_live_row, dedupe_marker_is_idempotent,
    expired_dedupe_marker_is_absent,
    put_marked_writes_the_session_and_the_marker_together_or_neither,
    session_and_marker_are_read_in_one_request,
};
pub use self::sessions::{
    active_in_shard_lists_live_sessions_only, advance_cursor_accepts_the_previous_chat,
    advance_cursor_is_conditional_on_the_contact, end_chat_is_conditional_on_the_contact,
    expired_session_is_absent_and_can_be_created_again, put_never_touches_the_relay_cursor,
    racing_creates_have_exactly_one_winner, repeated_writes_that_already_applied_are_not_conflicts,
    session_round_trips_every_field, stale_versions_conflict,
    the_menu_is_written_with_the_cursor_and_kept_by_puts,
};

/// Every store port: what a contract case may call.
pub trait Store: SessionStore + DedupeStore + LeaseStore {}

impl<T: SessionStore + DedupeStore + LeaseStore + ?Sized> Store for T {}

/// A store a case runs against, and the clock it judges expiry by.
#[derive(Debug)]
pub struct StoreUnderTest<S> {
    /// A store holding nothing another case wrote.
    pub store: S,
    /// The store's clock; cases move it forward.
    pub clock: Arc<ManualClock>,
}

impl<S> StoreUnderTest<S> {
    /// The store `build` makes around a new clock.
    ///
    /// The clock starts at the real time, with a sub-second part that must round-trip. Not a
    /// fixed date: DynamoDB Local deletes items whose `ttl` is past in *real* time (moto
    /// never does), so a clock in the past would see its items vanish.
    pub fn new(build: impl FnOnce(Arc<ManualClock>) -> S) -> Self {
        let now = Utc::now();
        let clock = Arc::new(ManualClock::new(
            now.with_nanosecond(123_456_789).unwrap_or(now),
        ));
        Self {
            store: build(clock.clone()),
            clock,
        }
    }

    /// Now, on the store's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Session key number `customer`: customer `+1555` and seven digits, one support number.
pub fn key(customer: u32) -> SessionKey {
    SessionKey::new(
        PhoneNumber::parse(&format!("+1555{customer:07}")).unwrap(),
        PhoneNumber::parse("+18005550100").unwrap(),
    )
}

/// A contact id.
pub fn contact(id: &str) -> ContactId {
    ContactId::new(id).unwrap()
}

/// A chat on contact `contact_id`, its participant and connection named after it.
pub fn chat(contact_id: &str, now: DateTime<Utc>) -> Chat {
    Chat {
        contact_id: contact(contact_id),
        participant_id: ParticipantId::new(format!("p-{contact_id}")).unwrap(),
        participant_token: ParticipantToken::new(format!("pt-{contact_id}")).unwrap(),
        connection: Connection {
            token: ConnectionToken::new(format!("ct-{contact_id}")).unwrap(),
            expires_at: now + TimeDelta::days(1),
        },
    }
}

/// A session created (v1) then activated on `contact_id` (v2), in `shard`.
pub async fn active(
    store: &impl SessionStore,
    key: &SessionKey,
    shard: u16,
    contact_id: &str,
    now: DateTime<Utc>,
) -> Session {
    let created = store
        .put(&Session::first(key.clone(), shard, now), None)
        .await
        .unwrap();
    let mut activated = created.activated(chat(contact_id, now), now);
    activated.initial_sms = Some(InboundMessageId::new(format!("sms-{contact_id}")).unwrap());
    store.put(&activated, Some(created.version)).await.unwrap()
}

/// Fails unless `result` is [`StoreError::Conflict`].
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Instantiates every contract case as a `#[tokio::test]`, in a module named `$target`.
///
/// `$store` builds the [`StoreUnderTest`] of one case: it is evaluated once per case,
/// inside the async test, in a module that sees the caller's items (`use super::*`). The
/// calling crate needs tokio with its `macros` feature.
///
/// ```ignore
/// bridge_testkit::store_contract!(memory, StoreUnderTest::new(|clock| {
///     MemoryStore::new().with_clock(clock)
/// }));
/// ```
#[macro_export]
macro_rules! store_contract {
    ($target:ident, $store:expr) => {
        $crate::store_contract!(
            @cases $target, $store,
            racing_creates_have_exactly_one_winner,
            stale_versions_conflict,
            repeated_writes_that_already_applied_are_not_conflicts,
            session_round_trips_every_field,
            put_never_touches_the_relay_cursor,
            end_chat_is_conditional_on_the_contact,
            advance_cursor_is_conditional_on_the_contact,
            advance_cursor_accepts_the_previous_chat,
            the_menu_is_written_with_the_cursor_and_kept_by_puts,
            active_in_shard_lists_live_sessions_only,
            expired_session_is_absent_and_can_be_created_again,
            dedupe_marker_is_idempotent,
            expired_dedupe_marker_is_absent,
            session_and_marker_are_read_in_one_request,
            put_marked_writes_the_session_and_the_marker_together_or_neither,
            a_resumed_text_is_marked_and_recorded_as_the_sessions_latest_activity,
            a_resumed_text_of_no_named_chat_is_recorded_on_the_live_row,
            leases_acquire_renew_and_release,
            repeated_lease_writes_that_already_applied_are_not_conflicts,
            expired_lease_is_stolen_and_the_loser_cannot_renew,
            acquire_takes_over_exactly_the_previous_lease,
            leases_lists_every_shard_and_drops_expired_items,
        );
    };
    (@cases $target:ident, $store:expr, $($case:ident),* $(,)?) => {
        mod $target {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    $crate::contract::$case(&$store).await;
                }
            )*
        }
    };
}
