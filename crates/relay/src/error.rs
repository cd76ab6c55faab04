//! The relay's errors. Each keeps its cause, and each session error names a metric `kind`,
//! so a log line and a counter always agree on what went wrong.

use bridge_core::ports::{ChatError, SmsError, StoreError};

/// Why one connection of a session failed. The session recovers by itself: it backs off,
/// reconnects and catches up, so these are logged at WARN and counted.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// CreateParticipantConnection failed (other than "chat ended").
    #[error("create participant connection failed")]
    Connection(#[source] ChatError),
    /// CreateParticipantConnection answered without a URL or token.
    #[error("create participant connection returned no websocket or no connection token")]
    IncompleteConnection,
    /// The WebSocket handshake or transport failed.
    #[error("websocket failed")]
    Socket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The service refused our subscription.
    #[error("subscription to aws/chat refused")]
    SubscribeRefused,
    /// The service closed the socket (without ending the chat first).
    #[error("websocket closed by the service")]
    Closed,
    /// A heartbeat went unanswered for a whole period.
    #[error("heartbeat unanswered: socket presumed dead")]
    HeartbeatMissed,
    /// GetTranscript failed (other than "chat ended").
    #[error("get transcript failed")]
    Transcript(#[source] ChatError),
    /// UpdateParticipantRoleConfig (the idle timers) failed.
    #[error("setting the idle timers failed")]
    Timers(#[source] ChatError),
    /// SNS kept failing with retriable errors for every attempt.
    #[error("sms publish failed after every attempt")]
    Sms(#[source] SmsError),
    /// Writing the cursor or ending the chat kept failing.
    #[error("session store write failed")]
    Store(#[source] StoreError),
    /// A chat frame could not be read; the session resynchronises from the transcript.
    #[error("unreadable chat frame")]
    Frame(#[source] crate::frame::FrameError),
    /// A call did not answer in time.
    #[error("{call} timed out")]
    Timeout {
        /// Which call.
        call: &'static str,
    },
}

impl SessionError {
    /// The `kind` label of `relay_errors_total` for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connection(_) | Self::IncompleteConnection => "connection",
            Self::Socket(_) => "socket",
            Self::SubscribeRefused => "subscribe",
            Self::Closed => "closed",
            Self::HeartbeatMissed => "heartbeat",
            Self::Transcript(_) => "transcript",
            Self::Sms(_) => "sms",
            Self::Store(_) => "store",
            Self::Frame(_) => "frame",
            Self::Timers(_) => "idle_timers",
            Self::Timeout { .. } => "timeout",
        }
    }

    /// Whether the same call may succeed if retried in place (the session's other
    /// failures are recovered by reconnecting instead).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Sms(error) => error.is_retriable(),
            Self::Store(error) => error.is_retriable(),
            Self::Timers(error) => error.is_retriable(),
            Self::Timeout { .. } => true,
            Self::Connection(_)
            | Self::IncompleteConnection
            | Self::Socket(_)
            | Self::SubscribeRefused
            | Self::Closed
            | Self::HeartbeatMissed
            | Self::Transcript(_)
            | Self::Frame(_) => false,
        }
    }
}

/// Awaits `future` for at most `limit`: running out of time is
/// [`SessionError::Timeout`] naming `call`. The one place a relay call's timeout becomes an
/// error.
///
/// # Errors
/// [`SessionError::Timeout`] when `limit` passed first.
pub async fn timed<T>(
    limit: std::time::Duration,
    call: &'static str,
    future: impl std::future::Future<Output = T>,
) -> Result<T, SessionError> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| SessionError::Timeout { call })
}

impl From<tokio_tungstenite::tungstenite::Error> for SessionError {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::Socket(Box::new(error))
    }
}

/// Why the relay service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The admin listener failed.
    #[error("admin listener failed")]
    Admin(#[source] std::io::Error),
    /// A relay component panicked or ended before shutdown.
    #[error("relay component {component} stopped unexpectedly")]
    Component {
        /// Which one.
        component: &'static str,
    },
}

pub use bridge_core::report::chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_prints_every_cause() {
        let error = SessionError::Store(StoreError::Conflict { what: "cursor" });
        assert_eq!(
            chain(&error),
            "session store write failed: conditional write lost: cursor"
        );
        assert_eq!(error.kind(), "store");
    }
}
