//! The real `bridge-inbound` binary under the local Lambda Runtime API
//! ([`bridge_bench::runtime_api`]), against DynamoDB Local, moto (SNS) and an in-process
//! connect-sim: the process starts, reports ready, answers SNS events, fails retriable ones
//! with the right error type, refuses to start without its configuration, and keeps
//! tokens and phone numbers out of its logs. Also `inbound-bench`'s start-up sampler, on
//! `hello-lambda` and `bridge-inbound`.
//!
//! `bridge-inbound` belongs to another package, so `cargo test -p bridge-bench` does not
//! build it: run `cargo build --workspace --bins` first, then
//! `scripts/with-emulators.sh cargo test -p bridge-bench` (moto comes from
//! `BRIDGE_TEST_MOTO_ENDPOINT`, DynamoDB Local from `DYNAMODB_LOCAL_PORT`). Each test uses
//! its own connect-sim, table and phone numbers, so tests sharing the emulators never see
//! each other's data. Set
//! `BENCH_TEST_ECHO_LOGS=1` to see the binary's output as it runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The start-up sampler is a module of the `inbound-bench` binary; it is compiled here too so
// it runs against real Lambda binaries (`CARGO_BIN_EXE_*` exists only for integration tests).
#[path = "../src/bin/inbound-bench/startup.rs"]
mod startup;

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use bridge_aws::ClientSettings;
use bridge_bench::inbound::Services;
use bridge_bench::runtime_api::{Invocation, RuntimeApi};
use bridge_cli::config::Dynamodb;
use bridge_core::PhoneNumber;
use bridge_core::config::{SUPPORT_LINES, TABLE_NAME};
use bridge_core::session::Chat;
use bridge_inbound::envelope::wrap_in_sns_event;
use bridge_testkit::SimFault;
use bridge_testkit::fresh::{self, customer};
use bridge_testkit::sim::Contact;
use chrono::Utc;
use connect_sim::{RunningSim, SimConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::task::JoinHandle;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:inbound-sms";
/// Start-up and invocations of a debug build on a busy two-core machine.
const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------

/// The debug `bridge-inbound` built by `cargo build --workspace --bins`.
fn inbound_binary() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
    let binary = target.join("debug").join("bridge-inbound");
    assert!(
        binary.is_file(),
        "{} does not exist: these tests run the real Lambda binary, which \
         `cargo test -p bridge-bench` does not build. Build it first with \
         `cargo build --workspace --bins`",
        binary.display()
    );
    binary
}

/// DynamoDB Local with a fresh table, moto for SNS, and a fresh connect-sim.
struct Stack {
    /// Kept for its lifetime: the sim runs as long as this.
    _sim: RunningSim,
    bench: bridge_bench::inbound::Stack,
}

impl Stack {
    async fn new() -> Self {
        let sim = connect_sim::spawn(SimConfig::default()).await.unwrap();
        let bench = bridge_bench::inbound::Stack::new(
            &Services::from_env(&Dynamodb::Local),
            &sim.base_url(),
        )
        .await
        .unwrap();
        Self { _sim: sim, bench }
    }

    /// The function's variables; `extra` adds or overrides.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.bench.lambda_env();
        for (name, value) in extra {
            env.retain(|(existing, _)| existing != name);
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        env
    }

    /// An SNS event holding one text from `from` to the support line, inbound id `id`.
    fn event_with_id(&self, id: &str, from: &str, body: &str) -> Value {
        serde_json::to_value(self.bench.event(id, from, body)).unwrap()
    }

    /// An SNS event holding one new text (fresh inbound message id).
    fn event(&self, from: &str, body: &str) -> Value {
        self.event_with_id(&fresh::name("msg"), from, body)
    }

    /// The stored chat of `from`'s session.
    async fn chat(&self, from: &str) -> Chat {
        let session = self.bench.session(from).await.unwrap().expect("a session");
        session.chat.expect("a chat")
    }

    // --- connect-sim control API -------------------------------------------------------

    async fn contacts(&self) -> Vec<Contact> {
        self.bench.sim.contacts().await.unwrap()
    }

