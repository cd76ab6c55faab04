//! One inbound SMS down each path of the handler, with the AWS calls it made.
//!
//! Each scenario brings a fresh customer to the state the path needs (through the handler
//! itself, or connect-sim's control API as the agent), empties the [`CallLog`], handles
//! the one event being measured, and checks its outcome before recording the calls: a
//! path that took a different turn is an error, never a row in the table.
//!
//! [`CallLog`]: crate::calls::CallLog

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use bridge_inbound::Outcome;
use bridge_inbound::envelope::wrap_in_sns_event;
use bridge_testkit::{SimFault, fresh};
use chrono::Utc;
use futures_util::future::join_all;

use super::{Stack, UNKNOWN_SUPPORT};
use crate::calls::Call;

/// The calls one path made.
#[derive(Clone, Debug)]
pub struct PathCalls {
    /// What happened, in a customer's words.
    pub path: &'static str,
    /// The outcome(s) the handler returned (`kind`).
    pub outcome: String,
    /// How many SMS were handled (20 for the race, 1 otherwise).
    pub texts: usize,
    /// Every operation, in the order they started.
    pub calls: Vec<Call>,
}

impl PathCalls {
    /// AWS operations made.
    pub fn operations(&self) -> usize {
        self.calls.len()
    }

    /// HTTP requests sent (retries included).
    pub fn attempts(&self) -> u32 {
        self.calls.iter().map(|call| call.attempts).sum()
    }

    /// The operations in order (`A → B → C`), or counted per operation for long runs.
    pub fn sequence(&self) -> String {
        if self.calls.is_empty() {
            return "none".to_owned();
        }
        if self.calls.len() <= 8 {
            return self
                .calls
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" → ");
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for call in &self.calls {
            *counts.entry(call.to_string()).or_default() += 1;
        }
        let mut text = String::new();
        for (name, count) in counts {
            if !text.is_empty() {
                text.push_str(", ");
            }
            let _ = write!(text, "{name} ×{count}");
        }
        text
    }

    /// The operations' names alone, in order (`DynamoDB.BatchGetItem`, …).
    pub fn names(&self) -> Vec<String> {
        self.calls.iter().map(Call::name).collect()
    }
}

/// The name of the resume path's row (the one with the ≤ 3 budget).
pub const RESUME: &str = "text to the open chat (resume)";
/// The name of the first-text row (the one with the ≤ 4 budget).
pub const FIRST_TEXT: &str = "first text (starts a chat)";
/// The name of the racing first texts' row.
pub const RACE: &str = "20 first texts from one number at once (all)";

/// A body of `chars` characters: words in several scripts, and an emoji.
pub fn long_body(chars: usize) -> String {
    let words = ["order ", "number ", "größe ", "🙂 ", "спасибо ", "谢谢 "];
    words
        .iter()
        .cycle()
        .flat_map(|word| word.chars())
        .take(chars)
        .collect()
}

/// Runs every path once, in order, and returns their calls.
///
/// The last one moves connect-sim's clock a day ahead (connection tokens expire), so a
/// sim used for this is not good for timing-sensitive work afterwards.
///
/// # Errors
/// When a step fails or a path ends in an unexpected outcome.
pub async fn run_all(stack: &Stack) -> anyhow::Result<Vec<PathCalls>> {
    let mut rows = Vec::new();

    // First text, resume, redelivery of the same record.
    let from = fresh::customer();
    rows.push(
        measure(stack, FIRST_TEXT, "delivered", async {
            stack.text(&from, "Hi, where is my order?").await
        })
        .await?,
    );
    let id = fresh::name("sms");
    rows.push(
        measure(stack, RESUME, "delivered", async {
            stack
                .handle(stack.event(&id, &from, "It was due Monday."))
                .await
        })
        .await?,
    );
    rows.push(
        measure(
            stack,
            "the same SNS record again (redelivery)",
            "duplicate",
            async {
                stack
                    .handle(stack.event(&id, &from, "It was due Monday."))
                    .await
            },
        )
        .await?,
    );
    let long = long_body(3_000);
    rows.push(
        measure(
            stack,
            "3,000-character text to the open chat",
            "delivered",
            async { stack.text(&from, &long).await },
        )
        .await?,
    );
    let newcomer = fresh::customer();
    rows.push(
        measure(stack, "3,000-character first text", "delivered", async {
            stack.text(&newcomer, &long).await
        })
        .await?,
    );

    // Keywords.
    rows.push(
        measure(stack, "HELP", "help", async {
            stack.text(&from, "HELP").await
        })
        .await?,
    );
    rows.push(
        measure(stack, "STOP with a chat open", "opted_out", async {
            stack.text(&from, "STOP").await
        })
        .await?,
    );
    rows.push(
        measure(stack, "text while opted out", "suppressed", async {
            stack.text(&from, "hello?").await
        })
        .await?,
    );
    rows.push(
        measure(stack, "START while opted out", "opted_in", async {
            stack.text(&from, "START").await
        })
        .await?,
    );

    // The agent ended the chat: the next text starts a new one.
    let ended = fresh::customer();
    let contact = contact_of(stack.text(&ended, "first").await)?;
    stack.sim.end(&contact.to_string()).await?;
    rows.push(
        measure(
            stack,
            "text after the agent ended the chat",
            "delivered",
            async { stack.text(&ended, "are you there?").await },
        )
        .await?,
    );

    // A 500 from SendMessage, retried inside the SDK.
    let flaky = fresh::customer();
    stack.text(&flaky, "first").await?;
    stack
        .sim
        .add_fault(&SimFault::fail("SendMessage", 500).times(1))
        .await?;
    rows.push(
        measure(stack, "resume, SendMessage 500 once", "delivered", async {
            stack.text(&flaky, "second").await
        })
        .await?,
    );

    // Bad input never reaches AWS.
    rows.push(
        measure(stack, "unknown support number", "rejected", async {
            let event = stack.event_to(
                &fresh::name("sms"),
                &fresh::customer(),
                UNKNOWN_SUPPORT,
                "hi",
            );
            stack.handle(event).await
        })
        .await?,
    );
    rows.push(
        measure(stack, "malformed record", "rejected", async {
            let event = wrap_in_sns_event("{not json", "sns-malformed", "arn:x", Utc::now());
            stack.handle(event).await
        })
        .await?,
    );

    rows.push(race(stack, 20).await?);

    // Last: a day passes in connect-sim, so the stored connection token has expired.
    let sleeper = fresh::customer();
    stack.text(&sleeper, "first").await?;
    stack.sim.advance_clock(Duration::from_secs(86_460)).await?;
    rows.push(
        measure(
            stack,
            "resume, connection token expired",
            "delivered",
            async { stack.text(&sleeper, "back again").await },
        )
        .await?,
    );
    Ok(rows)
}

