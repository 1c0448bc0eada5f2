//! As-of answers (`ReportRequest.as_of_log`, issue 12): a report as its read model stood when the log held
//! positions 1 to P, with the signed checkpoint covering P.
//!
//! The read model at P is built by the projectors' own code ([`BuildReadModel`], handed in by the binary: this crate
//! does not depend on the projector) into temporary tables and views (`pg_temp.<view>`, named as the `reporting`
//! ones) of a Postgres connection of the query role's own, and the report's normal SQL then runs against those
//! views. Nothing shared is written: the tables disappear with the connection.
//!
//! Builds are kept, keyed by (read model, P): at most [`AsOfConfig::kept`] (the least recently used goes first),
//! each until it has been unused for [`AsOfConfig::idle`]. A build in progress is shared by everyone asking for
//! the same key meanwhile; it runs as a task of its own, so an asker that goes away (a cancelled call, a client's
//! deadline) neither stops it nor leaves half of it behind: a build enters the cache only once complete, and a
//! failed one is forgotten (the next ask builds again). At most [`AsOfConfig::concurrent`] builds run at once and
//! [`AsOfConfig::queued`] are in progress or waiting; beyond that an ask is refused (`RESOURCE_EXHAUSTED`).
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use ledger_domain::access::authorize_as_of;
use ledger_log::{Log, ReadFrom};
use ledger_proto::convert::timestamp_to_domain;
use ledger_proto::v1;
use ledger_readmodel::{Postgres, ReadModel, Report};
use time::{Date, OffsetDateTime};
use tokio::sync::Semaphore;
use tokio_postgres::{Client, Transaction};
use tonic::{Request, Status};

use super::error::invalid;
use super::{QueryError, QueryService};

/// What building a read model up to a position found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    /// Events read from the log.
    pub events: u64,
    /// Events the read model could not apply (the live projector quarantined them).
    pub not_applied: u64,
    /// The record time of the event at the position (`None` at position 0).
    pub recorded_at: Option<OffsetDateTime>,
}

/// What [`BuildReadModel::build`] returns: the build's figures, or why it failed.
pub type BuildFuture<'a> = Pin<Box<dyn Future<Output = Result<Built, String>> + Send + 'a>>;

/// Builds read model `model` from log positions 1 to `position` into temporary tables and views (`pg_temp.<view>`
/// for each of its `reporting` views) on `client`, a connection of the query role with none of them yet. The
/// projectors' code does this (`ledger_projector::build_temporary_read_model`); the binary hands it in.
pub trait BuildReadModel: Send + Sync + 'static {
    fn build<'a>(&'a self, model: ReadModel, log: &'a Log, client: &'a mut Client, position: u64) -> BuildFuture<'a>;
}

/// How as-of answers are served.
#[derive(Debug, Clone)]
pub struct AsOfConfig {
    /// Postgres as the query role: each build is a connection of its own.
    pub database: Postgres,
    /// Builds kept for further questions (each holds a connection and its temporary tables).
    pub kept: usize,
    /// How long a kept build stays after its last use.
    pub idle: Duration,
    /// Builds running at once.
    pub concurrent: usize,
    /// Builds in progress or waiting to run; one more ask for another point is refused.
    pub queued: usize,
}

impl AsOfConfig {
    pub fn new(database: Postgres) -> Self {
        Self { database, kept: 4, idle: Duration::from_secs(600), concurrent: 1, queued: 4 }
    }
}

/// Counters for the metrics endpoint.
#[derive(Debug, Default)]
pub struct AsOfMetrics {
    /// Builds completed.
    pub builds: AtomicU64,
    /// Builds that failed.
    pub failures: AtomicU64,
    /// Asks answered by a build kept, or in progress for another asker.
    pub reused: AtomicU64,
    /// Milliseconds spent in completed builds.
    pub build_ms: AtomicU64,
    /// Events read by completed builds.
    pub events: AtomicU64,
    /// Builds kept now.
    pub kept: AtomicU64,
    /// Builds in progress or waiting to run now.
    pub building: AtomicU64,
}

/// A point asked for: a log position, or a record time to turn into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Position(u64),
    RecordedBy(OffsetDateTime),
}

