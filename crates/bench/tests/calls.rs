//! The AWS call budgets of the inbound handler, counted where the calls leave the process
//! (an SDK interceptor on the real clients) against moto and connect-sim: the same
//! scenarios `inbound-bench calls` reports, held as tests so a change that adds a call to
//! the resume path fails `make test`.
//!
//! Run with `scripts/with-emulators.sh cargo test -p bridge-bench --test calls` (or
//! `make test`): moto comes from `BRIDGE_TEST_MOTO_ENDPOINT`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bridge_bench::inbound::Stack;
use bridge_bench::inbound::paths::{self, PathCalls, RESUME};
use connect_sim::SimConfig;

fn moto() -> String {
    match std::env::var("BRIDGE_TEST_MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "BRIDGE_TEST_MOTO_ENDPOINT is not set: these tests need moto. Run them with \
             `scripts/with-emulators.sh cargo test -p bridge-bench` (or `make test`)"
        ),
    }
}

fn row<'a>(rows: &'a [PathCalls], path: &str) -> &'a PathCalls {
    rows.iter()
        .find(|row| row.path == path)
        .unwrap_or_else(|| panic!("no row {path:?} in {rows:#?}"))
}

#[tokio::test]
async fn every_path_keeps_its_aws_call_budget() {
    // GIVEN the handler over the real adapters, each SDK client counting its calls
    let sim = connect_sim::spawn(SimConfig::default()).await.unwrap();
    let stack = Stack::new(&moto(), &sim.base_url()).await.unwrap();

    // WHEN one SMS goes down each path
    let rows = paths::run_all(&stack).await.unwrap();
    let table = paths::markdown(&rows);

    // THEN the resume path is one batched read, SendMessage and one write: 3 calls
    assert_eq!(
        row(&rows, RESUME).names(),
        [
            "DynamoDB.BatchGetItem",
            "ConnectParticipant.SendMessage",
            "DynamoDB.PutItem"
        ],
        "{table}"
    );
    // AND a redelivery costs one read, bad input none
    assert_eq!(
        row(&rows, "the same SNS record again (redelivery)").names(),
        ["DynamoDB.BatchGetItem"],
        "{table}"
    );
    assert!(
        row(&rows, "unknown support number").calls.is_empty(),
        "{table}"
    );
    assert!(row(&rows, "malformed record").calls.is_empty(), "{table}");
    // AND a long text adds one SendMessage per extra part, and one read of its
    // "part 1 went in as the InitialMessage" marker
    let long = row(&rows, "3,000-character text to the open chat").names();
    assert_eq!(long.len(), 6, "{table}");
    assert_eq!(
        long.iter()
            .filter(|name| *name == "ConnectParticipant.SendMessage")
            .count(),
        3,
        "{table}"
    );
    // AND a first text starts exactly one chat
    let first = row(&rows, "first text (starts a chat)").names();
    assert_eq!(
        first
            .iter()
            .filter(|name| *name == "Connect.StartChatContact")
            .count(),
        1,
        "{table}"
    );
    // AND a 500 retried inside the SDK is one call of two requests, not a second call
    let flaky = row(&rows, "resume, SendMessage 500 once");
    assert_eq!(flaky.operations(), 3, "{table}");
    assert_eq!(flaky.attempts(), 4, "{table}");
    // AND an expired connection is refreshed once, then the text is sent
    let expired = row(&rows, "resume, connection token expired").names();
    assert_eq!(
        expired
            .iter()
            .filter(|name| *name == "ConnectParticipant.CreateParticipantConnection")
            .count(),
        1,
        "{table}"
    );
    // AND 20 racing first texts cost a bounded number of calls each
    let race = row(&rows, "20 first texts from one number at once (all)");
    assert!(race.operations() <= 20 * 8, "{table}");
}
