//! The parts of the `bridge` command that other crates use too: the inbound handler wired
//! as `bridge sms`, `bridge replay` and the demo wire it ([`stack`], with [`meter`]'s
//! timing wrappers), and the flags and SDK clients it is built from ([`config`]).
//!
//! The benchmarks' call-budget test builds the handler through [`stack::Stack`], so the
//! command's wiring is held to the same AWS call budgets as the Lambda's. Everything
//! else of the command lives in the binary (`src/main.rs`).

pub mod config;
pub mod meter;
pub mod stack;
