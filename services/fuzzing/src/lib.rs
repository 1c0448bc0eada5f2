//! Fuzz targets of the ledger's edges, one pure function per target: bytes in, the served code's conversion run on
//! them, never a panic (a refusal is an `Err` naming why). `fuzz/` runs them under libFuzzer (`scripts/fuzz.sh`);
//! the tests replay the committed corpus (`fuzz/corpus/<target>/`) on every test run. See `docs/fuzzing.md`.
//!
//! Where it is cheap a target also checks an invariant of what it accepted (an `assert!`, so a break is a crash
//! the fuzzer reports): a decoded stored event encodes and decodes to itself, a validated page is within its
//! bounds, request values reach SQL only as parameters.
use std::collections::BTreeSet;

use ledger_append::grpc::{MAX_APPENDS_PER_CALL, authorize, command_from_request};
use ledger_domain::Token;
use ledger_domain::access::{Coalitions, Grant, Principal, ReadScope, Role};
use ledger_domain::event::EventType;
use ledger_log::ReadFrom;
use ledger_proto::stored;
use ledger_proto::v1;
use ledger_query::query::as_of::{Point, parse_point};
use ledger_query::query::filter::{DEFAULT_PAGE, Filter, MAX_PAGE, Param, parse_as_of, parse_period};
use ledger_query::query::{MAX_WAIT, wanted_position};
use ledger_query::replay::parse_request;
use ledger_readmodel::Report;
use ledger_readmodel::reports::{DORMANT_MEMBERS, REPORTS};
use prost::Message;
use time::Date;

/// What a target says of one input: `Ok` if the served code accepted it, else why not (never a panic).
pub type Outcome = Result<(), String>;

/// A fuzz target: one input through the served code.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target by name: the name is its `fuzz/fuzz_targets/<name>.rs` and its `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("append", append),
    ("append_many", append_many),
    ("report", report),
    ("dormant_members", dormant_members),
    ("replay", replay),
    ("stored_event", stored_event),
    ("upcast", upcast),
    ("period", period),
];

/// The date DormantMembers takes for "today" when `as_of` is empty (fixed, so that a run is reproducible).
pub const TODAY: Date = time::macros::date!(2026 - 12 - 02);

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, String> {
    M::decode(data).map_err(|e| format!("does not decode: {e}"))
}

/// The callers an append is authorised for: everything, a writer of coalition `se`, a writer of every coalition.
fn writers() -> Vec<Principal> {
    let se: BTreeSet<Token> = Token::parse("coalition", "se").into_iter().collect();
    vec![
        Principal::anonymous(),
        Principal {
            subject: "svc-se".into(),
            grants: vec![Grant { role: Role::Writer, coalitions: Coalitions::Some(se) }],
        },
        Principal {
            subject: "svc-all".into(),
            grants: vec![Grant { role: Role::Writer, coalitions: Coalitions::All }],
        },
    ]
}

/// One append as `Append` and each append of `AppendMany` run it before the log is reached: the request turned
/// into a command, then authorised for each caller of [`writers`].
fn one_append(req: &v1::AppendRequest) -> Outcome {
    let cmd = command_from_request(req).map_err(|e| e.to_string())?;
    assert_eq!(cmd.events.len(), req.events.len(), "one command event per request event");
    let mut denied = Vec::new();
    for principal in writers() {
        let mut cmd = cmd.clone();
        match authorize(&principal, req, &mut cmd) {
            Ok(()) => assert_eq!(cmd.principal, principal.subject, "the command records its caller"),
            Err(status) => denied.push(status.message().to_owned()),
        }
    }
    if denied.len() == writers().len() { Err(denied.join("; ")) } else { Ok(()) }
}

/// `LedgerAppend.Append`: an `AppendRequest` to an authorised `AppendCommand`.
pub fn append(data: &[u8]) -> Outcome {
    one_append(&decode::<v1::AppendRequest>(data)?)
}

/// `LedgerAppend.AppendMany`: the count limit, then each append as `Append` takes it.
pub fn append_many(data: &[u8]) -> Outcome {
    let req = decode::<v1::AppendManyRequest>(data)?;
    if req.appends.len() > MAX_APPENDS_PER_CALL {
        return Err(format!("{} appends", req.appends.len()));
    }
    let results: Vec<Outcome> = req.appends.iter().map(one_append).collect();
    results.into_iter().collect()
}

