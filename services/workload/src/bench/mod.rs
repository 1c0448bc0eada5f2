//! `ledger bench`: one run that measures the raw limits of this machine (JetStream durable publish, pipelined and
//! in atomic batches; Postgres COPY; a raw fetch-then-COPY of the log), then the ledger itself, durable, as
//! separate processes (append API, projector, query API): gRPC appends at several client counts, the bulk call,
//! rebuilds of 100k and 1M events, end-to-end lag at steady rates, dashboard query latency, and each process's
//! peak memory. It prints a table with the ratios to the raw limits and writes it as JSON.
//!
//! Everything runs on streams and databases of its own (`BENCH*_<time>`, `ledger_bench*_<time>`), deleted at the
//! end: it never touches the real log or read models. The benchmark writes synthetic events straight into its
//! own raw and rebuild streams (that is what a raw limit is); the ledger's stream is written only through the API.
//!
//! The run, in order: the raw limits (`raw`), rebuilds (`rebuild`), then the ledger as processes (`processes`)
//! reached through authenticated clients (`clients`): appends (`appends`), the peer if given (`peer`), the bulk
//! call, end-to-end lag (`lag`), the dashboard's queries (`queries`), memory; last the ratios (`summary`).
mod appends;
mod audit;
mod clients;
mod lag;
mod peer;
mod processes;
mod queries;
mod raw;
mod rebuild;
mod stats;
mod summary;
mod synthetic;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use processes::Processes;

/// What the benchmark needs of the ledger's configuration; the binary builds it from its settings. The
/// benchmark makes its own streams and databases beside the configured ones, and never touches those.
pub struct Config {
    /// NATS server URL (credentials, if any, in the URL): every stream of the benchmark is made there.
    pub nats_url: String,
    /// NATS credentials; the roles it starts get them from the environment it inherits (or the URL).
    pub nats_credentials: ledger_log::NatsCredentials,
    /// A Postgres URL ending in `/<database>`: the benchmark's databases are made beside that one.
    pub database_url: String,
    /// JetStream duplicate window of the log the benchmark opens on its rebuild stream.
    pub duplicate_window: Duration,
    /// The append address `ledger rebuild` is started with (it serves nothing; the benchmark's ledger listens on
    /// free ports of its own).
    pub append_addr: SocketAddr,
    /// The query address `ledger rebuild` is started with, likewise.
    pub query_addr: SocketAddr,
    /// The `iss` of the benchmark's token; the processes it starts read theirs from the same environment.
    pub auth_issuer: String,
    /// The `aud` of the benchmark's token, likewise.
    pub auth_audience: String,
    /// Run the ledger's processes without authentication (`ledger --insecure-no-auth bench`), to compare.
    pub insecure_no_auth: bool,
    /// The `ledger` executable started for each role and for each rebuild.
    pub ledger_executable: PathBuf,
}

/// One ledger the benchmark starts processes for (its own, or the rebuild's), passed to them in their
/// environment.
struct Instance {
    /// Its read models' database, made by the benchmark and dropped at the end.
    database_url: String,
    /// Its log's stream and subject prefix, also the benchmark's own.
    stream: String,
    subject_prefix: String,
    /// Where its append and query APIs listen.
    append_addr: SocketAddr,
    query_addr: SocketAddr,
}

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
    /// Steady append rate (events/s, through `AppendMany`) at which the notary's checkpoint lag is measured.
    #[arg(long, default_value_t = 10_000)]
    pub checkpoint_lag_rate: u64,
    /// Seconds of that load.
    #[arg(long, default_value_t = 5)]
    pub checkpoint_lag_seconds: u64,
    /// Leaves of the export `ledger audit verify` checks for its rate.
    #[arg(long, default_value_t = 1_000_000)]
    pub verify_leaves: u64,
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
        self.checkpoint_lag_rate = 500;
        self.checkpoint_lag_seconds = 1;
        self.verify_leaves = 20_000;
        self.history = 300;
        self.query_repeats = 5;
        self
    }
}

