//! Shared by the whole-stack tests (`mod harness;` in each): the real binaries as
//! subprocesses, moto's outbox, connect-sim's control API, headless Chromium.
//!
//! The binaries are found in the cargo target dir (`CARGO_TARGET_DIR`, else
//! `<workspace>/target`), `debug` profile: build them first with
//! `cargo build --workspace --bins` (the Makefile's test target does). moto and DynamoDB
//! Local come from `scripts/with-emulators.sh` (`bridge_testkit::emulators`); every test
//! uses its own table, phone numbers and connect-sim, so tests can share one moto.
//!
//! These tests are synchronous; moto's outbox and connect-sim's control API are read with
//! `bridge_testkit`'s async clients through [`block_on`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bridge_testkit::emulators::{Endpoints, dynamodb_local, moto};
use bridge_testkit::sim::Contact;
use bridge_testkit::{Moto, SimControl, fresh};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

/// How long a subprocess may take to say it is ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(100);

/// The cargo target dir's debug profile.
pub fn bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

/// A binary of the workspace; fails with how to build it when missing.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} not found: build the binaries first (`cargo build --workspace --bins`, as \
         `make test` does)",
        path.display()
    );
    path
}

/// A child process stopped with SIGTERM (then SIGKILL after 10 s) when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        if let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Whether a process with this PID exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Starts `command` with stdout piped; reads its stdout lines until `found` gives a value
/// (the rest is drained in a thread, so the child never blocks on a full pipe).
pub fn spawn_until<T: Send + 'static>(
    name: &str,
    mut command: Command,
    mut found: impl FnMut(&str) -> Option<T> + Send + 'static,
) -> (Proc, T) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let mut proc = Proc {
        name: name.to_owned(),
        child,
    };
    let stdout = proc.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let echo = name.to_owned();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("[{echo}] {line}");
            if !sent && let Some(value) = found(&line) {
                let _ = tx.send(value);
                sent = true;
            }
        }
    });
    let value = rx
        .recv_timeout(START_TIMEOUT)
        .unwrap_or_else(|_| panic!("{name} did not get ready within {START_TIMEOUT:?}"));
    (proc, value)
}

/// A connect-sim on a free port, with `extra` flags.
pub fn connect_sim(extra: &[&str]) -> (Proc, String) {
    let mut command = Command::new(bin("connect-sim"));
    command.args(["--port", "0"]).args(extra);
    command.env("RUST_LOG", "warn");
    spawn_until("connect-sim", command, |line| {
        connect_sim::listening_url(line).map(str::to_owned)
    })
}

/// Which DynamoDB engine a stack's sessions live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// DynamoDB Local (AWS's own engine): what `bridge` and the demo use by default.
    DynamodbLocal,
    /// moto's DynamoDB (`--dynamodb moto`).
    Moto,
}

impl Engine {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DynamodbLocal => "DynamoDB Local",
            Self::Moto => "moto",
        }
    }
}

/// The environment `bridge` and `bridge-relay` need for this stack.
pub struct Stack {
    pub moto: String,
    pub dynamodb: String,
    pub sim: String,
    pub table: String,
}

impl Stack {
    /// A stack on DynamoDB Local (the local default), moto for SNS, and `sim`.
    pub fn new(sim: &str) -> Self {
        Self::on(Engine::DynamodbLocal, sim)
    }

    /// A stack with its sessions in `engine`.
    pub fn on(engine: Engine, sim: &str) -> Self {
        let moto = moto();
        let dynamodb = match engine {
            Engine::DynamodbLocal => dynamodb_local(),
            Engine::Moto => moto.clone(),
        };
        Self {
            moto,
            dynamodb,
            sim: sim.to_owned(),
            table: fresh::name("e2e"),
        }
    }

    /// A `bridge` command for this stack (local mode, explicit endpoints and table).
    pub fn bridge(&self) -> Command {
        let mut command = Command::new(bin("bridge"));
        command
            .env("BRIDGE_MOTO_ENDPOINT", &self.moto)
            .env("BRIDGE_DYNAMODB", &self.dynamodb)
            .env("BRIDGE_CONNECT_ENDPOINT", &self.sim)
            .env("BRIDGE_TABLE_NAME", &self.table)
            .env_remove("BRIDGE_AWS")
            .env_remove("BRIDGE_SHARD_COUNT")
            .env_remove("BRIDGE_SUPPORT_LINES")
            .env_remove("BRIDGE_CONNECT_INSTANCE_ID");
        command
    }

