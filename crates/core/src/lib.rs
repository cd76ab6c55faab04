//! `bridge-core`: the pure domain of the SMS ↔ Amazon Connect chat bridge.
//!
//! Everything here is deterministic and free of I/O: no AWS SDK, no network, no tokio
//! runtime. Time and ids come in through the [`ports::Clock`] port, so the session machine
//! can be tested without waiting. Adapters (`bridge-aws`) implement the [`ports`];
//! entry points (`bridge-inbound`, `bridge-relay`, `bridge`) wire them together.
//!
//! # Layout
//! - [`phone`]: [`PhoneNumber`], always E.164, masked when printed.
//! - [`ids`]: newtypes for every id, and redacting newtypes for the two secret tokens.
//! - [`inbound`]: the End User Messaging two-way SMS payload (and recordings of it; the
//!   Lambda's SNS event is `bridge-inbound`'s).
//! - [`keyword`]: opt-out / opt-in / help keyword classification.
//! - [`session`]: the session record and the pure state machine that decides what to do
//!   with an inbound text.
//! - [`intake`]: what one inbound text does, from its first read to its dedupe marker, as
//!   a sans-IO machine the inbound handler interprets over the ports.
//! - [`render`]: agent markdown → plain text suited to SMS.
//! - [`menu`]: interactive messages as numbered SMS menus, and the answers to them.
//! - [`segment`]: GSM-7 / UCS-2 SMS segmentation, and splitting long inbound bodies for
//!   Connect's 1024-character limit.
//! - [`ports`]: the traits adapters implement (`SessionStore`, the chat ports, `SmsSender`,
//!   `Clock`) and their typed errors.
//! - [`config`]: typed configuration loaded from the environment, validated all at once.
//! - [`usage`]: what a binary's `--help` and `--version` print, from its variable lists.
//! - [`report`]: an error's cause chain on one log line, phone numbers masked.
#![warn(missing_docs)]

pub mod backoff;
pub mod config;
pub mod delivery;
pub mod ids;
pub mod inbound;
pub mod intake;
pub mod keyword;
pub mod menu;
pub mod phone;
pub mod ports;
pub mod render;
pub mod report;
pub mod segment;
pub mod session;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod usage;

pub use phone::PhoneNumber;
