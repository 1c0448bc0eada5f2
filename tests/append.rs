//! The append API against a real nats-server: read-your-writes, revisions, idempotency, atomicity, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::*;
use ledger_proto::v1;
use ledger_proto::v1::expected_revision::Expected;
use tonic::Code;

#[tokio::test]
async fn an_append_is_visible_to_a_query_that_passes_its_position() {
    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    app.append.append(organisation("swedsoft")).await.unwrap();
    let reply = app
        .append
        .append(membership("se", "swedsoft", vec![joined("se", "swedsoft", date(2018, 5, 3))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.positions, vec![3]);
    assert!(!reply.deduplicated);

    let consistency = Some(v1::Consistency { min_position: reply.revision, max_wait_ms: 5000 });
    let growth = app.query.coalition_growth(reporting("se", consistency)).await.unwrap().into_inner();
    assert!(growth.position >= 3);
    assert_eq!(growth.months.len(), 1);
    let m = &growth.months[0];
    assert_eq!((m.month.as_str(), m.joins, m.leaves, m.cumulative), ("2018-05", 1, 0, 1));
    let members = app.query.current_members(reporting("", consistency)).await.unwrap().into_inner();
    assert_eq!(members.coalitions.len(), 1);
    assert_eq!((members.coalitions[0].coalition_id.as_str(), members.coalitions[0].members), ("se", 1));
}

#[tokio::test]
async fn a_query_waiting_for_a_position_never_reached_fails_with_deadline_exceeded() {
    let mut app = TestApp::spawn().await;
    let err = app
        .query
        .current_members(reporting("", Some(v1::Consistency { min_position: 1_000, max_wait_ms: 200 })))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("1000"), "{}", err.message());
}

#[tokio::test]
async fn a_revision_conflict_is_aborted_with_the_current_revision_and_writes_nothing() {
    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    app.append.append(organisation("a")).await.unwrap();
    let first = app.append.append(membership("se", "a", vec![joined("se", "a", date(2019, 1, 1))])).await.unwrap();
    let rev = first.into_inner().revision;

    // A writer that believes the aggregate is new, and one that is one write behind.
    let mut stale = membership("se", "a", vec![left("se", "a", date(2019, 2, 1))]);
    stale.expected_revision = Some(v1::ExpectedRevision { expected: Some(Expected::NoStream(true)) });
    let err = app.append.append(stale.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.message().contains(&format!("current revision is {rev}")), "{}", err.message());
    assert_eq!(err.metadata().get("ledger-current-revision").unwrap().to_str().unwrap(), rev.to_string());

    stale.expected_revision = Some(v1::ExpectedRevision { expected: Some(Expected::Exact(rev - 1)) });
    assert_eq!(app.append.append(stale.clone()).await.unwrap_err().code(), Code::Aborted);

    stale.expected_revision = Some(v1::ExpectedRevision { expected: Some(Expected::Exact(rev)) });
    let ok = app.append.append(stale).await.unwrap().into_inner();
    assert_eq!(ok.positions, vec![rev + 1]);
}

#[tokio::test]
async fn a_retried_append_returns_the_original_positions_even_after_the_dedup_window() {
    let mut app = TestApp::spawn_with(coalition_ledger::startup::Roles::ALL, |s| s.duplicate_window_secs = 1).await;
    let req = coalition("se", "SE", date(2018, 5, 3));
    let first = app.append.append(req.clone()).await.unwrap().into_inner();
    let again = app.append.append(req.clone()).await.unwrap().into_inner();
    assert_eq!(again.positions, first.positions);
    assert!(again.deduplicated);

    // Past JetStream's window and with a cold cache (a restarted service), the ledger still recognises the ids.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (nats, db, settings, r) = app.stop().await;
    r.unwrap();
    let mut app = TestApp::start(nats, db, settings, coalition_ledger::startup::Roles::ALL).await;
    let late = app.append.append(req).await.unwrap().into_inner();
    assert_eq!(late.positions, first.positions);
    assert!(late.deduplicated);
    let events: Vec<_> = replay_all(&mut app).await;
    assert_eq!(events.len(), 1, "exactly one event in the log");
}

pub async fn replay_all(app: &mut TestApp) -> Vec<v1::RecordedEvent> {
    use futures::TryStreamExt;
    app.replay.replay(v1::ReplayRequest::default()).await.unwrap().into_inner().try_collect().await.unwrap()
}

#[tokio::test]
async fn several_events_are_written_all_or_none() {
    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    app.append.append(organisation("a")).await.unwrap();

    // The second event breaks a rule (leaving before joining): nothing is written.
    let bad = membership("se", "a", vec![joined("se", "a", date(2019, 3, 1)), left("se", "a", date(2019, 2, 1))]);
    let err = app.append.append(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("membership.leave_after_join"), "{}", err.message());
    assert!(err.message().contains("events[1]"), "{}", err.message());
    assert_eq!(replay_all(&mut app).await.len(), 2);

    let good = membership("se", "a", vec![joined("se", "a", date(2019, 3, 1)), left("se", "a", date(2019, 4, 1))]);
    let reply = app.append.append(good).await.unwrap().into_inner();
    assert_eq!(reply.positions, vec![3, 4]);
    assert_eq!(reply.revision, 4);
    let log = replay_all(&mut app).await;
    assert_eq!(log.iter().map(|e| e.position).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn invalid_input_names_the_field_and_broken_rules_name_the_rule() {
    let mut app = TestApp::spawn().await;
    let mut bad_id = coalition("se", "SE", date(2018, 5, 3));
    bad_id.events[0].event_id = "not-a-uuid".into();
    let err = app.append.append(bad_id).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("invalid events[0].event_id"), "{}", err.message());

    let err = app.append.append(coalition("se", "SE", date(2018, 2, 30))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("events[0].payload.launched_on"), "{}", err.message());

    let err = app.append.append(coalition("s.e", "SE", date(2018, 5, 3))).await.unwrap_err();
    assert!(err.message().contains("aggregate.id"), "{}", err.message());

    let err = app.append.append(membership("se", "a", vec![joined("se", "a", date(2019, 1, 1))])).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("membership.coalition_exists"), "{}", err.message());
    assert!(replay_all(&mut app).await.is_empty(), "refused appends write nothing");
}

#[tokio::test]
async fn an_append_while_nats_is_down_is_unavailable_and_succeeds_when_retried() {
    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    app.nats.kill();
    let req = organisation("a");
    let err = app.append.append(req.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    app.nats.restart();
    // The client reconnects by itself; retrying the same request writes it exactly once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let reply = loop {
        match app.append.append(req.clone()).await {
            Ok(r) => break r.into_inner(),
            Err(e) if e.code() == Code::Unavailable && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(reply.positions, vec![2]);
}

#[tokio::test]
async fn an_event_id_reused_for_another_aggregate_is_refused_and_writes_nothing() {
    let mut app = TestApp::spawn().await;
    let first = coalition("se", "SE", date(2018, 5, 3));
    app.append.append(first.clone()).await.unwrap();
    let mut other = coalition("dk", "DK", date(2019, 2, 7));
    other.events[0].event_id = first.events[0].event_id.clone();
    let err = app.append.append(other).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("already used by another aggregate"), "{}", err.message());
    assert_eq!(replay_all(&mut app).await.len(), 1);
}

#[tokio::test]
async fn a_bulk_call_applies_each_append_with_its_own_guarantees_and_concurrent_appends_share_batches() {
    use v1::append_result::Result as R;
    let mut app = TestApp::spawn().await;
    let first = app.append.append(coalition("c-0", "SE", date(2016, 1, 1))).await.unwrap().into_inner().revision;
    // 300 new coalitions, one stale revision, one malformed append, and a membership joined, left and joined
    // again (valid only in this order).
    let mut appends: Vec<v1::AppendRequest> =
        (1..=300).map(|i| coalition(&format!("c-{i}"), "SE", date(2016, 1, 1))).collect();
    let mut stale = coalition("c-0", "SE", date(2016, 1, 1));
    stale.expected_revision =
        Some(v1::ExpectedRevision { expected: Some(v1::expected_revision::Expected::Exact(first + 7)) });
    stale.events[0].event_id = uuid::Uuid::new_v4().to_string();
    appends.push(stale);
    let mut malformed = coalition("c-x", "SE", date(2016, 1, 1));
    malformed.events[0].event_id = "not-a-uuid".into();
    appends.push(malformed);
    app.append.append(organisation("org-1")).await.unwrap();
    appends.push(membership("c-0", "org-1", vec![joined("c-0", "org-1", date(2020, 1, 1))]));
    appends.push(membership("c-0", "org-1", vec![left("c-0", "org-1", date(2020, 2, 1))]));
    appends.push(membership("c-0", "org-1", vec![joined("c-0", "org-1", date(2020, 3, 1))]));

    let results = app.append.append_many(v1::AppendManyRequest { appends }).await.unwrap().into_inner().results;
    assert_eq!(results.len(), 305);
    let mut positions: Vec<u64> = Vec::new();
    for (i, r) in results.iter().enumerate() {
        match (i, r.result.as_ref().unwrap()) {
            (300, R::Failed(f)) => {
                assert_eq!(f.code, Code::Aborted as i32, "{f:?}");
                assert_eq!(f.current_revision, first);
            }
            (301, R::Failed(f)) => {
                assert_eq!(f.code, Code::InvalidArgument as i32);
                assert!(f.message.contains("event_id"), "{}", f.message);
            }
            (_, R::Ok(ok)) => positions.extend(ok.positions.iter().copied()),
            (i, other) => panic!("append {i}: {other:?}"),
        }
    }
    // Every accepted event written once: the log holds exactly them, each at its own position.
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), 303);
    let log = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap();
    assert_eq!(log.end().await.unwrap(), first + 1 + 303);
    // The membership's three appends landed in the order given.
    let [j1, l, j2] = [302, 303, 304].map(|i| match results[i].result.as_ref().unwrap() {
        R::Ok(ok) => ok.positions[0],
        R::Failed(f) => panic!("{f:?}"),
    });
    assert!(j1 < l && l < j2);
    // Concurrent appends were coalesced (group commit), without any group being refused.
    let metrics = reqwest_metrics(&app).await;
    let grouped: u64 = metric(&metrics, "ledger_group_commit_appends_total");
    assert!(grouped > 0, "no append was group-committed:\n{metrics}");
    assert_eq!(metric(&metrics, "ledger_group_commits_refused_total"), 0);

    let too_many = v1::AppendManyRequest { appends: vec![organisation("org-2"); 10_001] };
    assert_eq!(app.append.append_many(too_many).await.unwrap_err().code(), Code::InvalidArgument);
}