    /// The customer's messages in this contact, in order.
    async fn customer_texts(&self, contact_id: &str) -> Vec<String> {
        self.bench.sim.customer_texts(contact_id).await.unwrap()
    }

    /// Makes SendMessage answer 500 on every attempt `bridge-inbound`'s clients make.
    async fn fail_send_message(&self) {
        let attempts = ClientSettings::default().max_attempts;
        self.bench
            .sim
            .add_fault(&SimFault::fail("SendMessage", 500).times(attempts))
            .await
            .unwrap();
    }
}

/// A Lambda SNS event around `payload`, as JSON (what the Runtime API hands over).
fn raw_event(payload: &str) -> Value {
    let event = wrap_in_sns_event(payload, &fresh::name("sns"), TOPIC, Utc::now());
    serde_json::to_value(event).unwrap()
}

/// The only record of an invocation's summary.
fn only_record(invocation: Invocation) -> Value {
    let summary = invocation.into_response().unwrap();
    let records = summary["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{summary}");
    records[0].clone()
}

/// `(contact_id, started)` of a delivered record.
fn delivered(record: &Value) -> (String, bool) {
    assert_eq!(record["outcome"], "delivered", "{record}");
    (
        record["contact_id"].as_str().unwrap().to_owned(),
        record["started"].as_bool().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------
// The process
// ---------------------------------------------------------------------------------------

/// What the process left behind.
struct Output {
    status: ExitStatus,
    polled: Option<Instant>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Output {
    fn lines(&self) -> impl Iterator<Item = &String> {
        self.stdout.iter().chain(&self.stderr)
    }
}

/// The real `bridge-inbound` under its own Runtime API.
struct Lambda {
    api: RuntimeApi,
    child: Child,
    stdout: JoinHandle<Vec<String>>,
    stderr: JoinHandle<Vec<String>>,
}

impl Lambda {
    /// Spawns the binary with only Lambda's variables and `env`, as Lambda would.
    async fn spawn(env: &[(String, String)]) -> Self {
        let api = RuntimeApi::start().await.unwrap();
        let mut child = api.command(&inbound_binary(), env).spawn().unwrap();
        let pid = child.id().unwrap_or_default();
        let stdout = read_lines(child.stdout.take().unwrap(), pid);
        let stderr = read_lines(child.stderr.take().unwrap(), pid);
        Self {
            api,
            child,
            stdout,
            stderr,
        }
    }

    /// Spawns the binary and waits until it polls for its first event.
    async fn start(env: &[(String, String)]) -> Self {
        let mut lambda = Self::spawn(env).await;
        tokio::select! {
            ready = lambda.api.ready(WAIT) => { ready.unwrap(); }
            status = lambda.child.wait() => {
                let status = status.unwrap();
                let output = lambda.finish().await;
                panic!("bridge-inbound exited ({status}) before polling:\n{}", output.stderr.join("\n"));
            }
        }
        lambda
    }

    async fn invoke(&mut self, event: Value) -> Invocation {
        tokio::select! {
            invocation = self.api.invoke(event, WAIT) => invocation.unwrap(),
            status = self.child.wait() => panic!("bridge-inbound exited ({}) during an invocation", status.unwrap()),
        }
    }

    /// Waits for the process to exit on its own.
    async fn exit(mut self) -> Output {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("bridge-inbound did not exit")
            .unwrap();
        self.finish().await
    }

    /// Kills the process (if it still runs) and collects its output.
    async fn finish(mut self) -> Output {
        let _ = self.child.start_kill();
        let status = self.child.wait().await.unwrap();
        Output {
            status,
            polled: self.api.first_poll(),
            stdout: self.stdout.await.unwrap(),
            stderr: self.stderr.await.unwrap(),
        }
    }
}

fn read_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    pid: u32,
) -> JoinHandle<Vec<String>> {
    let echo = std::env::var_os("BENCH_TEST_ECHO_LOGS").is_some();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        let mut kept = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                eprintln!("bridge-inbound {pid}: {line}");
            }
            kept.push(line);
        }
        kept
    })
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_binary_starts_a_chat_for_a_first_text_and_resumes_it_for_the_second() {
    // GIVEN bridge-inbound started under the Runtime API, against the emulators and connect-sim
    let stack = Stack::new().await;
    let mut lambda = Lambda::start(&stack.env(&[])).await;
    assert!(lambda.api.first_poll().is_some(), "it reported ready");
    let from = customer();

    // WHEN a first text arrives
    let first = only_record(
        lambda
            .invoke(stack.event(&from, "Where is my parcel?"))
            .await,
    );

    // THEN it is acknowledged as delivered in a chat it started, which shows the text
    let (contact_id, started) = delivered(&first);
    assert!(started, "{first}");
    let contacts = stack.contacts().await;
    assert_eq!(contacts.len(), 1, "{contacts:#?}");
    assert_eq!(contacts[0].contact_id, contact_id);
    assert_eq!(
        stack.customer_texts(&contact_id).await,
        ["Where is my parcel?"]
    );

    // WHEN a second text arrives, on the warm process
    let second = only_record(lambda.invoke(stack.event(&from, "It was due Monday")).await);

    // THEN it lands in the same chat
    assert_eq!(delivered(&second), (contact_id.clone(), false));
    assert_eq!(stack.contacts().await.len(), 1);
    assert_eq!(
        stack.customer_texts(&contact_id).await,
        ["Where is my parcel?", "It was due Monday"]
    );
    lambda.finish().await;
}

