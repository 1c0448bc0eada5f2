//! The append path: load the aggregate (cached), deduplicate, check the revision and the rules, write, retry on a
//! concurrent write.
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use ledger_domain::rules::{AggregateState, Context};
use ledger_domain::{
    Aggregate, DomainError, Event, EventKind, EventMeta, ExpectedRevision, Source,
};
use ledger_log::{Log, LogError, OutgoingEvent};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::AppendError;

/// The most events one append may carry (one atomic batch).
pub const MAX_EVENTS_PER_APPEND: usize = 500;
/// How often an append is retried after another writer moved the aggregate (only for `Any`/`NoStream`).
const MAX_ATTEMPTS: usize = 5;
/// Aggregates kept in memory; beyond this, idle ones are dropped and reloaded from the log when needed.
const CACHE_CAPACITY: usize = 50_000;

/// An event as a client submits it (the server adds `recorded_at`).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub occurred_at: OffsetDateTime,
    pub actor: String,
    pub source: Source,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub struct AppendCommand {
    pub aggregate: Aggregate,
    pub expected: ExpectedRevision,
    pub events: Vec<NewEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    pub positions: Vec<u64>,
    pub revision: u64,
    pub deduplicated: bool,
}

/// What the service knows about one aggregate, as of `revision`.
#[derive(Debug)]
struct Loaded {
    revision: u64,
    state: AggregateState,
    event_ids: HashMap<Uuid, u64>,
}

type Slot = Arc<Mutex<Option<Loaded>>>;

#[derive(Debug, Clone)]
pub struct AppendService {
    log: Log,
    aggregates: Arc<std::sync::Mutex<HashMap<Aggregate, Slot>>>,
}

