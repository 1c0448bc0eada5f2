//! Tracing set up once per process: `RUST_LOG` filters (default `info`), JSON lines with `LEDGER_LOG_FORMAT=json`.
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if std::env::var("LEDGER_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second call (tests) keeps the first subscriber.
    let _ = result;
}
