//! The relay's metrics as a log line, once a minute: what CloudWatch alarms read.
//!
//! `/metrics` serves Prometheus text, which needs a collector to reach CloudWatch. Each
//! instance also logs one JSON line a minute (`message = "relay metrics"`) with the numbers
//! the alarms need: counts since the last line and current gauges. The template's metric
//! filters turn its fields into CloudWatch metrics ([`FIELDS`] lists them; a test holds
//! the template to it), so alarms need no agent, no sidecar and no Container Insights.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::metrics::Metrics;

/// How often the line is logged.
pub const EVERY: Duration = Duration::from_secs(60);

/// The message of the line (the metric filters match on it).
pub const MESSAGE: &str = "relay metrics";

/// The fields of the line, as the template's metric filters read them.
pub const FIELDS: [&str; 8] = [
    "sessions",
    "sockets_open",
    "live_instances",
    "shards_unowned",
    "replies_lost",
    "reconnects",
    "over_capacity",
    "lease_fenced",
];

/// Logs the line every [`EVERY`] until `stop`.
pub async fn run(metrics: Metrics, stop: CancellationToken) {
    let mut last = Counts::of(&metrics);
    let mut ticker = tokio::time::interval(EVERY);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Counts::of(&metrics);
        let delta = now.since(&last);
        last = now;
        info!(
            sessions = metrics.sessions.get(),
            sockets_open = metrics.sockets_open.get(),
            live_instances = metrics.live_instances.get(),
            shards_unowned = metrics.shards_unowned.get(),
            replies_lost = delta.replies_lost,
            reconnects = delta.reconnects,
            over_capacity = delta.over_capacity,
            lease_fenced = delta.lease_fenced,
            "relay metrics"
        );
    }
}

/// The totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Replies lost.
    pub replies_lost: u64,
    /// Unplanned reconnects.
    pub reconnects: u64,
    /// Sessions refused for capacity.
    pub over_capacity: u64,
    /// Sends refused past a lease.
    pub lease_fenced: u64,
}

impl Counts {
    /// The totals now.
    pub fn of(metrics: &Metrics) -> Self {
        let get = |counter: &Counter| counter.get();
        Self {
            replies_lost: get(&metrics.totals.replies_lost),
            reconnects: get(&metrics.totals.reconnects),
            over_capacity: get(&metrics.totals.over_capacity),
            lease_fenced: get(&metrics.totals.lease_fenced),
        }
    }

    /// What happened since `earlier`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            replies_lost: self.replies_lost.saturating_sub(earlier.replies_lost),
            reconnects: self.reconnects.saturating_sub(earlier.reconnects),
            over_capacity: self.over_capacity.saturating_sub(earlier.over_capacity),
            lease_fenced: self.lease_fenced.saturating_sub(earlier.lease_fenced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_what_happened_since_the_last_line() {
        let metrics = Metrics::unregistered();
        let before = Counts::of(&metrics);
        metrics.dropped("rejected");
        metrics.dropped("opted_out");
        metrics.error("transcript_unreadable");
        metrics.reconnect("renew");
        metrics.reconnect("heartbeat");
        metrics.error("capacity");
        metrics.error("lease_fenced");
        metrics.error("store");
        let after = Counts::of(&metrics);
        assert_eq!(
            after.since(&before),
            Counts {
                replies_lost: 2,
                reconnects: 1,
                over_capacity: 1,
                lease_fenced: 1,
            }
        );
        assert_eq!(after.since(&after), Counts::default());
    }
}