#[tokio::test]
async fn a_missing_variable_stops_the_process_before_it_polls_and_is_named() {
    // GIVEN every variable but the table name
    let stack = Stack::new().await;
    let mut env = stack.env(&[]);
    env.retain(|(name, _)| name != TABLE_NAME);

    // WHEN the binary starts
    let output = Lambda::spawn(&env).await.exit().await;

    // THEN it exits non-zero without ever polling, and its stderr names the variable
    assert!(!output.status.success(), "{:?}", output.status);
    assert!(output.polled.is_none(), "it polled /next");
    let stderr = output.stderr.join("\n");
    assert!(stderr.contains(TABLE_NAME), "stderr: {stderr}");
    assert!(
        !stderr.contains(SUPPORT_LINES),
        "only the missing one: {stderr}"
    );
}

#[tokio::test]
async fn malformed_record_is_acknowledged_and_a_send_message_outage_fails_as_retriable() {
    // GIVEN bridge-inbound with a chat started for a customer
    let stack = Stack::new().await;
    let mut lambda = Lambda::start(&stack.env(&[])).await;
    let from = customer();
    let first = only_record(lambda.invoke(stack.event(&from, "first")).await);
    let (contact_id, _) = delivered(&first);

    // WHEN a record that is not a two-way SMS payload arrives
    let malformed = only_record(lambda.invoke(raw_event("{\"originationNumber\": ")).await);

    // THEN it is acknowledged (a response, not an error) as rejected
    assert_eq!(malformed["outcome"], "rejected", "{malformed}");
    assert_eq!(malformed["reason"], "malformed", "{malformed}");
    assert_eq!(malformed["kind"], "invalid_json", "{malformed}");

    // WHEN SendMessage answers 500 to every attempt of the next text
    stack.fail_send_message().await;
    let event = stack.event_with_id(&fresh::name("msg"), &from, "second");
    let failed = lambda.invoke(event.clone()).await;

    // THEN the invocation fails with a retriable error type, and nothing reached the chat
    let Invocation::Error { error_type, body } = failed else {
        panic!("expected an invocation error, got {failed:?}");
    };
    assert!(error_type.starts_with("Retriable."), "{error_type}: {body}");
    assert_eq!(error_type, "Retriable.ChatUnavailable", "{body}");
    assert!(body["errorMessage"].as_str().is_some(), "{body}");
    assert_eq!(stack.customer_texts(&contact_id).await, ["first"]);

    // WHEN Lambda retries the same event
    let retried = only_record(lambda.invoke(event).await);

    // THEN it is delivered, once
    assert_eq!(delivered(&retried), (contact_id.clone(), false));
    assert_eq!(stack.customer_texts(&contact_id).await, ["first", "second"]);
    lambda.finish().await;
}

