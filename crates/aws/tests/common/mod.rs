//! What the DynamoDB adapter's tests share (dynamo.rs, store_contract.rs): a fresh table in
//! one engine, and the adapter's settings in tests. The emulators themselves are found and
//! configured by `bridge_testkit`.
#![allow(dead_code)]

use std::num::NonZeroU16;

use bridge_aws::Clients;
use bridge_aws::dynamo::{DynamoSettings, create_table};
use bridge_testkit::emulators::{client_settings, endpoint};
use bridge_testkit::{emulator_config, fresh};

/// A client for the DynamoDB emulator named by `variable`, and a fresh table in it.
pub async fn fresh_table(variable: &str) -> (aws_sdk_dynamodb::Client, String) {
    let shared = emulator_config(&endpoint(variable));
    let client = Clients::new(&shared, &client_settings()).dynamodb;
    let table = fresh::name("bridge-test");
    create_table(&client, &table).await.unwrap();
    (client, table)
}

/// The DynamoDB adapter's settings in tests: the default lifetimes, and 8 lease slots (the
/// tests' shards are below 8) so that listing leases reads 8 items, not 64.
pub fn dynamo_settings() -> DynamoSettings {
    DynamoSettings {
        lease_slots: NonZeroU16::new(8).unwrap(),
        ..DynamoSettings::default()
    }
}
