//! What the adapter tests share: finding the emulators and configuring SDK clients for
//! them.
//!
//! The configuration is built by hand, not loaded from the environment: with-emulators.sh
//! exports `AWS_ENDPOINT_URL_DYNAMODB` (moto), which would otherwise override the endpoint
//! of the DynamoDB Local target.
#![allow(dead_code)]

use std::num::NonZeroU16;
use std::time::Duration;

use bridge_aws::dynamo::{DynamoSettings, create_table};
use bridge_aws::{ClientSettings, Clients};

/// The emulator endpoint in `variable`; fails the test with directions when unset.
pub fn endpoint(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "{variable} is not set: these tests need the local emulators. Run them with \
             `make test`, or `scripts/with-emulators.sh cargo test -p bridge-aws`"
        ),
    }
}

/// Client settings for tests: the production retry policy with generous timeouts, so a
/// machine busy compiling cannot turn a slow emulator answer into a spurious failure.
pub fn settings() -> ClientSettings {
    ClientSettings {
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(60),
        ..ClientSettings::default()
    }
}

/// An endpoint where nothing listens: a port bound then released.
pub fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A fresh name, so tests sharing one emulator never see each other's data.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A client for the DynamoDB emulator in `variable`, and a fresh table in it.
pub async fn fresh_table(variable: &str) -> (aws_sdk_dynamodb::Client, String) {
    let shared = bridge_aws::emulator_config(&endpoint(variable));
    let client = Clients::new(&shared, &settings()).dynamodb;
    let table = unique("bridge-test");
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
