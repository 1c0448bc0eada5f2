//! `coalition.ledger.v1.LedgerReplay`: the log in order, from a position or a time, filtered, for auditors.
//!
//! Auditors and platform admins only (`PERMISSION_DENIED` naming the `auditor` grant otherwise). Each event
//! carries its recorded principal (who appended it) beside the client-supplied actor.
//!
//! Status codes: `UNAUTHENTICATED` (from the auth layer), `PERMISSION_DENIED` (not an auditor or platform admin),
//! `INVALID_ARGUMENT` (a malformed `coalition_id`, `aggregate` or `from_time`, naming it), `RESOURCE_EXHAUSTED`
//! (the caller, or the server, has as many replays open as it may), `UNAVAILABLE` (NATS unreachable, also in the
//! middle of the stream).
//!
//! Events this code cannot decode (a newer writer's type or version) are passed through with `raw_payload`;
//! a message whose envelope is broken is passed through with an empty `event_type` and its body as
//! `raw_payload`, so an auditor sees every position. Nothing is skipped silently.
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use ledger_domain::access::authorize_replay;
use ledger_domain::{Aggregate, Token};
use ledger_log::{Log, LogMessage, ReadFrom};
use ledger_proto::convert::{aggregate_to_domain, timestamp_to_domain};
use ledger_proto::stored::{decode_envelope, raw_to_wire, to_wire};
use ledger_proto::v1;
use ledger_proto::v1::ledger_replay_server::LedgerReplay;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct ReplayService {
    log: Log,
    open: OpenReplays,
}

impl ReplayService {
    /// Replays of `log`, at most `per_principal` open at once for one principal and `total` for the server (each
    /// open replay holds a JetStream consumer).
    pub fn new(log: Log, per_principal: usize, total: usize) -> Self {
        Self { log, open: OpenReplays { per_principal, total, counts: Arc::default() } }
    }
}

/// The replays open now, per principal.
#[derive(Debug, Clone)]
struct OpenReplays {
    per_principal: usize,
    total: usize,
    counts: Arc<Mutex<(usize, HashMap<String, usize>)>>,
}

/// One open replay; dropping it (the stream ended or the client went away) closes it.
struct OpenReplay {
    counts: Arc<Mutex<(usize, HashMap<String, usize>)>>,
    principal: String,
}

impl OpenReplays {
    fn open(&self, principal: &str) -> Result<OpenReplay, Status> {
        let mut guard = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_principal) = &mut *guard;
        let mine = by_principal.get(principal).copied().unwrap_or(0);
        if mine >= self.per_principal {
            return Err(Status::resource_exhausted(format!(
                "principal {principal} already has {mine} replays open, the most one principal may have; close one or wait for it to end"
            )));
        }
        if *total >= self.total {
            return Err(Status::resource_exhausted(format!(
                "the server already has {total} replays open, the most it serves at once; retry later"
            )));
        }
        *total += 1;
        by_principal.insert(principal.to_owned(), mine + 1);
        Ok(OpenReplay { counts: self.counts.clone(), principal: principal.to_owned() })
    }
}

impl Drop for OpenReplay {
    fn drop(&mut self) {
        let mut guard = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_principal) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(n) = by_principal.get_mut(&self.principal) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_principal.remove(&self.principal);
            }
        }
    }
}

/// What a replay keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events of this coalition (its aggregate, or events naming it).
    pub coalition: Option<String>,
    /// Only this aggregate's events (read from its subject alone).
    pub aggregate: Option<Aggregate>,
    /// Only events of these types (all if empty).
    pub event_types: Vec<String>,
}

impl Filter {
    fn keeps(&self, event: &v1::RecordedEvent, coalition_of: Option<&str>) -> bool {
        if !self.event_types.is_empty() && !self.event_types.contains(&event.event_type) {
            return false;
        }
        match &self.coalition {
            Some(c) => coalition_of == Some(c.as_str()),
            None => true,
        }
    }
}

/// The event at `m` for the client (with its stored bytes) and the coalition its payload or aggregate names.
fn convert(m: &LogMessage) -> (v1::RecordedEvent, Option<String>) {
    let (mut event, coalition) = decode(m);
    event.stored = m.body.to_vec();
    (event, coalition)
}

