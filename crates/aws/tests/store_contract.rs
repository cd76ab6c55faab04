//! The store contract (`bridge_testkit::contract`, in crates/testkit/src/contract/) against
//! every store: the in-memory fake the domain tests use, and the DynamoDB adapter on moto
//! and on DynamoDB Local.
//!
//! `store_contract!` instantiates every case once per store (`memory::…`, `moto::…`,
//! `dynamodb_local::…`), each on a fresh store: the adapter gets a table of its own, since
//! the emulators are shared by every test and never reset. What only DynamoDB has (raw
//! items, the schema, the engines' differences) is tested in `dynamo.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bridge_aws::dynamo::DynamoStore;
use bridge_core::testing::MemoryStore;
use bridge_testkit::contract::StoreUnderTest;

/// The in-memory fake, judging expiry by the case's clock.
fn memory_store() -> StoreUnderTest<MemoryStore> {
    StoreUnderTest::new(|clock| MemoryStore::new().with_clock(clock))
}

/// The DynamoDB adapter over a fresh table in the emulator in `variable`.
async fn dynamo_store(variable: &str) -> StoreUnderTest<DynamoStore> {
    let (client, table) = common::fresh_table(variable).await;
    StoreUnderTest::new(|clock| {
        DynamoStore::new(client, table, common::dynamo_settings()).with_clock(clock)
    })
}

bridge_testkit::store_contract!(memory, memory_store());
bridge_testkit::store_contract!(moto, dynamo_store(bridge_testkit::emulators::MOTO).await);
bridge_testkit::store_contract!(
    dynamodb_local,
    dynamo_store(bridge_testkit::emulators::DYNAMODB_LOCAL).await
);
