//! The bridge's shared typed configuration, read from environment variables at start-up.
//!
//! Every binary (inbound Lambda, relay, CLI) needs the same view of the support lines and
//! the table, so it lives in `core`. Validation reports every missing or bad variable by
//! name in one [`ConfigError`], so an operator fixes a deployment in one pass.
//!
//! Every entry point reads its variables through [`env::Reader`], the one reader: these
//! shared ones here ([`Config::from_env`]; tests use [`Config::from_lookup`]), and each
//! binary's own after them, into one list of problems. A variable that is unset or blank
//! counts as unset: required ones are reported missing, optional ones take their default.

use std::fmt;
use std::num::{NonZeroU16, ParseIntError};
use std::time::Duration;

use crate::ids::{ContactFlowId, InstanceId, InvalidId};
use crate::phone::{PhoneError, PhoneNumber};
use crate::ports::IdleTimers;
use crate::usage::Var;

pub mod env;

use env::{Lookup, Reader, in_range};

/// Amazon Connect instance id that chats are started in. Required.
pub const CONNECT_INSTANCE_ID: &str = "BRIDGE_CONNECT_INSTANCE_ID";
/// Support numbers and their contact flows, `+18005550100=<flow-id>,…`. Required.
pub const SUPPORT_LINES: &str = "BRIDGE_SUPPORT_LINES";
/// DynamoDB table holding sessions, dedupe markers and leases. Required.
pub const TABLE_NAME: &str = "BRIDGE_TABLE_NAME";
/// Number of relay shards. Default 64.
pub const SHARD_COUNT: &str = "BRIDGE_SHARD_COUNT";
/// Start new chats as persistent chats continuing the previous one. Default false.
pub const PERSISTENT_CHAT: &str = "BRIDGE_PERSISTENT_CHAT";
/// The customer's display name in Connect. Default "SMS customer".
pub const CUSTOMER_DISPLAY_NAME: &str = "BRIDGE_CUSTOMER_DISPLAY_NAME";
/// Reply to HELP. Has a default.
pub const HELP_TEXT: &str = "BRIDGE_HELP_TEXT";
/// Reply to STOP. Default none.
pub const OPT_OUT_TEXT: &str = "BRIDGE_OPT_OUT_TEXT";
/// Reply to START. Default none.
pub const OPT_IN_TEXT: &str = "BRIDGE_OPT_IN_TEXT";
/// Send "You are now chatting with …" when an agent joins. Default true.
pub const JOINED_NOTICE: &str = "BRIDGE_JOINED_NOTICE";
/// SMS sent when the chat ends. Default none.
pub const CLOSING_TEXT: &str = "BRIDGE_CLOSING_TEXT";
/// Number the parts of a reply split over several SMS. Default true.
pub const SMS_NUMBERING: &str = "BRIDGE_SMS_NUMBERING";
/// Age in seconds after which a `starting` session is taken over. Default 30.
pub const START_TAKEOVER_SECS: &str = "BRIDGE_START_TAKEOVER_SECS";
/// How long a text that lost the start race waits for the chat. Default 10000 ms.
pub const WAIT_FOR_START_MS: &str = "BRIDGE_WAIT_FOR_START_MS";
/// StartChatContact `ChatDurationInMinutes`. Default: Connect's own (25 hours).
pub const CHAT_DURATION_MINUTES: &str = "BRIDGE_CHAT_DURATION_MINUTES";
/// Minutes after the customer's last text that Connect marks the customer idle, and the
/// relay texts [`IDLE_WARNING_TEXT`]. Default: no idle timer.
pub const IDLE_WARN_MINUTES: &str = "BRIDGE_IDLE_WARN_MINUTES";
/// Minutes after that (or after the last text, with no warning timer) that Connect
/// disconnects the agent and the chat ends. Default: no disconnect timer.
pub const IDLE_DISCONNECT_MINUTES: &str = "BRIDGE_IDLE_DISCONNECT_MINUTES";
/// SMS sent when Connect marks the customer idle. Has a default.
pub const IDLE_WARNING_TEXT: &str = "BRIDGE_IDLE_WARNING_TEXT";
/// Which service sends SMS: `sns` (default) or `end-user-messaging`.
pub const SMS_API: &str = "BRIDGE_SMS_API";
/// End User Messaging: the configuration set (its event destination publishes delivery
/// events). Default none.
pub const SMS_CONFIGURATION_SET: &str = "BRIDGE_SMS_CONFIGURATION_SET";
/// End User Messaging: a phone pool (id or ARN) to send from instead of the support
/// number the customer texted. Default none.
pub const SMS_ORIGINATION_POOL: &str = "BRIDGE_SMS_ORIGINATION_POOL";
/// End User Messaging: how long an SMS may wait to be handed to the carrier, seconds.
/// Default the service's (72 hours).
pub const SMS_TTL_SECS: &str = "BRIDGE_SMS_TTL_SECS";

