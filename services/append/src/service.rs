//! The append path: load the aggregate (cached), deduplicate, check the revision and the rules, write, retry on a
//! concurrent write.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use ledger_domain::access::{AppendAccess, coalition_of_id};
use ledger_domain::rules::{AggregateState, Context, FactsNeeded};
use ledger_domain::{Aggregate, DomainError, Event, EventKind, EventMeta, ExpectedRevision, Source, Token};
use ledger_log::{Log, LogError, OutgoingEvent};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::AppendError;

/// The most events one append may carry (one atomic batch).
pub const MAX_EVENTS_PER_APPEND: usize = 500;
/// How often an append is retried after another writer moved the aggregate (only for `Any`/`NoStream`).
const MAX_ATTEMPTS: usize = 5;
/// Consistency scopes kept in memory; beyond this, idle ones are dropped and reloaded from the log when needed.
/// A cached scope costs a few kB (`ledger bench`: 50,000 gave the append process a 246 MB peak).
const CACHE_CAPACITY: usize = 10_000;

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
    /// The authenticated principal, recorded with every event.
    pub principal: String,
    /// What authorisation left to confirm once the aggregate is loaded (`ledger_domain::access`).
    pub access: AppendAccess,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    pub positions: Vec<u64>,
    pub revision: u64,
    pub deduplicated: bool,
}

/// An event of the aggregate, as far as deduplication cares: where it is and what it is.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    position: u64,
    /// [`ledger_proto::stored::digest`]: tells a retry of the event from another event under its id.
    digest: [u8; 32],
}

/// What the service knows about one aggregate, as of its `revision`.
#[derive(Debug)]
struct AggregateView {
    revision: u64,
    state: AggregateState,
    event_ids: HashMap<Uuid, Recorded>,
    /// The coalition the aggregate belongs to: by its id, or as its first event naming one says.
    coalition: Option<Token>,
}

impl AggregateView {
    fn new(aggregate: &Aggregate) -> Self {
        Self {
            revision: 0,
            state: AggregateState::new(aggregate.kind()),
            event_ids: HashMap::new(),
            coalition: coalition_of_id(aggregate),
        }
    }

    fn apply(&mut self, aggregate: &Aggregate, event: &Event, position: u64) {
        let kind = &event.kind;
        self.state.apply(kind);
        let digest = ledger_proto::stored::digest(aggregate, event);
        self.event_ids.insert(event.meta.event_id, Recorded { position, digest });
        if self.coalition.is_none() {
            self.coalition = kind.coalition_id().cloned();
        }
    }
}

/// What the service knows about one consistency scope (an aggregate, or an organisation's memberships and
/// pledges), as of `revision`: the last position in the scope, which every write to it is checked against.
#[derive(Debug, Default)]
struct Loaded {
    revision: u64,
    aggregates: HashMap<Aggregate, AggregateView>,
}

impl Loaded {
    fn revision_of(&self, aggregate: &Aggregate) -> u64 {
        self.aggregates.get(aggregate).map_or(0, |a| a.revision)
    }

    /// Coalitions in which the scope's organisation has an active membership.
    fn active_memberships(&self) -> std::collections::HashSet<Token> {
        self.aggregates
            .iter()
            .filter(|(_, v)| matches!(&v.state, AggregateState::Membership(m) if m.active_since.is_some()))
            .filter_map(|(a, _)| a.id().split_once('.').and_then(|(c, _)| Token::parse("coalition", c).ok()))
            .collect()
    }
}

type Slot = Arc<Mutex<Option<Loaded>>>;

#[derive(Debug, Clone)]
pub struct AppendService {
    log: Log,
    scopes: Arc<std::sync::Mutex<HashMap<String, Slot>>>,
    pub metrics: Arc<AppendMetrics>,
}

/// Counters an operator watches: appends by outcome and events written.
#[derive(Debug, Default)]
pub struct AppendMetrics {
    pub written: AtomicU64,
    pub deduplicated: AtomicU64,
    pub events_written: AtomicU64,
    pub invalid: AtomicU64,
    pub denied: AtomicU64,
    pub rule: AtomicU64,
    pub conflict: AtomicU64,
    pub unavailable: AtomicU64,
    pub unreadable: AtomicU64,
    pub internal: AtomicU64,
}

