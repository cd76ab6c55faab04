//! Spacing out connection set-ups (CreateParticipantConnection), most recent chats first.
//!
//! Connect allows CreateParticipantConnection at 6 a second, burst 9, per instance
//! (docs/connect-chat.md §6.4), and that quota is shared: every relay's reconnects and
//! socket renewals, and every inbound Lambda starting or refreshing a chat. A relay that
//! restarts holding thousands of sessions would otherwise spend all of it at once, and
//! the inbound texts that need a connection would be throttled past the SDK's retries
//! into Lambda's, and then its dead-letter queue. Each relay instance therefore keeps to
//! its own share, [`RateLimit`], and waits its turn rather than being refused.
//!
//! At 2 a second, 7,000 sessions take an hour to come back after a take-over, so the order
//! of turns matters: each turn goes to the waiting session that was active most recently
//! (its row's last write: a text, a reply delivered), so a conversation in progress resumes
//! within seconds while quiet chats wait. Discovery [`RateLimit::hold`]s the turns while it
//! lists newly gained shards, so the first turns go to the most recent chats of all of them
//! rather than to whichever shard answered first; a hold lasts at most [`MAX_HOLD`].
//!
//! The schedule is the generic cell rate algorithm on tokio's clock, a few lines: a library
//! limiter (governor) keeps its own clock and timer thread, which paused-time tests and
//! the worker's own timeouts could not see. One task hands out the turns.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The longest a [`Hold`] delays the turns: listing a gained shard is a few index queries,
/// and a slow store must not stop every reconnect.
pub const MAX_HOLD: Duration = Duration::from_secs(5);

/// A caller waiting this long goes before any caller queued after it, whatever their
/// recency: most-recent-first alone could keep a quiet chat's renewal waiting for ever
/// while a relay near capacity (renewals alone using the whole rate) always has a more
/// recent one queued.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Calls a second, on average, and how many may go at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained calls per second.
    pub per_second: NonZeroU32,
    /// Calls that may go back to back after a quiet spell.
    pub burst: NonZeroU32,
}

/// When calls may go: the generic cell rate algorithm.
#[derive(Debug)]
struct Schedule {
    /// Time between two calls at the sustained rate.
    interval: Duration,
    /// How far ahead of the schedule a call may go (`burst - 1` intervals).
    tolerance: Duration,
    /// When the next call is due on the schedule (the "theoretical arrival time").
    due: Instant,
}

impl Schedule {
    /// A schedule for `rate`, with its full burst available now.
    fn new(rate: Rate) -> Self {
        let interval = Duration::from_secs(1) / rate.per_second.get();
        Self {
            interval,
            tolerance: interval * (rate.burst.get() - 1),
            due: Instant::now(),
        }
    }

    /// The earliest a call arriving at `now` may go.
    fn next(&self, now: Instant) -> Instant {
        self.due
            .checked_sub(self.tolerance)
            .map_or(now, |earliest| earliest.max(now))
    }

    /// Books a call going at `now` (no earlier than [`Self::next`]).
    fn take(&mut self, now: Instant) {
        self.due = self.due.max(now) + self.interval;
    }
}

/// A shared limiter: [`RateLimit::ticket`] queues a caller, whose [`Ticket`] resolves when
/// its turn has come. Must be created inside a tokio runtime (it spawns the task that hands
/// out turns, which ends when the limiter is dropped).
#[derive(Debug)]
pub struct RateLimit {
    requests: mpsc::UnboundedSender<Request>,
}

/// A place in the queue for one call.
#[derive(Debug)]
pub struct Ticket(oneshot::Receiver<()>);

impl Ticket {
    /// Waits for this ticket's turn. Dropping a ticket gives its turn to the next caller.
    pub async fn wait(self) {
        // An error means the limiter is gone (the runtime is shutting down): go.
        let _ = self.0.await;
    }
}

/// Turns are held while this lives (at most [`MAX_HOLD`]).
#[must_use = "the hold ends when this is dropped"]
#[derive(Debug)]
pub struct Hold<'a>(&'a RateLimit);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let _ = self.0.requests.send(Request::Release);
    }
}

#[derive(Debug)]
enum Request {
    Wait {
        recency: DateTime<Utc>,
        turn: oneshot::Sender<()>,
    },
    Hold,
    Release,
}

