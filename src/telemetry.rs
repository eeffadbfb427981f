//! Logging setup: `tracing` with a human format on a terminal and JSON lines for
//! deployments (`--log-format json`). `RUST_LOG` overrides the configured filter.
//!
//! Nothing here knows about secrets; secrets stay out of logs because the types that
//! hold them ([`crate::domain::Secret`]) print `[redacted]`.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Install the global subscriber. Logs go to stderr so that commands whose stdout is
/// data (`kirim sign`, `--json` output) stay pipeable. Calling twice is harmless.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Human => registry
            .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A second init (tests, nested commands) keeps the first subscriber.
    let _ = result;
}
