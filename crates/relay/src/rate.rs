//! Spacing out connection set-ups (CreateParticipantConnection).
//!
//! Connect allows CreateParticipantConnection at 6 a second, burst 9, per instance
//! (docs/connect-chat.md §6.4), and that quota is shared: every relay's reconnects and
//! socket renewals, and every inbound Lambda starting or refreshing a chat. A relay that
//! restarts holding thousands of sessions would otherwise spend all of it at once, and
//! the inbound texts that need a connection would be throttled past the SDK's retries
//! into Lambda's, and then its dead-letter queue. Each relay instance therefore keeps to
//! its own share, [`RateLimit`], and waits its turn rather than being refused.
//!
//! The limiter is the generic cell rate algorithm on tokio's clock, a few lines: a library
//! limiter (governor) keeps its own clock and timer thread, which paused-time tests and
//! the worker's own timeouts could not see.

use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Calls a second, on average, and how many may go at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained calls per second.
    pub per_second: NonZeroU32,
    /// Calls that may go back to back after a quiet spell.
    pub burst: NonZeroU32,
}

/// A shared limiter: [`RateLimit::acquire`] returns when the caller's turn has come.
#[derive(Debug)]
pub struct RateLimit {
    /// Time between two calls at the sustained rate.
    interval: Duration,
    /// How far ahead of the schedule a call may go (`burst - 1` intervals).
    tolerance: Duration,
    /// When the next call is due on the schedule (the "theoretical arrival time").
    due: Mutex<Instant>,
}

impl RateLimit {
    /// A limiter for `rate`, with its full burst available now.
    pub fn new(rate: Rate) -> Self {
        let interval = Duration::from_secs(1) / rate.per_second.get();
        Self {
            interval,
            tolerance: interval * (rate.burst.get() - 1),
            due: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this call's turn. Turns are handed out in the order callers arrive; a
    /// caller that gives up while waiting leaves its turn unused (the limit still holds).
    pub async fn acquire(&self) {
        let turn = self.reserve(Instant::now());
        tokio::time::sleep_until(turn).await;
    }

    /// Books the next turn for a caller arriving at `now` and returns when it may go.
    fn reserve(&self, now: Instant) -> Instant {
        let mut due = self.due.lock().unwrap_or_else(PoisonError::into_inner);
        let scheduled = (*due).max(now);
        *due = scheduled + self.interval;
        scheduled
            .checked_sub(self.tolerance)
            .map_or(now, |earliest| earliest.max(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn burst_at_once_then_one_per_interval() {
        let limit = RateLimit::new(rate(2, 3));
        let start = Instant::now();
        let turns: Vec<Duration> = (0..6).map(|_| limit.reserve(start) - start).collect();
        let ms = Duration::from_millis;
        assert_eq!(turns, [ms(0), ms(0), ms(0), ms(500), ms(1000), ms(1500)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_refills_the_burst_but_never_more() {
        let limit = RateLimit::new(rate(4, 2));
        let start = Instant::now();
        for _ in 0..4 {
            limit.acquire().await;
        }
        // 2 at once, then 250 ms apart.
        assert_eq!(Instant::now() - start, Duration::from_millis(500));
        tokio::time::sleep(Duration::from_secs(60)).await;
        let quiet = Instant::now();
        let turns: Vec<Duration> = (0..3).map(|_| limit.reserve(quiet) - quiet).collect();
        assert_eq!(
            turns,
            [Duration::ZERO, Duration::ZERO, Duration::from_millis(250)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn callers_waiting_together_go_in_turn_at_the_rate() {
        let limit = std::sync::Arc::new(RateLimit::new(rate(10, 1)));
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let limit = limit.clone();
                tokio::spawn(async move {
                    limit.acquire().await;
                    Instant::now() - start
                })
            })
            .collect();
        let mut went = Vec::new();
        for task in tasks {
            went.push(task.await.unwrap());
        }
        went.sort();
        let expected: Vec<Duration> = (0..5).map(|n| Duration::from_millis(100 * n)).collect();
        assert_eq!(went, expected);
    }
}