/// Every variable [`Config`] reads, with its default and meaning: the source of every
/// binary's `--help` ([`crate::usage`]).
pub const VARS: [Var; 22] = [
    Var::required(
        CONNECT_INSTANCE_ID,
        "Amazon Connect instance id chats are started in (1-100 characters)",
    ),
    Var::required(
        SUPPORT_LINES,
        "Support numbers and their contact flows: +18005550100=<flow-id>,+18005550199=<flow-id>",
    ),
    Var::required(
        TABLE_NAME,
        "DynamoDB table of sessions, dedupe markers and leases",
    ),
    Var::with_default(SHARD_COUNT, "64", "Relay shards, 1-1024"),
    Var::with_default(
        PERSISTENT_CHAT,
        "false",
        "Start a new chat as a persistent chat continuing the customer's previous contact",
    ),
    Var::with_default(
        CUSTOMER_DISPLAY_NAME,
        DEFAULT_CUSTOMER_DISPLAY_NAME,
        "The customer's display name in Connect (up to 256 characters)",
    ),
    Var::with_default(
        HELP_TEXT,
        DEFAULT_HELP_TEXT,
        "SMS reply to HELP/INFO/AIDE (up to 1600 characters; carriers require one)",
    ),
    Var::optional(
        OPT_OUT_TEXT,
        "SMS reply to STOP (AWS and carriers send their own)",
    ),
    Var::optional(
        OPT_IN_TEXT,
        "SMS reply to START/UNSTOP/YES from an opted-out customer",
    ),
    Var::with_default(
        JOINED_NOTICE,
        "true",
        "Send \"You are now chatting with ...\" when an agent joins",
    ),
    Var::optional(CLOSING_TEXT, "SMS sent when the chat ends"),
    Var::with_default(
        SMS_NUMBERING,
        "true",
        "Number the parts of a reply split over several SMS (\"(1/3)\")",
    ),
    Var::with_default(
        START_TAKEOVER_SECS,
        "30",
        "Age (1-3600 s) after which a chat start whose starter died is taken over",
    ),
    Var::with_default(
        WAIT_FOR_START_MS,
        "10000",
        "How long (1-300000 ms) a text that lost the race to start a chat waits for it",
    ),
    Var::optional(
        CHAT_DURATION_MINUTES,
        "ChatDurationInMinutes of new chats, 60-10080 (unset: Connect's default, 25 h)",
    ),
    Var::optional(
        IDLE_WARN_MINUTES,
        "Customer idle timer of new chats, 2-480 min after the customer's last text: Connect marks the customer idle and the relay texts the idle warning (unset: no timer)",
    ),
    Var::optional(
        IDLE_DISCONNECT_MINUTES,
        "Customer auto-disconnect timer of new chats, 2-480 min after the idle mark (or the last text, with no idle timer): the agent is disconnected and the chat ends (unset: no timer)",
    ),
    Var::with_default(
        IDLE_WARNING_TEXT,
        DEFAULT_IDLE_WARNING_TEXT,
        "SMS sent when Connect marks the customer idle (up to 1600 characters)",
    ),
    Var::with_default(
        SMS_API,
        "sns",
        "Which service sends SMS: sns, or end-user-messaging (SendTextMessage, with delivery receipts for agents)",
    ),
    Var::optional(
        SMS_CONFIGURATION_SET,
        "end-user-messaging only: configuration set name or ARN (its SNS event destination carries delivery events to the Lambda)",
    ),
    Var::optional(
        SMS_ORIGINATION_POOL,
        "end-user-messaging only: phone pool id or ARN to send from (unset: the support number the customer texted)",
    ),
    Var::optional(
        SMS_TTL_SECS,
        "end-user-messaging only: seconds an SMS may wait to be handed to the carrier, 5-259200 (unset: 72 h)",
    ),
];

/// Default of [`SHARD_COUNT`].
pub const DEFAULT_SHARD_COUNT: u16 = 64;
/// Default of [`CUSTOMER_DISPLAY_NAME`].
pub const DEFAULT_CUSTOMER_DISPLAY_NAME: &str = "SMS customer";
/// Default of [`HELP_TEXT`].
pub const DEFAULT_HELP_TEXT: &str =
    "Reply with your question and an agent will answer. Reply STOP to opt out.";
/// Default of [`IDLE_WARNING_TEXT`].
pub const DEFAULT_IDLE_WARNING_TEXT: &str = "Are you still there? Reply to keep this chat open.";
/// Default of [`START_TAKEOVER_SECS`].
pub const DEFAULT_START_TAKEOVER_SECS: u64 = 30;
/// Default of [`WAIT_FOR_START_MS`].
pub const DEFAULT_WAIT_FOR_START_MS: u64 = 10_000;

/// Connect's `DisplayName` limit (ParticipantDetails, 1–256 characters).
const MAX_DISPLAY_NAME_CHARS: usize = 256;
/// One SNS Publish carries at most 1,600 characters (docs/connect-chat.md §7.2); a
/// configured reply must fit.
const MAX_REPLY_CHARS: usize = 1_600;

/// How a process writes its log lines (each binary reads its own setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production: CloudWatch reads it).
    Json,
    /// Human-readable text (local runs).
    Text,
}

/// One support number customers text, and the contact flow its chats start in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportLine {
    /// Our number (the `destinationNumber` of inbound texts, the origination of replies).
    pub number: PhoneNumber,
    /// The contact flow StartChatContact uses for this number.
    pub contact_flow_id: ContactFlowId,
}

