//! The relay under test, in its own process so its RSS and CPU are its own: reads the
//! seeded session records on stdin into core's in-memory store (the stand-in for
//! DynamoDB), then runs `bridge_relay::run` — the binary's code path — until SIGTERM.
//!
//! Protocol on stdout: `loaded <n>` once the store holds the sessions, `admin <addr>` once
//! the relay runs, then one `sms <unix-nanos> <body>` line per SMS.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::sync::Arc;

use anyhow::Context as _;
use bridge_aws::ConnectChat;
use bridge_core::ports::{SessionStore, SystemClock};
use bridge_core::testing::MemoryStore;
use bridge_relay::{Config, Ports, shutdown};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::seed::{self, Record};
use crate::timing::TimingSms;

/// Runs the relay process.
pub async fn run(
    sim: &str,
    shards: NonZeroU16,
    sessions: usize,
    discovery_ms: u64,
    extra_ca: Option<&std::path::Path>,
    connect: (u32, u32),
) -> anyhow::Result<()> {
    let store = Arc::new(MemoryStore::new());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut loaded = 0usize;
    while let Some(line) = lines.next_line().await.context("reading records")? {
        let record: Record = serde_json::from_str(&line).context("parsing a record")?;
        let session = record.session(shards)?;
        let stored = store.put(&session, None).await?;
        debug_assert_eq!(stored.version, 1);
        loaded += 1;
    }
    anyhow::ensure!(
        loaded == sessions,
        "expected {sessions} records, got {loaded}"
    );
    say(&format!("loaded {loaded}\n")).await?;

    let ca = extra_ca.map(crate::read_ca).transpose()?;
    let aws = crate::sdk_config(sim, ca.as_ref());
    let chat = Arc::new(ConnectChat::new(
        aws_sdk_connect::Client::new(&aws),
        aws_sdk_connectparticipant::Client::new(&aws),
    ));
    let (sms, writer) = TimingSms::start();
    let sms = Arc::new(sms);
    let ports = Ports {
        sessions: store.clone(),
        leases: store,
        chat: chat.clone(),
        timers: chat,
        sms: sms.clone(),
        clock: Arc::new(SystemClock),
        archive: None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    say(&format!("admin {}\n", listener.local_addr()?)).await?;
    let root = CancellationToken::new();
    let signals = tokio::spawn(shutdown::cancel_on_signal(root.clone()));
    let config = config(shards, sessions, discovery_ms, extra_ca, connect)?;
    let result = bridge_relay::run(config, ports, listener, root).await;
    signals.abort();
    let _ = signals.await;
    if sms.dropped() > 0 {
        eprintln!("relay-load: {} sms reports dropped", sms.dropped());
    }
    drop(sms);
    writer
        .await
        .context("sms writer")?
        .context("writing sms reports")?;
    result.context("relay")
}

async fn say(line: &str) -> anyhow::Result<()> {
    let mut stdout = tokio::io::stdout();
    stdout.write_all(line.as_bytes()).await?;
    stdout.flush().await?;
    Ok(())
}

fn config(
    shards: NonZeroU16,
    sessions: usize,
    discovery_ms: u64,
    extra_ca: Option<&std::path::Path>,
    (connect_rate, connect_burst): (u32, u32),
) -> anyhow::Result<Config> {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("BRIDGE_CONNECT_INSTANCE_ID", seed::INSTANCE.to_owned()),
        (
            "BRIDGE_SUPPORT_LINES",
            format!("{}={}", seed::SUPPORT, seed::FLOW),
        ),
        ("BRIDGE_TABLE_NAME", "relay-load".to_owned()),
        ("BRIDGE_SHARD_COUNT", shards.to_string()),
        ("BRIDGE_JOINED_NOTICE", "false".to_owned()),
        ("BRIDGE_RELAY_OWNER_ID", "relay-load".to_owned()),
        ("BRIDGE_RELAY_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("BRIDGE_RELAY_MAX_SESSIONS", (sessions + 1).to_string()),
        ("BRIDGE_RELAY_DISCOVERY_MS", discovery_ms.to_string()),
        // connect-sim runs without Connect's quotas here. The load benchmark measures the
        // relay holding N sessions (no limit); the fail-over one, how long N connections
        // take at a rate.
        ("BRIDGE_RELAY_CONNECT_RATE", connect_rate.to_string()),
        (
            "BRIDGE_RELAY_CONNECT_BURST",
            connect_burst.max(1).to_string(),
        ),
    ]);
    if let Some(path) = extra_ca {
        vars.insert(
            bridge_relay::config::EXTRA_CA_FILE,
            path.display().to_string(),
        );
    }
    Config::from_lookup(|name| vars.get(name).cloned()).map_err(|error| anyhow::anyhow!("{error}"))
}
