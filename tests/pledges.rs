//! Pledge rules across aggregates under real concurrency, and old schema versions read from the log.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::HashMap;

use coalition_ledger::startup::{Application, Roles};
use common::*;
use futures::TryStreamExt;
use ledger_proto::v1;
use ledger_proto::v1::event_payload::Event as P;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use tokio_util::sync::CancellationToken;
use tonic::Code;

/// A second append service on the same log, so that two processes race (no shared in-process lock).
async fn second_append_service(app: &TestApp) -> (LedgerAppendClient<tonic::transport::Channel>, CancellationToken) {
    let other =
        Application::build(app.settings.clone(), Roles { append: true, query: false, projector: false, notary: false })
            .await
            .unwrap();
    let addr = other.append_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move { other.run(s).await });
    (LedgerAppendClient::new(channel(addr).await), stop)
}

#[tokio::test]
async fn a_pledge_racing_its_organisations_leave_never_lands_after_the_leave() {
    let mut app = TestApp::spawn().await;
    let rounds = 40;
    seed(&mut app, rounds).await;
    let (mut other, stop) = second_append_service(&app).await;
    let (mut refused, mut accepted) = (0, 0);
    for i in 0..rounds {
        let org = format!("org-{i}");
        let mut a = app.append.clone();
        // Warm the second service's view of this organisation, then race a pledge against a leave, with the leave
        // starting a little later in some rounds so that both orders happen.
        other.append(pledge(&org, "p0")).await.unwrap();
        let leave = membership("se", &org, vec![left("se", &org, date(2025, 1, 1))]);
        let delay = std::time::Duration::from_micros((i as u64 % 6) * 400);
        let (p, l) = tokio::join!(other.append(pledge(&org, "p1")), async {
            tokio::time::sleep(delay).await;
            a.append(leave).await
        });
        l.expect("the leave is always allowed");
        match p {
            Ok(_) => accepted += 1,
            Err(e) if e.code() == Code::FailedPrecondition => {
                assert!(e.message().contains("pledge.requires_active_membership"), "{}", e.message());
                refused += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    stop.cancel();
    eprintln!("pledges accepted {accepted}, refused {refused}");
    assert_eq!(accepted + refused, rounds);

    // The invariant, checked on the log itself: every pledge was submitted while its organisation was a member.
    let log: Vec<v1::RecordedEvent> =
        app.replay.replay(v1::ReplayRequest::default()).await.unwrap().into_inner().try_collect().await.unwrap();
    let mut active: HashMap<String, bool> = HashMap::new();
    let mut pledges = 0;
    for e in &log {
        match e.payload.as_ref().and_then(|p| p.event.as_ref()) {
            Some(P::MembershipApproved(m)) => {
                active.insert(m.organisation_id.clone(), true);
            }
            Some(P::MembershipLeft(m)) => {
                active.insert(m.organisation_id.clone(), false);
            }
            Some(P::PledgeSubmitted(p)) => {
                pledges += 1;
                assert!(active.get(&p.organisation_id) == Some(&true), "pledge at {} after the leave", e.position);
            }
            _ => {}
        }
    }
    assert_eq!(pledges, accepted + rounds, "p0 of every round plus the accepted p1s");
}

#[tokio::test]
async fn a_v1_event_in_the_log_is_read_as_the_current_version_by_rules_and_replay() {
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 1).await;
    // Write a pledge_submitted at schema version 1 (one pillar) into the log by hand, as an older release did.
    let old = v1::PledgeSubmittedV1 {
        organisation_id: "org-0".into(),
        coalition_id: "se".into(),
        title: "Legacy pledge".into(),
        pillar: v1::Pillar::LabourForce as i32,
        countries: vec!["SE".into()],
        starts_on: date(2020, 1, 1),
        ends_on: date(2020, 12, 31),
    };
    let stored = stored_event(
        "pledge",
        "org-0.legacy",
        "pledge_submitted",
        1,
        1_580_000_000,
        prost::Message::encode_to_vec(&old),
    );
    let position = app.publish_by_hand("ledger.org.org-0.pledge.legacy", stored).await;
    assert_eq!(position, end + 1);

    // The rules read the v1 event: the pledge exists, may be approved, and a second submission is refused.
    let approve = request(
        v1::AggregateType::Pledge,
        "org-0.legacy",
        Some(v1::expected_revision::Expected::Exact(end + 1)),
        vec![event(P::PledgeApproved(v1::PledgeApproved { approved_on: date(2020, 2, 1) }))],
    );
    app.append.append(approve).await.unwrap();
    let err = app.append.append(pledge("org-0", "legacy")).await.unwrap_err();
    assert!(err.message().contains("pledge.submitted_once"), "{}", err.message());

    let replayed: Vec<v1::RecordedEvent> = app
        .replay
        .replay(v1::ReplayRequest { event_types: vec!["pledge_submitted".into()], ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].schema_version, 1, "the version it was written with");
    let Some(P::PledgeSubmitted(p)) = replayed[0].payload.as_ref().and_then(|p| p.event.clone()) else { panic!() };
    assert_eq!(p.pillars, vec![v1::Pillar::LabourForce as i32], "upcast to the current schema");
}

#[tokio::test]
async fn the_scoreboard_shows_target_achieved_and_corrections_and_late_reports_do_not_move_it_back() {
    let mut app = TestApp::spawn().await;
    seed(&mut app, 1).await;
    let agg = "org-0.p1";
    let send = |events: Vec<v1::EventData>| request(v1::AggregateType::Pledge, agg, None, events);
    let amount = |n| vec![v1::IndicatorAmount { indicator: v1::Indicator::TrainingsOnline.into(), amount: n }];
    let report = |id: &str, period: Option<v1::Date>, n: i64| {
        event(P::ProgressReported(v1::ProgressReported {
            report_id: id.into(),
            initiative_id: "i1".into(),
            period_end: period,
            progress: Some(v1::Progress { cumulative: amount(n), people: 10, women: 4, per_country: vec![] }),
        }))
    };
    app.append.append(pledge("org-0", "p1")).await.unwrap();
    app.append
        .append(send(vec![
            event(P::PledgeApproved(v1::PledgeApproved { approved_on: date(2020, 2, 1) })),
            event(P::InitiativeAdded(v1::InitiativeAdded {
                initiative_id: "i1".into(),
                title: "Online courses".into(),
                pillar: v1::Pillar::Education.into(),
                targets: amount(1000),
            })),
            report("r2", date(2020, 12, 31), 600),
            report("r1", date(2020, 6, 30), 300), // late: an earlier period, filed after r2
            event(P::ProgressCorrected(v1::ProgressCorrected {
                report_id: "r2".into(),
                progress: Some(v1::Progress { cumulative: amount(550), people: 10, women: 4, per_country: vec![] }),
                reason: "double-counted".into(),
            })),
        ]))
        .await
        .unwrap();
    let last = app.append.append(pledge("org-0", "p2")).await.unwrap().into_inner().revision;
    let mut query = ledger_proto::v1::ledger_query_client::LedgerQueryClient::new(channel(app.query_addr).await);
    let consistency = Some(v1::Consistency { min_position: last, max_wait_ms: 5000 });
    let board = query
        .pledge_scoreboard(v1::ReportRequest {
            filter: Some(v1::ReportFilter { organisation_id: "org-0".into(), ..Default::default() }),
            consistency,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(board.rows.len(), 1, "{board:?}");
    let row = &board.rows[0];
    assert_eq!((row.indicator.as_str(), row.target, row.achieved, row.corrections), ("trainings_online", 1000, 550, 1));
    assert!((row.pct_attained - 55.0).abs() < 0.01, "{}", row.pct_attained);
    assert_eq!(row.status, "approved");
    let pipeline = query.pledge_pipeline(reporting("se", consistency)).await.unwrap().into_inner();
    let by_status: HashMap<String, i64> = pipeline.rows.into_iter().map(|r| (r.status, r.pledges)).collect();
    assert_eq!(by_status, HashMap::from([("approved".to_string(), 1), ("submitted".to_string(), 1)]));
    let err = query
        .pledge_scoreboard(v1::ReportRequest {
            page: Some(v1::Page { page_size: 5000, offset: 0 }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn amounts_beyond_the_bounds_are_refused_and_those_already_in_the_log_saturate_the_scoreboards() {
    let mut app = TestApp::spawn().await;
    seed(&mut app, 1).await;
    let amount = |n| vec![v1::IndicatorAmount { indicator: v1::Indicator::TrainingsOnline.into(), amount: n }];
    let initiative = |id: &str, n: i64| v1::InitiativeAdded {
        initiative_id: id.into(),
        title: "Online courses".into(),
        pillar: v1::Pillar::Education.into(),
        targets: amount(n),
    };
    app.append.append(pledge("org-0", "p1")).await.unwrap();
    let approve = event(P::PledgeApproved(v1::PledgeApproved { approved_on: date(2020, 2, 1) }));
    app.append.append(request(v1::AggregateType::Pledge, "org-0.p1", None, vec![approve])).await.unwrap();
    let too_big = event(P::InitiativeAdded(initiative("i0", i64::MAX)));
    let err = app.append.append(request(v1::AggregateType::Pledge, "org-0.p1", None, vec![too_big])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("events[0].payload.targets[0].amount"), "{}", err.message());
    assert!(err.message().contains("outside 0..=1000000000000"), "{}", err.message());

    // History written before the bound: two initiatives with targets of i64::MAX on one indicator. Their sum
    // overflowed a bigint, and every scoreboard query failed for good; it now saturates.
    let mut last = 0;
    for id in ["i1", "i2"] {
        let body = prost::Message::encode_to_vec(&initiative(id, i64::MAX));
        let stored = stored_event("pledge", "org-0.p1", "initiative_added", 1, 1_580_000_000, body);
        last = app.publish_by_hand("ledger.org.org-0.pledge.p1", stored).await;
    }
    let mut query = ledger_proto::v1::ledger_query_client::LedgerQueryClient::new(channel(app.query_addr).await);
    let consistency = Some(v1::Consistency { min_position: last, max_wait_ms: 5000 });
    let filter = Some(v1::ReportFilter { organisation_id: "org-0".into(), ..Default::default() });
    let board = query
        .pledge_scoreboard(v1::ReportRequest { filter: filter.clone(), consistency, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(board.rows.len(), 1, "{board:?}");
    assert_eq!((board.rows[0].target, board.rows[0].achieved), (i64::MAX, 0));
    let by_org = query
        .organisation_scoreboard(v1::ReportRequest { filter, consistency, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_org.rows.iter().map(|r| r.target).collect::<Vec<_>>(), [i64::MAX], "{by_org:?}");
}
