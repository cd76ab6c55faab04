//! `bridge-inbound`: the Lambda that turns each inbound SMS into a message in the right
//! Amazon Connect chat, exactly once.
//!
//! SNS delivers one End User Messaging payload per record, at least once. [`Handler`]
//! parses it with `bridge-core` and runs core's inbound machine (`bridge_core::intake`),
//! performing each command it hands out through the ports; it is a library so the CLI and
//! the tests call it in-process, and `main.rs` only wires the Lambda runtime and the
//! `bridge-aws` adapters to it. This crate owns no session rules (those are
//! `bridge_core::session` and `bridge_core::intake`) and no AWS SDK calls (those are
//! `bridge-aws`).
//!
//! # Layout
//! - [`handler`]: [`Handler`], the inbound flow (parse, check the support line, interpret
//!   the inbound machine's commands over the ports) and its error classification table.
//! - [`envelope`]: the SNS event Lambda hands the function, and building one around a
//!   payload.
//! - [`outcome`]: [`Outcome`] per SMS and the [`Summary`] of an SNS event.
//! - [`error`]: [`HandlerError`], retriable or not, and its Lambda `Diagnostic`.
//! - [`config`]: the Lambda logging settings read from the environment.
//! - [`logging`]: the tracing subscriber (JSON in Lambda).

pub mod config;
pub mod envelope;
pub mod error;
pub mod handler;
pub mod logging;
pub mod outcome;

pub use error::HandlerError;
pub use handler::{Handler, Ports, attribute};
pub use outcome::{DropReason, Outcome, ReceiptOutcome, RecordOutcome, RejectReason, Summary};