/// A DynamoDB table name: 3–255 characters of `A-Z a-z 0-9 _ . -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    /// Checks DynamoDB's naming rules.
    ///
    /// # Errors
    /// [`InvalidValue::TableNameLength`] or [`InvalidValue::TableNameCharacter`].
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let chars = value.chars().count();
        if !(3..=255).contains(&chars) {
            return Err(InvalidValue::TableNameLength { chars });
        }
        if let Some((position, found)) = value
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(InvalidValue::TableNameCharacter { found, position });
        }
        Ok(Self(value))
    }

    /// The table name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The bridge's configuration, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Connect instance chats are started in ([`CONNECT_INSTANCE_ID`]).
    pub connect_instance_id: InstanceId,
    /// Our support numbers with their contact flows; never empty, no number twice
    /// ([`SUPPORT_LINES`]).
    pub support_lines: Vec<SupportLine>,
    /// The DynamoDB table ([`TABLE_NAME`]).
    pub table_name: TableName,
    /// Relay shards, 1 to 1024 ([`SHARD_COUNT`]).
    pub shard_count: NonZeroU16,
    /// Start chats as persistent chats from the customer's previous contact
    /// ([`PERSISTENT_CHAT`]).
    pub persistent_chat: bool,
    /// The customer's display name in Connect ([`CUSTOMER_DISPLAY_NAME`]).
    pub customer_display_name: String,
    /// Reply to HELP ([`HELP_TEXT`]); carriers require one, so it cannot be turned off.
    pub help_text: String,
    /// Reply to STOP; `None` by default because AWS and carriers send their own
    /// ([`OPT_OUT_TEXT`]).
    pub opt_out_text: Option<String>,
    /// Reply to START ([`OPT_IN_TEXT`]).
    pub opt_in_text: Option<String>,
    /// Text the customer when an agent joins ([`JOINED_NOTICE`]).
    pub joined_notice: bool,
    /// Text sent when the chat ends ([`CLOSING_TEXT`]).
    pub closing_text: Option<String>,
    /// Number the parts of a reply split over several SMS, "(1/3)" ([`SMS_NUMBERING`]).
    pub sms_numbering: bool,
    /// Age after which another invocation takes over a `starting` session whose starter
    /// died ([`START_TAKEOVER_SECS`], 1 to 3600 s).
    pub start_takeover: Duration,
    /// How long a text that lost the race to start the chat waits for the winner's chat to
    /// become active ([`WAIT_FOR_START_MS`], 1 to 300000 ms).
    pub wait_for_start: Duration,
    /// `ChatDurationInMinutes` for StartChatContact, 60 to 10080; `None` leaves Connect's
    /// default ([`CHAT_DURATION_MINUTES`]).
    pub chat_duration_minutes: Option<u16>,
    /// The customer's chat timers, set on every new chat; `None` when neither
    /// [`IDLE_WARN_MINUTES`] nor [`IDLE_DISCONNECT_MINUTES`] is set.
    pub idle_timers: Option<IdleTimers>,
    /// Text sent when the customer is marked idle ([`IDLE_WARNING_TEXT`]).
    pub idle_warning_text: String,
    /// Which service sends SMS, and its settings ([`SMS_API`]).
    pub sms_api: SmsApi,
}

/// Which service sends SMS ([`SMS_API`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SmsApi {
    /// SNS Publish: no delivery events.
    #[default]
    Sns,
    /// AWS End User Messaging SMS SendTextMessage.
    EndUserMessaging(EndUserMessaging),
}

/// End User Messaging's sending settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndUserMessaging {
    /// Configuration set name or ARN ([`SMS_CONFIGURATION_SET`]).
    pub configuration_set: Option<String>,
    /// Phone pool id or ARN to send from ([`SMS_ORIGINATION_POOL`]); `None`: the support
    /// number.
    pub origination_pool: Option<String>,
    /// `TimeToLive`, seconds ([`SMS_TTL_SECS`]).
    pub ttl_secs: Option<u32>,
}