/// Runs every measurement on streams and databases of its own, deletes them whatever happened, and writes the
/// report to `args.json`.
pub async fn run(config: Config, args: BenchArgs) -> anyhow::Result<()> {
    let args = if args.smoke { args.smoke() } else { args };
    let tag = OffsetDateTime::now_utc().unix_timestamp().to_string();
    let mut admin_cfg: tokio_postgres::Config = config.database_url.parse().context("parsing the database URL")?;
    let Some((db_base, _)) = config.database_url.rsplit_once('/').filter(|_| admin_cfg.get_dbname().is_some()) else {
        anyhow::bail!("--database-url must be a URL ending in /<database> for the benchmark");
    };
    admin_cfg.dbname("postgres");
    let ledger = Instance {
        database_url: format!("{db_base}/ledger_bench_{tag}"),
        stream: format!("BENCH_{tag}"),
        subject_prefix: format!("bench{tag}"),
        append_addr: format!("127.0.0.1:{}", processes::free_port()?).parse()?,
        query_addr: format!("127.0.0.1:{}", processes::free_port()?).parse()?,
    };
    let rebuild = Instance {
        database_url: format!("{db_base}/ledger_benchrb_{tag}"),
        stream: format!("BENCHRB_{tag}"),
        subject_prefix: format!("benchrb{tag}"),
        append_addr: config.append_addr,
        query_addr: config.query_addr,
    };
    let raw_prefix = format!("benchraw{tag}");

    let result = measure(&config, &ledger, &rebuild, &raw_prefix, &tag, &args).await;

    // Clean up whatever happened.
    if let Ok(nats) = ledger_log::connect_client(&config.nats_url, &config.nats_credentials).await {
        let js = async_nats::jetstream::new(nats);
        for s in [&ledger.stream, &rebuild.stream, &format!("BENCHRAW_{tag}")] {
            let _ = js.delete_stream(s).await;
            let _ = js.delete_stream(ledger_log::checkpoint_stream(s)).await;
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

/// Every measurement, in order, into one report.
async fn measure(
    config: &Config,
    ledger: &Instance,
    rebuild: &Instance,
    raw_prefix: &str,
    tag: &str,
    args: &BenchArgs,
) -> anyhow::Result<Value> {
    let nats =
        ledger_log::connect_client(&config.nats_url, &config.nats_credentials).await.context("connecting to NATS")?;
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
    let n_raw = args.rebuild_events.first().copied().unwrap_or(10_000).min(100_000);
    let (raw, rb_pg) = raw::limits(&nats, tag, raw_prefix, n_raw, &rebuild.database_url).await?;
    report["raw"] = raw;

    // 2. Rebuilds: the rebuild stream filled to each length in atomic batches of 1,000, then `ledger rebuild`.
    report["rebuilds"] = rebuild::at_each_length(config, &nats, rebuild, &rb_pg, &args.rebuild_events).await?;
    drop(rb_pg);

    // 3. The ledger itself.
    measure_ledger(config, ledger, tag, args, &mut report).await?;
    summary::summarise(&mut report);
    Ok(report)
}

/// The ledger itself: three processes on a stream and database of their own, with authentication on (a key pair
/// of the benchmark's own; every call carries a platform admin's token), or, with `ledger --insecure-no-auth
/// bench`, off, to compare. Adds its measurements to `report`.
async fn measure_ledger(
    config: &Config,
    ledger: &Instance,
    tag: &str,
    args: &BenchArgs,
    report: &mut Value,
) -> anyhow::Result<()> {
    migrate(&ledger.database_url).await?;
    // A directory no one else can have made (the private key is written into it owner-only).
    let keys_dir = std::env::temp_dir().join(format!("ledger-bench-keys-{tag}-{}", Uuid::new_v4().simple()));
    let (token, verify_us) = clients::bench_auth(&keys_dir, config)?;
    let open = config.insecure_no_auth;
    println!(
        "\nauthentication {}; token verification (Ed25519 JWT, in process): {verify_us:.1} µs per call",
        if open { "OFF (--insecure-no-auth)" } else { "on, every call carries a token" }
    );
    report["authentication"] = json!(!open);
    report["token_verification_us"] = json!(verify_us);
    let mut procs = Processes::start(config, ledger, &keys_dir, open)?;
    let token = (!open).then_some(token.as_str());
    let append = clients::connect(ledger.append_addr, token).await?;
    let query = clients::connect(ledger.query_addr, token).await?;
    procs.sample("start");

    report["grpc_append"] = appends::at_each_concurrency(&append, args).await?;
    procs.sample("grpc appends");
    if let Some(peer) = &args.peer {
        report["peer"] = peer::run_peer(peer, ledger, tag, args).await?;
    }
    report["bulk_append_events_per_s"] = json!(appends::bulk(&append, args.bulk_events).await?);
    procs.sample("bulk");
    report["e2e_lag"] = lag::at_each_rate(&append, &query, args).await?;
    procs.sample("lag");
    println!(
        "\nthe notary signs every {} events or once an event has waited {} ms",
        processes::CHECKPOINT_EVERY_EVENTS,
        processes::CHECKPOINT_EVERY_MS
    );
    report["checkpoint_lag"] =
        audit::checkpoint_lag(&append, &query, args.checkpoint_lag_rate, args.checkpoint_lag_seconds).await?;
    report["verify_export"] = audit::verify_rate(args.verify_leaves, &keys_dir).await?;
    // The demo history through the API, then the dashboard's queries over it.
    report["queries"] = queries::over_the_demo_history(&append, &query, args.history, args.query_repeats).await?;
    procs.sample("history");
    report["verify_api"] = audit::verify_over_api(ledger.query_addr, token, &procs.notary_vkey).await?;

    let peaks = procs.peaks();
    println!("\npeak RSS: {}", peaks.iter().map(|(r, m)| format!("{r} {m} MB")).collect::<Vec<_>>().join(", "));
    report["peak_rss_mb"] =
        json!(peaks.iter().map(|(r, m)| (r.to_string(), json!(m))).collect::<serde_json::Map<_, _>>());
    report["projector_rss"] = json!(procs.projector_rss);
    procs.stop();
    let _ = std::fs::remove_dir_all(&keys_dir);
    Ok(())
}

/// Creates the benchmark's database `url` and applies the ledger's migrations to it.
async fn migrate(url: &str) -> anyhow::Result<Vec<i32>> {
    ledger_readmodel::migrate_database(&ledger_readmodel::Postgres::parse(url)?)
        .await
        .with_context(|| format!("preparing the benchmark's database {}", ledger_log::redact(url)))
}

/// Creates the benchmark's database `url` (for the peer).
async fn create_database(url: &str) -> anyhow::Result<()> {
    ledger_readmodel::create_database(&ledger_readmodel::Postgres::parse(url)?)
        .await
        .with_context(|| format!("creating the benchmark's database {}", ledger_log::redact(url)))
}
