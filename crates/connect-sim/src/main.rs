//! `connect-sim` binary: parse flags, start logging, bind, print the address, serve until
//! SIGINT/SIGTERM.
//!
//! The first stdout line is `connect-sim listening on http://HOST:PORT` (`https://` with
//! `--tls-ca-out`; flushed), so scripts using `--port 0` can read the chosen port. Logs go to stderr (`RUST_LOG`, default `info`).

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use connect_sim::SimConfig;

/// Local emulator of Amazon Connect chat (Connect + Participant REST, WebSocket, console).
#[derive(Debug, Parser)]
#[command(name = "connect-sim", version)]
struct Args {
    /// Address to bind.
    #[arg(long, env = "CONNECT_SIM_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to bind (0 picks a free port and prints it).
    #[arg(long, env = "CONNECT_SIM_PORT", default_value_t = connect_sim::config::DEFAULT_PORT)]
    port: u16,
    /// ConnectionToken lifetime in seconds (AWS: 86400).
    #[arg(long, env = "CONNECT_SIM_CONNECTION_TOKEN_TTL_SECS", value_parser = seconds, default_value = "86400")]
    connection_token_ttl_secs: Duration,
    /// Seconds a WebSocket URL may be opened after it was issued (AWS: 100).
    #[arg(long, env = "CONNECT_SIM_WEBSOCKET_URL_VALIDITY_SECS", value_parser = seconds, default_value = "100")]
    websocket_url_validity_secs: Duration,
    /// Seconds the customer has to connect before the chat ends (AWS: 300).
    #[arg(long, env = "CONNECT_SIM_CUSTOMER_CONNECT_TIMEOUT_SECS", value_parser = seconds, default_value = "300")]
    customer_connect_timeout_secs: Duration,
    /// Chat duration in seconds when StartChatContact gives none (AWS: 25 h = 90000).
    #[arg(long, env = "CONNECT_SIM_CHAT_DURATION_SECS", value_parser = seconds, default_value = "90000")]
    chat_duration_secs: Duration,
    /// Close a socket that sent nothing for this many seconds (default 300).
    #[arg(long, env = "CONNECT_SIM_IDLE_SOCKET_TIMEOUT_SECS", value_parser = seconds, default_value = "300")]
    idle_socket_timeout_secs: Duration,
    /// Open sockets per participant before the oldest is closed (AWS: 5).
    #[arg(
        long,
        env = "CONNECT_SIM_MAX_SOCKETS_PER_PARTICIPANT",
        default_value = "5"
    )]
    max_sockets_per_participant: NonZeroUsize,
    /// Concurrent active chats before StartChatContact answers 429 (AWS: 100; 0 = no limit).
    #[arg(long, env = "CONNECT_SIM_CONCURRENT_CHAT_LIMIT", default_value_t = 100)]
    concurrent_chat_limit: usize,
    /// Enforce AWS's per-operation TPS quotas (429 when exceeded).
    #[arg(long, env = "CONNECT_SIM_QUOTAS")]
    quotas: bool,
    /// GetTranscript keeps answering an unexpired connection token after its chat ended
    /// (AWS documents neither way; the default is a 403).
    #[arg(long, env = "CONNECT_SIM_TRANSCRIPT_AFTER_END")]
    transcript_after_end: bool,
    /// A FORWARD GetTranscript with no StartPosition starts in the past contacts of a
    /// persistent chat (AWS does not document where it starts; the default is the current
    /// contact's first item).
    #[arg(long, env = "CONNECT_SIM_PAST_ITEMS_FORWARD")]
    past_items_forward: bool,
    /// Write each ended chat's transcript to this S3 location, as Connect does
    /// (`s3://bucket/connect/<alias>/ChatTranscripts`), through --s3-endpoint.
    #[arg(
        long,
        env = "CONNECT_SIM_TRANSCRIPT_S3",
        value_name = "S3_URL",
        requires = "s3_endpoint"
    )]
    transcript_s3: Option<String>,
    /// The S3 endpoint transcripts are written to (moto: http://127.0.0.1:5055).
    #[arg(long, env = "CONNECT_SIM_S3_ENDPOINT", value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Serve HTTPS and WSS with a CA made at start, and write the CA certificate (PEM) to
    /// this file for clients to trust. For local use and tests only.
    #[arg(long, env = "CONNECT_SIM_TLS_CA_OUT", value_name = "FILE")]
    tls_ca_out: Option<std::path::PathBuf>,
    /// A configuration set SendTextMessage accepts, with the SNS topic its delivery events
    /// are published to: `NAME=ENDPOINT|arn:aws:sns:REGION:ACCOUNT:TOPIC` (moto:
    /// `events=http://127.0.0.1:5055|arn:aws:sns:us-east-1:123456789012:sms-events`), or
    /// `NAME` alone for a set without events. Repeatable; the variable takes a comma list.
    #[arg(
        long = "sms-configuration-set",
        env = "CONNECT_SIM_SMS_CONFIGURATION_SETS",
        value_name = "NAME[=ENDPOINT|TOPIC_ARN]",
        value_delimiter = ','
    )]
    sms_configuration_sets: Vec<connect_sim::sms::ConfigurationSet>,
    /// Milliseconds between a text's TEXT_SUCCESSFUL event and its final event.
    #[arg(long, env = "CONNECT_SIM_SMS_DELIVERY_DELAY_MS", default_value_t = 0)]
    sms_delivery_delay_ms: u64,
    /// Frames queued per socket before it is closed as a slow consumer.
    #[arg(long, env = "CONNECT_SIM_SOCKET_BUFFER", default_value_t = NonZeroUsize::new(connect_sim::config::DEFAULT_SOCKET_BUFFER).unwrap_or(NonZeroUsize::MIN))]
    socket_buffer: NonZeroUsize,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number of seconds: {e}"))?;
    Duration::try_from_secs_f64(value).map_err(|e| format!("{text:?}: {e}"))
}

