//! The inbound Lambda's own settings: how it logs.
//!
//! The bridge's configuration (support lines, table, Connect instance…) is
//! `bridge_core::config::Config`, shared with the relay and the CLI. What is read here are
//! the Lambda platform's logging variables, which only this binary honours, through the
//! same reader (`bridge_core::config::env`).

use std::fmt;

use bridge_core::config::InvalidValue;
use bridge_core::config::env::{Lookup, Reader};
use bridge_core::usage::Var;

/// Log level set by Lambda's advanced logging controls (`TRACE` … `FATAL`). Wins over
/// [`RUST_LOG`].
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// Log format set by Lambda's advanced logging controls: `JSON` or `Text`.
pub const AWS_LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
/// `tracing` filter directives, used when [`AWS_LAMBDA_LOG_LEVEL`] is unset.
pub const RUST_LOG: &str = "RUST_LOG";

/// The logging variables, with their defaults and meaning (`--help`).
pub const VARS: [Var; 3] = [
    Var::optional(
        AWS_LAMBDA_LOG_LEVEL,
        "TRACE..FATAL, set by Lambda's advanced logging controls; wins over RUST_LOG",
    ),
    Var::with_default(
        AWS_LAMBDA_LOG_FORMAT,
        "JSON",
        "JSON or Text, set by Lambda's advanced logging controls",
    ),
    Var::with_default(
        RUST_LOG,
        "info",
        "tracing filter directives, when AWS_LAMBDA_LOG_LEVEL is unset",
    ),
];

/// The crates whose logs a Lambda log level applies to in full; other crates (the AWS SDK,
/// hyper, the runtime) are capped at INFO so DEBUG does not flood CloudWatch.
const OUR_CRATES: [&str; 3] = ["bridge_inbound", "bridge_core", "bridge_aws"];

/// How log lines are written: JSON by default (CloudWatch and Lambda's level filter read
/// it), text when Lambda's log format is `Text`.
pub use bridge_core::config::LogFormat;

/// The logging settings.
#[derive(Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `tracing_subscriber::EnvFilter` directives.
    pub filter: String,
    /// Line format.
    pub format: LogFormat,
}

impl fmt::Debug for LogConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogConfig")
            .field("filter", &self.filter)
            .field("format", &self.format)
            .finish()
    }
}

impl LogConfig {
    /// Reads [`AWS_LAMBDA_LOG_LEVEL`], [`AWS_LAMBDA_LOG_FORMAT`] and [`RUST_LOG`].
    pub fn from_env() -> Self {
        Self::read(Lookup::process)
    }

    /// Builds the settings from `lookup` (variable name → value).
    ///
    /// Level: `AWS_LAMBDA_LOG_LEVEL` if set (`FATAL` counts as `ERROR`; an unknown value as
    /// `INFO`), applied to our crates with the others capped at INFO; else `RUST_LOG` as
    /// given; else INFO. Format: text only when `AWS_LAMBDA_LOG_FORMAT` says `Text`, JSON
    /// otherwise.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::read(|name| Lookup::from_option(lookup(name)))
    }

    /// Logging never stops the function: what the reader finds wrong falls back to the
    /// default, and nothing is reported.
    fn read(lookup: impl Fn(&str) -> Lookup) -> Self {
        let mut vars: Reader<_, InvalidValue> = Reader::new(lookup);
        let filter = match vars.get(AWS_LAMBDA_LOG_LEVEL) {
            Some(level) => lambda_filter(&level),
            None => vars.get(RUST_LOG).unwrap_or_else(|| "info".to_owned()),
        };
        let format = match vars.get(AWS_LAMBDA_LOG_FORMAT) {
            Some(format) if format.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
            _ => LogFormat::Json,
        };
        Self { filter, format }
    }
}

fn lambda_filter(level: &str) -> String {
    let ours = match level.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "warn" | "warning" => "warn",
        "error" | "fatal" => "error",
        _ => "info",
    };
    let others = match ours {
        "trace" | "debug" => "info",
        other => other,
    };
    let mut filter = others.to_owned();
    for krate in OUR_CRATES {
        filter.push_str(&format!(",{krate}={ours}"));
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> LogConfig {
        LogConfig::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_to_json_at_info() {
        assert_eq!(
            from(&[]),
            LogConfig {
                filter: "info".into(),
                format: LogFormat::Json
            }
        );
    }

    #[test]
    fn lambda_level_wins_over_rust_log_and_caps_other_crates() {
        let config = from(&[(AWS_LAMBDA_LOG_LEVEL, "DEBUG"), (RUST_LOG, "trace")]);
        assert_eq!(
            config.filter,
            "info,bridge_inbound=debug,bridge_core=debug,bridge_aws=debug"
        );
        assert_eq!(
            from(&[(AWS_LAMBDA_LOG_LEVEL, "FATAL")]).filter,
            "error,bridge_inbound=error,bridge_core=error,bridge_aws=error"
        );
    }

    #[test]
    fn rust_log_is_used_verbatim_when_lambda_sets_no_level() {
        let config = from(&[
            (RUST_LOG, "warn,bridge_inbound=trace"),
            (AWS_LAMBDA_LOG_LEVEL, " "),
        ]);
        assert_eq!(config.filter, "warn,bridge_inbound=trace");
    }

    #[test]
    fn text_format_only_when_asked() {
        assert_eq!(
            from(&[(AWS_LAMBDA_LOG_FORMAT, "Text")]).format,
            LogFormat::Text
        );
        assert_eq!(
            from(&[(AWS_LAMBDA_LOG_FORMAT, "JSON")]).format,
            LogFormat::Json
        );
    }
}