/// The request's `as_of_log`, validated (`None`: a live answer). `INVALID_ARGUMENT` naming the field for a point
/// that is not set, a malformed time, or `consistency` beside it.
pub fn parse_point(req: &v1::ReportRequest) -> Result<Option<Point>, QueryError> {
    let Some(as_of) = &req.as_of_log else { return Ok(None) };
    if req.consistency.is_some() {
        return Err(invalid("consistency", "not with as_of_log: an as-of answer is at the position it names"));
    }
    match &as_of.point {
        None => Err(invalid("as_of_log", "set position or recorded_by")),
        Some(v1::as_of_log::Point::Position(p)) => Ok(Some(Point::Position(*p))),
        Some(v1::as_of_log::Point::RecordedBy(t)) => timestamp_to_domain("as_of_log.recorded_by", Some(t))
            .map(|t| Some(Point::RecordedBy(t)))
            .map_err(|e| invalid("as_of_log.recorded_by", e.to_string())),
    }
}

/// The last log position stored at or before `t` (0 if none; `end` if all were): the position before the first
/// message stored after `t`, found as the replay's `from_time` finds its start (the stream's timestamps).
pub(crate) async fn position_recorded_by(log: &Log, t: OffsetDateTime, end: u64) -> Result<u64, QueryError> {
    let unavailable = |e: ledger_log::LogError| QueryError::Unavailable(e.to_string());
    let after = t.checked_add(time::Duration::nanoseconds(1)).unwrap_or(t);
    let mut later = Box::pin(log.read(ReadFrom::Time(after), None, end).await.map_err(unavailable)?);
    match later.next().await {
        Some(m) => Ok(m.map_err(unavailable)?.position.saturating_sub(1)),
        None => Ok(end),
    }
}

/// The schema of a build's tables and views: its session's own.
const TEMPORARY: &str = "pg_temp";

/// Where a report's answer comes from.
pub(crate) enum Source {
    /// The read model serving now, in a snapshot at or after the wanted position.
    Live,
    /// The read model as it stood at `position`, from its build (none for a context view, not made from the log),
    /// answered as of `at` (the record time asked for, or of the event at `position`).
    AsOf { position: u64, build: Option<Arc<Build>>, at: Option<OffsetDateTime> },
}

impl Source {
    /// The view `report` reads: its `reporting` view, or the build's.
    pub(crate) fn view(&self, report: &Report) -> String {
        match self {
            Self::AsOf { build: Some(_), .. } if !report.context => {
                let name = report.view.strip_prefix("reporting.").unwrap_or(report.view);
                format!("{TEMPORARY}.{name}")
            }
            _ => report.view.to_owned(),
        }
    }

    /// The schema of the read model's views: `reporting`, or the build's.
    pub(crate) fn views(&self) -> &'static str {
        match self {
            Self::AsOf { build: Some(_), .. } => TEMPORARY,
            _ => "reporting",
        }
    }

    /// The day the answer is given on: today, or the day the log reached the point (UTC).
    pub(crate) fn today(&self) -> Date {
        match self {
            Self::AsOf { at: Some(at), .. } => at.date(),
            _ => OffsetDateTime::now_utc().date(),
        }
    }
}

/// The position an answer reflects and, for an as-of answer, its point and checkpoint.
pub(crate) struct Answered {
    pub(crate) position: u64,
    pub(crate) as_of_log: Option<v1::AsOfAnswer>,
}

impl QueryService {
    /// As-of answers by `builder` (the projectors' code, from the binary) with `config`; returns the service and
    /// the metrics of its builds.
    pub fn with_as_of(mut self, config: AsOfConfig, builder: Arc<dyn BuildReadModel>) -> (Self, Arc<AsOfMetrics>) {
        let (as_of, metrics) = AsOf::new(config, builder, self.log.clone());
        self.as_of = Some(as_of);
        (self, metrics)
    }

