//! `--expect FILE.expected.json`: compares a replay's outcomes with a fixture's expected
//! outcomes (schema in `tests/fixtures.rs`).
//!
//! The handler's outcome maps to the fixture's vocabulary: `delivered` → `ok`;
//! `opted_out` / `opted_in` / `help` → `keyword` with that keyword; rejected as malformed
//! → `rejected` with the parser's error kind and field; rejected for an unknown support
//! number → `unknown_number`. Anything else (`duplicate`, `suppressed`, `dropped`) has no
//! expected counterpart and is always a mismatch, named as such.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use bridge_core::PhoneNumber;
use serde::Deserialize;

use super::target::Observed;

/// An expected-outcomes file.
#[derive(Debug, Deserialize)]
pub struct Expected {
    /// The support lines the fixture assumes.
    pub support_lines: Vec<PhoneNumber>,
    /// One entry per text (per line for a rejected line).
    pub lines: Vec<Entry>,
}

/// One expected (or actual) outcome, in the fixture's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Entry {
    /// 1-based line.
    pub line: usize,
    /// 0-based text within the line.
    #[serde(default)]
    pub record: usize,
    /// `ok`, `keyword`, `unknown_number`, `rejected`, or (actual only) another outcome.
    pub outcome: String,
    /// With `keyword`.
    #[serde(default)]
    pub keyword: Option<String>,
    /// With `rejected`: the parser's error kind.
    #[serde(default)]
    pub error: Option<String>,
    /// With `rejected`: the field at fault, when there is one.
    #[serde(default)]
    pub field: Option<String>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.outcome)?;
        if let Some(keyword) = &self.keyword {
            write!(f, " {keyword}")?;
        }
        if let Some(error) = &self.error {
            write!(f, " {error}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        Ok(())
    }
}

impl Entry {
    /// The fixture-vocabulary entry for an observed outcome.
    pub fn from_observed(line: usize, record: usize, observed: &Observed) -> Self {
        let mut entry = Self {
            line,
            record,
            outcome: observed.outcome.clone(),
            keyword: None,
            error: None,
            field: None,
        };
        match observed.outcome.as_str() {
            "delivered" => entry.outcome = "ok".to_owned(),
            "opted_out" | "opted_in" | "help" => {
                let keyword = match observed.outcome.as_str() {
                    "opted_out" => "opt_out",
                    "opted_in" => "opt_in",
                    _ => "help",
                };
                entry.keyword = Some(keyword.to_owned());
                entry.outcome = "keyword".to_owned();
            }
            "rejected" if observed.reason.as_deref() == Some("unknown_support_number") => {
                entry.outcome = "unknown_number".to_owned();
            }
            "rejected" => {
                entry.error = observed.kind.clone().or_else(|| observed.reason.clone());
                entry.field = observed.field.clone();
            }
            _ => {}
        }
        entry
    }
}

/// Reads an expected-outcomes file.
///
/// # Errors
/// When it cannot be read or is not of the schema.
pub fn load(path: &Path) -> anyhow::Result<Expected> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Checks that the configured support lines are the ones the fixture assumes.
///
/// # Errors
/// Which lines differ, and how to configure them.
pub fn check_support_lines(expected: &Expected, configured: &[PhoneNumber]) -> anyhow::Result<()> {
    let want: BTreeSet<&str> = expected
        .support_lines
        .iter()
        .map(PhoneNumber::as_e164)
        .collect();
    let have: BTreeSet<&str> = configured.iter().map(PhoneNumber::as_e164).collect();
    if want != have {
        anyhow::bail!(
            "the expected file assumes support lines {want:?}, but the bridge is configured \
             with {have:?}: set --support-lines / BRIDGE_SUPPORT_LINES to match"
        );
    }
    Ok(())
}

/// Every difference between expected and actual, in line order, as sentences.
pub fn compare(expected: &[Entry], actual: &[Entry]) -> Vec<String> {
    let key = |entry: &Entry| (entry.line, entry.record);
    let mut want: Vec<&Entry> = expected.iter().collect();
    let mut got: Vec<&Entry> = actual.iter().collect();
    want.sort_by_key(|entry| key(entry));
    got.sort_by_key(|entry| key(entry));
    let mut problems = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < want.len() || j < got.len() {
        match (want.get(i), got.get(j)) {
            (Some(w), Some(g)) if key(w) == key(g) => {
                if w != g {
                    problems.push(format!(
                        "line {} record {}: expected {w}, got {g}",
                        w.line, w.record
                    ));
                }
                i += 1;
                j += 1;
            }
            (Some(w), Some(g)) if key(w) < key(g) => {
                problems.push(format!(
                    "line {} record {}: expected {w}, got nothing",
                    w.line, w.record
                ));
                i += 1;
            }
            (Some(w), None) => {
                problems.push(format!(
                    "line {} record {}: expected {w}, got nothing",
                    w.line, w.record
                ));
                i += 1;
            }
            (_, Some(g)) => {
                problems.push(format!(
                    "line {} record {}: got {g}, expected nothing",
                    g.line, g.record
                ));
                j += 1;
            }
            (None, None) => break,
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn entry(line: usize, outcome: &str) -> Entry {
        Entry {
            line,
            record: 0,
            outcome: outcome.to_owned(),
            keyword: None,
            error: None,
            field: None,
        }
    }

    #[test]
    fn handler_outcomes_map_to_the_fixture_vocabulary() {
        let observed = |json: serde_json::Value| serde_json::from_value::<Observed>(json).unwrap();
        let delivered = observed(serde_json::json!({"outcome": "delivered", "contact_id": "c"}));
        assert_eq!(Entry::from_observed(1, 0, &delivered), entry(1, "ok"));
        let help = Entry::from_observed(2, 0, &observed(serde_json::json!({"outcome": "help"})));
        assert_eq!(help.outcome, "keyword");
        assert_eq!(help.keyword.as_deref(), Some("help"));
        let stop = observed(serde_json::json!({"outcome": "opted_out"}));
        assert_eq!(
            Entry::from_observed(2, 0, &stop).keyword.as_deref(),
            Some("opt_out")
        );
        let start = observed(serde_json::json!({"outcome": "opted_in"}));
        assert_eq!(
            Entry::from_observed(2, 0, &start).keyword.as_deref(),
            Some("opt_in")
        );
        let unknown = observed(
            serde_json::json!({"outcome": "rejected", "reason": "unknown_support_number"}),
        );
        assert_eq!(
            Entry::from_observed(3, 0, &unknown),
            entry(3, "unknown_number")
        );
        let malformed = Entry::from_observed(
            4,
            0,
            &Observed::unreadable("missing_field", Some("messageBody")),
        );
        assert_eq!(malformed.outcome, "rejected");
        assert_eq!(malformed.error.as_deref(), Some("missing_field"));
        assert_eq!(malformed.field.as_deref(), Some("messageBody"));
        let duplicate = observed(serde_json::json!({"outcome": "duplicate"}));
        assert_eq!(Entry::from_observed(5, 0, &duplicate).outcome, "duplicate");
    }

    #[test]
    fn compare_names_every_difference() {
        let want = vec![entry(1, "ok"), entry(2, "ok"), entry(3, "ok")];
        let got = vec![entry(1, "ok"), entry(2, "duplicate"), entry(4, "ok")];
        let problems = compare(&want, &got);
        assert_eq!(
            problems,
            vec![
                "line 2 record 0: expected ok, got duplicate",
                "line 3 record 0: expected ok, got nothing",
                "line 4 record 0: got ok, expected nothing",
            ]
        );
        assert!(compare(&want, &want).is_empty());
    }
}
