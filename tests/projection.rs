//! Projector, rebuild and replay against a real nats-server and Postgres: exactly-once after crashes,
//! quarantine, rebuild equals live, replay in log order.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::process::ExitStatus;
use std::time::Duration;

use coalition_ledger::startup::Roles;
use common::*;
use futures::TryStreamExt;
use ledger_proto::v1;

async fn replay(app: &mut TestApp, req: v1::ReplayRequest) -> Vec<v1::RecordedEvent> {
    app.replay.replay(req).await.unwrap().into_inner().try_collect().await.unwrap()
}

/// Runs `ledger projector` against the test's NATS and database until it exits or `stop_at` is projected (then
/// sends SIGTERM). Returns how it exited.
async fn run_projector(app: &TestApp, fault: Option<&str>, stop_at: Option<u64>) -> ExitStatus {
    let mut env: Vec<(&str, String)> = app.nats.env_as("reader").into();
    env.push(("LEDGER_DATABASE_URL", app.settings.database_url.clone()));
    env.push(("LEDGER_PROJECTOR_BATCH", "7".into()));
    let client = app.db.client().await;
    run_ledger_process("projector", env, fault, async || match stop_at {
        Some(target) => position(&client).await >= target,
        None => false,
    })
    .await
}

async fn position(client: &tokio_postgres::Client) -> u64 {
    let row = client.query_opt("SELECT position FROM ledger.projections WHERE name = 'coalition_growth'", &[]).await;
    row.ok().flatten().map_or(0, |r| r.get::<_, i64>(0) as u64)
}

#[tokio::test]
async fn a_projector_killed_mid_batch_and_restarted_counts_every_event_exactly_once() {
    let roles = Roles { append: true, query: true, projector: false, notary: false };
    let mut app = TestApp::spawn_with(roles, |_| {}).await;
    let n = 60;
    let end = seed(&mut app, n).await;
    for i in 0..10 {
        let org = format!("org-{i}");
        app.append.append(membership("se", &org, vec![left("se", &org, date(2024, 6, 1))])).await.unwrap();
    }
    let end = end + 10;

    // Crash after applying the third batch but before its commit, then after a commit but before the ack.
    let crashed = run_projector(&app, Some("projector-before-commit:3"), None).await;
    assert!(!crashed.success(), "the fault must abort the process: {crashed:?}");
    let client = app.db.client().await;
    let after_first_crash = position(&client).await;
    assert!(after_first_crash < end, "the crash happened before the end ({after_first_crash})");
    let crashed = run_projector(&app, Some("projector-before-ack:2"), None).await;
    assert!(!crashed.success());

    // A clean run to the end, stopped with SIGTERM: a graceful stop.
    let status = run_projector(&app, None, Some(end)).await;
    assert!(status.success(), "SIGTERM must stop the projector cleanly: {status:?}");
    assert_eq!(position(&client).await, end);

    let totals = client
        .query_one("SELECT sum(joins)::bigint, sum(leaves)::bigint FROM reporting.coalition_growth_monthly", &[])
        .await
        .unwrap();
    assert_eq!((totals.get::<_, i64>(0), totals.get::<_, i64>(1)), (n as i64, 10));
    let members = app.query.current_members(reporting("", None)).await.unwrap().into_inner();
    assert_eq!(members.coalitions[0].members, (n - 10) as i64);
    let quarantined: i64 = client.query_one("SELECT count(*) FROM ledger.quarantine", &[]).await.unwrap().get(0);
    assert_eq!(quarantined, 0);
}

