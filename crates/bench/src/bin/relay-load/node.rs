//! The yardstick: `tests/load/node-ws-baseline.mjs` (npm `ws`), which only opens,
//! subscribes and heartbeats N participant sockets against the same connect-sim. The chats
//! are started here and their URLs handed over, so the process holds only its sockets.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A running yardstick.
pub struct NodeClient {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeClient {
    /// Starts `node script` and hands it the WebSocket URLs on stdin; Node trusts
    /// `extra_ca` (`NODE_EXTRA_CA_CERTS`) besides its own roots when given.
    pub async fn spawn(
        node: &str,
        script: &Path,
        urls: &[String],
        extra_ca: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(node);
        if let Some(path) = extra_ca {
            command.env("NODE_EXTRA_CA_CERTS", path);
        }
        let mut child = command
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {node} {}", script.display()))?;
        let mut stdin = child.stdin.take().context("node stdin")?;
        stdin.write_all(urls.join("\n").as_bytes()).await?;
        stdin.write_all(b"\n").await?;
        drop(stdin);
        let stdout = child.stdout.take().context("node stdout")?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Waits for `ready <count>`: every socket open and subscribed.
    pub async fn ready(&mut self, within: Duration) -> anyhow::Result<usize> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .context("the node client was not ready in time")??
                .context("the node client exited before it was ready")?;
            if let Some(count) = line.strip_prefix("ready ") {
                return count.trim().parse().context("ready line");
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the client.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("killing node")?;
        self.child.wait().await.context("waiting for node")?;
        Ok(())
    }
}
