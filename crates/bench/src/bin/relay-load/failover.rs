//! `relay-load failover`: what customers feel when a relay task dies holding N sessions.
//!
//! 1. Seed N active chats (as the load benchmark does), each last active at a different
//!    time: session `n` has recency rank `n × 7919 mod N` (a shuffle), and was active
//!    `rank` seconds ago.
//! 2. Relay A holds them all (no connect limit), then is killed with SIGKILL: a crashed
//!    task, no drain, every socket gone at once.
//! 3. Relay B starts over the same rows with the configured connect rate and burst, and
//!    takes every shard at once (the rows are in its in-memory store, as in the load
//!    benchmark: the lease expiry a real take-over first waits for is not measured). Its
//!    start (the moment it reports its admin address) is time zero.
//! 4. At time zero an agent writes one reply to each of the 20 most recently active chats;
//!    while sockets come back, agents write replies to chats picked at random, at
//!    `--reply-rate`.
//! 5. Reported: when the 20 most recent replies reached the SMS sender, and whether in
//!    order of recency; when 20, 100, 1,000 and all sockets were open again; B's RSS at
//!    its peak and at the end; and, when every socket came back within `--watch-secs`,
//!    how many of the replies written meanwhile reached the phone, lost, and repeated.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bridge_bench::probe::{self, metric};
use chrono::{TimeDelta, Utc};
use tracing_subscriber::filter::LevelFilter;

use crate::{RelayChild, SimRun, Spec, Transport, mib, scrape, seed};

/// The fail-over benchmark's options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sessions relay A holds when it dies.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Relay B's connection set-ups a second (`BRIDGE_RELAY_CONNECT_RATE`).
    #[arg(long, default_value_t = 2)]
    connect_rate: u32,
    /// Their burst (`BRIDGE_RELAY_CONNECT_BURST`).
    #[arg(long, default_value_t = 4)]
    connect_burst: u32,
    /// Stop watching this long after B starts, whether or not every socket is back (at
    /// 2/s, 10,000 sessions take 83 minutes).
    #[arg(long, default_value_t = 120)]
    watch_secs: u64,
    /// Replies a second written to random chats while sockets come back.
    #[arg(long, default_value_t = 10)]
    reply_rate: u32,
    /// Transport of the sockets and API calls.
    #[arg(long, value_enum, default_value = "tls")]
    transport: Transport,
    /// The connect-sim binary (default: next to this one).
    #[arg(long)]
    pub sim_bin: Option<PathBuf>,
    /// Append the result row (markdown, with the header when the file is new) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// How many of the most recently active chats are watched one by one.
const RECENT: usize = 20;
/// Socket counts whose first time is reported.
const MILESTONES: [usize; 3] = [100, 1_000, usize::MAX];
/// A prime, for shuffling recency ranks (any N it does not divide).
const SHUFFLE: usize = 7_919;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
const CONNECT_ALL_WITHIN: Duration = Duration::from_secs(900);
const DELIVER_WITHIN: Duration = Duration::from_secs(60);

const HEADER: &str = "| transport | sessions | B's connect rate (burst) | 20 most recently active chats: all replies delivered by | sockets back: first 100 / 1,000 / all | B's RSS: peak / end | replies written during the take-over: delivered / lost / repeated |\n|---|---:|---:|---:|---:|---:|---:|";

