//! Where `bridge` sends things: the endpoints, credentials and bridge configuration shared by
//! every subcommand, with explicit local defaults.
//!
//! Two modes:
//! - **local** (the default): every setting not given by flag or environment takes its
//!   local default ([`local`]): DynamoDB Local (AWS's own engine) on `127.0.0.1:5056` for
//!   DynamoDB (`--dynamodb moto` switches to moto), moto on `127.0.0.1:5055` for SNS, connect-sim
//!   on `127.0.0.1:8787` for Connect and the Participant Service, region `us-east-1`,
//!   static `test` credentials, table `bridge-local`, support lines `+18005550100` and
//!   `+18005550199`, 4 relay shards.
//! - **aws** (`--aws`, `BRIDGE_AWS=true`): nothing is defaulted. The AWS SDK reads its
//!   standard environment (region, credentials chain, `AWS_ENDPOINT_URL_<SERVICE>`), and
//!   the bridge's `BRIDGE_*` variables must be set as for the Lambda; every missing one is
//!   reported by name, all at once.
//!
//! The bridge's variables are read by core's one reader (`bridge_core::config::env`),
//! through `Config::from_lookup` with the flags first; the CLI's own few (`CI`, `VENV`)
//! go through [`env_flag`], which uses the same lookup.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use bridge_aws::{ClientSettings, Clients};
use bridge_core::PhoneNumber;
use bridge_core::config::env::Lookup;
use bridge_core::config::{self as core_config, Config};

/// The local defaults, as documented in the README and `bridge --help`.
pub mod local {
    /// moto server (SNS; DynamoDB with `--dynamodb moto`), as `make emulators-up` starts it.
    pub const MOTO_ENDPOINT: &str = "http://127.0.0.1:5055";
    /// DynamoDB Local, as `make emulators-up` starts it: the default DynamoDB.
    pub const DYNAMODB_LOCAL_ENDPOINT: &str = "http://127.0.0.1:5056";
    /// connect-sim (Connect + Participant Service), its default port.
    pub const CONNECT_ENDPOINT: &str = "http://127.0.0.1:8787";
    /// The region the emulators are addressed in.
    pub const REGION: &str = "us-east-1";
    /// Static credentials: the emulators accept any.
    pub const ACCESS_KEY_ID: &str = "test";
    /// Static credentials: the emulators accept any.
    pub const SECRET_ACCESS_KEY: &str = "test";
    /// The table sessions, dedupe markers and leases go in.
    pub const TABLE_NAME: &str = "bridge-local";
    /// connect-sim accepts any instance id; this one is recognisable in its console.
    pub const CONNECT_INSTANCE_ID: &str = "local-instance";
    /// Two support lines, the ones the recorded fixtures text (`tests/fixtures`).
    pub const SUPPORT_LINES: &str =
        "+18005550100=local-flow-support,+18005550199=local-flow-billing";
    /// Relay shards: one local relay owns them all, and each shard costs it an index query
    /// per discovery round against moto (64, the production default, would flood it).
    pub const SHARD_COUNT: &str = "4";
    /// The support line `bridge sms` and the demo text by default.
    pub const SUPPORT_NUMBER: &str = "+18005550100";
}

/// Environment variable: `true` selects aws mode.
pub const AWS_MODE_VAR: &str = "BRIDGE_AWS";
/// Environment variable: the moto endpoint in local mode.
pub const MOTO_ENDPOINT_VAR: &str = "BRIDGE_MOTO_ENDPOINT";
/// Environment variable: the connect-sim endpoint in local mode.
pub const CONNECT_ENDPOINT_VAR: &str = "BRIDGE_CONNECT_ENDPOINT";
/// Environment variable: which DynamoDB local mode uses (`local`, `moto` or a URL).
pub const DYNAMODB_VAR: &str = "BRIDGE_DYNAMODB";
/// Environment variable: DynamoDB Local's port, as `scripts/emulators.sh` and the Makefile
/// use it (default 5056).
pub const DYNAMODB_LOCAL_PORT_VAR: &str = "DYNAMODB_LOCAL_PORT";

/// The DynamoDB a local stack uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dynamodb {
    /// DynamoDB Local (AWS's own engine) at [`local::DYNAMODB_LOCAL_ENDPOINT`] (the port
    /// from `DYNAMODB_LOCAL_PORT` when set): the default.
    Local,
    /// moto's DynamoDB, on the moto endpoint.
    Moto,
    /// Whatever answers at this URL.
    Url(String),
}

impl std::str::FromStr for Dynamodb {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "local" | "dynamodb-local" => Ok(Self::Local),
            "moto" => Ok(Self::Moto),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(Self::Url(trim_slash(url)))
            }
            other => Err(format!("{other:?} is not local, moto or an http(s) URL")),
        }
    }
}

