//! What moto recorded: every SMS published to a phone number, and every notification
//! published to a topic, read from its state dump (`GET /moto-api/data.json`).
//!
//! moto keeps SMS in sending order as `sns.SMS` (`{message, message_id, phone_number}`),
//! and no message attributes (docs/local-stack.md §2); a topic's notifications are
//! `sns.Topic[].sent_notifications`. The dump holds every table too, so callers poll it
//! gently.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// No answer may take longer (the dump grows with the tables).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// One SMS moto accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentSms {
    /// The recipient.
    pub phone_number: String,
    /// The text.
    pub message: String,
    /// SNS's message id.
    pub message_id: String,
}

/// The parts of moto's state dump read here.
#[derive(Debug, Default, Deserialize)]
pub struct Dump {
    #[serde(default)]
    sns: Sns,
}

#[derive(Debug, Default, Deserialize)]
struct Sns {
    #[serde(default, rename = "SMS")]
    sms: Vec<SentSms>,
    #[serde(default, rename = "Topic")]
    topics: Vec<Topic>,
}

#[derive(Debug, Deserialize)]
struct Topic {
    arn: String,
    /// Each notification as moto keeps it: a list whose second member is the message.
    #[serde(default)]
    sent_notifications: Vec<Value>,
}

impl Dump {
    /// Every SMS, oldest first.
    pub fn sms(&self) -> &[SentSms] {
        &self.sns.sms
    }

    /// The texts sent to `phone`, oldest first.
    pub fn sms_to(&self, phone: &str) -> Vec<String> {
        self.sns
            .sms
            .iter()
            .filter(|sms| sms.phone_number == phone)
            .map(|sms| sms.message.clone())
            .collect()
    }

    /// The messages published to the topic `arn`, oldest first.
    pub fn notifications(&self, arn: &str) -> Vec<String> {
        self.sns
            .topics
            .iter()
            .filter(|topic| topic.arn == arn)
            .flat_map(|topic| &topic.sent_notifications)
            .filter_map(|notification| notification[1].as_str().map(str::to_owned))
            .collect()
    }
}

/// The moto server at one address.
#[derive(Clone, Debug)]
pub struct Moto {
    http: reqwest::Client,
    url: String,
}

impl Moto {
    /// The moto server at `base` (`http://host:port`).
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

    /// The same over `http` (with its own timeout, say).
    pub fn with_client(http: reqwest::Client, base: &str) -> Self {
        Self {
            http,
            url: format!("{}/moto-api/data.json", base.trim_end_matches('/')),
        }
    }

    /// The state dump now.
    ///
    /// # Errors
    /// moto unreachable, or an answer that is not its dump.
    pub async fn dump(&self) -> anyhow::Result<Dump> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .with_context(|| format!("reading {} (is moto running?)", self.url))?;
        if !response.status().is_success() {
            bail!("{} answered {}", self.url, response.status());
        }
        response
            .json()
            .await
            .with_context(|| format!("parsing {}", self.url))
    }

    /// Every SMS moto accepted, oldest first.
    ///
    /// # Errors
    /// As [`Self::dump`].
    pub async fn sms(&self) -> anyhow::Result<Vec<SentSms>> {
        Ok(self.dump().await?.sns.sms)
    }

    /// The texts moto accepted for `phone`, oldest first.
    ///
    /// # Errors
    /// As [`Self::dump`].
    pub async fn sms_to(&self, phone: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.dump().await?.sms_to(phone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_is_read_in_order_and_by_recipient_and_topic() {
        let dump: Dump = serde_json::from_value(serde_json::json!({
            "sns": {
                "SMS": [
                    {"phone_number": "+15550001", "message": "one", "message_id": "a"},
                    {"phone_number": "+15550002", "message": "other", "message_id": "b"},
                    {"phone_number": "+15550001", "message": "two", "message_id": "c"}
                ],
                "Topic": [
                    {"arn": "arn:t1", "sent_notifications": [["id-1", "{\"x\":1}", null, null, null]]},
                    {"arn": "arn:t2", "sent_notifications": []}
                ]
            },
            "dynamodb": {"ignored": true}
        }))
        .unwrap();
        assert_eq!(dump.sms().len(), 3);
        assert_eq!(dump.sms_to("+15550001"), ["one", "two"]);
        assert_eq!(dump.notifications("arn:t1"), [r#"{"x":1}"#]);
        assert!(dump.notifications("arn:t2").is_empty());
        assert!(dump.notifications("arn:none").is_empty());
    }

    #[test]
    fn an_empty_moto_has_an_empty_dump() {
        let dump: Dump = serde_json::from_str("{}").unwrap();
        assert!(dump.sms().is_empty());
    }
}