impl Config {
    /// Reads and validates the configuration from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every missing or invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Lookup::process)
    }

    /// Reads and validates the configuration from `lookup`, which maps a variable name to
    /// its value (`None` when unset).
    ///
    /// # Errors
    /// A [`ConfigError`] listing every missing or invalid variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::load(|name| Lookup::from_option(lookup(name)))
    }

    /// The support line for our number `number`, if it is one.
    pub fn support_line(&self, number: &PhoneNumber) -> Option<&SupportLine> {
        self.support_lines
            .iter()
            .find(|line| &line.number == number)
    }

    fn load(lookup: impl Fn(&str) -> Lookup) -> Result<Self, ConfigError> {
        let mut vars = Reader::new(lookup);
        let connect_instance_id = vars.required(CONNECT_INSTANCE_ID, |v| {
            InstanceId::new(v.trim()).map_err(InvalidValue::Id)
        });
        let support_lines = vars.required_all(SUPPORT_LINES, parse_support_lines);
        let table_name = vars.required(TABLE_NAME, |v| TableName::new(v.trim()));
        let shard_count = vars.or_default(SHARD_COUNT, shard_count, default_shard_count());
        let persistent_chat = vars.or_default(PERSISTENT_CHAT, parse_bool, false);
        let customer_display_name = vars.or_default(
            CUSTOMER_DISPLAY_NAME,
            |v| text(v, MAX_DISPLAY_NAME_CHARS),
            DEFAULT_CUSTOMER_DISPLAY_NAME.to_owned(),
        );
        let help_text = vars.or_default(HELP_TEXT, reply, DEFAULT_HELP_TEXT.to_owned());
        let opt_out_text = vars.optional(OPT_OUT_TEXT, reply);
        let opt_in_text = vars.optional(OPT_IN_TEXT, reply);
        let joined_notice = vars.or_default(JOINED_NOTICE, parse_bool, true);
        let closing_text = vars.optional(CLOSING_TEXT, reply);
        let sms_numbering = vars.or_default(SMS_NUMBERING, parse_bool, true);
        let start_takeover = vars.or_default(
            START_TAKEOVER_SECS,
            |v| in_range(v, 1, 3_600).map(Duration::from_secs),
            Duration::from_secs(DEFAULT_START_TAKEOVER_SECS),
        );
        let wait_for_start = vars.or_default(
            WAIT_FOR_START_MS,
            |v| in_range(v, 1, 300_000).map(Duration::from_millis),
            Duration::from_millis(DEFAULT_WAIT_FOR_START_MS),
        );
        let chat_duration_minutes = vars.optional(CHAT_DURATION_MINUTES, |v| {
            // At most 10080 after the range check, so the conversion cannot saturate.
            in_range(v, 60, 10_080).map(|minutes| u16::try_from(minutes).unwrap_or(u16::MAX))
        });
        let idle = vars.optional(IDLE_WARN_MINUTES, timer_minutes);
        let disconnect = vars.optional(IDLE_DISCONNECT_MINUTES, timer_minutes);
        let idle_timers =
            (idle.is_some() || disconnect.is_some()).then_some(IdleTimers { idle, disconnect });
        let idle_warning_text = vars.or_default(
            IDLE_WARNING_TEXT,
            reply,
            DEFAULT_IDLE_WARNING_TEXT.to_owned(),
        );
        let sms_api = vars.or_default(SMS_API, parse_sms_api, SmsApi::Sns);
        let configuration_set = vars.optional(SMS_CONFIGURATION_SET, |v| text(v, 256));
        let origination_pool = vars.optional(SMS_ORIGINATION_POOL, |v| text(v, 256));
        let ttl_secs = vars.optional(SMS_TTL_SECS, |v| {
            // At most 259200 after the range check, so the conversion cannot saturate.
            in_range(v, 5, 259_200).map(|secs| u32::try_from(secs).unwrap_or(u32::MAX))
        });
        let sms_api = match sms_api {
            SmsApi::Sns => SmsApi::Sns,
            SmsApi::EndUserMessaging(_) => SmsApi::EndUserMessaging(EndUserMessaging {
                configuration_set,
                origination_pool,
                ttl_secs,
            }),
        };

        match (connect_instance_id, support_lines, table_name) {
            (Some(connect_instance_id), Some(support_lines), Some(table_name))
                if vars.problems().is_empty() =>
            {
                Ok(Self {
                    connect_instance_id,
                    support_lines,
                    table_name,
                    shard_count,
                    persistent_chat,
                    customer_display_name,
                    help_text,
                    opt_out_text,
                    opt_in_text,
                    joined_notice,
                    closing_text,
                    sms_numbering,
                    start_takeover,
                    wait_for_start,
                    chat_duration_minutes,
                    idle_timers,
                    idle_warning_text,
                    sms_api,
                })
            }
            _ => Err(ConfigError {
                problems: vars.finish(),
            }),
        }
    }
}

impl fmt::Debug for Config {
    /// Written by hand so a secret added later is redacted on purpose; phone numbers in the
    /// support lines mask themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("connect_instance_id", &self.connect_instance_id)
            .field("support_lines", &self.support_lines)
            .field("table_name", &self.table_name.as_str())
            .field("shard_count", &self.shard_count)
            .field("persistent_chat", &self.persistent_chat)
            .field("customer_display_name", &self.customer_display_name)
            .field("help_text", &self.help_text)
            .field("opt_out_text", &self.opt_out_text)
            .field("opt_in_text", &self.opt_in_text)
            .field("joined_notice", &self.joined_notice)
            .field("closing_text", &self.closing_text)
            .field("sms_numbering", &self.sms_numbering)
            .field("start_takeover", &self.start_takeover)
            .field("wait_for_start", &self.wait_for_start)
            .field("chat_duration_minutes", &self.chat_duration_minutes)
            .field("idle_timers", &self.idle_timers)
            .field("idle_warning_text", &self.idle_warning_text)
            .field("sms_api", &self.sms_api)
            .finish()
    }
}

/// Every problem found in the configuration; its `Display` lists them all.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order the variables are read.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    /// One line: `invalid configuration (2 problems): A is missing; B is invalid: …`, each
    /// problem with its causes, since a single `source()` cannot carry them all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_problems(f, &self.problems)
    }
}

/// Writes `invalid configuration (N problems): A; B: cause; …`, every problem with its
/// whole cause chain. Shared by every binary's configuration error, so operators read one
/// format whichever process refused to start.
///
/// # Errors
/// Only the formatter's own.
pub fn write_problems<E: std::error::Error>(
    f: &mut fmt::Formatter<'_>,
    problems: &[E],
) -> fmt::Result {
    let count = problems.len();
    let plural = if count == 1 { "" } else { "s" };
    write!(f, "invalid configuration ({count} problem{plural})")?;
    for (i, problem) in problems.iter().enumerate() {
        f.write_str(if i == 0 { ": " } else { "; " })?;
        write!(f, "{problem}")?;
        let mut cause = problem.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
    }
    Ok(())
}

/// One missing or invalid shared variable.
pub type ConfigProblem = env::Problem<InvalidValue>;

