//! Start-up of a Lambda binary, measured the way Lambda would see it: a fresh process under
//! a fresh [`RuntimeApi`], timed from spawn to its first poll for an event (init), then a
//! first invocation (cold connections) and a second (warm), and its peak memory.
//!
//! One [`sample`] is one process; the caller repeats it and compares binaries (for instance
//! `bridge-inbound` with `hello-lambda`, the floor). The process gets only the environment
//! Lambda would give it plus the caller's, so nothing from this shell (an AWS profile, a
//! `RUST_LOG`) changes what is measured.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use bridge_bench::probe;
use bridge_bench::runtime_api::RuntimeApi;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::task::JoinHandle;

/// Longest wait for the first poll: a debug build on a busy two-core machine is slow.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for one invocation's answer.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of the end of each output stream a failure shows.
const OUTPUT_TAIL_BYTES: usize = 8 * 1024;

/// One cold start of a Lambda binary.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// From just before spawn to the first `GET /invocation/next` (init done).
    pub ready: Duration,
    /// The first invocation, on cold connections.
    pub first: Duration,
    /// The second invocation, on warm connections.
    pub warm: Duration,
    /// Peak resident memory (`VmHWM`) after the second invocation, in KiB.
    pub peak_rss_kib: u64,
}

/// Starts `binary` under a fresh Runtime API with Lambda's variables and `env`, waits for
/// it to initialise, invokes `first` then `warm` (for `bridge-inbound`, a first text and
/// its resume), reads its peak memory and kills it.
///
/// # Errors
/// When the process cannot start, exits, times out, reports an init error, or either
/// invocation fails; the error ends with the tail of the process's stderr and stdout.
pub async fn sample(
    binary: &Path,
    env: &[(String, String)],
    first: &Value,
    warm: &Value,
) -> anyhow::Result<Sample> {
    let api = RuntimeApi::start().await?;
    let mut command = api.command(binary, env);

    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().map(keep_tail);
    let stderr = child.stderr.take().map(keep_tail);
    let measured = measure(&api, &mut child, spawned, [first, warm]).await;

    // One sample is one fresh process, whatever happened. Killing one that already exited
    // fails harmlessly, and `wait` reaps it either way.
    let _ = child.start_kill();
    let exited = child.wait().await;
    let stdout = collected(stdout).await;
    let stderr = collected(stderr).await;
    let measured = measured.with_context(|| {
        format!(
            "sampling {} (exit: {exited:?})\n--- stderr (end) ---\n{stderr}\n--- stdout (end) ---\n{stdout}",
            binary.display()
        )
    })?;
    exited.context("waiting for the process to exit")?;
    Ok(measured)
}

async fn measure(
    api: &RuntimeApi,
    child: &mut Child,
    spawned: Instant,
    [first, warm]: [&Value; 2],
) -> anyhow::Result<Sample> {
    let polled = until_exit(
        child,
        "before polling for an event",
        api.ready(READY_TIMEOUT),
    )
    .await?;
    let first = invoke_timed(api, child, first, "first").await?;
    let warm = invoke_timed(api, child, warm, "second").await?;
    let pid = child.id().context("the process was already reaped")?;
    let memory = probe::memory(pid)?;
    Ok(Sample {
        ready: polled.saturating_duration_since(spawned),
        first,
        warm,
        peak_rss_kib: memory.peak_kib,
    })
}

/// Invokes `event` and times it; the invocation must succeed.
async fn invoke_timed(
    api: &RuntimeApi,
    child: &mut Child,
    event: &Value,
    which: &str,
) -> anyhow::Result<Duration> {
    let event = event.clone();
    let started = Instant::now();
    let invocation = until_exit(
        child,
        &format!("during the {which} invocation"),
        api.invoke(event, INVOKE_TIMEOUT),
    )
    .await?;
    let took = started.elapsed();
    invocation
        .into_response()
        .with_context(|| format!("the {which} invocation"))?;
    Ok(took)
}

/// `work`, unless the process exits first (then waiting longer would only time out).
async fn until_exit<T>(
    child: &mut Child,
    when: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        result = work => result,
        exited = child.wait() => {
            let status = exited.context("waiting for the process")?;
            Err(anyhow!("the process exited ({status}) {when}"))
        }
    }
}

/// Reads a stream to its end, keeping its last [`OUTPUT_TAIL_BYTES`].
fn keep_tail(
    mut stream: impl AsyncRead + Unpin + Send + 'static,
) -> JoinHandle<std::io::Result<Vec<u8>>> {
    tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(kept);
            }
            kept.extend_from_slice(&chunk[..read]);
            if kept.len() > OUTPUT_TAIL_BYTES {
                kept.drain(..kept.len() - OUTPUT_TAIL_BYTES);
            }
        }
    })
}

/// What a [`keep_tail`] task read, or why there is nothing.
async fn collected(reader: Option<JoinHandle<std::io::Result<Vec<u8>>>>) -> String {
    match reader {
        None => "(not captured)".to_owned(),
        Some(reader) => match reader.await {
            Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(Err(error)) => format!("(reading it failed: {error})"),
            Err(error) => format!("(its reader task failed: {error})"),
        },
    }
}
