//! `relay-load`: how much the relay costs per session, and how much latency it adds.
//!
//! For each transport (plain `ws://`, and `wss://` as Amazon Connect serves it: connect-sim
//! with a CA of its own, which the relay and the Node client are told to trust) and each
//! session count (default 1,000, 5,000, 10,000), against a fresh connect-sim subprocess:
//! 1. seed N active chats as the inbound Lambda would (the real `ConnectChat` adapter);
//! 2. start the relay in a child process (`relay-load relay-child`, running
//!    `bridge_relay::run`, the binary's code path) with the sessions in core's in-memory
//!    store and a timing `SmsSender`; wait until it holds N subscribed sockets;
//! 3. measure the relay process idle: RSS, and CPU over several heartbeat periods;
//! 4. have agents send messages through the sim at a fixed rate: the relay's own
//!    `relay_agent_to_sms_seconds` (socket frame → SNS call) and end to end (agent POST →
//!    SNS call);
//! 5. stop the relay (SIGTERM, timing the drain), then run the Node.js `ws` yardstick with
//!    the same N against the same sim and measure it the same way.
//!
//! Why not the binary against moto: moto serialises requests, and 10,000 sessions mean
//! about 64 index queries a second plus cursor writes; the figures would measure moto. The
//! relay process differs from production only in its two adapters: an in-memory store for
//! DynamoDB (its rows count in the relay's RSS; the "before start" column is the process
//! with the rows loaded and the runtime up, before the relay runs) and a timing sender for
//! SNS. Everything else is production: the SDK participant client,
//! tokio-tungstenite sockets, leases, discovery, workers, metrics, JSON logs at INFO.
//!
//! Needs `ulimit -n` above N plus a margin in every process (the Makefile target raises it).

mod child;
mod failover;
mod node;
mod seed;
mod timing;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_config::SdkConfig;
use bridge_aws::{ClientSettings, ConnectChat};
use chrono::Utc;
use clap::{Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

use bridge_bench::probe::{self, CpuWindow, histogram_quantile, metric, percentile};
use bridge_testkit::{SimControl, SimProcess, emulator_config};

/// Relay load benchmark with a Node.js yardstick.
#[derive(Debug, Parser)]
#[command(name = "relay-load", version)]
struct Cli {
    #[command(subcommand)]
    child: Option<ChildCommand>,
    #[command(flatten)]
    args: Args,
}

#[derive(Debug, Subcommand)]
enum ChildCommand {
    /// The relay under test (started by the driver; reads session records on stdin).
    #[command(hide = true)]
    RelayChild {
        /// connect-sim's URL.
        #[arg(long)]
        sim: String,
        /// Records to expect.
        #[arg(long)]
        sessions: usize,
        /// The JSON log level (to a sink).
        #[arg(long, default_value = "info")]
        log_level: LevelFilter,
        /// The relay's discovery period, ms.
        #[arg(long, default_value_t = 1000)]
        discovery_ms: u64,
        /// connect-sim's CA (PEM), when it serves TLS.
        #[arg(long)]
        extra_ca: Option<PathBuf>,
        /// The relay's connection set-ups a second (`BRIDGE_RELAY_CONNECT_RATE`; 0: no
        /// limit).
        #[arg(long, default_value_t = 0)]
        connect_rate: u32,
        /// Their burst (`BRIDGE_RELAY_CONNECT_BURST`).
        #[arg(long, default_value_t = 1)]
        connect_burst: u32,
    },
    /// A relay holding N sessions is killed and a second takes them over at the connect
    /// rate: when sessions stream again, most recently active first, and no reply lost.
    Failover(failover::Args),
}

/// How the sockets and API calls travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
enum Transport {
    /// `ws://` and `http://`.
    #[default]
    Plain,
    /// `wss://` and `https://`, as production.
    Tls,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Plain => "ws",
            Self::Tls => "wss (TLS)",
        }
    }
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Session counts, run one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    sessions: Vec<usize>,
    /// Transports, each with every session count.
    #[arg(long, value_delimiter = ',', default_value = "plain,tls")]
    transports: Vec<Transport>,
    /// The connect-sim binary (default: next to this one).
    #[arg(long)]
    sim_bin: Option<PathBuf>,
    /// The yardstick script.
    #[arg(long, default_value = "tests/load/node-ws-baseline.mjs")]
    node_script: PathBuf,
    /// The node executable.
    #[arg(long, default_value = "node")]
    node: String,
    /// Skip the Node.js yardstick.
    #[arg(long)]
    no_node: bool,
    /// Idle measurement window, seconds (several 10 s heartbeat periods).
    #[arg(long, default_value_t = 30)]
    idle_secs: u64,
    /// Messages in the latency phase (at most one per session).
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Messages per second in the latency phase.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Also write the results table (markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Level of the relay's JSON log (written to a sink): `info` as in production, `off`
    /// to see what logging costs.
    #[arg(long, default_value = "info")]
    log_level: LevelFilter,
    /// The relay's discovery period, ms (1000 in production; longer shows what discovery
    /// costs at idle).
    #[arg(long, default_value_t = 1000)]
    discovery_ms: u64,
}

