//! The relay's typed configuration: the shared bridge [`bridge_core::config::Config`] plus
//! the relay's own knobs (owner id, admin address, lease and keep-alive timings, limits).
//!
//! Read once at start-up. Every missing or bad variable, core or relay, is reported by name
//! in one [`ConfigError`], so an operator fixes a deployment in one pass. The relay's
//! variables are read after the shared ones, by the same reader
//! (`bridge_core::config::env::Reader`), into the same list.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use std::fmt;

use bridge_core::config::env::{self, Lookup, Reader};
use bridge_core::config::{Config as CoreConfig, InvalidValue};
use bridge_core::ports::OwnerId;
use bridge_core::usage::Var;

use crate::rate::Rate;

/// This instance's lease owner id. Default `<hostname>-<pid>-<random>`.
pub const OWNER_ID: &str = "BRIDGE_RELAY_OWNER_ID";
/// Address of the admin listener (`/healthz`, `/readyz`, `/metrics`). Default
/// `127.0.0.1:9090`: loopback, so nothing outside the host reaches it unless asked (the
/// container sets `0.0.0.0:9090` explicitly).
pub const ADMIN_ADDR: &str = "BRIDGE_RELAY_ADMIN_ADDR";
/// How long a shard lease lasts unless renewed, ms. Default 15000.
pub const LEASE_TTL_MS: &str = "BRIDGE_RELAY_LEASE_TTL_MS";
/// How often leases are renewed and rebalanced, ms. Default 5000; at most half the TTL.
pub const LEASE_RENEW_MS: &str = "BRIDGE_RELAY_LEASE_RENEW_MS";
/// How often owned shards are queried for active sessions, ms. Default 1000.
pub const DISCOVERY_MS: &str = "BRIDGE_RELAY_DISCOVERY_MS";
/// WebSocket ping + heartbeat period, ms; a heartbeat unanswered for one period means a
/// dead socket. Default 10000.
pub const HEARTBEAT_MS: &str = "BRIDGE_RELAY_HEARTBEAT_MS";
/// Timeout of every API call (Connect, DynamoDB, SNS), ms. Default 10000.
pub const CALL_TIMEOUT_MS: &str = "BRIDGE_RELAY_CALL_TIMEOUT_MS";
/// Timeout of a WebSocket connect + subscribe, ms. Default 10000.
pub const CONNECT_TIMEOUT_MS: &str = "BRIDGE_RELAY_CONNECT_TIMEOUT_MS";
/// First reconnect / retry backoff ceiling, ms. Default 250.
pub const BACKOFF_BASE_MS: &str = "BRIDGE_RELAY_BACKOFF_BASE_MS";
/// Largest reconnect / retry backoff, ms. Default 30000.
pub const BACKOFF_CAP_MS: &str = "BRIDGE_RELAY_BACKOFF_CAP_MS";
/// Attempts per SMS part (and per cursor write) before the session reconnects and catches
/// up again. Default 5.
pub const SMS_ATTEMPTS: &str = "BRIDGE_RELAY_SMS_ATTEMPTS";
/// Most sessions this instance relays at once. Default 20000.
pub const MAX_SESSIONS: &str = "BRIDGE_RELAY_MAX_SESSIONS";
/// Most sessions connecting (CreateParticipantConnection + WebSocket handshake) at once.
/// Default 64.
pub const CONNECT_CONCURRENCY: &str = "BRIDGE_RELAY_CONNECT_CONCURRENCY";
/// Connection set-ups (CreateParticipantConnection) per second, this instance; 0 for no
/// limit. Default 2: Connect allows 6 a second per instance, shared with the other relays
/// and with the inbound Lambda (see [`crate::rate`]).
pub const CONNECT_RATE: &str = "BRIDGE_RELAY_CONNECT_RATE";
/// Connection set-ups that may go back to back after a quiet spell. Default 4.
pub const CONNECT_BURST: &str = "BRIDGE_RELAY_CONNECT_BURST";
/// How long shutdown waits for sessions to finish the message in hand, ms. Default 10000.
pub const DRAIN_MS: &str = "BRIDGE_RELAY_DRAIN_MS";
/// Replace a socket (new connection, catch-up) after this long, s. Default 3540 (as chatjs).
pub const SOCKET_LIFETIME_SECS: &str = "BRIDGE_RELAY_SOCKET_LIFETIME_SECS";
/// `json` (default) or `text` log lines.
pub const LOG_FORMAT: &str = "BRIDGE_RELAY_LOG_FORMAT";
/// Where Connect writes chat transcripts when a chat ends, `s3://bucket/prefix` (the
/// instance's Data storage, "Chat transcripts"). Default none.
pub const TRANSCRIPT_S3: &str = "BRIDGE_RELAY_TRANSCRIPT_S3";
/// How long a chat that ended while no socket was open waits for its transcript in S3, s.
/// Default 300.
pub const TRANSCRIPT_WAIT_SECS: &str = "BRIDGE_RELAY_TRANSCRIPT_WAIT_SECS";

