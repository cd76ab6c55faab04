//! Builds the SDK clients once per process, with our timeouts and retry policy.
//!
//! Every network call needs a time bound, and the SDK's defaults have no operation
//! timeout at all, so a hung connection could stall an invocation until Lambda kills it.
//! [`ClientSettings`] sets a connect timeout, a per-attempt timeout and an overall
//! per-operation timeout, and the SDK's *standard* retry mode (exponential backoff with
//! jitter, throttling-aware, token bucket) with a small attempt count. The adapters do not
//! retry on top of it: an error that survives the SDK's retries goes back to the caller
//! classified (`is_retriable`), and the platform (Lambda, the relay's loop) decides.
//!
//! Clients are cheap to clone and hold a connection pool: build each once per process
//! (at start-up, or on first use: [`OnFirstUse`]).
//!
//! [`ExtraCa`] adds a certificate authority to the platform's roots, for endpoints that
//! serve a local CA's certificate (connect-sim over TLS); local use and tests only.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use bridge_core::config::SmsApi;
use bridge_core::ports::SmsSender;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::eum::EumSender;
use crate::sns::{SmsType, SnsSender};

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
    /// AWS End User Messaging SMS (outbound SMS with delivery events, when chosen).
    pub sms_voice: aws_sdk_pinpointsmsvoicev2::Client,
}

impl Clients {
    /// Loads the standard environment (region, credentials chain, per-service endpoint
    /// overrides such as `AWS_ENDPOINT_URL_DYNAMODB`) and builds every client from it,
    /// over one HTTPS client whose TLS set-up waits for the first request
    /// ([`lazy_https_client`]).
    pub async fn from_env(settings: &ClientSettings) -> Self {
        Self::new(&load_shared().await, settings)
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
            sms_voice: aws_sdk_pinpointsmsvoicev2::Client::new(&shared),
        }
    }

    /// The SMS sender `api` chooses (SNS sends as transactional SMS).
    pub fn sms_sender(&self, api: &SmsApi) -> Arc<dyn SmsSender> {
        match api {
            SmsApi::Sns => Arc::new(SnsSender::new(self.sns.clone(), SmsType::Transactional)),
            SmsApi::EndUserMessaging(settings) => {
                Arc::new(EumSender::new(self.sms_voice.clone(), settings.clone()))
            }
        }
    }
}

/// [`Clients::sms_sender`] with its client built from `shared` when first used.
pub fn sms_sender_on_first_use(shared: &SdkConfig, api: &SmsApi) -> Arc<dyn SmsSender> {
    match api {
        SmsApi::Sns => Arc::new(SnsSender::on_first_use(shared, SmsType::Transactional)),
        SmsApi::EndUserMessaging(settings) => {
            Arc::new(EumSender::on_first_use(shared, settings.clone()))
        }
    }
}

/// A DynamoDB client for `shared` (for a caller that builds the other clients on first
/// use: [`OnFirstUse`]).
pub fn dynamodb_client(shared: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(shared)
}

/// The standard environment's shared SDK configuration (region, credentials chain,
/// `AWS_ENDPOINT_URL_<SERVICE>` overrides), over [`lazy_https_client`]: what
/// [`Clients::from_env`] builds its clients from, for the clients it does not build.
///
/// Where the environment names the region and the credentials (Lambda always sets
/// `AWS_REGION` and the `AWS_ACCESS_KEY_ID` family), they are taken from it directly: the
/// default chains would pick those same values first, but only after building every other
/// provider (profile files, web identity with an STS client of its own, container, IMDS),
/// which cost ~0.5 ms of the Lambda's init (`make bench-inbound`). Elsewhere (a relay in
/// ECS, a laptop with a profile) the default chains run as usual.
pub async fn load_shared() -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(lazy_https_client());
    let set = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    if let Some(region) = set("AWS_REGION") {
        loader = loader.region(Region::new(region));
    }
    if set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// An SDK client built when it is first used, or one built already.
///
/// The first client of a service a process builds costs ~0.2 ms of CPU (the SDK parses
/// that service's endpoint rules and partition table then). The Lambda builds the
/// DynamoDB client at start-up, since every event reads the session, and each of the
/// others when an event first needs it: a first text never calls the participant service
/// or SNS, a resumed one never calls Connect's admin API.
#[derive(Debug)]
pub struct OnFirstUse<C>(Source<C>);

#[derive(Debug)]
enum Source<C> {
    Ready(C),
    Later {
        /// Boxed: a configuration is large, and only needed until the client is built.
        config: Box<SdkConfig>,
        build: fn(&SdkConfig) -> C,
        client: OnceLock<C>,
    },
}

impl<C> OnFirstUse<C> {
    /// A client built already.
    pub fn ready(client: C) -> Self {
        Self(Source::Ready(client))
    }

    /// A client `build` makes from `config` when [`Self::get`] is first called.
    pub fn later(config: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self(Source::Later {
            config: Box::new(config.clone()),
            build,
            client: OnceLock::new(),
        })
    }

    /// The client, built now if it was not yet.
    pub fn get(&self) -> &C {
        match &self.0 {
            Source::Ready(client) => client,
            Source::Later {
                config,
                build,
                client,
            } => client.get_or_init(|| build(config)),
        }
    }

