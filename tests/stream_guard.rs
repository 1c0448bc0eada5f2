//! A stream that cannot be quietly replaced: what the NATS operator (or anyone holding its credentials) does to the
//! stream while the ledger runs is found by the periodic check (every second in tests): appends are refused naming
//! the reason, health turns NOT_SERVING and the metric drops; a stream cut short, deleted or replaced is refused at
//! start, naming the position the checkpoints reached, and never created empty.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use async_nats::jetstream;
use coalition_ledger::startup::{Application, Roles};
use common::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn operator(nats: &Nats) -> jetstream::Context {
    jetstream::new(nats_client(&nats.url).await.unwrap())
}

async fn health(app: &TestApp) -> ServingStatus {
    let mut h = HealthClient::new(channel(app.append_addr).await);
    let service = "coalition.ledger.v1.LedgerAppend".to_owned();
    let r = h.check(tonic_health::pb::HealthCheckRequest { service }).await.unwrap().into_inner();
    ServingStatus::try_from(r.status).unwrap()
}

async fn metrics(app: &TestApp) -> String {
    let body = metrics_text(app.metrics_addr).await;
    body.lines().filter(|l| l.starts_with("ledger_stream_intact")).collect()
}

/// Appends an organisation until the answer is the guard's refusal (the check runs every second), returns it.
/// Before the check, an append may fail on its own (a subject no stream holds, a stream gone).
async fn refused_append(app: &mut TestApp) -> tonic::Status {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for i in 0.. {
        match app.append.append(organisation(&format!("probe-{i}"))).await {
            Err(status) if status.message().contains("appends are refused") => return status,
            other => assert!(tokio::time::Instant::now() < deadline, "never refused by the guard: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

#[tokio::test]
async fn a_loosened_stream_stops_appends_until_the_operator_restores_it() {
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 2).await;
    assert_eq!(health(&app).await, ServingStatus::Serving);
    assert_eq!(metrics(&app).await, "ledger_stream_intact 1");
    let js = operator(&app.nats).await;
    let original = js.get_stream(ledger_log::DEFAULT_STREAM).await.unwrap().cached_info().config.clone();
    let mut loosened = original.clone();
    loosened.subjects = vec!["ledger.coalition.>".into()];
    js.update_stream(&loosened).await.unwrap();

    let status = refused_append(&mut app).await;
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("subjects"), "the reason is not named: {}", status.message());
    assert_eq!(health(&app).await, ServingStatus::NotServing);
    assert_eq!(metrics(&app).await, "ledger_stream_intact 0");
    let stored = js.get_stream(ledger_log::DEFAULT_STREAM).await.unwrap().cached_info().state.last_sequence;
    assert!(stored <= end + 2, "appends went on after the violation: {stored} > {end} + the probes before the check");

    js.update_stream(&original).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.append.append(organisation("after-restore")).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "appends never resumed after the stream was restored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health(&app).await, ServingStatus::Serving);
}

#[tokio::test]
async fn evicted_history_is_found_while_running_and_refused_at_start() {
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 6).await;
    app.wait_projected(end).await;
    let js = operator(&app.nats).await;
    let mut evicting = js.get_stream(ledger_log::DEFAULT_STREAM).await.unwrap().cached_info().config.clone();
    evicting.max_messages = 3;
    evicting.discard = jetstream::stream::DiscardPolicy::Old;
    js.update_stream(&evicting).await.unwrap();
    let status = refused_append(&mut app).await;
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(status.message().contains("max_msgs"), "{}", status.message());
    // Loosening undone, but the history is gone: still refused, now for the first sequence.
    evicting.max_messages = -1;
    evicting.discard = jetstream::stream::DiscardPolicy::New;
    js.update_stream(&evicting).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = app.append.append(organisation("after")).await.unwrap_err();
    assert!(status.message().contains("first sequence is"), "{}", status.message());
    let (nats, db, settings, _) = app.stop().await;
    let err = Application::build(settings, Roles::ALL).await.err().expect("started on an evicted log");
    assert!(format!("{err:#}").contains("first sequence is"), "{err:#}");
    drop((nats, db));
}

#[tokio::test]
async fn a_deleted_stream_is_never_recreated_empty_and_a_replaced_one_is_refused() {
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 2).await;
    app.wait_projected(end).await;
    let js = operator(&app.nats).await;
    js.delete_stream(ledger_log::DEFAULT_STREAM).await.unwrap();
    let status = refused_append(&mut app).await;
    assert!(status.message().contains("missing"), "{}", status.message());
    let (nats, db, settings, _) = app.stop().await;

    // Restarted (even with the operator's own credentials, which may create streams): refused, naming the position.
    let mut as_operator = settings.clone();
    as_operator.nats_url = nats.url.clone();
    as_operator.nats = Default::default();
    let err = Application::build(as_operator, Roles::ALL).await.err().expect("created an empty stream");
    let msg = format!("{err:#}");
    assert!(msg.contains("missing") && msg.contains(&format!("position {end}")), "{msg}");
    assert!(js.get_stream(ledger_log::DEFAULT_STREAM).await.is_err(), "a stream was created");

    // Someone creates an empty stream in its place and writes to it: the projector refuses the log.
    js.create_stream(ledger_log::stream_config(&settings.log_config().unwrap())).await.unwrap();
    js.publish("ledger.organisation.forged", b"x".to_vec().into()).await.unwrap().await.unwrap();
    let err = Application::build(settings, Roles { append: false, query: false, projector: true, notary: false })
        .await
        .err()
        .expect("projected a replaced log");
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("below position {end}")), "{msg}");
    drop(db);
}