impl AppendService {
    pub fn new(log: Log) -> Self {
        Self {
            log,
            aggregates: Arc::default(),
        }
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    fn slot(&self, aggregate: &Aggregate) -> Slot {
        let mut map = self.aggregates.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_CAPACITY && !map.contains_key(aggregate) {
            // Drop idle entries; an entry in use is held by an Arc elsewhere and stays.
            map.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        map.entry(aggregate.clone()).or_default().clone()
    }

    /// Appends a command's events, all or none. See the crate docs for the guarantees.
    pub async fn append(&self, cmd: AppendCommand) -> Result<AppendOutcome, AppendError> {
        check_shape(&cmd)?;
        let slot = self.slot(&cmd.aggregate);
        // One append at a time per aggregate in this process: keeps their order and avoids self-inflicted conflicts.
        let mut guard = slot.lock().await;
        let result = self.append_locked(&cmd, &mut guard).await;
        if matches!(
            result,
            Err(AppendError::Unavailable(_) | AppendError::Internal(_))
        ) {
            // The write may or may not have happened: forget what we knew and reload next time.
            *guard = None;
        }
        result
    }

    async fn append_locked(
        &self,
        cmd: &AppendCommand,
        slot: &mut Option<Loaded>,
    ) -> Result<AppendOutcome, AppendError> {
        let mut loaded = match slot.take() {
            Some(l) => l,
            None => self.load(&cmd.aggregate).await?,
        };
        let mut refreshed = false;
        for _ in 0..MAX_ATTEMPTS {
            if let Some(outcome) = deduplicate(cmd, &loaded)? {
                *slot = Some(loaded);
                return Ok(outcome);
            }
            if !cmd.expected.matches(loaded.revision) {
                if !refreshed {
                    // Another instance may have written since we cached it: catch up once before judging.
                    self.catch_up(&cmd.aggregate, &mut loaded).await?;
                    refreshed = true;
                    continue;
                }
                let current = loaded.revision;
                *slot = Some(loaded);
                return Err(AppendError::Conflict {
                    aggregate: cmd.aggregate.to_string(),
                    expected: describe(cmd.expected),
                    current,
                });
            }
            let ctx = self.context(cmd).await?;
            let kinds: Vec<EventKind> = cmd.events.iter().map(|e| e.kind.clone()).collect();
            if let Err(e) = loaded.state.decide(&cmd.aggregate, &kinds, &ctx) {
                *slot = Some(loaded);
                return Err(e.into());
            }
            let events = build_events(cmd);
            let outgoing: Vec<OutgoingEvent> = events
                .iter()
                .map(|e| OutgoingEvent {
                    event_id: e.meta.event_id,
                    event_type: e.kind.type_name(),
                    schema_version: e.kind.schema_version(),
                    body: Bytes::from(ledger_proto::stored::encode(&cmd.aggregate, e)),
                })
                .collect();
            match self
                .log
                .append(&cmd.aggregate, Some(loaded.revision), &outgoing)
                .await
            {
                Ok(positions) => {
                    for (e, p) in events.iter().zip(&positions) {
                        loaded.state.apply(&e.kind);
                        loaded.event_ids.insert(e.meta.event_id, *p);
                    }
                    let revision = positions.last().copied().unwrap_or(loaded.revision);
                    loaded.revision = revision;
                    *slot = Some(loaded);
                    return Ok(AppendOutcome {
                        positions,
                        revision,
                        deduplicated: false,
                    });
                }
                Err(LogError::WrongLastSequence { .. }) => {
                    tracing::debug!(aggregate = %cmd.aggregate, "concurrent write; catching up and retrying");
                    self.catch_up(&cmd.aggregate, &mut loaded).await?;
                    refreshed = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppendError::Unavailable(format!(
            "{} kept changing under concurrent writes; retry the append",
            cmd.aggregate
        )))
    }

    async fn load(&self, aggregate: &Aggregate) -> Result<Loaded, AppendError> {
        let mut loaded = Loaded {
            revision: 0,
            state: AggregateState::new(aggregate.kind()),
            event_ids: HashMap::new(),
        };
        self.catch_up(aggregate, &mut loaded).await?;
        Ok(loaded)
    }

    async fn catch_up(
        &self,
        aggregate: &Aggregate,
        loaded: &mut Loaded,
    ) -> Result<(), AppendError> {
        for m in self.log.read_aggregate(aggregate, loaded.revision).await? {
            let suffix = self.log.subject_suffix(&m.subject).unwrap_or_default();
            let r = ledger_proto::stored::decode(m.position, suffix, &m.body).map_err(|e| {
                AppendError::Internal(format!(
                    "{aggregate} has an event at position {} that cannot be read ({e}); no rule can be checked \
                     against it, so nothing is appended to this aggregate",
                    m.position
                ))
            })?;
            loaded.state.apply(&r.event.kind);
            loaded.event_ids.insert(r.event.meta.event_id, r.position);
            loaded.revision = m.position;
        }
        Ok(())
    }

    /// Loads the facts about other aggregates that the command's rules need. These facts only ever become true
    /// (a coalition once established stays established), so reading them outside the write is safe.
    async fn context(&self, cmd: &AppendCommand) -> Result<Context, AppendError> {
        let mut ctx = Context::default();
        let Some(EventKind::MembershipApproved(m)) = cmd
            .events
            .iter()
            .map(|e| &e.kind)
            .find(|k| matches!(k, EventKind::MembershipApproved(_)))
        else {
            return Ok(ctx);
        };
        let coalition = self.load(&Aggregate::coalition(&m.coalition_id)).await?;
        if let AggregateState::Coalition(Some(facts)) = coalition.state {
            ctx.coalition = Some(facts);
        }
        let org = self
            .load(&Aggregate::organisation(&m.organisation_id))
            .await?;
        ctx.organisation_registered =
            matches!(org.state, AggregateState::Organisation { registered: true });
        Ok(ctx)
    }
}

fn describe(e: ExpectedRevision) -> String {
    match e {
        ExpectedRevision::Any => "any".into(),
        ExpectedRevision::NoStream => "no events yet".into(),
        ExpectedRevision::Exact(n) => format!("revision {n}"),
    }
}

fn check_shape(cmd: &AppendCommand) -> Result<(), AppendError> {
    let invalid = |f: String, r: String| AppendError::Invalid(DomainError::invalid(f, r));
    if cmd.events.is_empty() {
        return Err(invalid(
            "events".into(),
            "at least one event is required".into(),
        ));
    }
    if cmd.events.len() > MAX_EVENTS_PER_APPEND {
        return Err(invalid(
            "events".into(),
            format!("at most {MAX_EVENTS_PER_APPEND}, got {}", cmd.events.len()),
        ));
    }
    let mut seen = HashMap::new();
    for (i, e) in cmd.events.iter().enumerate() {
        if let Some(j) = seen.insert(e.event_id, i) {
            return Err(invalid(
                format!("events[{i}].event_id"),
                format!("{} repeats events[{j}]", e.event_id),
            ));
        }
        if e.actor.trim().is_empty() || e.actor.len() > 200 {
            return Err(invalid(
                format!("events[{i}].actor"),
                "required, at most 200 characters".into(),
            ));
        }
    }
    Ok(())
}

/// If the command's events are already in the aggregate, the original outcome; a partial overlap is an error.
fn deduplicate(cmd: &AppendCommand, loaded: &Loaded) -> Result<Option<AppendOutcome>, AppendError> {
    let found: Vec<Option<u64>> = cmd
        .events
        .iter()
        .map(|e| loaded.event_ids.get(&e.event_id).copied())
        .collect();
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(i) = found.iter().position(Option::is_none) {
        let j = found.iter().position(Option::is_some).unwrap_or(0);
        return Err(AppendError::Invalid(DomainError::invalid(
            format!("events[{i}].event_id"),
            format!(
                "events[{j}] is already recorded but events[{i}] is not: a retry must resend exactly the original \
                 events"
            ),
        )));
    }
    let positions: Vec<u64> = found.into_iter().flatten().collect();
    Ok(Some(AppendOutcome {
        revision: positions.last().copied().unwrap_or(0),
        positions,
        deduplicated: true,
    }))
}

fn build_events(cmd: &AppendCommand) -> Vec<Event> {
    let recorded_at = OffsetDateTime::now_utc();
    let first = cmd.events.first().map(|e| e.event_id).unwrap_or_default();
    cmd.events
        .iter()
        .map(|e| Event {
            meta: EventMeta {
                event_id: e.event_id,
                occurred_at: e.occurred_at,
                recorded_at,
                actor: e.actor.clone(),
                source: e.source,
                correlation_id: e.correlation_id.unwrap_or(first),
                causation_id: e.causation_id,
            },
            kind: e.kind.clone(),
        })
        .collect()
}
