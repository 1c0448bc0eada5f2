//! `ledger bench`: one run that measures the raw limits of this machine (JetStream durable publish, pipelined and
//! in atomic batches; Postgres COPY; a raw fetch-then-COPY of the log), then the ledger itself, durable, as
//! separate processes (append API, projector, query API): gRPC appends at several client counts, the bulk call,
//! rebuilds of 100k and 1M events, end-to-end lag at steady rates, dashboard query latency, and each process's
//! peak memory. It prints a table with the ratios to the raw limits and writes it as JSON.
//!
//! Everything runs on streams and databases of its own (`BENCH*_<time>`, `ledger_bench*_<time>`), deleted at the
//! end: it never touches the real log or read models. The benchmark writes synthetic events straight into its
//! own raw and rebuild streams (that is what a raw limit is); the ledger's stream is written only through the API.
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ledger_domain::event::{
    ActivityKind, ActivityReported, CoalitionEstablished, CoalitionKind, MembershipApproved, MembershipLeft,
    OrganisationRegistered, OrganisationSize, OrganisationType, Pillar,
};
use ledger_domain::{Aggregate, AggregateType, CountryCode, Event, EventKind, EventMeta, Source, Token};
use ledger_log::{Log, LogConfig};
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use ledger_proto::v1::{self, event_payload::Event as P};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::date;
use tonic::transport::Channel;

/// The channel every benchmark client uses: a gRPC channel that sends the benchmark's bearer token with every
/// call, since the ledger's processes run with authentication on, as in production.
#[derive(Clone)]
struct Authed {
    inner: Channel,
    /// `None` when the benchmark runs the ledger with `--insecure-no-auth` (to compare).
    header: Option<http::HeaderValue>,
}

impl tower::Service<http::Request<tonic::body::Body>> for Authed {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as tower::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(h) = &self.header {
            req.headers_mut().insert(http::header::AUTHORIZATION, h.clone());
        }
        tower::Service::call(&mut self.inner, req)
    }
}

use uuid::Uuid;

use crate::config::Settings;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Events appended through gRPC at each client count.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Concurrent gRPC clients, comma-separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Events appended through the bulk call (`AppendMany`, 5,000 per call).
    #[arg(long, default_value_t = 50_000)]
    pub bulk_events: usize,
    /// Log lengths to rebuild from, comma-separated (each is written to the rebuild stream first).
    #[arg(long, default_value = "100000,1000000", value_delimiter = ',')]
    pub rebuild_events: Vec<usize>,
    /// Steady append rates (events/s) at which end-to-end lag is measured.
    #[arg(long, default_value = "1000,10000", value_delimiter = ',')]
    pub lag_rates: Vec<u64>,
    /// Seconds of steady load per lag rate.
    #[arg(long, default_value_t = 5)]
    pub lag_seconds: u64,
    /// Demo-history requests loaded before the query measurements (0: all of it).
    #[arg(long, default_value_t = 0)]
    pub history: usize,
    /// Times each dashboard query is run.
    #[arg(long, default_value_t = 200)]
    pub query_repeats: usize,
    /// The peer's binary (`tools/bench-peer`, cqrs-es with postgres-es): if given, it appends the same events to a
    /// database of its own on the same Postgres, at the same client counts.
    #[arg(long)]
    pub peer: Option<std::path::PathBuf>,
    /// A short run of every measurement (for CI): small counts, same code paths.
    #[arg(long)]
    pub smoke: bool,
    /// Where the results are written as JSON.
    #[arg(long, default_value = "target/bench/bench.json")]
    pub json: std::path::PathBuf,
}

