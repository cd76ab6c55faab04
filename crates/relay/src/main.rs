//! `bridge-relay` binary: configuration, logging, adapters, run, shutdown.
//!
//! Everything else lives in the library (`bridge_relay::run`), so tests and the load tool
//! run the same relay in-process.

use std::num::NonZeroU16;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use bridge_aws::{ClientSettings, Clients, ConnectChat, DynamoSettings, DynamoStore};
use bridge_core::ports::SystemClock;
use bridge_core::usage::{Program, Request, Var};
use bridge_relay::config::LogFormat;
use bridge_relay::leases::listed_leases;
use bridge_relay::{Config, Ports, probe, shutdown};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// What `bridge-relay --help` says.
const PROGRAM: Program<'static> = Program {
    name: "bridge-relay",
    version: env!("CARGO_PKG_VERSION"),
    about: "The relay of the SMS <-> Amazon Connect chat bridge: holds the customers' participant\n\
            WebSockets for the shards it leases and sends what agents write back as SMS. Runs until\n\
            SIGTERM or SIGINT, then drains and releases its leases.",
    commands: &[(
        "healthcheck",
        "probe this instance's /healthz on BRIDGE_RELAY_ADMIN_ADDR (the container's health check)",
    )],
    vars: &[
        (
            "Bridge (shared with the inbound Lambda)",
            &bridge_core::config::VARS,
        ),
        ("Relay", &bridge_relay::config::VARS),
        ("AWS SDK", &bridge_core::usage::AWS_VARS),
        (
            "Logging",
            &[Var::with_default(
                "RUST_LOG",
                "info",
                "tracing filter directives",
            )],
        ),
    ],
};

#[tokio::main]
async fn main() -> ExitCode {
    match PROGRAM.request(std::env::args().skip(1)) {
        Request::Run => {}
        // The container's health probe (distroless: no curl).
        Request::Command(_) => return healthcheck(),
        Request::Help(text) | Request::Version(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Request::Usage(text) => {
            eprint!("{text}");
            return ExitCode::from(2);
        }
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            // Logging is configured from the same variables, so report on stderr.
            eprintln!("bridge-relay: {error}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    info!(config = ?config, "configuration loaded");
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error!(error = format!("{error:#}"), "relay failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.admin_addr)
        .await
        .context("binding the admin listener")?;
    let admin_addr = listener.local_addr().context("reading the admin address")?;
    info!(admin_addr = %admin_addr, "admin listening");

    let settings = ClientSettings::default();
    let mut shared = bridge_aws::load_shared().await;
    if let Some(ca) = &config.extra_ca {
        tracing::warn!(
            var = bridge_relay::config::EXTRA_CA_FILE,
            "trusting an extra CA: for local emulators only"
        );
        shared = bridge_aws::trusting_extra_ca(&shared, ca);
    }
    let clients = Clients::new(&shared, &settings);
    let sms = clients.sms_sender(&config.core.sms_api);
    let archive = config.transcript_s3.clone().map(|location| {
        Arc::new(bridge_aws::S3Transcripts::new(&shared, &settings, location))
            as Arc<dyn bridge_core::ports::TranscriptArchive>
    });
    let shard_count = config.core.shard_count.get();
    let store = Arc::new(DynamoStore::new(
        clients.dynamodb,
        config.core.table_name.as_str(),
        DynamoSettings {
            // The relay lists its membership slots along with the shards.
            lease_slots: NonZeroU16::new(listed_leases(shard_count))
                .unwrap_or(config.core.shard_count),
            ..DynamoSettings::default()
        },
    ));
    let chat = Arc::new(ConnectChat::new(clients.connect, clients.participant));
    let ports = Ports {
        sessions: store.clone(),
        leases: store,
        chat: chat.clone(),
        timers: chat,
        sms,
        clock: Arc::new(SystemClock),
        archive,
    };

    let root = CancellationToken::new();
    let signals = tokio::spawn(shutdown::cancel_on_signal(root.clone()));
    let result = bridge_relay::run(config, ports, listener, root).await;
    signals.abort();
    match signals.await {
        Ok(Err(error)) => error!(error = %error, "signal handler failed"),
        Ok(Ok(())) => {}
        Err(join) if join.is_cancelled() => {}
        Err(join) => error!(error = %join, "signal task failed"),
    }
    result.context("relay stopped with an error")
}

/// Probes this instance's `/healthz`; exit 0 when healthy, 1 otherwise.
fn healthcheck() -> ExitCode {
    let bound = match bridge_relay::config::admin_addr_from_env() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!(
                "bridge-relay healthcheck: {}: {error}",
                bridge_relay::config::ADMIN_ADDR
            );
            return ExitCode::FAILURE;
        }
    };
    let target = probe::probe_target(bound);
    match probe::check(target, probe::PROBE_TIMEOUT) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bridge-relay healthcheck: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}
