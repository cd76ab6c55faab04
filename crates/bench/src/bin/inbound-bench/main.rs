//! `inbound-bench`: what one inbound SMS costs the bridge.
//!
//! Three measurements, each its own subcommand (no subcommand runs all three):
//! - `calls`: the AWS calls of each path through the handler (first text, resume,
//!   redelivery, keywords, an ended chat, an expired token, a race of 20, bad input),
//!   counted by an interceptor on the real SDK clients against the emulators and
//!   connect-sim;
//! - `cpu`: this process's CPU per event on the first-text and resume paths, with the real
//!   adapters and JSON logging, the emulators in their own processes;
//! - `startup`: the `bridge-inbound` binary's start-up under a local Lambda Runtime API,
//!   from spawn to its first poll for an event, beside `hello-lambda` (the smallest Rust
//!   Lambda), interleaved run by run so the machine's noise falls on both alike.
//!
//! DynamoDB is DynamoDB Local unless `--dynamodb moto` (or a URL) says otherwise; moto
//! (SNS) comes from `--moto` (default: `BRIDGE_TEST_MOTO_ENDPOINT`, as
//! `scripts/with-emulators.sh` sets it, with `DYNAMODB_LOCAL_PORT`); connect-sim,
//! `bridge-inbound` and `hello-lambda` are taken from this binary's directory
//! (`make bench-inbound` builds them in release).

mod cpu;
mod startup;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use bridge_bench::inbound::{Services, Stack, paths};
use bridge_bench::probe::percentile;
use bridge_bench::sim::spawn as spawn_sim;
use bridge_cli::config::Dynamodb;
use bridge_inbound::config::{LogConfig, LogFormat};
use bridge_testkit::fresh;
use clap::{Parser, Subcommand};
use serde_json::Value;

/// What one inbound SMS costs: AWS calls per path, CPU per event, Lambda start-up.
#[derive(Debug, Parser)]
#[command(name = "inbound-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// moto's endpoint (SNS; DynamoDB too with `--dynamodb moto`).
    #[arg(long, env = "BRIDGE_TEST_MOTO_ENDPOINT", global = true)]
    moto: Option<String>,
    /// The DynamoDB to measure against: `local` (DynamoDB Local), `moto` or a URL.
    #[arg(
        long,
        env = "BRIDGE_DYNAMODB",
        default_value = "local",
        global = true,
        value_name = "local|moto|URL"
    )]
    dynamodb: Dynamodb,
    /// Directory of connect-sim, bridge-inbound and hello-lambda (default: this binary's).
    #[arg(long, global = true)]
    bin_dir: Option<PathBuf>,
    /// Also write the report (markdown) to this file.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// First texts measured by `cpu` (each a new customer and chat).
    #[arg(long, default_value_t = 200, global = true)]
    starts: usize,
    /// Resume texts measured by `cpu`.
    #[arg(long, default_value_t = 2000, global = true)]
    events: usize,
    /// Cold starts of each binary measured by `startup`.
    #[arg(long, default_value_t = 30, global = true)]
    runs: usize,
    /// An extra variable for bridge-inbound in `startup` (`NAME=VALUE`, repeatable), to see
    /// what a setting costs or saves at start-up.
    #[arg(long = "lambda-env", value_name = "NAME=VALUE", value_parser = name_value, global = true)]
    lambda_env: Vec<(String, String)>,
    /// Level of the handler's JSON log in `cpu` (written to a sink): `info` as in Lambda,
    /// `off` to see what logging costs.
    #[arg(long, default_value = "info", global = true)]
    log_level: String,
    /// Run the handler on a multi-thread tokio runtime instead of the current-thread one
    /// `bridge-inbound` uses, to see what worker threads cost per event.
    #[arg(long, global = true)]
    multi_thread: bool,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))
}

#[derive(Clone, Copy, Debug, Subcommand)]
enum Command {
    /// AWS calls per inbound path.
    Calls,
    /// CPU per event (first text, resume).
    Cpu,
    /// The Lambda binary's start-up, beside hello-lambda.
    Startup,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The runtime bridge-inbound runs on, unless asked otherwise.
    let mut runtime = if cli.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    runtime.enable_all().build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The handler logs as in Lambda (JSON, INFO), to a sink: its cost is part of an event's.
    let logs = LogConfig {
        filter: cli.log_level.clone(),
        format: LogFormat::Json,
    };
    tracing::subscriber::set_global_default(bridge_inbound::logging::subscriber(
        &logs,
        std::io::sink,
    ))
    .context("installing the log subscriber")?;

    let bin_dir = match &cli.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .context("locating this binary")?
            .parent()
            .context("this binary's directory")?
            .to_owned(),
    };
    let moto = cli
        .moto
        .clone()
        .context("no moto endpoint: pass --moto or run under scripts/with-emulators.sh")?;
    let services = Services::new(&cli.dynamodb, &moto);
    let sim = spawn_sim(&binary(&bin_dir, "connect-sim")?).await?;

    let mut report = format!(
        "# inbound-bench\n\nDynamoDB: {} at {}; SNS: moto at {}.\n\n",
        engine_name(&cli.dynamodb),
        services.dynamodb,
        services.moto
    );
    let all = cli.command.is_none();
    if all || matches!(cli.command, Some(Command::Calls)) {
        let stack = Stack::new(&services, &sim.url).await?;
        let rows = paths::run_all(&stack).await?;
        section(&mut report, "AWS calls per path", &paths::markdown(&rows));
    }
    // The calls run moved the sim's clock a day ahead: the rest gets a fresh sim.
    let sim = if all {
        sim.stop().await?;
        spawn_sim(&binary(&bin_dir, "connect-sim")?).await?
    } else {
        sim
    };
    if all || matches!(cli.command, Some(Command::Cpu)) {
        let stack = Stack::new(&services, &sim.url).await?;
        let rows = cpu::measure(&stack, cli.starts, cli.events).await?;
        section(&mut report, "CPU per event", &cpu_table(&rows));
    }
    if all || matches!(cli.command, Some(Command::Startup)) {
        let stack = Stack::new(&services, &sim.url).await?;
        let table = startup_table(&bin_dir, &stack, cli.runs, &cli.lambda_env).await?;
        section(&mut report, "Lambda start-up", &table);
    }
    sim.stop().await?;

    println!("{report}");
    if let Some(out) = &cli.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("inbound-bench: report written to {}", out.display());
    }
    Ok(())
}

