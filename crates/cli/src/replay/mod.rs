//! `bridge replay FILE`: send recorded inbound SMS events to the bridge, paced as recorded.
//!
//! Lines are read up front ([`input`]); then a dispatcher starts each line at its time
//! (scaled by `--speed`) with at most `--concurrency` in flight, and under `--order sender`
//! (the default) a line waits for the previous line of the same sender and support line,
//! as a phone sends texts one after another. Each line's result is printed as it comes
//! when it is a rejection or a failure, and everything is counted for the summary
//! ([`report`]). Exit status: 0, or 1 when a line failed or `--expect` found a mismatch.

mod expect;
mod input;
mod report;
mod target;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bridge_aws::ClientSettings;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::input::{Content, Line, ReadOptions};
use self::report::{LineResult, Tally, Timings};
use self::target::{Observed, Target, TargetSpec};
use crate::config::StackArgs;
use crate::stack::Stack;

/// Local default of the Lambda endpoint: `cargo lambda watch`.
const LOCAL_LAMBDA_ENDPOINT: &str = "http://127.0.0.1:9000";
/// Lines from which the progress bar shows (with `--progress auto`).
const PROGRESS_MIN_LINES: usize = 200;
/// Pacing from which the progress bar shows (with `--progress auto`).
const PROGRESS_MIN_PACING: Duration = Duration::from_secs(3);

/// `--speed`: a factor on the recording's pauses, or `max` for none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the concurrency allows.
    Max,
    /// Pauses divided by this factor.
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "max" || text == "0" {
            return Ok(Self::Max);
        }
        match text.parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => Ok(Self::Factor(factor)),
            _ => Err(format!(
                "{text:?}: expected a positive factor (1 = as recorded) or max"
            )),
        }
    }
}

/// `--order`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// Texts of one sender to one support line go one at a time, in file order.
    Sender,
    /// No order: any line may overtake another (as SNS may deliver).
    None,
}

/// `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// On a terminal, for long runs.
    Auto,
    /// Always (when stderr is a terminal).
    Always,
    /// Never.
    Never,
}

/// `bridge replay` flags.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// JSON Lines: each line a raw two-way SMS payload or a whole SNS event, with an
    /// optional `delay_ms` or `timestamp` key.
    pub file: PathBuf,
    /// Pace: 1 replays the recorded pauses, 10 ten times faster, max without pauses.
    #[arg(long, default_value = "1")]
    pub speed: Speed,
    /// Longest pause kept from the recording, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub max_gap: f64,
    /// Lines in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Whether texts of one sender keep their order.
    #[arg(long, value_enum, default_value_t = Order::Sender)]
    pub order: Order,
    /// local (the handler in-process), sns:<topic-arn> or lambda:<function>.
    #[arg(long, default_value = "local")]
    pub target: TargetSpec,
    /// `lambda:` target endpoint in local mode [default: cargo lambda watch's].
    #[arg(long, env = "AWS_ENDPOINT_URL_LAMBDA", value_name = "URL")]
    pub lambda_endpoint: Option<String>,
    /// Compare outcomes with a fixture's expected file; exit 1 on any difference.
    #[arg(long, value_name = "FILE.expected.json")]
    pub expect: Option<PathBuf>,
    /// Give every text a new inboundMessageId (derived from its own and this run), so a
    /// recording can be replayed again against the same table.
    #[arg(long)]
    pub new_ids: bool,
    /// Print every line's outcome, not only rejections and failures.
    #[arg(long)]
    pub each: bool,
    /// Print where the time went (in-process only): handler vs service calls.
    #[arg(long)]
    pub timings: bool,
    /// Write the summary and every outcome as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Progress bar on stderr.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}

