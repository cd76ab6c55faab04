//! The relay's Prometheus metrics, registered once and shared by handle.
//!
//! Names carry their unit, counters end in `_total` (prometheus-client appends it), and
//! labels are small closed sets (`kind`, `reason`): never contact ids or phone numbers.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A one-label set with a static key and value (no allocation per observation).
pub type Label = [(&'static str, &'static str); 1];

/// Bucket bounds of the agent → SMS histogram, in seconds: fine below 10 ms (down to
/// 50 µs), where the relay's own added latency lives, coarse above, where retries and SNS
/// throttling show.
const LATENCY_BUCKETS: [f64; 18] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.007_5, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Handles to every relay metric. Cloning is cheap (each handle is an `Arc`).
#[derive(Clone, Debug)]
pub struct Metrics {
    /// `relay_sockets_open`: subscribed participant WebSockets.
    pub sockets_open: Gauge,
    /// `relay_shards_owned`: shard leases held (not draining).
    pub shards_owned: Gauge,
    /// `relay_sessions`: session workers running.
    pub sessions: Gauge,
    /// `relay_messages_relayed_total{kind}`: items delivered as SMS (all parts accepted).
    pub relayed: Family<Label, Counter>,
    /// `relay_sms_parts_sent_total`: SNS Publish calls accepted.
    pub sms_parts: Counter,
    /// `relay_messages_dropped_total{reason}`: items that will never reach the phone
    /// (opted out, rejected by SNS as invalid). Each is also logged.
    pub dropped: Family<Label, Counter>,
    /// `relay_agent_to_sms_seconds`: from an item's frame arriving on the socket to the SNS
    /// call for its first part (the relay's added latency).
    pub agent_to_sms: Histogram,
    /// `relay_reconnects_total{reason}`: socket replacements.
    pub reconnects: Family<Label, Counter>,
    /// `relay_errors_total{kind}`: recovered errors, by kind.
    pub errors: Family<Label, Counter>,
    /// `relay_sms_held_total{reason}`: SNS failures that held a reply for another attempt
    /// (`throttled`, `unavailable`, `refused` for account-level refusals such as
    /// permissions, KMS or credentials, `timeout`). A growing `refused` needs an operator.
    pub sms_held: Family<Label, Counter>,
    /// `relay_shards_unowned`: shards no live instance held at the last lease round.
    pub shards_unowned: Gauge,
    /// `relay_live_instances`: relay instances holding a live lease at the last round.
    pub live_instances: Gauge,
    /// What the periodic report ([`crate::report`]) sums across labels.
    pub totals: Totals,
}

