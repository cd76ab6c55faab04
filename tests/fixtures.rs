//! Replays every recorded inbound SMS fixture through the parser and keyword classifier,
//! and checks each line's outcome against the fixture's `*.expected.json`.
//!
//! # Expected-file schema
//! ```json
//! {
//!   "description": "what the fixture covers",
//!   "support_lines": ["+18005550100", "+18005550199"],
//!   "lines": [
//!     {"line": 1, "outcome": "ok"},
//!     {"line": 2, "outcome": "keyword", "keyword": "opt_out"},
//!     {"line": 3, "outcome": "unknown_number"},
//!     {"line": 4, "outcome": "rejected", "error": "missing_field", "field": "messageBody"},
//!     {"line": 5, "record": 1, "outcome": "ok", "note": "second record of an SNS event"}
//!   ]
//! }
//! ```
//! - `line`: 1-based line number in the `.jsonl` file (blank lines are skipped, not counted
//!   out).
//! - `record`: 0-based SMS within the line (an SNS event may hold several); default 0. A
//!   rejected line has one entry, for the whole line.
//! - `outcome`: `rejected` (the line does not parse; `error` is `ParseError::kind()` and
//!   `field`, when present, `ParseError::field()`), else `unknown_number` (the destination
//!   is not one of `support_lines`; checked before keywords), else `keyword` (`keyword` is
//!   `opt_out`, `opt_in` or `help`), else `ok` (ordinary text for the chat).
//! - `note`: free text for readers; ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::error::Error as _;
use std::fs;
use std::path::{Path, PathBuf};

use bridge_core::PhoneNumber;
use bridge_core::inbound::{self, InboundSms};
use bridge_core::keyword::{self, Keyword};
use bridge_e2e::fixtures_dir;
use serde::Deserialize;

/// The fixture sets that must exist; more may be added.
const REQUIRED_FIXTURES: [&str; 6] = [
    "plain",
    "keywords",
    "unicode",
    "long",
    "malformed",
    "unknown-number",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[allow(dead_code, reason = "documentation for readers of the file")]
    description: String,
    support_lines: Vec<PhoneNumber>,
    lines: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Ok,
    Keyword,
    UnknownNumber,
    Rejected,
}

/// One expected (or actual) outcome; `note` is left out of comparisons.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    line: usize,
    #[serde(default)]
    record: usize,
    outcome: Outcome,
    #[serde(default)]
    keyword: Option<Keyword>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

impl Entry {
    fn new(line: usize, record: usize, outcome: Outcome) -> Self {
        Self {
            line,
            record,
            outcome,
            keyword: None,
            error: None,
            field: None,
            note: None,
        }
    }

    fn without_note(&self) -> Self {
        Self {
            note: None,
            ..self.clone()
        }
    }

    /// Keyword only with `keyword`, error/field only with `rejected`.
    fn check_shape(&self, file: &str) {
        let here = format!("{file} line {} record {}", self.line, self.record);
        assert_eq!(
            self.keyword.is_some(),
            self.outcome == Outcome::Keyword,
            "{here}: `keyword` goes with outcome keyword, and only there"
        );
        assert_eq!(
            self.error.is_some(),
            self.outcome == Outcome::Rejected,
            "{here}: `error` goes with outcome rejected, and only there"
        );
        assert!(
            self.field.is_none() || self.outcome == Outcome::Rejected,
            "{here}: `field` only goes with outcome rejected"
        );
        assert!(self.line >= 1, "{here}: lines are 1-based");
    }
}

/// What the bridge would do with one SMS, as far as parsing and routing go.
fn outcome_of(
    line: usize,
    record: usize,
    sms: &InboundSms,
    support_lines: &[PhoneNumber],
) -> Entry {
    if !support_lines.contains(&sms.destination) {
        return Entry::new(line, record, Outcome::UnknownNumber);
    }
    match keyword::classify(&sms.body) {
        Some(found) => Entry {
            keyword: Some(found),
            ..Entry::new(line, record, Outcome::Keyword)
        },
        None => Entry::new(line, record, Outcome::Ok),
    }
}