/// A PEM file of CA certificates trusted besides the platform's roots, for Connect and the
/// other AWS endpoints and for participant sockets: local use and tests only (connect-sim
/// serving TLS, `--tls-ca-out`). Default none.
pub const EXTRA_CA_FILE: &str = "BRIDGE_RELAY_EXTRA_CA_FILE";

/// Every relay-specific variable, with its default and meaning (`--help`).
pub const VARS: [Var; 21] = [
    Var::with_default(
        OWNER_ID,
        "<hostname>-<pid>-<random>",
        "This instance's lease owner id (up to 128 characters)",
    ),
    Var::with_default(
        ADMIN_ADDR,
        DEFAULT_ADMIN_ADDR,
        "Address of the admin listener: /healthz, /readyz, /metrics",
    ),
    Var::with_default(
        LEASE_TTL_MS,
        "15000",
        "How long a shard lease lasts unless renewed, ms",
    ),
    Var::with_default(
        LEASE_RENEW_MS,
        "5000",
        "How often leases are renewed and rebalanced, ms (at most half the TTL)",
    ),
    Var::with_default(
        DISCOVERY_MS,
        "1000",
        "How often owned shards are queried for live sessions, ms",
    ),
    Var::with_default(
        HEARTBEAT_MS,
        "10000",
        "WebSocket ping + heartbeat period, ms; one unanswered period means a dead socket",
    ),
    Var::with_default(
        CALL_TIMEOUT_MS,
        "10000",
        "Timeout of every API call (Connect, DynamoDB, SNS), ms",
    ),
    Var::with_default(
        CONNECT_TIMEOUT_MS,
        "10000",
        "Timeout of a WebSocket connect + subscribe, ms",
    ),
    Var::with_default(
        BACKOFF_BASE_MS,
        "250",
        "Ceiling of the first reconnect / retry delay, ms (full jitter, doubling)",
    ),
    Var::with_default(
        BACKOFF_CAP_MS,
        "30000",
        "Largest reconnect / retry delay, ms",
    ),
    Var::with_default(
        SMS_ATTEMPTS,
        "5",
        "Attempts per SMS part (and cursor write) before the session reconnects and catches up",
    ),
    Var::with_default(
        MAX_SESSIONS,
        "20000",
        "Most sessions this instance relays at once",
    ),
    Var::with_default(
        CONNECT_CONCURRENCY,
        "64",
        "Most connection set-ups (CreateParticipantConnection + handshake) at once",
    ),
    Var::with_default(
        CONNECT_RATE,
        "2",
        "CreateParticipantConnection calls per second, this instance (0: no limit); Connect allows 6/s per instance, shared",
    ),
    Var::with_default(
        CONNECT_BURST,
        "4",
        "Connection set-ups that may go back to back after a quiet spell",
    ),
    Var::with_default(
        DRAIN_MS,
        "10000",
        "How long shutdown waits for sessions to finish the message in hand, ms",
    ),
    Var::with_default(
        SOCKET_LIFETIME_SECS,
        "3540",
        "Replace a socket (new connection, catch-up) after this long, s",
    ),
    Var::with_default(LOG_FORMAT, "json", "json or text log lines"),
    Var::optional(
        TRANSCRIPT_S3,
        "s3://bucket/prefix where Connect writes chat transcripts (connect/<alias>/ChatTranscripts): replies of a chat that ended while no socket was open are read from there",
    ),
    Var::with_default(
        TRANSCRIPT_WAIT_SECS,
        "300",
        "How long such a chat waits for its transcript to appear in S3, s",
    ),
    Var::optional(
        EXTRA_CA_FILE,
        "PEM file of CA certificates to trust besides the platform's (local emulators over TLS; not for production)",
    ),
];