impl BenchArgs {
    fn smoke(mut self) -> Self {
        self.events = 200;
        self.concurrency = vec![1, 8];
        self.bulk_events = 1000;
        self.rebuild_events = vec![2000, 5000];
        self.lag_rates = vec![200];
        self.lag_seconds = 1;
        self.history = 300;
        self.query_repeats = 5;
        self
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn rate(n: usize, d: Duration) -> u64 {
    (n as f64 / d.as_secs_f64().max(1e-9)).round() as u64
}

// ---- synthetic events for the raw and rebuild streams ----------------------------------------------------------

const COALITIONS: u64 = 26;

fn token(s: String) -> Token {
    Token::parse("bench", &s).unwrap_or_else(|_| unreachable!("benchmark ids are valid tokens"))
}

/// The `i`-th synthetic event: 26 coalitions first, then per organisation its registration, a membership, an
/// activity and, for every second one, a leave.
fn synthetic(i: u64) -> (Aggregate, Event) {
    let on = date!(2024 - 01 - 15);
    let (aggregate, kind) = if i < COALITIONS {
        let id = token(format!("c{i}"));
        let kind = EventKind::CoalitionEstablished(CoalitionEstablished {
            name: format!("Coalition {i}"),
            kind: if i == 0 { CoalitionKind::Eu } else { CoalitionKind::National },
            country: (i > 0).then(|| CountryCode::parse("bench", "SE").unwrap_or_else(|_| unreachable!())),
            launched_on: date!(2016 - 01 - 01),
            open_pledging: true,
        });
        (Aggregate::coalition(&id), kind)
    } else {
        let n = (i - COALITIONS) / 4;
        let org = token(format!("o{n}"));
        let coalition = token(format!("c{}", n % COALITIONS));
        match (i - COALITIONS) % 4 {
            0 => (
                Aggregate::organisation(&org),
                EventKind::OrganisationRegistered(OrganisationRegistered {
                    name: format!("Organisation {n}"),
                    country: CountryCode::parse("bench", "SE").unwrap_or_else(|_| unreachable!()),
                    organisation_type: OrganisationType::IctCompany,
                    size: OrganisationSize::Sme,
                }),
            ),
            1 => (
                Aggregate::membership(&coalition, &org),
                EventKind::MembershipApproved(MembershipApproved {
                    coalition_id: coalition.clone(),
                    organisation_id: org.clone(),
                    joined_on: on,
                }),
            ),
            2 => (
                Aggregate::parse(AggregateType::Activity, &format!("a{n}")).unwrap_or_else(|_| unreachable!()),
                EventKind::ActivityReported(ActivityReported {
                    organisation_id: org,
                    coalition_id: coalition,
                    kind: ActivityKind::Event,
                    pillar: Pillar::All,
                    held_on: on,
                    participants: 40,
                    women: 20,
                    per_country: Vec::new(),
                }),
            ),
            _ => (
                Aggregate::membership(&coalition, &org),
                if n.is_multiple_of(2) {
                    EventKind::MembershipLeft(MembershipLeft {
                        coalition_id: coalition,
                        organisation_id: org,
                        left_on: on,
                        reason: "benchmark".into(),
                    })
                } else {
                    EventKind::OrganisationRenamed(ledger_domain::event::OrganisationRenamed {
                        name: format!("Organisation {n} renamed"),
                    })
                },
            ),
        }
    };
    // A rename belongs to the organisation.
    let aggregate = match &kind {
        EventKind::OrganisationRenamed(_) => Aggregate::organisation(&token(format!("o{}", (i - COALITIONS) / 4))),
        _ => aggregate,
    };
    let now = OffsetDateTime::now_utc();
    let meta = EventMeta {
        event_id: Uuid::new_v4(),
        occurred_at: now,
        recorded_at: now,
        actor: "bench".into(),
        principal: "bench".into(),
        source: Source::Import,
        correlation_id: Uuid::new_v4(),
        causation_id: None,
    };
    (aggregate, Event { meta, kind })
}

/// (subject, body) of synthetic events `from..to` under `prefix`.
fn synthetic_messages(prefix: &str, from: u64, to: u64) -> Vec<(String, Bytes)> {
    (from..to)
        .map(|i| {
            let (aggregate, event) = synthetic(i);
            let body = Bytes::from(ledger_proto::stored::encode(&aggregate, &event));
            (format!("{prefix}.{}", aggregate.subject_suffix()), body)
        })
        .collect()
}

// ---- raw limits --------------------------------------------------------------------------------------------------

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
async fn raw_batches(client: &async_nats::Client, msgs: &[(String, Bytes)], size: usize) -> anyhow::Result<Duration> {
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
        ledger_log::publish_atomic(client, batch).await.map_err(|e| anyhow::anyhow!("batch refused: {e:?}"))?;
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
async fn raw_fetch_copy(log: &Log, pg: &tokio_postgres::Client, table: &str) -> anyhow::Result<(usize, Duration)> {
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

// ---- the ledger as processes -------------------------------------------------------------------------------------

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Kilobytes of a process's `VmHWM` (peak resident) or `VmRSS` (now).
fn memory_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(&format!("{field}:")))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Processes {
    children: Vec<(&'static str, Child)>,
}

impl Processes {
    fn pid(&self, role: &str) -> u32 {
        self.children.iter().find(|(r, _)| *r == role).map_or(0, |(_, c)| c.id())
    }

    fn stop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        }
        for (role, c) in &mut self.children {
            match c.wait() {
                Ok(s) if s.success() => {}
                other => tracing::warn!(role, ?other, "benchmark process ended badly"),
            }
        }
        self.children.clear();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Makes the benchmark's key pair and a platform admin's token; returns the token and the time one verification
/// of it takes in process (what authentication adds to each call's CPU).
fn bench_auth(dir: &std::path::Path, auth: &crate::config::AuthSettings) -> anyhow::Result<(String, f64)> {
    let g = ledger_auth::keys::generate(dir, "bench")?;
    let key = ledger_auth::keys::SigningKey::read(&g.private_key)?;
    let grants = vec![ledger_auth::token::GrantClaim { role: "platform-admin".into(), coalitions: vec![] }];
    let token = ledger_auth::token::mint(
        &key,
        &auth.auth_issuer,
        &auth.auth_audience,
        "bench",
        grants,
        Duration::from_secs(24 * 3600),
    )
    .map_err(anyhow::Error::msg)?;
    let authenticator = ledger_auth::Authenticator::new(&ledger_auth::AuthConfig {
        public_keys: Some(g.public_keys),
        clients: None,
        issuer: auth.auth_issuer.clone(),
        audience: auth.auth_audience.clone(),
    })
    .map_err(anyhow::Error::msg)?;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    let n = 2000;
    let started = Instant::now();
    for _ in 0..n {
        authenticator.authenticate(&headers, None).map_err(|e| anyhow::anyhow!("the benchmark's token: {e}"))?;
    }
    Ok((token, started.elapsed().as_secs_f64() * 1e6 / f64::from(n)))
}

fn ledger_command(settings: &Settings, role: &str) -> anyhow::Result<Command> {
    let mut cmd = Command::new(std::env::current_exe().context("finding the ledger binary")?);
    cmd.arg(role)
        .env("LEDGER_NATS_URL", &settings.nats_url)
        .env("LEDGER_DATABASE_URL", &settings.database_url)
        .env("LEDGER_STREAM", &settings.stream)
        .env("LEDGER_SUBJECT_PREFIX", &settings.subject_prefix)
        .env("LEDGER_APPEND_ADDR", settings.append_addr.to_string())
        .env("LEDGER_QUERY_ADDR", settings.query_addr.to_string())
        .env("LEDGER_NO_DASHBOARD", "true")
        .env_remove("LEDGER_METRICS_ADDR")
        .env_remove("LEDGER_INSECURE_NO_AUTH")
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null());
    Ok(cmd)
}

async fn connect(addr: std::net::SocketAddr, token: Option<&str>) -> anyhow::Result<Authed> {
    let header = token.map(|t| format!("Bearer {t}").parse()).transpose().context("the token is not a header value")?;
    Ok(Authed { inner: connect_plain(addr).await?, header })
}

async fn connect_plain(addr: std::net::SocketAddr) -> anyhow::Result<Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Channel::from_shared(format!("http://{addr}"))?.connect().await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(e).context("the ledger did not start"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn organisation(id: String) -> v1::AppendRequest {
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
    let achieved_rate = self::rate(acked.len(), started.elapsed());
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

async fn time_queries(query: &Authed, repeats: usize) -> anyhow::Result<BTreeMap<&'static str, (f64, f64)>> {
    let mut q = LedgerQueryClient::new(query.clone());
    let page = |n| v1::ReportRequest { page: Some(v1::Page { page_size: n, offset: 0 }), ..Default::default() };
    let mut out = BTreeMap::new();
    macro_rules! measure {
        ($name:literal, $call:ident, $req:expr) => {{
            let mut t = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                let started = Instant::now();
                q.$call($req).await?;
                t.push(started.elapsed());
            }
            t.sort();
            out.insert($name, (ms(percentile(&t, 0.5)), ms(percentile(&t, 0.99))));
        }};
    }
    measure!("CurrentMembers", current_members, page(1000));
    measure!("CoalitionGrowth", coalition_growth, page(1000));
    measure!("MembersByType", members_by_type, page(1000));
    measure!("NationalCoalitions", national_coalitions, page(1000));
    measure!("PledgePipeline", pledge_pipeline, page(1000));
    measure!("PledgeScoreboard", pledge_scoreboard, page(100));
    measure!("OrganisationScoreboard", organisation_scoreboard, page(100));
    measure!("Outcomes", outcomes, page(100));
    measure!("Participation", participation, page(100));
    measure!("ContentShared", content_shared, page(100));
    measure!("DormantMembers", dormant_members, page(100));
    measure!("DigitalDecadeTargets", digital_decade_targets, page(100));
    measure!("ProjectionStatus", projection_status, v1::ProjectionStatusRequest {});
    Ok(out)
}

/// Per projection (name, events, seconds), the wall time and the peak RSS in kB.
type RebuildRun = (Vec<(String, u64, f64)>, Duration, u64);

/// Runs `ledger rebuild` as a process on the rebuild stream, sampling its memory; returns (per projection
/// (name, events, seconds), wall time, peak RSS kB).
fn rebuild_process(settings: &Settings) -> anyhow::Result<RebuildRun> {
    let started = Instant::now();
    let mut child = ledger_command(settings, "rebuild")?.stdout(Stdio::piped()).spawn()?;
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait()?.is_none() {
        peak = peak.max(memory_kb(pid, "VmRSS"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "ledger rebuild failed: {}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    // "rebuilt <name> from <n> events in <s>s (...)"
    let per = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("rebuilt ")?;
            let mut w = rest.split_whitespace();
            let name = w.next()?.to_owned();
            let n = w.nth(1)?.parse().ok()?;
            let secs = w.nth(2)?.trim_end_matches('s').parse().ok()?;
            Some((name, n, secs))
        })
        .collect();
    Ok((per, started.elapsed(), peak))
}

// ---- the run -----------------------------------------------------------------------------------------------------

pub async fn run(base: Settings, args: BenchArgs) -> anyhow::Result<()> {
    let args = if args.smoke { args.smoke() } else { args };
    let tag = OffsetDateTime::now_utc().unix_timestamp().to_string();
    let mut admin_cfg: tokio_postgres::Config = base.database_url.parse().context("parsing the database URL")?;
    let Some((db_base, _)) = base.database_url.rsplit_once('/').filter(|_| admin_cfg.get_dbname().is_some()) else {
        anyhow::bail!("--database-url must be a URL ending in /<database> for the benchmark");
    };
    admin_cfg.dbname("postgres");
    let with_db = |name: &str| {
        let mut s = base.clone();
        s.database_url = format!("{db_base}/{name}");
        s
    };
    let mut ledger = with_db(&format!("ledger_bench_{tag}"));
    ledger.stream = format!("BENCH_{tag}");
    ledger.subject_prefix = format!("bench{tag}");
    ledger.append_addr = format!("127.0.0.1:{}", free_port()?).parse()?;
    ledger.query_addr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let mut rebuild = with_db(&format!("ledger_benchrb_{tag}"));
    rebuild.stream = format!("BENCHRB_{tag}");
    rebuild.subject_prefix = format!("benchrb{tag}");
    let raw_prefix = format!("benchraw{tag}");

    let result = measure(&ledger, &rebuild, &raw_prefix, &tag, &args).await;

    // Clean up whatever happened.
    if let Ok(nats) = async_nats::connect(base.nats_url.as_str()).await {
        let js = async_nats::jetstream::new(nats);
        for s in [&ledger.stream, &rebuild.stream, &format!("BENCHRAW_{tag}")] {
            let _ = js.delete_stream(s).await;
        }
    }
    if let Ok((admin, conn)) = admin_cfg.connect(tokio_postgres::NoTls).await {
        let driver = tokio::spawn(conn);
        for db in [format!("ledger_bench_{tag}"), format!("ledger_benchrb_{tag}"), format!("ledger_benchpeer_{tag}")] {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
        }
        drop(admin);
        let _ = driver.await;
    }
    let report = result?;
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", args.json.display()))?;
    println!("\nresults written to {}", args.json.display());
    Ok(())
}

async fn measure(
    ledger: &Settings,
    rebuild: &Settings,
    raw_prefix: &str,
    tag: &str,
    args: &BenchArgs,
) -> anyhow::Result<Value> {
    let nats = async_nats::connect(ledger.nats_url.as_str()).await.context("connecting to NATS")?;
    let js = async_nats::jetstream::new(nats.clone());
    let mut report = json!({
        "tag": tag,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "smoke": args.smoke,
        "nats_server": nats.server_info().version,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    });
    println!(
        "nats-server {} (durable: sync_interval must be `always`), {} CPUs",
        report["nats_server"], report["cpus"]
    );

    // 1. Raw limits.
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
    let n_raw = args.rebuild_events.first().copied().unwrap_or(10_000).min(100_000);
    let msgs = synthetic_messages(raw_prefix, 0, n_raw as u64);
    let pipelined = raw_pipelined(&js, &msgs).await?;
    let batch100 = raw_batches(&nats, &msgs, 100).await?;
    let batch1000 = raw_batches(&nats, &msgs, 1000).await?;
    let rb_pg = {
        crate::startup::migrate(&rebuild.database_url).await?;
        ledger_readmodel::connect(&rebuild.database_url).await?
    };
    let rows: Vec<(u64, String, Bytes)> =
        msgs.iter().enumerate().map(|(i, (s, b))| (i as u64 + 1, s.clone(), b.clone())).collect();
    let copy = raw_copy(&rb_pg, "bench_copy", &rows).await?;
    let raw = json!({
        "events": n_raw,
        "jetstream_pipelined_events_per_s": rate(n_raw, pipelined),
        "jetstream_atomic_batch_100_events_per_s": rate(n_raw, batch100),
        "jetstream_atomic_batch_1000_events_per_s": rate(n_raw, batch1000),
        "postgres_copy_rows_per_s": rate(n_raw, copy),
        "row_bytes_avg": msgs.iter().map(|(s, b)| s.len() + b.len() + 8).sum::<usize>() / n_raw.max(1),
    });
    println!("\nraw limits ({n_raw} events of ~{} bytes, durable):", raw["row_bytes_avg"]);
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
    report["raw"] = raw;
    let _ = js.delete_stream(&raw_stream).await;

    // 2. Rebuilds: the rebuild stream filled to each length in atomic batches of 1,000, then `ledger rebuild`.
    let rb_log = Log::connect(&LogConfig { group_commit: false, ..rebuild.log_config() }).await?;
    let mut written = 0u64;
    let mut rebuilds = Vec::new();
    for &n in &args.rebuild_events {
        let mut from = written;
        while from < n as u64 {
            let to = (from + 100_000).min(n as u64);
            raw_batches(&nats, &synthetic_messages(&rebuild.subject_prefix, from, to), 1000).await?;
            from = to;
        }
        written = written.max(n as u64);
        let (fetch_n, fetch) = raw_fetch_copy(&rb_log, &rb_pg, "bench_fetch_copy").await?;
        let (per, wall, peak_kb) = rebuild_process(rebuild)?;
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
    report["rebuilds"] = json!(rebuilds);
    drop(rb_pg);

    // 3. The ledger itself: three processes on a stream and database of their own, with authentication on (a
    // key pair of the benchmark's own; every call carries a platform admin's token), or, with
    // `ledger --insecure-no-auth bench`, off, to compare.
    crate::startup::migrate(&ledger.database_url).await?;
    // A directory no one else can have made (the private key is written into it owner-only).
    let keys_dir = std::env::temp_dir().join(format!("ledger-bench-keys-{tag}-{}", Uuid::new_v4().simple()));
    let (token, verify_us) = bench_auth(&keys_dir, &ledger.auth)?;
    let open = ledger.auth.insecure_no_auth;
    println!(
        "\nauthentication {}; token verification (Ed25519 JWT, in process): {verify_us:.1} µs per call",
        if open { "OFF (--insecure-no-auth)" } else { "on, every call carries a token" }
    );
    report["authentication"] = json!(!open);
    report["token_verification_us"] = json!(verify_us);
    let mut procs = Processes { children: Vec::new() };
    for role in ["append-api", "projector", "query-api"] {
        let mut cmd = ledger_command(ledger, role)?;
        if open {
            cmd.env("LEDGER_INSECURE_NO_AUTH", "true");
        } else {
            cmd.env("LEDGER_AUTH_PUBLIC_KEYS", keys_dir.join("public-keys.json"));
        }
        procs.children.push((role, cmd.spawn().with_context(|| format!("starting {role}"))?));
    }
    let token = (!open).then_some(token.as_str());
    let append = connect(ledger.append_addr, token).await?;
    let query = connect(ledger.query_addr, token).await?;
    let mut projector_rss = Vec::new();
    let mut sample = |what: &str, procs: &Processes| {
        projector_rss.push(json!({"after": what, "rss_mb": memory_kb(procs.pid("projector"), "VmRSS") / 1024}));
    };
    sample("start", &procs);

    println!("\nappend through gRPC, durable (one event per append, distinct aggregates):");
    println!("{:>8} {:>8} {:>12} {:>10} {:>10}", "clients", "events", "events/s", "p50 ms", "p99 ms");
    let mut grpc = Vec::new();
    for &clients in &args.concurrency {
        let (lat, elapsed) = grpc_appends(&append, &format!("c{clients}"), clients, args.events).await?;
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
    report["grpc_append"] = json!(grpc);
    sample("grpc appends", &procs);
    if let Some(peer) = &args.peer {
        report["peer"] = run_peer(peer, ledger, tag, args).await?;
    }

    let mut client = LedgerAppendClient::new(append.clone());
    let started = Instant::now();
    let mut done = 0;
    while done < args.bulk_events {
        let n = (args.bulk_events - done).min(5000);
        let appends = (done..done + n).map(|i| organisation(format!("bulk-{i}"))).collect();
        let results = client.append_many(v1::AppendManyRequest { appends }).await?.into_inner().results;
        let failed = results.iter().filter(|r| !matches!(r.result, Some(v1::append_result::Result::Ok(_)))).count();
        anyhow::ensure!(failed == 0, "{failed} bulk appends failed");
        done += n;
    }
    let bulk = rate(done, started.elapsed());
    println!("\nbulk call (AppendMany, 5,000 appends per call): {bulk} events/s");
    report["bulk_append_events_per_s"] = json!(bulk);
    sample("bulk", &procs);

    let mut lags = Vec::new();
    for &r in &args.lag_rates {
        let l = lag_at(&append, &query, &format!("lag{r}"), r, args.lag_seconds).await?;
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
    report["e2e_lag"] = json!(lags);
    sample("lag", &procs);

    // The demo history through the API, then the dashboard's queries over it.
    let history = crate::generator::generate(2013);
    let take = if args.history == 0 { history.len() } else { args.history.min(history.len()) };
    let started = Instant::now();
    let mut last = 0;
    for item in history.into_iter().take(take) {
        last = client.append(item.request).await?.into_inner().revision.max(last);
    }
    println!("\ndemo history: {take} requests appended in {:.1}s", started.elapsed().as_secs_f64());
    let mut q = LedgerQueryClient::new(query.clone());
    q.projection_status(v1::ProjectionStatusRequest {}).await?;
    let wait = v1::ReportRequest {
        consistency: Some(v1::Consistency { min_position: last, max_wait_ms: 10_000 }),
        ..Default::default()
    };
    for _ in 0..30 {
        if q.outcomes(wait.clone()).await.is_ok() && q.dormant_members(wait.clone()).await.is_ok() {
            break;
        }
    }
    let queries = time_queries(&query, args.query_repeats).await?;
    println!("dashboard queries over it ({} times each):", args.query_repeats);
    for (name, (p50, p99)) in &queries {
        println!("  {name:<24} p50 {p50:>7} ms  p99 {p99:>7} ms");
    }
    report["queries"] = json!(
        queries
            .iter()
            .map(|(k, (a, b))| (k.to_string(), json!({"p50_ms": a, "p99_ms": b})))
            .collect::<serde_json::Map<_, _>>()
    );
    sample("history", &procs);

    let peaks: Vec<(&str, u64)> = procs.children.iter().map(|(r, c)| (*r, memory_kb(c.id(), "VmHWM") / 1024)).collect();
    println!("\npeak RSS: {}", peaks.iter().map(|(r, m)| format!("{r} {m} MB")).collect::<Vec<_>>().join(", "));
    report["peak_rss_mb"] =
        json!(peaks.iter().map(|(r, m)| (r.to_string(), json!(m))).collect::<serde_json::Map<_, _>>());
    report["projector_rss"] = json!(projector_rss);
    procs.stop();
    let _ = std::fs::remove_dir_all(&keys_dir);

    summarise(&mut report);
    Ok(report)
}

/// Runs the peer (cqrs-es + postgres-es) on a database of its own and returns its lines as JSON.
async fn run_peer(binary: &std::path::Path, ledger: &Settings, tag: &str, args: &BenchArgs) -> anyhow::Result<Value> {
    let Some((base, _)) = ledger.database_url.rsplit_once('/') else {
        anyhow::bail!("--database-url must end in /<database>");
    };
    let url = format!("{base}/ledger_benchpeer_{tag}");
    ledger_readmodel::create_database(&url).await?;
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

/// The ratios the targets are stated in, printed and added to the report.
fn summarise(report: &mut Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let ratio = |a: f64, b: f64| if b > 0.0 { (a / b * 100.0).round() / 100.0 } else { 0.0 };
    let at64 = report["grpc_append"]
        .as_array()
        .and_then(|a| a.iter().max_by_key(|x| x["clients"].as_u64()))
        .map_or(0.0, |x| f(&x["events_per_s"]));
    let batch = f(&report["raw"]["jetstream_atomic_batch_1000_events_per_s"]);
    let one = f(&report["raw"]["jetstream_pipelined_events_per_s"]);
    let rebuilds = report["rebuilds"].as_array().cloned().unwrap_or_default();
    let growth = |r: &Value| {
        r["projections"]
            .as_array()
            .and_then(|p| p.iter().find(|x| x["name"] == "coalition_growth"))
            .map_or(0.0, |x| f(&x["events_per_s"]))
    };
    let mut ratios = json!({
        "append_most_clients_vs_atomic_batch_limit": ratio(at64, batch),
        "append_most_clients_vs_one_message_per_event": ratio(at64, one),
        "bulk_vs_atomic_batch_limit": ratio(f(&report["bulk_append_events_per_s"]), batch),
    });
    if let (Some(small), Some(big)) = (rebuilds.first(), rebuilds.last()) {
        ratios["rebuild_growth_vs_raw_fetch_copy_largest"] =
            json!(ratio(growth(big), f(&big["raw_fetch_copy_events_per_s"])));
        ratios["rebuild_time_largest_vs_smallest"] = json!(ratio(f(&big["wall_s"]), f(&small["wall_s"])));
        ratios["rebuild_size_largest_vs_smallest"] = json!(ratio(f(&big["events"]), f(&small["events"])));
    }
    if let Some(peer) = report["peer"].as_array() {
        for p in peer {
            let ours = report["grpc_append"]
                .as_array()
                .and_then(|a| a.iter().find(|g| g["clients"] == p["clients"]))
                .map_or(0.0, |g| f(&g["events_per_s"]));
            ratios[format!("append_{}_clients_vs_peer", p["clients"])] = json!(ratio(ours, f(&p["events_per_s"])));
        }
    }
    println!("\nratios: {}", serde_json::to_string_pretty(&ratios).unwrap_or_default());
    report["ratios"] = ratios;
}
