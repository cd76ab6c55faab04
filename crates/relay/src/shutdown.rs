//! Process shutdown: one root cancellation token, cancelled on SIGINT or SIGTERM.

use tokio_util::sync::CancellationToken;

/// Waits for SIGINT or SIGTERM, then cancels `root`, so every child task stops.
///
/// # Errors
/// Fails when the signal handlers cannot be installed.
pub async fn cancel_on_signal(root: CancellationToken) -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    tracing::info!("shutdown signal received");
    root.cancel();
    Ok(())
}
