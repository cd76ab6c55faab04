//! `connect-sim-load`: holds N participant sockets on a connect-sim, heartbeats them, fans out
//! agent messages and reports what the emulator sustained.
//!
//! It starts the real `connect-sim` binary as a child process (`--sim-bin`), so the sim's
//! memory can be read from `/proc/<pid>/status`, or targets a running sim (`--target`, with
//! `--sim-pid` for memory). Phases: set up chats and sockets (subscribe acknowledged), hold them
//! with chatjs-style ping + heartbeat every `--heartbeat-secs`, then post `--messages` agent
//! messages round-robin over the chats and time every delivery on every socket.
//!
//! Example (release build, fd limit raised for 10,000 sockets on each side):
//! `ulimit -n 65536; target/release/connect-sim-load --sim-bin target/release/connect-sim`

mod client;
mod report;
mod sim_process;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::StreamExt as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use client::{Counters, SocketTask};
use sim_process::SimProcess;

/// Load benchmark for connect-sim.
#[derive(Debug, Parser)]
#[command(name = "connect-sim-load", version)]
struct Args {
    /// Start this connect-sim binary on port 0 (memory is then measured).
    #[arg(long, conflicts_with = "target")]
    sim_bin: Option<std::path::PathBuf>,
    /// Use a running sim at this base URL (http://127.0.0.1:PORT).
    #[arg(long)]
    target: Option<String>,
    /// PID of the running sim given by --target, to read its memory.
    #[arg(long, requires = "target")]
    sim_pid: Option<u32>,
    /// Participant sockets to hold.
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Sockets per chat (one customer participant may hold up to 5).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=5))]
    sockets_per_chat: u16,
    /// Agent messages to post during the fan-out phase.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// HTTP requests in flight (setup and fan-out).
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Seconds to hold every socket with heartbeats before the fan-out.
    #[arg(long, default_value_t = 25)]
    hold_secs: u64,
    /// Seconds between ping + heartbeat pairs on each socket (chatjs: 10).
    #[arg(long, default_value_t = 10)]
    heartbeat_secs: u64,
    /// Longest wait for all fan-out deliveries.
    #[arg(long, default_value_t = 120)]
    delivery_timeout_secs: u64,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let needed = u64::try_from(args.sockets).unwrap_or(u64::MAX) + 256;
    let limit = sim_process::open_files_limit().context("reading the open-files limit")?;
    if limit < needed {
        bail!(
            "the open-files limit is {limit}, {needed} are needed for {} sockets: run `ulimit -n 65536` first",
            args.sockets
        );
    }
    let sim = match (&args.sim_bin, &args.target) {
        (Some(bin), _) => SimProcess::start(bin).await?,
        (None, Some(url)) => SimProcess::attach(url.clone(), args.sim_pid),
        (None, None) => bail!("give --sim-bin PATH or --target URL"),
    };
    let outcome = run(&args, &sim).await;
    sim.stop().await;
    let report = outcome?;
    report.print();
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report.to_json()).context("report json")?
        );
    }
    if report.sockets_held < args.sockets {
        bail!(
            "only {} of {} sockets were still open at the end",
            report.sockets_held,
            args.sockets
        );
    }
    Ok(())
}

