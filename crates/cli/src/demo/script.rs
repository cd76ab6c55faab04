//! The scripted conversation (`bridge demo --script`, or `CI=true`): a customer texts, an
//! agent joins and replies through connect-sim's control API, the relay delivers the
//! replies as SMS (read back from moto), the agent ends the chat, the customer texts again
//! and a new chat starts. Each step waits, with a deadline, for its effect to be visible;
//! the conversation is printed as it happens. It succeeds only if every step arrived.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bridge_core::PhoneNumber;
use tokio::time::Instant;

use super::phone::Phone;
use crate::outbox::Outbox;
use bridge_testkit::SimControl;

/// How often a step looks for its effect.
const POLL: Duration = Duration::from_millis(200);
/// The agent's display name.
const AGENT: &str = "Alex";

/// What the script needs.
pub struct Script<'a> {
    /// The customer's phone (texts go through the handler, in-process).
    pub phone: &'a Phone,
    /// connect-sim's control API.
    pub sim: SimControl,
    /// moto's outbox.
    pub outbox: Outbox,
    /// The customer.
    pub customer: PhoneNumber,
    /// The support line texted.
    pub support: PhoneNumber,
    /// The closing text the relay sends when a chat ends, if configured.
    pub closing_text: Option<String>,
    /// How long each step may take.
    pub step_timeout: Duration,
}

struct Run<'a> {
    script: &'a Script<'a>,
    started: Instant,
    steps: usize,
    /// SMS to the customer already accounted for.
    sms_seen: usize,
}

