//! Every binary explains itself: `--help` and `-h` print what it does and every variable
//! it reads, `--version` its version, each with exit status 0 and no configuration set. A
//! person who runs one by hand types `--help` first; it must not answer "invalid
//! configuration".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::{Command, Output};

use harness::bin;

/// Runs `name` with `args` and no bridge or AWS variables.
fn run(name: &str, args: &[&str]) -> Output {
    let mut command = Command::new(bin(name));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("BRIDGE_") || key.starts_with("AWS_") || key.starts_with("CONNECT_SIM_")
        {
            command.env_remove(key);
        }
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn assert_help(name: &str, must_name: &[&str]) {
    for flag in ["--help", "-h"] {
        let output = run(name, &[flag]);
        let text = stdout(&output);
        assert!(
            output.status.success(),
            "{name} {flag}: {:?}\n{text}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        for var in must_name {
            assert!(
                text.contains(var),
                "{name} {flag} does not name {var}:\n{text}"
            );
        }
    }
    let output = run(name, &["--version"]);
    assert!(
        output.status.success(),
        "{name} --version: {:?}",
        output.status
    );
    assert!(
        stdout(&output).contains(env!("CARGO_PKG_VERSION")),
        "{name} --version: {}",
        stdout(&output)
    );
}

fn names(vars: &[bridge_core::usage::Var]) -> Vec<&'static str> {
    vars.iter().map(|var| var.name).collect()
}

#[test]
fn the_lambda_names_every_variable_it_reads() {
    let mut vars = names(&bridge_core::config::VARS);
    vars.extend([
        "AWS_LAMBDA_LOG_LEVEL",
        "AWS_LAMBDA_LOG_FORMAT",
        "RUST_LOG",
        "AWS_REGION",
    ]);
    assert_help("bridge-inbound", &vars);
}

#[test]
fn the_relay_names_every_variable_it_reads_and_its_healthcheck() {
    let mut vars = names(&bridge_core::config::VARS);
    vars.extend(names(&bridge_relay::config::VARS));
    vars.extend(["healthcheck", "AWS_REGION", "RUST_LOG"]);
    assert_help("bridge-relay", &vars);
}

#[test]
fn the_relay_refuses_an_unknown_argument_with_usage() {
    let output = run("bridge-relay", &["--port", "9"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unexpected argument"), "{stderr}");
    assert!(stderr.contains("--help"), "{stderr}");
}

#[test]
fn the_command_line_and_the_tools_explain_themselves() {
    assert_help("bridge", &names(&bridge_core::config::VARS));
    assert_help("connect-sim", &["CONNECT_SIM_PORT", "CONNECT_SIM_QUOTAS"]);
    assert_help("connect-sim-load", &["--sim-bin"]);
    assert_help("relay-load", &["--sessions"]);
    assert_help("inbound-bench", &["BRIDGE_TEST_MOTO_ENDPOINT"]);
    assert_help("hello-lambda", &["AWS_LAMBDA_RUNTIME_API"]);
}
