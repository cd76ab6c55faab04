//! The replay's report: counts per outcome, rejections by reason, failures by line, and
//! (in-process) where the time went.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::target::{EventTiming, Observed};
use crate::meter::{Service, Totals};

/// The result of one line.
#[derive(Clone, Debug, Serialize)]
pub struct LineResult {
    /// 1-based line number.
    pub line: usize,
    /// One entry per text (one for an unreadable line), or none when the line failed.
    pub outcomes: Vec<Observed>,
    /// The failure (with its causes), when sending failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// In-process timing.
    #[serde(skip)]
    pub timing: Option<EventTiming>,
}

/// Counts over a whole replay.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    /// Non-blank lines read.
    pub lines: usize,
    /// Texts the target accepted (every outcome but rejected and duplicate, plus
    /// `published`).
    pub sent: usize,
    /// Of `sent`: delivered to a chat.
    pub delivered: usize,
    /// Of `delivered`: chats started.
    pub chats_started: usize,
    /// Of `sent`: STOP / START / HELP.
    pub keywords: usize,
    /// Of `sent`: not forwarded, the customer is opted out.
    pub suppressed: usize,
    /// Of `sent`: refused by Connect for good.
    pub dropped: usize,
    /// Of `sent`: published to SNS (the outcome is the function's).
    pub published: usize,
    /// Already processed.
    pub duplicates: usize,
    /// Rejected, by reason.
    pub rejected: BTreeMap<String, usize>,
    /// Lines whose sending failed.
    pub failures: usize,
}

impl Tally {
    /// Adds one line's result.
    pub fn add(&mut self, result: &LineResult) {
        self.lines += 1;
        if result.error.is_some() {
            self.failures += 1;
            return;
        }
        for observed in &result.outcomes {
            match observed.outcome.as_str() {
                "duplicate" => self.duplicates += 1,
                "rejected" => *self.rejected.entry(observed.reject_label()).or_default() += 1,
                other => {
                    self.sent += 1;
                    match other {
                        "delivered" => {
                            self.delivered += 1;
                            if observed.started == Some(true) {
                                self.chats_started += 1;
                            }
                        }
                        "opted_out" | "opted_in" | "help" => self.keywords += 1,
                        "suppressed" => self.suppressed += 1,
                        "dropped" => self.dropped += 1,
                        "published" => self.published += 1,
                        _ => {}
                    }
                }
            }
        }
    }

    /// Rejected texts, all reasons.
    pub fn rejected_total(&self) -> usize {
        self.rejected.values().sum()
    }

    /// Texts seen (every outcome), for rates.
    pub fn texts(&self) -> usize {
        self.sent + self.duplicates + self.rejected_total()
    }

    /// The human summary.
    pub fn render(&self, elapsed: Duration) -> String {
        let mut out = String::new();
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.texts() as f64 / secs
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "summary: {} lines, {} texts in {secs:.2} s ({rate:.1} texts/s)",
            self.lines,
            self.texts()
        );
        let mut sent = format!("  sent        {}", self.sent);
        if self.sent > 0 {
            let mut parts = Vec::new();
            if self.published > 0 {
                parts.push(format!("published {}", self.published));
            }
            if self.delivered > 0 || self.published == 0 {
                parts.push(format!(
                    "delivered {} ({} new chats)",
                    self.delivered, self.chats_started
                ));
            }
            for (label, count) in [
                ("keywords", self.keywords),
                ("suppressed", self.suppressed),
                ("dropped", self.dropped),
            ] {
                if count > 0 {
                    parts.push(format!("{label} {count}"));
                }
            }
            let _ = write!(sent, ": {}", parts.join(", "));
        }
        let _ = writeln!(out, "{sent}");
        let _ = writeln!(out, "  duplicates  {}", self.duplicates);
        let mut rejected = format!("  rejected    {}", self.rejected_total());
        if !self.rejected.is_empty() {
            let reasons: Vec<String> = self
                .rejected
                .iter()
                .map(|(reason, count)| format!("{reason} {count}"))
                .collect();
            let _ = write!(rejected, ": {}", reasons.join(", "));
        }
        let _ = writeln!(out, "{rejected}");
        let _ = writeln!(out, "  failures    {}", self.failures);
        out
    }
}

