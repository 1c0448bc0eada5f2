//! The auditor's figures: how far the notary's signed checkpoints trail a steady append rate, and how fast
//! `ledger audit verify` checks a log, beside the machine's raw SHA-256 over the same bytes.
use std::time::{Duration, Instant};

use ledger_audit::merkle::{Tree, leaf_hash};
use ledger_audit::{Checkpoint, Signer};
use ledger_proto::v1;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_audit_client::LedgerAuditClient;
use prost::Message;
use serde_json::{Value, json};

use super::appends::organisation;
use super::clients::Authed;
use super::stats::{ms, percentile, rate};

/// Appends per `AppendMany` call of the checkpoint-lag load (one event each).
const PER_CALL: u64 = 100;
/// Calls outstanding at most: if the ledger cannot keep up, the offered rate drops and the achieved rate says so.
const MAX_CALLS: usize = 64;

/// Appends at a steady `rate` (calls of 100 registrations, open loop) for `seconds` while a watcher polls the
/// latest signed checkpoint; each event's lag is from its call's acknowledgement to the first checkpoint covering
/// it.
pub(super) async fn checkpoint_lag(
    append: &Authed,
    query: &Authed,
    target: u64,
    seconds: u64,
) -> anyhow::Result<Value> {
    let stop = tokio_util::sync::CancellationToken::new();
    let mut audit = LedgerAuditClient::new(query.clone());
    let watch_stop = stop.clone();
    let watcher = tokio::spawn(async move {
        let mut seen: Vec<(Instant, u64)> = Vec::new();
        while !watch_stop.is_cancelled() {
            if let Ok(c) = audit.latest_checkpoint(v1::LatestCheckpointRequest {}).await {
                let size = c.into_inner().size;
                if seen.last().is_none_or(|(_, s)| size > *s) {
                    seen.push((Instant::now(), size));
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen
    });
    let calls = (target * seconds).div_ceil(PER_CALL);
    let started = Instant::now();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CALLS));
    let mut acks = tokio::task::JoinSet::new();
    for c in 0..calls {
        let due = started + Duration::from_secs_f64((c * PER_CALL) as f64 / target as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = slots.clone().acquire_owned().await?;
        let mut client = LedgerAppendClient::new(append.clone());
        let appends = (0..PER_CALL).map(|i| organisation(format!("cp{target}-{c}-{i}"))).collect();
        acks.spawn(async move {
            let r = client.append_many(v1::AppendManyRequest { appends }).await;
            drop(permit);
            let at = Instant::now();
            r.map(|r| {
                r.into_inner()
                    .results
                    .into_iter()
                    .filter_map(|r| match r.result {
                        Some(v1::append_result::Result::Ok(ok)) => Some((at, ok.revision)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
        });
    }
    let mut acked = Vec::new();
    while let Some(r) = acks.join_next().await {
        acked.extend(r??);
    }
    let elapsed = started.elapsed();
    let last = acked.iter().map(|a| a.1).max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut audit = LedgerAuditClient::new(query.clone());
    while Instant::now() < deadline {
        match audit.latest_checkpoint(v1::LatestCheckpointRequest {}).await {
            Ok(c) if c.get_ref().size >= last => break,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.cancel();
    let seen = watcher.await?;
    let mut lags: Vec<Duration> = acked
        .iter()
        .filter_map(|(at, p)| seen.iter().find(|(_, s)| s >= p).map(|(t, _)| t.saturating_duration_since(*at)))
        .collect();
    lags.sort();
    let (offered, achieved) = (calls * PER_CALL, rate(acked.len(), elapsed));
    let (p50, p99, max) = (ms(percentile(&lags, 0.5)), ms(percentile(&lags, 0.99)), ms(percentile(&lags, 1.0)));
    println!(
        "notary checkpoint lag, offered {target} events/s for {seconds}s (AppendMany of {PER_CALL}), achieved \
         {achieved}/s (ack -> covered by a signed checkpoint): p50 {p50} ms, p99 {p99} ms, max {max} ms ({} of \
         {offered} covered, {} checkpoints seen)",
        lags.len(),
        seen.len()
    );
    Ok(json!({"rate": target, "achieved_rate": achieved, "events": offered, "covered": lags.len(),
        "checkpoints_seen": seen.len(), "p50_ms": p50, "p99_ms": p99, "max_ms": max}))
}

/// `ledger audit verify --from-export` over an export of `n` synthetic stored envelopes with a checkpoint every
/// 1,000 (signed by a throwaway key), beside SHA-256 alone over the same leaves in memory.
pub(super) async fn verify_rate(n: u64, dir: &std::path::Path) -> anyhow::Result<Value> {
    use std::io::Write as _;
    let bodies: Vec<bytes::Bytes> =
        super::synthetic::synthetic_messages("benchverify", 1, n + 1).into_iter().map(|(_, b)| b).collect();
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();
    let signer = Signer::from_seed("bench.invalid/verify", [42; 32]).map_err(anyhow::Error::msg)?;
    let mut tree = Tree::new();
    let mut notes = Vec::new();
    let mut events = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.iter().enumerate() {
        let h = leaf_hash(body);
        tree.push(h);
        if tree.size().is_multiple_of(1000) || i + 1 == bodies.len() {
            let c = Checkpoint { origin: signer.name().into(), size: tree.size(), root: tree.root() };
            notes.push(c.sign(&signer).map_err(anyhow::Error::msg)?);
        }
        events.push((i as u64 + 1, h));
    }
    let path = dir.join("bench-verify.export");
    {
        let header = v1::ExportHeader {
            format: ledger_verifier::export::FORMAT.into(),
            origin: signer.name().into(),
            size: tree.size(),
            checkpoints: notes,
        };
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        w.write_all(&header.encode_length_delimited_to_vec())?;
        for ((position, h), body) in events.iter().zip(&bodies) {
            let e = v1::ExportedEvent { position: *position, stored: body.to_vec(), notary_leaf_hash: h.to_vec() };
            w.write_all(&e.encode_length_delimited_to_vec())?;
        }
        w.flush()?;
    }
    let started = Instant::now();
    let mut file = ledger_verifier::export::ExportFile::open(&path)?;
    let outcome = ledger_verifier::verify(&mut file, &signer.verifier(), None, &mut |_, _| {}).await?;
    let verify_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(outcome.leaves == n, "verified {} of {n} leaves", outcome.leaves);
    let started = Instant::now();
    let mut acc = 0u8;
    for b in &bodies {
        acc ^= leaf_hash(b)[0];
    }
    let sha_s = started.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    let _ = std::fs::remove_file(&path);
    let (verify_rate, sha_rate) = (n as f64 / verify_s, n as f64 / sha_s);
    println!(
        "ledger audit verify --from-export of {n} leaves ({} MB of envelopes, {} checkpoints): {verify_s:.2}s, \
         {verify_rate:.0} leaves/s; SHA-256 alone over the same leaves in memory: {sha_rate:.0} leaves/s \
         ({:.0} MB/s); verify / SHA-256 = {:.2}",
        bytes / 1_000_000,
        outcome.checkpoints_checked,
        bytes as f64 / sha_s / 1e6,
        verify_rate / sha_rate
    );
    Ok(json!({"leaves": n, "bytes": bytes, "checkpoints": outcome.checkpoints_checked, "seconds": verify_s,
        "leaves_per_s": verify_rate.round(), "sha256_leaves_per_s": sha_rate.round(),
        "ratio": (verify_rate / sha_rate * 100.0).round() / 100.0}))
}

/// `ledger audit verify` through the query API of the benchmark's ledger (the replay of every event it holds).
pub(super) async fn verify_over_api(
    query_addr: std::net::SocketAddr,
    token: Option<&str>,
    vkey: &str,
) -> anyhow::Result<Value> {
    let verifier = ledger_audit::Verifier::parse(vkey).map_err(anyhow::Error::msg)?;
    let config = ledger_verifier::remote::RemoteConfig {
        url: format!("http://{query_addr}"),
        token: token.map(str::to_owned),
        ..Default::default()
    };
    let mut remote = ledger_verifier::remote::Remote::connect(&config).await?;
    let outcome = ledger_verifier::verify(&mut remote, &verifier, None, &mut |_, _| {}).await?;
    let s = outcome.elapsed.as_secs_f64();
    let r = outcome.leaves as f64 / s.max(1e-9);
    println!(
        "ledger audit verify through the replay API of the benchmark's ledger: {} leaves, {} checkpoints, {s:.2}s, {r:.0} leaves/s",
        outcome.leaves, outcome.checkpoints_checked
    );
    Ok(
        json!({"leaves": outcome.leaves, "checkpoints": outcome.checkpoints_checked, "seconds": s, "leaves_per_s": r.round()}),
    )
}