    /// Whether the client exists yet.
    pub fn is_built(&self) -> bool {
        match &self.0 {
            Source::Ready(_) => true,
            Source::Later { client, .. } => client.get().is_some(),
        }
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, the proxy settings of the
/// environment), set up on its first request rather than at start-up.
///
/// The SDK's own default builds a TLS connector, which parses every root certificate of
/// the machine, each time a service client is built ("so that native certs load at client
/// initialization time"), and then again for the first request. With four clients that is
/// five parses of ~150 certificates before the first event is answered, four of them
/// thrown away, all inside the Lambda's init. This client builds the connector once, when
/// the first request needs it; everything else is the SDK's default client unchanged
/// (`make bench-inbound` measures the difference; README, Measured).
pub fn lazy_https_client() -> SharedHttpClient {
    https_client(None)
}

/// `shared` over an HTTPS client that also trusts `ca` (besides the platform's roots).
pub fn trusting_extra_ca(shared: &SdkConfig, ca: &ExtraCa) -> SdkConfig {
    shared
        .to_builder()
        .http_client(https_client(Some(ca)))
        .build()
}

/// [`lazy_https_client`], trusting `ca` too when given.
fn https_client(ca: Option<&ExtraCa>) -> SharedHttpClient {
    let mut trust = TrustStore::default();
    if let Some(ca) = ca {
        // Checked by `ExtraCa::from_pem` exactly as the SDK's rustls set-up reads it, so
        // that set-up (which panics on a certificate it cannot parse) accepts it.
        trust = trust.with_pem_certificate(ca.pem.clone());
    }
    let context = TlsContext::builder().with_trust_store(trust).build();
    let default = aws_smithy_http_client::Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut builder = aws_smithy_http_client::Connector::builder().tls_provider(
                tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc),
            );
            if let Ok(context) = &context {
                builder = builder.tls_context(context.clone());
            }
            builder.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                builder.set_sleep_impl(components.sleep_impl());
            }
            builder.set_proxy_config(Some(ProxyConfig::from_env()));
            builder.build()
        },
    );
    SharedHttpClient::new(OnFirstRequest(default))
}

/// Certificates to trust besides the platform's roots, checked when read: the CA a local
/// emulator serves TLS with (`connect-sim --tls-ca-out`). Local use and tests only; a
/// deployment talks to AWS, whose certificates the platform's roots already cover.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtraCa {
    pem: Vec<u8>,
    certificates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ExtraCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraCa")
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// Why a PEM file cannot serve as [`ExtraCa`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtraCaError {
    /// It holds no `CERTIFICATE` block.
    #[error("holds no PEM certificate")]
    Empty,
    /// A `CERTIFICATE` block is malformed, or is not a certificate a client can trust.
    #[error("certificate {index} is unusable: {reason}")]
    Unusable {
        /// Its position in the file, from 1.
        index: usize,
        /// What the TLS library said.
        reason: String,
    },
}

impl ExtraCa {
    /// The certificates of a PEM file's text.
    ///
    /// # Errors
    /// [`ExtraCaError`] when the text holds no certificate, or one that rustls cannot use
    /// as a trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ExtraCaError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut certificates = Vec::new();
        for (at, certificate) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let unusable = |reason: String| ExtraCaError::Unusable {
                index: at + 1,
                reason,
            };
            let certificate = certificate.map_err(|error| unusable(error.to_string()))?;
            roots
                .add(certificate.clone())
                .map_err(|error| unusable(error.to_string()))?;
            certificates.push(certificate);
        }
        if certificates.is_empty() {
            return Err(ExtraCaError::Empty);
        }
        Ok(Self {
            pem: pem.to_vec(),
            certificates,
        })
    }

    /// The certificates, DER.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

/// An HTTP client whose connector is built on first use only: the wrapped client's
/// eager set-up (`validate_base_client_config`) is not forwarded.
#[derive(Debug)]
struct OnFirstRequest(SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The wrapped client caches one connector per settings: every client of ours
        // shares the same timeouts, so they share one TLS set-up (the SDK's own credential
        // providers, with their own timeouts, get theirs when they first call out).
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

    use super::*;

    #[test]
    fn a_client_on_first_use_is_built_once_when_first_asked_for() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "unit",
            )))
            .endpoint_url("http://127.0.0.1:1")
            .build();
        let later = OnFirstUse::later(&config, aws_sdk_sns::Client::new);
        assert!(!later.is_built());
        let first: *const aws_sdk_sns::Client = later.get();
        assert!(later.is_built());
        assert!(std::ptr::eq(first, later.get()), "built once");
        let ready = OnFirstUse::ready(aws_sdk_sns::Client::new(&config));
        assert!(ready.is_built());
    }

    #[test]
    fn an_extra_ca_must_hold_usable_certificates() {
        assert_eq!(ExtraCa::from_pem(b""), Err(ExtraCaError::Empty));
        assert_eq!(
            ExtraCa::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(ExtraCaError::Empty)
        );
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            ExtraCa::from_pem(garbage),
            Err(ExtraCaError::Unusable { index: 1, .. })
        ));
    }

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
