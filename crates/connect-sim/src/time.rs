//! Time for the emulator: AWS time strings and a clock tests can move forward.
//!
//! Every time field of the Connect and Participant APIs is a string in the form
//! `YYYY-MM-DDThh:mm:ss.sssZ` (docs/connect-chat.md §1.3); this module is the only place
//! that formats or parses it.
//!
//! [`SimClock`] adds a test-controlled offset to the real clocks, so lifecycle rules (token
//! expiry, WebSocket URL validity, customer-connect timeout, chat duration) can be tested by
//! `POST /sim/clock/advance` instead of waiting. The offset only grows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::time::Instant;

/// Formats a UTC time as `YYYY-MM-DDThh:mm:ss.sssZ`.
#[must_use]
pub fn format_aws(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an ISO 8601 time as sent by clients (any offset, any sub-second precision).
#[must_use]
pub fn parse_aws(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One reading of the simulated clock: a monotonic instant for deadlines and the wall time
/// that goes on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, offset included; compare deadlines with it.
    pub mono: Instant,
    /// Wall-clock time, offset included; formats into `AbsoluteTime`.
    pub wall: DateTime<Utc>,
}

/// The real clocks plus a forward offset set by tests.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicU64,
}

impl SimClock {
    /// Reads the clock.
    #[must_use]
    pub fn now(&self) -> Now {
        let offset = self.offset();
        Now {
            mono: Instant::now() + offset,
            wall: Utc::now() + offset,
        }
    }

    /// The current forward offset.
    #[must_use]
    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Acquire))
    }

    /// Moves simulated time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::AcqRel);
    }

    /// Forgets any offset (used by `/sim/reset`).
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Release);
    }

    /// Converts a simulated deadline to a real tokio instant for `sleep_until`.
    #[must_use]
    pub fn to_real(&self, deadline: Instant) -> Instant {
        deadline
            .checked_sub(self.offset())
            .unwrap_or_else(Instant::now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn aws_format_has_millis_and_z() {
        let t = Utc
            .with_ymd_and_hms(2019, 11, 8, 2, 41, 28)
            .single()
            .expect("valid date")
            + chrono::Duration::milliseconds(172);
        assert_eq!(format_aws(t), "2019-11-08T02:41:28.172Z");
        let whole = Utc
            .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
            .single()
            .expect("valid date");
        assert_eq!(format_aws(whole), "2024-01-02T03:04:05.000Z");
    }

    #[test]
    fn parse_round_trips_and_accepts_offsets() {
        let t = parse_aws("2019-11-08T02:41:28.172Z").expect("parses");
        assert_eq!(format_aws(t), "2019-11-08T02:41:28.172Z");
        let shifted = parse_aws("2019-11-08T04:41:28.172+02:00").expect("parses");
        assert_eq!(shifted, t);
        assert!(parse_aws("yesterday").is_none());
    }

    #[test]
    fn advancing_moves_both_clocks() {
        let clock = SimClock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after.mono - before.mono >= Duration::from_secs(3600));
        assert!(after.wall - before.wall >= chrono::Duration::seconds(3600));
        clock.reset();
        assert_eq!(clock.offset(), Duration::ZERO);
    }
}