#[tokio::test]
async fn a_malformed_message_in_the_stream_is_quarantined_and_the_rest_is_projected() {
    let mut app = TestApp::spawn().await;
    seed(&mut app, 2).await;
    // Put two bad messages in the log by hand, bypassing the append service.
    app.publish_by_hand("ledger.membership.se.org-9", b"\x08\xff\xff not protobuf".to_vec()).await;
    let unknown = ledger_proto::v1::StoredEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        aggregate_type: "coalition".into(),
        aggregate_id: "xx".into(),
        event_type: "coalition_renamed_in_the_future".into(),
        schema_version: 1,
        occurred_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
        recorded_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    app.publish_by_hand("ledger.coalition.xx", prost::Message::encode_to_vec(&unknown)).await;
    let next = app.append.append(organisation("late")).await.unwrap().into_inner();
    let org = app
        .append
        .append(membership("se", "late", vec![joined("se", "late", date(2025, 1, 1))]))
        .await
        .unwrap()
        .into_inner();
    assert!(org.revision > next.revision);
    app.wait_projected(org.revision).await;

    let status = app.query.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
    let growth = status.projections.iter().find(|p| p.name == "coalition_growth").unwrap();
    assert_eq!(growth.quarantined, 2);
    assert_eq!(growth.lag, 0);
    assert_eq!(growth.position, status.log_end);
    let client = app.db.client().await;
    let rows = client
        .query(
            "SELECT position, reason FROM ledger.quarantine WHERE projection = 'coalition_growth' ORDER BY position",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].get::<_, String>(1).contains("StoredEvent"), "{}", rows[0].get::<_, String>(1));
    assert!(rows[1].get::<_, String>(1).contains("unknown event type"), "{}", rows[1].get::<_, String>(1));
    let members = app.query.current_members(reporting("", None)).await.unwrap();
    assert_eq!(members.into_inner().coalitions[0].members, 3, "events after the bad ones are projected");

    // The replay shows every position: the unknown type passed through raw, the broken one with its bytes.
    let all = replay(&mut app, v1::ReplayRequest::default()).await;
    assert_eq!(all.len() as u64, status.log_end);
    let unknown = all.iter().find(|e| e.event_type == "coalition_renamed_in_the_future").unwrap();
    assert!(unknown.payload.is_none());
    let broken = all.iter().find(|e| e.event_type.is_empty()).unwrap();
    assert!(broken.raw_payload.starts_with(b"\x08\xff\xff"));
}

#[tokio::test]
async fn a_rebuild_from_the_log_equals_the_live_read_model() {
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 25).await;
    app.append.append(membership("se", "org-3", vec![left("se", "org-3", date(2025, 3, 1))])).await.unwrap();
    app.wait_projected(end + 1).await;
    let before = app.query.coalition_growth(reporting("", None)).await.unwrap().into_inner();

    let log = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap();
    let mut client = app.db.client().await;
    let report = ledger_projector::rebuild::<ledger_projector::CoalitionGrowth>(&log, &mut client).await.unwrap();
    assert_eq!(report.differing_rows, Some(0), "{report:?}");
    assert_eq!(report.position, end + 1);

    let after = app.query.coalition_growth(reporting("", None)).await.unwrap().into_inner();
    assert_eq!(before.months, after.months);
    assert!(before.months.iter().map(|m| m.joins).sum::<i64>() == 25);

    // The live projector carries on with the rebuilt schema.
    let more = app.append.append(membership("se", "org-4", vec![left("se", "org-4", date(2025, 3, 2))])).await.unwrap();
    let consistency = Some(v1::Consistency { min_position: more.into_inner().revision, max_wait_ms: 5000 });
    let members = app.query.current_members(reporting("", consistency)).await.unwrap().into_inner();
    assert_eq!(members.coalitions[0].members, 23);
}

