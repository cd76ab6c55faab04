//! `bridge-testkit`: what the bridge's tests and test runs share, never a dependency of a
//! deployed binary.
//!
//! # Layout
//! - [`faults`]: [`FaultProxy`], a fault-injecting HTTP proxy in front of the local AWS
//!   emulators (errors in each service's protocol, latency, black holes), in process or as
//!   the `fault-proxy` binary.

pub mod faults;

pub use faults::{Fault, FaultProxy, Rule};
