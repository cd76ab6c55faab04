//! A client of connect-sim's agent control API (`/sim`), for the demo's scripted agent.
//!
//! Shapes are connect-sim's (`crates/connect-sim/src/http/sim.rs`); only the fields the
//! demo reads are typed here, the rest is ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::json;

/// No control call may take longer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One chat, as `GET /sim/contacts` lists it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Contact {
    /// The contact id.
    pub contact_id: String,
    /// `STARTED`, `CONNECTED`, `ACTIVE` or `ENDED`.
    pub status: String,
    /// Contact attributes (the bridge sets `customerNumber`, `supportNumber`, `channel`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl Contact {
    /// Whether the chat is over.
    pub fn is_ended(&self) -> bool {
        self.status == "ENDED"
    }
}

/// One transcript item.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Item {
    /// `MESSAGE`, `EVENT`, …
    #[serde(rename = "Type")]
    pub item_type: String,
    /// `CUSTOMER`, `AGENT`, `SYSTEM`.
    #[serde(default)]
    pub participant_role: Option<String>,
    /// The text of a message.
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Transcript {
    transcript: Vec<Item>,
}

/// connect-sim's control API.
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
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .context("building the http client")?,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Every chat.
    ///
    /// # Errors
    /// connect-sim unreachable or answering an error.
    pub async fn contacts(&self) -> anyhow::Result<Vec<Contact>> {
        self.get("/sim/contacts").await
    }

    /// The chats of one customer (by the `customerNumber` attribute).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn contacts_of(&self, customer: &str) -> anyhow::Result<Vec<Contact>> {
        let mut contacts = self.contacts().await?;
        contacts.retain(|contact| {
            contact.attributes.get("customerNumber").map(String::as_str) == Some(customer)
        });
        Ok(contacts)
    }

    /// Every stored item of a chat, oldest first.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn transcript(&self, contact_id: &str) -> anyhow::Result<Vec<Item>> {
        let transcript: Transcript = self
            .get(&format!("/sim/contacts/{contact_id}/transcript"))
            .await?;
        Ok(transcript.transcript)
    }

    /// The agent joins the chat.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn join(&self, contact_id: &str, display_name: &str) -> anyhow::Result<()> {
        self.post(
            &format!("/sim/contacts/{contact_id}/agent/join"),
            json!({ "DisplayName": display_name }),
        )
        .await
    }

    /// The agent writes `text` (plain text).
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn say(&self, contact_id: &str, text: &str) -> anyhow::Result<()> {
        self.post(
            &format!("/sim/contacts/{contact_id}/agent/messages"),
            json!({ "Content": text, "ContentType": "text/plain" }),
        )
        .await
    }

    /// The agent ends the chat.
    ///
    /// # Errors
    /// As [`Self::contacts`].
    pub async fn end(&self, contact_id: &str) -> anyhow::Result<()> {
        self.post(&format!("/sim/contacts/{contact_id}/end"), json!({}))
            .await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("GET {url} answered {status}: {body}");
        }
        response.json().await.with_context(|| format!("GET {url}"))
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("POST {url} answered {status}: {body}");
        }
        Ok(())
    }
}
