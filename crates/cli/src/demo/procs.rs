//! The demo's child processes: started in their own process group (so a Ctrl-C in the
//! terminal reaches the demo, which then stops them in order), PIDs written to a file
//! (so `scripts/demo-stop.sh` can clean up after a demo that was killed), stopped by PID
//! with SIGTERM, then SIGKILL after a deadline.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rustix::process::{Pid, Signal, kill_process};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// One process the demo started.
pub struct Managed {
    /// What it is (`moto`, `connect-sim`, `bridge-relay`).
    pub name: &'static str,
    /// Its PID.
    pub pid: u32,
    child: Child,
}

/// The demo's processes, and the tasks copying their output to log files.
pub struct Supervisor {
    dir: PathBuf,
    pid_file: PathBuf,
    children: Vec<Managed>,
    copiers: JoinSet<()>,
}

impl Supervisor {
    /// A supervisor writing logs and the PID file under `dir`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            pid_file: dir.join("pids"),
            children: Vec::new(),
            copiers: JoinSet::new(),
        })
    }

    /// The PID file (`name pid` per line).
    pub fn pid_file(&self) -> &Path {
        &self.pid_file
    }

    /// Starts `command` as `name`, stderr (and stdout unless `keep_stdout`) to
    /// `<dir>/<name>.log`. With `keep_stdout`, returns its stdout for the caller to read
    /// first lines from; the caller hands it back with [`Self::copy_rest`].
    ///
    /// # Errors
    /// The log cannot be created or the program cannot be started.
    pub fn spawn(
        &mut self,
        name: &'static str,
        mut command: Command,
        keep_stdout: bool,
    ) -> anyhow::Result<(u32, Option<ChildStdout>)> {
        let log = self.dir.join(format!("{name}.log"));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let stderr = file
            .try_clone()
            .with_context(|| format!("opening {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true);
        if keep_stdout {
            command.stdout(Stdio::piped());
        } else {
            command.stdout(Stdio::from(file));
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let Some(pid) = child.id() else {
            bail!("{name} exited at once; see {}", log.display());
        };
        let stdout = child.stdout.take();
        self.children.push(Managed { name, pid, child });
        self.write_pid_file();
        Ok((pid, stdout))
    }

    /// Reads `stdout` line by line (each copied to the child's log) until `found` returns
    /// a value, or `deadline` passes, or the stream ends; then keeps copying the rest to
    /// the log in a background task owned by the supervisor.
    ///
    /// # Errors
    /// The deadline passed or the process closed its output first.
    pub async fn read_until<T>(
        &mut self,
        name: &'static str,
        stdout: ChildStdout,
        deadline: Instant,
        mut found: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let log = self.log_of(name);
        let mut file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .await
            .with_context(|| format!("opening {}", log.display()))?;
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = match timeout_at(deadline, lines.next_line()).await {
                Err(_) => bail!(
                    "{name} did not say it was ready in time; see {}",
                    log.display()
                ),
                Ok(Err(error)) => return Err(error).with_context(|| format!("reading {name}")),
                Ok(Ok(None)) => bail!("{name} exited while starting; see {}", log.display()),
                Ok(Ok(Some(line))) => line,
            };
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
            if let Some(value) = found(&line) {
                self.copiers.spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        if file
                            .write_all(format!("{line}\n").as_bytes())
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                });
                return Ok(value);
            }
        }
    }

    /// The log file of `name`.
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Resolves when any child exits, with its name and status.
    pub async fn any_exit(&mut self) -> (&'static str, std::io::Result<ExitStatus>) {
        if self.children.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.children.iter_mut().map(|managed| {
            let name = managed.name;
            Box::pin(async move { (name, managed.child.wait().await) })
        });
        let ((name, status), _, _) = futures_util::future::select_all(waits).await;
        (name, status)
    }

    /// Whether `name`'s process is still running.
    pub fn is_running(&mut self, name: &str) -> bool {
        self.children
            .iter_mut()
            .find(|managed| managed.name == name)
            .is_some_and(|managed| matches!(managed.child.try_wait(), Ok(None)))
    }

    /// Stops every child, last started first: SIGTERM, then SIGKILL after a deadline.
    /// Reports each on stderr (the demo's own output).
    pub async fn stop_all(&mut self) {
        while let Some(mut managed) = self.children.pop() {
            stop(&mut managed).await;
            self.write_pid_file();
        }
        self.copiers.abort_all();
        while self.copiers.join_next().await.is_some() {}
        let _ = std::fs::remove_file(&self.pid_file);
    }

    fn write_pid_file(&self) {
        let text: String = self
            .children
            .iter()
            .map(|managed| format!("{} {}\n", managed.name, managed.pid))
            .collect();
        if let Err(error) = std::fs::write(&self.pid_file, text) {
            tracing::warn!(%error, path = %self.pid_file.display(), "cannot write the pid file");
        }
    }
}

async fn stop(managed: &mut Managed) {
    if let Ok(Some(status)) = managed.child.try_wait() {
        eprintln!(
            "{} (pid {}) had exited: {status}",
            managed.name, managed.pid
        );
        return;
    }
    let pid = i32::try_from(managed.pid).ok().and_then(Pid::from_raw);
    if let Some(pid) = pid
        && let Err(error) = kill_process(pid, Signal::TERM)
    {
        tracing::warn!(%error, name = managed.name, "SIGTERM failed");
    }
    let deadline = Instant::now() + STOP_DEADLINE;
    match timeout_at(deadline, managed.child.wait()).await {
        Ok(_) => eprintln!("stopped {} (pid {})", managed.name, managed.pid),
        Err(_) => {
            eprintln!(
                "{} (pid {}) ignored SIGTERM for {} s; killing it",
                managed.name,
                managed.pid,
                STOP_DEADLINE.as_secs()
            );
            let _ = managed.child.kill().await;
        }
    }
}
