//! `bridge replay` of every recorded fixture through the whole local stack (the real
//! `bridge` binary, moto, a connect-sim of its own), with `--expect` checking each text's
//! outcome against the fixture's `*.expected.json`; and the ways `--expect` must fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::fs;

use bridge_e2e::fixtures_dir;
use harness::{Stack, connect_sim};

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".jsonl").map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn replay_args<'a>(jsonl: &'a str, expected: &'a str) -> Vec<&'a str> {
    vec!["replay", jsonl, "--speed", "max", "--expect", expected]
}

#[test]
fn every_fixture_replays_with_its_expected_outcomes() {
    // GIVEN a fresh table per fixture, and connect-sim
    let (_sim, sim_url) = connect_sim(&[]);
    let names = fixture_names();
    assert!(names.len() >= 6, "fixtures missing: {names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let stack = Stack::new(&sim_url);
        stack.init_table();
        let jsonl = fixtures_dir().join(format!("{name}.jsonl"));
        let expected = fixtures_dir().join(format!("{name}.expected.json"));
        // WHEN the fixture is replayed with --expect
        let (ok, stdout, stderr) = stack.run_bridge(&replay_args(
            jsonl.to_str().unwrap(),
            expected.to_str().unwrap(),
        ));
        // THEN every outcome matches and nothing failed
        if !ok || !stdout.contains("expected outcomes match") || !stdout.contains("failures    0") {
            failures.push(format!("{name}:\n{stdout}{stderr}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_second_replay_is_all_duplicates_unless_ids_are_renewed() {
    // GIVEN the plain fixture replayed once
    let (_sim, sim_url) = connect_sim(&[]);
    let stack = Stack::new(&sim_url);
    stack.init_table();
    let jsonl = fixtures_dir().join("plain.jsonl");
    let expected = fixtures_dir().join("plain.expected.json");
    let args = replay_args(jsonl.to_str().unwrap(), expected.to_str().unwrap());
    let (ok, _, _) = stack.run_bridge(&args);
    assert!(ok);

    // WHEN it is replayed again with the same ids
    let (ok, stdout, _) = stack.run_bridge(&args);
    // THEN every text is a duplicate, which --expect reports as a mismatch (exit 1)
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("duplicates  9"), "{stdout}");
    assert!(stdout.contains("expected ok, got duplicate"), "{stdout}");

    // WHEN it is replayed with --new-ids
    let mut renewed = args.clone();
    renewed.push("--new-ids");
    let (ok, stdout, _) = stack.run_bridge(&renewed);
    // THEN the texts are new again
    assert!(ok, "{stdout}");
    assert!(stdout.contains("all 9 expected outcomes match"), "{stdout}");
}

#[test]
fn expect_fails_on_a_wrong_expectation_and_names_the_line() {
    // GIVEN an expected file that says line 1 of the keywords fixture is an ordinary text
    let (_sim, sim_url) = connect_sim(&[]);
    let stack = Stack::new(&sim_url);
    stack.init_table();
    let original = fs::read_to_string(fixtures_dir().join("keywords.expected.json")).unwrap();
    let mut expected: serde_json::Value = serde_json::from_str(&original).unwrap();
    expected["lines"][0] = serde_json::json!({"line": 1, "outcome": "ok"});
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("keywords.expected.json");
    fs::write(&wrong, expected.to_string()).unwrap();
    let jsonl = fixtures_dir().join("keywords.jsonl");
    // WHEN the fixture is replayed against it
    let (ok, stdout, _) = stack.run_bridge(&replay_args(
        jsonl.to_str().unwrap(),
        wrong.to_str().unwrap(),
    ));
    // THEN the replay fails and says which line differs
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("expect: 1 mismatches"), "{stdout}");
    assert!(
        stdout.contains("line 1 record 0: expected ok, got keyword opt_out"),
        "{stdout}"
    );
}

#[test]
fn expect_refuses_other_support_lines() {
    // GIVEN a bridge configured with one support line only
    let (_sim, sim_url) = connect_sim(&[]);
    let stack = Stack::new(&sim_url);
    let jsonl = fixtures_dir().join("plain.jsonl");
    let expected = fixtures_dir().join("plain.expected.json");
    let mut args = replay_args(jsonl.to_str().unwrap(), expected.to_str().unwrap());
    args.extend(["--support-lines", "+18005550100=flow"]);
    // WHEN a fixture that assumes two is replayed with --expect
    let (ok, _, stderr) = stack.run_bridge(&args);
    // THEN it refuses before sending anything
    assert!(!ok);
    assert!(stderr.contains("assumes support lines"), "{stderr}");
}

#[test]
fn a_missing_table_makes_every_line_fail_with_exit_status_1() {
    // GIVEN no table
    let (_sim, sim_url) = connect_sim(&[]);
    let stack = Stack::new(&sim_url);
    let jsonl = fixtures_dir().join("unicode.jsonl");
    // WHEN a fixture is replayed
    let output = stack
        .bridge()
        .args(["replay", jsonl.to_str().unwrap(), "--speed", "max"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // THEN each line is reported failed, by number, and the exit status is 1
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("failures    15"), "{stdout}");
    assert!(stdout.contains("line 1: failed:"), "{stdout}");
    assert!(stdout.contains("line 15: failed:"), "{stdout}");
}