    /// Runs `bridge ARGS` to completion; returns (success, stdout, stderr).
    pub fn run_bridge(&self, args: &[&str]) -> (bool, String, String) {
        let output = self.bridge().args(args).output().expect("running bridge");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        println!("$ bridge {}\n{stdout}{stderr}", args.join(" "));
        (output.status.success(), stdout, stderr)
    }

    /// Creates the table.
    pub fn init_table(&self) {
        let (ok, _, stderr) = self.run_bridge(&["init-table"]);
        assert!(ok, "bridge init-table failed: {stderr}");
    }

    /// A relay for this stack, ready (its /readyz answered 200); returns its admin URL.
    pub fn relay(&self) -> (Proc, String) {
        self.relay_with(&[])
    }

    /// [`Self::relay`] with these variables set as well.
    pub fn relay_with(&self, env: &[(&str, &str)]) -> (Proc, String) {
        let mut command = Command::new(bin("bridge-relay"));
        command
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .envs(Endpoints::local(&self.moto, &self.dynamodb, &self.sim).env())
            .env("BRIDGE_TABLE_NAME", &self.table)
            .env("BRIDGE_CONNECT_INSTANCE_ID", "local-instance")
            .env(
                "BRIDGE_SUPPORT_LINES",
                "+18005550100=local-flow-support,+18005550199=local-flow-billing",
            )
            // As `bridge` in local mode: 4 shards, so the relay does not flood moto.
            .env("BRIDGE_SHARD_COUNT", "4")
            .env("BRIDGE_RELAY_ADMIN_ADDR", "127.0.0.1:0")
            .env("BRIDGE_RELAY_LOG_FORMAT", "json")
            .env("BRIDGE_RELAY_DISCOVERY_MS", "250")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let (proc, admin) = spawn_until("bridge-relay", command, |line| {
            let value: Value = serde_json::from_str(line).ok()?;
            let addr = value.get("fields")?.get("admin_addr")?.as_str()?;
            Some(format!("http://{addr}"))
        });
        let http = http();
        let ready = format!("{admin}/readyz");
        wait_until("the relay to be ready", Duration::from_secs(60), || {
            http.get(&ready)
                .send()
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        });
        (proc, admin)
    }
}

/// A blocking HTTP client with a timeout.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Polls `probe` until it gives a value; panics after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Runs `future` to completion on a current-thread runtime of its own. Each call gets a new
/// runtime, so the clients a future uses must be made for it (as [`control`] and [`outbox`]
/// do): a client's pooled connections belong to the runtime that opened them.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
        .block_on(future)
}

/// A client of the control API of the connect-sim at `sim`, for one [`block_on`].
pub fn control(sim: &str) -> SimControl {
    SimControl::new(sim).expect("a connect-sim control client")
}

/// Every SMS moto sent, as `(phone_number, message)`.
pub fn outbox(moto: &str) -> Vec<(String, String)> {
    let moto = Moto::new(moto).expect("a moto client");
    block_on(moto.sms())
        .unwrap_or_else(|error| panic!("{error:#}"))
        .into_iter()
        .map(|sms| (sms.phone_number, sms.message))
        .collect()
}

/// The customer texts `text` (`bridge sms --json`); returns the handler's record summary.
pub fn texts(stack: &Stack, customer: &str, text: &str) -> Value {
    let (ok, stdout, stderr) = stack.run_bridge(&["sms", "--json", "--from", customer, text]);
    assert!(ok, "bridge sms failed: {stderr}");
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    summary["records"][0].clone()
}

/// The first SMS to `customer` that `wanted` accepts, waiting up to 30 s for it.
pub fn sms_to(moto: &str, customer: &str, wanted: impl Fn(&str) -> bool) -> String {
    wait_until("an SMS to the customer", Duration::from_secs(30), || {
        outbox(moto)
            .into_iter()
            .find(|(to, body)| to == customer && wanted(body))
            .map(|(_, body)| body)
    })
}

/// Waits up to 30 s for the customer's `text` in the chat.
pub fn customer_said(sim: &str, contact_id: &str, text: &str) {
    wait_until(
        "the customer's message in the chat",
        Duration::from_secs(30),
        || {
            customer_messages(sim, contact_id)
                .iter()
                .any(|message| message == text)
                .then_some(())
        },
    );
}

/// connect-sim's chats.
pub fn contacts(sim: &str) -> Vec<Contact> {
    block_on(control(sim).contacts()).unwrap_or_else(|error| panic!("{error:#}"))
}