#[tokio::test]
async fn log_lines_carry_no_token_and_no_full_phone_number() {
    // GIVEN bridge-inbound logging at DEBUG, its most talkative level
    let stack = Stack::new().await;
    let mut lambda = Lambda::start(&stack.env(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")])).await;
    let from = customer();

    // WHEN it starts a chat, sends into it, rejects a payload quoting the number, fails on
    // a SendMessage outage (the error path logs whole cause chains) and delivers the retry
    let (contact_id, _) = delivered(&only_record(
        lambda.invoke(stack.event(&from, "hello")).await,
    ));
    delivered(&only_record(
        lambda.invoke(stack.event(&from, "again")).await,
    ));
    let truncated = format!("{{\"originationNumber\": \"{from}\", \"messageBody\": ");
    only_record(lambda.invoke(raw_event(&truncated)).await);
    stack.fail_send_message().await;
    let event = stack.event(&from, "after the outage");
    assert!(matches!(
        lambda.invoke(event.clone()).await,
        Invocation::Error { .. }
    ));
    delivered(&only_record(lambda.invoke(event).await));
    let chat = stack.chat(&from).await;
    assert_eq!(chat.contact_id.to_string(), contact_id);
    let output = lambda.finish().await;

    // THEN no line holds a token or the full number (with or without its +), the masked
    // number does appear, and stdout is JSON lines
    let secrets = [
        (
            "participant token",
            chat.participant_token.expose().to_owned(),
        ),
        (
            "connection token",
            chat.connection.token.expose().to_owned(),
        ),
        ("phone number", from.clone()),
        (
            "phone number digits",
            from.trim_start_matches('+').to_owned(),
        ),
    ];
    for line in output.lines() {
        for (what, secret) in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a log line holds the {what}"
            );
        }
    }
    let masked = PhoneNumber::parse(&from).unwrap().to_string();
    assert!(
        output.lines().any(|line| line.contains(&masked)),
        "the masked number {masked} is logged"
    );
    for line in &output.stdout {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
}

#[tokio::test]
async fn startup_sample_of_hello_lambda_is_a_fresh_process_answering_twice() {
    // GIVEN the hello-world Lambda and an SNS event
    let binary = Path::new(env!("CARGO_BIN_EXE_hello-lambda"));
    let event = raw_event("{}");

    // WHEN it is sampled
    let sample = startup::sample(binary, &[], &event, &event).await.unwrap();

    // THEN every phase took some time and it used some memory
    assert!(sample.ready > Duration::ZERO);
    assert!(sample.first > Duration::ZERO && sample.warm > Duration::ZERO);
    assert!(sample.peak_rss_kib > 0, "{sample:?}");
}

#[tokio::test]
async fn startup_sample_of_bridge_inbound_delivers_and_reports_failures_with_output() {
    // GIVEN bridge-inbound's configuration, a first text and its follow-up
    let stack = Stack::new().await;
    let from = customer();
    let first = stack.event(&from, "sampled");
    let warm = stack.event(&from, "sampled again");

    // WHEN it is sampled
    let sample = startup::sample(&inbound_binary(), &stack.env(&[]), &first, &warm)
        .await
        .unwrap();

    // THEN it reported its phases and memory, and both texts reached one chat
    assert!(
        sample.ready > Duration::ZERO && sample.peak_rss_kib > 0,
        "{sample:?}"
    );
    let contacts = stack.contacts().await;
    assert_eq!(contacts.len(), 1, "{contacts:#?}");
    let contact_id = &contacts[0].contact_id;
    assert_eq!(
        stack.customer_texts(contact_id).await,
        ["sampled", "sampled again"]
    );

    // WHEN it is sampled without its table name
    let mut env = stack.env(&[]);
    env.retain(|(name, _)| name != TABLE_NAME);
    let error = startup::sample(&inbound_binary(), &env, &first, &warm)
        .await
        .unwrap_err();

    // THEN the error says it exited before polling and shows its stderr
    let error = format!("{error:#}");
    assert!(error.contains("before polling"), "{error}");
    assert!(error.contains(TABLE_NAME), "{error}");
}
