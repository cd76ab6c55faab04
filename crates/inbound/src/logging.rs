//! The tracing subscriber of the Lambda binary.
//!
//! As `lambda_runtime_api_client::tracing` does: no timestamps and no targets (CloudWatch
//! stamps every line), no ANSI colours, level from Lambda's settings first. Unlike it, JSON
//! is the default, with the event's fields flattened next to `level` and `message` so
//! Lambda's JSON log-level filter and CloudWatch Logs Insights read them, and the current
//! span's fields (`sms_id`, masked `phone`, `contact_id`) on every line.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber, writing to stdout.
///
/// # Errors
/// When a global subscriber is already installed.
pub fn init(config: &LogConfig) -> Result<(), tracing::subscriber::SetGlobalDefaultError> {
    tracing::subscriber::set_global_default(subscriber(config, std::io::stdout))
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture the lines).
pub fn subscriber<W>(config: &LogConfig, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::builder().parse_lossy(&config.filter))
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .without_time();
    match config.format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.finish()),
    }
}
