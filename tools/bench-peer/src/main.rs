//! The peer of `ledger bench`: the same organisation registrations appended through cqrs-es with postgres-es
//! (one aggregate per organisation, one command per append) to the same Postgres, durable (synchronous commit),
//! from 1, 16 and 64 concurrent clients. Prints one JSON line per client count.
//!
//! Usage: `ledger-bench-peer <database-url> <events per level> <clients,clients,...>`; the database must exist.
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Organisation {
    registered: bool,
}

#[derive(Debug, Deserialize)]
enum Command {
    Register { name: String, country: String, organisation_type: String, size: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Event {
    OrganisationRegistered { name: String, country: String, organisation_type: String, size: String },
}

impl DomainEvent for Event {
    fn event_type(&self) -> String {
        "organisation_registered".into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

#[derive(Debug)]
struct AlreadyRegistered;

impl std::fmt::Display for AlreadyRegistered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("organisation already registered")
    }
}

impl std::error::Error for AlreadyRegistered {}

#[async_trait]
impl Aggregate for Organisation {
    type Command = Command;
    type Event = Event;
    type Error = AlreadyRegistered;
    type Services = ();

    fn aggregate_type() -> String {
        "organisation".into()
    }

    async fn handle(&self, command: Command, _: &()) -> Result<Vec<Event>, AlreadyRegistered> {
        if self.registered {
            return Err(AlreadyRegistered);
        }
        let Command::Register { name, country, organisation_type, size } = command;
        Ok(vec![Event::OrganisationRegistered { name, country, organisation_type, size }])
    }

    fn apply(&mut self, _: Event) {
        self.registered = true;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len().max(1) as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| (d.as_secs_f64() * 1e5).round() / 100.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, events, levels] = args.as_slice() else {
        return Err("usage: ledger-bench-peer <database-url> <events per level> <clients,clients,...>".into());
    };
    let events: usize = events.parse()?;
    let levels: Vec<usize> = levels.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let max = levels.iter().copied().max().unwrap_or(1) as u32;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(max).connect(url).await?;
    // The table postgres-es expects (its db/init.sql).
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS events (
             aggregate_type text NOT NULL, aggregate_id text NOT NULL, sequence bigint CHECK (sequence >= 0) NOT NULL,
             event_type text NOT NULL, event_version text NOT NULL, payload json NOT NULL, metadata json NOT NULL,
             PRIMARY KEY (aggregate_type, aggregate_id, sequence))",
    )
    .execute(&pool)
    .await?;
    let cqrs = Arc::new(postgres_es::postgres_cqrs::<Organisation>(pool, vec![], ()));
    for clients in levels {
        let per = events / clients.max(1);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..clients {
            let cqrs = cqrs.clone();
            tasks.spawn(async move {
                let mut latencies = Vec::with_capacity(per);
                for i in 0..per {
                    let command = Command::Register {
                        name: "Benchmark organisation".into(),
                        country: "SE".into(),
                        organisation_type: "ict_company".into(),
                        size: "sme".into(),
                    };
                    let t = Instant::now();
                    cqrs.execute(&format!("c{clients}-{c}-{i}"), command).await.map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, String>(latencies)
            });
        }
        let mut latencies = Vec::new();
        while let Some(r) = tasks.join_next().await {
            latencies.extend(r??);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        println!(
            "{{\"clients\": {clients}, \"events\": {}, \"events_per_s\": {}, \"p50_ms\": {}, \"p99_ms\": {}}}",
            latencies.len(),
            (latencies.len() as f64 / elapsed.as_secs_f64()).round(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
    }
    Ok(())
}
