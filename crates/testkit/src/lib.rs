//! `bridge-testkit`: what the bridge's tests and test runs share, never a dependency of a
//! deployed binary.
//!
//! # Layout
//! - [`faults`]: [`FaultProxy`], a fault-injecting HTTP proxy in front of the local AWS
//!   emulators (errors in each service's protocol, latency, black holes), in process or as
//!   the `fault-proxy` binary.
//! - [`tls`]: HTTP clients that trust a local emulator's CA.

pub mod contract;
pub mod faults;
pub mod tls;

pub use faults::{Fault, FaultProxy, Rule};