/// Every problem found in the core and relay configuration; `Display` lists them all.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The problems, core variables first.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bridge_core::config::write_problems(f, &self.problems)
    }
}

/// One missing or invalid variable, shared or the relay's own.
pub type Problem = env::Problem<Invalid>;

/// What is wrong with a relay variable's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// What is wrong with a shared variable, or a relay number or text: not a whole
    /// number, out of range, too long…
    #[error(transparent)]
    Value(#[from] InvalidValue),
    /// Not `host:port` with an IP host.
    #[error("not an ip:port socket address")]
    NotAnAddress,
    /// Not `json` or `text`.
    #[error("expected json or text")]
    NotALogFormat,
    /// Not `s3://bucket/prefix`.
    #[error("expected s3://bucket/prefix: {0}")]
    NotAnS3Location(String),
    /// The file cannot be read, or holds no usable CA certificate.
    #[error("not a readable PEM file of CA certificates: {0}")]
    NotACaFile(String),
    /// Renewing less often than twice per lease lets one slow round lose every shard.
    #[error("must be at most half of {LEASE_TTL_MS} ({max} ms)")]
    RenewTooSlow {
        /// Half the lease TTL.
        max: u64,
    },
    /// The backoff ceiling is below the first delay.
    #[error("must be at least {BACKOFF_BASE_MS} ({min} ms)")]
    CapBelowBase {
        /// The base.
        min: u64,
    },
}

/// Default of [`ADMIN_ADDR`].
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9090";
const MAX_OWNER_ID_CHARS: usize = 128;

/// How log lines are written ([`LOG_FORMAT`]).
pub use bridge_core::config::LogFormat;

/// Lease timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    /// A lease lapses this long after its last renewal.
    pub ttl: Duration,
    /// Renew (and rebalance) this often.
    pub renew_every: Duration,
}

/// Reconnect and retry backoff ([`BACKOFF_BASE_MS`], [`BACKOFF_CAP_MS`]).
pub use bridge_core::backoff::BackoffPolicy;

/// The relay's configuration, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bridge's shared configuration (support lines, table, shards, texts).
    pub core: CoreConfig,
    /// This instance's lease owner id ([`OWNER_ID`]).
    pub owner: OwnerId,
    /// The admin listener's address ([`ADMIN_ADDR`]).
    pub admin_addr: SocketAddr,
    /// Lease timings ([`LEASE_TTL_MS`], [`LEASE_RENEW_MS`]).
    pub lease: LeaseTimings,
    /// Discovery period ([`DISCOVERY_MS`]).
    pub discovery_every: Duration,
    /// Keep-alive period ([`HEARTBEAT_MS`]).
    pub heartbeat_every: Duration,
    /// Per-call timeout ([`CALL_TIMEOUT_MS`]).
    pub call_timeout: Duration,
    /// WebSocket connect + subscribe timeout ([`CONNECT_TIMEOUT_MS`]).
    pub connect_timeout: Duration,
    /// Backoff ([`BACKOFF_BASE_MS`], [`BACKOFF_CAP_MS`]).
    pub backoff: BackoffPolicy,
    /// Attempts per SMS part or cursor write ([`SMS_ATTEMPTS`]).
    pub sms_attempts: NonZeroU32,
    /// Session limit ([`MAX_SESSIONS`]).
    pub max_sessions: NonZeroUsize,
    /// Concurrent connection set-ups ([`CONNECT_CONCURRENCY`]).
    pub connect_concurrency: NonZeroUsize,
    /// Connection set-ups per second and burst ([`CONNECT_RATE`], [`CONNECT_BURST`]);
    /// `None` for no limit.
    pub connect_rate: Option<Rate>,
    /// Shutdown drain deadline ([`DRAIN_MS`]).
    pub drain: Duration,
    /// Planned socket replacement ([`SOCKET_LIFETIME_SECS`]).
    pub socket_lifetime: Duration,
    /// Log format ([`LOG_FORMAT`]).
    pub log_format: LogFormat,
    /// Where chat transcripts are archived ([`TRANSCRIPT_S3`]).
    pub transcript_s3: Option<bridge_aws::TranscriptLocation>,
    /// How long to wait for an archived transcript ([`TRANSCRIPT_WAIT_SECS`]).
    pub transcript_wait: Duration,
    /// CA certificates trusted besides the platform's ([`EXTRA_CA_FILE`]).
    pub extra_ca: Option<bridge_aws::ExtraCa>,
}