async fn run(args: &Args, sim: &SimProcess) -> anyhow::Result<report::Report> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .context("http client")?;
    let per_chat = usize::from(args.sockets_per_chat);
    let chats = args.sockets.div_ceil(per_chat);
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    let epoch = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let rss_before = sim.rss_kib();

    // Phase 1: chats and subscribed sockets.
    let setup_started = Instant::now();
    let mut setups = futures_util::stream::iter(0..chats)
        .map(|chat| {
            let remaining = args.sockets - chat * per_chat;
            client::setup_chat(&http, &sim.base_url, chat, per_chat.min(remaining))
        })
        .buffer_unordered(args.concurrency);
    let mut contact_ids = Vec::with_capacity(chats);
    let mut opened = 0usize;
    while let Some(result) = setups.next().await {
        let (contact, sockets) = result?;
        for socket in sockets {
            opened += 1;
            tasks.spawn(
                SocketTask {
                    socket,
                    counters: counters.clone(),
                    stop: stop.clone(),
                    heartbeat: Duration::from_secs(args.heartbeat_secs),
                    epoch,
                }
                .run(),
            );
        }
        contact_ids.push(contact);
        if opened % 2000 < per_chat {
            eprintln!("  {opened} sockets open and subscribed");
        }
    }
    drop(setups);
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let rss_sockets = sim.rss_kib();
    eprintln!(
        "setup: {opened} sockets on {} chats in {setup_secs:.1} s; holding {} s",
        contact_ids.len(),
        args.hold_secs
    );

    // Phase 2: hold with heartbeats (a timed measurement window, not a wait for an event).
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let rss_held = sim.rss_kib();
    let held_stats = sim_stats(&http, &sim.base_url).await?;
    let heartbeats_sent = counters.heartbeats_sent.load(Ordering::Relaxed);
    let heartbeats_answered = counters.heartbeats_answered.load(Ordering::Relaxed);

    // Phase 3: fan-out.
    eprintln!("fan-out: posting {} agent messages", args.messages);
    let expected = u64::try_from(args.messages * per_chat).unwrap_or(u64::MAX);
    let fanout_started = Instant::now();
    let mut posts = futures_util::stream::iter(0..args.messages)
        .map(|i| {
            let contact = &contact_ids[i % contact_ids.len()];
            let http = &http;
            let url = format!("{}/sim/contacts/{contact}/agent/messages", sim.base_url);
            async move {
                let sent_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                let response = http
                    .post(url)
                    .json(
                        &json!({"Content": format!("load:{sent_us}"), "ContentType": "text/plain"}),
                    )
                    .send()
                    .await
                    .context("posting an agent message")?;
                if !response.status().is_success() {
                    bail!("agent message answered {}", response.status());
                }
                Ok(())
            }
        })
        .buffer_unordered(args.concurrency);
    while let Some(result) = posts.next().await {
        result?;
    }
    drop(posts);
    let posting_secs = fanout_started.elapsed().as_secs_f64();
    let all_delivered = tokio::time::timeout(
        Duration::from_secs(args.delivery_timeout_secs),
        counters.wait_for_deliveries(expected),
    )
    .await
    .is_ok();
    let fanout_secs = fanout_started.elapsed().as_secs_f64();
    let rss_after = sim.rss_kib();
    let final_stats = sim_stats(&http, &sim.base_url).await?;

    // Collect per-socket results.
    stop.cancel();
    let mut latencies = Vec::new();
    let mut sockets_held = 0usize;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("socket task panicked")?;
        if outcome.open_at_stop {
            sockets_held += 1;
        }
        latencies.extend(outcome.latencies_us);
    }
    Ok(report::Report {
        sockets_requested: args.sockets,
        sockets_per_chat: per_chat,
        chats: contact_ids.len(),
        sockets_opened: opened,
        sockets_held,
        setup_secs,
        hold_secs: args.hold_secs,
        heartbeats_sent,
        heartbeats_answered,
        sim_sockets_open_after_hold: held_stats["SocketsOpen"].as_u64().unwrap_or(0),
        sim_sockets_subscribed_after_hold: held_stats["SocketsSubscribed"].as_u64().unwrap_or(0),
        slow_consumer_closes: final_stats["SlowConsumerClosesTotal"].as_u64().unwrap_or(0),
        rss_kib_start: rss_before,
        rss_kib_sockets_open: rss_sockets,
        rss_kib_after_hold: rss_held,
        rss_kib_after_fanout: rss_after,
        rss_kib_peak: sim.peak_rss_kib(),
        messages_posted: args.messages,
        deliveries_expected: expected,
        deliveries: counters.deliveries.load(Ordering::Relaxed),
        all_delivered,
        posting_secs,
        fanout_secs,
        latencies_us: latencies,
    })
}

async fn sim_stats(http: &reqwest::Client, base: &str) -> anyhow::Result<serde_json::Value> {
    http.get(format!("{base}/sim/stats"))
        .send()
        .await
        .context("GET /sim/stats")?
        .json()
        .await
        .context("stats json")
}