impl Args {
    fn into_config(self) -> anyhow::Result<SimConfig> {
        let transcript_archive = match (&self.transcript_s3, &self.s3_endpoint) {
            (Some(location), Some(endpoint)) => Some(
                connect_sim::archive::ArchiveTarget::parse(endpoint, location)
                    .map_err(anyhow::Error::msg)
                    .context("--transcript-s3")?,
            ),
            _ => None,
        };
        let tls = match &self.tls_ca_out {
            Some(path) => {
                let tls = connect_sim::tls::SimTls::generate().context("--tls-ca-out")?;
                std::fs::write(path, tls.ca_pem())
                    .with_context(|| format!("writing the CA to {}", path.display()))?;
                Some(tls)
            }
            None => None,
        };
        Ok(SimConfig {
            bind: SocketAddr::new(self.bind, self.port),
            connection_token_ttl: self.connection_token_ttl_secs,
            websocket_url_validity: self.websocket_url_validity_secs,
            customer_connect_timeout: self.customer_connect_timeout_secs,
            default_chat_duration: self.chat_duration_secs,
            idle_socket_timeout: self.idle_socket_timeout_secs,
            max_sockets_per_participant: self.max_sockets_per_participant,
            concurrent_chat_limit: (self.concurrent_chat_limit > 0)
                .then_some(self.concurrent_chat_limit),
            quotas: self.quotas,
            socket_buffer: self.socket_buffer,
            transcript_after_end: self.transcript_after_end,
            past_items_forward: self.past_items_forward,
            transcript_archive,
            tls,
            sms_configuration_sets: self.sms_configuration_sets,
            sms_delivery_delay: Duration::from_millis(self.sms_delivery_delay_ms),
            ..SimConfig::default()
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Args::parse().into_config()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    tracing::info!(?config, "starting");
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout().lock();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    writeln!(stdout, "{}{scheme}://{addr}", connect_sim::LISTENING_ON).context("writing stdout")?;
    stdout.flush().context("flushing stdout")?;
    drop(stdout);
    connect_sim::serve(listener, config, shutdown_signal())
        .await
        .context("serving")?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
