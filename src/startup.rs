//! Start-up split from serving: `Application::build` connects, checks and binds (port 0 works); `run` serves
//! until the shutdown token is cancelled, then drains in-flight requests and the projector's open batch.
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use ledger_append::AppendService;
use ledger_log::Log;
use ledger_projector::ProjectorConfig;
use ledger_proto::v1::ledger_append_server::LedgerAppendServer;
use ledger_proto::v1::ledger_audit_server::LedgerAuditServer;
use ledger_proto::v1::ledger_query_server::LedgerQueryServer;
use ledger_proto::v1::ledger_replay_server::LedgerReplayServer;
use ledger_query::{AuditService, Pool, QueryService, ReplayService};
use ledger_readmodel::ReadModel;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;

use crate::config::{Databases, Settings};
use crate::metrics::Sources;

/// As-of answers are built by the projectors' code (the query crate does not depend on the projector).
struct Projections;

impl ledger_query::BuildReadModel for Projections {
    fn build<'a>(
        &'a self,
        model: ReadModel,
        log: &'a Log,
        client: &'a mut ledger_query::PostgresClient,
        position: u64,
    ) -> ledger_query::BuildFuture<'a> {
        Box::pin(async move {
            let b = ledger_projector::build_temporary_read_model(model, log, client, position)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ledger_query::Built { events: b.events, not_applied: b.not_applied, recorded_at: b.recorded_at })
        })
    }
}

/// Which roles this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub append: bool,
    pub query: bool,
    pub projector: bool,
    /// The notary, if a key is configured (`--notary-key`); required when it is the only role.
    pub notary: bool,
}

impl Roles {
    pub const ALL: Self = Self { append: true, query: true, projector: true, notary: true };
    pub const NOTARY: Self = Self { append: false, query: false, projector: false, notary: true };
}

pub struct Application {
    settings: Settings,
    /// `None` for a process that serves no API (a projector without a guarded metrics endpoint).
    auth: Option<ledger_auth::Authenticator>,
    tls: Option<tonic::transport::ServerTlsConfig>,
    log: Log,
    append: Option<TcpListener>,
    query: Option<TcpListener>,
    dashboard: Option<TcpListener>,
    metrics: Option<TcpListener>,
    projector: bool,
    notary: Option<ledger_audit::Signer>,
    /// Each role's Postgres connection.
    databases: Databases,
}

