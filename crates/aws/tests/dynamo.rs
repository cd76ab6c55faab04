//! The DynamoDB adapter against two real engines: moto server and DynamoDB Local.
//!
//! One suite (`mod suite`), written once; `targets!` instantiates every test for each
//! engine (`moto::…`, `dynamodb_local::…`). Each test creates its own table: the
//! emulators are shared by every test and never reset. Both emulators apply writes to the
//! GSI synchronously; on AWS the index may lag, which `active_in_shard`'s contract allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU16;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use bridge_aws::dynamo::schema::{self, attr};
use bridge_aws::dynamo::{DynamoSettings, DynamoStore, SCHEMA, create_table};
use bridge_aws::error::TableError;
use bridge_aws::{ClientSettings, Clients};
use bridge_core::PhoneNumber;
use bridge_core::ids::{
    ConnectionToken, ContactId, InboundMessageId, ItemId, ParticipantId, ParticipantToken,
};
use bridge_core::menu::{MenuChange, MenuOption};
use bridge_core::ports::{
    Clock, Connection, DedupeStore, LeaseStore, Marker, OwnerId, SessionStore, StoreError,
};
use bridge_core::session::{Chat, Session, SessionKey, Status};
use bridge_core::testing::ManualClock;
use chrono::{DateTime, TimeDelta, Timelike, Utc};

/// A store over a fresh table in one emulator, plus the raw client for inspection.
struct Harness {
    raw: aws_sdk_dynamodb::Client,
    table: String,
    clock: Arc<ManualClock>,
    store: DynamoStore,
}