impl AppendMetrics {
    fn record(&self, result: &Result<AppendOutcome, AppendError>) {
        let counter = match result {
            Ok(o) if o.deduplicated => &self.deduplicated,
            Ok(o) => {
                self.events_written.fetch_add(o.positions.len() as u64, Ordering::Relaxed);
                &self.written
            }
            Err(AppendError::Invalid(_)) => &self.invalid,
            Err(AppendError::Denied(_)) => &self.denied,
            Err(AppendError::Rule(_)) => &self.rule,
            Err(AppendError::Conflict { .. }) => &self.conflict,
            Err(AppendError::Unavailable(_)) => &self.unavailable,
            Err(AppendError::Unreadable { .. }) => &self.unreadable,
            Err(AppendError::Internal(_)) => &self.internal,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl AppendService {
    pub fn new(log: Log) -> Self {
        Self { log, scopes: Arc::default(), metrics: Arc::default() }
    }

    fn slot(&self, aggregate: &Aggregate) -> Slot {
        let scope = aggregate.consistency_scope();
        let mut map = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_CAPACITY && !map.contains_key(&scope) {
            // Drop idle entries; an entry in use is held by an Arc elsewhere and stays.
            map.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        map.entry(scope).or_default().clone()
    }

    /// Appends a command's events, all or none. See the crate docs for the guarantees.
    pub async fn append(&self, cmd: AppendCommand) -> Result<AppendOutcome, AppendError> {
        let result = self.append_unrecorded(cmd).await;
        self.metrics.record(&result);
        result
    }

    async fn append_unrecorded(&self, cmd: AppendCommand) -> Result<AppendOutcome, AppendError> {
        check_shape(&cmd)?;
        let slot = self.slot(&cmd.aggregate);
        // One append at a time per scope in this process: keeps their order and avoids self-inflicted conflicts.
        let mut guard = slot.lock().await;
        let result = self.append_locked(&cmd, &mut guard).await;
        if matches!(
            result,
            Err(AppendError::Unavailable(_) | AppendError::Internal(_) | AppendError::Unreadable { .. })
        ) {
            // The write may or may not have happened: forget what we knew and reload next time.
            *guard = None;
        }
        result
    }

    /// Decides and writes `cmd` with the scope's cached state in `slot`. One loop holds every retry path (a stale
    /// cache, an assumed-empty scope, a concurrent write, an id known to JetStream) because each of them decides
    /// what the slot keeps: split up, that invariant would be spread over several functions.
    async fn append_locked(
        &self,
        cmd: &AppendCommand,
        slot: &mut Option<Loaded>,
    ) -> Result<AppendOutcome, AppendError> {
        // An append that expects a new aggregate is first decided against an empty scope, without reading the
        // log: its write carries "the scope is empty" as its check, so if the scope is not empty the write is
        // refused and the scope is read and the decision taken again (as is a rule refusal on the assumed-empty
        // state). Saves a round trip for every new aggregate.
        let (mut loaded, mut assumed_empty) = match slot.take() {
            Some(l) => (l, false),
            // Only where the scope is the aggregate itself: an organisation's scope (its memberships and pledges)
            // is rarely empty, and a refused write costs a whole group commit its batch.
            None if cmd.expected == ExpectedRevision::NoStream
                && cmd.aggregate.consistency_scope() == cmd.aggregate.subject_suffix() =>
            {
                (Loaded::default(), true)
            }
            None => (self.load(&cmd.aggregate).await?, false),
        };
        let mut refreshed = false;
        for _ in 0..MAX_ATTEMPTS {
            // Before anything about the aggregate is looked at (its events, revision, rules): is it the caller's?
            if let Err(e) = owned_by_caller(cmd, &loaded) {
                *slot = Some(loaded);
                return Err(e);
            }
            if let Some(outcome) = deduplicate(cmd, loaded.aggregates.get(&cmd.aggregate))? {
                *slot = Some(loaded);
                return Ok(outcome);
            }
            let current = loaded.revision_of(&cmd.aggregate);
            if !cmd.expected.matches(current) {
                if !refreshed {
                    // Another instance may have written since we cached it: catch up once before judging.
                    self.catch_up(&cmd.aggregate, &mut loaded).await?;
                    refreshed = true;
                    continue;
                }
                *slot = Some(loaded);
                return Err(AppendError::Conflict {
                    aggregate: cmd.aggregate.to_string(),
                    expected: describe(cmd.expected),
                    current,
                });
            }
            let mut ctx = self.context(cmd).await?;
            ctx.active_memberships = loaded.active_memberships();
            let kinds: Vec<EventKind> = cmd.events.iter().map(|e| e.kind.clone()).collect();
            let view =
                loaded.aggregates.entry(cmd.aggregate.clone()).or_insert_with(|| AggregateView::new(&cmd.aggregate));
            if let Err(e) = view.state.decide(&cmd.aggregate, &kinds, &ctx) {
                if assumed_empty {
                    // Perhaps refused only because the scope was assumed empty: read it and decide again.
                    assumed_empty = false;
                    loaded = self.load(&cmd.aggregate).await?;
                    continue;
                }
                *slot = Some(loaded);
                return Err(e.into());
            }
            let events = build_events(cmd);
            let outgoing = encode_for_log(&cmd.aggregate, &events);
            match self.log.append(&cmd.aggregate, Some(loaded.revision), &outgoing).await {
                Ok(positions) => {
                    for (e, p) in events.iter().zip(&positions) {
                        view.apply(&cmd.aggregate, e, *p);
                    }
                    let revision = positions.last().copied().unwrap_or(view.revision);
                    view.revision = revision;
                    loaded.revision = revision;
                    *slot = Some(loaded);
                    return Ok(AppendOutcome { positions, revision, deduplicated: false });
                }
                Err(LogError::DuplicateId { event_id, position }) => {
                    assumed_empty = false;
                    // JetStream knows the id: either this aggregate holds it (a retry racing another instance;
                    // catching up lets the dedup above return the original positions) or another one does.
                    self.catch_up(&cmd.aggregate, &mut loaded).await?;
                    refreshed = true;
                    let here = loaded
                        .aggregates
                        .get(&cmd.aggregate)
                        .is_some_and(|v| cmd.events.iter().any(|e| v.event_ids.contains_key(&e.event_id)));
                    if !here {
                        // Not this aggregate's: but is the aggregate the caller's? Say nothing of the id otherwise.
                        let owned = owned_by_caller(cmd, &loaded);
                        *slot = Some(loaded);
                        owned?;
                        return Err(LogError::DuplicateId { event_id, position }.into());
                    }
                }
                Err(LogError::WrongLastSequence { .. }) => {
                    assumed_empty = false;
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
        let mut loaded = Loaded::default();
        self.catch_up(aggregate, &mut loaded).await?;
        Ok(loaded)
    }

    /// Reads what was written to `aggregate`'s scope since `loaded.revision` and folds it in.
    async fn catch_up(&self, aggregate: &Aggregate, loaded: &mut Loaded) -> Result<(), AppendError> {
        for m in self.log.read_scope(aggregate, loaded.revision).await? {
            let r = m.decode().map_err(|e| AppendError::Unreadable {
                aggregate: aggregate.to_string(),
                position: m.position,
                hint: if e.is_unknown_to_this_code() {
                    ": it was written by a newer version of the ledger; upgrade this append service"
                } else {
                    ": the event is corrupt and the log immutable; see the README, \"An unreadable event in the log\""
                },
                reason: e.to_string(),
            })?;
            let view = loaded.aggregates.entry(r.aggregate.clone()).or_insert_with(|| AggregateView::new(&r.aggregate));
            view.apply(&r.aggregate, &r.event, r.position);
            view.revision = m.position;
            loaded.revision = m.position;
        }
        Ok(())
    }

    /// The state of an aggregate outside the write's scope, read fresh.
    async fn read_state(&self, aggregate: &Aggregate) -> Result<AggregateState, AppendError> {
        let loaded = self.load(aggregate).await?;
        Ok(loaded.aggregates.get(aggregate).map_or_else(|| AggregateState::new(aggregate.kind()), |v| v.state.clone()))
    }

    /// Loads the facts about aggregates outside the write's scope that the command's rules need, as each event's
    /// type declares beside its rules (`EventKind::facts_needed`). These facts only ever become true and never
    /// change (a coalition, once established, keeps its launch date and pledging setting; an organisation stays
    /// registered), so reading them before the write is safe.
    async fn context(&self, cmd: &AppendCommand) -> Result<Context, AppendError> {
        let mut ctx = Context::default();
        let needed = FactsNeeded::of(cmd.events.iter().map(|e| &e.kind));
        if let Some(coalition) = &needed.coalition
            && let AggregateState::Coalition(Some(facts)) = self.read_state(&Aggregate::coalition(coalition)).await?
        {
            ctx.coalition = Some(facts);
        }
        if let Some(organisation) = &needed.organisation {
            ctx.organisation_registered = matches!(
                self.read_state(&Aggregate::organisation(organisation)).await?,
                AggregateState::Organisation { registered: true }
            );
        }
        Ok(ctx)
    }
}

/// Whether the command's aggregate, as loaded, belongs to the coalition the caller writes for
/// (`AppendAccess::check_owner`): the coalition its history names, else the one the command's own events name.
fn owned_by_caller(cmd: &AppendCommand, loaded: &Loaded) -> Result<(), AppendError> {
    let recorded = loaded.aggregates.get(&cmd.aggregate).and_then(|v| v.coalition.as_ref());
    let named = cmd.events.iter().find_map(|e| e.kind.coalition_id());
    cmd.access.check_owner(&cmd.aggregate, recorded, named).map_err(AppendError::Denied)
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
        return Err(invalid("events".into(), "at least one event is required".into()));
    }
    if cmd.events.len() > MAX_EVENTS_PER_APPEND {
        return Err(invalid("events".into(), format!("at most {MAX_EVENTS_PER_APPEND}, got {}", cmd.events.len())));
    }
    if cmd.principal.is_empty() {
        // Every append is authorised and stamped with its principal before it gets here (grpc::authorize).
        return Err(AppendError::Internal("the append carries no authenticated principal".into()));
    }
    let mut seen = HashMap::new();
    for (i, e) in cmd.events.iter().enumerate() {
        if let Some(j) = seen.insert(e.event_id, i) {
            return Err(invalid(format!("events[{i}].event_id"), format!("{} repeats events[{j}]", e.event_id)));
        }
        if e.actor.trim().is_empty() || e.actor.len() > 200 {
            return Err(invalid(format!("events[{i}].actor"), "required, at most 200 characters".into()));
        }
        ledger_domain::event::plain_line(&format!("events[{i}].actor"), &e.actor).map_err(AppendError::Invalid)?;
    }
    Ok(())
}

/// If the command's events are already in the aggregate, the original outcome. A partial overlap is an error, and
/// so is an id recorded with another event (another type, payload or client metadata: [`Recorded::digest`]).
fn deduplicate(cmd: &AppendCommand, view: Option<&AggregateView>) -> Result<Option<AppendOutcome>, AppendError> {
    let Some(view) = view else { return Ok(None) };
    let found: Vec<Option<Recorded>> = cmd.events.iter().map(|e| view.event_ids.get(&e.event_id).copied()).collect();
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
    for (i, (event, recorded)) in build_events(cmd).iter().zip(&found).enumerate() {
        if let Some(r) = recorded
            && ledger_proto::stored::digest(&cmd.aggregate, event) != r.digest
        {
            return Err(AppendError::Invalid(DomainError::invalid(
                format!("events[{i}].event_id"),
                format!(
                    "{} is already recorded at position {} for another event (its type, payload, occurred_at, \
                     actor, source, correlation or causation id differ): a retry must resend the original event \
                     unchanged, and a new event needs a new id",
                    event.meta.event_id, r.position
                ),
            )));
        }
    }
    let positions: Vec<u64> = found.into_iter().flatten().map(|r| r.position).collect();
    Ok(Some(AppendOutcome { revision: positions.last().copied().unwrap_or(0), positions, deduplicated: true }))
}

/// The events as messages for the log: id and type for the headers, the encoded envelope as the body.
fn encode_for_log(aggregate: &Aggregate, events: &[Event]) -> Vec<OutgoingEvent> {
    events
        .iter()
        .map(|e| OutgoingEvent {
            event_id: e.meta.event_id,
            event_type: e.kind.type_name(),
            schema_version: e.kind.schema_version(),
            body: Bytes::from(ledger_proto::stored::encode(aggregate, e)),
        })
        .collect()
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
                principal: cmd.principal.clone(),
                source: e.source,
                correlation_id: e.correlation_id.unwrap_or(first),
                causation_id: e.causation_id,
            },
            kind: e.kind.clone(),
        })
        .collect()
}
