//! The peer: cqrs-es with postgres-es (`tools/bench-peer`), appending the same events at the same client counts
//! to a database of its own on the same Postgres.
use anyhow::Context;
use serde_json::{Value, json};

use super::{BenchArgs, Instance};

/// Runs the peer (cqrs-es + postgres-es) on a database of its own and returns its lines as JSON.
pub(super) async fn run_peer(
    binary: &std::path::Path,
    ledger: &Instance,
    tag: &str,
    args: &BenchArgs,
) -> anyhow::Result<Value> {
    let Some((base, _)) = ledger.database_url.rsplit_once('/') else {
        anyhow::bail!("--database-url must end in /<database>");
    };
    let url = format!("{base}/ledger_benchpeer_{tag}");
    super::create_database(&url).await?;
    let levels = args.concurrency.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let out = tokio::process::Command::new(binary)
        .args([&url, &args.events.to_string(), &levels])
        .output()
        .await
        .with_context(|| format!("running the peer {}", binary.display()))?;
    anyhow::ensure!(out.status.success(), "the peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("reading the peer's results")?;
    println!(
        "
peer: cqrs-es + postgres-es on the same Postgres (one event per command, new aggregates):"
    );
    println!("{:>8} {:>8} {:>12} {:>10} {:>10}", "clients", "events", "events/s", "p50 ms", "p99 ms");
    for r in &rows {
        println!(
            "{:>8} {:>8} {:>12} {:>10} {:>10}",
            r["clients"], r["events"], r["events_per_s"], r["p50_ms"], r["p99_ms"]
        );
    }
    Ok(json!(rows))
}