fn decode(m: &LogMessage) -> (v1::RecordedEvent, Option<String>) {
    let broken = |reason: String| {
        tracing::warn!(position = m.position, %reason, "replaying a message whose envelope is broken");
        v1::RecordedEvent {
            position: m.position,
            event_type: String::new(),
            raw_payload: m.body.to_vec(),
            ..Default::default()
        }
    };
    match m.decode() {
        Ok(r) => {
            let coalition = match r.aggregate.kind() {
                ledger_domain::AggregateType::Coalition => Some(r.aggregate.id().to_owned()),
                _ => r.event.kind.coalition_id().map(Token::to_string),
            };
            (to_wire(&r), coalition)
        }
        // A newer writer's event: its envelope decoded, so it is passed on with the payload raw.
        Err(e) if e.is_unknown_to_this_code() => match decode_envelope(&m.body) {
            Ok(stored) => {
                let coalition = (stored.aggregate_type == "coalition").then(|| stored.aggregate_id.clone());
                (raw_to_wire(m.position, stored), coalition)
            }
            Err(e) => (broken(e.to_string()), None),
        },
        Err(e) => (broken(e.to_string()), None),
    }
}

type Messages = Pin<Box<dyn Stream<Item = Result<LogMessage, ledger_log::LogError>> + Send>>;

/// A replay in progress: the log's messages, filtered, with what is known of which aggregates are whose.
struct Replaying {
    messages: Messages,
    /// For a coalition filter: the coalition of each aggregate created for one.
    owners: Option<Owners>,
    /// Whether the history before the first message read has been looked at for `owners`.
    learned: bool,
    log: Log,
    filter: Filter,
    stored_only: bool,
}

impl Replaying {
    /// The next event the filter keeps.
    async fn next(&mut self) -> Option<Result<v1::RecordedEvent, Status>> {
        loop {
            let m = match self.messages.next().await? {
                Ok(m) => m,
                Err(e) => return Some(Err(Status::unavailable(e.to_string()))),
            };
            if let Some(owners) = &mut self.owners
                && !self.learned
            {
                self.learned = true;
                if let Err(e) = owners.learn_before(&self.log, m.position).await {
                    return Some(Err(Status::unavailable(e.to_string())));
                }
            }
            // Nothing to decode: every event is kept and only its bytes are sent.
            if self.stored_only && self.filter == Filter::default() {
                return Some(Ok(v1::RecordedEvent {
                    position: m.position,
                    stored: m.body.to_vec(),
                    ..Default::default()
                }));
            }
            let (event, named) = convert(&m);
            let coalition = match &mut self.owners {
                Some(owners) => owners.coalition_of(&event, named),
                None => named,
            };
            if self.filter.keeps(&event, coalition.as_deref()) {
                if self.stored_only {
                    return Some(Ok(v1::RecordedEvent {
                        position: event.position,
                        stored: event.stored,
                        ..Default::default()
                    }));
                }
                return Some(Ok(event));
            }
        }
    }
}

/// The coalition of every aggregate created for one (a pledge, a course, a content, a membership, an activity),
/// learned from the first event of the aggregate that names it.
#[derive(Debug, Default)]
struct Owners(HashMap<(i32, String), String>);

impl Owners {
    /// The coalition of `event`: the one its payload names, or its aggregate's.
    fn coalition_of(&mut self, event: &v1::RecordedEvent, named: Option<String>) -> Option<String> {
        let key = event.aggregate.as_ref().map(|a| (a.r#type, a.id.clone()))?;
        match named {
            Some(c) => {
                self.0.entry(key).or_insert_with(|| c.clone());
                Some(c)
            }
            None => self.0.get(&key).cloned(),
        }
    }

    /// Reads the log before `position` to learn whose aggregates are whose.
    async fn learn_before(&mut self, log: &Log, position: u64) -> Result<(), ledger_log::LogError> {
        if position <= 1 {
            return Ok(());
        }
        let mut earlier = Box::pin(log.read(ReadFrom::Position(1), None, position - 1).await?);
        while let Some(m) = earlier.next().await {
            let (event, named) = decode(&m?);
            self.coalition_of(&event, named);
        }
        Ok(())
    }
}

impl ReplayService {
    /// Refuses a filter naming a coalition or an aggregate the log does not hold.
    async fn check_exists(&self, filter: &Filter) -> Result<(), Status> {
        let unavailable = |e: ledger_log::LogError| Status::unavailable(e.to_string());
        if let Some(c) = &filter.coalition {
            let coalition = Token::parse("coalition_id", c)
                .and_then(|t| Aggregate::parse(ledger_domain::AggregateType::Coalition, t.as_str()))
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            if self.log.first_position(&self.log.subject(&coalition)).await.map_err(unavailable)?.is_none() {
                return Err(Status::invalid_argument(format!("coalition_id: no coalition {c} in the log")));
            }
        }
        if let Some(a) = &filter.aggregate
            && self.log.first_position(&self.log.subject(a)).await.map_err(unavailable)?.is_none()
        {
            return Err(Status::invalid_argument(format!("aggregate: no {a} in the log")));
        }
        Ok(())
    }
}

/// A `ReplayRequest` validated: where to start, what to keep, how many events at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    pub from: ReadFrom,
    pub filter: Filter,
    /// Most events to return (`usize::MAX` for no limit).
    pub limit: usize,
    /// Only positions and stored bytes, no decoded view.
    pub stored_only: bool,
}

/// Validates a `ReplayRequest` (`INVALID_ARGUMENT` naming the field at fault); authorisation is done before.
pub fn parse_request(req: v1::ReplayRequest) -> Result<ParsedRequest, Status> {
    let from = match req.start {
        None => ReadFrom::Position(1),
        Some(v1::replay_request::Start::FromPosition(p)) => ReadFrom::Position(p.max(1)),
        Some(v1::replay_request::Start::FromTime(t)) => ReadFrom::Time(
            timestamp_to_domain("from_time", Some(&t)).map_err(|e| Status::invalid_argument(e.to_string()))?,
        ),
    };
    let invalid = |e: ledger_domain::DomainError| Status::invalid_argument(e.to_string());
    let filter = Filter {
        coalition: if req.coalition_id.is_empty() {
            None
        } else {
            Some(Token::parse("coalition_id", &req.coalition_id).map_err(invalid)?.to_string())
        },
        aggregate: req.aggregate.as_ref().map(|a| aggregate_to_domain(Some(a))).transpose().map_err(invalid)?,
        event_types: req.event_types,
    };
    for (i, name) in filter.event_types.iter().enumerate() {
        if ledger_domain::EventType::from_name(name).is_none() {
            return Err(Status::invalid_argument(format!(
                "event_types[{i}]: {} is not an event type of the catalogue",
                ledger_domain::echo(name)
            )));
        }
    }
    let limit = if req.limit == 0 { usize::MAX } else { usize::try_from(req.limit).unwrap_or(usize::MAX) };
    Ok(ParsedRequest { from, filter, limit, stored_only: req.stored_only })
}

type ReplayStream = Pin<Box<dyn Stream<Item = Result<v1::RecordedEvent, Status>> + Send>>;

#[tonic::async_trait]
impl LedgerReplay for ReplayService {
    type ReplayStream = ReplayStream;