async fn reqwest_metrics(app: &TestApp) -> String {
    metrics_text(app.metrics_addr).await
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[tokio::test]
async fn a_new_aggregate_append_on_a_fresh_service_still_sees_what_the_log_holds() {
    // `no_stream` appends are first decided without reading the log; a fresh service (empty cache) must still
    // refuse a stale one and accept one whose rules hold only because of what is already in the scope.
    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    app.append.append(organisation("a")).await.unwrap();
    let mut join = membership("se", "a", vec![joined("se", "a", date(2019, 1, 1))]);
    join.expected_revision = Some(v1::ExpectedRevision { expected: Some(Expected::NoStream(true)) });
    let rev = app.append.append(join.clone()).await.unwrap().into_inner().revision;
    let (nats, db, settings, stopped) = app.stop().await;
    stopped.unwrap();
    let mut app = TestApp::start(nats, db, settings, coalition_ledger::startup::Roles::ALL).await;

    // The same append again: recognised by its event id, original position.
    let again = app.append.append(join.clone()).await.unwrap().into_inner();
    assert_eq!((again.revision, again.deduplicated), (rev, true));
    // Another join with no_stream: the membership exists, so it is a conflict, with the current revision.
    let mut other = membership("se", "a", vec![joined("se", "a", date(2019, 2, 1))]);
    other.expected_revision = join.expected_revision;
    let err = app.append.append(other).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert_eq!(err.metadata().get("ledger-current-revision").unwrap().to_str().unwrap(), rev.to_string());
    // A new membership in a second coalition: its scope (the organisation) already holds the first one.
    app.append.append(coalition("dk", "DK", date(2018, 5, 3))).await.unwrap();
    let mut second = membership("dk", "a", vec![joined("dk", "a", date(2019, 3, 1))]);
    second.expected_revision = join.expected_revision;
    let ok = app.append.append(second).await.unwrap().into_inner();
    assert_eq!(ok.positions.len(), 1);
    // A pledge is allowed only to a member: refused on the assumed-empty scope, accepted once the scope is read.
    let (nats, db, settings, stopped) = app.stop().await;
    stopped.unwrap();
    let mut app = TestApp::start(nats, db, settings, coalition_ledger::startup::Roles::ALL).await;
    let mut pledge = pledge("a", "p1");
    pledge.expected_revision = Some(v1::ExpectedRevision { expected: Some(Expected::NoStream(true)) });
    app.append.append(pledge).await.unwrap();
}

#[tokio::test]
async fn an_application_alone_is_checked_against_the_coalition_it_names() {
    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    app.append.append(organisation("swedsoft")).await.unwrap();
    let applied = |coalition: &str| {
        event(v1::event_payload::Event::MembershipApplied(v1::MembershipApplied {
            coalition_id: coalition.into(),
            organisation_id: "swedsoft".into(),
            applied_on: date(2019, 1, 10),
        }))
    };
    // Before the event-type registry, the append service loaded no coalition for an application, so this was
    // refused with membership.coalition_exists although the coalition exists.
    let reply = app.append.append(membership("se", "swedsoft", vec![applied("se")])).await.unwrap().into_inner();
    assert_eq!(reply.positions.len(), 1);
    let err = app.append.append(membership("fi", "swedsoft", vec![applied("fi")])).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("membership.coalition_exists"), "{}", err.message());
}