/// What is wrong with a variable's value. Values are not echoed: a number or flow id is
/// named by its 1-based position in the list instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// Not a whole number.
    #[error("not a whole number")]
    NotANumber(#[source] ParseIntError),
    /// A whole number outside the allowed range.
    #[error("must be between {min} and {max}")]
    OutOfRange {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// Not one of the accepted boolean spellings.
    #[error("expected true, false, 1, 0, yes or no")]
    NotABool,
    /// Not a known SMS service.
    #[error("expected sns or end-user-messaging")]
    NotAnSmsApi,
    /// Longer than allowed.
    #[error("has {chars} characters, more than {max}")]
    TooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// Not a valid id.
    #[error("not a valid id")]
    Id(#[source] InvalidId),
    /// A table name of the wrong length.
    #[error("table name must be 3 to 255 characters, got {chars}")]
    TableNameLength {
        /// Its length in characters.
        chars: usize,
    },
    /// A table name with a character DynamoDB does not allow.
    #[error(
        "table name contains {found:?} at position {position}; only A-Z a-z 0-9 _ . - are allowed"
    )]
    TableNameCharacter {
        /// The character.
        found: char,
        /// Its 0-based character position.
        position: usize,
    },
    /// A support line entry without `=`.
    #[error("entry {entry} is not of the form +number=contact-flow-id")]
    SupportLineSyntax {
        /// 1-based position in the comma-separated list.
        entry: usize,
    },
    /// A support line whose number is not E.164.
    #[error("entry {entry} has an invalid phone number")]
    SupportLinePhone {
        /// 1-based position in the comma-separated list.
        entry: usize,
        /// Why the number was rejected.
        #[source]
        source: PhoneError,
    },
    /// A support line whose contact flow id is empty or too long.
    #[error("entry {entry} has an invalid contact flow id")]
    SupportLineFlow {
        /// 1-based position in the comma-separated list.
        entry: usize,
        /// Why the id was rejected.
        #[source]
        source: InvalidId,
    },
    /// The same number configured twice (compared after normalisation).
    #[error("entry {entry} repeats the number of entry {first}")]
    DuplicateSupportLine {
        /// 1-based position of the repeat.
        entry: usize,
        /// 1-based position of the first occurrence.
        first: usize,
    },
}

fn default_shard_count() -> NonZeroU16 {
    NonZeroU16::new(DEFAULT_SHARD_COUNT).unwrap_or(NonZeroU16::MIN)
}

fn shard_count(value: &str) -> Result<NonZeroU16, InvalidValue> {
    let count = in_range(value, 1, 1_024)?;
    // The range check makes both conversions succeed; fall back to the minimum anyway.
    Ok(u16::try_from(count)
        .ok()
        .and_then(NonZeroU16::new)
        .unwrap_or(NonZeroU16::MIN))
}

/// A chat timer: 2 to 480 minutes, as UpdateParticipantRoleConfig accepts.
fn timer_minutes(value: &str) -> Result<u16, InvalidValue> {
    let (min, max) = (IdleTimers::MIN_MINUTES, IdleTimers::MAX_MINUTES);
    // At most 480 after the range check, so the conversion cannot saturate.
    in_range(value, min.into(), max.into()).map(|minutes| u16::try_from(minutes).unwrap_or(max))
}

fn parse_sms_api(value: &str) -> Result<SmsApi, InvalidValue> {
    match value.trim().to_ascii_lowercase().as_str() {
        "sns" => Ok(SmsApi::Sns),
        "end-user-messaging" => Ok(SmsApi::EndUserMessaging(EndUserMessaging::default())),
        _ => Err(InvalidValue::NotAnSmsApi),
    }
}

fn parse_bool(value: &str) -> Result<bool, InvalidValue> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(InvalidValue::NotABool),
    }
}

/// Free text without surrounding whitespace (an env file's stray spaces would otherwise be
/// sent by SMS), bounded.
fn text(value: &str, max: usize) -> Result<String, InvalidValue> {
    let value = value.trim();
    let chars = value.chars().count();
    if chars > max {
        return Err(InvalidValue::TooLong { chars, max });
    }
    Ok(value.to_owned())
}

/// A configured SMS reply: must fit in one SNS Publish.
fn reply(value: &str) -> Result<String, InvalidValue> {
    text(value, MAX_REPLY_CHARS)
}

