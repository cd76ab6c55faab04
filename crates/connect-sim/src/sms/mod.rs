//! A stand-in for AWS End User Messaging SMS's SendTextMessage (`pinpoint-sms-voice-v2`,
//! which moto does not implement), publishing delivery events to SNS as a configuration
//! set's event destination does (docs/connect-chat.md §7.5).
//!
//! - [`request`]: the request, its validation against the model, the service's errors.
//! - [`service`]: [`SmsService`], the state and rules, pure: accepted texts, opt-outs,
//!   numbers made to fail, configuration sets.
//! - [`event`]: the delivery event JSON and the `TEXT_*` event types.
//! - [`text`]: GSM-7 or UCS-2, and the part count.
//! - [`destination`]: configuration sets and SNS destinations from the command line.
//! - [`sns`], [`delivery`]: the I/O: publishing events to SNS, one task per text.
//!
//! The operation is served at `POST /` by `X-Amz-Target` ([`crate::http::sms`]); the
//! control API is under `/sim/sms/` ([`crate::http::sim`]).

pub mod delivery;
pub mod destination;
pub mod event;
pub mod request;
pub mod service;
pub mod sns;
pub mod text;

pub use destination::{ConfigurationSet, SnsDestination};
pub use event::EventType;
pub use service::SmsService;