impl Dynamodb {
    /// This DynamoDB's endpoint, when moto (for [`Self::Moto`]) is at `moto`.
    pub fn endpoint(&self, moto: &str) -> String {
        match self {
            Self::Local => dynamodb_local_endpoint(),
            Self::Moto => trim_slash(moto),
            Self::Url(url) => url.clone(),
        }
    }
}

/// Flags shared by every subcommand that talks to the bridge's services.
#[derive(Clone, clap::Args)]
pub struct StackArgs {
    /// Use the standard AWS environment (credentials chain, region, endpoints) and the
    /// BRIDGE_* variables, with no local defaults.
    #[arg(long, global = true, env = AWS_MODE_VAR)]
    pub aws: bool,
    /// Local mode: moto server, for SNS (and DynamoDB with `--dynamodb moto`).
    #[arg(long, global = true, env = MOTO_ENDPOINT_VAR, value_name = "URL",
          default_value = local::MOTO_ENDPOINT)]
    pub moto_endpoint: String,
    /// Local mode: the DynamoDB to use: `local` (DynamoDB Local, 127.0.0.1:5056), `moto`
    /// (the moto endpoint's), or a URL.
    #[arg(long, global = true, env = DYNAMODB_VAR, value_name = "local|moto|URL",
          default_value = "local")]
    pub dynamodb: Dynamodb,
    /// Local mode: connect-sim, for Amazon Connect and the Participant Service.
    #[arg(long, global = true, env = CONNECT_ENDPOINT_VAR, value_name = "URL",
          default_value = local::CONNECT_ENDPOINT)]
    pub connect_endpoint: String,
    /// AWS region [local default: us-east-1].
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// DynamoDB table [local default: bridge-local].
    #[arg(long, global = true, env = core_config::TABLE_NAME)]
    pub table: Option<String>,
    /// Support lines, `+E164=contact-flow-id,...` [local default: +18005550100 and
    /// +18005550199].
    #[arg(long, global = true, env = core_config::SUPPORT_LINES, value_name = "LINES")]
    pub support_lines: Option<String>,
    /// Amazon Connect instance id [local default: local-instance].
    #[arg(long, global = true, env = core_config::CONNECT_INSTANCE_ID, value_name = "ID")]
    pub instance_id: Option<String>,
}

impl fmt::Debug for StackArgs {
    /// Written by hand so a secret added later is redacted on purpose.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackArgs")
            .field("aws", &self.aws)
            .field("moto_endpoint", &self.moto_endpoint)
            .field("dynamodb", &self.dynamodb)
            .field("connect_endpoint", &self.connect_endpoint)
            .field("region", &self.region)
            .field("table", &self.table)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

/// Where the services are, resolved from [`StackArgs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// DynamoDB Local (or moto) for DynamoDB, moto for SNS, connect-sim for Connect.
    Local {
        /// moto server (SNS).
        moto: String,
        /// DynamoDB.
        dynamodb: String,
        /// connect-sim.
        connect: String,
    },
    /// The SDK's own resolution (real AWS, or `AWS_ENDPOINT_URL_<SERVICE>`).
    Aws,
}

impl StackArgs {
    /// Where the services are.
    pub fn endpoints(&self) -> Endpoints {
        if self.aws {
            Endpoints::Aws
        } else {
            let moto = trim_slash(&self.moto_endpoint);
            Endpoints::Local {
                dynamodb: self.dynamodb.endpoint(&moto),
                moto,
                connect: trim_slash(&self.connect_endpoint),
            }
        }
    }

    /// The moto endpoint, when the stack is local (the outbox is moto's).
    pub fn moto(&self) -> Option<String> {
        match self.endpoints() {
            Endpoints::Local { moto, .. } => Some(moto),
            Endpoints::Aws => None,
        }
    }

    /// connect-sim's endpoint in local mode (it stands in for End User Messaging too).
    pub fn connect(&self) -> Option<String> {
        match self.endpoints() {
            Endpoints::Local { connect, .. } => Some(connect),
            Endpoints::Aws => None,
        }
    }

    /// The bridge configuration: flags, then the environment, then (local mode) the local
    /// defaults.
    ///
    /// # Errors
    /// Every missing or invalid variable, by name.
    pub fn bridge_config(&self) -> anyhow::Result<Config> {
        let mut given = BTreeMap::new();
        for (var, value) in [
            (core_config::TABLE_NAME, &self.table),
            (core_config::SUPPORT_LINES, &self.support_lines),
            (core_config::CONNECT_INSTANCE_ID, &self.instance_id),
        ] {
            if let Some(value) = value {
                given.insert(var, value.clone());
            }
        }
        let local = !self.aws;
        Config::from_lookup(|name| {
            given
                .get(name)
                .cloned()
                .or_else(|| env_flag(name))
                .or_else(|| local.then(|| local_default(name)).flatten())
        })
        .with_context(|| {
            if local {
                "invalid bridge configuration".to_owned()
            } else {
                "invalid bridge configuration (--aws: every BRIDGE_* variable the Lambda needs \
                 must be set)"
                    .to_owned()
            }
        })
    }

