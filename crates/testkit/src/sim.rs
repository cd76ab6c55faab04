//! A typed client of connect-sim's control API (`/sim`): the agent's side of a chat, the
//! operator's view of it, and the switches tests turn (faults, sockets, quotas, the clock,
//! the End User Messaging stand-in).
//!
//! The shapes are connect-sim's (documented at the top of
//! `crates/connect-sim/src/http/sim.rs`); each view here types the fields callers read
//! and keeps the rest of the object in `rest`, so a field the sim adds never breaks a
//! caller; a field the sim always sends is required, so a renamed one fails loudly instead
//! of reading as empty. Every method fails with the URL, the status and the body when the sim answers an
//! error.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// No control call may take longer (long polls pass their own, shorter, bound).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// A chat, as `GET /sim/contacts` lists it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Contact {
    /// The contact id.
    pub contact_id: String,
    /// The first contact of the chat (itself, unless continued from another).
    pub initial_contact_id: String,
    /// `STARTED`, `CONNECTED`, `ACTIVE` or `ENDED`.
    pub status: String,
    /// Contact attributes (the bridge sets `customerNumber`, `supportNumber`, `channel`).
    pub attributes: BTreeMap<String, String>,
    /// The contact a persistent chat continued, if any.
    #[serde(default)]
    pub continued_from_contact_id: Option<String>,
    /// The agent's display name once one joined.
    #[serde(default)]
    pub agent_display_name: Option<String>,
    /// Participant sockets subscribed to the chat (one contact, or the list).
    #[serde(default)]
    pub subscribed_sockets: Option<usize>,
    /// Everything else the sim reports (`Timers`, `StartedAt`, `EndedAt`, …).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Contact {
    /// Whether the chat is over.
    pub fn is_ended(&self) -> bool {
        self.status == "ENDED"
    }

    /// The `customerNumber` attribute.
    pub fn customer(&self) -> Option<&str> {
        self.attributes.get("customerNumber").map(String::as_str)
    }
}

/// One transcript item, shaped as in GetTranscript.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Item {
    /// The item id.
    pub id: String,
    /// `MESSAGE`, `EVENT`, `MESSAGEMETADATA`.
    #[serde(rename = "Type")]
    pub item_type: String,
    /// `CUSTOMER`, `AGENT`, `SYSTEM`.
    #[serde(default)]
    pub participant_role: Option<String>,
    /// The text of a message.
    #[serde(default)]
    pub content: Option<String>,
    /// The content type (absent on receipts).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Set on the items of an earlier contact of a persistent chat.
    #[serde(default)]
    pub related_contact_id: Option<String>,
    /// Everything else (`AbsoluteTime`, `MessageMetadata`, …).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Item {
    /// A message written by `role` (`CUSTOMER`, `AGENT`) in this contact, not an earlier one.
    pub fn is_message_of(&self, role: &str) -> bool {
        self.item_type == "MESSAGE"
            && self.participant_role.as_deref() == Some(role)
            && self.related_contact_id.is_none()
    }
}

/// What the sim answers to a message or an event the agent sends.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sent {
    /// The item id.
    pub id: String,
    /// When it was stored.
    pub absolute_time: String,
}

/// A fault connect-sim injects into its Connect and Participant APIs (`POST /sim/faults`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SimFault {
    /// The API operation (`StartChatContact`, `SendMessage`, …).
    pub operation: String,
    /// The HTTP status to fail with; `None` only delays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error shape (defaults from the status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// How many calls (the sim's default is one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Delay before answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl SimFault {
    /// `operation` fails once with `status`.
    pub fn fail(operation: &str, status: u16) -> Self {
        Self {
            operation: operation.to_owned(),
            status: Some(status),
            ..Self::default()
        }
    }

    /// `operation` answers `delay` late, successfully.
    pub fn delay(operation: &str, delay: Duration) -> Self {
        Self {
            operation: operation.to_owned(),
            delay_ms: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            ..Self::default()
        }
    }

    /// The same fault for `count` calls.
    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    /// The same fault with this error shape.
    #[must_use]
    pub fn error_type(mut self, error_type: &str) -> Self {
        self.error_type = Some(error_type.to_owned());
        self
    }
}

/// What the sim reports after moving its clock (`POST /sim/clock/advance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Advanced {
    /// How far simulated time is ahead of real time.
    pub offset_ms: u64,
    /// Chats whose deadline passed and so ended.
    pub ended_chats: usize,
}

