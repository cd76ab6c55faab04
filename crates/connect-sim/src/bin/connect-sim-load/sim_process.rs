//! The emulator under load: a child `connect-sim` process (or a running one), and its memory.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// A sim to load.
pub struct SimProcess {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    pid: Option<u32>,
    child: Option<Child>,
}

impl SimProcess {
    /// Starts `binary --port 0` with limits lifted for load, and reads its address line.
    pub async fn start(binary: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args([
                "--port",
                "0",
                "--concurrent-chat-limit",
                "0",
                "--idle-socket-timeout-secs",
                "3600",
            ])
            .env(
                "RUST_LOG",
                std::env::var("SIM_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("sim stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            let Some(line) = lines.next_line().await.context("reading sim stdout")? else {
                bail!("connect-sim exited before printing its address");
            };
            if let Some(url) = connect_sim::listening_url(&line) {
                break url.to_owned();
            }
        };
        eprintln!("started connect-sim (pid {:?}) at {base_url}", child.id());
        Ok(Self {
            base_url,
            pid: child.id(),
            child: Some(child),
        })
    }

    /// Uses a sim that is already running.
    pub fn attach(base_url: String, pid: Option<u32>) -> Self {
        Self {
            base_url,
            pid,
            child: None,
        }
    }

    /// Resident memory (VmRSS) in KiB, when the pid is known.
    pub fn rss_kib(&self) -> Option<u64> {
        self.status_field("VmRSS:")
    }

    /// Peak resident memory (VmHWM) in KiB, when the pid is known.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.status_field("VmHWM:")
    }

    fn status_field(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    }

    /// Stops a child sim (SIGKILL through tokio; it holds no state worth flushing).
    pub async fn stop(mut self) {
        if let Some(child) = self.child.as_mut()
            && let Err(error) = child.kill().await
        {
            eprintln!("could not stop connect-sim: {error}");
        }
    }
}

/// The soft limit on open files of this process (inherited by the child sim).
pub fn open_files_limit() -> anyhow::Result<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").context("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no 'Max open files' line")?;
    let soft = line
        .split_whitespace()
        .nth(3)
        .context("malformed 'Max open files' line")?;
    Ok(if soft == "unlimited" {
        u64::MAX
    } else {
        soft.parse().context("parsing the open-files limit")?
    })
}