/// Replays one fixture file and returns the outcome of every SMS in it.
fn replay(jsonl: &Path, support_lines: &[PhoneNumber]) -> Vec<Entry> {
    let text = fs::read_to_string(jsonl).unwrap_or_else(|e| panic!("{}: {e}", jsonl.display()));
    let mut outcomes = Vec::new();
    for (index, content) in text.lines().enumerate() {
        let line = index + 1;
        if content.trim().is_empty() {
            continue;
        }
        match inbound::parse_line(content) {
            Ok(texts) => {
                assert!(
                    !texts.is_empty(),
                    "{} line {line}: parsed into no SMS",
                    jsonl.display()
                );
                for (record, sms) in texts.iter().enumerate() {
                    outcomes.push(outcome_of(line, record, sms, support_lines));
                }
            }
            Err(error) => outcomes.push(Entry {
                error: Some(error.kind().to_owned()),
                field: error.field().map(str::to_owned),
                ..Entry::new(line, 0, Outcome::Rejected)
            }),
        }
    }
    outcomes
}

fn fixture_names(extension: &str) -> BTreeSet<String> {
    let dir = fixtures_dir();
    fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(extension).map(str::to_owned))
        .collect()
}

fn load_expected(name: &str) -> Expected {
    let path = fixtures_dir().join(format!("{name}.expected.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn jsonl_path(name: &str) -> PathBuf {
    fixtures_dir().join(format!("{name}.jsonl"))
}

#[test]
fn every_fixture_has_an_expected_file_and_every_expected_file_a_fixture() {
    let fixtures = fixture_names(".jsonl");
    let expected = fixture_names(".expected.json");
    for name in REQUIRED_FIXTURES {
        assert!(fixtures.contains(name), "missing fixture {name}.jsonl");
    }
    assert_eq!(
        fixtures, expected,
        "fixtures and expected files must pair up"
    );
}

#[test]
fn expected_files_are_well_formed() {
    for name in fixture_names(".expected.json") {
        let expected = load_expected(&name);
        assert!(
            !expected.support_lines.is_empty(),
            "{name}: no support lines"
        );
        assert!(!expected.lines.is_empty(), "{name}: no lines");
        for entry in &expected.lines {
            entry.check_shape(&name);
        }
    }
}

#[test]
fn every_fixture_line_has_the_expected_outcome() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in fixture_names(".jsonl") {
        let expected = load_expected(&name);
        let want: Vec<Entry> = expected.lines.iter().map(Entry::without_note).collect();
        let got = replay(&jsonl_path(&name), &expected.support_lines);
        checked += got.len();
        let longest = want.len().max(got.len());
        for i in 0..longest {
            match (want.get(i), got.get(i)) {
                (Some(w), Some(g)) if w == g => {}
                (w, g) => failures.push(format!("{name}: expected {w:?}, got {g:?}")),
            }
        }
    }
    assert!(checked > 0, "no fixture lines were replayed");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn each_outcome_kind_is_covered_by_the_fixtures() {
    let mut seen = BTreeSet::new();
    for name in fixture_names(".expected.json") {
        for entry in load_expected(&name).lines {
            seen.insert(format!("{:?}", entry.outcome));
            if let Some(keyword) = entry.keyword {
                seen.insert(keyword.as_str().to_owned());
            }
        }
    }
    for kind in [
        "Ok",
        "Keyword",
        "UnknownNumber",
        "Rejected",
        "opt_out",
        "opt_in",
        "help",
    ] {
        assert!(seen.contains(kind), "no fixture line has outcome {kind}");
    }
}

#[test]
fn rejected_lines_never_echo_the_body_or_a_full_number() {
    // GIVEN the malformed fixture, whose bodies and numbers are known
    let text = fs::read_to_string(jsonl_path("malformed")).unwrap();
    let secrets = [
        "+12065550123",
        "2065550123",
        "Where is my order",
        "Lorem ipsum",
        "Hi the",
    ];
    for (index, line) in text.lines().enumerate() {
        // WHEN a line is rejected
        let Err(error) = inbound::parse_line(line) else {
            continue;
        };
        // THEN neither its message nor any cause shows personal data
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        for secret in secrets {
            assert!(
                !chain.contains(secret),
                "line {}: {chain:?} shows {secret:?}",
                index + 1
            );
        }
    }
}

#[test]
fn long_fixture_body_is_three_thousand_characters() {
    let text = fs::read_to_string(jsonl_path("long")).unwrap();
    let texts = inbound::parse_line(text.lines().next().unwrap()).unwrap();
    assert_eq!(texts[0].body.chars().count(), 3_000);
}