impl Application {
    /// Connects to NATS (refusing an old server or a mutable stream), migrates Postgres if a role needs it, and
    /// binds the gRPC ports.
    pub async fn build(settings: Settings, roles: Roles) -> anyhow::Result<Self> {
        settings.validate()?;
        tracing::info!(?settings, ?roles, "starting");
        let serves_api = roles.append || roles.query;
        let auth =
            if serves_api || settings.auth.metrics_require_token { Some(settings.auth.authenticator()?) } else { None };
        let tls = if serves_api { settings.auth.tls()? } else { None };
        if let Some(a) = &auth
            && !a.is_insecure()
            && tls.is_none()
        {
            let exposed: Vec<SocketAddr> =
                [roles.append.then_some(settings.append_addr), roles.query.then_some(settings.query_addr)]
                    .into_iter()
                    .flatten()
                    .filter(|a| !a.ip().is_loopback())
                    .collect();
            if !exposed.is_empty() {
                tracing::warn!(
                    ?exposed,
                    "bearer tokens will cross the network in clear text: serve TLS (--tls-cert, --tls-key) or put the \
                     servers behind a TLS proxy"
                );
            }
        }
        let notary = if roles.notary { settings.notary.signer()? } else { None };
        if roles.notary && notary.is_none() {
            if roles == Roles::NOTARY {
                anyhow::bail!(
                    "the notary needs its key: create one with `ledger audit keygen --name <origin> --out DIR` and \
                     start with --notary-key DIR/notary.key (or LEDGER_NOTARY_KEY)"
                );
            }
            tracing::info!("no --notary-key: no notary runs in this process, and no checkpoint is signed");
        }
        let mut log_config = settings.log_config()?;
        let databases = settings.databases()?;
        if roles.query || roles.projector || notary.is_some() {
            // The notary writes the `audit` schema as the projector does the read models.
            prepare_database(&databases, Roles { projector: roles.projector || notary.is_some(), ..roles }).await?;
            // The checkpoints say how far the log went: it may not end below, nor be created empty in its place.
            let reader = if roles.projector || notary.is_some() { &databases.projector } else { &databases.query };
            log_config.known_position = highest_checkpoint(reader).await?;
            log_config.create_missing = true;
        }
        let log = Log::connect(&log_config).await.context("opening the log")?;
        let bind = |addr: SocketAddr, what: &'static str| async move {
            TcpListener::bind(addr).await.with_context(|| format!("binding the {what} server to {addr}"))
        };
        let append = if roles.append { Some(bind(settings.append_addr, "append").await?) } else { None };
        let query = if roles.query { Some(bind(settings.query_addr, "query").await?) } else { None };
        let dashboard = match settings.dashboard_addr {
            Some(addr) if roles.query && !settings.no_dashboard => Some(bind(addr, "dashboard").await?),
            _ => None,
        };
        let metrics = match settings.metrics_addr {
            Some(addr) => Some(bind(addr, "metrics").await?),
            None => None,
        };
        Ok(Self {
            settings,
            auth,
            tls,
            log,
            append,
            query,
            dashboard,
            metrics,
            projector: roles.projector,
            notary,
            databases,
        })
    }

    pub fn append_addr(&self) -> Option<SocketAddr> {
        self.append.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn query_addr(&self) -> Option<SocketAddr> {
        self.query.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` is cancelled or a role fails (which stops the others). Every task is joined.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks: Tasks = JoinSet::new();
        let mut sources =
            Sources { log: self.log.clone(), append: None, projections: Vec::new(), notary: None, as_of: None };
        // Built by `build` for every process that serves an API; never defaulted to open here.
        let auth = match (&self.auth, self.append.is_some() || self.query.is_some()) {
            (Some(a), _) => a.clone(),
            (None, false) => ledger_auth::Authenticator::insecure(), // serves nothing that it could open
            (None, true) => anyhow::bail!("an API role without an authenticator"),
        };
        if let Some(store) = auth.key_store() {
            let stop = shutdown.clone();
            tasks.spawn(async move {
                store.watch(ledger_auth::KEY_FILE_POLL, stop).await;
                ("public key watcher", Ok(()))
            });
        }
        let tls = self.tls.clone();
        let mut reporters = Vec::new();
        if let Some(listener) = self.append {
            let addr = listener.local_addr()?;
            let service = AppendService::new(self.log.clone());
            sources.append = Some(service.metrics.clone());
            let (health, health_service) = tonic_health::server::health_reporter();
            health.set_serving::<LedgerAppendServer<AppendService>>().await;
            let served = [<LedgerAppendServer<AppendService> as NamedService>::NAME];
            reporters.push((health, served.to_vec()));
            let router = grpc_router(health_service, &auth, tls.clone(), &served, &self.settings.limits)?.add_service(
                LedgerAppendServer::new(service).max_decoding_message_size(self.settings.limits.max_request_bytes),
            );
            tracing::info!(%addr, "append API listening");
            spawn_grpc(&mut tasks, "append API", router, listener, shutdown.clone());
        }
        if let Some(listener) = self.query {
            let addr = listener.local_addr()?;
            let limits = &self.settings.limits;
            let pool = Pool::new(
                self.databases.query.clone(),
                limits.db_pool_size,
                Duration::from_millis(limits.db_acquire_timeout_ms),
            );
            let (health, health_service) = tonic_health::server::health_reporter();
            health.set_serving::<LedgerQueryServer<QueryService>>().await;
            health.set_serving::<LedgerReplayServer<ReplayService>>().await;
            // The audit service reads only what the notary stored: it keeps serving while the stream's guard
            // refuses the log, when auditors need its proofs most.
            health.set_serving::<LedgerAuditServer<AuditService>>().await;
            let audit = AuditService::new(pool.clone());
            let audit_pool = pool.clone();
            let as_of = limits.as_of(self.databases.query.clone());
            let (service, as_of_metrics) =
                QueryService::new(pool, self.log.clone()).with_as_of(as_of, std::sync::Arc::new(Projections));
            sources.as_of = Some(as_of_metrics);
            if let Some(listener) = self.dashboard {
                tracing::info!(addr = %listener.local_addr()?, "dashboard listening on http://{}/", listener.local_addr()?);
                let stop = shutdown.clone();
                // The log in the tlog-tiles layout, on the same port (`/tlog/…`).
                let tiles = ledger_query::tiles::router(audit_pool.clone(), self.log.clone(), auth.clone());
                let app = ledger_query::dashboard::router(service.clone(), auth.clone()).merge(tiles);
                let http = self.settings.limits.http();
                tasks.spawn(async move {
                    let r = crate::http::serve(listener, app, http, stop, DRAIN_TIMEOUT).await;
                    ("dashboard", r.context("dashboard server"))
                });
            }
            let served = [
                <LedgerQueryServer<QueryService> as NamedService>::NAME,
                <LedgerReplayServer<ReplayService> as NamedService>::NAME,
            ];
            reporters.push((health, served.to_vec()));
            let reflected = [served[0], served[1], <LedgerAuditServer<AuditService> as NamedService>::NAME];
            let max_request = self.settings.limits.max_request_bytes;
            let router = grpc_router(health_service, &auth, tls.clone(), &reflected, &self.settings.limits)?
                .add_service(LedgerQueryServer::new(service).max_decoding_message_size(max_request))
                .add_service(
                    LedgerReplayServer::new(ReplayService::new(
                        self.log.clone(),
                        self.settings.limits.max_replays_per_principal,
                        self.settings.limits.max_replays,
                    ))
                    .max_decoding_message_size(max_request),
                )
                .add_service(LedgerAuditServer::new(audit).max_decoding_message_size(max_request));
            tracing::info!(%addr, "query API listening");
            spawn_grpc(&mut tasks, "query API", router, listener, shutdown.clone());
        }
        if self.projector {
            // Each projection runs on its own: a slow or failing one does not hold back the others.
            let mut config = ProjectorConfig::new(self.databases.projector.clone());
            config.batch_size = self.settings.projector_batch;
            for &model in ReadModel::ALL {
                let (metrics, run) =
                    ledger_projector::projector(model, self.log.clone(), config.clone(), shutdown.clone());
                sources.projections.push((model.name(), metrics));
                tasks.spawn(async move { (model.name(), run.await.context("projector")) });
            }
        }
        if let Some(signer) = self.notary.clone() {
            let n = &self.settings.notary;
            let config = ledger_projector::notary::NotaryConfig {
                database: self.databases.projector.clone(),
                signer,
                every_events: n.checkpoint_every_events,
                every: Duration::from_millis(n.checkpoint_every_ms),
                batch_size: self.settings.projector_batch,
            };
            let (metrics, run) = ledger_projector::notary::notary(self.log.clone(), config, shutdown.clone());
            sources.notary = Some(metrics);
            tasks.spawn(async move { ("notary", run.await.context("notary")) });
        }
        {
            let (log, every, stop) =
                (self.log.clone(), Duration::from_secs(self.settings.stream_check_secs), shutdown.clone());
            tasks.spawn(async move { ("stream supervisor", supervise_stream(log, every, reporters, stop).await) });
        }
        if let Some(listener) = self.metrics {
            tracing::info!(addr = %listener.local_addr()?, "metrics listening on /metrics");
            let stop = shutdown.clone();
            let guard = if self.settings.auth.metrics_require_token { self.auth.clone() } else { None };
            let app = crate::metrics::router(sources, guard);
            let http = self.settings.limits.http();
            tasks.spawn(async move {
                let r = crate::http::serve(listener, app, http, stop, DRAIN_TIMEOUT).await;
                ("metrics", r.context("metrics server"))
            });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let (role, result) = joined.context("a service task panicked")?;
            match result {
                Ok(()) => tracing::info!(role, "stopped"),
                Err(e) => {
                    tracing::error!(role, error = format!("{e:#}"), "failed; stopping the other roles");
                    shutdown.cancel();
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;
type GrpcRouter =
    tonic::transport::server::Router<tower::layer::util::Stack<ledger_auth::AuthLayer, tower::layer::util::Identity>>;

/// A gRPC server with every call authenticated and admitted by the auth layer (but health checks), the
/// connection limits of `limits`, TLS if configured, and health checks and server reflection (v1 and v1alpha)
/// already added. Reflection lists the `served` services (the ones the caller adds to this port), health and
/// itself: nothing a client of this port cannot call.
fn grpc_router(
    health: tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    auth: &ledger_auth::Authenticator,
    tls: Option<tonic::transport::ServerTlsConfig>,
    served: &[&str],
    limits: &crate::config::LimitSettings,
) -> anyhow::Result<GrpcRouter> {
    let mut server = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        .timeout(Duration::from_secs(limits.request_timeout_secs))
        // Dead peers are found and their connections closed: a ping every 30 s, answered within 10 s.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_keepalive(Some(Duration::from_secs(60)));
    if let Some(tls) = tls {
        server = server.tls_config(tls).context("TLS configuration of the gRPC server")?;
    }
    Ok(server
        .layer(ledger_auth::AuthLayer::new(auth.clone(), ledger_auth::limits::Limiter::new(limits.admission())))
        .add_service(health)
        .add_service(reflection(served, "grpc.reflection.v1.ServerReflection").build_v1()?)
        .add_service(reflection(served, "grpc.reflection.v1alpha.ServerReflection").build_v1alpha()?))
}

/// Serves `router` on `listener` until `stop`; in-flight calls finish first.
fn spawn_grpc(
    tasks: &mut Tasks,
    role: &'static str,
    router: GrpcRouter,
    listener: TcpListener,
    stop: CancellationToken,
) {
    tasks.spawn(async move {
        let r = router
            .serve_with_incoming_shutdown(incoming(listener), stop.cancelled_owned())
            .await
            .with_context(|| format!("{role} server"));
        (role, r)
    });
}

/// Accepted connections with Nagle's algorithm off: a reply written in several pieces (HTTP/2 headers, then data)
/// must not wait for the client's delayed ACK (measured: ~44 ms per query without it).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send + 'static {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        if let Err(e) = conn.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        Ok(conn)
    })
}

/// A reflection service over the ledger's and health's descriptors that lists `served`, health and itself (named
/// `own_name`, as v1 and v1alpha differ).
fn reflection<'a>(served: &[&str], own_name: &str) -> tonic_reflection::server::Builder<'a> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ledger_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(HEALTH_SERVICE)
        .with_service_name(own_name);
    served.iter().fold(builder, |b, name| b.with_service_name(*name))
}

/// The highest checkpoint of the read models (0 for a new database).
pub async fn highest_checkpoint(database: &ledger_readmodel::Postgres) -> anyhow::Result<u64> {
    let client = database.connect().await.with_context(|| format!("connecting to Postgres at {database}"))?;
    ledger_readmodel::highest_position(&client).await.context("reading the checkpoints")
}

/// Checks the stream every `every` until `stop`; each change of its fault sets the health of `services` (and of
/// the server as a whole) to NOT_SERVING or back to SERVING. An unreachable server is not a fault of the stream.
async fn supervise_stream(
    log: Log,
    every: Duration,
    health: Vec<(tonic_health::server::HealthReporter, Vec<&'static str>)>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut faults = log.watch_stream_fault();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = ticks.tick() => {
                if let Err(e) = log.check_stream().await
                    && !matches!(e, ledger_log::LogError::StreamViolated(_))
                {
                    tracing::debug!(error = %e, "the stream could not be checked now");
                }
            }
            changed = faults.changed() => {
                changed.context("the log's fault channel closed")?;
                let status = if faults.borrow_and_update().is_some() {
                    tonic_health::ServingStatus::NotServing
                } else {
                    tonic_health::ServingStatus::Serving
                };
                for (reporter, services) in &health {
                    reporter.set_service_status("", status).await;
                    for s in services {
                        reporter.set_service_status(*s, status).await;
                    }
                }
            }
        }
    }
}

/// Creates the database if it does not exist, then applies the migrations (`ledger_readmodel::migrate_database`); a
/// failure to connect names the server, with its credentials redacted.
pub async fn migrate(database: &ledger_readmodel::Postgres) -> anyhow::Result<Vec<i32>> {
    ledger_readmodel::migrate_database(database).await.map_err(|e| match e {
        ledger_readmodel::DatabaseError::Connect(source) => {
            anyhow::Error::new(source).context(format!("connecting to Postgres at {database}"))
        }
        other => other.into(),
    })
}

/// Makes the database ready for `roles`: with one connection for every role, migrates it (as today's single
/// role owns everything); with separate roles (README "Postgres roles"), which may not migrate, checks as each
/// role that the owner did (`ledger migrate`), and refuses to start otherwise.
pub async fn prepare_database(databases: &Databases, roles: Roles) -> anyhow::Result<()> {
    if !databases.separate_roles {
        migrate(&databases.owner).await?;
        return Ok(());
    }
    let used = [roles.projector.then_some(&databases.projector), roles.query.then_some(&databases.query)];
    for database in used.into_iter().flatten() {
        let client = database.connect().await.with_context(|| format!("connecting to Postgres at {database}"))?;
        let pending = ledger_readmodel::pending_migrations(&client)
            .await
            .with_context(|| format!("reading the applied migrations at {database}"))?;
        anyhow::ensure!(
            pending.is_empty(),
            "{database}: migrations {pending:?} are not applied; run `ledger migrate` as the owner (--database-url) \
             first"
        );
    }
    Ok(())
}

/// A token cancelled on SIGTERM or Ctrl-C. The listening task logs which signal arrived and ends with it.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        // SIGHUP means "reload the public keys" (the key store listens for it too); its default action would
        // end the process, so it is always caught, also by processes without keys.
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
            .ok();
        #[cfg(unix)]
        let hup = async {
            loop {
                match hangup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                        tracing::info!("SIGHUP: public keys are read again (if this process uses any)");
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
            _ = term => tracing::info!("SIGTERM: shutting down"),
            _ = hup => {}
            _ = t.cancelled() => {}
        }
        t.cancel();
    });
    token
}

/// The health service's name, as reflection lists it.
const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// How long a stopped process waits for in-flight work before giving up.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