/// Running totals across labels, for the periodic report's alarms.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Replies that will never reach the phone for a reason an operator should see:
    /// rejected by SNS, or a gap's transcript that could not be read.
    pub replies_lost: Counter,
    /// Socket replacements that were not planned renewals.
    pub reconnects: Counter,
    /// Sessions not relayed because the instance was at `BRIDGE_RELAY_MAX_SESSIONS`.
    pub over_capacity: Counter,
    /// SMS a worker refused to send because its shard's lease was no longer safe.
    pub lease_fenced: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            sockets_open: Gauge::default(),
            shards_owned: Gauge::default(),
            sessions: Gauge::default(),
            relayed: Family::default(),
            sms_parts: Counter::default(),
            dropped: Family::default(),
            agent_to_sms: Histogram::new(LATENCY_BUCKETS),
            reconnects: Family::default(),
            errors: Family::default(),
            sms_held: Family::default(),
            shards_unowned: Gauge::default(),
            live_instances: Gauge::default(),
            totals: Totals::default(),
        };
        registry.register(
            "relay_sockets_open",
            "Subscribed participant WebSockets",
            metrics.sockets_open.clone(),
        );
        registry.register(
            "relay_shards_owned",
            "Shard leases held by this instance",
            metrics.shards_owned.clone(),
        );
        registry.register(
            "relay_sessions",
            "Session workers running",
            metrics.sessions.clone(),
        );
        registry.register(
            "relay_messages_relayed",
            "Chat items delivered as SMS, by kind",
            metrics.relayed.clone(),
        );
        registry.register(
            "relay_sms_parts_sent",
            "SMS parts accepted by SNS",
            metrics.sms_parts.clone(),
        );
        registry.register(
            "relay_messages_dropped",
            "Chat items that will never reach the phone, by reason",
            metrics.dropped.clone(),
        );
        registry.register(
            "relay_agent_to_sms_seconds",
            "Time from an agent item arriving on the socket to its SNS call",
            metrics.agent_to_sms.clone(),
        );
        registry.register(
            "relay_reconnects",
            "Participant WebSocket replacements, by reason",
            metrics.reconnects.clone(),
        );
        registry.register(
            "relay_errors",
            "Recovered errors, by kind",
            metrics.errors.clone(),
        );
        registry.register(
            "relay_sms_held",
            "SMS failures that held a reply for another attempt, by reason",
            metrics.sms_held.clone(),
        );
        registry.register(
            "relay_shards_unowned",
            "Shards no live instance held at the last lease round",
            metrics.shards_unowned.clone(),
        );
        registry.register(
            "relay_live_instances",
            "Relay instances holding a live lease at the last lease round",
            metrics.live_instances.clone(),
        );
        metrics
    }

    /// Metrics registered nowhere, for tests of components.
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }

    /// Counts one SMS failure that held a reply, for `reason`.
    pub fn sms_held(&self, reason: &'static str) {
        self.sms_held.get_or_create(&[("reason", reason)]).inc();
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&[("kind", kind)]).inc();
        match kind {
            "transcript_unreadable" => self.totals.replies_lost.inc(),
            "capacity" => self.totals.over_capacity.inc(),
            "lease_fenced" => self.totals.lease_fenced.inc(),
            _ => 0,
        };
    }

    /// Counts one reconnect for `reason`.
    pub fn reconnect(&self, reason: &'static str) {
        self.reconnects.get_or_create(&[("reason", reason)]).inc();
        if reason != "renew" {
            self.totals.reconnects.inc();
        }
    }

    /// Counts one item delivered as SMS.
    pub fn relayed(&self, kind: &'static str) {
        self.relayed.get_or_create(&[("kind", kind)]).inc();
    }

    /// Counts one item that will never reach the phone.
    pub fn dropped(&self, reason: &'static str) {
        self.dropped.get_or_create(&[("reason", reason)]).inc();
        if reason == "rejected" {
            self.totals.replies_lost.inc();
        }
    }
}

/// Renders `registry` in the Prometheus text format (0.0.4).
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; an error here would be a bug in the encoder.
    if prometheus_text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Keeps `relay_sockets_open` equal to the sockets alive: +1 now, −1 when dropped, however
/// the socket's owner exits.
#[derive(Debug)]
pub struct OpenSocket(Gauge);

impl OpenSocket {
    /// Counts one more open socket until the guard is dropped.
    pub fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_the_documented_names() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics.relayed("message");
        metrics.error("socket");
        metrics.reconnect("dropped");
        metrics.dropped("opted_out");
        metrics.agent_to_sms.observe(0.002);
        let guard = OpenSocket::new(&metrics.sockets_open);
        let text = render(&registry);
        for name in [
            "relay_sockets_open 1",
            "relay_shards_owned 0",
            "relay_messages_relayed_total{kind=\"message\"} 1",
            "relay_errors_total{kind=\"socket\"} 1",
            "relay_reconnects_total{reason=\"dropped\"} 1",
            "relay_messages_dropped_total{reason=\"opted_out\"} 1",
            "relay_agent_to_sms_seconds_count 1",
            "relay_sms_parts_sent_total 0",
        ] {
            assert!(text.contains(name), "{name} not in\n{text}");
        }
        drop(guard);
        assert!(render(&registry).contains("relay_sockets_open 0"));
    }
}
