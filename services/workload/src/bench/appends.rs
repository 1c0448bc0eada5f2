//! Appends through gRPC: single-event appends from several concurrent clients, and the bulk call.
use std::time::{Duration, Instant};

use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::{self, event_payload::Event as P};
use serde_json::{Value, json};
use uuid::Uuid;

use super::BenchArgs;
use super::clients::Authed;
use super::stats::{ms, percentile, rate};

/// A new organisation's registration (expecting no stream: every append is a new aggregate).
pub(super) fn organisation(id: String) -> v1::AppendRequest {
    v1::AppendRequest {
        aggregate: Some(v1::AggregateRef { r#type: v1::AggregateType::Organisation.into(), id }),
        coalition_id: String::new(),
        expected_revision: Some(v1::ExpectedRevision {
            expected: Some(v1::expected_revision::Expected::NoStream(true)),
        }),
        events: vec![v1::EventData {
            event_id: Uuid::new_v4().to_string(),
            occurred_at: Some(prost_types::Timestamp { seconds: 1_600_000_000, nanos: 0 }),
            actor: "bench".into(),
            source: v1::Source::Import.into(),
            payload: Some(v1::EventPayload {
                event: Some(P::OrganisationRegistered(v1::OrganisationRegistered {
                    name: "Benchmark organisation".into(),
                    country: "SE".into(),
                    organisation_type: v1::OrganisationType::IctCompany.into(),
                    size: v1::OrganisationSize::Sme.into(),
                })),
            }),
            ..Default::default()
        }],
    }
}

/// Appends `events` single-event appends from `clients` concurrent gRPC clients; returns (latencies, elapsed).
async fn grpc_appends(
    channel: &Authed,
    tag: &str,
    clients: usize,
    events: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let per = events / clients.max(1);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let mut client = LedgerAppendClient::new(channel.clone());
        let prefix = format!("{tag}-{c}");
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                client.append(organisation(format!("{prefix}-{i}"))).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(events);
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok((latencies, elapsed))
}

/// Single-event appends at each client count of `args`: prints a table and returns its rows.
pub(super) async fn at_each_concurrency(append: &Authed, args: &BenchArgs) -> anyhow::Result<Value> {
    println!("\nappend through gRPC, durable (one event per append, distinct aggregates):");
    println!("{:>8} {:>8} {:>12} {:>10} {:>10}", "clients", "events", "events/s", "p50 ms", "p99 ms");
    let mut grpc = Vec::new();
    for &clients in &args.concurrency {
        let (lat, elapsed) = grpc_appends(append, &format!("c{clients}"), clients, args.events).await?;
        let r = rate(lat.len(), elapsed);
        println!(
            "{clients:>8} {:>8} {r:>12} {:>10} {:>10}",
            lat.len(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
        grpc.push(json!({"clients": clients, "events": lat.len(), "events_per_s": r,
            "p50_ms": ms(percentile(&lat, 0.5)), "p99_ms": ms(percentile(&lat, 0.99))}));
    }
    Ok(json!(grpc))
}

/// `events` new organisations through the bulk call, 5,000 per call; prints and returns the events per second.
pub(super) async fn bulk(append: &Authed, events: usize) -> anyhow::Result<u64> {
    let mut client = LedgerAppendClient::new(append.clone());
    let started = Instant::now();
    let mut done = 0;
    while done < events {
        let n = (events - done).min(5000);
        let appends = (done..done + n).map(|i| organisation(format!("bulk-{i}"))).collect();
        let results = client.append_many(v1::AppendManyRequest { appends }).await?.into_inner().results;
        let failed = results.iter().filter(|r| !matches!(r.result, Some(v1::append_result::Result::Ok(_)))).count();
        anyhow::ensure!(failed == 0, "{failed} bulk appends failed");
        done += n;
    }
    let bulk = rate(done, started.elapsed());
    println!("\nbulk call (AppendMany, 5,000 appends per call): {bulk} events/s");
    Ok(bulk)
}
