//! `fault-proxy`: [`bridge_testkit::FaultProxy`] as a process, for runs of the real binaries
//! (`make chaos`): it forwards everything to `--upstream` unless a rule posted to its
//! control API (`POST /_faults` with a JSON rule, `DELETE /_faults` to clear,
//! `GET /_faults` for counts) says otherwise. The first stdout line is
//! `fault-proxy listening on http://HOST:PORT`.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser;

/// A fault-injecting proxy in front of a local AWS emulator (tests only).
#[derive(Debug, Parser)]
#[command(name = "fault-proxy", version)]
struct Args {
    /// The emulator to forward to (moto: http://127.0.0.1:5055).
    #[arg(long)]
    upstream: String,
    /// Port to listen on, on 127.0.0.1 (0: a free one, printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding port {}", args.port))?;
    let proxy = bridge_testkit::FaultProxy::serve(listener, &args.upstream).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "fault-proxy listening on {}", proxy.url())?;
    stdout.flush()?;
    drop(stdout);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    Ok(())
}
