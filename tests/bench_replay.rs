//! Replay benchmark: 10,000 inbound events through the whole local stack — `bridge replay
//! --target local` (the inbound handler in-process) against connect-sim, moto for SNS, and
//! each DynamoDB engine in turn (DynamoDB Local, the local default, then moto) — with the
//! time split reported by `--timings` (handler vs waiting on the services), and the two
//! engines' events/s side by side.
//!
//! Ignored by default (minutes): `make bench-replay`, or
//! `scripts/with-emulators.sh cargo test -p bridge-e2e --test bench_replay -- --ignored --nocapture`.
//! `BENCH_EVENTS`, `BENCH_CUSTOMERS` and `BENCH_CONCURRENCY` change the shape.
//!
//! moto replays at most 1,000 events (`BENCH_MOTO_EVENTS`, with customers in proportion):
//! its TransactWriteItems deep-copies the whole table once per item before it writes (moto
//! 5.x `dynamodb/models`), so each text costs more the more the table holds, and 10,000
//! events would take it most of an hour (measured: its request rate fell from about 19/s
//! to 9/s in five minutes while it grew to 11 GB). The smaller run flatters moto; it is
//! still by far the slower.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::fmt::Write as _;

use bridge_testkit::fresh;
use harness::{Engine, Stack, connect_sim};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "benchmark: minutes of load; run with make bench-replay"]
fn replay_ten_thousand_events_through_the_local_stack() {
    let events = setting("BENCH_EVENTS", 10_000);
    let customers = setting("BENCH_CUSTOMERS", 500).max(1);
    let moto_events = setting("BENCH_MOTO_EVENTS", events.min(1_000));
    let moto_customers = (customers * moto_events / events.max(1)).max(1);
    let mut rows = Vec::new();
    for (engine, events, customers) in [
        (Engine::DynamodbLocal, events, customers),
        (Engine::Moto, moto_events, moto_customers),
    ] {
        rows.push((engine, events, replay_on(engine, events, customers)));
    }
    let mut table = String::from(
        "| DynamoDB engine | events | events/s | per event: waiting on services | per event: handler |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for (engine, events, report) in &rows {
        let _ = writeln!(
            table,
            "| {} | {events} | {} | {} | {} |",
            engine.as_str(),
            report.events_per_second,
            report.services_ms,
            report.handler_ms
        );
    }
    println!("BENCH TABLE\n{table}");
}

/// What one replay's `--timings` report said.
struct Report {
    events_per_second: String,
    services_ms: String,
    handler_ms: String,
}

/// Replays `events` texts from `customers` customers through a stack on `engine` and
/// returns its timings.
fn replay_on(engine: Engine, events: usize, customers: usize) -> Report {
    let concurrency = setting("BENCH_CONCURRENCY", 32).to_string();
    // GIVEN connect-sim without its concurrent-chat quota, a fresh table in `engine`, and
    // a recording of `events` texts from `customers` customers, interleaved
    let (_sim, sim) = connect_sim(&["--concurrent-chat-limit", "0"]);
    let stack = Stack::on(engine, &sim);
    stack.init_table();
    let run = fresh::name("bench");
    let numbers: Vec<String> = (0..customers)
        .map(|i| format!("+15559{:06}", (i * 7919 + 13) % 1_000_000))
        .collect();
    let mut jsonl = String::new();
    for i in 0..events {
        let from = &numbers[i % customers];
        let line = serde_json::json!({
            "originationNumber": from,
            "destinationNumber": if i % 3 == 0 { "+18005550199" } else { "+18005550100" },
            "messageKeyword": "KEYWORD_123456789012",
            "messageBody": format!("{run} text {i} from {from}: where is my order?"),
            "previousPublishedMessageId": "",
            "inboundMessageId": format!("{run}-{i}"),
        });
        writeln!(jsonl, "{line}").unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.jsonl");
    let summary = dir.path().join("summary.json");
    std::fs::write(&file, jsonl).unwrap();

    // WHEN it is replayed as fast as the stack goes
    let (ok, stdout, stderr) = stack.run_bridge(&[
        "replay",
        file.to_str().unwrap(),
        "--speed",
        "max",
        "--concurrency",
        &concurrency,
        "--timings",
        "--progress",
        "never",
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    // THEN every event was delivered, and the report says where the time went
    assert!(ok, "{stdout}{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(
        summary["tally"]["delivered"], events,
        "{}",
        summary["tally"]
    );
    assert_eq!(summary["tally"]["failures"], 0);
    assert!(stdout.contains("timings:"), "{stdout}");
    println!("BENCH RESULT ({})\n{stdout}", engine.as_str());
    let timings = stdout
        .lines()
        .find(|line| line.starts_with("timings:"))
        .unwrap();
    let per_event = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("per event (mean)"))
        .unwrap();
    // "… 1234.5 events/s"; "per event (mean)   X ms = Y ms waiting on services (P%) + Z ms in the handler (Q%)"
    let events_per_second = timings
        .rsplit(": ")
        .next()
        .unwrap()
        .trim_end_matches(" events/s")
        .to_owned();
    let (_, after_equals) = per_event.split_once(" = ").unwrap();
    let (services, handler) = after_equals.split_once(" + ").unwrap();
    Report {
        events_per_second,
        services_ms: services.to_owned(),
        handler_ms: handler.to_owned(),
    }
}