/// The customer's messages in a chat, in order: this contact's only (no test here runs a
/// persistent chat, whose earlier contacts' items the transcript would also hold).
pub fn customer_messages(sim: &str, contact_id: &str) -> Vec<String> {
    block_on(control(sim).customer_texts(contact_id)).unwrap_or_else(|error| panic!("{error:#}"))
}

/// The agent writes `text` in a chat (joining first when needed).
pub fn agent_says(sim: &str, contact_id: &str, text: &str) {
    block_on(control(sim).say(contact_id, text))
        .unwrap_or_else(|error| panic!("agent message: {error:#}"));
}

/// Browser names tried on `PATH`, in `scripts/prereqs.sh`'s order.
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// Headless Chromium: `$CHROMIUM`, else `$CHROME` (a path or a command), else the first of
/// [`BROWSERS`] on `PATH` (`make test` sets `$CHROMIUM` to the one `scripts/prereqs.sh`
/// finds); fails pointing at that script, which says how to install one.
pub fn chromium() -> PathBuf {
    for var in ["CHROMIUM", "CHROME"] {
        if let Some(value) = std::env::var_os(var).filter(|value| !value.is_empty()) {
            let command = PathBuf::from(value);
            return executable(&command).unwrap_or_else(|| {
                panic!(
                    "${var} is {}, which is not an executable: point it at a Chromium or \
                     Chrome binary, or run `scripts/prereqs.sh test`",
                    command.display()
                )
            });
        }
    }
    BROWSERS
        .iter()
        .find_map(|name| executable(Path::new(name)))
        .unwrap_or_else(|| {
            panic!(
                "the web page tests need headless Chromium or Chrome ($CHROMIUM and $CHROME \
                 unset, none of {} on PATH): run `scripts/prereqs.sh test`, which says how to \
                 install it",
                BROWSERS.join(", ")
            )
        })
}

/// `command` itself when it is a path (has a `/`), else its first match on `PATH`.
fn executable(command: &Path) -> Option<PathBuf> {
    if command.components().count() > 1 {
        return command.is_file().then(|| command.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

/// How long one headless Chromium run may take before it is killed (a page load takes
/// a few seconds; a Chromium that hangs must fail the test, not stall the suite).
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(45);

/// Runs `command` (Chromium) to completion, killing it after [`CHROMIUM_TIMEOUT`];
/// `None` when it had to be killed.
fn run_bounded(command: &mut Command) -> Option<std::process::Output> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running chromium");
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    while child.try_wait().expect("polling chromium").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(POLL);
    }
    Some(child.wait_with_output().expect("reading chromium's output"))
}

/// Loads `url` in headless Chromium for 5 s of virtual time and returns the DOM; also
/// saves a screenshot as `target/<name>.png` for people (best effort: a screenshot that
/// does not come is reported, not failed).
///
/// Each run gets a fresh profile and a deadline, and a run that hangs is tried once more:
/// under a loaded machine Chromium's headless mode was seen to stall past its virtual
/// time budget.
pub fn browse(url: &str, name: &str) -> String {
    let chromium = chromium();
    let common = |command: &mut Command, profile: &Path| {
        command.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--window-size=1200,900",
        ]);
        command.arg(format!("--user-data-dir={}", profile.display()));
    };
    let dom = (0..2)
        .find_map(|_| {
            let profile = tempfile::tempdir().unwrap();
            let mut dump = Command::new(&chromium);
            common(&mut dump, profile.path());
            dump.arg("--dump-dom").arg(url);
            let output = run_bounded(&mut dump)?;
            assert!(
                output.status.success(),
                "chromium --dump-dom failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Some(output.stdout)
        })
        .unwrap_or_else(|| panic!("chromium --dump-dom of {url} hung twice"));
    let screenshot = bin_dir().join("..").join(format!("{name}.png"));
    let profile = tempfile::tempdir().unwrap();
    let mut shot = Command::new(&chromium);
    common(&mut shot, profile.path());
    shot.arg(format!("--screenshot={}", screenshot.display()))
        .arg(url);
    match run_bounded(&mut shot) {
        Some(output) if output.status.success() && screenshot.is_file() => {
            println!("screenshot: {}", screenshot.display());
        }
        Some(output) => println!(
            "no screenshot of {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        None => println!("no screenshot of {url}: chromium hung"),
    }
    String::from_utf8_lossy(&dom).into_owned()
}
