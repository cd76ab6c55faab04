//! connect-sim as a subprocess (`bridge_testkit::SimProcess`), so its sockets and CPU are
//! not counted as the relay's, with the AWS limits that would get in a benchmark's way
//! lifted.

use std::path::Path;

use anyhow::Context as _;
use bridge_testkit::SimProcess;

/// The flags that lift the limits: no concurrent-chat quota, no customer-connect or idle
/// socket timeouts within a run, and participant URLs valid long enough for the yardstick,
/// whose URLs are all issued before it opens them.
const UNLIMITED: [&str; 8] = [
    "--concurrent-chat-limit",
    "0",
    "--customer-connect-timeout-secs",
    "86400",
    "--idle-socket-timeout-secs",
    "86400",
    "--websocket-url-validity-secs",
    "900",
];

/// Starts `binary` with the limits lifted and waits for its address line.
///
/// # Errors
/// As [`SimProcess::spawn`].
pub async fn spawn(binary: &Path) -> anyhow::Result<SimProcess> {
    spawn_with(binary, None).await
}

/// The same, serving HTTPS and WSS with a CA it writes to `tls_ca_out` when given.
///
/// # Errors
/// As [`SimProcess::spawn`]; a `tls_ca_out` that is not UTF-8.
pub async fn spawn_with(binary: &Path, tls_ca_out: Option<&Path>) -> anyhow::Result<SimProcess> {
    let mut args = UNLIMITED.to_vec();
    if let Some(path) = tls_ca_out {
        let path = path
            .to_str()
            .with_context(|| format!("{} is not UTF-8", path.display()))?;
        args.extend(["--tls-ca-out", path]);
    }
    SimProcess::spawn(binary, &args).await
}