/// The admin address alone ([`ADMIN_ADDR`], default [`DEFAULT_ADMIN_ADDR`]), for the health
/// probe, which must work without the rest of the configuration.
///
/// # Errors
/// When the variable is set but is not a socket address.
pub fn admin_addr_from_env() -> Result<SocketAddr, std::net::AddrParseError> {
    let value = match Lookup::process(ADMIN_ADDR) {
        Lookup::Value(value) => value,
        Lookup::Unset | Lookup::NotUnicode => String::new(),
    };
    let value = value.trim();
    if value.is_empty() {
        DEFAULT_ADMIN_ADDR.parse()
    } else {
        value.parse()
    }
}

impl Config {
    /// Reads and validates the core and relay configuration from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every missing or invalid variable, core and relay.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::assemble(CoreConfig::from_env(), Lookup::process)
    }

    /// Reads and validates from `lookup` (variable name → value; `None` when unset).
    ///
    /// # Errors
    /// A [`ConfigError`] listing every missing or invalid variable, core and relay.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let core = CoreConfig::from_lookup(&lookup);
        Self::assemble(core, |name| Lookup::from_option(lookup(name)))
    }

    /// The relay's variables, read after the shared ones into the same list of problems.
    fn assemble(
        core: Result<CoreConfig, bridge_core::config::ConfigError>,
        lookup: impl Fn(&str) -> Lookup,
    ) -> Result<Self, ConfigError> {
        let shared: Vec<Problem> = match &core {
            Ok(_) => Vec::new(),
            Err(error) => {
                let problems = error.problems.iter().cloned();
                problems
                    .map(|problem| problem.map(Invalid::Value))
                    .collect()
            }
        };
        let mut vars = Reader::after(lookup, shared);
        let owner = vars
            .optional(OWNER_ID, parse_owner)
            .unwrap_or_else(default_owner);
        let admin_addr = vars
            .optional(ADMIN_ADDR, |v| {
                v.trim().parse().map_err(|_| Invalid::NotAnAddress)
            })
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9090)));
        let ttl = vars.millis(LEASE_TTL_MS, 1_000, 600_000, 15_000);
        let renew_every = vars.millis(LEASE_RENEW_MS, 100, 300_000, 5_000);
        if renew_every * 2 > ttl {
            vars.invalid(
                LEASE_RENEW_MS,
                Invalid::RenewTooSlow {
                    max: duration_ms(ttl) / 2,
                },
            );
        }
        let discovery_every = vars.millis(DISCOVERY_MS, 50, 60_000, 1_000);
        let heartbeat_every = vars.millis(HEARTBEAT_MS, 100, 60_000, 10_000);
        let call_timeout = vars.millis(CALL_TIMEOUT_MS, 100, 120_000, 10_000);
        let connect_timeout = vars.millis(CONNECT_TIMEOUT_MS, 100, 120_000, 10_000);
        let base = vars.millis(BACKOFF_BASE_MS, 1, 60_000, 250);
        let cap = vars.millis(BACKOFF_CAP_MS, 1, 600_000, 30_000);
        if cap < base {
            vars.invalid(
                BACKOFF_CAP_MS,
                Invalid::CapBelowBase {
                    min: duration_ms(base),
                },
            );
        }
        let sms_attempts = vars.number(SMS_ATTEMPTS, 1, 20, 5);
        let max_sessions = vars.number(MAX_SESSIONS, 1, 1_000_000, 20_000);
        let connect_concurrency = vars.number(CONNECT_CONCURRENCY, 1, 4_096, 64);
        let connect_rate = vars.number(CONNECT_RATE, 0, 1_000, 2);
        let connect_burst = vars.number(CONNECT_BURST, 1, 1_000, 4);
        let drain = vars.millis(DRAIN_MS, 0, 300_000, 10_000);
        let socket_lifetime =
            Duration::from_secs(vars.number(SOCKET_LIFETIME_SECS, 60, 86_400, 3_540));
        let log_format = vars
            .optional(LOG_FORMAT, |v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "json" => Ok(LogFormat::Json),
                    "text" => Ok(LogFormat::Text),
                    _ => Err(Invalid::NotALogFormat),
                }
            })
            .unwrap_or(LogFormat::Json);
        let transcript_s3 = vars.optional(TRANSCRIPT_S3, |v| {
            bridge_aws::TranscriptLocation::parse(v).map_err(Invalid::NotAnS3Location)
        });
        let transcript_wait = Duration::from_secs(vars.number(TRANSCRIPT_WAIT_SECS, 0, 3_600, 300));
        let extra_ca = vars.optional(EXTRA_CA_FILE, read_extra_ca);

        let problems = vars.finish();
        let Ok(core) = core else {
            return Err(ConfigError { problems });
        };
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Self {
            core,
            owner,
            admin_addr,
            lease: LeaseTimings { ttl, renew_every },
            discovery_every,
            heartbeat_every,
            call_timeout,
            connect_timeout,
            backoff: BackoffPolicy { base, cap },
            // The ranges above start at 1, so these conversions cannot fail; the fallbacks
            // are never used.
            sms_attempts: NonZeroU32::new(u32::try_from(sms_attempts).unwrap_or(5))
                .unwrap_or(NonZeroU32::MIN),
            max_sessions: nonzero(max_sessions),
            connect_concurrency: nonzero(connect_concurrency),
            connect_rate: u32::try_from(connect_rate)
                .ok()
                .and_then(NonZeroU32::new)
                .map(|per_second| Rate {
                    per_second,
                    burst: u32::try_from(connect_burst)
                        .ok()
                        .and_then(NonZeroU32::new)
                        .unwrap_or(NonZeroU32::MIN),
                }),
            drain,
            socket_lifetime,
            log_format,
            transcript_s3,
            transcript_wait,
            extra_ca,
        })
    }
}