/// Where the time of in-process events went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Events measured.
    pub events: usize,
    /// Summed wall time of the events, ms.
    pub wall_ms: f64,
    /// Of which with a service call in flight, ms.
    pub in_services_ms: f64,
    /// Per service: calls and summed call time, ms.
    pub services: BTreeMap<&'static str, ServiceTime>,
}

/// Calls to one service.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceTime {
    /// Calls made.
    pub calls: u64,
    /// Summed call time, ms.
    pub total_ms: f64,
}

impl Timings {
    /// Adds one event's timing.
    pub fn add(&mut self, timing: &EventTiming) {
        self.events += 1;
        self.wall_ms += timing.wall.as_secs_f64() * 1e3;
        self.in_services_ms += timing.in_services.as_secs_f64() * 1e3;
    }

    /// Copies the per-service totals.
    pub fn set_services(&mut self, totals: &Totals) {
        for service in Service::ALL {
            self.services.insert(
                service.as_str(),
                ServiceTime {
                    calls: totals.calls(service),
                    total_ms: totals.time(service).as_secs_f64() * 1e3,
                },
            );
        }
    }

    /// The human report.
    pub fn render(&self, texts: usize, elapsed: Duration, concurrency: usize) -> String {
        let mut out = String::new();
        let secs = elapsed.as_secs_f64();
        let events = self.events.max(1) as f64;
        let handler_ms = (self.wall_ms - self.in_services_ms).max(0.0);
        let share = |part: f64| {
            if self.wall_ms > 0.0 {
                100.0 * part / self.wall_ms
            } else {
                0.0
            }
        };
        let _ = writeln!(
            out,
            "timings: {} events, {texts} texts in {secs:.2} s wall at concurrency {concurrency}: \
             {:.1} events/s",
            self.events,
            if secs > 0.0 {
                self.events as f64 / secs
            } else {
                0.0
            }
        );
        let _ = writeln!(
            out,
            "  per event (mean)   {:.2} ms = {:.2} ms waiting on services ({:.0}%) + {:.2} ms in \
             the handler ({:.0}%)",
            self.wall_ms / events,
            self.in_services_ms / events,
            share(self.in_services_ms),
            handler_ms / events,
            share(handler_ms)
        );
        for (name, time) in &self.services {
            if time.calls == 0 {
                continue;
            }
            let emulator = match *name {
                "dynamodb" => "DynamoDB Local or moto",
                "sns" => "moto",
                _ => "connect-sim",
            };
            let _ = writeln!(
                out,
                "  {name:<9} {:>7} calls, {:.2} per event, mean {:.2} ms per call (sdk + {emulator} locally)",
                time.calls,
                time.calls as f64 / events,
                time.total_ms / time.calls as f64
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn line(outcomes: &[&str]) -> LineResult {
        LineResult {
            line: 1,
            outcomes: outcomes
                .iter()
                .map(|outcome| Observed {
                    outcome: (*outcome).to_owned(),
                    ..Observed::default()
                })
                .collect(),
            error: None,
            timing: None,
        }
    }

    #[test]
    fn tally_counts_each_outcome_once() {
        let mut tally = Tally::default();
        tally.add(&line(&["delivered", "delivered"]));
        tally.add(&line(&["duplicate"]));
        tally.add(&line(&["help"]));
        tally.add(&LineResult {
            outcomes: vec![Observed::unreadable("invalid_json", None)],
            ..line(&[])
        });
        tally.add(&LineResult {
            error: Some("boom".into()),
            ..line(&[])
        });
        assert_eq!(tally.lines, 5);
        assert_eq!(tally.sent, 3);
        assert_eq!(tally.delivered, 2);
        assert_eq!(tally.keywords, 1);
        assert_eq!(tally.duplicates, 1);
        assert_eq!(tally.rejected.get("invalid_json"), Some(&1));
        assert_eq!(tally.failures, 1);
        let text = tally.render(Duration::from_secs(1));
        assert!(text.contains("duplicates  1"), "{text}");
        assert!(text.contains("rejected    1: invalid_json 1"), "{text}");
        assert!(text.contains("failures    1"), "{text}");
    }
}
