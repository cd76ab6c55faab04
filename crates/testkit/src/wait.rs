//! Waiting for something the emulators or the bridge do in their own time.

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 50 ms until it returns `Some`.
///
/// # Panics
/// After `within`, naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_every(Duration::from_millis(50), what, within, check).await
}

/// Polls `check` every `period` until it returns `Some`.
///
/// # Panics
/// After `within`, naming `what`.
pub async fn poll_every<T, F, Fut>(
    period: Duration,
    what: &str,
    within: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(period).await;
    }
}