impl Harness {
    async fn new(variable: &str) -> Self {
        let shared = bridge_aws::emulator_config(&common::endpoint(variable));
        let raw = Clients::new(&shared, &common::settings()).dynamodb;
        let table = common::unique("bridge-test");
        create_table(&raw, &table).await.unwrap();
        let clock = Arc::new(ManualClock::new(t0()));
        let settings = DynamoSettings {
            lease_slots: NonZeroU16::new(8).unwrap(),
            ..DynamoSettings::default()
        };
        let store = DynamoStore::new(raw.clone(), &table, settings).with_clock(clock.clone());
        Self {
            raw,
            table,
            clock,
            store,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The raw item of a session, bypassing the adapter.
    async fn raw_session(
        &self,
        key: &SessionKey,
    ) -> Option<std::collections::HashMap<String, AttributeValue>> {
        self.raw
            .get_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(pk(key)))
            .key(schema::SK, AttributeValue::S(schema::SESSION_SK.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }
}

impl Harness {
    /// Overwrites one attribute of a session's raw item, bypassing the adapter.
    async fn set_raw(&self, key: &SessionKey, name: &str, value: AttributeValue) {
        self.raw
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(pk(key)))
            .key(schema::SK, AttributeValue::S(schema::SESSION_SK.to_owned()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", name)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }
}

fn pk(key: &SessionKey) -> String {
    format!(
        "SESSION#{}#{}",
        key.customer.as_e164(),
        key.support.as_e164()
    )
}

/// The test clock's start: the real time, with a sub-second part that must round-trip.
///
/// Not a fixed date: DynamoDB Local deletes items whose `ttl` is past in *real* time
/// (moto never does), so a clock in the past would see its items vanish.
fn t0() -> DateTime<Utc> {
    let now = Utc::now();
    now.with_nanosecond(123_456_789).unwrap_or(now)
}

fn key(customer: u32) -> SessionKey {
    SessionKey::new(
        PhoneNumber::parse(&format!("+1555{customer:07}")).unwrap(),
        PhoneNumber::parse("+18005550100").unwrap(),
    )
}

fn contact(id: &str) -> ContactId {
    ContactId::new(id).unwrap()
}

fn chat(contact_id: &str, now: DateTime<Utc>) -> Chat {
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
async fn active(h: &Harness, key: &SessionKey, shard: u16, contact_id: &str) -> Session {
    let created = h
        .store
        .put(&Session::first(key.clone(), shard, h.now()), None)
        .await
        .unwrap();
    let mut activated = created.activated(chat(contact_id, h.now()), h.now());
    activated.initial_sms = Some(InboundMessageId::new(format!("sms-{contact_id}")).unwrap());
    h.store
        .put(&activated, Some(created.version))
        .await
        .unwrap()
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}

mod suite {
    use bridge_core::ids::InboundMessageId;

    use super::*;

    pub async fn table_has_the_schema_keys_index_and_ttl(h: Harness) {
        let described = h
            .raw
            .describe_table()
            .table_name(&h.table)
            .send()
            .await
            .unwrap();
        let table = described.table().unwrap();
        let keys: Vec<_> = table
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("pk".to_owned(), "HASH".to_owned()),
                ("sk".to_owned(), "RANGE".to_owned())
            ]
        );
        let mut definitions: Vec<_> = table
            .attribute_definitions()
            .iter()
            .map(|d| {
                (
                    d.attribute_name().to_owned(),
                    d.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        definitions.sort();
        assert_eq!(
            definitions,
            [
                ("active_shard".into(), "N".into()),
                ("pk".into(), "S".into()),
                ("sk".into(), "S".into())
            ] as [(String, String); 3]
        );
        let indexes = table.global_secondary_indexes();
        assert_eq!(indexes.len(), 1);
        let index = &indexes[0];
        assert_eq!(index.index_name(), Some(SCHEMA.active_by_shard.name));
        let index_keys: Vec<_> = index
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            index_keys,
            [
                ("active_shard".to_owned(), "HASH".to_owned()),
                ("pk".to_owned(), "RANGE".to_owned())
            ]
        );
        assert_eq!(
            index
                .projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str()),
            Some("ALL")
        );
        let ttl = h
            .raw
            .describe_time_to_live()
            .table_name(&h.table)
            .send()
            .await
            .unwrap();
        let ttl = ttl.time_to_live_description().unwrap();
        assert_eq!(ttl.attribute_name(), Some("ttl"));
        assert_eq!(
            ttl.time_to_live_status().map(|s| s.as_str()),
            Some("ENABLED")
        );
        assert!(matches!(
            create_table(&h.raw, &h.table).await,
            Err(TableError::AlreadyExists { .. })
        ));
    }

    pub async fn racing_creates_have_exactly_one_winner(h: Harness) {
        let key = key(1);
        // Two first texts, two rows told apart by shard: only one may land.
        let first = Session::first(key.clone(), 1, h.now());
        let second = Session::first(key.clone(), 2, h.now());
        let (a, b) = tokio::join!(h.store.put(&first, None), h.store.put(&second, None));
        let winner = match (a, b) {
            (Ok(winner), Err(StoreError::Conflict { .. }))
            | (Err(StoreError::Conflict { .. }), Ok(winner)) => winner,
            other => panic!("expected one winner and one conflict, got {other:?}"),
        };
        assert_eq!(winner.version, 1);
        assert_eq!(h.store.get(&key).await.unwrap(), Some(winner));
        // A later, different create still conflicts.
        let third = Session::first(key.clone(), 3, h.now());
        assert_conflict(h.store.put(&third, None).await);
    }

    pub async fn stale_versions_conflict(h: Harness) {
        let key = key(2);
        let v1 = h
            .store
            .put(&Session::first(key.clone(), 0, h.now()), None)
            .await
            .unwrap();
        let v2 = h
            .store
            .put(&v1.with_opt_out(true, h.now()), Some(1))
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        // A writer that read v1 loses.
        assert_conflict(h.store.put(&v1.with_opt_out(false, h.now()), Some(1)).await);
        // An expected version on an absent item loses too, and creates nothing.
        assert_conflict(
            h.store
                .put(&Session::first(key_absent(), 0, h.now()), Some(7))
                .await,
        );
        assert_eq!(h.raw_session(&key_absent()).await, None);
        assert_eq!(h.store.get(&key).await.unwrap(), Some(v2));
    }

    pub async fn repeated_writes_that_already_applied_are_not_conflicts(h: Harness) {
        // What the SDK does when an attempt times out after the write applied: send it again.
        let key = key(7);
        let row = Session {
            writer: Some("write-1".into()),
            ..Session::first(key.clone(), 0, h.now())
        };
        let created = h.store.put(&row, None).await.unwrap();
        assert_eq!(h.store.put(&row, None).await.unwrap(), created);
        // Another writer's row that looks the same in every other field is a rival, not a
        // repeat: two first texts racing in the same millisecond must not both win.
        let rival = Session {
            writer: Some("write-2".into()),
            ..row.clone()
        };
        assert_conflict(h.store.put(&rival, None).await);
        let anonymous = Session {
            writer: None,
            ..row.clone()
        };
        assert_conflict(h.store.put(&anonymous, None).await);
        let active = Session {
            writer: Some("write-3".into()),
            ..created.activated(chat("c-1", h.now()), h.now())
        };
        let written = h.store.put(&active, Some(1)).await.unwrap();
        assert_eq!(h.store.put(&active, Some(1)).await.unwrap(), written);
        // Only the identical row counts: a different write from the same version loses.
        assert_conflict(
            h.store
                .put(&active.with_opt_out(true, h.now()), Some(1))
                .await,
        );
        let owner = OwnerId("relay-a".into());
        let until = h.now() + TimeDelta::seconds(15);
        let lease = h
            .store
            .acquire(1, &owner, None, h.now(), until)
            .await
            .unwrap();
        assert_eq!(
            h.store
                .acquire(1, &owner, None, h.now(), until)
                .await
                .unwrap(),
            lease
        );
        let later = until + TimeDelta::seconds(5);
        let renewed = h.store.renew(&lease, later).await.unwrap();
        assert_eq!(h.store.renew(&lease, later).await.unwrap(), renewed);
        assert_conflict(h.store.renew(&lease, later + TimeDelta::seconds(1)).await);
    }

    fn key_absent() -> SessionKey {
        key(9_999)
    }

    pub async fn session_round_trips_every_field(h: Harness) {
        let key = key(3);
        let created = h
            .store
            .put(&Session::first(key.clone(), 5, h.now()), None)
            .await
            .unwrap();
        let mut wanted =
            created.activated(chat("c-1", h.now()), h.now() + TimeDelta::milliseconds(1));
        wanted.previous_contact_id = Some(contact("c-0"));
        wanted.opted_out = true;
        wanted.generation = 4;
        wanted.initial_sms = Some(InboundMessageId::new("sms-initial").unwrap());
        wanted.starting_sms = Some(InboundMessageId::new("sms-starting").unwrap());
        wanted.starting_digest = Some("0123456789abcdef01234567".to_owned());
        let written = h.store.put(&wanted, Some(1)).await.unwrap();
        assert_eq!(
            written,
            Session {
                version: 2,
                ..wanted.clone()
            }
        );
        assert_eq!(h.store.get(&key).await.unwrap(), Some(written));
        assert_eq!(h.store.get(&key_absent()).await.unwrap(), None);
    }

    pub async fn put_never_touches_the_relay_cursor(h: Harness) {
        let key = key(4);
        let read_by_inbound = active(&h, &key, 1, "c-1").await;
        assert!(
            h.store
                .advance_cursor(&key, &contact("c-1"), &ItemId::new("i-5").unwrap(), h.now())
                .await
                .unwrap()
        );
        // An inbound write built from a read that predates the cursor (relay_cursor: None).
        assert_eq!(read_by_inbound.relay_cursor, None);
        let written = h
            .store
            .put(
                &read_by_inbound.with_opt_out(false, h.now()),
                Some(read_by_inbound.version),
            )
            .await
            .unwrap();
        assert_eq!(
            written.cursor_for_current_chat().map(ItemId::as_str),
            Some("i-5")
        );
        let raw = h.raw_session(&key).await.unwrap();
        assert_eq!(
            raw.get(attr::RELAY_CURSOR),
            Some(&AttributeValue::S("i-5".into()))
        );
        assert_eq!(
            raw.get(attr::RELAY_CURSOR_CONTACT),
            Some(&AttributeValue::S("c-1".into()))
        );
        // The next generation keeps it too, and it no longer counts for the new chat.
        let mut ended = written.clone();
        ended.status = Status::Ended;
        let ended = h.store.put(&ended, Some(written.version)).await.unwrap();
        let next = h
            .store
            .put(&ended.next_generation(h.now()), Some(ended.version))
            .await
            .unwrap();
        let next = h
            .store
            .put(
                &next.activated(chat("c-2", h.now()), h.now()),
                Some(next.version),
            )
            .await
            .unwrap();
        assert!(next.relay_cursor.is_some());
        assert_eq!(next.cursor_for_current_chat(), None);
    }

    pub async fn end_chat_is_conditional_on_the_contact(h: Harness) {
        let key = key(5);
        let session = active(&h, &key, 3, "c-2").await;
        // An older chat's end changes nothing.
        assert_eq!(
            h.store
                .end_chat(&key, &contact("c-1"), h.now())
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            h.store.get(&key).await.unwrap().unwrap().status,
            Status::Active
        );
        let later = h.now() + TimeDelta::seconds(5);
        let ended = h
            .store
            .end_chat(&key, &contact("c-2"), later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended.status, Status::Ended);
        assert_eq!(ended.version, session.version + 1);
        assert_eq!(ended.updated_at, later);
        assert_eq!(ended.contact_id(), Some(&contact("c-2")));
        assert!(
            !h.raw_session(&key)
                .await
                .unwrap()
                .contains_key(schema::ACTIVE_SHARD)
        );
        // Ending twice is nothing to do; an absent session is not created.
        assert_eq!(
            h.store
                .end_chat(&key, &contact("c-2"), later)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            h.store
                .end_chat(&key_absent(), &contact("c-2"), later)
                .await
                .unwrap(),
            None
        );
        assert_eq!(h.raw_session(&key_absent()).await, None);
        // A writer that read the active row now conflicts.
        assert_conflict(
            h.store
                .put(&session.with_opt_out(true, later), Some(session.version))
                .await,
        );
    }

    pub async fn advance_cursor_is_conditional_on_the_contact(h: Harness) {
        let key = key(6);
        let session = active(&h, &key, 2, "c-7").await;
        let item = ItemId::new("i-1").unwrap();
        assert!(
            !h.store
                .advance_cursor(&key, &contact("c-6"), &item, h.now())
                .await
                .unwrap()
        );
        assert_eq!(h.store.get(&key).await.unwrap().unwrap().relay_cursor, None);
        assert!(
            h.store
                .advance_cursor(&key, &contact("c-7"), &item, h.now())
                .await
                .unwrap()
        );
        let stored = h.store.get(&key).await.unwrap().unwrap();
        assert_eq!(stored.cursor_for_current_chat(), Some(&item));
        // The cursor is the relay's: it does not bump the inbound's version.
        assert_eq!(stored.version, session.version);
        // Agent replies sent just before the end still move the cursor of the ended chat.
        h.store
            .end_chat(&key, &contact("c-7"), h.now())
            .await
            .unwrap()
            .unwrap();
        let last = ItemId::new("i-2").unwrap();
        assert!(
            h.store
                .advance_cursor(&key, &contact("c-7"), &last, h.now())
                .await
                .unwrap()
        );
        // No session: nothing to advance, and nothing created.
        assert!(
            !h.store
                .advance_cursor(&key_absent(), &contact("c-7"), &item, h.now())
                .await
                .unwrap()
        );
        assert_eq!(h.raw_session(&key_absent()).await, None);
    }

    /// The customer's next text replaced chat c-8 with c-9 before the relay delivered
    /// c-8's end: the relay may still write c-8's cursor, and the row then says how far it
    /// got (`Session::undelivered_previous`); a chat older than that, never.
    pub async fn advance_cursor_accepts_the_previous_chat(h: Harness) {
        let key = key(8);
        let first = active(&h, &key, 2, "c-8").await;
        let starting = h
            .store
            .put(&first.next_generation(h.now()), Some(first.version))
            .await
            .unwrap();
        let next = h
            .store
            .put(
                &starting.activated(chat("c-9", h.now()), h.now()),
                Some(starting.version),
            )
            .await
            .unwrap();
        assert_eq!(next.previous_contact_id, Some(contact("c-8")));
        assert_eq!(next.previous_started_at, Some(first.started_at));
        let owed = next.undelivered_previous().unwrap();
        assert_eq!((owed.contact_id, owed.cursor), (contact("c-8"), None));

        let item = ItemId::new("i-3").unwrap();
        assert!(
            h.store
                .advance_cursor(&key, &contact("c-8"), &item, h.now())
                .await
                .unwrap()
        );
        let stored = h.store.get(&key).await.unwrap().unwrap();
        assert_eq!(stored.undelivered_previous().unwrap().cursor, Some(item));
        assert!(
            h.store
                .advance_cursor(
                    &key,
                    &contact("c-8"),
                    &Session::closing_sent_cursor(),
                    h.now()
                )
                .await
                .unwrap()
        );
        let stored = h.store.get(&key).await.unwrap().unwrap();
        assert_eq!(stored.undelivered_previous(), None, "delivered to its end");
        assert_eq!(stored.version, next.version, "the cursor is the relay's");
        // Neither the current chat nor the previous one: refused.
        assert!(
            !h.store
                .advance_cursor(&key, &contact("c-7"), &ItemId::new("i-1").unwrap(), h.now())
                .await
                .unwrap()
        );
    }

    /// The relay's menu rides on its cursor writes: opened by an interactive message,
    /// kept by the inbound side's puts, closed by the agent's next message.
    pub async fn the_menu_is_written_with_the_cursor_and_kept_by_puts(h: Harness) {
        let key = key(23);
        let session = active(&h, &key, 2, "c-23").await;
        let options = vec![MenuOption {
            text: "Billing".to_owned(),
            reply: "Billing".to_owned(),
        }];
        assert!(
            h.store
                .advance_cursor_and_menu(
                    &key,
                    &contact("c-23"),
                    &ItemId::new("i-1").unwrap(),
                    &MenuChange::Open(options.clone()),
                    h.now()
                )
                .await
                .unwrap()
        );
        let stored = h.store.get(&key).await.unwrap().unwrap();
        let menu = stored.open_menu().expect("an open menu");
        assert_eq!(
            (&menu.contact_id, &menu.options),
            (&contact("c-23"), &options)
        );
        assert_eq!(stored.version, session.version, "the menu is the relay's");
        // A put (a refreshed connection) leaves it.
        let refreshed = h
            .store
            .put(&stored.with_opt_out(false, h.now()), Some(stored.version))
            .await
            .unwrap();
        assert_eq!(refreshed.menu, stored.menu);
        assert!(
            h.store
                .get(&key)
                .await
                .unwrap()
                .unwrap()
                .open_menu()
                .is_some()
        );
        // A cursor write without a change keeps it; the agent's next message closes it.
        for (change, open) in [(MenuChange::Keep, true), (MenuChange::Close, false)] {
            h.store
                .advance_cursor_and_menu(
                    &key,
                    &contact("c-23"),
                    &ItemId::new("i-2").unwrap(),
                    &change,
                    h.now(),
                )
                .await
                .unwrap();
            let stored = h.store.get(&key).await.unwrap().unwrap();
            assert_eq!(stored.open_menu().is_some(), open, "{change:?}");
        }
        assert!(!h.raw_session(&key).await.unwrap().contains_key(attr::MENU));
        // A menu that no longer reads is ignored, not a corrupt session.
        h.set_raw(&key, attr::MENU, AttributeValue::S("{not json".to_owned()))
            .await;
        assert_eq!(h.store.get(&key).await.unwrap().unwrap().menu, None);
    }

    pub async fn active_in_shard_lists_live_sessions_only(h: Harness) {
        let starting = h
            .store
            .put(&Session::first(key(10), 5, h.now()), None)
            .await
            .unwrap();
        let live = active(&h, &key(11), 5, "c-11").await;
        let gone = active(&h, &key(12), 5, "c-12").await;
        h.store
            .end_chat(&key(12), &contact("c-12"), h.now())
            .await
            .unwrap()
            .unwrap();
        let elsewhere = active(&h, &key(13), 6, "c-13").await;
        let mut listed = h.store.active_in_shard(5).await.unwrap();
        listed.sort_by_key(|s| s.key.customer.as_e164().to_owned());
        assert_eq!(listed, [starting.clone(), live.clone()]);
        assert_eq!(h.store.active_in_shard(6).await.unwrap(), [elsewhere]);
        assert_eq!(h.store.active_in_shard(7).await.unwrap(), []);
        // Ended via put: out of the index; a new generation: back in.
        let mut ended = live.clone();
        ended.status = Status::Ended;
        let ended = h.store.put(&ended, Some(live.version)).await.unwrap();
        assert_eq!(h.store.active_in_shard(5).await.unwrap(), [starting]);
        let gone = h.store.get(&gone.key).await.unwrap().unwrap();
        let restarted = h
            .store
            .put(&gone.next_generation(h.now()), Some(gone.version))
            .await
            .unwrap();
        let listed: Vec<_> = h
            .store
            .active_in_shard(5)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert!(
            listed.contains(&restarted.key) && !listed.contains(&ended.key),
            "{listed:?}"
        );
    }

    pub async fn dedupe_marker_is_idempotent(h: Harness) {
        let id = InboundMessageId::new("msg-1").unwrap();
        let other = InboundMessageId::new("msg-2").unwrap();
        assert!(!h.store.is_processed(&id).await.unwrap());
        h.store
            .mark_processed(&id, Some(&contact("c-1")), h.now())
            .await
            .unwrap();
        h.store
            .mark_processed(&id, Some(&contact("c-1")), h.now())
            .await
            .unwrap();
        h.store.mark_processed(&other, None, h.now()).await.unwrap();
        assert!(h.store.is_processed(&id).await.unwrap());
        assert!(h.store.is_processed(&other).await.unwrap());
        assert!(
            !h.store
                .is_processed(&InboundMessageId::new("msg-3").unwrap())
                .await
                .unwrap()
        );
    }

    pub async fn session_and_marker_are_read_in_one_request(h: Harness) {
        let key = key(7001);
        let id = InboundMessageId::new("msg-batched").unwrap();
        // Nothing stored: no session, not processed, and the store answered both.
        assert_eq!(
            h.store.get_with_marker(&key, &id).await.unwrap(),
            (None, Some(false))
        );
        let session = active(&h, &key, 2, "c-batched").await;
        h.store.mark_processed(&id, None, h.now()).await.unwrap();
        let (read, processed) = h.store.get_with_marker(&key, &id).await.unwrap();
        assert_eq!(read, Some(session));
        assert_eq!(processed, Some(true));
        // Another message of the same customer is not processed.
        let other = InboundMessageId::new("msg-other").unwrap();
        let (read, processed) = h.store.get_with_marker(&key, &other).await.unwrap();
        assert!(read.is_some());
        assert_eq!(processed, Some(false));
        // An expired marker counts as absent here too.
        h.clock.advance(TimeDelta::days(7));
        assert_eq!(
            h.store.get_with_marker(&key, &id).await.unwrap().1,
            Some(false)
        );
    }

    pub async fn put_marked_writes_the_session_and_the_marker_together_or_neither(h: Harness) {
        // GIVEN a starting session (v1)
        let key = key(7002);
        let id = InboundMessageId::new("msg-marked").unwrap();
        let created = h
            .store
            .put(&Session::first(key.clone(), 3, h.now()), None)
            .await
            .unwrap();
        let mut activated = created.activated(chat("c-marked", h.now()), h.now());
        activated.writer = Some("writer-marked".to_owned());
        let marker = Marker {
            id: id.clone(),
            contact_id: Some(contact("c-marked")),
            at: h.now(),
        };

        // WHEN a write with a stale version loses
        assert_conflict(h.store.put_marked(&activated, Some(7), &marker).await);
        // THEN neither the session nor the marker changed
        assert_eq!(h.store.get(&key).await.unwrap(), Some(created.clone()));
        assert!(!h.store.is_processed(&id).await.unwrap());

        // WHEN the write holds the right version
        let written = h
            .store
            .put_marked(&activated, Some(created.version), &marker)
            .await
            .unwrap();
        // THEN both are stored, and the returned session is the stored one
        assert_eq!(written.version, created.version + 1);
        assert_eq!(h.store.get(&key).await.unwrap(), Some(written.clone()));
        assert!(h.store.is_processed(&id).await.unwrap());
        assert_eq!(
            h.store.get_with_marker(&key, &id).await.unwrap(),
            (Some(written.clone()), Some(true))
        );
        // AND the session is listed for the relay, as after a put
        assert_eq!(
            h.store.active_in_shard(3).await.unwrap(),
            vec![written.clone()]
        );

        // WHEN the same write is sent again (an SDK retry after the first attempt applied)
        let repeated = h
            .store
            .put_marked(&activated, Some(created.version), &marker)
            .await
            .unwrap();
        // THEN it is recognised as already applied, not a conflict
        assert_eq!(repeated, written);
    }

    pub async fn a_resumed_text_is_marked_and_recorded_as_the_sessions_latest_activity(h: Harness) {
        // GIVEN an active session, its relay cursor written (which the mark must keep)
        let (key, absent) = (key(7003), key(7004));
        let session = active(&h, &key, 5, "c-resumed").await;
        h.store
            .advance_cursor(
                &key,
                &contact("c-resumed"),
                &ItemId::new("i-1").unwrap(),
                h.now(),
            )
            .await
            .unwrap();
        let before = h.store.get(&key).await.unwrap().unwrap();

        // WHEN a text reaches its chat an hour later
        h.clock.advance(TimeDelta::hours(1));
        let id = InboundMessageId::new("msg-resumed").unwrap();
        let marker = Marker {
            id: id.clone(),
            contact_id: Some(contact("c-resumed")),
            at: h.now(),
        };
        h.store.mark_resumed(&key, &marker).await.unwrap();

        // THEN the text is marked, and the row says the session was active just now (what
        // the relay's index query reads), with nothing else changed
        assert!(h.store.is_processed(&id).await.unwrap());
        let after = h.store.get(&key).await.unwrap().unwrap();
        assert_eq!(after.updated_at, h.now());
        assert_eq!(
            after,
            Session {
                updated_at: h.now(),
                ..before.clone()
            }
        );
        assert_eq!(after.version, session.version);
        let listed = h.store.active_in_shard(5).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].updated_at, h.now());

        // WHEN a text of another chat is marked (the session moved on meanwhile)
        let stamped = h.now();
        h.clock.advance(TimeDelta::minutes(1));
        let other = InboundMessageId::new("msg-other-chat").unwrap();
        let other_marker = Marker {
            id: other.clone(),
            contact_id: Some(contact("c-earlier")),
            at: h.now(),
        };
        h.store.mark_resumed(&key, &other_marker).await.unwrap();
        // THEN it is marked, and the row keeps its own chat's activity
        assert!(h.store.is_processed(&other).await.unwrap());
        assert_eq!(
            h.store.get(&key).await.unwrap().unwrap().updated_at,
            stamped
        );

        // WHEN a text is marked for a session whose row has expired (or never was)
        h.clock.advance(TimeDelta::days(30) + TimeDelta::hours(2));
        let late = InboundMessageId::new("msg-late").unwrap();
        let marker = Marker {
            id: late.clone(),
            at: h.now(),
            ..marker
        };
        h.store.mark_resumed(&key, &marker).await.unwrap();
        let never = InboundMessageId::new("msg-never").unwrap();
        let marker = Marker {
            id: never.clone(),
            ..marker
        };
        h.store.mark_resumed(&absent, &marker).await.unwrap();
        // THEN each text is still marked, and no row comes back or appears
        assert!(h.store.is_processed(&late).await.unwrap());
        assert!(h.store.is_processed(&never).await.unwrap());
        assert_eq!(h.store.get(&key).await.unwrap(), None);
        assert!(h.raw_session(&absent).await.is_none());
    }

    pub async fn expired_dedupe_marker_is_absent(h: Harness) {
        let id = InboundMessageId::new("msg-old").unwrap();
        h.store.mark_processed(&id, None, h.now()).await.unwrap();
        h.clock.advance(TimeDelta::days(7) - TimeDelta::seconds(1));
        assert!(
            h.store.is_processed(&id).await.unwrap(),
            "still within 7 days"
        );
        h.clock.advance(TimeDelta::seconds(1));
        // moto never deletes it and DynamoDB may take days: the read must say absent.
        assert!(!h.store.is_processed(&id).await.unwrap());
        h.store.mark_processed(&id, None, h.now()).await.unwrap();
        assert!(
            h.store.is_processed(&id).await.unwrap(),
            "marked again, live again"
        );
    }

    pub async fn expired_session_is_absent_and_can_be_created_again(h: Harness) {
        let key = key(20);
        active(&h, &key, 4, "c-20").await;
        h.clock.advance(TimeDelta::days(30) + TimeDelta::seconds(1));
        assert!(
            h.raw_session(&key).await.is_some(),
            "the engine keeps expired items"
        );
        assert_eq!(h.store.get(&key).await.unwrap(), None);
        assert_eq!(h.store.active_in_shard(4).await.unwrap(), []);
        // Writes conditional on a live session do not resurrect it.
        assert_eq!(
            h.store
                .end_chat(&key, &contact("c-20"), h.now())
                .await
                .unwrap(),
            None
        );
        assert!(
            !h.store
                .advance_cursor(&key, &contact("c-20"), &ItemId::new("i").unwrap(), h.now())
                .await
                .unwrap()
        );
        assert_eq!(h.store.get(&key).await.unwrap(), None);
        // Absent means "create": the first text after expiry starts afresh.
        let fresh = h
            .store
            .put(&Session::first(key.clone(), 4, h.now()), None)
            .await
            .unwrap();
        assert_eq!(fresh.version, 1);
        assert_eq!(fresh.chat, None);
        assert_eq!(h.store.get(&key).await.unwrap(), Some(fresh));
    }

    pub async fn leases_acquire_renew_and_release(h: Harness) {
        let a = OwnerId("relay-a".into());
        let b = OwnerId("relay-b".into());
        let now = h.now();
        let lease = h
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
            h.store
                .acquire(3, &b, None, now, now + TimeDelta::seconds(15))
                .await,
        );
        let renewed = h
            .store
            .renew(&lease, now + TimeDelta::seconds(20))
            .await
            .unwrap();
        assert_eq!(renewed.version, 2);
        assert_eq!(renewed.owner, a);
        assert_conflict(h.store.renew(&lease, now + TimeDelta::seconds(25)).await);
        assert_eq!(
            h.store.leases().await.unwrap(),
            std::slice::from_ref(&renewed)
        );
        // Releasing a stale copy leaves the lease alone; the current one frees it.
        h.store.release(&lease).await.unwrap();
        assert_eq!(h.store.leases().await.unwrap().len(), 1);
        h.store.release(&renewed).await.unwrap();
        assert_eq!(h.store.leases().await.unwrap(), []);
        let taken = h
            .store
            .acquire(3, &b, None, now, now + TimeDelta::seconds(15))
            .await
            .unwrap();
        assert_eq!(taken.owner, b);
        assert_eq!(taken.version, 1);
    }

    pub async fn expired_lease_is_stolen_and_the_loser_cannot_renew(h: Harness) {
        let a = OwnerId("relay-a".into());
        let b = OwnerId("relay-b".into());
        let now = h.now();
        let held = h
            .store
            .acquire(1, &a, None, now, now + TimeDelta::seconds(15))
            .await
            .unwrap();
        let before_lapse = now + TimeDelta::seconds(14);
        assert_conflict(
            h.store
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
        let stolen = h
            .store
            .acquire(1, &b, None, later, later + TimeDelta::seconds(15))
            .await
            .unwrap();
        assert_eq!(stolen.owner, b);
        assert_eq!(stolen.version, held.version + 1);
        assert_conflict(h.store.renew(&held, later + TimeDelta::seconds(30)).await);
        h.store.release(&held).await.unwrap();
        assert_eq!(h.store.leases().await.unwrap(), [stolen]);
    }

    pub async fn acquire_takes_over_exactly_the_previous_lease(h: Harness) {
        let a = OwnerId("relay-a".into());
        let b = OwnerId("relay-b".into());
        let c = OwnerId("relay-c".into());
        let now = h.now();
        let held = h
            .store
            .acquire(2, &a, None, now, now + TimeDelta::seconds(15))
            .await
            .unwrap();
        // Not expired, but the caller names the exact lease it saw (a handover).
        let handed = h
            .store
            .acquire(2, &b, Some(&held), now, now + TimeDelta::seconds(15))
            .await
            .unwrap();
        assert_eq!((handed.owner.clone(), handed.version), (b, 2));
        assert_conflict(
            h.store
                .acquire(2, &c, Some(&held), now, now + TimeDelta::seconds(15))
                .await,
        );
    }

    pub async fn leases_lists_every_shard_and_drops_expired_items(h: Harness) {
        let owner = OwnerId("relay-a".into());
        let now = h.now();
        for shard in [7, 0, 4] {
            h.store
                .acquire(shard, &owner, None, now, now + TimeDelta::seconds(15))
                .await
                .unwrap();
        }
        let shards: Vec<_> = h
            .store
            .leases()
            .await
            .unwrap()
            .iter()
            .map(|l| l.shard)
            .collect();
        assert_eq!(shards, [0, 4, 7]);
        // Lapsed leases are still listed (callers judge them) until their item's ttl passes.
        h.clock.advance(TimeDelta::seconds(16));
        assert_eq!(h.store.leases().await.unwrap().len(), 3);
        h.clock.advance(TimeDelta::days(1));
        assert_eq!(h.store.leases().await.unwrap(), []);
    }

    pub async fn corrupt_session_is_reported_with_a_masked_key(h: Harness) {
        let key = key(30);
        active(&h, &key, 1, "c-30").await;
        h.set_raw(&key, attr::STATUS, AttributeValue::S("open".into()))
            .await;
        let error = h.store.get(&key).await.unwrap_err();
        let printed = format!("{error} / {error:?}");
        match &error {
            StoreError::Corrupt {
                key: masked,
                problem,
            } => {
                assert_eq!(masked, "SESSION#+1******0030#+1******0100");
                assert!(problem.contains("status"), "{problem}");
            }
            other => panic!("expected corrupt, got {other:?}"),
        }
        assert!(!printed.contains("5550000030"), "{printed}");
        assert!(!error.is_retriable());
        // The shard listing skips the bad row instead of failing.
        assert_eq!(h.store.active_in_shard(1).await.unwrap(), []);
    }

    pub async fn missing_table_is_a_permanent_error(h: Harness) {
        let store = DynamoStore::new(
            h.raw.clone(),
            common::unique("no-such-table"),
            DynamoSettings::default(),
        );
        let error = store.get(&key(1)).await.unwrap_err();
        assert!(matches!(error, StoreError::Other(_)), "{error:?}");
        assert!(!error.is_retriable());
    }
}

/// Every suite test, once per engine.
macro_rules! targets {
    ($($test:ident),* $(,)?) => {
        mod moto {
            $(
                #[tokio::test]
                async fn $test() {
                    super::suite::$test(super::Harness::new("BRIDGE_TEST_MOTO_ENDPOINT").await).await;
                }
            )*
        }
        mod dynamodb_local {
            $(
                #[tokio::test]
                async fn $test() {
                    super::suite::$test(
                        super::Harness::new("BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT").await,
                    )
                    .await;
                }
            )*
        }
    };
}

targets!(
    table_has_the_schema_keys_index_and_ttl,
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
    dedupe_marker_is_idempotent,
    session_and_marker_are_read_in_one_request,
    put_marked_writes_the_session_and_the_marker_together_or_neither,
    a_resumed_text_is_marked_and_recorded_as_the_sessions_latest_activity,
    expired_dedupe_marker_is_absent,
    expired_session_is_absent_and_can_be_created_again,
    leases_acquire_renew_and_release,
    expired_lease_is_stolen_and_the_loser_cannot_renew,
    acquire_takes_over_exactly_the_previous_lease,
    leases_lists_every_shard_and_drops_expired_items,
    corrupt_session_is_reported_with_a_masked_key,
    missing_table_is_a_permanent_error,
);

#[tokio::test]
async fn unreachable_dynamodb_is_transient() {
    let shared = bridge_aws::emulator_config(&common::dead_endpoint());
    let client = Clients::new(&shared, &ClientSettings::default().with_max_attempts(1)).dynamodb;
    let store = DynamoStore::new(client, "any", DynamoSettings::default());
    let error = store.get(&key(1)).await.unwrap_err();
    assert!(matches!(error, StoreError::Transient(_)), "{error:?}");
    assert!(error.is_retriable());
}

/// Where the two engines differ, each named: a test per engine states what that engine
/// does, so an upgrade that moves a behaviour fails here, not somewhere downstream. The
/// suite above holds the adapter to the same contract on both; what it must not rely on
/// is here. (Alike on both, and so in the suite: a lost condition returns the item
/// (`ReturnValuesOnConditionCheckFailure`), expired items stay readable until the adapter's
/// own TTL check hides them, and the index is written with the table, never lagging.)
mod engines_differ {
    use super::{Harness, key, pk};
    use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
    use bridge_aws::dynamo::schema;

    /// Sends one TransactWriteItems that adds 1 to a counter twice with the same
    /// ClientRequestToken (as the SDK resends a transaction whose answer was lost), and
    /// returns the counter.
    async fn counter_after_a_resent_transaction(h: &Harness) -> String {
        let row = key(8001);
        // At most 36 characters: DynamoDB Local checks the length, moto does not.
        let token = uuid::Uuid::new_v4().to_string();
        for _ in 0..2 {
            let update = Update::builder()
                .table_name(&h.table)
                .key(schema::PK, AttributeValue::S(pk(&row)))
                .key(schema::SK, AttributeValue::S(schema::SESSION_SK.to_owned()))
                .update_expression("ADD #n :one")
                .expression_attribute_names("#n", "counter")
                .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
                .build()
                .unwrap();
            h.raw
                .transact_write_items()
                .client_request_token(&token)
                .transact_items(TransactWriteItem::builder().update(update).build())
                .send()
                .await
                .unwrap();
        }
        let item = h.raw_session(&row).await.unwrap();
        item["counter"].as_n().unwrap().clone()
    }

    #[tokio::test]
    async fn dynamodb_local_applies_a_resent_transaction_once() {
        let h = Harness::new("BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT").await;
        assert_eq!(counter_after_a_resent_transaction(&h).await, "1");
    }

    /// moto ignores ClientRequestToken. The adapter does not depend on it: a resent
    /// session write that had applied loses its version condition and is recognised by
    /// the row's writer id (`repeated_writes_that_already_applied_are_not_conflicts`,
    /// `put_marked_writes_the_session_and_the_marker_together_or_neither`, on both).
    #[tokio::test]
    async fn moto_applies_a_resent_transaction_twice() {
        let h = Harness::new("BRIDGE_TEST_MOTO_ENDPOINT").await;
        assert_eq!(counter_after_a_resent_transaction(&h).await, "2");
    }

    /// Writes a session row whose index key (`active_shard`, a number) is a string; the
    /// refusal's code and message when refused.
    async fn put_with_a_string_shard(h: &Harness) -> Result<(), (String, String)> {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
        let row = key(8002);
        h.raw
            .put_item()
            .table_name(&h.table)
            .item(schema::PK, AttributeValue::S(pk(&row)))
            .item(schema::SK, AttributeValue::S(schema::SESSION_SK.to_owned()))
            .item(schema::ACTIVE_SHARD, AttributeValue::S("3".to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                let error = error.into_service_error();
                (
                    error.code().unwrap_or_default().to_owned(),
                    error.message().unwrap_or_default().to_owned(),
                )
            })
    }

    #[tokio::test]
    async fn dynamodb_local_refuses_an_index_key_of_the_wrong_type() {
        let h = Harness::new("BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT").await;
        let (code, message) = put_with_a_string_shard(&h).await.unwrap_err();
        assert_eq!(code, "ValidationException", "{message}");
        assert!(message.contains("Type mismatch for Index Key"), "{message}");
    }

    /// moto stores it (and leaves it out of the index); DynamoDB refuses it, so a schema
    /// mistake shows only on DynamoDB Local, which the demo and the benches use.
    #[tokio::test]
    async fn moto_accepts_an_index_key_of_the_wrong_type() {
        let h = Harness::new("BRIDGE_TEST_MOTO_ENDPOINT").await;
        assert_eq!(put_with_a_string_shard(&h).await, Ok(()));
    }

    /// The engines word their errors differently (a missing table: "Cannot do operations on
    /// a non-existent table" against "Requested resource not found"); the adapter reads
    /// only the code, which they share, and logs the code, never the text.
    #[tokio::test]
    async fn the_engines_share_error_codes_not_messages() {
        let mut messages = Vec::new();
        for variable in [
            "BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT",
            "BRIDGE_TEST_MOTO_ENDPOINT",
        ] {
            let h = Harness::new(variable).await;
            let error = h
                .raw
                .get_item()
                .table_name(format!("{}-missing", h.table))
                .key(schema::PK, AttributeValue::S("x".to_owned()))
                .key(schema::SK, AttributeValue::S("x".to_owned()))
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(
                error.is_resource_not_found_exception(),
                "{variable}: {error:?}"
            );
            messages.push(error.meta().message().unwrap_or_default().to_owned());
        }
        assert_ne!(messages[0], messages[1]);
    }
}
