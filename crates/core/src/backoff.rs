//! Retry timing: capped exponential backoff with full jitter, for every retry loop of the
//! bridge (the relay's reconnects and retries, the inbound handler's wait for a chat
//! another invocation is starting).
//!
//! Timing only. Whether an error is worth retrying is the error's own business
//! (`is_retriable()` on every port error); this module only says how long to wait. Full
//! jitter (a uniform delay between zero and the capped exponential) spreads thousands of
//! sessions that lost their sockets at the same instant, so they do not reconnect in step.

use std::time::Duration;

/// Capped exponential backoff with full jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Ceiling of the first delay.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
}

/// The exponential ceiling for attempt `attempt` (0-based): `base · 2^attempt`, at most `cap`.
pub fn ceiling(policy: BackoffPolicy, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    policy.base.saturating_mul(factor).min(policy.cap)
}

/// The delay before retry `attempt` (0-based): uniform in `[0, ceiling]`, from a unit
/// random sample `unit` in `[0, 1)` (kept as a parameter so the schedule is testable).
pub fn delay_from(policy: BackoffPolicy, attempt: u32, unit: f64) -> Duration {
    ceiling(policy, attempt).mul_f64(unit.clamp(0.0, 1.0))
}

/// The delay before retry `attempt` (0-based), with full jitter from the thread RNG.
pub fn delay(policy: BackoffPolicy, attempt: u32) -> Duration {
    delay_from(policy, attempt, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
        }
    }

    #[test]
    fn ceiling_doubles_then_stays_at_the_cap() {
        let ceilings: Vec<_> = (0..10).map(|a| ceiling(policy(), a).as_millis()).collect();
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(ceiling(policy(), u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_spans_zero_to_the_ceiling() {
        assert_eq!(delay_from(policy(), 3, 0.0), Duration::ZERO);
        assert_eq!(delay_from(policy(), 3, 0.5), Duration::from_secs(1));
        assert!(delay_from(policy(), 3, 0.999_999) <= Duration::from_secs(2));
        // Out-of-range samples are clamped rather than trusted.
        assert_eq!(delay_from(policy(), 0, 7.0), Duration::from_millis(250));
    }

    #[test]
    fn random_delays_never_exceed_the_cap() {
        for attempt in 0..40 {
            assert!(delay(policy(), attempt) <= Duration::from_secs(30));
        }
    }
}