/// A queued caller: the most recent first, then the earliest queued.
#[derive(Debug)]
struct Waiter {
    recency: DateTime<Utc>,
    queued: u64,
    since: Instant,
    turn: oneshot::Sender<()>,
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.recency
            .cmp(&other.recency)
            .then_with(|| other.queued.cmp(&self.queued))
    }
}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

impl RateLimit {
    /// A limiter for `rate`, with its full burst available now.
    pub fn new(rate: Rate) -> Self {
        let (requests, queue) = mpsc::unbounded_channel();
        tokio::spawn(hand_out(Schedule::new(rate), queue));
        Self { requests }
    }

    /// Queues a call for a session last active at `recency`. Synchronous, so a caller that
    /// queues several knows they are all queued, in this order, before any later request.
    pub fn ticket(&self, recency: DateTime<Utc>) -> Ticket {
        let (turn, ticket) = oneshot::channel();
        // A closed queue drops `turn`: the ticket then resolves at once.
        let _ = self.requests.send(Request::Wait { recency, turn });
        Ticket(ticket)
    }

    /// Waits for a turn for a session last active at `recency`.
    pub async fn acquire(&self, recency: DateTime<Utc>) {
        self.ticket(recency).wait().await;
    }

    /// Holds every turn until the returned guard is dropped (or [`MAX_HOLD`] passed), so
    /// callers queued meanwhile are ordered among themselves before any goes.
    pub fn hold(&self) -> Hold<'_> {
        let _ = self.requests.send(Request::Hold);
        Hold(self)
    }
}

/// Hands out turns until every [`RateLimit`] handle is gone.
async fn hand_out(mut schedule: Schedule, mut queue: mpsc::UnboundedReceiver<Request>) {
    let mut waiting: BinaryHeap<Waiter> = BinaryHeap::new();
    let mut queued = 0u64;
    let mut holds = 0usize;
    let mut held_since = Instant::now();
    loop {
        let now = Instant::now();
        let mut go_at = schedule.next(now);
        if holds > 0 {
            go_at = go_at.max(held_since + MAX_HOLD);
        }
        tokio::select! {
            // Every request already sent is taken in before a turn is given.
            biased;
            request = queue.recv() => match request {
                None => return,
                Some(Request::Wait { recency, turn }) => {
                    queued += 1;
                    let since = Instant::now();
                    waiting.push(Waiter { recency, queued, since, turn });
                }
                Some(Request::Hold) => {
                    // Not `now`: that was read before this wait, however long it was.
                    if holds == 0 {
                        held_since = Instant::now();
                    }
                    holds += 1;
                }
                Some(Request::Release) => holds = holds.saturating_sub(1),
            },
            () = tokio::time::sleep_until(go_at), if !waiting.is_empty() => {
                // A caller that gave up passes its turn on.
                while let Some(waiter) = next_waiter(&mut waiting, Instant::now()) {
                    if waiter.turn.send(()).is_ok() {
                        schedule.take(Instant::now());
                        break;
                    }
                }
            }
        }
    }
}

