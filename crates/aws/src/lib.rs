//! `bridge-aws`: adapters that implement `bridge-core`'s ports with the AWS SDK for Rust.
//!
//! One module per service, each taking a built SDK client plus typed settings. SDK types
//! stay inside this crate (request/response mapping lives in each module's private
//! submodule): callers see domain types and typed, classified errors that answer
//! `is_retriable()`. Clients are built once from `aws-config`, so the standard environment
//! works (region, credentials chain, `AWS_ENDPOINT_URL_<SERVICE>` for local emulators).
//!
//! This crate must not decide anything about sessions: the decisions live in
//! `bridge_core::session`; here we only translate them into API calls.
//!
//! # Layout
//! - [`clients`]: [`Clients`] and [`ClientSettings`] (timeouts, retry policy).
//! - [`dynamo`]: [`DynamoStore`] — `SessionStore`, `DedupeStore` and `LeaseStore` over one
//!   table; [`dynamo::schema`] describes the table, [`dynamo::create_table`] creates it.
//! - [`sns`]: [`SnsSender`] — `SmsSender` over SNS Publish.
//! - [`eum`]: [`EumSender`] — `SmsSender` over End User Messaging SMS's SendTextMessage,
//!   tagging chat messages for delivery events.
//! - [`connect`]: [`ConnectChat`] — the chat ports over the Connect admin API and
//!   (through the private `participant` module) the Connect Participant API.
//! - [`archive`]: [`S3Transcripts`] — `TranscriptArchive` over the S3 bucket Connect
//!   writes ended chats' transcripts to.
//! - [`error`]: the causes this crate adds, and the shared SDK error classification.
#![warn(missing_docs)]

pub mod archive;
pub mod clients;
pub mod connect;
pub mod dynamo;
pub mod error;
pub mod eum;
mod participant;
pub mod sns;
mod wire;

pub use archive::{S3Transcripts, TranscriptLocation};
pub use aws_config::SdkConfig;
pub use clients::{
    ClientSettings, Clients, ExtraCa, ExtraCaError, OnFirstUse, load_shared, trusting_extra_ca,
};
pub use connect::ConnectChat;
pub use dynamo::{DynamoSettings, DynamoStore};
pub use eum::EumSender;
pub use sns::{SmsType, SnsSender};