/// The readers a report's conditions are built for: everything, and a reader of coalitions `se` and `ie`.
fn scopes() -> [ReadScope; 2] {
    let mine = ["se", "ie"].iter().filter_map(|c| Token::parse("coalition", c).ok()).collect();
    [ReadScope::All, ReadScope::Coalitions(mine)]
}

/// A report's `WHERE` conditions for each scope of [`scopes`] (`Err` if the report lacks a filter the request
/// sets; a restricted reader's refusal is not counted); request values must reach SQL only as parameters: one
/// `$n` per parameter added.
fn conditions(filter: &Filter, report: &Report, before: usize) -> Outcome {
    let mut out = Ok(());
    for (i, scope) in scopes().iter().enumerate() {
        let mut params: Vec<Param> = (0..before).map(|_| Box::new(0_i64) as Param).collect();
        match filter.conditions(report, scope, &mut params) {
            Ok(sql) => {
                assert_eq!(sql.matches('$').count(), params.len() - before, "{sql}: a value outside a parameter");
            }
            Err(e) if i == 0 => out = Err(e.to_string()),
            Err(_) => {}
        }
    }
    out
}

/// A validated filter's page is within its bounds.
fn check_page(req: &v1::ReportRequest, filter: &Filter) {
    assert!((1..=i64::from(MAX_PAGE)).contains(&filter.limit), "page size {}", filter.limit);
    assert!(filter.offset >= 0, "offset {}", filter.offset);
    let asked = req.page.map_or(0, |p| p.page_size);
    assert_eq!(filter.limit, i64::from(if asked == 0 { DEFAULT_PAGE } else { asked }));
    if let (Some(a), Some(b)) = (filter.from, filter.to) {
        assert!(a < b, "from {a} not before to {b}");
    }
}

/// Every `LedgerQuery` report call but DormantMembers: the `ReportRequest`'s filter, page, consistency and
/// `as_of_log`, and the conditions of every report of the catalogue (`Ok` if one report at least takes the
/// filters).
pub fn report(data: &[u8]) -> Outcome {
    let req = decode::<v1::ReportRequest>(data)?;
    let (_, wait) = wanted_position(req.consistency.as_ref());
    assert!(wait <= MAX_WAIT, "waits {wait:?}");
    let filter = Filter::parse(&req).map_err(|e| e.to_string())?;
    check_page(&req, &filter);
    // An as-of point is the one asked for, and never beside a consistency.
    match (parse_point(&req).map_err(|e| e.to_string())?, req.as_of_log.and_then(|a| a.point)) {
        (None, None) => {}
        (Some(Point::Position(p)), Some(v1::as_of_log::Point::Position(asked))) => assert_eq!(p, asked),
        (Some(Point::RecordedBy(t)), Some(v1::as_of_log::Point::RecordedBy(asked))) => {
            assert_eq!(t.unix_timestamp(), asked.seconds);
        }
        (point, asked) => panic!("as_of_log {asked:?} parsed as {point:?}"),
    }
    assert!(req.as_of_log.is_none() || req.consistency.is_none(), "as_of_log beside a consistency");
    let results: Vec<Outcome> = REPORTS.iter().map(|r| conditions(&filter, r, 0)).collect();
    if results.iter().any(Result::is_ok) { Ok(()) } else { results.into_iter().collect() }
}

/// `LedgerQuery.DormantMembers`: `as_of` (and the day a year before it), then the report's filter and page.
pub fn dormant_members(data: &[u8]) -> Outcome {
    let req = decode::<v1::ReportRequest>(data)?;
    let (as_of, year_before) = parse_as_of(&req.as_of, TODAY).map_err(|e| e.to_string())?;
    assert!(year_before < as_of, "{year_before} is not before {as_of}");
    wanted_position(req.consistency.as_ref());
    let filter = Filter::parse(&req).map_err(|e| e.to_string())?;
    check_page(&req, &filter);
    conditions(&filter, &DORMANT_MEMBERS, 2)
}