    /// The AWS SDK clients, each pointed at its endpoint, with `settings`.
    pub async fn clients(&self, settings: &ClientSettings) -> Clients {
        match self.endpoints() {
            Endpoints::Aws => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(region) = &self.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                Clients::new(&loader.load().await, settings)
            }
            Endpoints::Local {
                moto,
                dynamodb,
                connect,
            } => {
                let shared = self.local_sdk_config(settings).await;
                Clients {
                    dynamodb: aws_sdk_dynamodb::Client::from_conf(
                        aws_sdk_dynamodb::config::Builder::from(&shared)
                            .endpoint_url(&dynamodb)
                            .build(),
                    ),
                    sns: aws_sdk_sns::Client::from_conf(
                        aws_sdk_sns::config::Builder::from(&shared)
                            .endpoint_url(&moto)
                            .build(),
                    ),
                    connect: aws_sdk_connect::Client::from_conf(
                        aws_sdk_connect::config::Builder::from(&shared)
                            .endpoint_url(&connect)
                            .build(),
                    ),
                    participant: aws_sdk_connectparticipant::Client::from_conf(
                        aws_sdk_connectparticipant::config::Builder::from(&shared)
                            .endpoint_url(&connect)
                            .build(),
                    ),
                    // connect-sim stands in for End User Messaging SMS too.
                    sms_voice: aws_sdk_pinpointsmsvoicev2::Client::from_conf(
                        aws_sdk_pinpointsmsvoicev2::config::Builder::from(&shared)
                            .endpoint_url(&connect)
                            .build(),
                    ),
                }
            }
        }
    }

    /// The shared SDK configuration (region, credentials, timeouts), for clients this
    /// module does not build (Lambda).
    pub async fn sdk_config(&self, settings: &ClientSettings) -> SdkConfig {
        if self.aws {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            if let Some(region) = &self.region {
                loader = loader.region(Region::new(region.clone()));
            }
            settings.apply(&loader.load().await)
        } else {
            self.local_sdk_config(settings).await
        }
    }

    async fn local_sdk_config(&self, settings: &ClientSettings) -> SdkConfig {
        let region = self
            .region
            .clone()
            .unwrap_or_else(|| local::REGION.to_owned());
        let credentials = aws_sdk_sns::config::Credentials::new(
            local::ACCESS_KEY_ID,
            local::SECRET_ACCESS_KEY,
            None,
            None,
            "bridge-local",
        );
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(credentials)
            .load()
            .await;
        settings.apply(&shared)
    }

    /// The environment a child process (the relay) needs to reach the same stack with the
    /// same configuration, as variable/value pairs.
    ///
    /// # Errors
    /// As [`Self::bridge_config`].
    pub fn child_env(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut vars = Vec::new();
        let config = self.bridge_config()?;
        vars.push((
            core_config::TABLE_NAME.to_owned(),
            config.table_name.as_str().to_owned(),
        ));
        vars.push((
            core_config::CONNECT_INSTANCE_ID.to_owned(),
            config.connect_instance_id.to_string(),
        ));
        let lines = config
            .support_lines
            .iter()
            .map(|line| format!("{}={}", line.number.as_e164(), line.contact_flow_id))
            .collect::<Vec<_>>()
            .join(",");
        vars.push((core_config::SUPPORT_LINES.to_owned(), lines));
        vars.push((
            core_config::SHARD_COUNT.to_owned(),
            config.shard_count.to_string(),
        ));
        if let Endpoints::Local {
            moto,
            dynamodb,
            connect,
        } = self.endpoints()
        {
            let region = self
                .region
                .clone()
                .unwrap_or_else(|| local::REGION.to_owned());
            for (var, value) in [
                ("AWS_REGION", region.as_str()),
                ("AWS_ACCESS_KEY_ID", local::ACCESS_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", local::SECRET_ACCESS_KEY),
                ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.as_str()),
                ("AWS_ENDPOINT_URL_SNS", moto.as_str()),
                ("AWS_ENDPOINT_URL_CONNECT", connect.as_str()),
                ("AWS_ENDPOINT_URL_CONNECTPARTICIPANT", connect.as_str()),
                // connect-sim stands in for End User Messaging SMS.
                ("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", connect.as_str()),
            ] {
                vars.push((var.to_owned(), value.to_owned()));
            }
        }
        Ok(vars)
    }
}