/// `+18005550100=flow-1, +18005550199=flow-2`; blank entries (a trailing comma) are skipped.
fn parse_support_lines(value: &str) -> Result<Vec<SupportLine>, Vec<InvalidValue>> {
    let mut lines: Vec<(usize, SupportLine)> = Vec::new();
    let mut problems = Vec::new();
    let entries = value
        .split(',')
        .enumerate()
        .map(|(i, entry)| (i + 1, entry.trim()));
    for (entry, text) in entries.filter(|(_, text)| !text.is_empty()) {
        let Some((number, flow)) = text.split_once('=') else {
            problems.push(InvalidValue::SupportLineSyntax { entry });
            continue;
        };
        let number = PhoneNumber::parse(number)
            .map_err(|source| InvalidValue::SupportLinePhone { entry, source });
        let flow = ContactFlowId::new(flow.trim())
            .map_err(|source| InvalidValue::SupportLineFlow { entry, source });
        match (number, flow) {
            (Ok(number), Ok(contact_flow_id)) => {
                if let Some((first, _)) = lines.iter().find(|(_, line)| line.number == number) {
                    problems.push(InvalidValue::DuplicateSupportLine {
                        entry,
                        first: *first,
                    });
                } else {
                    lines.push((
                        entry,
                        SupportLine {
                            number,
                            contact_flow_id,
                        },
                    ));
                }
            }
            (number, flow) => problems.extend(number.err().into_iter().chain(flow.err())),
        }
    }
    // An empty list (only commas) yields no problem here: `required_all` then reports the
    // variable as missing.
    if !problems.is_empty() || lines.is_empty() {
        return Err(problems);
    }
    Ok(lines.into_iter().map(|(_, line)| line).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const FLOW_A: &str = "9f4e1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b";
    const FLOW_B: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    fn required() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                CONNECT_INSTANCE_ID,
                "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111".to_owned(),
            ),
            (
                SUPPORT_LINES,
                format!("+18005550100={FLOW_A},+18005550199={FLOW_B}"),
            ),
            (TABLE_NAME, "sms-bridge-prod".to_owned()),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn with(var: &'static str, value: &str) -> HashMap<&'static str, String> {
        let mut vars = required();
        vars.insert(var, value.to_owned());
        vars
    }

    /// The variables named by the problems, in order.
    fn problem_vars(error: &ConfigError) -> Vec<&'static str> {
        error.problems.iter().map(ConfigProblem::var).collect()
    }

    fn only_problem(vars: &HashMap<&'static str, String>) -> ConfigProblem {
        let error = load(vars).unwrap_err();
        assert_eq!(error.problems.len(), 1, "{error}");
        error.problems[0].clone()
    }

    fn phone(text: &str) -> PhoneNumber {
        PhoneNumber::parse(text).unwrap()
    }

    #[test]
    fn full_valid_config_is_read() {
        let mut vars = required();
        vars.extend([
            (SHARD_COUNT, "128".to_owned()),
            (PERSISTENT_CHAT, "yes".to_owned()),
            (CUSTOMER_DISPLAY_NAME, "Customer (SMS)".to_owned()),
            (HELP_TEXT, "Acme support. Reply STOP to opt out.".to_owned()),
            (OPT_OUT_TEXT, "You will get no more messages.".to_owned()),
            (OPT_IN_TEXT, "Welcome back.".to_owned()),
            (JOINED_NOTICE, "false".to_owned()),
            (CLOSING_TEXT, "Thanks for contacting Acme.".to_owned()),
            (SMS_NUMBERING, "0".to_owned()),
            (START_TAKEOVER_SECS, "45".to_owned()),
            (WAIT_FOR_START_MS, "2500".to_owned()),
            (CHAT_DURATION_MINUTES, "1440".to_owned()),
        ]);
        let config = load(&vars).unwrap();
        assert_eq!(
            config.connect_instance_id.as_str(),
            "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
        );
        assert_eq!(config.support_lines.len(), 2);
        assert_eq!(config.support_lines[0].number.as_e164(), "+18005550100");
        assert_eq!(config.support_lines[0].contact_flow_id.as_str(), FLOW_A);
        assert_eq!(config.support_lines[1].number.as_e164(), "+18005550199");
        assert_eq!(config.support_lines[1].contact_flow_id.as_str(), FLOW_B);
        assert_eq!(config.table_name.as_str(), "sms-bridge-prod");
        assert_eq!(config.shard_count.get(), 128);
        assert!(config.persistent_chat);
        assert_eq!(config.customer_display_name, "Customer (SMS)");
        assert_eq!(config.help_text, "Acme support. Reply STOP to opt out.");
        assert_eq!(
            config.opt_out_text.as_deref(),
            Some("You will get no more messages.")
        );
        assert_eq!(config.opt_in_text.as_deref(), Some("Welcome back."));
        assert!(!config.joined_notice);
        assert_eq!(
            config.closing_text.as_deref(),
            Some("Thanks for contacting Acme.")
        );
        assert!(!config.sms_numbering);
        assert_eq!(config.start_takeover, Duration::from_secs(45));
        assert_eq!(config.wait_for_start, Duration::from_millis(2_500));
        assert_eq!(config.chat_duration_minutes, Some(1_440));
    }

    #[test]
    fn defaults_apply_when_optional_vars_are_unset_or_blank() {
        let mut blank = required();
        for var in VARS
            .iter()
            .map(|var| var.name)
            .filter(|var| !required().contains_key(*var))
        {
            blank.insert(var, "  ".to_owned());
        }
        for vars in [required(), blank] {
            let config = load(&vars).unwrap();
            assert_eq!(config.shard_count.get(), 64);
            assert!(!config.persistent_chat);
            assert_eq!(config.customer_display_name, "SMS customer");
            assert_eq!(
                config.help_text,
                "Reply with your question and an agent will answer. Reply STOP to opt out."
            );
            assert_eq!(config.opt_out_text, None);
            assert_eq!(config.opt_in_text, None);
            assert!(config.joined_notice);
            assert_eq!(config.closing_text, None);
            assert!(config.sms_numbering);
            assert_eq!(config.start_takeover, Duration::from_secs(30));
            assert_eq!(config.wait_for_start, Duration::from_millis(10_000));
            assert_eq!(config.chat_duration_minutes, None);
        }
    }

    #[test]
    fn every_missing_required_var_is_reported_at_once() {
        let error = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            problem_vars(&error),
            [CONNECT_INSTANCE_ID, SUPPORT_LINES, TABLE_NAME]
        );
        assert!(
            error
                .problems
                .iter()
                .all(|p| matches!(p, ConfigProblem::Missing { .. }))
        );
        let text = error.to_string();
        assert_eq!(
            text,
            "invalid configuration (3 problems): BRIDGE_CONNECT_INSTANCE_ID is missing; \
             BRIDGE_SUPPORT_LINES is missing; BRIDGE_TABLE_NAME is missing"
        );
    }

    #[test]
    fn texts_are_trimmed_but_keep_inner_lines() {
        let config = load(&with(
            CLOSING_TEXT,
            "  Thanks for contacting Acme.\nBye  \n",
        ))
        .unwrap();
        assert_eq!(
            config.closing_text.as_deref(),
            Some("Thanks for contacting Acme.\nBye")
        );
    }

    #[test]
    fn blank_required_var_is_missing() {
        let problem = only_problem(&with(TABLE_NAME, " \t"));
        assert_eq!(problem, ConfigProblem::Missing { var: TABLE_NAME });
    }

    #[test]
    fn missing_and_invalid_vars_are_reported_together() {
        let mut vars = HashMap::from([
            (SUPPORT_LINES, "+18005550100".to_owned()),
            (SHARD_COUNT, "0".to_owned()),
            (PERSISTENT_CHAT, "maybe".to_owned()),
            (WAIT_FOR_START_MS, "ten".to_owned()),
        ]);
        vars.insert(CHAT_DURATION_MINUTES, "59".to_owned());
        let error = load(&vars).unwrap_err();
        assert_eq!(
            problem_vars(&error),
            [
                CONNECT_INSTANCE_ID,
                SUPPORT_LINES,
                TABLE_NAME,
                SHARD_COUNT,
                PERSISTENT_CHAT,
                WAIT_FOR_START_MS,
                CHAT_DURATION_MINUTES
            ]
        );
        let text = error.to_string();
        assert!(
            text.starts_with("invalid configuration (7 problems): "),
            "{text}"
        );
        for var in problem_vars(&error) {
            assert!(text.contains(var), "{var} not in {text}");
        }
        assert!(
            text.contains("BRIDGE_WAIT_FOR_START_MS is invalid: not a whole number: invalid digit"),
            "causes are listed: {text}"
        );
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases: [(&'static str, &str, InvalidValue); 14] = [
            (
                CONNECT_INSTANCE_ID,
                &"x".repeat(101),
                InvalidValue::Id(InvalidId {
                    kind: "instance id",
                    max: 100,
                    len: 101,
                }),
            ),
            (TABLE_NAME, "ab", InvalidValue::TableNameLength { chars: 2 }),
            (
                TABLE_NAME,
                "sms bridge",
                InvalidValue::TableNameCharacter {
                    found: ' ',
                    position: 3,
                },
            ),
            (
                SHARD_COUNT,
                "0",
                InvalidValue::OutOfRange { min: 1, max: 1_024 },
            ),
            (
                SHARD_COUNT,
                "1025",
                InvalidValue::OutOfRange { min: 1, max: 1_024 },
            ),
            (PERSISTENT_CHAT, "maybe", InvalidValue::NotABool),
            (JOINED_NOTICE, "on", InvalidValue::NotABool),
            (SMS_NUMBERING, "2", InvalidValue::NotABool),
            (
                START_TAKEOVER_SECS,
                "0",
                InvalidValue::OutOfRange { min: 1, max: 3_600 },
            ),
            (
                WAIT_FOR_START_MS,
                "300001",
                InvalidValue::OutOfRange {
                    min: 1,
                    max: 300_000,
                },
            ),
            (
                CHAT_DURATION_MINUTES,
                "10081",
                InvalidValue::OutOfRange {
                    min: 60,
                    max: 10_080,
                },
            ),
            (
                CUSTOMER_DISPLAY_NAME,
                &"n".repeat(257),
                InvalidValue::TooLong {
                    chars: 257,
                    max: 256,
                },
            ),
            (
                HELP_TEXT,
                &"h".repeat(1_601),
                InvalidValue::TooLong {
                    chars: 1_601,
                    max: 1_600,
                },
            ),
            (
                CLOSING_TEXT,
                &"c".repeat(1_601),
                InvalidValue::TooLong {
                    chars: 1_601,
                    max: 1_600,
                },
            ),
        ];
        for (var, value, reason) in cases {
            let problem = only_problem(&with(var, value));
            assert_eq!(
                problem,
                ConfigProblem::Invalid { var, reason },
                "{var}={value}"
            );
            assert!(problem.to_string().starts_with(var), "{problem}");
        }
    }

    #[test]
    fn negative_and_non_numeric_numbers_are_not_numbers() {
        for value in ["-1", "64.0", "lots", "1e3"] {
            let problem = only_problem(&with(SHARD_COUNT, value));
            assert!(
                matches!(
                    problem,
                    ConfigProblem::Invalid {
                        var: SHARD_COUNT,
                        reason: InvalidValue::NotANumber(_)
                    }
                ),
                "{value}: {problem:?}"
            );
        }
    }

    #[test]
    fn boundary_values_are_accepted() {
        let mut vars = required();
        vars.extend([
            (SHARD_COUNT, "1024".to_owned()),
            (START_TAKEOVER_SECS, "1".to_owned()),
            (WAIT_FOR_START_MS, " 300000 ".to_owned()),
            (CHAT_DURATION_MINUTES, "60".to_owned()),
        ]);
        let config = load(&vars).unwrap();
        assert_eq!(config.shard_count.get(), 1_024);
        assert_eq!(config.start_takeover, Duration::from_secs(1));
        assert_eq!(config.wait_for_start, Duration::from_millis(300_000));
        assert_eq!(config.chat_duration_minutes, Some(60));
        assert_eq!(
            load(&with(CHAT_DURATION_MINUTES, "10080"))
                .unwrap()
                .chat_duration_minutes,
            Some(10_080)
        );
    }

    #[test]
    fn idle_timers_are_off_unless_one_is_set_and_take_connects_range() {
        let config = load(&required()).unwrap();
        assert_eq!(config.idle_timers, None);
        assert_eq!(config.idle_warning_text, DEFAULT_IDLE_WARNING_TEXT);

        let warn_only = load(&with(IDLE_WARN_MINUTES, "2")).unwrap();
        assert_eq!(
            warn_only.idle_timers,
            Some(IdleTimers {
                idle: Some(2),
                disconnect: None
            })
        );
        let mut both = required();
        both.extend([
            (IDLE_WARN_MINUTES, "30".to_owned()),
            (IDLE_DISCONNECT_MINUTES, " 480 ".to_owned()),
            (IDLE_WARNING_TEXT, "Still there?".to_owned()),
        ]);
        let both = load(&both).unwrap();
        assert_eq!(
            both.idle_timers,
            Some(IdleTimers {
                idle: Some(30),
                disconnect: Some(480)
            })
        );
        assert_eq!(both.idle_warning_text, "Still there?");

        for (var, value) in [
            (IDLE_WARN_MINUTES, "1"),
            (IDLE_DISCONNECT_MINUTES, "481"),
            (IDLE_WARN_MINUTES, "ten"),
        ] {
            let problems = load(&with(var, value)).unwrap_err().problems;
            assert!(
                matches!(&problems[..], [ConfigProblem::Invalid { var: v, .. }] if *v == var),
                "{var}={value}: {problems:?}"
            );
        }
    }

    #[test]
    fn sms_goes_through_sns_unless_end_user_messaging_is_chosen() {
        assert_eq!(load(&required()).unwrap().sms_api, SmsApi::Sns);
        let mut eum = required();
        eum.extend([
            (SMS_API, " End-User-Messaging ".to_owned()),
            (SMS_CONFIGURATION_SET, "bridge".to_owned()),
            (SMS_TTL_SECS, "300".to_owned()),
        ]);
        assert_eq!(
            load(&eum).unwrap().sms_api,
            SmsApi::EndUserMessaging(EndUserMessaging {
                configuration_set: Some("bridge".to_owned()),
                origination_pool: None,
                ttl_secs: Some(300),
            })
        );
        assert_eq!(
            only_problem(&with(SMS_API, "pinpoint")),
            ConfigProblem::Invalid {
                var: SMS_API,
                reason: InvalidValue::NotAnSmsApi
            }
        );
        assert!(matches!(
            only_problem(&with(SMS_TTL_SECS, "4")),
            ConfigProblem::Invalid {
                var: SMS_TTL_SECS,
                ..
            }
        ));
    }

    #[test]
    fn booleans_accept_every_documented_spelling_in_any_case() {
        for (value, expected) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("Yes", true),
            ("false", false),
            ("False", false),
            ("0", false),
            ("no", false),
            (" NO ", false),
        ] {
            assert_eq!(
                load(&with(PERSISTENT_CHAT, value)).unwrap().persistent_chat,
                expected,
                "{value}"
            );
        }
    }

    #[test]
    fn support_lines_are_normalised_and_looked_up() {
        let config = load(&with(
            SUPPORT_LINES,
            &format!(" +1 (800) 555-0100 = {FLOW_A} ,"),
        ))
        .unwrap();
        assert_eq!(config.support_lines.len(), 1, "a trailing comma is ignored");
        let line = config.support_line(&phone("+18005550100")).unwrap();
        assert_eq!(line.contact_flow_id.as_str(), FLOW_A);
        assert!(config.support_line(&phone("+18005550199")).is_none());
    }

    #[test]
    fn support_line_problems_are_each_reported_with_their_entry() {
        let value = format!(
            "+18005550100={FLOW_A},18005550199={FLOW_B},+18005550142,+18005550143=,+1 800 555 0100={FLOW_B}"
        );
        let error = load(&with(SUPPORT_LINES, &value)).unwrap_err();
        let reasons: Vec<_> = error
            .problems
            .iter()
            .map(|problem| match problem {
                ConfigProblem::Invalid {
                    var: SUPPORT_LINES,
                    reason,
                } => reason.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                InvalidValue::SupportLinePhone {
                    entry: 2,
                    source: PhoneError::MissingPlus
                },
                InvalidValue::SupportLineSyntax { entry: 3 },
                InvalidValue::SupportLineFlow {
                    entry: 4,
                    source: InvalidId {
                        kind: "contact flow id",
                        max: 500,
                        len: 0
                    }
                },
                InvalidValue::DuplicateSupportLine { entry: 5, first: 1 },
            ]
        );
        let text = error.to_string();
        assert!(
            !text.contains("8005550199"),
            "numbers are not echoed: {text}"
        );
    }

    #[test]
    fn support_lines_with_only_commas_are_missing() {
        let problem = only_problem(&with(SUPPORT_LINES, " , ,"));
        assert_eq!(problem, ConfigProblem::Missing { var: SUPPORT_LINES });
    }

    #[test]
    fn non_unicode_value_is_reported_by_name() {
        let error = Config::load(|name| match name {
            TABLE_NAME => Lookup::NotUnicode,
            _ => required()
                .get(name)
                .cloned()
                .map_or(Lookup::Unset, Lookup::Value),
        })
        .unwrap_err();
        assert_eq!(
            error.problems,
            [ConfigProblem::NotUnicode { var: TABLE_NAME }]
        );
    }

    #[test]
    fn debug_masks_support_numbers() {
        let config = load(&required()).unwrap();
        let printed = format!("{config:?}");
        assert!(printed.contains("+1******0100"), "{printed}");
        assert!(!printed.contains("8005550100"), "{printed}");
        assert!(printed.contains("sms-bridge-prod"), "{printed}");
    }

    #[test]
    fn vars_lists_every_variable_once() {
        let mut names: Vec<&str> = VARS.iter().map(|var| var.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARS.len());
        assert!(names.iter().all(|name| name.starts_with("BRIDGE_")));
    }
}