/// `LedgerReplay.Replay`: the request's start, filters and limit.
pub fn replay(data: &[u8]) -> Outcome {
    let req = decode::<v1::ReplayRequest>(data)?;
    let parsed = parse_request(req.clone()).map_err(|s| s.message().to_owned())?;
    if let ReadFrom::Position(p) = parsed.from {
        assert!(p >= 1, "replay from position {p}");
    }
    assert!(parsed.limit >= 1, "a limit of 0 events");
    assert_eq!(parsed.filter.event_types, req.event_types);
    Ok(())
}

/// The log's message decoder: a body read as a `StoredEvent` on its own aggregate's subject (the subject checked
/// elsewhere), the payload upcast; what decodes encodes and decodes to itself (at the current schema version).
/// An event this code cannot read is passed on raw, as replay does.
pub fn stored_event(data: &[u8]) -> Outcome {
    let envelope = stored::decode_envelope(data).map_err(|e| e.to_string())?;
    let suffix = ledger_domain::AggregateType::from_name(&envelope.aggregate_type)
        .and_then(|t| ledger_domain::Aggregate::parse(t, &envelope.aggregate_id).ok())
        .map(|a| a.subject_suffix())
        .unwrap_or_default();
    match stored::decode(7, &suffix, data) {
        Ok(r) => {
            assert!(r.written_version <= r.event.kind.schema_version(), "written in a newer version than known");
            let wire = stored::to_wire(&r);
            assert_eq!(wire.event_type, r.event.kind.type_name());
            let again = stored::decode(7, &suffix, &stored::encode(&r.aggregate, &r.event));
            let current = stored::RecordedEvent { written_version: r.event.kind.schema_version(), ..r.clone() };
            assert_eq!(again.as_ref(), Ok(&current), "re-encoded event decodes otherwise");
            assert_eq!(stored::digest(&r.aggregate, &r.event), stored::digest(&current.aggregate, &current.event));
            Ok(())
        }
        Err(e) if e.is_unknown_to_this_code() => {
            let raw = stored::raw_to_wire(7, envelope);
            assert_eq!(raw.raw_payload.len(), stored::decode_envelope(data).map_or(0, |s| s.payload.len()));
            Err(e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The upcaster alone: the first byte picks the event type, the second its schema version (0 up to one past
/// the current), the rest is the payload written at that version.
pub fn upcast(data: &[u8]) -> Outcome {
    let [t, v, payload @ ..] = data else { return Err("shorter than 2 bytes".into()) };
    let ty = EventType::ALL[usize::from(*t) % EventType::ALL.len()];
    let version = u32::from(*v) % (ty.schema_version() + 2);
    match stored::decode_payload(ty.name(), version, payload) {
        Ok(kind) => {
            assert_eq!(kind.type_name(), ty.name(), "decoded as another type");
            assert!(version <= ty.schema_version());
            Ok(())
        }
        Err(e) => {
            assert_eq!(e.is_unknown_to_this_code(), version > ty.schema_version(), "{e}");
            Err(e.to_string())
        }
    }
}

/// The period parser of `filter.from`, `filter.to` and `as_of`: the text (lossy UTF-8) as "YYYY", "YYYY-MM" or
/// "YYYY-MM-DD"; a period parsed is the first day it names and reads back from its own date.
pub fn period(data: &[u8]) -> Outcome {
    let s = String::from_utf8_lossy(data);
    let parsed = parse_period("filter.from", &s).map_err(|e| e.to_string());
    let _ = parse_as_of(&s, TODAY);
    let Some(d) = parsed? else {
        assert!(s.is_empty(), "{s:?} read as no period");
        return Ok(());
    };
    match s.len() {
        4 => assert_eq!((u8::from(d.month()), d.day()), (1, 1), "{s:?} is not a year's first day"),
        7 => assert_eq!(d.day(), 1, "{s:?} is not a month's first day"),
        _ => {}
    }
    if (0..=9999).contains(&d.year()) {
        let full = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        assert_eq!(parse_period("filter.from", &full).ok(), Some(Some(d)), "{full:?}");
    }
    Ok(())
}
