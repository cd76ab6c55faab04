//! [`SnsPublisher`]: delivery events published to an SNS topic over SNS's Query API.
//!
//! SNS speaks awsQuery (docs/connect-chat.md §7.2): a form `POST /` with `Action=Publish`,
//! `Version=2010-03-31`, `TopicArn` and `Message`. Requests are not signed, as the transcript
//! archive's S3 writes are not ([`crate::archive`]); a placeholder `Authorization` header
//! carries the topic's region in its credential scope and `x-moto-account-id` its account,
//! which is how moto picks the region and account a request belongs to when nothing is
//! signed (other SNS emulators ignore both). At start the topic is created (CreateTopic is
//! idempotent), as the archive creates its bucket.
//!
//! A publish is tried three times with jittered backoff; one that still fails is logged at
//! WARN and counted (`SmsPublishFailuresTotal` in `/sim/stats`), never reported to the
//! SendTextMessage caller, whose answer went out before.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::destination::SnsDestination;

/// SNS Query API version.
const VERSION: &str = "2010-03-31";
/// moto's header naming the account of an unsigned request.
const MOTO_ACCOUNT_HEADER: &str = "x-moto-account-id";
/// Attempts per publish.
const ATTEMPTS: u32 = 3;
/// Longest wait for one SNS request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes events and counts the outcomes.
#[derive(Debug)]
pub struct SnsPublisher {
    /// `None` when no HTTP client could be built (logged once at start).
    http: Option<reqwest::Client>,
    published_total: AtomicU64,
    failures_total: AtomicU64,
}

impl Default for SnsPublisher {
    fn default() -> Self {
        Self::new()
    }
}

impl SnsPublisher {
    /// A publisher with its own HTTP client.
    #[must_use]
    pub fn new() -> Self {
        let http = match reqwest::Client::builder().timeout(TIMEOUT).build() {
            Ok(http) => Some(http),
            Err(error) => {
                tracing::error!(%error, "sms events: no http client; delivery events are not published");
                None
            }
        };
        Self {
            http,
            published_total: AtomicU64::new(0),
            failures_total: AtomicU64::new(0),
        }
    }

    /// Events published (`SmsEventsPublishedTotal`).
    #[must_use]
    pub fn published_total(&self) -> u64 {
        self.published_total.load(Ordering::Relaxed)
    }

    /// Events given up on (`SmsPublishFailuresTotal`).
    #[must_use]
    pub fn failures_total(&self) -> u64 {
        self.failures_total.load(Ordering::Relaxed)
    }

    /// Creates the destination's topic; failures are only logged (publishing reports its own).
    pub async fn create_topic(&self, destination: &SnsDestination) {
        let Some(http) = &self.http else { return };
        let body = form(&[
            ("Action", "CreateTopic"),
            ("Version", VERSION),
            ("Name", &destination.topic),
        ]);
        match request(http, destination, body).send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!(topic_arn = %destination.topic_arn, "sms event topic ready");
            }
            Ok(response) => tracing::warn!(
                topic_arn = %destination.topic_arn,
                status = response.status().as_u16(),
                "sms event topic not created"
            ),
            Err(error) => {
                tracing::warn!(topic_arn = %destination.topic_arn, %error, "sms event topic not created")
            }
        }
    }

    /// Publishes `message` (an event's JSON) to the destination's topic; `false` when every
    /// attempt failed.
    pub async fn publish(
        &self,
        destination: &SnsDestination,
        message_id: &str,
        message: &str,
    ) -> bool {
        let Some(http) = &self.http else {
            self.failures_total.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let body = form(&[
            ("Action", "Publish"),
            ("Version", VERSION),
            ("TopicArn", &destination.topic_arn),
            ("Message", message),
        ]);
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            match request(http, destination, body.clone()).send().await {
                Ok(response) if response.status().is_success() => {
                    self.published_total.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%message_id, topic_arn = %destination.topic_arn, "sms event published");
                    return true;
                }
                Ok(response) => last_error = format!("status {}", response.status().as_u16()),
                Err(error) => last_error = error.to_string(),
            }
            tracing::debug!(%message_id, attempt, error = %last_error, "sms event publish attempt failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        self.failures_total.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            %message_id,
            topic_arn = %destination.topic_arn,
            attempts = ATTEMPTS,
            error = %last_error,
            "sms event not published"
        );
        false
    }
}

/// Full jitter over 100 ms × 2^attempt.
fn backoff(attempt: u32) -> Duration {
    let ceiling = 100u64 << attempt.min(6);
    Duration::from_millis(rand::random_range(0..=ceiling))
}

fn request(
    http: &reqwest::Client,
    destination: &SnsDestination,
    body: String,
) -> reqwest::RequestBuilder {
    let date = chrono::Utc::now().format("%Y%m%d");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=connect-sim/{date}/{}/sns/aws4_request, SignedHeaders=host, Signature=unsigned",
        destination.region
    );
    http.post(format!("{}/", destination.endpoint))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("authorization", authorization)
        .header(MOTO_ACCOUNT_HEADER, destination.account.as_str())
        .body(body)
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_percent_encode_everything_but_unreserved() {
        assert_eq!(
            form(&[("Action", "Publish"), ("Message", "{\"a\": \"é & +1\"}")]),
            "Action=Publish&Message=%7B%22a%22%3A%20%22%C3%A9%20%26%20%2B1%22%7D"
        );
        assert_eq!(
            encode("arn:aws:sns:us-east-1:1:t"),
            "arn%3Aaws%3Asns%3Aus-east-1%3A1%3At"
        );
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 1..=3 {
            assert!(backoff(attempt) <= Duration::from_millis(100 << attempt));
        }
    }
}
