//! Finding the local emulators and pointing the AWS SDK, or a child process, at them.
//!
//! `scripts/with-emulators.sh` (and so `make test`) starts moto and DynamoDB Local and
//! exports their addresses as `BRIDGE_TEST_MOTO_ENDPOINT` and
//! `BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT`; connect-sim runs per test, in process or as a
//! child ([`crate::process`]). SDK configurations are built here by hand, never loaded
//! from the environment: the script also exports `AWS_ENDPOINT_URL_DYNAMODB`, which would
//! otherwise send a DynamoDB Local client to moto.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use bridge_aws::{ClientSettings, Clients};

/// The variable naming moto's address.
pub const MOTO: &str = "BRIDGE_TEST_MOTO_ENDPOINT";
/// The variable naming DynamoDB Local's address.
pub const DYNAMODB_LOCAL: &str = "BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT";

/// The emulator address in `variable`.
///
/// # Panics
/// When it is unset, with how to run the tests under the emulators.
pub fn endpoint(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "{variable} is not set: these tests need the local emulators. Run them with \
             `make test`, or `scripts/with-emulators.sh cargo test -p <crate>`"
        ),
    }
}

/// moto's address (DynamoDB, SNS, S3).
///
/// # Panics
/// As [`endpoint`].
pub fn moto() -> String {
    endpoint(MOTO)
}

/// DynamoDB Local's address.
///
/// # Panics
/// As [`endpoint`].
pub fn dynamodb_local() -> String {
    endpoint(DYNAMODB_LOCAL)
}

/// An address where nothing listens: a port bound, then released.
///
/// # Panics
/// When no local port can be bound.
#[allow(
    clippy::expect_used,
    reason = "a test helper: a panic names what failed"
)]
pub fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    let port = listener.local_addr().expect("a bound port").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The SDK configuration for a local emulator: static credentials, `us-east-1`, and
/// `endpoint` for every service. Pass it to `bridge_aws::Clients::new`.
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

/// The bridge's client settings with roomier timeouts: the emulators share two cores with
/// builds and other tests, and timeouts are not what tests of behaviour are about. Attempts
/// and backoff (and so the retries a fault test must exhaust) stay the bridge's.
pub fn client_settings() -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_secs(10),
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(60),
        ..ClientSettings::default()
    }
}

/// The bridge's clients for a local stack: DynamoDB and SNS where `endpoints` says,
/// Connect, the Participant service and End User Messaging in the connect-sim at
/// `endpoints.connect`.
pub fn local_clients(endpoints: &Endpoints, settings: &ClientSettings) -> Clients {
    let sim = Clients::new(&emulator_config(&endpoints.connect), settings);
    Clients {
        dynamodb: Clients::new(&emulator_config(&endpoints.dynamodb), settings).dynamodb,
        sns: Clients::new(&emulator_config(&endpoints.sns), settings).sns,
        ..sim
    }
}

/// Where each AWS service the bridge calls is served locally, for a child process that
/// finds them through the SDK's standard variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// DynamoDB (moto or DynamoDB Local, or a fault proxy in front of either).
    pub dynamodb: String,
    /// SNS (moto).
    pub sns: String,
    /// Connect and the Participant service (connect-sim).
    pub connect: String,
    /// End User Messaging SMS (connect-sim), when used.
    pub sms_voice: Option<String>,
    /// S3, where Connect writes transcripts (moto), when used.
    pub s3: Option<String>,
}

impl Endpoints {
    /// DynamoDB in `dynamodb`, SNS and S3 in `moto`, Connect and End User Messaging in
    /// the connect-sim at `sim`.
    pub fn local(moto: &str, dynamodb: &str, sim: &str) -> Self {
        Self {
            dynamodb: dynamodb.to_owned(),
            sns: moto.to_owned(),
            connect: sim.to_owned(),
            sms_voice: Some(sim.to_owned()),
            s3: Some(moto.to_owned()),
        }
    }

    /// The variables for a child process: a region, static credentials, no instance
    /// metadata lookups, and `AWS_ENDPOINT_URL_<SERVICE>` for each service. Callers also
    /// remove `AWS_ENDPOINT_URL` and `AWS_PROFILE` from what the child inherits.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb.clone()),
            ("AWS_ENDPOINT_URL_SNS", self.sns.clone()),
            ("AWS_ENDPOINT_URL_CONNECT", self.connect.clone()),
            ("AWS_ENDPOINT_URL_CONNECTPARTICIPANT", self.connect.clone()),
        ];
        if let Some(sms_voice) = &self.sms_voice {
            env.push(("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", sms_voice.clone()));
        }
        if let Some(s3) = &self.s3 {
            env.push(("AWS_ENDPOINT_URL_S3", s3.clone()));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_finds_each_service_where_it_is_served() {
        let env = Endpoints::local("http://moto", "http://ddb", "http://sim").env();
        let get = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("AWS_ENDPOINT_URL_DYNAMODB"), Some("http://ddb"));
        assert_eq!(get("AWS_ENDPOINT_URL_SNS"), Some("http://moto"));
        assert_eq!(get("AWS_ENDPOINT_URL_S3"), Some("http://moto"));
        assert_eq!(
            get("AWS_ENDPOINT_URL_CONNECTPARTICIPANT"),
            Some("http://sim")
        );
        assert_eq!(
            get("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2"),
            Some("http://sim")
        );
        let without = Endpoints {
            s3: None,
            sms_voice: None,
            ..Endpoints::local("http://moto", "http://ddb", "http://sim")
        }
        .env();
        assert!(without.iter().all(|(name, _)| !name.ends_with("_S3")));
    }

    #[test]
    fn nothing_listens_on_a_dead_endpoint() {
        let dead = dead_endpoint();
        let address = dead.trim_start_matches("http://");
        assert!(std::net::TcpStream::connect(address).is_err(), "{dead}");
    }
}