const SHARDS: u16 = 64;
const SETTLE: Duration = Duration::from_secs(5);
const CONNECT_ALL_WITHIN: Duration = Duration::from_secs(900);

/// One run's figures.
#[derive(Debug, Default)]
struct Row {
    transport: Transport,
    sessions: usize,
    seed: Duration,
    connect_all: Duration,
    sockets: f64,
    before_mib: f64,
    rss_mib: f64,
    peak_mib: f64,
    cpu_idle: f64,
    cpu_burst: f64,
    relay_p50_ms: f64,
    relay_p99_ms: f64,
    e2e_p50_ms: f64,
    e2e_p99_ms: f64,
    messages: usize,
    duplicates: usize,
    drain: Duration,
    node_sockets: Option<usize>,
    node_rss_mib: Option<f64>,
    node_cpu_idle: Option<f64>,
}

const HEADER: &str = "| transport | sessions | sockets held (relay / Node) | relay RSS (before start: runtime + store) | relay peak RSS | Node ws RSS | idle CPU relay / Node | added latency p50 / p99 (frame→SNS call) | end-to-end p50 / p99 (agent POST→SNS call) | CPU during 200 msg/s | connect all | drain |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

impl Row {
    fn markdown(&self) -> String {
        let node_rss = self
            .node_rss_mib
            .map_or_else(|| "n/a".to_owned(), |mib| format!("{mib:.1} MiB"));
        let node_cpu = self
            .node_cpu_idle
            .map_or_else(|| "n/a".to_owned(), |cpu| format!("{cpu:.1} %"));
        let node_sockets = self
            .node_sockets
            .map_or_else(|| "n/a".to_owned(), |n| n.to_string());
        format!(
            "| {} | {} | {} / {} | {:.1} MiB ({:.1}) | {:.1} MiB | {} | {:.1} % / {} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.1} % | {:.1} s | {:.2} s |",
            self.transport.label(),
            self.sessions,
            self.sockets,
            node_sockets,
            self.rss_mib,
            self.before_mib,
            self.peak_mib,
            node_rss,
            self.cpu_idle,
            node_cpu,
            self.relay_p50_ms,
            self.relay_p99_ms,
            self.e2e_p50_ms,
            self.e2e_p99_ms,
            self.cpu_burst,
            self.connect_all.as_secs_f64(),
            self.drain.as_secs_f64(),
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let shards = NonZeroU16::new(SHARDS).context("shards")?;
    match &cli.child {
        Some(ChildCommand::RelayChild {
            sim,
            sessions,
            log_level,
            discovery_ms,
            extra_ca,
            connect_rate,
            connect_burst,
        }) => {
            init_logging(*log_level);
            let connect = (*connect_rate, *connect_burst);
            return child::run(
                sim,
                shards,
                *sessions,
                *discovery_ms,
                extra_ca.as_deref(),
                connect,
            )
            .await;
        }
        Some(ChildCommand::Failover(args)) => {
            init_logging(LevelFilter::WARN);
            let sim_bin = sim_binary(args.sim_bin.as_deref())?;
            return failover::run(args, &sim_bin).await;
        }
        None => {}
    }
    init_logging(LevelFilter::WARN);
    let args = cli.args;
    let sim_bin = sim_binary(args.sim_bin.as_deref())?;
    let ticks = probe::ticks_per_second();
    let mut rows = Vec::new();
    println!("{HEADER}");
    let runs = args
        .transports
        .iter()
        .flat_map(|&transport| args.sessions.iter().map(move |&n| (transport, n)));
    for (run, (transport, sessions)) in runs.enumerate() {
        let row = measure(&args, &sim_bin, ticks, run, transport, sessions).await?;
        println!("{}", row.markdown());
        eprintln!("details: {row:?}");
        rows.push(row);
    }
    if let Some(out) = &args.out {
        let mut text = format!("{HEADER}\n");
        for row in &rows {
            text.push_str(&row.markdown());
            text.push('\n');
        }
        std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// The connect-sim binary: `given`, or the one next to this binary.
fn sim_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let sim_bin = match given {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name("connect-sim"),
    };
    anyhow::ensure!(
        sim_bin.exists(),
        "{} not found: build it (cargo build --release -p connect-sim) or pass --sim-bin",
        sim_bin.display()
    );
    Ok(sim_bin)
}

/// JSON at `level` to a sink (what the relay's logging costs, without the I/O), warnings
/// on stderr.
fn init_logging(level: LevelFilter) {
    tracing_subscriber::registry()
        .with(
            fmt::layer()
                .json()
                .with_current_span(true)
                .with_writer(std::io::sink)
                .with_filter(level),
        )
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(LevelFilter::WARN),
        )
        .init();
}

/// Static test credentials, us-east-1, `endpoint` for every service, the bridge's timeouts;
/// trusting `ca` besides the platform's roots when given.
pub(crate) fn sdk_config(endpoint: &str, ca: Option<&bridge_aws::ExtraCa>) -> SdkConfig {
    let config = ClientSettings::default().apply(&emulator_config(endpoint));
    match ca {
        Some(ca) => bridge_aws::trusting_extra_ca(&config, ca),
        None => config,
    }
}

/// connect-sim's CA file, read and checked.
pub(crate) fn read_ca(path: &Path) -> anyhow::Result<bridge_aws::ExtraCa> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    bridge_aws::ExtraCa::from_pem(&pem).with_context(|| format!("{}", path.display()))
}

async fn scrape(http: &reqwest::Client, admin: SocketAddr) -> anyhow::Result<String> {
    Ok(http
        .get(format!("http://{admin}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// connect-sim over `transport`, with what talks to it: an HTTP client, its control API
/// over that client, and the SDK's Connect clients, all trusting its CA when it serves TLS.
pub(crate) struct SimRun {
    pub sim: SimProcess,
    /// The CA connect-sim wrote (TLS only); the file lives as long as this.
    pub ca_file: Option<tempfile::NamedTempFile>,
    pub http: reqwest::Client,
    /// The agent's side: messages posted through the control API.
    pub control: SimControl,
    pub chat: Arc<ConnectChat>,
}

impl SimRun {
    pub async fn start(sim_bin: &Path, transport: Transport) -> anyhow::Result<Self> {
        let ca_file = match transport {
            Transport::Plain => None,
            Transport::Tls => Some(tempfile::NamedTempFile::new().context("a file for the CA")?),
        };
        let ca_path = ca_file.as_ref().map(tempfile::NamedTempFile::path);
        let sim = bridge_bench::sim::spawn_with(sim_bin, ca_path).await?;
        let ca = ca_path.map(read_ca).transpose()?;
        let http = match ca_path {
            Some(path) => bridge_testkit::tls::trusting(&std::fs::read_to_string(path)?)?,
            None => reqwest::Client::builder(),
        }
        .timeout(Duration::from_secs(30))
        .build()?;
        let control = SimControl::with_client(http.clone(), &sim.url);
        let aws = sdk_config(&sim.url, ca.as_ref());
        let chat = Arc::new(ConnectChat::new(
            aws_sdk_connect::Client::new(&aws),
            aws_sdk_connectparticipant::Client::new(&aws),
        ));
        Ok(Self {
            sim,
            ca_file,
            http,
            control,
            chat,
        })
    }
}

/// The relay child process and what it reported.
struct RelayChild {
    child: Child,
    pid: u32,
    admin: SocketAddr,
    sms: Arc<Mutex<HashMap<String, i64>>>,
    reader: tokio::task::JoinHandle<()>,
}

/// How to run a relay child.
pub(crate) struct Spec<'a> {
    log_level: LevelFilter,
    discovery_ms: u64,
    extra_ca: Option<&'a Path>,
    /// Connection set-ups a second and burst (0: no limit).
    connect: (u32, u32),
}

impl RelayChild {
    async fn start(
        sim: &str,
        records: &[seed::Record],
        spec: &Spec<'_>,
    ) -> anyhow::Result<(Self, probe::Memory)> {
        let Spec {
            log_level,
            discovery_ms,
            extra_ca,
            connect: (connect_rate, connect_burst),
        } = *spec;
        // RELAY_LOAD_CHILD_PREFIX (e.g. `heaptrack -o /tmp/relay`) wraps the relay process
        // in a profiler.
        let prefix: Vec<String> = std::env::var("RELAY_LOAD_CHILD_PREFIX")
            .map(|prefix| prefix.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let exe = std::env::current_exe()?;
        let mut command = match prefix.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(&exe);
                command
            }
            None => Command::new(&exe),
        };
        let mut child = command
            .args([
                "relay-child",
                "--sim",
                sim,
                "--sessions",
                &records.len().to_string(),
                "--log-level",
                &log_level.to_string(),
                "--discovery-ms",
                &discovery_ms.to_string(),
                "--connect-rate",
                &connect_rate.to_string(),
                "--connect-burst",
                &connect_burst.to_string(),
            ])
            // The subcommand's option, so after its name.
            .args(
                extra_ca
                    .iter()
                    .flat_map(|path| [OsStr::new("--extra-ca"), path.as_os_str()]),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the relay process")?;
        let pid = child.id().context("relay pid")?;
        let mut stdin = child.stdin.take().context("relay stdin")?;
        let mut input = String::new();
        for record in records {
            input.push_str(&serde_json::to_string(record)?);
            input.push('\n');
        }
        stdin.write_all(input.as_bytes()).await?;
        drop(stdin);
        let mut lines = BufReader::new(child.stdout.take().context("relay stdout")?).lines();
        let loaded = lines
            .next_line()
            .await?
            .context("relay exited while loading")?;
        anyhow::ensure!(loaded.starts_with("loaded "), "unexpected line {loaded:?}");
        let store = probe::memory(pid)?;
        let admin = lines
            .next_line()
            .await?
            .and_then(|line| line.strip_prefix("admin ").map(str::to_owned))
            .context("relay did not report its admin address")?
            .parse()?;
        let sms: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
        let reader = tokio::spawn({
            let sms = Arc::clone(&sms);
            async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    let Some(rest) = line.strip_prefix("sms ") else {
                        continue;
                    };
                    let Some((nanos, body)) = rest.split_once(' ') else {
                        continue;
                    };
                    if let Ok(nanos) = nanos.parse::<i64>() {
                        let mut sms = sms
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        sms.entry(body.to_owned()).or_insert(nanos);
                    }
                }
            }
        });
        Ok((
            Self {
                child,
                pid,
                admin,
                sms,
                reader,
            },
            store,
        ))
    }

    fn sms(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.sms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// SIGKILL: the relay dies as a crashed task does, holding everything.
    async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("killing the relay")?;
        self.child.wait().await.context("waiting for the relay")?;
        self.reader.abort();
        Ok(())
    }

    /// SIGTERM, and how long the relay took to drain and exit.
    async fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let exit = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .context("relay did not exit within 60 s of SIGTERM")??;
        let drained = started.elapsed();
        anyhow::ensure!(exit.success(), "relay exited with {exit}");
        self.reader.await?;
        Ok(drained)
    }
}

async fn measure(
    args: &Args,
    sim_bin: &Path,
    ticks: u64,
    run: usize,
    transport: Transport,
    sessions: usize,
) -> anyhow::Result<Row> {
    let mut row = Row {
        transport,
        sessions,
        ..Row::default()
    };
    let SimRun {
        sim,
        ca_file,
        http,
        control,
        chat,
    } = SimRun::start(sim_bin, transport).await?;
    let ca_path = ca_file.as_ref().map(tempfile::NamedTempFile::path);
    eprintln!("run {run}: {sessions} sessions against {}", sim.url);

    // 1. Seed.
    let started = Instant::now();
    let records = seed::chats(&chat, run, sessions).await?;
    row.seed = started.elapsed();

    // 2. Relay.
    let spec = Spec {
        log_level: args.log_level,
        discovery_ms: args.discovery_ms,
        extra_ca: ca_path,
        connect: (0, 1),
    };
    let (relay, before) = RelayChild::start(&sim.url, &records, &spec).await?;
    row.before_mib = mib(before.rss_kib);
    let started = Instant::now();
    loop {
        let open = metric(
            &scrape(&http, relay.admin).await.unwrap_or_default(),
            "relay_sockets_open",
        );
        if open == Some(sessions as f64) {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < CONNECT_ALL_WITHIN,
            "only {open:?} sockets after {CONNECT_ALL_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    row.connect_all = started.elapsed();

    // 3. Idle.
    tokio::time::sleep(SETTLE).await;
    let window = CpuWindow::start(relay.pid, ticks)?;
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    row.cpu_idle = window.percent()?;
    let memory = probe::memory(relay.pid)?;
    row.rss_mib = mib(memory.rss_kib);
    row.sockets =
        metric(&scrape(&http, relay.admin).await?, "relay_sockets_open").unwrap_or_default();

    // 4. Latency.
    let count = args.messages.min(sessions);
    let step = (sessions / count.max(1)).max(1);
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    let mut posted = Vec::with_capacity(count);
    let window = CpuWindow::start(relay.pid, ticks)?;
    for (index, record) in records.iter().step_by(step).take(count).enumerate() {
        ticker.tick().await;
        let body = format!("load message {index}");
        let at = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        control.say(&record.contact_id, &body).await?;
        posted.push((body, at));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay.sms().len() < posted.len() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {} messages reached SNS",
            relay.sms().len(),
            posted.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    row.cpu_burst = window.percent()?;
    let mut e2e: Vec<Duration> = {
        let sms = relay.sms();
        posted
            .iter()
            .filter_map(|(body, at)| {
                let nanos = sms.get(body)?.saturating_sub(*at);
                Some(Duration::from_nanos(
                    u64::try_from(nanos).unwrap_or_default(),
                ))
            })
            .collect()
    };
    row.messages = e2e.len();
    row.e2e_p50_ms = ms(percentile(&mut e2e, 50.0));
    row.e2e_p99_ms = ms(percentile(&mut e2e, 99.0));
    let text = scrape(&http, relay.admin).await?;
    row.relay_p50_ms =
        1000.0 * histogram_quantile(&text, "relay_agent_to_sms_seconds", 0.50).unwrap_or_default();
    row.relay_p99_ms =
        1000.0 * histogram_quantile(&text, "relay_agent_to_sms_seconds", 0.99).unwrap_or_default();
    let sent = metric(&text, "relay_sms_parts_sent_total").unwrap_or_default();
    row.duplicates = (sent as usize).saturating_sub(row.messages);
    row.peak_mib = mib(probe::memory(relay.pid)?.peak_kib);

    // Stop the relay.
    row.drain = relay.stop().await?;
    drop(records);

    // 5. Yardstick.
    if !args.no_node {
        let urls = seed::websocket_urls(&chat, run, sessions).await?;
        let mut node =
            node::NodeClient::spawn(&args.node, &args.node_script, &urls, ca_path).await?;
        drop(urls);
        row.node_sockets = Some(node.ready(CONNECT_ALL_WITHIN).await?);
        let node_pid = node.pid().context("node pid")?;
        tokio::time::sleep(SETTLE).await;
        let window = CpuWindow::start(node_pid, ticks)?;
        tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
        row.node_cpu_idle = Some(window.percent()?);
        row.node_rss_mib = Some(mib(probe::memory(node_pid)?.rss_kib));
        node.stop().await?;
    }
    sim.stop().await?;
    Ok(row)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(duration: Option<Duration>) -> f64 {
    duration.map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
