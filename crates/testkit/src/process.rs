//! connect-sim as a child process (`--port 0`), for runs whose sockets and CPU must not be
//! counted as the process under test's, or that stop and start it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Longest connect-sim may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running connect-sim child, killed when dropped.
#[derive(Debug)]
pub struct SimProcess {
    /// `http://127.0.0.1:PORT` (`https://` when serving TLS).
    pub url: String,
    /// The child, for signals and its exit status.
    pub child: Child,
}

impl SimProcess {
    /// Starts `binary` on a free port with `args` as well, and waits for its address line
    /// (`connect_sim::listening_url`). Its log goes to this process's stderr, at `warn`.
    ///
    /// # Errors
    /// The binary cannot be started, exits, or prints no address within 30 s.
    pub async fn spawn(binary: &Path, args: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("connect-sim's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .with_context(|| format!("connect-sim did not print its address in {START_TIMEOUT:?}"))?
            .context("reading connect-sim's stdout")?
            .context("connect-sim exited before printing its address")?;
        let url = connect_sim::listening_url(&first)
            .with_context(|| format!("unexpected first line from connect-sim: {first:?}"))?
            .to_owned();
        Ok(Self { url, child })
    }

    /// Kills the sim and waits for it.
    ///
    /// # Errors
    /// When it cannot be killed or waited for.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("killing connect-sim")?;
        self.child.wait().await.context("waiting for connect-sim")?;
        Ok(())
    }
}
