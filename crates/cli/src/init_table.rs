//! `bridge init-table`: creates the bridge's DynamoDB table (sessions, dedupe markers,
//! leases) with the adapter's own schema, as the demo and tests do.

use std::process::ExitCode;

use bridge_aws::dynamo::create_table;
use bridge_aws::error::TableError;
use bridge_aws::{ClientSettings, Clients};

use crate::config::StackArgs;

/// `bridge init-table` flags.
#[derive(Debug, clap::Args)]
pub struct InitTableArgs {
    /// Fail when the table exists already (by default an existing table is fine).
    #[arg(long)]
    pub fail_if_exists: bool,
}

/// What became of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// Created now.
    New,
    /// It was there already.
    Existing,
}

/// Creates `table` unless it exists.
///
/// # Errors
/// DynamoDB refused or did not answer.
pub async fn ensure_table(clients: &Clients, table: &str) -> Result<Created, TableError> {
    match create_table(&clients.dynamodb, table).await {
        Ok(()) => Ok(Created::New),
        Err(TableError::AlreadyExists { .. }) => Ok(Created::Existing),
        Err(error) => Err(error),
    }
}

/// Runs `bridge init-table`.
///
/// # Errors
/// Configuration errors, and DynamoDB's.
pub async fn run(stack_args: &StackArgs, args: InitTableArgs) -> anyhow::Result<ExitCode> {
    let config = stack_args.bridge_config()?;
    let table = config.table_name.as_str();
    let clients = stack_args.clients(&ClientSettings::default()).await;
    match ensure_table(&clients, table).await? {
        Created::New => println!("table {table} created"),
        Created::Existing if args.fail_if_exists => {
            println!("table {table} exists already");
            return Ok(ExitCode::FAILURE);
        }
        Created::Existing => println!("table {table} exists already"),
    }
    Ok(ExitCode::SUCCESS)
}
