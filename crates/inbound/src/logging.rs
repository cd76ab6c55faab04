//! The tracing subscriber of the Lambda binary.
//!
//! As `lambda_runtime_api_client::tracing` does: no timestamps and no targets (CloudWatch
//! stamps every line), no ANSI colours, level from Lambda's settings first. Unlike it, JSON
//! is the default, with the event's fields flattened next to `level` and `message` so
//! Lambda's JSON log-level filter and CloudWatch Logs Insights read them, and the current
//! span's fields (`sms_id`, masked `phone`, `contact_id`) on every line.

use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, Layer, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber, writing to stdout.
///
/// # Errors
/// When a global subscriber is already installed.
pub fn init(config: &LogConfig) -> Result<(), tracing::subscriber::SetGlobalDefaultError> {
    tracing::subscriber::set_global_default(subscriber(config, std::io::stdout))
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture the lines).
///
/// The filter is a [`Targets`] when the directives are plain `target=level` ones (always,
/// from `AWS_LAMBDA_LOG_LEVEL`): an [`EnvFilter`] compiles its directive regexes on first
/// use, a tenth of a millisecond of the Lambda's init (`make bench-inbound`). Anything else
/// (span and field filters, in `RUST_LOG`) gets an `EnvFilter`: `Targets` would read
/// `[span]` as a target name and match nothing.
pub fn subscriber<W>(config: &LogConfig, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let plain = config
        .filter
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '=' | ','));
    match config.filter.parse::<Targets>() {
        Ok(targets) if plain => formatted(config.format, writer, targets),
        _ => formatted(
            config.format,
            writer,
            EnvFilter::builder().parse_lossy(&config.filter),
        ),
    }
}

fn formatted<W, F>(format: LogFormat, writer: W, filter: F) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
    F: Filter<Registry> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .without_time();
    match format {
        LogFormat::Json => Box::new(
            Registry::default().with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(filter),
            ),
        ),
        LogFormat::Text => Box::new(Registry::default().with(layer.with_filter(filter))),
    }
}