/// Runs one fail-over and prints (and appends) its row.
pub async fn run(args: &Args, sim_bin: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.sessions >= RECENT && !args.sessions.is_multiple_of(SHUFFLE),
        "--sessions must be at least {RECENT} and not a multiple of {SHUFFLE}"
    );
    let SimRun {
        sim,
        ca_file,
        http,
        control,
        chat,
    } = SimRun::start(sim_bin, args.transport).await?;
    let ca_path = ca_file.as_ref().map(tempfile::NamedTempFile::path);
    eprintln!("failover: seeding {} chats at {}", args.sessions, sim.url);

    // 1. Seed, each chat last active `rank` seconds ago.
    let mut records = seed::chats(&chat, 0, args.sessions).await?;
    let now = Utc::now();
    let mut by_rank = vec![String::new(); args.sessions];
    for (n, record) in records.iter_mut().enumerate() {
        let rank = n * SHUFFLE % args.sessions;
        let seconds = i64::try_from(rank).context("rank")?;
        record.active_at = Some(now - TimeDelta::seconds(seconds));
        by_rank[rank].clone_from(&record.contact_id);
    }

    // 2. Relay A holds every session, then dies.
    let spec = Spec {
        log_level: LevelFilter::INFO,
        discovery_ms: 1000,
        extra_ca: ca_path,
        connect: (0, 1),
    };
    let (a, _) = RelayChild::start(&sim.url, &records, &spec).await?;
    let held = sockets_reach(&http, &a, args.sessions, CONNECT_ALL_WITHIN).await?;
    eprintln!(
        "failover: relay A holds {} sockets after {held:?}; killing it",
        args.sessions
    );
    a.kill().await?;

    // 3. Relay B takes over at the configured rate.
    let spec = Spec {
        connect: (args.connect_rate, args.connect_burst),
        ..spec
    };
    let (b, _) = RelayChild::start(&sim.url, &records, &spec).await?;
    let zero = Instant::now();
    let zero_nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    drop(records);

    // 4. Replies to the most recent chats at once, then to random chats while sockets
    //    come back.
    let post = |contact: String, body: String| {
        let control = control.clone();
        async move {
            control.say(&contact, &body).await?;
            anyhow::Ok(())
        }
    };
    for (rank, contact) in by_rank.iter().take(RECENT).enumerate() {
        post(contact.clone(), format!("recent {rank}")).await?;
    }
    let mut storm: Vec<String> = Vec::new();
    let mut seen: HashMap<usize, Duration> = HashMap::new();
    let mut picker = 1u64;
    let reply_every = Duration::from_secs_f64(1.0 / f64::from(args.reply_rate.max(1)));
    let mut next_reply = Instant::now();
    let watch = Duration::from_secs(args.watch_secs);
    let mut open = 0usize;
    while zero.elapsed() < watch && open < args.sessions {
        while args.reply_rate > 0 && Instant::now() >= next_reply {
            // A small linear congruential generator: reproducible, no dependency.
            picker = picker
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let pick = usize::try_from(picker >> 33).unwrap_or_default() % args.sessions;
            let body = format!("storm {}", storm.len());
            post(by_rank[pick].clone(), body.clone()).await?;
            storm.push(body);
            next_reply += reply_every;
        }
        let text = scrape(&http, b.admin).await.unwrap_or_default();
        open = metric(&text, "relay_sockets_open").map_or(0, |n| n as usize);
        for milestone in MILESTONES {
            let target = milestone.min(args.sessions);
            if open >= target {
                seen.entry(milestone).or_insert_with(|| zero.elapsed());
            }
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let all_back = open >= args.sessions;

    // 5. What reached the phone.
    let recent: Vec<String> = (0..RECENT).map(|rank| format!("recent {rank}")).collect();
    let deadline = Instant::now() + DELIVER_WITHIN;
    let wanted = |sms: &HashMap<String, i64>| {
        let recent_done = recent.iter().all(|body| sms.contains_key(body));
        let storm_done = !all_back || storm.iter().all(|body| sms.contains_key(body));
        recent_done && storm_done
    };
    while !wanted(&b.sms()) && Instant::now() < deadline {
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let memory = probe::memory(b.pid)?;
    let text = scrape(&http, b.admin).await?;
    let parts = metric(&text, "relay_sms_parts_sent_total").unwrap_or_default() as usize;
    let (recent_cell, storm_cell) = {
        let sms = b.sms();
        let arrivals: Vec<Option<i64>> = recent.iter().map(|body| sms.get(body).copied()).collect();
        let delivered = arrivals.iter().flatten().count();
        let recent_cell = match arrivals.iter().flatten().max() {
            Some(last) if delivered == RECENT => {
                let arrived: Vec<i64> = arrivals.iter().flatten().copied().collect();
                format!(
                    "{:.1} s ({})",
                    seconds(last - zero_nanos),
                    order(&arrived, args.connect_burst)
                )
            }
            _ => format!("only {delivered} of {RECENT}"),
        };
        let storm_cell = if all_back {
            let delivered = storm.iter().filter(|body| sms.contains_key(*body)).count();
            let repeated = parts.saturating_sub(sms.len());
            format!(
                "{delivered} of {} / {} / {repeated}",
                storm.len(),
                storm.len() - delivered
            )
        } else {
            format!(
                "n/a: {open} of {} sockets back after {} s",
                args.sessions, args.watch_secs
            )
        };
        (recent_cell, storm_cell)
    };
    let at = |milestone: usize| {
        seen.get(&milestone)
            .map_or_else(|| "—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
    };
    let row = format!(
        "| {} | {} | {}/s ({}) | {recent_cell} | {} / {} / {} | {:.1} / {:.1} MiB | {storm_cell} |",
        args.transport.label(),
        args.sessions,
        args.connect_rate,
        args.connect_burst,
        at(MILESTONES[0]),
        at(MILESTONES[1]),
        at(MILESTONES[2]),
        mib(memory.peak_kib),
        mib(memory.rss_kib),
    );
    println!("{HEADER}\n{row}");
    if let Some(out) = &args.out {
        let mut text = if out.exists() {
            std::fs::read_to_string(out).with_context(|| format!("reading {}", out.display()))?
        } else {
            format!("{HEADER}\n")
        };
        text.push_str(&row);
        text.push('\n');
        std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    }
    b.stop().await?;
    sim.stop().await?;
    Ok(())
}

/// Waits until `relay` holds `count` sockets; how long that took.
async fn sockets_reach(
    http: &reqwest::Client,
    relay: &RelayChild,
    count: usize,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let open = metric(
            &scrape(http, relay.admin).await.unwrap_or_default(),
            "relay_sockets_open",
        );
        if open == Some(count as f64) {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "only {open:?} sockets after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How far arrival times (indexed by recency rank) are from recency order. The chats of
/// the first burst get their turns at once, and may arrive in any order among themselves.
fn order(arrived: &[i64], burst: u32) -> String {
    let burst = usize::try_from(burst).unwrap_or(usize::MAX);
    let (mut in_burst, mut outside) = (0usize, 0usize);
    for (i, earlier) in arrived.iter().enumerate() {
        for (j, later) in arrived.iter().enumerate().skip(i + 1) {
            if later < earlier {
                if j < burst {
                    in_burst += 1;
                } else {
                    outside += 1;
                }
            }
        }
    }
    match (in_burst, outside) {
        (0, 0) => "in recency order".to_owned(),
        (pairs, 0) => format!("in recency order but for {pairs} pairs of the first burst"),
        (_, pairs) => format!("{pairs} pairs out of recency order after the first burst"),
    }
}

fn seconds(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}