/// Reads and checks [`EXTRA_CA_FILE`]: a CA the SDK's TLS set-up could not parse would
/// panic on the first request, so it is refused here, at start.
fn read_extra_ca(path: &str) -> Result<bridge_aws::ExtraCa, Invalid> {
    let pem = std::fs::read(path.trim()).map_err(|error| Invalid::NotACaFile(error.to_string()))?;
    bridge_aws::ExtraCa::from_pem(&pem).map_err(|error| Invalid::NotACaFile(error.to_string()))
}

fn nonzero(value: u64) -> NonZeroUsize {
    NonZeroUsize::new(usize::try_from(value).unwrap_or(usize::MAX)).unwrap_or(NonZeroUsize::MIN)
}

fn duration_ms(value: Duration) -> u64 {
    u64::try_from(value.as_millis()).unwrap_or(u64::MAX)
}

fn parse_owner(value: &str) -> Result<OwnerId, Invalid> {
    let value = value.trim();
    let chars = value.chars().count();
    if chars > MAX_OWNER_ID_CHARS {
        return Err(Invalid::Value(InvalidValue::TooLong {
            chars,
            max: MAX_OWNER_ID_CHARS,
        }));
    }
    Ok(OwnerId(value.to_owned()))
}

/// `<hostname>-<pid>-<random>`: unique per process even when two share a host and pid
/// namespace (containers restarted with the same pid).
fn default_owner() -> OwnerId {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "relay".to_owned());
    let host: String = host.chars().take(64).collect();
    OwnerId(format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base_env() -> HashMap<&'static str, String> {
        HashMap::from([
            ("BRIDGE_CONNECT_INSTANCE_ID", "inst-1".to_owned()),
            ("BRIDGE_SUPPORT_LINES", "+18005550100=flow-1".to_owned()),
            ("BRIDGE_TABLE_NAME", "bridge".to_owned()),
        ])
    }

    fn load(env: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_architecture() {
        let config = load(&base_env()).unwrap();
        assert_eq!(config.lease.ttl, Duration::from_secs(15));
        assert_eq!(config.lease.renew_every, Duration::from_secs(5));
        assert_eq!(config.discovery_every, Duration::from_secs(1));
        assert_eq!(config.heartbeat_every, Duration::from_secs(10));
        assert_eq!(config.admin_addr.to_string(), DEFAULT_ADMIN_ADDR);
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.owner.0.contains(&std::process::id().to_string()));
    }

    #[test]
    fn every_bad_variable_is_reported_at_once_core_and_relay() {
        let mut env = base_env();
        env.remove("BRIDGE_TABLE_NAME");
        env.insert(LEASE_TTL_MS, "ten".to_owned());
        env.insert(HEARTBEAT_MS, "5".to_owned());
        env.insert(ADMIN_ADDR, "nowhere".to_owned());
        env.insert(LOG_FORMAT, "xml".to_owned());
        let error = load(&env).unwrap_err();
        let vars: Vec<_> = error.problems.iter().map(Problem::var).collect();
        for expected in [
            "BRIDGE_TABLE_NAME",
            LEASE_TTL_MS,
            HEARTBEAT_MS,
            ADMIN_ADDR,
            LOG_FORMAT,
        ] {
            assert!(vars.contains(&expected), "{expected} missing from {vars:?}");
        }
    }

    #[test]
    fn an_extra_ca_file_must_exist_and_hold_a_certificate() {
        let mut env = base_env();
        env.insert(EXTRA_CA_FILE, "/nonexistent/ca.pem".into());
        let error = load(&env).unwrap_err();
        assert!(matches!(
            error.problems.as_slice(),
            [Problem::Invalid {
                var: EXTRA_CA_FILE,
                reason: Invalid::NotACaFile(_)
            }]
        ));
        let dir = std::env::temp_dir().join(format!("relay-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        env.insert(EXTRA_CA_FILE, not_pem.display().to_string());
        assert!(load(&env).is_err());
        let ca = dir.join("ca.pem");
        let tls = connect_sim::tls::SimTls::generate().unwrap();
        std::fs::write(&ca, tls.ca_pem()).unwrap();
        env.insert(EXTRA_CA_FILE, ca.display().to_string());
        let config = load(&env).unwrap();
        assert_eq!(config.extra_ca.map(|ca| ca.certificates().len()), Some(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn renewal_must_fit_twice_in_the_lease() {
        let mut env = base_env();
        env.insert(LEASE_TTL_MS, "3000".to_owned());
        env.insert(LEASE_RENEW_MS, "2000".to_owned());
        let error = load(&env).unwrap_err();
        assert_eq!(error.problems[0].var(), LEASE_RENEW_MS);
        env.insert(LEASE_RENEW_MS, "1000".to_owned());
        assert!(load(&env).is_ok());
    }

    #[test]
    fn backoff_cap_below_base_is_rejected() {
        let mut env = base_env();
        env.insert(BACKOFF_BASE_MS, "1000".to_owned());
        env.insert(BACKOFF_CAP_MS, "10".to_owned());
        assert_eq!(load(&env).unwrap_err().problems[0].var(), BACKOFF_CAP_MS);
    }
}
