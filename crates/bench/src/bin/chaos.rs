//! `chaos`: the chaos run (`bridge_bench::chaos`) from the command line, as `make chaos`
//! runs it: many chats through the local stack while relays crash, hand over, DynamoDB
//! throttles and SNS fails; prints the figures and exits non-zero if a property failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Many chats through the local stack while things go wrong; then every property checked.
#[derive(Debug, Parser)]
#[command(name = "chaos", version)]
struct Args {
    /// Chats (one customer each).
    #[arg(long, default_value_t = 500)]
    chats: usize,
    /// Relays killed with SIGKILL (each restarted); one more is handed over with SIGTERM.
    #[arg(long, default_value_t = 3)]
    kills: usize,
    /// moto (SNS, S3).
    #[arg(long, env = "BRIDGE_TEST_MOTO_ENDPOINT")]
    moto: String,
    /// DynamoDB Local.
    #[arg(long, env = "BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT")]
    dynamodb: String,
    /// Directory of bridge-relay and connect-sim (default: this binary's).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Also write the figures (markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let bin_dir = match args.bin_dir.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(PathBuf::from))
    }) {
        Some(dir) => dir,
        None => {
            eprintln!("chaos: cannot find the binaries' directory; pass --bin-dir");
            return ExitCode::from(2);
        }
    };
    let params = bridge_bench::chaos::Params {
        chats: args.chats,
        kills: args.kills,
        bin_dir,
        moto: args.moto.trim_end_matches('/').to_owned(),
        dynamodb: args.dynamodb.trim_end_matches('/').to_owned(),
    };
    match bridge_bench::chaos::run(params).await {
        Ok(figures) => {
            let table = figures.markdown();
            println!("chaos run passed\n\n{table}");
            if let Some(out) = &args.out
                && let Err(error) = std::fs::write(out, &table)
            {
                eprintln!("chaos: writing {}: {error}", out.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("chaos run FAILED: {error:#}");
            ExitCode::FAILURE
        }
    }
}
