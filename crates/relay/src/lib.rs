//! `bridge-relay`: the long-running service that carries agent replies back to phones.
//!
//! It holds shard leases in DynamoDB, keeps one participant WebSocket per active session of
//! its shards, catches up from GetTranscript after every gap, and publishes AGENT and
//! SYSTEM messages as SMS through SNS — in order, advancing the session's `relay_cursor`
//! only after SNS accepted every part (see ARCHITECTURE.md, "Relay").
//!
//! # Layout
//! - [`service`]: [`run`] wires the parts below and shuts them down in order.
//! - [`config`]: the relay's typed configuration, validated at start-up.
//! - [`leases`]: shard leases, fair share among live instances, draining before release.
//! - [`discovery`]: owned shards → one worker per active session (and back).
//! - [`worker`]: one session: connect, subscribe, catch up, stream, keep alive, reconnect.
//! - [`ws`]: the WebSocket transport (small buffers; rustls for `wss://`).
//! - [`frame`]: the participant WebSocket frames, parsed (pure).
//! - [`forward`]: what an item means for the phone (pure).
//! - [`progress`]: the cursor and the catch-up/stream dedupe (pure).
//! - [`backoff`]: capped exponential backoff with full jitter (`bridge_core::backoff`,
//!   which the inbound handler uses too).
//! - [`rate`]: this instance's share of Connect's CreateParticipantConnection quota.
//! - [`metrics`], [`admin`]: Prometheus metrics and the `/healthz` `/readyz` `/metrics` listener.
//! - [`report`]: the metrics the alarms need, as a log line a minute (CloudWatch, no agent).
//! - [`shutdown`]: SIGINT/SIGTERM → the root cancellation token.
//! - [`error`]: the relay's errors.

pub mod admin;
pub use bridge_core::backoff;
pub mod config;
pub mod discovery;
pub mod error;
pub mod forward;
pub mod frame;
pub mod lean_tls;
pub mod leases;
pub mod metrics;
pub mod probe;
pub mod progress;
pub mod rate;
pub mod report;
pub mod service;
pub mod shutdown;
pub mod worker;
pub mod ws;

pub use config::Config;
pub use service::{Ports, run};
