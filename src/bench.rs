//! `ledger bench`: append throughput and latency through the gRPC API at several client concurrencies, then a
//! rebuild of the read models, against the configured NATS and Postgres server. It uses a stream, subject prefix
//! and database of its own (`BENCH_<time>`, `ledger_bench_<time>`), deleted at the end, so it never touches the
//! real log or read models.
use std::time::{Duration, Instant};

use anyhow::Context;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::{self, event_payload::Event as P};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Settings;
use crate::startup::{Application, Roles};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Events appended at each concurrency level.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Concurrent gRPC clients, comma-separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn organisation(id: String) -> v1::AppendRequest {
    v1::AppendRequest {
        aggregate: Some(v1::AggregateRef { r#type: v1::AggregateType::Organisation.into(), id }),
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

pub async fn run(mut settings: Settings, args: BenchArgs) -> anyhow::Result<()> {
    let tag = format!("{}", time::OffsetDateTime::now_utc().unix_timestamp());
    settings.stream = format!("BENCH_{tag}");
    settings.subject_prefix = format!("bench{tag}");
    settings.append_addr = "127.0.0.1:0".parse()?;
    settings.query_addr = "127.0.0.1:0".parse()?;
    settings.metrics_addr = None;
    settings.dashboard_addr = None;
    let mut db: tokio_postgres::Config = settings.database_url.parse().context("parsing the database URL")?;
    let db_name = format!("ledger_bench_{tag}");
    settings.database_url = match settings.database_url.rsplit_once('/') {
        Some((base, _)) if db.get_dbname().is_some() => format!("{base}/{db_name}"),
        _ => anyhow::bail!("--database-url must be a URL ending in /<database> for the benchmark"),
    };
    db.dbname("postgres");
    let app = Application::build(settings.clone(), Roles::ALL).await?;
    let append_addr = app.append_addr().context("append address")?;
    let stop = CancellationToken::new();
    let handle = tokio::spawn(app.run(stop.clone()));
    let channel = tonic::transport::Channel::from_shared(format!("http://{append_addr}"))?.connect().await?;

    println!("append through gRPC, durable (one event per append, distinct aggregates):");
    println!("{:>8} {:>8} {:>12} {:>10} {:>10}", "clients", "events", "events/s", "p50 ms", "p99 ms");
    let mut total = 0usize;
    for &clients in &args.concurrency {
        let per = args.events / clients.max(1);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..clients {
            let mut client = LedgerAppendClient::new(channel.clone());
            let prefix = format!("c{clients}-{c}");
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
        let mut latencies = Vec::new();
        while let Some(r) = tasks.join_next().await {
            latencies.extend(r??);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        total += latencies.len();
        println!(
            "{clients:>8} {:>8} {:>12.0} {:>10.2} {:>10.2}",
            latencies.len(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        );
    }

    // Let the live projector catch up, then rebuild from the log.
    let log = ledger_log::Log::connect(&settings.log_config()).await?;
    let end = log.end().await?;
    let mut client = ledger_projector::connect(&settings.database_url).await?;
    let wait = Instant::now();
    while ledger_projector::status(&client).await?.iter().any(|p| p.position < end) {
        anyhow::ensure!(wait.elapsed() < Duration::from_secs(600), "projector did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let live_catch_up = wait.elapsed();
    println!("\nevery projector caught up {live_catch_up:.2?} after the last append; rebuilds from the log:");
    for r in ledger_projector::rebuild_all(&log, &mut client).await? {
        println!(
            "  {:<17} {} events in {:.2?} = {:.0} events/s (identical to live: {})",
            r.projection,
            r.events,
            r.elapsed,
            r.events as f64 / r.elapsed.as_secs_f64(),
            r.differing_rows == Some(0)
        );
    }
    println!("({total} events appended to stream {})", settings.stream);
    stop.cancel();
    handle.await??;
    drop(client);
    log.jetstream().delete_stream(&settings.stream).await.context("deleting the benchmark stream")?;
    let (admin, conn) = db.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).await?;
    drop(admin);
    let _ = driver.await;
    Ok(())
}
