//! The benchmark report.

use serde_json::{Value, json};

/// Everything measured in one run.
pub struct Report {
    pub sockets_requested: usize,
    pub sockets_per_chat: usize,
    pub chats: usize,
    pub sockets_opened: usize,
    pub sockets_held: usize,
    pub setup_secs: f64,
    pub hold_secs: u64,
    pub heartbeats_sent: u64,
    pub heartbeats_answered: u64,
    pub sim_sockets_open_after_hold: u64,
    pub sim_sockets_subscribed_after_hold: u64,
    pub slow_consumer_closes: u64,
    pub rss_kib_start: Option<u64>,
    pub rss_kib_sockets_open: Option<u64>,
    pub rss_kib_after_hold: Option<u64>,
    pub rss_kib_after_fanout: Option<u64>,
    pub rss_kib_peak: Option<u64>,
    pub messages_posted: usize,
    pub deliveries_expected: u64,
    pub deliveries: u64,
    pub all_delivered: bool,
    pub posting_secs: f64,
    pub fanout_secs: f64,
    pub latencies_us: Vec<u32>,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

impl Report {
    fn percentile(&self, sorted: &[u32], p: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
    }

    fn sorted(&self) -> Vec<u32> {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        sorted
    }

    fn per_socket_kib(&self) -> Option<f64> {
        let start = self.rss_kib_start?;
        let held = self.rss_kib_after_hold?;
        Some(held.saturating_sub(start) as f64 / self.sockets_held.max(1) as f64)
    }

    /// Prints the human-readable summary.
    pub fn print(&self) {
        let sorted = self.sorted();
        println!("connect-sim load report");
        println!(
            "  sockets: {} requested, {} opened and subscribed, {} still open at the end ({} per chat, {} chats)",
            self.sockets_requested,
            self.sockets_opened,
            self.sockets_held,
            self.sockets_per_chat,
            self.chats
        );
        println!(
            "  sim view after {} s hold: {} sockets open, {} subscribed; slow-consumer closes: {}",
            self.hold_secs,
            self.sim_sockets_open_after_hold,
            self.sim_sockets_subscribed_after_hold,
            self.slow_consumer_closes
        );
        println!(
            "  heartbeats during hold: {} sent, {} answered",
            self.heartbeats_sent, self.heartbeats_answered
        );
        println!("  setup: {:.1} s", self.setup_secs);
        println!(
            "  sim RSS: start {}, sockets open {}, after hold {}, after fan-out {}, peak {}{}",
            mib(self.rss_kib_start),
            mib(self.rss_kib_sockets_open),
            mib(self.rss_kib_after_hold),
            mib(self.rss_kib_after_fanout),
            mib(self.rss_kib_peak),
            self.per_socket_kib()
                .map(|k| format!(" (~{k:.1} KiB per held socket)"))
                .unwrap_or_default()
        );
        println!(
            "  fan-out: {} agent messages posted in {:.2} s ({:.0} posts/s); {} of {} deliveries{} in {:.2} s = {:.0} messages/s delivered",
            self.messages_posted,
            self.posting_secs,
            self.messages_posted as f64 / self.posting_secs.max(1e-9),
            self.deliveries,
            self.deliveries_expected,
            if self.all_delivered {
                ""
            } else {
                " (TIMED OUT)"
            },
            self.fanout_secs,
            self.deliveries as f64 / self.fanout_secs.max(1e-9)
        );
        println!(
            "  delivery latency (agent POST to socket frame): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.percentile(&sorted, 50.0),
            self.percentile(&sorted, 99.0),
            self.percentile(&sorted, 100.0)
        );
    }

    /// The same numbers as JSON.
    pub fn to_json(&self) -> Value {
        let sorted = self.sorted();
        json!({
            "sockets_requested": self.sockets_requested,
            "sockets_per_chat": self.sockets_per_chat,
            "chats": self.chats,
            "sockets_opened": self.sockets_opened,
            "sockets_held": self.sockets_held,
            "sim_sockets_open_after_hold": self.sim_sockets_open_after_hold,
            "sim_sockets_subscribed_after_hold": self.sim_sockets_subscribed_after_hold,
            "slow_consumer_closes": self.slow_consumer_closes,
            "setup_secs": self.setup_secs,
            "hold_secs": self.hold_secs,
            "heartbeats_sent": self.heartbeats_sent,
            "heartbeats_answered": self.heartbeats_answered,
            "rss_kib_start": self.rss_kib_start,
            "rss_kib_sockets_open": self.rss_kib_sockets_open,
            "rss_kib_after_hold": self.rss_kib_after_hold,
            "rss_kib_after_fanout": self.rss_kib_after_fanout,
            "rss_kib_peak": self.rss_kib_peak,
            "messages_posted": self.messages_posted,
            "deliveries_expected": self.deliveries_expected,
            "deliveries": self.deliveries,
            "all_delivered": self.all_delivered,
            "posting_secs": self.posting_secs,
            "fanout_secs": self.fanout_secs,
            "deliveries_per_sec": self.deliveries as f64 / self.fanout_secs.max(1e-9),
            "latency_ms_p50": self.percentile(&sorted, 50.0),
            "latency_ms_p99": self.percentile(&sorted, 99.0),
            "latency_ms_max": self.percentile(&sorted, 100.0),
        })
    }
}