    /// Where the answer to `request` for `report` comes from: live, or (for an authorised `as_of_log`) the build
    /// of its read model at the point asked, started or waited for here.
    pub(crate) async fn source(&self, request: &Request<v1::ReportRequest>, report: &Report) -> Result<Source, Status> {
        let Some(point) = parse_point(request.get_ref())? else { return Ok(Source::Live) };
        let principal = ledger_auth::principal(request)?;
        authorize_as_of(&principal).map_err(|d| ledger_auth::deny(&principal, d))?;
        let Some(as_of) = &self.as_of else {
            return Err(QueryError::Unavailable("this server does not answer as_of_log".into()).into());
        };
        let end = self.log.end().await.map_err(|e| QueryError::Unavailable(e.to_string()))?;
        let (position, at) = match point {
            Point::Position(p) if p > end => {
                return Err(QueryError::OutOfRange(format!(
                    "as_of_log.position {p} is beyond the log's end, position {end}"
                ))
                .into());
            }
            Point::Position(p) => (p, None),
            Point::RecordedBy(t) => (position_recorded_by(as_of.log(), t, end).await?, Some(t)),
        };
        if report.context {
            return Ok(Source::AsOf { position, build: None, at });
        }
        let build = as_of.get(report.read_model, position).await?;
        let at = at.or(build.built.recorded_at);
        Ok(Source::AsOf { position, build: Some(build), at })
    }

    /// Runs `f` on `source`: in a snapshot of the live read model `model` once it has reached the wanted position,
    /// or read-only on the build (or, for a context view, the pool), with the checkpoint covering its point.
    pub(crate) async fn answer<T>(
        &self,
        source: &Source,
        model: ReadModel,
        consistency: Option<&v1::Consistency>,
        f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, QueryError>,
    ) -> Result<(T, Answered), QueryError> {
        let Source::AsOf { position, build, .. } = source else {
            let (out, position) = self.consistent(model, consistency, f).await?;
            return Ok((out, Answered { position, as_of_log: None }));
        };
        let (out, checkpoint) = match build {
            Some(build) => {
                let mut client = build.client.lock().await;
                let read = read_at(&mut client, *position, f).await;
                if read.is_err()
                    && client.is_closed()
                    && let Some(as_of) = &self.as_of
                {
                    as_of.discard(build);
                }
                read?
            }
            None => read_at(self.pool.get().await?.client(), *position, f).await?,
        };
        let not_applied = build.as_ref().map_or(0, |b| b.built.not_applied);
        let as_of_log = v1::AsOfAnswer { position: *position, checkpoint, not_applied };
        Ok((out, Answered { position: *position, as_of_log: Some(as_of_log) }))
    }
}

/// `f` and the checkpoint covering `position`, in one read-only transaction on `client`.
async fn read_at<T>(
    client: &mut Client,
    position: u64,
    f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, QueryError>,
) -> Result<(T, Option<v1::SignedCheckpoint>), QueryError> {
    let tx = client.build_transaction().read_only(true).start().await?;
    let out = f(&tx).await?;
    let checkpoint = crate::audit::covering(&tx, position).await?;
    tx.commit().await?;
    Ok((out, checkpoint))
}

/// A complete build: its connection (holding the temporary tables) and what it found.
pub(crate) struct Build {
    pub(crate) model: ReadModel,
    pub(crate) position: u64,
    pub(crate) built: Built,
    /// One question at a time on the connection.
    pub(crate) client: tokio::sync::Mutex<Client>,
}

type Key = (ReadModel, u64);
type Pending = Shared<BoxFuture<'static, Result<Arc<Build>, String>>>;

enum Slot {
    Building(Pending),
    /// Complete, and when it was last used.
    Ready(Arc<Build>, Instant),
}

/// The builds kept and in progress (cheap to clone: shared).
#[derive(Clone)]
pub(crate) struct AsOf {
    inner: Arc<Inner>,
}

struct Inner {
    config: AsOfConfig,
    builder: Arc<dyn BuildReadModel>,
    log: Log,
    slots: Mutex<HashMap<Key, Slot>>,
    running: Semaphore,
    metrics: Arc<AsOfMetrics>,
}

