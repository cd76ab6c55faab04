//! `connect-sim`: a local, in-memory implementation of the Amazon Connect chat service.
//!
//! It serves the Connect chat operations (StartChatContact, StopContact,
//! UpdateParticipantRoleConfig with its idle timers), the Connect
//! Participant operations, the participant WebSocket, an agent control API and a web agent
//! console on one port, plus End User Messaging SMS's SendTextMessage with its delivery
//! events (the SMS side of the bridge, which moto lacks), faithfully enough that the official clients (the AWS SDKs and
//! amazon-connect-chatjs) work against it unmodified. Its rules come from
//! docs/connect-chat.md at the repository root; it depends on no crate of the bridge, so
//! the bridge's own bugs cannot make it agree with them.
//!
//! # Layout
//! - [`config`]: [`SimConfig`], AWS defaults for every lifetime and limit.
//! - [`archive`]: ended chats' transcripts written to S3, as Connect writes them.
//! - [`sms`]: a stand-in for End User Messaging SMS's SendTextMessage, publishing delivery
//!   events to SNS.
//! - [`model`]: the service state and its rules, pure (no I/O, time passed in).
//! - [`hub`]: socket registry and `aws/chat` fan-out with bounded per-socket queues.
//! - [`state`]: the lock around model and hub, shared by handlers and tasks.
//! - [`http`]: routes — Connect, Participant, SendTextMessage, and the `/sim` control API.
//! - [`ws`]: the participant WebSocket protocol.
//! - [`console`]: the web agent console at `/`.
//! - [`faults`], [`quotas`]: fault injection and TPS token buckets.
//! - [`time`]: AWS time strings and the test-movable clock.
//! - [`tls`]: HTTPS and WSS with a CA made at start (local use and tests).
//! - [`server`]: [`serve`], [`spawn`] and [`RunningSim`].
//! - [`error`]: [`ApiError`] in AWS's restJson1 error shape, and [`ServeError`].

pub mod archive;
pub mod config;
pub mod console;
pub mod error;
pub mod faults;
pub mod http;
pub mod hub;
pub mod model;
pub mod quotas;
pub mod server;
pub mod sms;
pub mod state;
pub mod time;
pub mod tls;
pub mod ws;

pub use config::SimConfig;
pub use error::{ApiError, ServeError};
pub use server::{RunningSim, serve, spawn};

/// What the `connect-sim` binary's first stdout line starts with; its base URL follows
/// (`connect-sim listening on http://127.0.0.1:PORT`). Programs that start the binary
/// read the address from it.
pub const LISTENING_ON: &str = "connect-sim listening on ";

/// The base URL in the binary's first stdout line, or `None` if `line` is not that line.
pub fn listening_url(line: &str) -> Option<&str> {
    line.strip_prefix(LISTENING_ON).map(str::trim)
}
