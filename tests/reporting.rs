//! Reporting: the demo history through the API, and every read model compared with the same figures computed
//! independently, in this file, from the log replayed from the start.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use coalition_ledger::startup::{Application, Roles};
use common::*;
use futures::TryStreamExt;
use ledger_domain::EventKind;
use ledger_log::ReadFrom;
use ledger_proto::RecordedEvent;
use ledger_proto::v1;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use time::Date;
use tonic::transport::Channel;

/// Every event of the log, decoded, in order.
async fn replay(app: &TestApp) -> Vec<RecordedEvent> {
    let log = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap();
    let end = log.end().await.unwrap();
    let msgs: Vec<_> = log.read(ReadFrom::Position(1), None, end).await.unwrap().try_collect().await.unwrap();
    msgs.iter().map(|m| m.decode().unwrap()).collect()
}

fn ym(d: Date) -> String {
    d.to_string()[..7].to_owned()
}

fn quarter(d: Date) -> String {
    format!("{}-Q{}", d.year(), (u8::from(d.month()) - 1) / 3 + 1)
}

/// A request for one page of everything, at or after `position`.
fn all(position: u64, offset: u64) -> v1::ReportRequest {
    v1::ReportRequest {
        page: Some(v1::Page { page_size: 1000, offset }),
        consistency: Some(v1::Consistency { min_position: position, max_wait_ms: 10_000 }),
        ..Default::default()
    }
}

/// Every page of a paginated call.
macro_rules! every_page {
    ($query:expr, $call:ident, $rows:ident, $position:expr) => {{
        let mut rows = Vec::new();
        let mut offset = 0;
        loop {
            let r = $query.$call(all($position, offset)).await.unwrap().into_inner();
            assert!(r.position >= $position);
            rows.extend(r.$rows);
            if r.next_offset == 0 {
                break rows;
            }
            assert_eq!(r.next_offset, offset + 1000, "pages follow each other");
            offset = r.next_offset;
        }
    }};
}

