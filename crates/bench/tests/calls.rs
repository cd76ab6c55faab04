//! The AWS call budgets of the inbound handler, counted where the calls leave the process
//! (an SDK interceptor on the real clients) against the emulators and connect-sim: the
//! same scenarios `inbound-bench calls` reports, held as tests so a change that adds a call
//! to the resume path fails `make test`. The budgets hold on both DynamoDB engines
//! (DynamoDB Local, the default, and moto's).
//!
//! Run with `scripts/with-emulators.sh cargo test -p bridge-bench --test calls` (or
//! `make test`): moto comes from `BRIDGE_TEST_MOTO_ENDPOINT`, DynamoDB Local from
//! `DYNAMODB_LOCAL_PORT`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bridge_bench::inbound::paths::{self, FIRST_TEXT, PathCalls, RACE, RESUME};
use bridge_bench::inbound::{Services, Stack, Wiring};
use bridge_cli::config::Dynamodb;
use connect_sim::SimConfig;

fn row<'a>(rows: &'a [PathCalls], path: &str) -> &'a PathCalls {
    rows.iter()
        .find(|row| row.path == path)
        .unwrap_or_else(|| panic!("no row {path:?} in {rows:#?}"))
}

#[tokio::test]
async fn every_path_keeps_its_aws_call_budget_on_dynamodb_local() {
    every_path_keeps_its_aws_call_budget(&Dynamodb::Local).await;
}

#[tokio::test]
async fn every_path_keeps_its_aws_call_budget_on_moto() {
    every_path_keeps_its_aws_call_budget(&Dynamodb::Moto).await;
}

async fn every_path_keeps_its_aws_call_budget(dynamodb: &Dynamodb) {
    // GIVEN the handler over the real adapters, each SDK client counting its calls
    let sim = connect_sim::spawn(SimConfig::default()).await.unwrap();
    let services = Services::from_env(dynamodb);
    let stack = Stack::new(&services, &sim.base_url()).await.unwrap();

    // WHEN one SMS goes down each path
    let rows = paths::run_all(&stack).await.unwrap();
    let table = paths::markdown(&rows);

    // THEN the resume path is one batched read, SendMessage and one write (the marker and
    // the session's activity in one transaction): 3 calls
    assert_eq!(
        row(&rows, RESUME).names(),
        [
            "DynamoDB.BatchGetItem",
            "ConnectParticipant.SendMessage",
            "DynamoDB.TransactWriteItems"
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
    // AND a first text is four calls: one batched read, the `starting` claim,
    // StartChatContact (which returns the customer's connection), and one transaction that
    // activates the session and writes the dedupe marker
    assert_eq!(
        row(&rows, FIRST_TEXT).names(),
        [
            "DynamoDB.BatchGetItem",
            "DynamoDB.UpdateItem",
            "Connect.StartChatContact",
            "DynamoDB.TransactWriteItems"
        ],
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

#[tokio::test]
async fn the_bridge_command_makes_exactly_the_lambdas_calls() {
    // GIVEN the handler wired as the Lambda wires it, and as `bridge sms` / `bridge replay`
    // / the demo's phone page wire it (timing wrappers around every port), each over
    // counted clients and its own connect-sim
    let lambda_sim = connect_sim::spawn(SimConfig::default()).await.unwrap();
    let cli_sim = connect_sim::spawn(SimConfig::default()).await.unwrap();
    let services = Services::from_env(&Dynamodb::Local);
    let lambda = Stack::with_wiring(&services, &lambda_sim.base_url(), Wiring::Lambda)
        .await
        .unwrap();
    let cli = Stack::with_wiring(&services, &cli_sim.base_url(), Wiring::Cli)
        .await
        .unwrap();

    // WHEN one SMS goes down each path through both
    let lambda_rows = paths::run_all(&lambda).await.unwrap();
    let cli_rows = paths::run_all(&cli).await.unwrap();

    // THEN every path makes the same calls in the same order (the race's interleaving is
    // the scheduler's, so only its total is compared)
    for (from_lambda, from_cli) in lambda_rows.iter().zip(&cli_rows) {
        assert_eq!(from_lambda.path, from_cli.path);
        if from_lambda.path == RACE {
            continue;
        }
        assert_eq!(
            from_cli.names(),
            from_lambda.names(),
            "{}\nlambda:\n{}\ncli:\n{}",
            from_lambda.path,
            paths::markdown(&lambda_rows),
            paths::markdown(&cli_rows)
        );
    }
    assert_eq!(cli_rows.len(), lambda_rows.len());
    assert_eq!(row(&cli_rows, FIRST_TEXT).operations(), 4);
    assert_eq!(row(&cli_rows, RESUME).operations(), 3);
}