impl std::fmt::Debug for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsOf").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// The keys to drop from the builds kept (key and last use): those idle for `idle` or more at `now`, then the
/// least recently used beyond `kept`.
fn to_drop(mut ready: Vec<(Key, Instant)>, now: Instant, idle: Duration, kept: usize) -> Vec<Key> {
    ready.sort_by_key(|(_, used)| std::cmp::Reverse(*used));
    ready
        .into_iter()
        .enumerate()
        .filter(|(i, (_, used))| *i >= kept || now.saturating_duration_since(*used) >= idle)
        .map(|(_, (key, _))| key)
        .collect()
}

impl AsOf {
    /// As-of answers built by `builder` over `log`; a task drops idle builds until this is dropped.
    pub(crate) fn new(config: AsOfConfig, builder: Arc<dyn BuildReadModel>, log: Log) -> (Self, Arc<AsOfMetrics>) {
        let metrics = Arc::new(AsOfMetrics::default());
        let running = Semaphore::new(config.concurrent.max(1));
        let inner =
            Arc::new(Inner { config, builder, log, slots: Mutex::default(), running, metrics: metrics.clone() });
        tokio::spawn(sweep(Arc::downgrade(&inner)));
        (Self { inner }, metrics)
    }

    pub(crate) fn log(&self) -> &Log {
        &self.inner.log
    }

    /// The build of `model` up to `position`: kept, in progress, or started now.
    pub(crate) async fn get(&self, model: ReadModel, position: u64) -> Result<Arc<Build>, QueryError> {
        let key = (model, position);
        let pending = {
            let mut slots = self.inner.lock();
            self.inner.tidy(&mut slots);
            match slots.get_mut(&key) {
                Some(Slot::Ready(build, used)) => {
                    *used = Instant::now();
                    self.inner.metrics.reused.fetch_add(1, Ordering::Relaxed);
                    return Ok(build.clone());
                }
                Some(Slot::Building(pending)) => {
                    self.inner.metrics.reused.fetch_add(1, Ordering::Relaxed);
                    pending.clone()
                }
                None => {
                    let building = slots.values().filter(|s| matches!(s, Slot::Building(_))).count();
                    if building >= self.inner.config.queued.max(1) {
                        return Err(QueryError::Exhausted(format!(
                            "{building} as-of builds are in progress or waiting, the most the server queues; retry later"
                        )));
                    }
                    let task = tokio::spawn(self.inner.clone().build(key));
                    let pending: Pending = async move {
                        task.await.map_err(|e| format!("the as-of build of {model} at {position} failed: {e}"))?
                    }
                    .boxed()
                    .shared();
                    slots.insert(key, Slot::Building(pending.clone()));
                    self.inner.tidy(&mut slots);
                    pending
                }
            }
        };
        pending.await.map_err(QueryError::Unavailable)
    }

