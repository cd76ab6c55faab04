//! `bridge-aws`: adapters that implement `bridge-core`'s ports with the AWS SDK for Rust.
//!
//! Status: only client construction so far; the adapters land with issue 5.
#![warn(missing_docs)]

pub mod clients;
