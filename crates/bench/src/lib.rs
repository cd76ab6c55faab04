//! `bridge-bench`: the measuring tools behind `make bench-relay` and `make bench-inbound`,
//! for what criterion cannot measure in-process (another process's memory, a binary's
//! start-up, calls that cross the wire).
//!
//! # Layout
//! - [`probe`]: process RSS and CPU from `/proc`, Prometheus values, percentiles.
//! - [`sim`]: connect-sim as a subprocess with the limits lifted, so its CPU and sockets are
//!   not counted as ours.
//! - [`calls`]: an AWS SDK interceptor that records every operation and attempt, and the
//!   bridge's clients built with it.
//! - [`runtime_api`]: a local stand-in for the Lambda Runtime API, so a Lambda binary runs
//!   here as it does in Lambda (start-up time, invocations, init errors).
//! - [`chaos`]: many chats through the whole local stack while relays crash and services
//!   fail, then every delivery property checked (`make chaos`, and briefly in `make test`).
//!
//! The binaries: `relay-load` (src/bin/relay-load), `inbound-bench`
//! (src/bin/inbound-bench) and `hello-lambda`, the yardstick for start-up.

pub mod calls;
pub mod chaos;
pub mod inbound;
pub mod probe;
pub mod runtime_api;
pub mod sim;