    /// Forgets `build` if it is the one kept for its key (its connection was lost: the next ask builds again).
    pub(crate) fn discard(&self, build: &Arc<Build>) {
        let mut slots = self.inner.lock();
        let key = (build.model, build.position);
        if matches!(slots.get(&key), Some(Slot::Ready(kept, _)) if Arc::ptr_eq(kept, build)) {
            slots.remove(&key);
            self.inner.tidy(&mut slots);
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops idle builds and the least recently used beyond the limit; counts what is kept.
    fn tidy(&self, slots: &mut HashMap<Key, Slot>) {
        let ready = slots
            .iter()
            .filter_map(|(k, s)| match s {
                Slot::Ready(_, used) => Some((*k, *used)),
                Slot::Building(_) => None,
            })
            .collect();
        for key in to_drop(ready, Instant::now(), self.config.idle, self.config.kept.max(1)) {
            slots.remove(&key);
            tracing::debug!(read_model = key.0.name(), position = key.1, "as-of build dropped");
        }
        let kept = slots.values().filter(|s| matches!(s, Slot::Ready(..))).count();
        self.metrics.kept.store(kept as u64, Ordering::Relaxed);
        self.metrics.building.store((slots.len() - kept) as u64, Ordering::Relaxed);
    }

    /// Builds `key` on a connection of its own (once a build may run), then keeps it; a failed build is
    /// forgotten. Runs as a task of its own and logs how it ended.
    async fn build(self: Arc<Self>, key: Key) -> Result<Arc<Build>, String> {
        let (model, position) = key;
        let started = Instant::now();
        let result = async {
            let _running = self.running.acquire().await.map_err(|e| e.to_string())?;
            let mut client = self.config.database.connect().await.map_err(|e| format!("connecting: {e}"))?;
            let built = self.builder.build(model, &self.log, &mut client, position).await?;
            Ok::<_, String>(Arc::new(Build { model, position, built, client: tokio::sync::Mutex::new(client) }))
        };
        // Even a panic of the build ends here, so that its slot is always freed.
        let result = std::panic::AssertUnwindSafe(result)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err("the build panicked (a bug; see the log)".to_owned()));
        let mut slots = self.lock();
        match &result {
            Ok(build) => {
                let ms = started.elapsed().as_millis() as u64;
                self.metrics.builds.fetch_add(1, Ordering::Relaxed);
                self.metrics.build_ms.fetch_add(ms, Ordering::Relaxed);
                self.metrics.events.fetch_add(build.built.events, Ordering::Relaxed);
                tracing::info!(
                    read_model = model.name(),
                    position,
                    events = build.built.events,
                    ms,
                    "as-of build kept"
                );
                slots.insert(key, Slot::Ready(build.clone(), Instant::now()));
            }
            Err(error) => {
                self.metrics.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(read_model = model.name(), position, %error, "as-of build failed");
                slots.remove(&key);
            }
        }
        self.tidy(&mut slots);
        result.map_err(|e| format!("as-of build of {model} at position {position}: {e}"))
    }
}

/// Drops idle builds now and then, until the service is dropped.
async fn sweep(inner: Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(i) => (i.config.idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)),
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            tracing::debug!("as-of sweeper stopped: the query service is gone");
            return;
        };
        let mut slots = inner.lock();
        inner.tidy(&mut slots);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_a_position_or_a_record_time_and_never_beside_a_consistency() {
        let at = |point| v1::ReportRequest { as_of_log: Some(v1::AsOfLog { point }), ..Default::default() };
        assert_eq!(parse_point(&v1::ReportRequest::default()).unwrap(), None);
        assert_eq!(parse_point(&at(Some(v1::as_of_log::Point::Position(7)))).unwrap(), Some(Point::Position(7)));
        let t = prost_types::Timestamp { seconds: 1_735_689_599, nanos: 5 };
        assert_eq!(
            parse_point(&at(Some(v1::as_of_log::Point::RecordedBy(t)))).unwrap(),
            Some(Point::RecordedBy(time::macros::datetime!(2024-12-31 23:59:59.000000005 UTC)))
        );
        let field = |r: Result<Option<Point>, QueryError>| match r {
            Err(QueryError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(parse_point(&at(None))), "as_of_log");
        let bad = prost_types::Timestamp { seconds: 0, nanos: -1 };
        assert_eq!(field(parse_point(&at(Some(v1::as_of_log::Point::RecordedBy(bad))))), "as_of_log.recorded_by");
        let both = v1::ReportRequest {
            consistency: Some(v1::Consistency { min_position: 3, max_wait_ms: 0 }),
            ..at(Some(v1::as_of_log::Point::Position(7)))
        };
        assert_eq!(field(parse_point(&both)), "consistency");
    }

    #[test]
    fn builds_idle_too_long_and_the_least_recently_used_beyond_the_limit_are_dropped() {
        let now = Instant::now();
        let ago = |s| now.checked_sub(Duration::from_secs(s)).unwrap();
        let key = |p| (ReadModel::Pledges, p);
        let ready = vec![(key(1), ago(50)), (key(2), ago(10)), (key(3), ago(30)), (key(4), ago(20))];
        // Within the limit and fresh: nothing goes.
        assert!(to_drop(ready.clone(), now, Duration::from_secs(60), 4).is_empty());
        // Two kept: the two least recently used go.
        let mut dropped = to_drop(ready.clone(), now, Duration::from_secs(60), 2);
        dropped.sort_by_key(|k| k.1);
        assert_eq!(dropped, vec![key(1), key(3)]);
        // Idle for 25 s or more: those go whatever the limit.
        let mut dropped = to_drop(ready, now, Duration::from_secs(25), 4);
        dropped.sort_by_key(|k| k.1);
        assert_eq!(dropped, vec![key(1), key(3)]);
    }
}