/// The caller whose turn it is: the one queued first among those waiting [`MAX_WAIT`] or
/// more, else the most recently active. The scan is O(waiting) per turn: at most a few
/// turns a second over at most the relay's sessions.
fn next_waiter(waiting: &mut BinaryHeap<Waiter>, now: Instant) -> Option<Waiter> {
    let aged = waiting
        .iter()
        .filter(|waiter| now.saturating_duration_since(waiter.since) >= MAX_WAIT)
        .map(|waiter| waiter.queued)
        .min();
    let Some(aged) = aged else {
        return waiting.pop();
    };
    let mut all = std::mem::take(waiting).into_vec();
    let index = all.iter().position(|waiter| waiter.queued == aged)?;
    let waiter = all.swap_remove(index);
    *waiting = BinaryHeap::from(all);
    Some(waiter)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::TimeDelta;

    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    /// When each of `count` calls arriving at `now` may go.
    fn turns(schedule: &mut Schedule, now: Instant, count: usize) -> Vec<Duration> {
        (0..count)
            .map(|_| {
                let at = schedule.next(now);
                schedule.take(at);
                at - now
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn burst_at_once_then_one_per_interval() {
        let mut schedule = Schedule::new(rate(2, 3));
        let ms = Duration::from_millis;
        assert_eq!(
            turns(&mut schedule, Instant::now(), 6),
            [ms(0), ms(0), ms(0), ms(500), ms(1000), ms(1500)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_refills_the_burst_but_never_more() {
        let mut schedule = Schedule::new(rate(4, 2));
        let start = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(
            turns(&mut schedule, start, 4),
            [ms(0), ms(0), ms(250), ms(500)]
        );
        let quiet = start + Duration::from_secs(60);
        assert_eq!(turns(&mut schedule, quiet, 3), [ms(0), ms(0), ms(250)]);
    }

    /// Starts one task per recency (minutes ago), each queued in this order; returns, in
    /// the order they went, each one's minutes and when it went.
    async fn race(limit: &Arc<RateLimit>, minutes_ago: &[i64]) -> Vec<(i64, Duration)> {
        let start = Instant::now();
        let now = Utc::now();
        let went = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = minutes_ago
            .iter()
            .map(|&minutes| {
                let ticket = limit.ticket(now - TimeDelta::minutes(minutes));
                let went = Arc::clone(&went);
                tokio::spawn(async move {
                    ticket.wait().await;
                    went.lock().unwrap().push((minutes, Instant::now() - start));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        Arc::into_inner(went).unwrap().into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn callers_waiting_together_go_in_turn_at_the_rate() {
        let limit = Arc::new(RateLimit::new(rate(10, 1)));
        let went = race(&limit, &[0, 0, 0, 0, 0]).await;
        let times: Vec<Duration> = went.iter().map(|(_, at)| *at).collect();
        let expected: Vec<Duration> = (0..5).map(|n| Duration::from_millis(100 * n)).collect();
        assert_eq!(times, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn the_most_recently_active_go_first_once_a_hold_ends() {
        let limit = Arc::new(RateLimit::new(rate(2, 2)));
        let hold = limit.hold();
        let racing = tokio::spawn({
            let limit = Arc::clone(&limit);
            async move { race(&limit, &[30, 2, 600, 1, 45]).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(hold);
        let went = racing.await.unwrap();
        let ms = Duration::from_millis;
        assert_eq!(
            went,
            [
                (1, ms(1000)),
                (2, ms(1000)),
                (30, ms(1500)),
                (45, ms(2000)),
                (600, ms(2500))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_never_outlasts_its_limit() {
        let limit = Arc::new(RateLimit::new(rate(1, 1)));
        let _forgotten = limit.hold();
        let went = race(&limit, &[5, 1]).await;
        assert_eq!(
            went,
            [(1, MAX_HOLD), (5, MAX_HOLD + Duration::from_secs(1))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_taken_after_an_idle_spell_still_holds() {
        let limit = Arc::new(RateLimit::new(rate(2, 2)));
        // Idle long past MAX_HOLD: the hold must count from when it is taken.
        tokio::time::sleep(MAX_HOLD * 10).await;
        let hold = limit.hold();
        let racing = tokio::spawn({
            let limit = Arc::clone(&limit);
            async move { race(&limit, &[30, 2, 600]).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(hold);
        let order: Vec<i64> = racing.await.unwrap().iter().map(|(m, _)| *m).collect();
        assert_eq!(order, [2, 30, 600]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_waiting_too_long_goes_before_more_recent_ones() {
        // One turn a second; a quiet chat queued first, then a recent one every second.
        let limit = Arc::new(RateLimit::new(rate(1, 1)));
        limit.acquire(Utc::now()).await;
        let start = Instant::now();
        let quiet = tokio::spawn({
            let ticket = limit.ticket(Utc::now() - TimeDelta::days(1));
            async move {
                ticket.wait().await;
                Instant::now() - start
            }
        });
        // A more recent caller arrives for every turn: without ageing the quiet one would
        // never go.
        let mut recent = Vec::new();
        for _ in 0..(MAX_WAIT.as_secs() + 5) {
            recent.push(limit.ticket(Utc::now()));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let waited = quiet.await.unwrap();
        assert!(
            waited >= MAX_WAIT && waited <= MAX_WAIT + Duration::from_secs(2),
            "waited {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_passes_its_turn_on() {
        let limit = Arc::new(RateLimit::new(rate(1, 1)));
        limit.acquire(Utc::now()).await;
        let start = Instant::now();
        // Queued first and most recent, then dropped: the turn it would have had (1 s from
        // now) goes to the next caller, not to nobody.
        let quitter = limit.ticket(Utc::now());
        let waiter = limit.ticket(Utc::now() - TimeDelta::hours(1));
        drop(quitter);
        waiter.wait().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
    }
}