#[tokio::test]
async fn after_nats_is_killed_and_restarted_appends_are_acknowledged_within_two_seconds_and_none_is_lost() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::time::Instant;

    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    // Four clients append all along; each answer is recorded with when it came and how long it took.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..4 {
        let (mut a, stop, answers) = (app.append.clone(), stop.clone(), answers.clone());
        clients.spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let req = organisation(&format!("o-{c}-{i}"));
                let sent = Instant::now();
                let result = a.append(req.clone()).await;
                let failed = result.as_ref().err().map(|s| (s.code(), s.message().to_owned()));
                answers.lock().unwrap().push((req, sent, Instant::now(), failed.clone()));
                if failed.is_some() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.nats.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.nats.restart();
    let ready = Instant::now();
    // Appends go on for a second after the first acknowledgement since the restart (or 20 s without one).
    let acknowledged_since = |t: Instant| answers.lock().unwrap().iter().any(|a| a.3.is_none() && a.2 > t);
    while !acknowledged_since(ready) && ready.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    let answers = std::mem::take(&mut *answers.lock().unwrap());

    let first_ack_after_restart =
        answers.iter().filter(|a| a.3.is_none() && a.2 > ready).map(|a| a.2).min().expect("no append after restart");
    let recovery = first_ack_after_restart - ready;
    assert!(recovery < Duration::from_secs(2), "first acknowledgement {recovery:?} after the server was ready");
    for (_, sent, answered, failed) in &answers {
        // Every call is answered without waiting out a request timeout, failed or not.
        assert!(*answered - *sent < Duration::from_secs(3), "an answer took {:?}: {failed:?}", *answered - *sent);
        if let Some((code, message)) = failed {
            assert_eq!(*code, Code::Unavailable, "{message}");
        }
    }
    let failures = answers.iter().filter(|a| a.3.is_some()).count();
    assert!(failures > 0, "no append fell in the outage");
    let slowest = answers.iter().map(|a| a.2 - a.1).max().unwrap_or_default();
    eprintln!(
        "first acknowledgement {recovery:?} after the restarted server was ready; {failures} of {} appends answered UNAVAILABLE; slowest answer {slowest:?}",
        answers.len()
    );
    // Retrying every failed append with its own event ids writes each exactly once: nothing lost or doubled.
    for (req, _, _, failed) in &answers {
        if failed.is_some() {
            app.append.append(req.clone()).await.unwrap();
        }
    }
    assert_eq!(replay_all(&mut app).await.len(), 1 + answers.len());
}