/// What the report calls the DynamoDB engine.
fn engine_name(dynamodb: &Dynamodb) -> &'static str {
    match dynamodb {
        Dynamodb::Local => "DynamoDB Local",
        Dynamodb::Moto => "moto",
        Dynamodb::Url(_) => "the DynamoDB given",
    }
}

fn binary(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} not found: build it first (`cargo build --release -p connect-sim -p bridge-inbound \
         -p bridge-bench`, as `make bench-inbound` does)",
        path.display()
    );
    Ok(path)
}

fn section(report: &mut String, title: &str, body: &str) {
    let _ = write!(report, "## {title}\n\n{body}\n");
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn cpu_table(rows: &[cpu::PathCpu]) -> String {
    let mut text = String::from(
        "| path | events | CPU per event | wall p50 (mostly emulators) | AWS calls per event |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {:.1} |",
            row.path,
            row.events,
            ms(row.cpu_per_event),
            ms(row.wall_p50),
            row.calls_per_event
        );
    }
    text
}

/// Cold starts of `bridge-inbound` and `hello-lambda`, alternating, `runs` each.
async fn startup_table(
    bin_dir: &Path,
    stack: &Stack,
    runs: usize,
    extra: &[(String, String)],
) -> anyhow::Result<String> {
    let bridge = binary(bin_dir, "bridge-inbound")?;
    let hello = binary(bin_dir, "hello-lambda")?;
    let mut bridge_env = stack.lambda_env();
    bridge_env.extend(extra.iter().cloned());
    let mut bridge_samples = Vec::new();
    let mut hello_samples = Vec::new();
    for _ in 0..runs.max(1) {
        // A new customer per run: the first event starts a chat, the second resumes it.
        let from = fresh::customer();
        let first = sns_event(stack, &from, "Hi, where is my order?")?;
        let warm = sns_event(stack, &from, "It was due Monday.")?;
        bridge_samples.push(startup::sample(&bridge, &bridge_env, &first, &warm).await?);
        hello_samples.push(startup::sample(&hello, &[], &first, &warm).await?);
    }
    let mut text = String::from(
        "| binary | size | init (spawn → first poll) p50 / p90 | first event p50 | init + first event p50 | second event p50 | peak RSS p50 |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let bridge_row = Summary::of(&bridge_samples);
    let hello_row = Summary::of(&hello_samples);
    for (name, path, row) in [
        ("bridge-inbound", &bridge, &bridge_row),
        ("hello-lambda", &hello, &hello_row),
    ] {
        let size = std::fs::metadata(path)
            .map(|meta| meta.len())
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "| {name} | {:.1} MiB | {} / {} | {} | {} | {} | {:.1} MiB |",
            size as f64 / (1024.0 * 1024.0),
            ms(row.ready_p50),
            ms(row.ready_p90),
            ms(row.first_p50),
            ms(row.cold_p50),
            ms(row.warm_p50),
            row.rss_p50_kib as f64 / 1024.0
        );
    }
    let _ = writeln!(
        text,
        "\n{} cold starts each, alternating. Init ratio bridge-inbound / hello-lambda (p50): {:.2}. \
         The first event starts a chat (4 AWS calls on new connections, TLS set up on the \
         first), the second resumes it (3 calls); hello-lambda answers both without I/O.",
        runs.max(1),
        bridge_row.ready_p50.as_secs_f64() / hello_row.ready_p50.as_secs_f64().max(f64::EPSILON)
    );
    Ok(text)
}

fn sns_event(stack: &Stack, from: &str, body: &str) -> anyhow::Result<Value> {
    serde_json::to_value(stack.event(&fresh::name("sms"), from, body))
        .context("encoding an SNS event")
}

struct Summary {
    ready_p50: Duration,
    ready_p90: Duration,
    first_p50: Duration,
    /// Init plus the first event, per sample: what a first customer waits for.
    cold_p50: Duration,
    warm_p50: Duration,
    rss_p50_kib: u64,
}

impl Summary {
    fn of(samples: &[startup::Sample]) -> Self {
        let mut ready: Vec<Duration> = samples.iter().map(|sample| sample.ready).collect();
        let mut first: Vec<Duration> = samples.iter().map(|sample| sample.first).collect();
        let mut warm: Vec<Duration> = samples.iter().map(|sample| sample.warm).collect();
        let mut cold: Vec<Duration> = samples
            .iter()
            .map(|sample| sample.ready + sample.first)
            .collect();
        let mut rss: Vec<u64> = samples.iter().map(|sample| sample.peak_rss_kib).collect();
        rss.sort_unstable();
        Self {
            ready_p50: percentile(&mut ready, 50.0).unwrap_or_default(),
            ready_p90: percentile(&mut ready, 90.0).unwrap_or_default(),
            first_p50: percentile(&mut first, 50.0).unwrap_or_default(),
            cold_p50: percentile(&mut cold, 50.0).unwrap_or_default(),
            warm_p50: percentile(&mut warm, 50.0).unwrap_or_default(),
            rss_p50_kib: rss.get(rss.len() / 2).copied().unwrap_or_default(),
        }
    }
}
