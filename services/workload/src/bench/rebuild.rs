//! Rebuild speed: the rebuild stream filled to each length in atomic batches of 1,000, then `ledger rebuild` run
//! as a process over it, beside a raw fetch-then-COPY of the same log.
use ledger_log::{Log, LogConfig};
use serde_json::{Value, json};

use super::processes::rebuild_process;
use super::raw::{raw_batches, raw_fetch_copy};
use super::stats::rate;
use super::synthetic::synthetic_messages;
use super::{Config, Instance};

/// Rebuilds from each log length of `lengths` (the stream grows from one to the next); prints and returns them.
pub(super) async fn at_each_length(
    config: &Config,
    nats: &async_nats::Client,
    rebuild: &Instance,
    rb_pg: &tokio_postgres::Client,
    lengths: &[usize],
) -> anyhow::Result<Value> {
    let rb_log = Log::connect(&LogConfig {
        url: config.nats_url.clone(),
        credentials: config.nats_credentials.clone(),
        stream: rebuild.stream.clone(),
        subject_prefix: rebuild.subject_prefix.clone(),
        duplicate_window: config.duplicate_window,
        group_commit: false,
        known_position: 0,
        create_missing: true,
        max_event_bytes: ledger_log::DEFAULT_MAX_EVENT_BYTES,
    })
    .await?;
    let mut written = 0u64;
    let mut rebuilds = Vec::new();
    for &n in lengths {
        let mut from = written;
        while from < n as u64 {
            let to = (from + 100_000).min(n as u64);
            raw_batches(nats, &synthetic_messages(&rebuild.subject_prefix, from, to), 1000).await?;
            from = to;
        }
        written = written.max(n as u64);
        let (fetch_n, fetch) = raw_fetch_copy(&rb_log, rb_pg, "bench_fetch_copy").await?;
        let (per, wall, peak_kb) = rebuild_process(config, rebuild)?;
        println!(
            "\nrebuild of {n} events (`ledger rebuild`, {:.1}s, peak RSS {} MB):",
            wall.as_secs_f64(),
            peak_kb / 1024
        );
        println!("  raw fetch-then-COPY of the same log: {:>9} events/s", rate(fetch_n, fetch));
        for (name, events, secs) in &per {
            println!("  {name:<18} {:>9} events/s", (*events as f64 / secs.max(1e-9)).round());
        }
        rebuilds.push(json!({
            "events": n,
            "raw_fetch_copy_events_per_s": rate(fetch_n, fetch),
            "wall_s": wall.as_secs_f64(),
            "peak_rss_mb": peak_kb / 1024,
            "projections": per.iter().map(|(name, e, s)| json!({"name": name, "events": e, "seconds": s,
                "events_per_s": (*e as f64 / s.max(1e-9)).round()})).collect::<Vec<_>>(),
        }));
    }
    Ok(json!(rebuilds))
}