#[tokio::test]
async fn the_demo_history_is_accepted_and_every_read_model_matches_the_replayed_log() {
    let mut app = TestApp::spawn().await;
    let args = ledger_workload::demo::DemoArgs {
        append_url: format!("http://{}", app.append_addr),
        query_url: format!("http://{}", app.query_addr),
        seed: 2013,
        tokens: None,
    };
    // Fails if any generated event is refused, an invalid command is accepted, or the log grows meanwhile.
    ledger_workload::demo::run(args.clone()).await.unwrap();
    let events = replay(&app).await;
    let end = events.len() as u64;
    assert_eq!(end, ledger_workload::generator::generate(2013).len() as u64);
    app.wait_projected(end).await;
    let mut query = LedgerQueryClient::new(channel(app.query_addr).await);
    check_growth(&mut query, &events, end).await;
    check_pledges(&mut query, &events, end, None).await;
    // The EU coalition holds the pledges, the national ones the courses and content.
    let eu = ["pledge_approved", "initiative_added", "progress_reported", "pledge_completed"];
    check_coalition_replay(&mut app, &mut query, &events, end, "eu", &eu).await;
    let se = [
        "course_run_completed",
        "content_withdrawn",
        "activity_reported",
        "working_group_meeting_held",
        "partnership_member_appointed",
    ];
    check_coalition_replay(&mut app, &mut query, &events, end, "se", &se).await;
    check_outcomes(&mut query, &events, end).await;
    check_participation_and_content(&mut query, &events, end).await;
    check_dormant(&mut query, &events, end).await;
    check_programmes(&mut query, &events, end, None).await;
    // The replay's filters take the new aggregates and event types.
    for (kind, id, types) in [
        (v1::AggregateType::Programme, ledger_workload::generator::PROGRAMME, vec![]),
        (v1::AggregateType::NationalCoordinator, "se", vec![]),
        (v1::AggregateType::Unspecified, "", vec!["working_group_meeting_held".to_owned()]),
    ] {
        let aggregate = (!id.is_empty()).then(|| v1::AggregateRef { r#type: kind.into(), id: id.into() });
        let wanted = aggregate.as_ref().map(|a| ledger_proto::convert::aggregate_to_domain(Some(a)).unwrap());
        let expected: Vec<u64> = events
            .iter()
            .filter(|r| wanted.as_ref().is_none_or(|a| r.aggregate == *a))
            .filter(|r| types.is_empty() || types.iter().any(|t| t == r.event.kind.type_name()))
            .map(|r| r.position)
            .collect();
        let request = v1::ReplayRequest { aggregate, event_types: types, ..Default::default() };
        let got: Vec<u64> =
            app.replay.replay(request).await.unwrap().into_inner().map_ok(|e| e.position).try_collect().await.unwrap();
        assert!(!expected.is_empty());
        assert_eq!(got, expected, "the replay of {kind:?} {id}");
    }

    // Every projection is live, caught up, with nothing quarantined.
    let status = app.query.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
    for p in &status.projections {
        assert_eq!((p.state.as_str(), p.lag, p.quarantined), ("live", 0, 0), "{p:?}");
    }
    // Running the demo again writes nothing.
    ledger_workload::demo::run(args).await.unwrap();
    let again = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap().end().await.unwrap();
    assert_eq!(again, end);
}

async fn check_growth(query: &mut LedgerQueryClient<Channel>, events: &[RecordedEvent], end: u64) {
    let mut members: HashMap<(String, String), ()> = HashMap::new();
    let mut months: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    let mut org_kind: HashMap<String, (&'static str, &'static str)> = HashMap::new();
    let mut by_kind: HashMap<(&'static str, &'static str), i64> = HashMap::new();
    let mut coalitions: HashMap<String, (bool, bool, bool)> = HashMap::new(); // national, connected, active
    for r in events {
        match &r.event.kind {
            EventKind::CoalitionEstablished(e) => {
                let national = e.kind == ledger_domain::event::CoalitionKind::National;
                coalitions.insert(r.aggregate.id().to_owned(), (national, false, true));
            }
            EventKind::CoalitionWebsiteConnected(_) => coalitions.get_mut(r.aggregate.id()).unwrap().1 = true,
            EventKind::CoalitionDeactivated(_) => coalitions.get_mut(r.aggregate.id()).unwrap().2 = false,
            EventKind::OrganisationRegistered(e) => {
                org_kind.insert(r.aggregate.id().to_owned(), (e.organisation_type.name(), e.size.name()));
            }
            EventKind::MembershipApproved(e) => {
                members.insert((e.coalition_id.to_string(), e.organisation_id.to_string()), ());
                months.entry((e.coalition_id.to_string(), ym(e.joined_on))).or_default().0 += 1;
                *by_kind.entry(org_kind[e.organisation_id.as_str()]).or_default() += 1;
            }
            EventKind::MembershipLeft(e) => {
                members.remove(&(e.coalition_id.to_string(), e.organisation_id.to_string()));
                months.entry((e.coalition_id.to_string(), ym(e.left_on))).or_default().1 += 1;
                *by_kind.entry(org_kind[e.organisation_id.as_str()]).or_default() -= 1;
            }
            _ => {}
        }
    }
    // Current members per coalition.
    let current = every_page!(query, current_members, coalitions, end);
    let mut expected: HashMap<String, i64> = coalitions.keys().map(|c| (c.clone(), 0)).collect();
    for (c, _) in members.keys() {
        *expected.get_mut(c).unwrap() += 1;
    }
    let got: HashMap<String, i64> = current.iter().map(|c| (c.coalition_id.clone(), c.members)).collect();
    assert_eq!(got, expected);
    let connected = current.iter().filter(|c| !c.website_url.is_empty() && c.deactivated_on.is_empty()).count();
    assert_eq!(connected, coalitions.values().filter(|c| c.1 && c.2).count());

    // Joins, leaves and cumulative members per coalition and month.
    let growth = every_page!(query, coalition_growth, months, end);
    let mut cumulative: HashMap<String, i64> = HashMap::new();
    let expected: Vec<(String, String, i64, i64, i64)> = months
        .iter()
        .map(|((c, m), (j, l))| {
            let total = cumulative.entry(c.clone()).or_default();
            *total += j - l;
            (c.clone(), m.clone(), *j, *l, *total)
        })
        .collect();
    let got: Vec<_> =
        growth.iter().map(|g| (g.coalition_id.clone(), g.month.clone(), g.joins, g.leaves, g.cumulative)).collect();
    assert_eq!(got, expected);

    // Members by organisation type and size: the sum of net over all months is today's composition.
    let rows = every_page!(query, members_by_type, rows, end);
    let mut got: HashMap<(String, String), i64> = HashMap::new();
    for r in rows {
        *got.entry((r.organisation_type, r.size)).or_default() += r.net;
    }
    let expected: HashMap<(String, String), i64> =
        by_kind.into_iter().map(|((t, s), n)| ((t.to_owned(), s.to_owned()), n)).collect();
    assert_eq!(got, expected);

    // National coalitions and connected sites now: the last month of the timeline.
    let national = every_page!(query, national_coalitions, months, end);
    let last = national.last().unwrap();
    assert_eq!(last.national_coalitions as usize, coalitions.values().filter(|c| c.0 && c.2).count());
    assert_eq!(last.connected_sites as usize, coalitions.values().filter(|c| c.1 && c.2).count());
    assert_eq!(last.national_coalitions, 25, "docs/domain.md: 25 national coalitions");
}

/// Per (pledge, initiative, indicator): the figure of the report covering the latest period, after corrections.
fn latest_progress(events: &[RecordedEvent]) -> HashMap<(String, String, &'static str), (Date, i64)> {
    let mut reports: HashMap<(String, String), (String, Date)> = HashMap::new();
    let mut values: HashMap<(String, String), Vec<(&'static str, i64)>> = HashMap::new();
    for r in events {
        let pledge = r.aggregate.id().to_owned();
        match &r.event.kind {
            EventKind::ProgressReported(e) => {
                reports.insert((pledge.clone(), e.report_id.to_string()), (e.initiative_id.to_string(), e.period_end));
                let v = e.progress.cumulative.iter().map(|(i, n)| (i.name(), *n)).collect();
                values.insert((pledge, e.report_id.to_string()), v);
            }
            EventKind::ProgressCorrected(e) => {
                let v = values.get_mut(&(pledge, e.report_id.to_string())).unwrap();
                for (i, n) in &e.progress.cumulative {
                    if let Some(x) = v.iter_mut().find(|(name, _)| *name == i.name()) {
                        x.1 = *n;
                    }
                }
            }
            _ => {}
        }
    }
    let mut latest: HashMap<(String, String, &'static str), (Date, i64)> = HashMap::new();
    for ((pledge, report), (initiative, period)) in &reports {
        for (indicator, n) in &values[&(pledge.clone(), report.clone())] {
            let e = latest.entry((pledge.clone(), initiative.clone(), indicator)).or_insert((*period, *n));
            if *period > e.0 {
                *e = (*period, *n);
            }
        }
    }
    latest
}

/// A coalition's replay: exactly the events of its history (its own, those naming it, and those of aggregates
/// created for it), each with the bytes the log stores, also when started midway; and its pledge figures rebuilt
/// from that replay alone equal the read models' rows of the coalition.
async fn check_coalition_replay(
    app: &mut TestApp,
    query: &mut LedgerQueryClient<Channel>,
    events: &[RecordedEvent],
    end: u64,
    coalition: &str,
    not_naming_it: &[&str],
) {
    // Ownership computed here from the whole log: an aggregate belongs to the first coalition one of its events
    // names (a coalition's own aggregate to itself).
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut expected = Vec::new();
    for r in events {
        let key = r.aggregate.to_string();
        let named = match r.aggregate.kind() {
            ledger_domain::AggregateType::Coalition => Some(r.aggregate.id().to_owned()),
            _ => r.event.kind.coalition_id().map(|c| c.to_string()),
        };
        if let Some(c) = &named {
            owner.entry(key.clone()).or_insert_with(|| c.clone());
        }
        if named.as_deref().or(owner.get(&key).map(String::as_str)) == Some(coalition) {
            expected.push(r.position);
        }
    }
    let request = |from: u64| v1::ReplayRequest {
        coalition_id: coalition.into(),
        start: Some(v1::replay_request::Start::FromPosition(from)),
        ..Default::default()
    };
    let replayed: Vec<v1::RecordedEvent> =
        app.replay.replay(request(1)).await.unwrap().into_inner().try_collect().await.unwrap();
    assert_eq!(replayed.iter().map(|e| e.position).collect::<Vec<_>>(), expected, "the coalition's history");
    let types: HashSet<&str> = replayed.iter().map(|e| e.event_type.as_str()).collect();
    for t in not_naming_it {
        assert!(types.contains(t), "{t} is in {coalition}'s replay: {types:?}");
    }
    // What was replayed is what the log stores, decoded by the client itself.
    let decoded: Vec<RecordedEvent> = replayed
        .iter()
        .map(|e| {
            let aggregate = ledger_proto::convert::aggregate_to_domain(e.aggregate.as_ref()).unwrap();
            let r = ledger_proto::stored::decode(e.position, &aggregate.subject_suffix(), &e.stored).unwrap();
            assert_eq!(r, events[(e.position - 1) as usize], "the stored bytes at {}", e.position);
            r
        })
        .collect();
    // Started midway, the replay still knows which aggregates are the coalition's.
    let midway = expected[expected.len() / 2];
    let later: Vec<u64> = app
        .replay
        .replay(request(midway))
        .await
        .unwrap()
        .into_inner()
        .map_ok(|e| e.position)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(later, expected[expected.len() / 2..], "the history from {midway}");
    check_pledges(query, &decoded, end, Some(coalition)).await;
    check_programmes(query, &decoded, end, Some(coalition)).await;
    // Filters naming what the log does not hold are refused.
    for bad in [
        v1::ReplayRequest { coalition_id: "atlantis".into(), ..Default::default() },
        v1::ReplayRequest { event_types: vec!["pledge_teleported".into()], ..Default::default() },
        v1::ReplayRequest {
            aggregate: Some(v1::AggregateRef { r#type: v1::AggregateType::Pledge.into(), id: "org-x.nothing".into() }),
            ..Default::default()
        },
    ] {
        let err = app.replay.replay(bad.clone()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}: {err:?}");
    }
}

/// The pledge read models against the figures computed from `events`; for `coalition`, only its rows (and the
/// per-organisation board, which sums over coalitions, is not compared).
async fn check_pledges(
    query: &mut LedgerQueryClient<Channel>,
    events: &[RecordedEvent],
    end: u64,
    coalition: Option<&str>,
) {
    let mut status: HashMap<String, (String, &'static str)> = HashMap::new();
    let mut targets: HashMap<(String, String, &'static str), i64> = HashMap::new();
    for r in events {
        let id = r.aggregate.id().to_owned();
        match &r.event.kind {
            EventKind::PledgeSubmitted(e) => {
                status.insert(id, (e.coalition_id.to_string(), "submitted"));
            }
            EventKind::PledgeApproved(_) => status.get_mut(&id).unwrap().1 = "approved",
            EventKind::PledgeCompleted(_) => status.get_mut(&id).unwrap().1 = "completed",
            EventKind::PledgeWithdrawn(_) => status.get_mut(&id).unwrap().1 = "withdrawn",
            EventKind::InitiativeAdded(e) => {
                for (i, n) in &e.targets {
                    targets.insert((id.clone(), e.initiative_id.to_string(), i.name()), *n);
                }
            }
            EventKind::TargetRevised(e) => {
                targets.insert((id, e.initiative_id.to_string(), e.indicator.name()), e.new_target);
            }
            _ => {}
        }
    }
    let mut expected: HashMap<(String, String), i64> = HashMap::new();
    for (c, s) in status.values() {
        *expected.entry((c.clone(), (*s).to_owned())).or_default() += 1;
    }
    let mine = |c: &str| coalition.is_none_or(|x| x == c);
    let pipeline = every_page!(query, pledge_pipeline, rows, end);
    let got: HashMap<(String, String), i64> = pipeline
        .into_iter()
        .filter(|r| mine(&r.coalition_id))
        .map(|r| ((r.coalition_id, r.status), r.pledges))
        .collect();
    assert_eq!(got, expected);

    // Scoreboard: target and achieved per pledge and indicator.
    let latest = latest_progress(events);
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for ((pledge, initiative, indicator), target) in &targets {
        let e = expected.entry((pledge.clone(), (*indicator).to_owned())).or_default();
        e.0 += target;
        e.1 += latest.get(&(pledge.clone(), initiative.clone(), indicator)).map_or(0, |x| x.1);
    }
    let mut board = every_page!(query, pledge_scoreboard, rows, end);
    board.retain(|r| mine(&r.coalition_id));
    let got: BTreeMap<(String, String), (i64, i64)> =
        board.iter().map(|r| ((r.pledge_id.clone(), r.indicator.clone()), (r.target, r.achieved))).collect();
    assert_eq!(got.len(), board.len(), "one row per pledge and indicator");
    assert_eq!(got, expected);
    for r in &board {
        if r.target > 0 {
            let pct = (1000.0 * r.achieved as f64 / r.target as f64).round() / 10.0;
            assert!((r.pct_attained - pct).abs() < 0.051, "{r:?}");
        }
    }
    if coalition.is_some() {
        return;
    }
    // The per-organisation board sums the same rows.
    let by_org = every_page!(query, organisation_scoreboard, rows, end);
    let total = |f: fn(&v1::ScoreboardRow) -> i64| board.iter().map(f).sum::<i64>();
    assert_eq!(by_org.iter().map(|r| r.achieved).sum::<i64>(), total(|r| r.achieved));
    assert_eq!(by_org.iter().map(|r| r.target).sum::<i64>(), total(|r| r.target));
}

async fn check_outcomes(query: &mut LedgerQueryClient<Channel>, events: &[RecordedEvent], end: u64) {
    // Summed over all years, an indicator's outcome is the latest cumulative figure of every initiative.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for ((_, _, indicator), (_, n)) in latest_progress(events) {
        *expected.entry(indicator.to_owned()).or_default() += n;
    }
    let rows = every_page!(query, outcomes, rows, end);
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rows {
        *got.entry(r.indicator.clone()).or_default() += r.amount;
        assert!(r.women <= r.people && r.women_share <= 100.0, "{r:?}");
    }
    assert_eq!(got, expected);
    // The year 2021 alone, through the period filter, is the rows of 2021.
    let mut only = all(end, 0);
    only.filter = Some(v1::ReportFilter { from: "2021".into(), to: "2022".into(), ..Default::default() });
    let filtered = query.outcomes(only).await.unwrap().into_inner().rows;
    assert!(!filtered.is_empty());
    assert_eq!(filtered, rows.iter().filter(|r| r.year == 2021).cloned().collect::<Vec<_>>());
}

async fn check_participation_and_content(query: &mut LedgerQueryClient<Channel>, events: &[RecordedEvent], end: u64) {
    let mut course_coalition: HashMap<String, String> = HashMap::new();
    let mut expected: BTreeMap<(String, String, &'static str), (i64, i64, i64)> = BTreeMap::new();
    let mut content: HashMap<String, (String, String, &'static str, bool)> = HashMap::new();
    for r in events {
        let id = r.aggregate.id().to_owned();
        match &r.event.kind {
            EventKind::CourseListed(e) => {
                course_coalition.insert(id, e.coalition_id.to_string());
            }
            EventKind::CourseRunCompleted(e) => {
                let x =
                    expected.entry((quarter(e.ended_on), course_coalition[&id].clone(), "course_runs")).or_default();
                *x = (x.0 + 1, x.1 + e.enrolled, x.2 + e.women_enrolled);
            }
            EventKind::ActivityReported(e) => {
                let x = expected.entry((quarter(e.held_on), e.coalition_id.to_string(), "activities")).or_default();
                *x = (x.0 + 1, x.1 + e.participants, x.2 + e.women);
            }
            EventKind::ContentShared(e) => {
                content.insert(id, (e.coalition_id.to_string(), quarter(e.shared_on), e.content_type.name(), false));
            }
            EventKind::ContentWithdrawn(_) => content.get_mut(&id).unwrap().3 = true,
            _ => {}
        }
    }
    let rows = every_page!(query, participation, rows, end);
    let mut got: BTreeMap<(String, String, &'static str), (i64, i64, i64)> = BTreeMap::new();
    for r in rows {
        let source = if r.source == "course_runs" { "course_runs" } else { "activities" };
        let x = got.entry((r.quarter, r.coalition_id, source)).or_default();
        *x = (x.0 + r.held, x.1 + r.participants, x.2 + r.women);
    }
    assert_eq!(got, expected);

    let mut expected: HashMap<(String, String, String), (i64, i64)> = HashMap::new();
    for (c, q, t, withdrawn) in content.values() {
        let x = expected.entry((c.clone(), q.clone(), (*t).to_owned())).or_default();
        *x = (x.0 + 1, x.1 + i64::from(*withdrawn));
    }
    let rows = every_page!(query, content_shared, rows, end);
    let got: HashMap<(String, String, String), (i64, i64)> =
        rows.into_iter().map(|r| ((r.coalition_id, r.quarter, r.content_type), (r.shared, r.withdrawn))).collect();
    assert!(!got.is_empty());
    assert_eq!(got, expected);
}

/// One page of a report for `coalition` (every coalition if `None`) on `as_of`, at or after `position`.
fn page_of(position: u64, coalition: Option<&str>, as_of: &str) -> v1::ReportRequest {
    v1::ReportRequest {
        filter: Some(v1::ReportFilter { coalition_id: coalition.unwrap_or_default().into(), ..Default::default() }),
        as_of: as_of.into(),
        ..all(position, 0)
    }
}

/// The programmes read model against the figures computed from `events` (for `coalition`: its replay, and only
/// its rows; the coordinators belong to member states and are compared over the whole log).
///
/// Over 100 lines because it recounts each of the five reports.
async fn check_programmes(
    query: &mut LedgerQueryClient<Channel>,
    events: &[RecordedEvent],
    end: u64,
    coalition: Option<&str>,
) {
    #[derive(Default, Debug, Clone, PartialEq)]
    struct Overview {
        areas: i64,
        groups: HashMap<String, bool>,
        members: HashMap<String, (String, Date, Option<Date>)>,
        appointments: Vec<(String, String, Date, Option<Date>)>,
        participants: HashMap<(String, String), (Date, Option<Date>)>,
        meetings: i64,
        anchored: i64,
        deliverables: i64,
    }
    // Per programme; per (programme, group, quarter): joined, left, meetings, anchored, present, deliverables.
    let mut programmes: BTreeMap<String, Overview> = BTreeMap::new();
    let mut quarters: BTreeMap<(String, String, String), [i64; 6]> = BTreeMap::new();
    let mut coordinators: BTreeMap<(String, Date), (String, Option<Date>)> = BTreeMap::new();
    let mut national: HashMap<String, String> = HashMap::new();
    let left_in = |quarters: &mut BTreeMap<_, [i64; 6]>, p: &str, g: &str, on: Date| {
        quarters.entry((p.to_owned(), g.to_owned(), quarter(on))).or_default()[1] += 1;
    };
    for r in events {
        let id = r.aggregate.id().to_owned();
        // Only a programme's events touch `p`; a programme's first event is its launch.
        let mut other = Overview::default();
        let p = if r.aggregate.kind() == ledger_domain::AggregateType::Programme {
            programmes.entry(id.clone()).or_default()
        } else {
            &mut other
        };
        let q = |g: &ledger_domain::Token, on: Date| (id.clone(), g.to_string(), quarter(on));
        match &r.event.kind {
            EventKind::CoalitionEstablished(e) => {
                // The first established of a country's national coalitions.
                if let Some(c) = &e.country {
                    national.entry(c.as_str().to_owned()).or_insert_with(|| id.clone());
                }
            }
            EventKind::ProgrammeLaunched(e) => p.areas = e.priority_areas.len() as i64,
            EventKind::PriorityAreaAdded(_) => p.areas += 1,
            EventKind::PartnershipMemberAppointed(e) => {
                p.members.insert(e.member_id.to_string(), (e.sector.name().to_owned(), e.appointed_on, None));
                p.appointments.push((e.member_id.to_string(), e.sector.name().to_owned(), e.appointed_on, None));
            }
            EventKind::PartnershipMemberLeft(e) => {
                p.members.remove(e.member_id.as_str());
                let a = p.appointments.iter_mut().rev().find(|a| a.0 == e.member_id.as_str()).unwrap();
                a.3 = Some(e.left_on);
            }
            EventKind::WorkingGroupStarted(e) => {
                p.groups.insert(e.group_id.to_string(), true);
            }
            EventKind::WorkingGroupParticipantJoined(e) => {
                p.participants.insert((e.group_id.to_string(), e.participant_id.to_string()), (e.joined_on, None));
                quarters.entry(q(&e.group_id, e.joined_on)).or_default()[0] += 1;
            }
            EventKind::WorkingGroupParticipantLeft(e) => {
                p.participants.remove(&(e.group_id.to_string(), e.participant_id.to_string()));
                left_in(&mut quarters, &id, e.group_id.as_str(), e.left_on);
            }
            EventKind::WorkingGroupMeetingHeld(e) => {
                p.meetings += 1;
                p.anchored += i64::from(e.anchored);
                let x = quarters.entry(q(&e.group_id, e.held_on)).or_default();
                x[2] += 1;
                x[3] += i64::from(e.anchored);
                x[4] += e.present.len() as i64;
            }
            EventKind::WorkingGroupDeliverableReported(e) => {
                p.deliverables += 1;
                quarters.entry(q(&e.group_id, e.reported_on)).or_default()[5] += 1;
            }
            EventKind::WorkingGroupClosed(e) => {
                p.groups.insert(e.group_id.to_string(), false);
                let gone: Vec<_> = p.participants.keys().filter(|(g, _)| g == e.group_id.as_str()).cloned().collect();
                for k in gone {
                    p.participants.remove(&k);
                    left_in(&mut quarters, &id, e.group_id.as_str(), e.closed_on);
                }
            }
            EventKind::ProgrammeEnded(e) => {
                p.members.clear();
                for a in p.appointments.iter_mut().filter(|a| a.3.is_none()) {
                    a.3 = Some(e.ended_on);
                }
            }
            EventKind::NationalCoordinatorNominated(e) => {
                coordinators.insert((e.member_state.as_str().to_owned(), e.nominated_on), (e.name.clone(), None));
            }
            EventKind::NationalCoordinatorReplaced(e) => {
                let state = id.to_uppercase();
                let current = coordinators.iter_mut().rev().find(|((c, _), _)| *c == state).unwrap();
                current.1.1 = Some(e.replaced_on);
                coordinators.insert((state, e.replaced_on), (e.name.clone(), None));
            }
            _ => {}
        }
    }
    // The whole log has Sweden's programme (a coalition's replay may have none: its comparison is then of nothing).
    assert!(coalition.is_some() || !programmes.is_empty(), "the history has a programme");

    let overview = query.programme_overview(page_of(end, coalition, "")).await.unwrap().into_inner().rows;
    let got: BTreeMap<String, [i64; 8]> = overview
        .iter()
        .map(|r| {
            let rate = (r.anchoring_rate * 10.0).round() as i64;
            (
                r.programme_id.clone(),
                [
                    r.priority_areas,
                    r.working_groups,
                    r.open_groups,
                    r.members,
                    r.participants,
                    r.meetings,
                    r.anchored_meetings,
                    r.deliverables + rate * 1_000_000,
                ],
            )
        })
        .collect();
    let expected: BTreeMap<String, [i64; 8]> = programmes
        .iter()
        .map(|(id, p)| {
            let rate = if p.meetings > 0 { (1000.0 * p.anchored as f64 / p.meetings as f64).round() as i64 } else { 0 };
            let open = p.groups.values().filter(|o| **o).count() as i64;
            (
                id.clone(),
                [
                    p.areas,
                    p.groups.len() as i64,
                    open,
                    p.members.len() as i64,
                    p.participants.len() as i64,
                    p.meetings,
                    p.anchored,
                    p.deliverables + rate * 1_000_000,
                ],
            )
        })
        .collect();
    assert_eq!(got, expected, "the programme overview");

    let sectors = query.programme_members_by_sector(page_of(end, coalition, "")).await.unwrap().into_inner().rows;
    let got: BTreeMap<(String, String), (i64, i64)> =
        sectors.into_iter().map(|r| ((r.programme_id, r.sector), (r.members, r.appointed))).collect();
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (id, p) in &programmes {
        for (_, sector, _, left) in &p.appointments {
            let x = expected.entry((id.clone(), sector.clone())).or_default();
            *x = (x.0 + i64::from(left.is_none()), x.1 + 1);
        }
    }
    assert_eq!(got, expected, "the partnership group by sector");

    let rows = query.working_groups_quarterly(page_of(end, coalition, "")).await.unwrap().into_inner().rows;
    let mut at_end: HashMap<(String, String), i64> = HashMap::new();
    let expected: BTreeMap<(String, String, String), [i64; 7]> = quarters
        .into_iter()
        .map(|((p, g, q), x)| {
            let n = at_end.entry((p.clone(), g.clone())).or_default();
            *n += x[0] - x[1];
            ((p, g, q), [x[0], x[1], *n, x[2], x[3], x[4], x[5]])
        })
        .collect();
    let got: BTreeMap<(String, String, String), [i64; 7]> = rows
        .into_iter()
        .map(|r| {
            (
                (r.programme_id, r.group_id, r.quarter),
                [r.joins, r.leaves, r.participants, r.meetings, r.anchored, r.present, r.deliverables],
            )
        })
        .collect();
    assert_eq!(got, expected, "the working groups per quarter");

    // The partnership group's composition on a few dates, from the appointments and their ends.
    for on in ["2023-01-31", "2024-12-31", "2025-06-30", "2026-10-31"] {
        let d = Date::parse(on, &time::format_description::well_known::Iso8601::DATE).unwrap();
        let r = query.partnership_group(page_of(end, coalition, on)).await.unwrap().into_inner();
        assert_eq!(r.as_of, on);
        let got: Vec<(String, String)> = r.rows.into_iter().map(|r| (r.programme_id, r.member_id)).collect();
        let mut expected: Vec<(String, String)> = programmes
            .iter()
            .flat_map(|(id, p)| {
                p.appointments
                    .iter()
                    .filter(move |(_, _, from, to)| *from <= d && to.is_none_or(|to| d < to))
                    .map(move |(m, ..)| (id.clone(), m.clone()))
            })
            .collect();
        expected.sort();
        assert_eq!(got, expected, "the partnership group on {on}");
    }
    if coalition.is_some() {
        return;
    }
    let rows = query.national_coordinators(page_of(end, None, "")).await.unwrap().into_inner().rows;
    let got: Vec<(String, String, String, String, String)> =
        rows.into_iter().map(|r| (r.country, r.coalition_id, r.name, r.from_on, r.until_on)).collect();
    let expected: Vec<(String, String, String, String, String)> = coordinators
        .into_iter()
        .map(|((c, from), (name, until))| {
            let coalition = national.get(&c).cloned().unwrap_or_default();
            (c, coalition, name, from.to_string(), until.map(|d| d.to_string()).unwrap_or_default())
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected, "the national coordinators");
}

async fn check_dormant(query: &mut LedgerQueryClient<Channel>, events: &[RecordedEvent], end: u64) {
    let as_of = ledger_workload::generator::end_of_history();
    let year_before = as_of.replace_year(as_of.year() - 1).unwrap();
    let mut members: HashMap<(String, String), Date> = HashMap::new();
    // Engagement counts per coalition: a course's and a pledge's coalition come from their first event.
    let mut provider: HashMap<String, (String, String)> = HashMap::new();
    let mut pledge_of: HashMap<String, String> = HashMap::new();
    let mut engaged: HashSet<(String, String)> = HashSet::new();
    let mut engage = |coalition: String, org: String, on: Date| {
        if on > year_before && on <= as_of {
            engaged.insert((coalition, org));
        }
    };
    for r in events {
        match &r.event.kind {
            EventKind::MembershipApproved(e) => {
                members.insert((e.coalition_id.to_string(), e.organisation_id.to_string()), e.joined_on);
            }
            EventKind::MembershipLeft(e) => {
                members.remove(&(e.coalition_id.to_string(), e.organisation_id.to_string()));
            }
            EventKind::CourseListed(e) => {
                provider.insert(r.aggregate.id().to_owned(), (e.coalition_id.to_string(), e.provider_id.to_string()));
            }
            EventKind::CourseRunCompleted(e) => {
                let (c, o) = provider[r.aggregate.id()].clone();
                engage(c, o, e.ended_on)
            }
            EventKind::ActivityReported(e) => {
                engage(e.coalition_id.to_string(), e.organisation_id.to_string(), e.held_on)
            }
            _ if r.aggregate.kind() == ledger_domain::AggregateType::Pledge => {
                if let EventKind::PledgeSubmitted(e) = &r.event.kind {
                    pledge_of.insert(r.aggregate.id().to_owned(), e.coalition_id.to_string());
                }
                let c = pledge_of[r.aggregate.id()].clone();
                engage(c, r.aggregate.organisation_id().unwrap().to_owned(), r.event.meta.occurred_at.date());
            }
            _ => {}
        }
    }
    let mut expected: Vec<(String, String)> = members
        .iter()
        .filter(|(k, joined)| **joined <= year_before && !engaged.contains(k))
        .map(|(k, _)| k.clone())
        .collect();
    expected.sort();
    let mut request = all(end, 0);
    request.as_of = as_of.to_string();
    let first = query.dormant_members(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.total as usize, expected.len());
    assert_eq!(first.as_of, as_of.to_string());
    let mut got: Vec<(String, String)> =
        first.rows.iter().map(|r| (r.coalition_id.clone(), r.organisation_id.clone())).collect();
    let mut next = first.next_offset;
    while next != 0 {
        request.page = Some(v1::Page { page_size: 1000, offset: next });
        let page = query.dormant_members(request.clone()).await.unwrap().into_inner();
        got.extend(page.rows.iter().map(|r| (r.coalition_id.clone(), r.organisation_id.clone())));
        next = page.next_offset;
    }
    assert_eq!(got, expected);
    assert!(!expected.is_empty(), "the demo history has dormant members");
}

#[tokio::test]
async fn a_changed_definition_is_rebuilt_in_a_shadow_schema_while_queries_see_only_complete_answers() {
    let mut app = TestApp::spawn().await;
    let end = append_history(&mut app, 4000).await;
    app.wait_projected(end).await;
    let mut query = LedgerQueryClient::new(channel(app.query_addr).await);
    let growth = every_page!(query, coalition_growth, months, end);
    let board = every_page!(query, pledge_scoreboard, rows, end);
    let (nats, db, settings, stopped) = app.stop().await;
    stopped.unwrap();

    // The deployed definitions are now "older" than the code: the next projector rebuilds both from the log.
    let client = db.client().await;
    let old: Vec<(String, String)> = client
        .query(
            "UPDATE ledger.projections SET version = version - 1 WHERE name IN ('coalition_growth', 'pledges')
             RETURNING name, schema_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(old.len(), 2);
    let app = TestApp::start(
        nats,
        db,
        settings.clone(),
        Roles { append: true, query: true, projector: false, notary: false },
    )
    .await;

    // Dashboards keep asking while the rebuild runs; every answer must be the complete one.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut q = LedgerQueryClient::new(channel(app.query_addr).await);
    let (stop_q, expected_growth, expected_board) = (stop.clone(), growth.clone(), board.clone());
    let asker = tokio::spawn(async move {
        let mut answers = 0;
        while !stop_q.is_cancelled() {
            assert_eq!(every_page!(q, coalition_growth, months, end), expected_growth, "growth during the rebuild");
            assert_eq!(every_page!(q, pledge_scoreboard, rows, end), expected_board, "scoreboard during the rebuild");
            answers += 1;
        }
        answers
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let projector = Application::build(settings, Roles { append: false, query: false, projector: true, notary: false })
        .await
        .unwrap();
    let stop_projector = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(projector.run(stop_projector.clone()));
    let mut seen_rebuilding = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let rows = client
            .query(
                "SELECT state, version, schema_name FROM ledger.projections WHERE name IN ('coalition_growth', 'pledges')",
                &[],
            )
            .await
            .unwrap();
        seen_rebuilding |= rows.iter().any(|r| r.get::<_, String>(0) == "rebuilding");
        let done = rows.iter().all(|r| {
            r.get::<_, String>(0) == "live" && !old.iter().any(|(_, schema)| *schema == r.get::<_, String>(2))
        });
        if done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the rebuild did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.cancel();
    let answers = asker.await.unwrap();
    assert!(seen_rebuilding, "the projector rebuilt");
    assert!(answers >= 5, "queries ran throughout ({answers} answers)");
    // The old schemas are gone; the views read the new ones.
    for (_, schema) in &old {
        let gone: bool = client
            .query_one("SELECT NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", &[schema])
            .await
            .unwrap()
            .get(0);
        assert!(gone, "{schema} dropped");
    }
    stop_projector.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_stalled_projection_holds_back_no_other_and_the_status_shows_its_lag() {
    let mut app = TestApp::spawn().await;
    let end = append_history(&mut app, 500).await;
    app.wait_projected(end).await;
    // Block the pledges read model: a transaction holds its table locked (as a long migration or a stuck
    // statement would).
    let mut blocker = app.db.client().await;
    let schema: String = blocker
        .query_one("SELECT schema_name FROM ledger.projections WHERE name = 'pledges'", &[])
        .await
        .unwrap()
        .get(0);
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute(&format!("LOCK TABLE {schema}.pledges IN ACCESS EXCLUSIVE MODE")).await.unwrap();

    let history = ledger_workload::generator::generate(2013);
    let mut last = end;
    for item in history.into_iter().skip(500).take(500) {
        last = app.append.append(item.request).await.unwrap().into_inner().revision.max(last);
    }
    // Every other projection reaches the end; pledges stays behind and the status says by how much.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        let s = app.query.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
        if s.projections.iter().filter(|p| p.name != "pledges").all(|p| p.position == last) {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "the other projections were held back: {s:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let pledges = status.projections.iter().find(|p| p.name == "pledges").unwrap();
    assert!(pledges.position < last && pledges.lag == status.log_end - pledges.position, "{pledges:?}");
    assert_eq!(status.projections.len(), TestApp::PROJECTIONS);
    // Released, it catches up.
    tx.rollback().await.unwrap();
    app.wait_projected(last).await;
}
