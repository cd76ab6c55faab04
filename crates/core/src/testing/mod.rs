//! In-memory implementations of the ports, for domain tests (feature `test-support`).
//!
//! They follow the ports' contracts (conditional writes, versions, the live-session index)
//! so the entry points' logic can be tested fast and deterministically. They are never the
//! only test of an adapter: `bridge-aws` is tested against the real emulators.
//!
//! # Layout
//! One module per port:
//! - `store`: [`MemoryStore`] (`SessionStore`, `DedupeStore`, `LeaseStore`).
//! - `chat`: [`FakeChat`] (the chat ports), with failure injection and call counts.
//! - `sms`: [`RecordingSms`] (`SmsSender`).
//! - `clock`: [`ManualClock`] (`Clock`).
//!
//! The std `Mutex` is right here: no guard is held across an `.await`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chat;
mod clock;
mod sms;
mod store;

pub use chat::{ChatOp, Failure, FakeChat, FakeContact, FakeMessage};
pub use clock::ManualClock;
pub use sms::{RecordingSms, SentSms};
pub use store::MemoryStore;

/// Runs a future to completion on the current thread (the fakes never await).
#[cfg(test)]
fn block<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}