/// Runs `bridge replay`.
///
/// # Errors
/// An unreadable file, an invalid configuration, or an `--expect` file that does not fit.
pub async fn run(stack_args: &StackArgs, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let concurrency = args.concurrency.max(1);
    let bytes = tokio::fs::read(&args.file)
        .await
        .with_context(|| format!("reading {}", args.file.display()))?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let lines = input::read(
        &bytes,
        &ReadOptions {
            new_ids: args.new_ids.then_some(run_id),
            max_gap: Duration::try_from_secs_f64(args.max_gap.max(0.0)).unwrap_or_default(),
        },
    );

    let (target, totals, support_lines) = build_target(stack_args, &args).await?;
    let expected = match &args.expect {
        Some(path) => {
            if !target.reports_outcomes() {
                bail!("--expect needs the handler's outcomes: use --target local or lambda:");
            }
            let expected = expect::load(path)?;
            if let Some(configured) = &support_lines {
                expect::check_support_lines(&expected, configured)?;
            }
            Some(expected)
        }
        None => None,
    };

    println!(
        "replaying {} ({} lines) to {}",
        args.file.display(),
        lines.len(),
        target.describe()
    );
    let progress = progress_bar(args.progress, &lines, args.speed);
    let started = Instant::now();
    let results = dispatch(
        lines,
        Arc::new(target),
        Dispatch {
            concurrency,
            order: args.order,
            speed: args.speed,
            each: args.each,
        },
        &progress,
    )
    .await;
    let elapsed = started.elapsed();
    progress.finish_and_clear();

    let mut tally = Tally::default();
    let mut timings = Timings::default();
    for result in &results {
        tally.add(result);
        if let Some(timing) = &result.timing {
            timings.add(timing);
        }
    }
    if let Some(totals) = &totals {
        timings.set_services(totals);
    }
    print!("{}", tally.render(elapsed));
    if args.timings {
        if timings.events > 0 {
            print!("{}", timings.render(tally.texts(), elapsed, concurrency));
        } else {
            println!("timings: only measured with --target local");
        }
    }

    let mut mismatches = Vec::new();
    if let Some(expected) = &expected {
        let actual: Vec<expect::Entry> = results
            .iter()
            .filter(|result| result.error.is_none())
            .flat_map(|result| {
                result
                    .outcomes
                    .iter()
                    .enumerate()
                    .map(|(record, observed)| {
                        expect::Entry::from_observed(result.line, record, observed)
                    })
            })
            .collect();
        mismatches = expect::compare(&expected.lines, &actual);
        if mismatches.is_empty() {
            println!(
                "expect: all {} expected outcomes match",
                expected.lines.len()
            );
        } else {
            println!(
                "expect: {} mismatches against {}",
                mismatches.len(),
                args.expect
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            for problem in &mismatches {
                println!("  {problem}");
            }
        }
    }

    if let Some(path) = &args.summary_json {
        let json = serde_json::json!({
            "file": args.file,
            "elapsed_ms": elapsed.as_secs_f64() * 1e3,
            "concurrency": concurrency,
            "tally": tally,
            "timings": (timings.events > 0).then_some(&timings),
            "mismatches": mismatches,
            "lines": results,
        });
        let text = serde_json::to_string_pretty(&json).context("writing the summary")?;
        tokio::fs::write(path, text)
            .await
            .with_context(|| format!("writing {}", path.display()))?;
    }

    Ok(if tally.failures > 0 || !mismatches.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Builds the target; for the local target also the timing totals and support lines.
async fn build_target(
    stack_args: &StackArgs,
    args: &ReplayArgs,
) -> anyhow::Result<(
    Target,
    Option<Arc<crate::meter::Totals>>,
    Option<Vec<bridge_core::PhoneNumber>>,
)> {
    Ok(match &args.target {
        TargetSpec::Local => {
            let stack = Stack::build(stack_args).await?;
            let lines = stack
                .config()
                .support_lines
                .iter()
                .map(|line| line.number.clone())
                .collect();
            (
                Target::Local(Arc::clone(&stack.handler)),
                Some(stack.totals),
                Some(lines),
            )
        }
        TargetSpec::Sns(topic_arn) => {
            let clients = stack_args.clients(&ClientSettings::default()).await;
            (
                Target::Sns {
                    client: clients.sns,
                    topic_arn: topic_arn.clone(),
                },
                None,
                None,
            )
        }
        TargetSpec::Lambda(function) => {
            let shared = stack_args.sdk_config(&lambda_settings()).await;
            let mut builder = aws_sdk_lambda::config::Builder::from(&shared);
            match (&args.lambda_endpoint, stack_args.aws) {
                (Some(endpoint), _) => builder = builder.endpoint_url(endpoint),
                (None, false) => builder = builder.endpoint_url(LOCAL_LAMBDA_ENDPOINT),
                (None, true) => {}
            }
            (
                Target::Lambda {
                    client: aws_sdk_lambda::Client::from_conf(builder.build()),
                    function: function.clone(),
                },
                None,
                None,
            )
        }
    })
}

/// A Lambda invocation may wait for a chat being started (up to the function's timeout).
fn lambda_settings() -> ClientSettings {
    ClientSettings {
        attempt_timeout: Duration::from_secs(60),
        operation_timeout: Duration::from_secs(120),
        max_attempts: 1,
        ..ClientSettings::default()
    }
}

fn progress_bar(setting: Progress, lines: &[Line], speed: Speed) -> ProgressBar {
    let pacing = match speed {
        Speed::Max => Duration::ZERO,
        Speed::Factor(factor) => lines
            .last()
            .map(|line| line.at.div_f64(factor))
            .unwrap_or_default(),
    };
    let show = match setting {
        Progress::Never => false,
        Progress::Always => true,
        Progress::Auto => lines.len() >= PROGRESS_MIN_LINES || pacing >= PROGRESS_MIN_PACING,
    };
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(lines.len()).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} lines, {per_sec}, eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// How lines are dispatched.
#[derive(Clone, Copy, Debug)]
struct Dispatch {
    concurrency: usize,
    order: Order,
    speed: Speed,
    each: bool,
}

/// Sends every line at its time and collects the results, in line order.
async fn dispatch(
    lines: Vec<Line>,
    target: Arc<Target>,
    how: Dispatch,
    progress: &ProgressBar,
) -> Vec<LineResult> {
    let permits = Arc::new(Semaphore::new(how.concurrency));
    // Bounded backlog: lines waiting for a predecessor of the same sender count too.
    let max_pending = how.concurrency.saturating_mul(8).max(64);
    let mut tasks: JoinSet<LineResult> = JoinSet::new();
    let mut results = Vec::with_capacity(lines.len());
    let mut previous: HashMap<String, oneshot::Receiver<()>> = HashMap::new();
    let started = Instant::now();
    let record = |result: LineResult, results: &mut Vec<LineResult>| {
        report_line(&result, how.each, progress);
        progress.inc(1);
        results.push(result);
    };

    for line in lines {
        if let Speed::Factor(factor) = how.speed {
            tokio::time::sleep_until(started + line.at.div_f64(factor)).await;
        }
        while tasks.len() >= max_pending {
            if let Some(done) = tasks.join_next().await {
                record(joined(done), &mut results);
            }
        }
        let number = line.number;
        let event = match line.content {
            Content::Unreadable { kind, field } => {
                record(
                    LineResult {
                        line: number,
                        outcomes: vec![Observed::unreadable(kind, field)],
                        error: None,
                        timing: None,
                    },
                    &mut results,
                );
                continue;
            }
            Content::Event(event) => event,
        };
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let after = match how.order {
            Order::Sender => previous.insert(event.key.clone(), done_rx),
            Order::None => None,
        };
        let target = Arc::clone(&target);
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            if let Some(after) = after {
                // Err means the predecessor finished (its sender dropped): go on either way.
                let _ = after.await;
            }
            let _permit = permits.acquire_owned().await;
            let result = match target.send(&event).await {
                Ok((outcomes, timing)) => LineResult {
                    line: number,
                    outcomes,
                    error: None,
                    timing,
                },
                Err(error) => LineResult {
                    line: number,
                    outcomes: Vec::new(),
                    error: Some(format!("{error:#}")),
                    timing: None,
                },
            };
            drop(done_tx);
            result
        });
    }
    while let Some(done) = tasks.join_next().await {
        record(joined(done), &mut results);
    }
    results.sort_by_key(|result| result.line);
    results
}

/// A task's result; a panic becomes that line's failure.
fn joined(done: Result<LineResult, tokio::task::JoinError>) -> LineResult {
    done.unwrap_or_else(|error| {
        tracing::error!(%error, "replay task panicked");
        LineResult {
            line: 0,
            outcomes: Vec::new(),
            error: Some(format!("replay task panicked: {error}")),
            timing: None,
        }
    })
}

fn report_line(result: &LineResult, each: bool, progress: &ProgressBar) {
    let mut messages = Vec::new();
    if let Some(error) = &result.error {
        messages.push(format!("line {}: failed: {error}", result.line));
    }
    for (record, observed) in result.outcomes.iter().enumerate() {
        let which = if result.outcomes.len() > 1 {
            format!("line {} record {record}", result.line)
        } else {
            format!("line {}", result.line)
        };
        if observed.outcome == "rejected" {
            messages.push(format!("{which}: rejected: {}", observed.reject_label()));
        } else if each {
            let mut text = format!("{which}: {}", observed.outcome);
            if let Some(contact) = &observed.contact_id {
                text.push_str(&format!(" (chat {contact})"));
            }
            messages.push(text);
        }
    }
    if !messages.is_empty() {
        progress.suspend(|| {
            for message in messages {
                println!("{message}");
            }
        });
    }
}
