//! The inbound handler's own CPU per event, with the real adapters and SDK clients.
//!
//! The handler runs in this process; the emulators and connect-sim run in theirs, so this
//! process's CPU clock (`CLOCK_PROCESS_CPUTIME_ID`: every thread, user and system) counts what the
//! Lambda would spend per event: parsing, the session decision, building, signing and
//! sending the requests, reading the answers, and writing its JSON log lines (to a sink
//! here, to stdout in Lambda). Events go one at a time, as one Lambda execution
//! environment takes them. Waiting on the services costs wall time, not CPU, so the
//! emulators' speed does not enter the CPU figure; it does enter the wall figure, which is
//! shown to say how much of an event is waiting.

use std::time::{Duration, Instant};

use anyhow::ensure;
use bridge_bench::inbound::{Stack, paths::long_body};
use bridge_bench::probe::percentile;
use bridge_inbound::Outcome;
use bridge_testkit::fresh;
use rustix::time::{ClockId, clock_gettime};

/// CPU and wall time of one path over many events.
#[derive(Clone, Debug)]
pub struct PathCpu {
    /// The path.
    pub path: &'static str,
    /// Events handled.
    pub events: usize,
    /// Process CPU per event.
    pub cpu_per_event: Duration,
    /// Median wall time of one event (mostly waiting on the emulators and connect-sim).
    pub wall_p50: Duration,
    /// AWS calls made, per event.
    pub calls_per_event: f64,
}

/// The process's CPU time so far (all threads, user + system).
fn process_cpu() -> Duration {
    let now = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or_default(),
        u32::try_from(now.tv_nsec).unwrap_or_default(),
    )
}

/// Measures the first-text path over `starts` new customers, then the resume path with
/// `events` texts spread over those customers, and a 3,000-character resume.
///
/// # Errors
/// When an event fails or takes another path.
pub async fn measure(stack: &Stack, starts: usize, events: usize) -> anyhow::Result<Vec<PathCpu>> {
    let customers: Vec<String> = (0..starts.max(1)).map(|_| fresh::customer()).collect();
    // Warm the connections first, as a Lambda that has handled a few events has.
    let warm = fresh::customer();
    for _ in 0..3 {
        stack.text(&warm, "warming up").await?;
    }

    let first = run(stack, "first text (starts a chat)", &customers, |from| {
        (from.clone(), "Hi, where is my order?".to_owned())
    })
    .await?;
    let texts: Vec<String> = (0..events)
        .map(|i| customers[i % customers.len()].clone())
        .collect();
    let resume = run(stack, "text to the open chat (resume)", &texts, |from| {
        (from.clone(), "It was due Monday, any news?".to_owned())
    })
    .await?;
    let long = long_body(3_000);
    let long_texts: Vec<String> = texts.iter().take((events / 10).max(1)).cloned().collect();
    let long = run(
        stack,
        "3,000-character text to the open chat",
        &long_texts,
        |from| (from.clone(), long.clone()),
    )
    .await?;
    Ok(vec![first, resume, long])
}

async fn run(
    stack: &Stack,
    path: &'static str,
    senders: &[String],
    text: impl Fn(&String) -> (String, String),
) -> anyhow::Result<PathCpu> {
    let mut walls = Vec::with_capacity(senders.len());
    stack.log.take();
    let cpu = process_cpu();
    for sender in senders {
        let (from, body) = text(sender);
        let started = Instant::now();
        let outcome = stack.text(&from, &body).await?;
        walls.push(started.elapsed());
        ensure!(
            matches!(outcome, Outcome::Delivered { .. }),
            "{path}: expected delivered, got {outcome:?}"
        );
    }
    let cpu = process_cpu().saturating_sub(cpu);
    let calls = stack.log.take().len();
    let events = senders.len();
    Ok(PathCpu {
        path,
        events,
        cpu_per_event: cpu / u32::try_from(events).unwrap_or(u32::MAX),
        wall_p50: percentile(&mut walls, 50.0).unwrap_or_default(),
        calls_per_event: calls as f64 / events as f64,
    })
}