#[tokio::test]
async fn bad_input_is_refused_as_invalid_argument_naming_the_field_and_nothing_is_written() {
    use v1::event_payload::Event as P;
    let mut app = TestApp::spawn().await;
    let se = || coalition("se", "SE", date(2018, 5, 3));
    let mut cases: Vec<(&str, v1::AppendRequest)> = Vec::new();

    let mut r = se();
    r.events[0].source = v1::Source::Unspecified.into();
    cases.push(("events[0].source", r));
    let mut r = se();
    r.events[0].event_id = uuid::Uuid::nil().to_string();
    cases.push(("events[0].event_id", r));
    let mut r = se();
    r.events[0].correlation_id = uuid::Uuid::nil().to_string();
    cases.push(("events[0].correlation_id", r));
    cases.push(("events[0].payload.country", coalition("zz", "ZZ", date(2018, 5, 3))));
    cases.push(("events[0].payload.launched_on", coalition("se", "SE", date(9999, 12, 31))));
    cases.push(("events[0].payload.launched_on", coalition("se", "SE", date(-9999, 1, 1))));
    let mut r = organisation("acme");
    if let Some(P::OrganisationRegistered(e)) = r.events[0].payload.as_mut().and_then(|p| p.event.as_mut()) {
        e.name = "Acme\u{202E}emcA".into();
    }
    cases.push(("events[0].payload.name", r));
    let mut r = organisation("acme");
    if let Some(P::OrganisationRegistered(e)) = r.events[0].payload.as_mut().and_then(|p| p.event.as_mut()) {
        e.name = "Ac\u{200B}me".into();
    }
    cases.push(("events[0].payload.name", r));
    let website = |url: &str| {
        let connected = P::CoalitionWebsiteConnected(v1::CoalitionWebsiteConnected {
            connected_on: date(2021, 6, 1),
            url: url.into(),
        });
        request(v1::AggregateType::Coalition, "se", None, vec![event(connected)])
    };
    cases.push(("events[0].payload.url", website("javascript:alert(document.cookie)")));
    cases.push(("events[0].payload.url", website("https://")));
    let mut r = pledge("a", "p1");
    if let Some(P::PledgeSubmitted(e)) = r.events[0].payload.as_mut().and_then(|p| p.event.as_mut()) {
        e.countries = vec!["SE".into(), "DK".into(), "SE".into()];
    }
    cases.push(("events[0].payload.countries[2]", r));
    let mut r = pledge("a", "p1");
    if let Some(P::PledgeSubmitted(e)) = r.events[0].payload.as_mut().and_then(|p| p.event.as_mut()) {
        e.pillars = vec![v1::Pillar::Education.into(), v1::Pillar::Education.into()];
    }
    cases.push(("events[0].payload.pillars[1]", r));

    for (field, req) in cases {
        let err = app.append.append(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(err.message().starts_with(&format!("invalid {field}:")), "{field}: {}", err.message());
    }
    assert!(replay_all(&mut app).await.is_empty(), "refused appends write nothing");
}

#[tokio::test]
async fn an_event_id_reused_for_another_event_of_the_aggregate_is_refused_naming_it_and_a_true_retry_is_not() {
    use v1::event_payload::Event as P;
    let mut app = TestApp::spawn().await;
    let original = coalition("se", "SE", date(2018, 5, 3));
    let first = app.append.append(original.clone()).await.unwrap().into_inner();
    let id = original.events[0].event_id.clone();

    let again = app.append.append(original.clone()).await.unwrap().into_inner();
    assert_eq!((again.positions, again.deduplicated), (first.positions.clone(), true));

    // Another payload, another occurred_at, another actor: each is another event under the same id.
    let mut payload = original.clone();
    if let Some(P::CoalitionEstablished(e)) = payload.events[0].payload.as_mut().and_then(|p| p.event.as_mut()) {
        e.name = "Sweden's coalition, renamed".into();
    }
    let mut occurred = original.clone();
    occurred.events[0].occurred_at = Some(prost_types::Timestamp { seconds: 1_600_000_001, nanos: 0 });
    let mut actor = original.clone();
    actor.events[0].actor = "someone else".into();
    let different = || [payload.clone(), occurred.clone(), actor.clone()];
    for req in different() {
        let err = app.append.append(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().starts_with("invalid events[0].event_id:"), "{}", err.message());
        assert!(err.message().contains(&id), "{}", err.message());
        assert!(err.message().contains(&format!("position {}", first.positions[0])), "{}", err.message());
    }

    // After a restart the digest comes from the log: still the same answers.
    let (nats, db, settings, r) = app.stop().await;
    r.unwrap();
    let mut app = TestApp::start(nats, db, settings, coalition_ledger::startup::Roles::ALL).await;
    for req in different() {
        assert_eq!(app.append.append(req).await.unwrap_err().code(), Code::InvalidArgument);
    }
    let late = app.append.append(original).await.unwrap().into_inner();
    assert_eq!((late.positions, late.deduplicated), (first.positions, true));
    let log = replay_all(&mut app).await;
    assert_eq!(log.len(), 1, "nothing but the original is written");
    match log[0].payload.as_ref().and_then(|p| p.event.as_ref()) {
        Some(P::CoalitionEstablished(e)) => assert_eq!(e.name, "Coalition se"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreadable_event_freezes_only_its_aggregate_with_failed_precondition_naming_its_position() {
    use v1::event_payload::Event as P;
    let mut app = TestApp::spawn().await;
    app.append.append(organisation("bad")).await.unwrap();
    let corrupt = app.publish_by_hand("ledger.organisation.bad", b"\x08\xff\xff not protobuf".to_vec()).await;
    let newer = stored_event("organisation", "newer", "organisation_renamed", 99, 1_700_000_000, vec![]);
    let newer = app.publish_by_hand("ledger.organisation.newer", newer).await;
    let rename = |id: &str| {
        let renamed = P::OrganisationRenamed(v1::OrganisationRenamed { name: "Renamed".into() });
        request(v1::AggregateType::Organisation, id, None, vec![event(renamed)])
    };
    for (id, position, cause) in [("bad", corrupt, "corrupt"), ("newer", newer, "newer version")] {
        for _ in 0..2 {
            let err = app.append.append(rename(id)).await.unwrap_err();
            assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
            let m = err.message();
            assert!(m.starts_with("rule `aggregate.history_readable` broken: organisation/"), "{m}");
            assert!(m.contains(&format!("position {position}")) && m.contains(cause), "{m}");
        }
    }
    // An append whose rules need the frozen aggregate's facts is refused the same way, naming it.
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    let err =
        app.append.append(membership("se", "bad", vec![joined("se", "bad", date(2019, 1, 1))])).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains(&format!("organisation/bad: the event at position {corrupt}")), "{}", err.message());
    // Everything else goes on.
    app.append.append(organisation("good")).await.unwrap();
    app.append.append(membership("se", "good", vec![joined("se", "good", date(2019, 1, 1))])).await.unwrap();
}

#[tokio::test]
async fn a_huge_value_is_not_echoed_whole_in_the_error() {
    let mut app = TestApp::spawn().await;
    // A membership id of 3 MB (three dotted parts where two belong): refused, quoting only its start.
    let id = format!("{}.x.y", "a".repeat(3_000_000));
    let req = request(v1::AggregateType::Membership, &id, None, vec![joined("se", "a", date(2019, 1, 1))]);
    let err = app.append.append(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", &err.message()[..200.min(err.message().len())]);
    assert!(err.message().len() < 300, "{} bytes echoed", err.message().len());
    assert!(err.message().contains("(3000004 bytes)"), "{}", err.message());
}
