//! connect-sim as a subprocess (`--port 0`), so its sockets and CPU are not counted as
//! the relay's, with the AWS limits that would get in a benchmark's way lifted.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running connect-sim.
pub struct Sim {
    /// `http://127.0.0.1:PORT` (`https://` when serving TLS).
    pub url: String,
    child: Child,
}

impl Sim {
    /// Starts `binary` and waits for its address line.
    pub async fn spawn(binary: &Path) -> anyhow::Result<Self> {
        Self::spawn_with(binary, None).await
    }

    /// The same, serving HTTPS and WSS with a CA it writes to `tls_ca_out` when given.
    pub async fn spawn_with(binary: &Path, tls_ca_out: Option<&Path>) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        if let Some(path) = tls_ca_out {
            command.arg("--tls-ca-out").arg(path);
        }
        let mut child = command
            .args([
                "--port",
                "0",
                "--concurrent-chat-limit",
                "0",
                "--customer-connect-timeout-secs",
                "86400",
                "--idle-socket-timeout-secs",
                "86400",
                // The yardstick's URLs are all issued before it opens them.
                "--websocket-url-validity-secs",
                "900",
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("sim stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("connect-sim did not print its address in 30 s")??
            .context("connect-sim exited before printing its address")?;
        let url = connect_sim::listening_url(&first)
            .with_context(|| format!("unexpected first line from connect-sim: {first:?}"))?
            .to_owned();
        Ok(Self { url, child })
    }

    /// Stops the sim.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("killing connect-sim")?;
        self.child.wait().await.context("waiting for connect-sim")?;
        Ok(())
    }
}