/// `texts` different first texts from one new customer, handled at once: the calls of
/// all of them (one starts the chat, the others wait for it and send into it).
///
/// # Errors
/// When a text fails, or they did not end in one chat.
pub async fn race(stack: &Stack, texts: usize) -> anyhow::Result<PathCalls> {
    let from = fresh::customer();
    stack.log.take();
    let bodies: Vec<String> = (0..texts)
        .map(|i| format!("text {i} of {texts}, all at once"))
        .collect();
    let outcomes = join_all(bodies.iter().map(|body| stack.text(&from, body))).await;
    let calls = stack.log.take();
    let mut contacts = Vec::new();
    let mut started = 0;
    for outcome in outcomes {
        match outcome.context("a racing first text")? {
            Outcome::Delivered {
                contact_id,
                started: was_started,
            } => {
                started += usize::from(was_started);
                contacts.push(contact_id);
            }
            other => bail!("a racing first text: expected delivered, got {other:?}"),
        }
    }
    let chats: BTreeSet<String> = contacts.iter().map(ToString::to_string).collect();
    ensure!(
        chats.len() == 1 && started == 1,
        "{texts} racing first texts: {} chats, {started} started",
        chats.len()
    );
    Ok(PathCalls {
        path: RACE,
        outcome: "delivered".to_owned(),
        texts,
        calls,
    })
}

async fn measure(
    stack: &Stack,
    path: &'static str,
    expected: &str,
    step: impl Future<Output = Result<Outcome, bridge_inbound::HandlerError>>,
) -> anyhow::Result<PathCalls> {
    stack.log.take();
    let outcome = step.await.with_context(|| format!("path {path:?}"))?;
    let calls = stack.log.take();
    ensure!(
        outcome.kind() == expected,
        "path {path:?}: expected {expected}, got {outcome:?}"
    );
    Ok(PathCalls {
        path,
        outcome: outcome.kind().to_owned(),
        texts: 1,
        calls,
    })
}

fn contact_of(
    outcome: Result<Outcome, bridge_inbound::HandlerError>,
) -> anyhow::Result<bridge_core::ids::ContactId> {
    let outcome = outcome.context("setting up a chat")?;
    outcome
        .contact_id()
        .cloned()
        .with_context(|| format!("setting up a chat: expected delivered, got {outcome:?}"))
}

/// The table `inbound-bench` prints: one row per path.
pub fn markdown(rows: &[PathCalls]) -> String {
    let mut text = String::from(
        "| path | outcome | AWS calls | HTTP requests | calls, in order |\n|---|---|---:|---:|---|\n",
    );
    for row in rows {
        let per = if row.texts > 1 {
            format!(
                " ({:.1} per text)",
                row.operations() as f64 / row.texts as f64
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "| {} | {} | {}{per} | {} | {} |",
            row.path,
            row.outcome,
            row.operations(),
            row.attempts(),
            row.sequence()
        );
    }
    text
}