#[tokio::test]
async fn replay_returns_the_log_in_order_with_filters() {
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 6).await;
    app.append.append(membership("se", "org-1", vec![left("se", "org-1", date(2025, 1, 1))])).await.unwrap();
    let end = end + 1;

    let all = replay(&mut app, v1::ReplayRequest::default()).await;
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=end).collect::<Vec<_>>());
    assert_eq!(all[0].event_type, "coalition_established");
    assert!(all.iter().all(|e| e.payload.is_some() && e.schema_version == 1 && e.recorded_at.is_some()));

    let from5 = replay(
        &mut app,
        v1::ReplayRequest { start: Some(v1::replay_request::Start::FromPosition(5)), ..Default::default() },
    )
    .await;
    assert_eq!(from5.first().map(|e| e.position), Some(5));
    assert_eq!(from5.len() as u64, end - 4);

    let one = replay(
        &mut app,
        v1::ReplayRequest {
            aggregate: Some(v1::AggregateRef { r#type: v1::AggregateType::Membership.into(), id: "se.org-1".into() }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        one.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
        vec!["membership_approved", "membership_left"]
    );

    let in_se = replay(&mut app, v1::ReplayRequest { coalition_id: "se".into(), ..Default::default() }).await;
    assert_eq!(in_se.len(), 1 + 6 + 1, "the coalition and its membership events, not the organisations");

    let leaves =
        replay(&mut app, v1::ReplayRequest { event_types: vec!["membership_left".into()], ..Default::default() }).await;
    assert_eq!(leaves.len(), 1);

    let future = prost_types::Timestamp { seconds: all.last().unwrap().recorded_at.unwrap().seconds + 3600, nanos: 0 };
    let none = replay(
        &mut app,
        v1::ReplayRequest { start: Some(v1::replay_request::Start::FromTime(future)), ..Default::default() },
    )
    .await;
    assert!(none.is_empty());
    let limited = replay(&mut app, v1::ReplayRequest { limit: 3, ..Default::default() }).await;
    assert_eq!(limited.len(), 3);
}

#[tokio::test]
async fn an_event_the_read_model_rejects_is_quarantined_and_the_projection_carries_on() {
    let mut app = TestApp::spawn().await;
    seed(&mut app, 1).await;
    // Decodable, but Postgres refuses its text (a NUL byte): written by hand, as the append service refuses it.
    let bad = ledger_proto::v1::OrganisationRegistered {
        name: "Bad\u{0}Name".into(),
        country: "SE".into(),
        organisation_type: v1::OrganisationType::NonProfit.into(),
        size: v1::OrganisationSize::Sme.into(),
    };
    let stored = stored_event(
        "organisation",
        "bad",
        "organisation_registered",
        1,
        1_700_000_000,
        prost::Message::encode_to_vec(&bad),
    );
    app.publish_by_hand("ledger.organisation.bad", stored).await;
    app.append.append(organisation("after")).await.unwrap();
    let last = app
        .append
        .append(membership("se", "after", vec![joined("se", "after", date(2025, 1, 1))]))
        .await
        .unwrap()
        .into_inner()
        .revision;
    app.wait_projected(last).await;
    let client = app.db.client().await;
    let rows =
        client.query("SELECT reason FROM ledger.quarantine WHERE projection = 'coalition_growth'", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    // The reason is what Postgres said, not tokio-postgres's bare "db error".
    let reason: String = rows[0].get(0);
    assert!(reason.contains("read model rejected it: postgres: ") && reason.contains("[SQLSTATE 22"), "{reason}");
    let members = app.query.current_members(reporting("", None)).await.unwrap();
    assert_eq!(members.into_inner().coalitions[0].members, 2);
}

#[tokio::test]
async fn a_duplicate_join_in_the_log_is_quarantined_whatever_the_batch_boundaries() {
    let mut app = TestApp::spawn().await;
    seed(&mut app, 1).await;
    app.append.append(organisation("dup")).await.unwrap();
    // Two approvals of the same membership, written by hand (the append service refuses the second).
    let approval = |on: i32| {
        let e = ledger_proto::v1::MembershipApproved {
            coalition_id: "se".into(),
            organisation_id: "dup".into(),
            joined_on: date(on, 1, 1),
        };
        stored_event("membership", "se.dup", "membership_approved", 1, 1_700_000_000, prost::Message::encode_to_vec(&e))
    };
    app.publish_by_hand("ledger.org.dup.membership.se", approval(2024)).await;
    let second = app.publish_by_hand("ledger.org.dup.membership.se", approval(2025)).await;
    app.wait_projected(second).await;
    let client = app.db.client().await;
    let quarantined: Vec<i64> = client
        .query("SELECT position FROM ledger.quarantine WHERE projection = 'coalition_growth'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(quarantined, vec![second as i64]);
    let joins: i64 = client
        .query_one("SELECT sum(joins)::bigint FROM reporting.coalition_growth_monthly", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(joins, 2, "the seeded member and the first approval");
    // A rebuild reads both approvals in one chunk and must come to the same read model.
    let log = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap();
    let mut pg = app.db.client().await;
    let report = ledger_projector::rebuild::<ledger_projector::CoalitionGrowth>(&log, &mut pg).await.unwrap();
    assert_eq!(report.differing_rows, Some(0), "{report:?}");
}

#[tokio::test]
async fn the_status_under_load_never_shows_a_projection_past_the_log_end() {
    let mut app = TestApp::spawn().await;
    app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    // Eight clients appending while the status is polled: positions move between any two reads.
    let mut load = tokio::task::JoinSet::new();
    for client in 0..8 {
        let mut appender = app.append.clone();
        load.spawn(async move {
            for i in 0..150 {
                appender.append(organisation(&format!("o-{client}-{i}"))).await.unwrap();
            }
        });
    }
    // Sixteen pollers for the query service's eight pooled connections: a poll also waits for a connection, so
    // positions have time to move while it is answered.
    let mut pollers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let mut query = app.query.clone();
        pollers.spawn(async move {
            let mut polls = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while polls < 200 && tokio::time::Instant::now() < deadline {
                let s = query.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
                for p in &s.projections {
                    assert!(
                        p.position <= s.log_end,
                        "{} at {} above log_end {} in one answer",
                        p.name,
                        p.position,
                        s.log_end
                    );
                    assert_eq!(p.lag, s.log_end - p.position);
                }
                polls += 1;
            }
            polls
        });
    }
    let mut polls = 0;
    while let Some(n) = pollers.join_next().await {
        polls += n.unwrap();
    }
    while let Some(done) = load.join_next().await {
        done.unwrap();
    }
    assert_eq!(polls, 16 * 200, "every poller answered 200 times within its minute");
}
