//! `bridge-testkit`: what the bridge's tests, benchmarks and local tools share with each
//! other; never a dependency of a deployed binary (the inbound Lambda, the relay).
//!
//! Without features it holds what reads and wires the local emulators, which the `bridge`
//! CLI's demo and `bridge outbox` (a local tool, never deployed) use as well. Fault
//! injection is behind the `faults` feature, the store contract (and bridge-core's in-memory
//! fakes it brings) behind `contract`; only tests and benchmarks turn them on.
//!
//! # Layout
//! - [`emulators`]: finding moto and DynamoDB Local, SDK configurations and clients for
//!   them, and the variables that point a child process at them.
//! - [`sim`]: [`SimControl`], a typed client of connect-sim's control API (`/sim`).
//! - [`moto`]: what moto recorded (SMS, topic notifications).
//! - [`process`]: connect-sim as a child process.
//! - [`fresh`]: fresh names and customer numbers (the emulators are shared, never reset).
//! - [`wait`]: polling until something happened.
//! - `contract` (feature `contract`): the store contract: cases every session, dedupe and lease store must
//!   pass, run against the in-memory fake and DynamoDB on both emulators.
//! - `faults` (feature `faults`): `FaultProxy`, a fault-injecting HTTP proxy in front of
//!   the local AWS emulators (errors in each service's protocol, latency, black holes), in
//!   process or as the `fault-proxy` binary.
//! - `tls` (feature `tls`): HTTP clients that trust a local emulator's CA.

#[cfg(feature = "contract")]
pub mod contract;
pub mod emulators;
#[cfg(feature = "faults")]
pub mod faults;
pub mod fresh;
pub mod moto;
pub mod process;
pub mod sim;
#[cfg(feature = "tls")]
pub mod tls;
pub mod wait;

pub use emulators::{Endpoints, emulator_config};
#[cfg(feature = "faults")]
pub use faults::{Fault, FaultProxy, Rule};
pub use moto::Moto;
pub use process::SimProcess;
pub use sim::{SimControl, SimFault};