    #[tracing::instrument(skip_all)]
    async fn replay(&self, request: Request<v1::ReplayRequest>) -> Result<Response<ReplayStream>, Status> {
        let principal = ledger_auth::principal(&request)?;
        authorize_replay(&principal).map_err(|d| ledger_auth::deny(&principal, d))?;
        let ParsedRequest { from, filter, limit, stored_only } = parse_request(request.into_inner())?;
        let open = self.open.open(&principal.subject)?;
        self.check_exists(&filter).await?;
        let subject = filter.aggregate.as_ref().map(|a| self.log.subject(a));
        let end = self.log.end().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let messages = self.log.read(from, subject, end).await.map_err(|e| Status::unavailable(e.to_string()))?;
        let replaying = Replaying {
            messages: Box::pin(messages),
            owners: (filter.coalition.is_some()).then(Owners::default),
            learned: false,
            log: self.log.clone(),
            filter,
            stored_only,
        };
        let stream = futures::stream::unfold(replaying, |mut r| async move {
            let item = r.next().await?;
            Some((item, r))
        })
        .take(limit)
        // The replay counts as open until its stream is dropped.
        .map(move |item| {
            let _open = &open;
            item
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_from_position_1_without_a_limit_unless_it_says_otherwise() {
        let all = parse_request(v1::ReplayRequest::default()).unwrap();
        let everything = ParsedRequest {
            from: ReadFrom::Position(1),
            filter: Filter::default(),
            limit: usize::MAX,
            stored_only: false,
        };
        assert_eq!(all, everything);
        let req = v1::ReplayRequest {
            start: Some(v1::replay_request::Start::FromPosition(0)),
            coalition_id: "se".into(),
            limit: 10,
            ..Default::default()
        };
        let some = parse_request(req).unwrap();
        assert_eq!((some.from, some.filter.coalition.as_deref(), some.limit), (ReadFrom::Position(1), Some("se"), 10));
    }

    #[test]
    fn a_malformed_start_coalition_or_aggregate_is_invalid_naming_it() {
        use v1::replay_request::Start;
        let before_year_1 = prost_types::Timestamp { seconds: -62_135_596_801, nanos: 0 };
        let cases = [
            ("from_time", v1::ReplayRequest { start: Some(Start::FromTime(before_year_1)), ..Default::default() }),
            ("coalition_id", v1::ReplayRequest { coalition_id: "SE!".into(), ..Default::default() }),
            ("aggregate", v1::ReplayRequest { aggregate: Some(v1::AggregateRef::default()), ..Default::default() }),
        ];
        for (field, req) in cases {
            let status = parse_request(req).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{field}");
            assert!(status.message().contains(field), "{field}: {}", status.message());
        }
    }
}
