//! End-to-end lag: appends at a steady rate, each timed from its acknowledgement until the query API shows its
//! position.
use std::time::{Duration, Instant};

use ledger_proto::v1;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use serde_json::{Value, json};

use super::BenchArgs;
use super::appends::organisation;
use super::clients::Authed;
use super::stats::{ms, percentile};

/// Appends at a steady `rate` for `seconds` (open loop) while a watcher asks the query API which position is
/// visible; returns each append's lag from its acknowledgement to its visibility.
async fn lag_at(append: &Authed, query: &Authed, tag: &str, rate: u64, seconds: u64) -> anyhow::Result<Lag> {
    let stop = tokio_util::sync::CancellationToken::new();
    let mut watcher_client = LedgerQueryClient::new(query.clone());
    let watch_stop = stop.clone();
    let watcher = tokio::spawn(async move {
        let mut seen: Vec<(Instant, u64)> = Vec::new();
        let probe = v1::ReportRequest {
            filter: Some(v1::ReportFilter { coalition_id: "none".into(), ..Default::default() }),
            page: Some(v1::Page { page_size: 1, offset: 0 }),
            ..Default::default()
        };
        while !watch_stop.is_cancelled() {
            let r = watcher_client.coalition_growth(probe.clone()).await?.into_inner();
            if seen.last().is_none_or(|(_, p)| r.position > *p) {
                seen.push((Instant::now(), r.position));
            }
        }
        anyhow::Ok(seen)
    });
    let total = (rate * seconds) as usize;
    let started = Instant::now();
    let mut acks = tokio::task::JoinSet::new();
    // At most this many appends outstanding: if the ledger cannot keep up, the offered rate drops (and the
    // achieved rate says so) instead of piling up requests without bound.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_OUTSTANDING));
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = slots.clone().acquire_owned().await?;
        let mut client = LedgerAppendClient::new(append.clone());
        let id = format!("{tag}-{i}");
        acks.spawn(async move {
            let r = client.append(organisation(id)).await.map(|r| (Instant::now(), r.into_inner().revision));
            drop(permit);
            r
        });
    }
    let mut acked = Vec::with_capacity(total);
    let mut failed = 0;
    while let Some(r) = acks.join_next().await {
        match r? {
            Ok(a) => acked.push(a),
            Err(e) => {
                failed += 1;
                tracing::debug!(error = %e, "append failed during the lag measurement");
            }
        }
    }
    let achieved_rate = super::stats::rate(acked.len(), started.elapsed());
    anyhow::ensure!(failed * 100 <= total, "{failed} of {total} appends failed during the lag measurement");
    let last = acked.iter().map(|a| a.1).max().unwrap_or(0);
    // Let the watcher see the last one (or give up after 30 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut q = LedgerQueryClient::new(query.clone());
    loop {
        let probe = v1::ReportRequest {
            consistency: Some(v1::Consistency { min_position: last, max_wait_ms: 10_000 }),
            page: Some(v1::Page { page_size: 1, offset: 0 }),
            ..Default::default()
        };
        if q.coalition_growth(probe).await.is_ok() || Instant::now() > deadline {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.cancel();
    let seen = watcher.await??;
    let mut lags: Vec<Duration> = acked
        .iter()
        .filter_map(|(at, p)| seen.iter().find(|(_, q)| q >= p).map(|(t, _)| t.saturating_duration_since(*at)))
        .collect();
    lags.sort();
    Ok(Lag { lags, offered: total, achieved_rate, failed })
}

/// End-to-end lag of one steady-rate run.
struct Lag {
    lags: Vec<Duration>,
    offered: usize,
    achieved_rate: u64,
    failed: usize,
}

/// Appends outstanding at most during a lag measurement.
const MAX_OUTSTANDING: usize = 2048;

/// The lag at each steady rate of `args`: prints a line per rate and returns them.
pub(super) async fn at_each_rate(append: &Authed, query: &Authed, args: &BenchArgs) -> anyhow::Result<Value> {
    let mut lags = Vec::new();
    for &r in &args.lag_rates {
        let l = lag_at(append, query, &format!("lag{r}"), r, args.lag_seconds).await?;
        let (p50, p99) = (ms(percentile(&l.lags, 0.5)), ms(percentile(&l.lags, 0.99)));
        println!(
            "end-to-end lag, offered {r} events/s for {}s, achieved {}/s (ack -> visible in the query API): \
             p50 {p50} ms, p99 {p99} ms ({} of {} seen, {} failed)",
            args.lag_seconds,
            l.achieved_rate,
            l.lags.len(),
            l.offered,
            l.failed
        );
        lags.push(json!({"rate": r, "achieved_rate": l.achieved_rate, "events": l.offered, "seen": l.lags.len(),
            "failed": l.failed, "p50_ms": p50, "p99_ms": p99}));
    }
    Ok(json!(lags))
}