/// One text the End User Messaging stand-in accepted (`GET /sim/sms/messages`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SimSms {
    /// SendTextMessage's answer.
    pub message_id: String,
    /// The recipient.
    pub destination_phone_number: String,
    /// The text.
    pub message_body: String,
    /// The final delivery event once reached (`TEXT_DELIVERED`, …).
    #[serde(default)]
    pub final_event_type: Option<String>,
    /// Everything else, as given to SendTextMessage.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// What a contact must reach before [`SimControl::wait_for`] answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wait<'a> {
    /// This status (`ENDED`, …).
    pub status: Option<&'a str>,
    /// At least this many subscribed participant sockets.
    pub subscribers: Option<usize>,
}

/// The control API of one connect-sim.
#[derive(Clone, Debug)]
pub struct SimControl {
    http: reqwest::Client,
    base: String,
}

impl SimControl {
    /// The control API of the connect-sim at `base` (`http://host:port`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the http client")?;
        Ok(Self::with_client(http, base))
    }

    /// The same over `http` (a client trusting the sim's CA when it serves TLS).
    pub fn with_client(http: reqwest::Client, base: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The sim's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Every chat, oldest first.
    ///
    /// # Errors
    /// The sim unreachable or answering an error (here and for every method).
    pub async fn contacts(&self) -> anyhow::Result<Vec<Contact>> {
        self.get("/sim/contacts").await
    }

    /// The chats of one customer (by the `customerNumber` attribute), oldest first.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn contacts_of(&self, customer: &str) -> anyhow::Result<Vec<Contact>> {
        let mut contacts = self.contacts().await?;
        contacts.retain(|contact| contact.customer() == Some(customer));
        Ok(contacts)
    }

    /// One chat.
    ///
    /// # Errors
    /// As [`Self::contacts`]; an unknown contact is an error.
    pub async fn contact(&self, contact_id: &str) -> anyhow::Result<Contact> {
        self.get(&format!("/sim/contacts/{contact_id}")).await
    }

    /// One chat once it reached `wait` (the sim long-polls, up to `within`).
    ///
    /// # Errors
    /// As [`Self::contacts`]; not reached within `within` is an error (408).
    pub async fn wait_for(
        &self,
        contact_id: &str,
        wait: Wait<'_>,
        within: Duration,
    ) -> anyhow::Result<Contact> {
        let mut query = vec![format!("TimeoutMs={}", within.as_millis())];
        if let Some(status) = wait.status {
            query.push(format!("WaitFor={status}"));
        }
        if let Some(subscribers) = wait.subscribers {
            query.push(format!("WaitForSubscribers={subscribers}"));
        }
        self.get(&format!("/sim/contacts/{contact_id}?{}", query.join("&")))
            .await
    }

    /// Every stored item of a chat, oldest first.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn transcript(&self, contact_id: &str) -> anyhow::Result<Vec<Item>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Transcript {
            transcript: Vec<Item>,
        }
        let transcript: Transcript = self
            .get(&format!("/sim/contacts/{contact_id}/transcript"))
            .await?;
        Ok(transcript.transcript)
    }

    /// The texts the customer wrote in this contact, oldest first (not those of an
    /// earlier contact of a persistent chat).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn customer_texts(&self, contact_id: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .transcript(contact_id)
            .await?
            .into_iter()
            .filter(|item| item.is_message_of("CUSTOMER"))
            .filter_map(|item| item.content)
            .collect())
    }

    /// The agent joins the chat as `display_name`.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn join(&self, contact_id: &str, display_name: &str) -> anyhow::Result<()> {
        let _: Value = self
            .post(
                &format!("/sim/contacts/{contact_id}/agent/join"),
                &json!({ "DisplayName": display_name }),
            )
            .await?;
        Ok(())
    }

    /// The agent writes `text` (plain text; the sim joins the agent first if needed).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn say(&self, contact_id: &str, text: &str) -> anyhow::Result<Sent> {
        self.send(contact_id, "text/plain", text).await
    }

    /// The agent sends `content` of `content_type` (an interactive message, markdown…).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn send(
        &self,
        contact_id: &str,
        content_type: &str,
        content: &str,
    ) -> anyhow::Result<Sent> {
        self.post(
            &format!("/sim/contacts/{contact_id}/agent/messages"),
            &json!({ "Content": content, "ContentType": content_type }),
        )
        .await
    }

    /// The agent sends an event (typing, a read or delivered receipt).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn event(
        &self,
        contact_id: &str,
        content_type: &str,
        content: Option<&str>,
    ) -> anyhow::Result<Sent> {
        self.post(
            &format!("/sim/contacts/{contact_id}/agent/events"),
            &json!({ "ContentType": content_type, "Content": content }),
        )
        .await
    }

    /// The agent ends the chat.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn end(&self, contact_id: &str) -> anyhow::Result<()> {
        let _: Value = self
            .post(&format!("/sim/contacts/{contact_id}/end"), &json!({}))
            .await?;
        Ok(())
    }

    /// Arms `fault`.
    ///
    /// # Errors
    /// As [`Self::contacts`]; the sim refuses a fault it cannot apply.
    pub async fn add_fault(&self, fault: &SimFault) -> anyhow::Result<()> {
        let _: Value = self.post("/sim/faults", fault).await?;
        Ok(())
    }

    /// Disarms every fault.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        let _: Value = self
            .request(reqwest::Method::DELETE, "/sim/faults", None::<&()>)
            .await?;
        Ok(())
    }

    /// Aborts every participant socket; answers how many there were.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn drop_sockets(&self) -> anyhow::Result<usize> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Dropped {
            dropped: usize,
        }
        let dropped: Dropped = self.post("/sim/sockets/drop", &json!({})).await?;
        Ok(dropped.dropped)
    }

    /// Stops answering heartbeats (and pings, when `pings`) on every socket.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn mute(&self, pings: bool) -> anyhow::Result<()> {
        let _: Value = self
            .post(
                "/sim/sockets/mute",
                &json!({ "Heartbeats": true, "Pings": pings }),
            )
            .await?;
        Ok(())
    }

    /// Answers heartbeats and pings again.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn unmute(&self) -> anyhow::Result<()> {
        let _: Value = self
            .request(reqwest::Method::DELETE, "/sim/sockets/mute", None::<&()>)
            .await?;
        Ok(())
    }

    /// Turns the API quotas (throttling) on or off.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn set_quotas(&self, enabled: bool) -> anyhow::Result<()> {
        let _: Value = self
            .post("/sim/quotas", &json!({ "Enabled": enabled }))
            .await?;
        Ok(())
    }

    /// Moves simulated time forward by `by`, applying every deadline that passed.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn advance_clock(&self, by: Duration) -> anyhow::Result<Advanced> {
        self.post(
            "/sim/clock/advance",
            &json!({ "Seconds": by.as_secs_f64() }),
        )
        .await
    }

    /// Every text the End User Messaging stand-in accepted, oldest first.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn sms_messages(&self) -> anyhow::Result<Vec<SimSms>> {
        self.get("/sim/sms/messages").await
    }

    /// Texts to `phone` end with the failure event `event_type` (`TEXT_BLOCKED`, …), or
    /// are delivered again (`None`).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn fail_sms_to(&self, phone: &str, event_type: Option<&str>) -> anyhow::Result<()> {
        let _: Value = self
            .post(
                "/sim/sms/failures",
                &json!({ "PhoneNumber": phone, "EventType": event_type }),
            )
            .await?;
        Ok(())
    }

    /// Marks `phone` opted out (SendTextMessage to it is refused) or in again.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn set_opted_out(&self, phone: &str, opted_out: bool) -> anyhow::Result<()> {
        let _: Value = self
            .post(
                "/sim/sms/opt-outs",
                &json!({ "PhoneNumber": phone, "OptedOut": opted_out }),
            )
            .await?;
        Ok(())
    }

    /// Forgets every chat, text and fault, and closes every socket.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn reset(&self) -> anyhow::Result<()> {
        let _: Value = self.post("/sim/reset", &json!({})).await?;
        Ok(())
    }

    /// The sim's counters (`Contacts`, `SocketsOpen`, `FramesSentTotal`, …).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn stats(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        self.get("/sim/stats").await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.request(reqwest::Method::GET, path, None::<&()>).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> anyhow::Result<T> {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    async fn request<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url} (is connect-sim running?)"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("{method} {url} answered {status}: {body}");
        }
        response
            .json()
            .await
            .with_context(|| format!("reading the answer to {method} {url}"))
    }
}
