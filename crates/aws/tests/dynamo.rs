//! The DynamoDB adapter against two real engines, moto server and DynamoDB Local: what
//! only DynamoDB has (the table's schema, raw items, corrupt rows, a missing table, the
//! engines' differences).
//!
//! What every store must do is the store contract (crates/testkit/src/contract/), which
//! store_contract.rs runs against this adapter on both engines and against the in-memory
//! fake. This suite (`mod suite`) is written once too; `targets!` instantiates every test
//! for each engine (`moto::…`, `dynamodb_local::…`). Each test creates its own table: the
//! emulators are shared by every test and never reset. Both emulators apply writes to the
//! GSI synchronously; on AWS the index may lag, which `active_in_shard`'s contract allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use bridge_aws::dynamo::schema::{self, attr};
use bridge_aws::dynamo::{DynamoSettings, DynamoStore, SCHEMA, create_table};
use bridge_aws::error::TableError;
use bridge_aws::{ClientSettings, Clients};
use bridge_core::ids::{InboundMessageId, ItemId};
use bridge_core::menu::{MenuChange, MenuOption};
use bridge_core::ports::{Clock, Marker, SessionStore, StoreError};
use bridge_core::session::SessionKey;
use bridge_core::testing::ManualClock;
use bridge_testkit::contract::{StoreUnderTest, active, contact, key};
use chrono::{DateTime, TimeDelta, Utc};

/// A store over a fresh table in one emulator, plus the raw client for inspection.
struct Harness {
    raw: aws_sdk_dynamodb::Client,
    table: String,
    clock: Arc<ManualClock>,
    store: DynamoStore,
}

impl Harness {
    async fn new(variable: &str) -> Self {
        let (raw, table) = common::fresh_table(variable).await;
        let StoreUnderTest { store, clock } = StoreUnderTest::new(|clock| {
            DynamoStore::new(raw.clone(), &table, common::dynamo_settings()).with_clock(clock)
        });
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

mod suite {
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

    /// The relay's cursor has attributes of its own, which the inbound side's puts leave
    /// alone (the contract's `put_never_touches_the_relay_cursor`, in the item).
    pub async fn put_leaves_the_relay_cursor_attributes_alone(h: Harness) {
        let key = key(4);
        let read_by_inbound = active(&h.store, &key, 1, "c-1", h.now()).await;
        h.store
            .advance_cursor(&key, &contact("c-1"), &ItemId::new("i-5").unwrap(), h.now())
            .await
            .unwrap();
        h.store
            .put(
                &read_by_inbound.with_opt_out(false, h.now()),
                Some(read_by_inbound.version),
            )
            .await
            .unwrap();
        let raw = h.raw_session(&key).await.unwrap();
        assert_eq!(
            raw.get(attr::RELAY_CURSOR),
            Some(&AttributeValue::S("i-5".into()))
        );
        assert_eq!(
            raw.get(attr::RELAY_CURSOR_CONTACT),
            Some(&AttributeValue::S("c-1".into()))
        );
    }

    /// An ended chat's row leaves the sparse index: its index key is removed, not only
    /// filtered out when listed.
    pub async fn an_ended_chat_leaves_the_index(h: Harness) {
        let key = key(5);
        active(&h.store, &key, 3, "c-2", h.now()).await;
        assert!(
            h.raw_session(&key)
                .await
                .unwrap()
                .contains_key(schema::ACTIVE_SHARD)
        );
        h.store
            .end_chat(&key, &contact("c-2"), h.now())
            .await
            .unwrap()
            .unwrap();
        assert!(
            !h.raw_session(&key)
                .await
                .unwrap()
                .contains_key(schema::ACTIVE_SHARD)
        );
    }

    /// Conditional writes to a session that does not exist create no item (an UpdateItem
    /// without its condition would upsert a half-empty row, which `get` would then report
    /// as corrupt rather than absent).
    pub async fn writes_to_an_absent_session_create_no_item(h: Harness) {
        let key = key(24);
        let (chat, item) = (contact("c-24"), ItemId::new("i-1").unwrap());
        assert_eq!(h.store.end_chat(&key, &chat, h.now()).await.unwrap(), None);
        assert!(
            !h.store
                .advance_cursor(&key, &chat, &item, h.now())
                .await
                .unwrap()
        );
        let marker = Marker {
            id: InboundMessageId::new("msg-24").unwrap(),
            contact_id: Some(chat),
            at: h.now(),
        };
        h.store.mark_resumed(&key, &marker).await.unwrap();
        assert_eq!(h.raw_session(&key).await, None);
    }

    /// A closed menu's attribute is removed; a menu that no longer reads is ignored, not a
    /// corrupt session.
    pub async fn a_closed_menu_is_removed_and_an_unreadable_one_ignored(h: Harness) {
        let key = key(23);
        active(&h.store, &key, 2, "c-23", h.now()).await;
        let options = vec![MenuOption {
            text: "Billing".to_owned(),
            reply: "Billing".to_owned(),
        }];
        let write = |change: MenuChange| {
            let (store, key, now) = (&h.store, &key, h.now());
            async move {
                store
                    .advance_cursor_and_menu(
                        key,
                        &contact("c-23"),
                        &ItemId::new("i-1").unwrap(),
                        &change,
                        now,
                    )
                    .await
                    .unwrap()
            }
        };
        assert!(write(MenuChange::Open(options)).await);
        assert!(h.raw_session(&key).await.unwrap().contains_key(attr::MENU));
        assert!(write(MenuChange::Close).await);
        assert!(!h.raw_session(&key).await.unwrap().contains_key(attr::MENU));
        h.set_raw(&key, attr::MENU, AttributeValue::S("{not json".to_owned()))
            .await;
        assert_eq!(h.store.get(&key).await.unwrap().unwrap().menu, None);
    }

    /// Neither engine deletes an item the moment its `ttl` passes: the adapter's own check
    /// hides it (what the contract's expiry cases rely on).
    pub async fn an_expired_session_is_hidden_while_the_engine_keeps_it(h: Harness) {
        let key = key(20);
        active(&h.store, &key, 4, "c-20", h.now()).await;
        h.clock.advance(TimeDelta::days(30) + TimeDelta::seconds(1));
        assert!(
            h.raw_session(&key).await.is_some(),
            "the engine keeps expired items"
        );
        assert_eq!(h.store.get(&key).await.unwrap(), None);
    }

    pub async fn corrupt_session_is_reported_with_a_masked_key(h: Harness) {
        let key = key(30);
        active(&h.store, &key, 1, "c-30", h.now()).await;
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
            bridge_testkit::fresh::name("no-such-table"),
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
                    super::suite::$test(super::Harness::new(bridge_testkit::emulators::MOTO).await).await;
                }
            )*
        }
        mod dynamodb_local {
            $(
                #[tokio::test]
                async fn $test() {
                    super::suite::$test(
                        super::Harness::new(bridge_testkit::emulators::DYNAMODB_LOCAL).await,
                    )
                    .await;
                }
            )*
        }
    };
}