/// DynamoDB Local's endpoint: [`local::DYNAMODB_LOCAL_ENDPOINT`], or the port
/// `DYNAMODB_LOCAL_PORT` names (as `scripts/emulators.sh` and the Makefile use it).
pub fn dynamodb_local_endpoint() -> String {
    match env_flag(DYNAMODB_LOCAL_PORT_VAR) {
        Some(port) => format!("http://127.0.0.1:{}", port.trim()),
        None => local::DYNAMODB_LOCAL_ENDPOINT.to_owned(),
    }
}

/// The local default of a `BRIDGE_*` variable, if it has one.
fn local_default(name: &str) -> Option<String> {
    let value = match name {
        core_config::TABLE_NAME => local::TABLE_NAME,
        core_config::SUPPORT_LINES => local::SUPPORT_LINES,
        core_config::CONNECT_INSTANCE_ID => local::CONNECT_INSTANCE_ID,
        core_config::SHARD_COUNT => local::SHARD_COUNT,
        _ => return None,
    };
    Some(value.to_owned())
}

fn trim_slash(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// Reads an environment variable the CLI itself owns (not a bridge variable): `CI` for
/// the demo, `VENV` for finding moto.
pub fn env_flag(name: &str) -> Option<String> {
    match Lookup::process(name) {
        Lookup::Value(value) if !value.trim().is_empty() => Some(value),
        Lookup::Value(_) | Lookup::Unset | Lookup::NotUnicode => None,
    }
}

/// Whether `value` (of `CI` and friends) means true.
pub fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Parses a phone number flag.
///
/// # Errors
/// When it is not E.164.
pub fn phone(text: &str) -> Result<PhoneNumber, String> {
    PhoneNumber::parse(text).map_err(|e| format!("{text:?} is not an E.164 phone number: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        stack: StackArgs,
    }

    fn parse(args: &[&str]) -> StackArgs {
        let mut all = vec!["probe"];
        all.extend_from_slice(args);
        Probe::try_parse_from(all).unwrap().stack
    }

    #[test]
    fn the_local_defaults_make_a_valid_configuration() {
        // Read through the lookup alone, so the test does not depend on the environment.
        let config = Config::from_lookup(local_default).unwrap();
        assert_eq!(config.table_name.as_str(), local::TABLE_NAME);
        assert_eq!(config.shard_count.get().to_string(), local::SHARD_COUNT);
        let lines: Vec<_> = config
            .support_lines
            .iter()
            .map(|line| line.number.as_e164().to_owned())
            .collect();
        assert_eq!(lines, vec!["+18005550100", "+18005550199"]);
        assert!(lines.contains(&local::SUPPORT_NUMBER.to_owned()));
    }

    #[test]
    fn local_endpoints_lose_their_trailing_slash() {
        let stack = parse(&[
            "--moto-endpoint",
            "http://127.0.0.1:1/",
            "--connect-endpoint",
            "http://127.0.0.1:2",
        ]);
        assert_eq!(
            stack.endpoints(),
            Endpoints::Local {
                moto: "http://127.0.0.1:1".into(),
                dynamodb: dynamodb_local_endpoint(),
                connect: "http://127.0.0.1:2".into()
            }
        );
    }

    #[test]
    fn dynamodb_is_dynamodb_local_unless_moto_or_a_url_is_asked_for() {
        let dynamodb = |args: &[&str]| match parse(args).endpoints() {
            Endpoints::Local { dynamodb, .. } => dynamodb,
            Endpoints::Aws => panic!("not local"),
        };
        assert_eq!(
            dynamodb(&["--dynamodb", "local"]),
            dynamodb_local_endpoint()
        );
        assert_eq!(
            dynamodb(&["--dynamodb", "moto", "--moto-endpoint", "http://m:1/"]),
            "http://m:1"
        );
        assert_eq!(dynamodb(&["--dynamodb", "http://d:2/"]), "http://d:2");
        assert!(Probe::try_parse_from(["probe", "--dynamodb", "mongo"]).is_err());
    }

    #[test]
    fn child_env_carries_the_endpoints_and_the_configuration() {
        let stack = parse(&[
            "--table",
            "t-unit-child",
            "--connect-endpoint",
            "http://h:9",
        ]);
        let env = stack.child_env().unwrap();
        let get = |name: &str| {
            env.iter()
                .find(|(var, _)| var == name)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(get("BRIDGE_TABLE_NAME").as_deref(), Some("t-unit-child"));
        assert_eq!(
            get("AWS_ENDPOINT_URL_CONNECTPARTICIPANT").as_deref(),
            Some("http://h:9")
        );
        assert!(get("AWS_ENDPOINT_URL_DYNAMODB").is_some());
        assert!(
            get("BRIDGE_SUPPORT_LINES")
                .unwrap()
                .contains("+18005550199=")
        );
    }

    #[test]
    fn truthy_values() {
        assert!(is_truthy("true") && is_truthy("1") && is_truthy(" YES "));
        assert!(!is_truthy("false") && !is_truthy("0") && !is_truthy(""));
    }
}
