//! Builds the SDK clients once per process, with our timeouts and retry policy.
//!
//! Every network call needs a bound (STYLE.md, Async): the SDK's defaults have no operation
//! timeout at all, so a hung connection could stall an invocation until Lambda kills it.
//! [`ClientSettings`] sets a connect timeout, a per-attempt timeout and an overall
//! per-operation timeout, and the SDK's *standard* retry mode (exponential backoff with
//! jitter, throttling-aware, token bucket) with a small attempt count. The adapters do not
//! retry on top of it: an error that survives the SDK's retries goes back to the caller
//! classified (`is_retriable`), and the platform (Lambda, the relay's loop) decides.
//!
//! Clients are cheap to clone and hold a connection pool: build them once at start-up.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// Timeouts and retries applied to every client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Establishing a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// One attempt of an operation, from sending the request to reading the response.
    pub attempt_timeout: Duration,
    /// One operation, all attempts and backoff included.
    pub operation_timeout: Duration,
    /// Attempts per operation, the first included (1 disables retries).
    pub max_attempts: u32,
    /// The first retry's backoff (jittered, doubling per attempt).
    pub initial_backoff: Duration,
    /// The largest backoff between attempts.
    pub max_backoff: Duration,
}

impl Default for ClientSettings {
    /// Fits an inbound invocation: at worst ~3 attempts of 3 s plus backoff, cut at 10 s.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(10),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl ClientSettings {
    /// The same settings with `max_attempts` attempts (tests use 1 to see raw errors).
    pub fn with_max_attempts(self, max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..self
        }
    }

    /// The SDK retry policy these settings describe.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    /// The SDK timeouts these settings describe.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    /// `shared` with these timeouts and retries in place of its own.
    pub fn apply(&self, shared: &SdkConfig) -> SdkConfig {
        shared
            .to_builder()
            .retry_config(self.retry_config())
            .timeout_config(self.timeout_config())
            .build()
    }
}

/// The SDK clients the bridge uses, built once from one shared configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    /// DynamoDB (session, dedupe and lease items).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SNS (outbound SMS).
    pub sns: aws_sdk_sns::Client,
    /// Amazon Connect admin API (StartChatContact, StopContact).
    pub connect: aws_sdk_connect::Client,
    /// Amazon Connect Participant Service (connections, messages, transcripts).
    pub participant: aws_sdk_connectparticipant::Client,
}

impl Clients {
    /// Loads the standard environment (region, credentials chain, per-service endpoint
    /// overrides such as `AWS_ENDPOINT_URL_DYNAMODB`) and builds every client from it.
    pub async fn from_env(settings: &ClientSettings) -> Self {
        let shared = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Self::new(&shared, settings)
    }

    /// Builds every client from an already loaded configuration (tests point it at the
    /// emulators), with `settings` in place of its timeouts and retries.
    pub fn new(shared: &SdkConfig, settings: &ClientSettings) -> Self {
        let shared = settings.apply(shared);
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&shared),
            sns: aws_sdk_sns::Client::new(&shared),
            connect: aws_sdk_connect::Client::new(&shared),
            participant: aws_sdk_connectparticipant::Client::new(&shared),
        }
    }
}

/// The configuration for local emulators (moto, DynamoDB Local, connect-sim): static
/// credentials, `us-east-1`, and `endpoint` for every service. Tests and benchmarks point
/// [`Clients::new`] at it; nothing in the environment changes it.
pub fn emulator_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "bridge-emulators",
        )))
        .endpoint_url(endpoint)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_reach_the_sdk_config() {
        let settings = ClientSettings::default().with_max_attempts(1);
        let shared = settings.apply(&SdkConfig::builder().build());
        let retry = shared.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), 1);
        let timeouts = shared.timeout_config().unwrap();
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(2)));
    }
}