targets!(
    table_has_the_schema_keys_index_and_ttl,
    put_leaves_the_relay_cursor_attributes_alone,
    an_ended_chat_leaves_the_index,
    a_closed_menu_is_removed_and_an_unreadable_one_ignored,
    writes_to_an_absent_session_create_no_item,
    an_expired_session_is_hidden_while_the_engine_keeps_it,
    corrupt_session_is_reported_with_a_masked_key,
    missing_table_is_a_permanent_error,
);

#[tokio::test]
async fn unreachable_dynamodb_is_transient() {
    let shared = bridge_testkit::emulator_config(&bridge_testkit::emulators::dead_endpoint());
    let client = Clients::new(&shared, &ClientSettings::default().with_max_attempts(1)).dynamodb;
    let store = DynamoStore::new(client, "any", DynamoSettings::default());
    let error = store.get(&key(1)).await.unwrap_err();
    assert!(matches!(error, StoreError::Transient(_)), "{error:?}");
    assert!(error.is_retriable());
}

/// Where the two engines differ, each named: a test per engine states what that engine
/// does, so an upgrade that moves a behaviour fails here, not somewhere downstream. The
/// suite above and the store contract (store_contract.rs) hold the adapter to the same
/// behaviour on both; what it must not rely on is here. (Alike on both, and so tested on
/// both: a lost condition returns the item (`ReturnValuesOnConditionCheckFailure`),
/// expired items stay readable until the adapter's own TTL check hides them, and the index
/// is written with the table, never lagging.)
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
        let h = Harness::new(bridge_testkit::emulators::DYNAMODB_LOCAL).await;
        assert_eq!(counter_after_a_resent_transaction(&h).await, "1");
    }

    /// moto ignores ClientRequestToken. The adapter does not depend on it: a resent
    /// session write that had applied loses its version condition and is recognised by
    /// the row's writer id (the store contract's
    /// `repeated_writes_that_already_applied_are_not_conflicts` and
    /// `put_marked_writes_the_session_and_the_marker_together_or_neither`, on both).
    #[tokio::test]
    async fn moto_applies_a_resent_transaction_twice() {
        let h = Harness::new(bridge_testkit::emulators::MOTO).await;
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
        let h = Harness::new(bridge_testkit::emulators::DYNAMODB_LOCAL).await;
        let (code, message) = put_with_a_string_shard(&h).await.unwrap_err();
        assert_eq!(code, "ValidationException", "{message}");
        assert!(message.contains("Type mismatch for Index Key"), "{message}");
    }

    /// moto stores it (and leaves it out of the index); DynamoDB refuses it, so a schema
    /// mistake shows only on DynamoDB Local, which the demo and the benches use.
    #[tokio::test]
    async fn moto_accepts_an_index_key_of_the_wrong_type() {
        let h = Harness::new(bridge_testkit::emulators::MOTO).await;
        assert_eq!(put_with_a_string_shard(&h).await, Ok(()));
    }

    /// The engines word their errors differently (a missing table: "Cannot do operations on
    /// a non-existent table" against "Requested resource not found"); the adapter reads
    /// only the code, which they share, and logs the code, never the text.
    #[tokio::test]
    async fn the_engines_share_error_codes_not_messages() {
        let mut messages = Vec::new();
        for variable in [
            bridge_testkit::emulators::DYNAMODB_LOCAL,
            bridge_testkit::emulators::MOTO,
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