impl Run<'_> {
    fn say(&self, line: &str) {
        let at = self.started.elapsed().as_secs_f64();
        println!("  [{at:6.2} s] {line}");
    }

    /// Polls `probe` until it returns a value, or fails after the step timeout.
    async fn wait_for<T, F, Fut>(&mut self, what: &str, mut probe: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + self.script.step_timeout;
        loop {
            if let Some(value) = probe().await? {
                self.steps += 1;
                return Ok(value);
            }
            if Instant::now() >= deadline {
                bail!(
                    "step {}: {what}: nothing after {} s",
                    self.steps + 1,
                    self.script.step_timeout.as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn customer_texts(&mut self, body: &str) -> anyhow::Result<super::phone::PhoneResult> {
        let script = self.script;
        self.say(&format!(
            "customer {} → {}: {body}",
            script.customer.as_e164(),
            script.support.as_e164()
        ));
        let sent = script
            .phone
            .text(&script.customer, &script.support, body)
            .await
            .context("the inbound handler failed")?;
        self.steps += 1;
        self.say(&format!("  bridge: {}", sent.description));
        if sent.outcome != "delivered" {
            bail!("the text was not delivered: {}", sent.description);
        }
        Ok(sent)
    }

    async fn chat_shows(&mut self, contact_id: &str, body: &str) -> anyhow::Result<()> {
        let sim = self.script.sim.clone();
        self.wait_for("the agent console shows the text", || {
            let sim = sim.clone();
            async move {
                let items = sim.transcript(contact_id).await?;
                Ok(items
                    .iter()
                    .any(|item| {
                        item.item_type == "MESSAGE"
                            && item.participant_role.as_deref() == Some("CUSTOMER")
                            && item.content.as_deref() == Some(body)
                    })
                    .then_some(()))
            }
        })
        .await?;
        self.say(&format!(
            "  agent console: chat {} shows it",
            short(contact_id)
        ));
        Ok(())
    }

    /// Waits for the next SMS to the customer containing `needle`.
    async fn sms_arrives(&mut self, needle: &str, what: &str) -> anyhow::Result<()> {
        let outbox = self.script.outbox.clone();
        let customer = self.script.customer.clone();
        let seen = self.sms_seen;
        let (index, message) = self
            .wait_for(what, || {
                let outbox = outbox.clone();
                let customer = customer.clone();
                async move {
                    let sms = outbox.fetch_to(&customer).await?;
                    Ok(sms
                        .into_iter()
                        .enumerate()
                        .skip(seen)
                        .find(|(_, sms)| sms.message.contains(needle))
                        .map(|(index, sms)| (index, sms.message)))
                }
            })
            .await?;
        self.sms_seen = index + 1;
        self.say(&format!(
            "SMS {} → {}: {message}",
            self.script.support.as_e164(),
            self.script.customer.as_e164()
        ));
        Ok(())
    }

    async fn agent_says(&mut self, contact_id: &str, text: &str) -> anyhow::Result<()> {
        self.script.sim.say(contact_id, text).await?;
        self.steps += 1;
        self.say(&format!("agent {AGENT}: {text}"));
        self.sms_arrives(text, "the relay delivers the agent's reply as SMS")
            .await
    }
}

/// Plays the conversation; prints it; fails at the first step that does not arrive.
///
/// # Errors
/// The step that failed, and why.
pub async fn play(script: &Script<'_>) -> anyhow::Result<usize> {
    let existing = script.outbox.fetch_to(&script.customer).await?.len();
    let mut run = Run {
        script,
        started: Instant::now(),
        steps: 0,
        sms_seen: existing,
    };
    println!(
        "scripted conversation: customer {} texts support line {}",
        script.customer.as_e164(),
        script.support.as_e164()
    );

    // 1. The first text starts a chat, which the agent sees.
    let first = "Hi! My order A-1001 hasn't arrived yet.";
    let sent = run.customer_texts(first).await?;
    let Some(chat) = sent.contact_id.clone() else {
        bail!("the first text reached no chat");
    };
    if !sent.started {
        bail!("the first text went into an existing chat {chat}; expected a new one");
    }
    run.chat_shows(&chat, first).await?;

    // 2. The agent joins and replies; the relay texts both back.
    script.sim.join(&chat, AGENT).await?;
    run.steps += 1;
    run.say(&format!("agent {AGENT} joins chat {}", short(&chat)));
    run.sms_arrives(AGENT, "the relay texts that an agent joined")
        .await?;
    run.agent_says(&chat, "Sorry about that! Let me check order A-1001.")
        .await?;

    // 3. The customer answers in the same chat.
    let answer = "Thanks, it was a blender.";
    let sent = run.customer_texts(answer).await?;
    if sent.contact_id.as_deref() != Some(chat.as_str()) {
        bail!(
            "the answer went to chat {:?}, not the open chat {chat}",
            sent.contact_id
        );
    }
    run.chat_shows(&chat, answer).await?;
    run.agent_says(&chat, "It ships today; tracking number 1Z999.")
        .await?;

    // 4. The agent ends the chat.
    script.sim.end(&chat).await?;
    run.steps += 1;
    run.say(&format!("agent {AGENT} ends chat {}", short(&chat)));
    if let Some(closing) = &script.closing_text {
        run.sms_arrives(closing, "the relay texts the closing message")
            .await?;
    }

    // 5. A new text after the end starts a new chat.
    let again = "One more question: can I change the delivery address?";
    let sent = run.customer_texts(again).await?;
    let Some(second) = sent.contact_id.clone() else {
        bail!("the text after the end reached no chat");
    };
    if second == chat || !sent.started {
        bail!("the text after the end did not start a new chat (got {second})");
    }
    run.chat_shows(&second, again).await?;
    let sim = script.sim.clone();
    let customer = script.customer.as_e164().to_owned();
    let (first_chat, second_chat) = (chat.clone(), second.clone());
    run.wait_for(
        "connect-sim lists the old chat ended and the new one live",
        || {
            let (sim, customer) = (sim.clone(), customer.clone());
            let (first_chat, second_chat) = (first_chat.clone(), second_chat.clone());
            async move {
                let contacts = sim.contacts_of(&customer).await?;
                let ended = contacts
                    .iter()
                    .any(|c| c.contact_id == first_chat && c.is_ended());
                let live: Vec<_> = contacts.iter().filter(|c| !c.is_ended()).collect();
                Ok((ended && live.len() == 1 && live[0].contact_id == second_chat).then_some(()))
            }
        },
    )
    .await?;
    run.say(&format!(
        "agent console: chat {} ended, new chat {} open",
        short(&chat),
        short(&second)
    ));
    run.agent_says(&second, "Hello again! Yes: what is the new address?")
        .await?;

    println!(
        "scripted conversation: all {} steps arrived (each within {} s) in {:.2} s",
        run.steps,
        script.step_timeout.as_secs(),
        run.started.elapsed().as_secs_f64()
    );
    Ok(run.steps)
}

/// The first 8 characters of an id, for reading.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
