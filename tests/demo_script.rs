//! `bridge demo --script`, as `make demo` runs it in CI: the real `bridge` starts the real
//! `connect-sim` and `bridge-relay`, plays the scripted conversation, prints it, and stops
//! every process it started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::Command;

use bridge_testkit::emulators::{dynamodb_local, moto};
use bridge_testkit::fresh;
use harness::{bin, pid_alive};

/// The PIDs the demo printed for the processes it started.
fn started_pids(stdout: &str) -> Vec<u32> {
    stdout
        .lines()
        .filter_map(|line| {
            line.split_once("(pid ")?
                .1
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

#[test]
fn the_scripted_conversation_plays_through_every_step() {
    // GIVEN the shared moto and DynamoDB Local, a fresh table and customer
    let run_dir = tempfile::tempdir().unwrap();
    let customer = fresh::customer();
    let table = fresh::name("demo");
    // WHEN the demo plays its script
    let output = Command::new(bin("bridge"))
        .env("BRIDGE_MOTO_ENDPOINT", moto())
        .env("BRIDGE_DYNAMODB", dynamodb_local())
        .env_remove("BRIDGE_SUPPORT_LINES")
        .args(["--table", &table, "demo", "--script"])
        .args([
            "--sim-port",
            "0",
            "--phone-port",
            "0",
            "--relay-admin-port",
            "0",
        ])
        .args(["--customer", &customer, "--step-timeout", "30"])
        .arg("--run-dir")
        .arg(run_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");

    // THEN it exits 0 having seen every step
    assert!(output.status.success(), "demo failed");
    for expected in [
        "agent console  http://127.0.0.1:",
        "phone page     http://127.0.0.1:",
        "(already running; left alone)",
        &format!("customer {customer} → +18005550100: Hi! My order A-1001"),
        "bridge: delivered: started chat",
        "agent Alex joins chat",
        &format!("SMS +18005550100 → {customer}: You are now chatting with Alex"),
        &format!("SMS +18005550100 → {customer}: Sorry about that! Let me check order A-1001."),
        "ends chat",
        &format!("SMS +18005550100 → {customer}: This chat has ended."),
        "ended, new chat",
        &format!("SMS +18005550100 → {customer}: Hello again!"),
        "scripted conversation: all 17 steps arrived",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?}");
    }
    // AND every process it started is gone, and so is its PID file
    let pids = started_pids(&stdout);
    assert_eq!(pids.len(), 2, "connect-sim and bridge-relay pids: {pids:?}");
    for pid in pids {
        assert!(!pid_alive(pid), "pid {pid} still running after the demo");
    }
    assert!(stderr.contains("stopped bridge-relay"), "{stderr}");
    assert!(stderr.contains("stopped connect-sim"), "{stderr}");
    assert!(!run_dir.path().join("demo/pids").exists());
}

#[test]
fn ci_true_plays_the_script_too_with_dynamodb_back_on_moto() {
    // GIVEN CI=true and no --script, and DynamoDB switched back to moto's
    let run_dir = tempfile::tempdir().unwrap();
    let output = Command::new(bin("bridge"))
        .env("CI", "true")
        .env("BRIDGE_MOTO_ENDPOINT", moto())
        .env("BRIDGE_DYNAMODB", "moto")
        .env_remove("BRIDGE_SUPPORT_LINES")
        .args(["--table", &fresh::name("demo-ci"), "demo"])
        .args([
            "--sim-port",
            "0",
            "--phone-port",
            "0",
            "--relay-admin-port",
            "0",
        ])
        .args(["--customer", &fresh::customer(), "--step-timeout", "30"])
        .arg("--run-dir")
        .arg(run_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // THEN the demo plays the script and exits 0 rather than waiting for Ctrl-C
    assert!(output.status.success());
    assert!(stdout.contains("scripted conversation: all 17 steps arrived"));
    assert!(stdout.contains("dynamodb       moto's"), "{stdout}");
    assert!(!stdout.contains("Ctrl-C stops"));
}

#[test]
fn the_demo_starts_dynamodb_local_when_none_answers_and_stops_it() {
    // GIVEN no DynamoDB Local on the demo's port (a free one), and the one `make tools`
    // installed
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools");
    let run_dir = tempfile::tempdir().unwrap();
    // WHEN the demo plays its script
    let output = Command::new(bin("bridge"))
        .env("BRIDGE_MOTO_ENDPOINT", moto())
        .env("DYNAMODB_LOCAL_PORT", port.to_string())
        .env(
            "TOOLS_DIR",
            std::env::var("TOOLS_DIR").map_or(tools, Into::into),
        )
        .env_remove("BRIDGE_DYNAMODB")
        .env_remove("BRIDGE_SUPPORT_LINES")
        .args(["--table", &fresh::name("demo-ddb"), "demo", "--script"])
        .args([
            "--sim-port",
            "0",
            "--phone-port",
            "0",
            "--relay-admin-port",
            "0",
        ])
        .args(["--customer", &fresh::customer(), "--step-timeout", "30"])
        .arg("--run-dir")
        .arg(run_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    // THEN it started DynamoDB Local, played the script on it, and stopped it
    assert!(output.status.success(), "demo failed");
    assert!(
        stdout.contains(&format!("dynamodb       http://127.0.0.1:{port} (pid ")),
        "{stdout}"
    );
    assert!(stdout.contains("scripted conversation: all 17 steps arrived"));
    assert!(stderr.contains("stopped dynamodb-local"), "{stderr}");
    let pids = started_pids(&stdout);
    assert_eq!(
        pids.len(),
        3,
        "dynamodb-local, connect-sim and bridge-relay: {pids:?}"
    );
    for pid in pids {
        assert!(!pid_alive(pid), "pid {pid} still running after the demo");
    }
}

#[test]
fn a_missing_relay_binary_fails_before_starting_anything() {
    // GIVEN a bin dir without the relay
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(bin("bridge"))
        .env("BRIDGE_MOTO_ENDPOINT", moto())
        .args(["demo", "--script", "--bin-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    // THEN the demo says what to build, and exits non-zero
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not found in"), "{stderr}");
    assert!(stderr.contains("cargo build"), "{stderr}");
}
