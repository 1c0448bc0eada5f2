//! The raw limits of this machine, which the ledger's figures are compared with: JetStream durable publish,
//! pipelined and in atomic batches, Postgres binary COPY, and a raw fetch-then-COPY of a log.
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ledger_log::Log;
use serde_json::{Value, json};

use super::stats::rate;
use super::synthetic::synthetic_messages;

/// JetStream publish, one message per event, acknowledged (durable), with up to 4,096 in flight.
async fn raw_pipelined(js: &async_nats::jetstream::Context, msgs: &[(String, Bytes)]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for (subject, body) in msgs {
        if in_flight.len() >= 4096
            && let Some(ack) = in_flight.next().await
        {
            let _: async_nats::jetstream::publish::PublishAck = ack?;
        }
        in_flight.push(js.publish(subject.clone(), body.clone()).await?.into_future());
    }
    while let Some(ack) = in_flight.next().await {
        ack?;
    }
    Ok(started.elapsed())
}

/// JetStream atomic batch publish (nats-server >= 2.12), `size` messages per batch, one batch at a time, through
/// the log's own batch protocol (`ledger_log::publish_atomic`).
pub(super) async fn raw_batches(
    client: &async_nats::Client,
    msgs: &[(String, Bytes)],
    size: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for chunk in msgs.chunks(size) {
        let batch = chunk
            .iter()
            .map(|(subject, body)| ledger_log::BatchMessage {
                subject: subject.clone(),
                headers: async_nats::HeaderMap::new(),
                body: body.clone(),
            })
            .collect();
        ledger_log::publish_atomic(client, &ledger_log::Connection::default(), batch)
            .await
            .map_err(|e| anyhow::anyhow!("batch refused: {e:?}"))?;
    }
    Ok(started.elapsed())
}

/// Postgres `COPY ... (FORMAT binary)` of (position, subject, body) rows into a fresh (logged) table.
async fn raw_copy(pg: &tokio_postgres::Client, table: &str, rows: &[(u64, String, Bytes)]) -> anyhow::Result<Duration> {
    pg.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (position bigint, subject text, body bytea)"
    ))
    .await?;
    let started = Instant::now();
    copy_more(pg, table, rows).await?;
    Ok(started.elapsed())
}

/// Reads the whole log and COPYs it into Postgres: the floor under any rebuild.
pub(super) async fn raw_fetch_copy(
    log: &Log,
    pg: &tokio_postgres::Client,
    table: &str,
) -> anyhow::Result<(usize, Duration)> {
    let started = Instant::now();
    let end = log.end().await?;
    let mut read = Box::pin(log.read(ledger_log::ReadFrom::Position(1), None, end).await?.chunks(10_000));
    let mut n = 0;
    let mut first = true;
    while let Some(chunk) = read.next().await {
        let rows: Vec<(u64, String, Bytes)> =
            chunk.into_iter().map(|m| m.map(|m| (m.position, m.subject, m.body))).collect::<Result<_, _>>()?;
        n += rows.len();
        if first {
            raw_copy(pg, table, &rows).await?;
            first = false;
        } else {
            copy_more(pg, table, &rows).await?;
        }
    }
    Ok((n, started.elapsed()))
}

/// Appends rows to `table` with one binary COPY.
async fn copy_more(pg: &tokio_postgres::Client, table: &str, rows: &[(u64, String, Bytes)]) -> anyhow::Result<()> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::Type;
    let sink = pg.copy_in(&format!("COPY {table} FROM STDIN (FORMAT binary)")).await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT, Type::BYTEA]);
    futures::pin_mut!(writer);
    for (p, s, b) in rows {
        let p = i64::try_from(*p)?;
        writer.as_mut().write(&[&p, s, &b.as_ref()]).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Measures the raw limits on a stream of their own (`BENCHRAW_<tag>`, deleted after) with `n` synthetic events,
/// and the COPY into the rebuild database, which it migrates first; prints them and returns them with a
/// connection to that database.
pub(super) async fn limits(
    nats: &async_nats::Client,
    tag: &str,
    raw_prefix: &str,
    n: usize,
    rebuild_database_url: &str,
) -> anyhow::Result<(Value, tokio_postgres::Client)> {
    let js = async_nats::jetstream::new(nats.clone());
    let raw_stream = format!("BENCHRAW_{tag}");
    js.create_stream(async_nats::jetstream::stream::Config {
        name: raw_stream.clone(),
        subjects: vec![format!("{raw_prefix}.>")],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("creating the raw stream")?;
    // Atomic batches must be allowed on the stream: set through the JSON API (the client has no field for it).
    let mut cfg: Value = serde_json::from_slice::<Value>(
        &nats.request(format!("$JS.API.STREAM.INFO.{raw_stream}"), Bytes::new()).await?.payload,
    )?["config"]
        .clone();
    cfg["allow_atomic"] = json!(true);
    nats.request(format!("$JS.API.STREAM.UPDATE.{raw_stream}"), serde_json::to_vec(&cfg)?.into()).await?;
    let msgs = synthetic_messages(raw_prefix, 0, n as u64);
    let pipelined = raw_pipelined(&js, &msgs).await?;
    let batch100 = raw_batches(nats, &msgs, 100).await?;
    let batch1000 = raw_batches(nats, &msgs, 1000).await?;
    let rb_pg = {
        super::migrate(rebuild_database_url).await?;
        ledger_readmodel::connect(rebuild_database_url).await?
    };
    let rows: Vec<(u64, String, Bytes)> =
        msgs.iter().enumerate().map(|(i, (s, b))| (i as u64 + 1, s.clone(), b.clone())).collect();
    let copy = raw_copy(&rb_pg, "bench_copy", &rows).await?;
    let raw = json!({
        "events": n,
        "jetstream_pipelined_events_per_s": rate(n, pipelined),
        "jetstream_atomic_batch_100_events_per_s": rate(n, batch100),
        "jetstream_atomic_batch_1000_events_per_s": rate(n, batch1000),
        "postgres_copy_rows_per_s": rate(n, copy),
        "row_bytes_avg": msgs.iter().map(|(s, b)| s.len() + b.len() + 8).sum::<usize>() / n.max(1),
    });
    println!("\nraw limits ({n} events of ~{} bytes, durable):", raw["row_bytes_avg"]);
    println!("  JetStream, one message per event, pipelined: {:>9} events/s", raw["jetstream_pipelined_events_per_s"]);
    println!(
        "  JetStream, atomic batches of 100:            {:>9} events/s",
        raw["jetstream_atomic_batch_100_events_per_s"]
    );
    println!(
        "  JetStream, atomic batches of 1,000:          {:>9} events/s",
        raw["jetstream_atomic_batch_1000_events_per_s"]
    );
    println!("  Postgres COPY (binary):                      {:>9} rows/s", raw["postgres_copy_rows_per_s"]);
    let _ = js.delete_stream(&raw_stream).await;
    Ok((raw, rb_pg))
}
