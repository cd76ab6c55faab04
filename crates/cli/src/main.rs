//! `bridge`: the command-line entry to the bridge for people and scripts.
//!
//! Subcommands: `sms` (one text through the inbound handler, in-process), `replay` (a
//! recording of inbound events, to the handler, an SNS topic or a Lambda function),
//! `outbox` (the SMS the bridge sent, from the local SNS emulator), `init-table`, `demo`
//! (the whole bridge locally, with a phone page and the agent console), and `check`
//! (parse a recording offline). Everything talks to the local emulators unless `--aws`
//! is given (see [`config`]).
//!
//! # Layout
//! - [`config`]: shared flags, local defaults, SDK clients.
//! - [`stack`]: the inbound handler wired as the Lambda wires it; [`meter`] times its calls.
//! - [`sms`], [`replay`], [`outbox`], [`init_table`], [`check`], [`demo`]: one per
//!   subcommand; [`sim`] drives connect-sim's control API for the demo.

mod check;
mod demo;
mod init_table;
mod outbox;
mod replay;
mod sms;

// The library half (src/lib.rs), under the names the subcommands use.
use bridge_cli::{config, meter, stack};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::StackArgs;

/// Log filter unless RUST_LOG says otherwise: the CLI reports outcomes itself, so the
/// in-process handler's own per-text logs are off (`RUST_LOG=bridge_inbound=info` shows
/// them).
const DEFAULT_LOG_FILTER: &str = "warn,bridge_inbound=off";

#[derive(Debug, Parser)]
#[command(
    name = "bridge",
    version,
    about = "SMS <-> Amazon Connect chat bridge",
    after_help = "Local defaults (without --aws): moto http://127.0.0.1:5055 (DynamoDB, SNS), \
                  connect-sim http://127.0.0.1:8787 (Connect), region us-east-1, credentials \
                  test/test, table bridge-local, instance local-instance, support lines \
                  +18005550100 and +18005550199, 4 relay shards."
)]
struct Cli {
    #[command(flatten)]
    stack: StackArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send one text as a customer: runs the inbound handler in-process.
    Sms(sms::SmsArgs),
    /// Replay recorded inbound SMS events (JSON Lines).
    Replay(replay::ReplayArgs),
    /// Show the SMS the bridge sent (from the local SNS emulator).
    Outbox(outbox::OutboxArgs),
    /// Create the bridge's DynamoDB table.
    InitTable(init_table::InitTableArgs),
    /// Run the whole bridge locally: emulators, relay, phone page, agent console.
    Demo(demo::DemoArgs),
    /// Parse every line of a recording offline and report each outcome.
    Check {
        /// JSON Lines file: each line a raw End User Messaging payload or a whole SNS event.
        file: PathBuf,
    },
}

/// The command line, with `--help` listing the bridge variables `--aws` mode reads.
fn parse() -> Cli {
    let vars = format!(
        "With --aws, the standard AWS environment and these bridge variables apply:\n{}",
        bridge_core::usage::describe(&bridge_core::config::VARS)
    );
    let command = Cli::command();
    let local = command
        .get_after_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    // -h and --help alike: a person asking for help gets every variable.
    let command = command.after_help(format!("{local}\n\n{vars}"));
    match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Sms(args) => sms::run(&cli.stack, args).await,
        Command::Replay(args) => replay::run(&cli.stack, args).await,
        Command::Outbox(args) => outbox::run(&cli.stack, args).await,
        Command::InitTable(args) => init_table::run(&cli.stack, args).await,
        Command::Demo(args) => demo::run(&cli.stack, args).await,
        Command::Check { file } => check::run(&file),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("bridge: {error:#}");
            ExitCode::from(2)
        }
    }
}
