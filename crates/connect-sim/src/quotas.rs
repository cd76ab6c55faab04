//! Optional per-operation TPS quotas: token buckets with AWS's default rates and bursts
//! (docs/connect-chat.md §6.4). Off unless enabled; an over-limit call answers 429
//! ThrottlingException (participant) or TooManyRequestsException (admin; its model gives
//! UpdateParticipantRoleConfig ThrottlingException instead).
//!
//! The buckets are global to the emulator, standing in for "per account and Region" (admin)
//! and "per instance" (participant). SendMessage and SendEvent share one bucket.
//! SendTextMessage has none: End User Messaging limits message parts per second per
//! origination identity, which the emulator does not model (fault injection makes it throttle).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::time::Instant;

use crate::error::ApiError;
use crate::faults::Operation;

/// Requests per second and burst of an operation (§6.4, April 2023 defaults); `None` for
/// an operation without a bucket.
#[must_use]
pub fn limits(operation: Operation) -> Option<(f64, f64)> {
    Some(match operation {
        Operation::StartChatContact => (5.0, 8.0),
        Operation::StopContact | Operation::UpdateParticipantRoleConfig => (2.0, 5.0),
        Operation::CreateParticipantConnection => (6.0, 9.0),
        Operation::DisconnectParticipant => (3.0, 5.0),
        Operation::GetTranscript => (8.0, 12.0),
        Operation::SendMessage | Operation::SendEvent => (10.0, 15.0),
        Operation::SendTextMessage => return None,
    })
}

/// The bucket an operation draws from.
fn bucket(operation: Operation) -> Operation {
    match operation {
        Operation::SendEvent => Operation::SendMessage,
        other => other,
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The quota state.
#[derive(Debug)]
pub struct Quotas {
    enabled: AtomicBool,
    buckets: Mutex<HashMap<Operation, Bucket>>,
    throttled: AtomicU64,
}

impl Quotas {
    /// Quotas, enabled or not.
    #[must_use]
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled: AtomicBool::new(enabled),
            buckets: Mutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
        }
    }

    /// Turns quotas on or off (buckets start full).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Release);
        self.lock().clear();
    }

    /// Calls refused for their quota so far (`ThrottledTotal` in `/sim/stats`).
    #[must_use]
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Whether quotas are on.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Takes one token for `operation` at `now`.
    ///
    /// # Errors
    /// The 429 error of the operation's service when the bucket is empty.
    pub fn check(&self, operation: Operation, now: Instant) -> Result<(), ApiError> {
        if !self.enabled() {
            return Ok(());
        }
        let Some((rate, burst)) = limits(bucket(operation)) else {
            return Ok(());
        };
        let mut buckets = self.lock();
        let state = buckets.entry(bucket(operation)).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * rate).min(burst);
        state.updated = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            return Ok(());
        }
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let message = format!("Rate exceeded for {}", operation.name());
        Err(match operation {
            // The one admin operation whose model lists ThrottlingException instead.
            Operation::UpdateParticipantRoleConfig => ApiError::throttling(message),
            admin if admin.is_admin() => ApiError::too_many_requests(message),
            _ => ApiError::throttling(message),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Operation, Bucket>> {
        // Buckets are plain numbers; a poisoned lock still holds usable values.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_throttle_then_refill() {
        let quotas = Quotas::new(true);
        let start = Instant::now();
        for _ in 0..15 {
            quotas
                .check(Operation::SendMessage, start)
                .expect("within burst");
        }
        let err = quotas
            .check(Operation::SendEvent, start)
            .expect_err("shared bucket empty");
        assert_eq!(err.error_type(), "ThrottlingException");
        assert_eq!(err.status().as_u16(), 429);
        assert_eq!(quotas.throttled(), 1);
        quotas
            .check(Operation::SendMessage, start + Duration::from_millis(150))
            .expect("refilled one token");
        assert_eq!(quotas.throttled(), 1);
    }

    #[test]
    fn admin_throttling_uses_too_many_requests() {
        let quotas = Quotas::new(true);
        let now = Instant::now();
        for _ in 0..8 {
            quotas
                .check(Operation::StartChatContact, now)
                .expect("burst");
        }
        let err = quotas
            .check(Operation::StartChatContact, now)
            .expect_err("empty");
        assert_eq!(err.error_type(), "TooManyRequestsException");
    }

    #[test]
    fn role_config_throttling_uses_its_own_error_name() {
        let quotas = Quotas::new(true);
        let now = Instant::now();
        for _ in 0..5 {
            quotas
                .check(Operation::UpdateParticipantRoleConfig, now)
                .expect("burst");
        }
        let err = quotas
            .check(Operation::UpdateParticipantRoleConfig, now)
            .expect_err("empty");
        assert_eq!(err.error_type(), "ThrottlingException");
    }

    #[test]
    fn send_text_message_has_no_bucket() {
        let quotas = Quotas::new(true);
        let now = Instant::now();
        for _ in 0..100 {
            quotas
                .check(Operation::SendTextMessage, now)
                .expect("unlimited");
        }
    }

    #[test]
    fn disabled_quotas_never_throttle() {
        let quotas = Quotas::new(false);
        let now = Instant::now();
        for _ in 0..1000 {
            quotas.check(Operation::GetTranscript, now).expect("off");
        }
    }
}
