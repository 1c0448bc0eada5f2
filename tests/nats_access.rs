//! NATS least privilege, tried as an attacker on the same machine would: an anonymous client and the ledger's own
//! users against the harness's nats-server (which runs with `ledger_log::authorization`); the ledger working with
//! each role as its own least-privileged user; no NATS secret in the logs, even at DEBUG.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use async_nats::jetstream;
use coalition_ledger::startup::{Application, Roles};
use common::*;
use ledger_proto::v1;

/// A JetStream context whose calls give up after 2 s (a request the server refuses for permissions is dropped, not
/// answered).
async fn js_as(url: &str) -> jetstream::Context {
    let client = nats_client(url).await.unwrap();
    jetstream::ContextBuilder::new().timeout(Duration::from_secs(2)).build(client)
}

/// What an attacker could change, read back by the operator: (messages, last sequence, subjects, max_msgs,
/// deny_purge, consumers).
async fn stream_state(nats: &Nats) -> (u64, u64, Vec<String>, i64, bool, Vec<String>) {
    let js = js_as(&nats.url).await;
    let mut stream = js.get_stream(ledger_log::DEFAULT_STREAM).await.unwrap();
    let info = stream.info().await.unwrap().clone();
    let mut names = Vec::new();
    let mut list = stream.consumer_names();
    while let Some(n) = futures::StreamExt::next(&mut list).await {
        names.push(n.unwrap());
    }
    names.sort();
    (
        info.state.messages,
        info.state.last_sequence,
        info.config.subjects,
        info.config.max_messages,
        info.config.deny_purge,
        names,
    )
}

#[tokio::test]
async fn an_anonymous_client_cannot_even_connect() {
    let nats = Nats::start();
    let err = async_nats::ConnectOptions::new()
        .max_reconnects(Some(1))
        .connect(nats.plain_url.as_str())
        .await
        .expect_err("an anonymous client was let in");
    assert!(err.to_string().contains("authorization"), "{err}");
    let wrong = format!("nats://reader:not-the-password@127.0.0.1:{}", nats.port);
    assert!(async_nats::ConnectOptions::new().max_reconnects(Some(1)).connect(wrong.as_str()).await.is_err());
}

#[tokio::test]
async fn readers_and_the_append_user_cannot_change_remove_or_forge_history() {
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 2).await;
    app.wait_projected(end).await;
    // A consumer of the operator's, which nobody else may delete.
    let operator = js_as(&app.nats.url).await;
    operator
        .get_stream(ledger_log::DEFAULT_STREAM)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config { durable_name: Some("audit".into()), ..Default::default() })
        .await
        .unwrap();
    let before = stream_state(&app.nats).await;
    assert_eq!(before.1, end);

    for user in ["reader", "append", "ledger"] {
        let js = js_as(&app.nats.url_as(user)).await;
        let mut loosened = js.get_stream(ledger_log::DEFAULT_STREAM).await.unwrap().cached_info().config.clone();
        loosened.subjects = vec!["ledger.coalition.>".into()];
        loosened.max_messages = 10;
        loosened.discard = jetstream::stream::DiscardPolicy::Old;
        let refused = |what: &str, ok: bool| assert!(!ok, "{user} could {what}");
        refused("update the stream", js.update_stream(&loosened).await.is_ok());
        refused("delete the stream", js.delete_stream(ledger_log::DEFAULT_STREAM).await.is_ok());
        let stream = js.get_stream(ledger_log::DEFAULT_STREAM).await.unwrap();
        refused("purge the stream", stream.purge().await.is_ok());
        refused("delete a consumer", stream.delete_consumer("audit").await.is_ok());
        refused(
            "create a stream",
            js.create_stream(jetstream::stream::Config {
                name: "SHADOW".into(),
                subjects: vec!["shadow.>".into()],
                ..Default::default()
            })
            .await
            .is_ok(),
        );
    }
    // Readers may not write into the log, not even an event id to pre-claim.
    let reader = js_as(&app.nats.url_as("reader")).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
    if let Ok(ack) = reader.publish_with_headers("ledger.organisation.forged", headers, b"forged".to_vec().into()).await
    {
        assert!(ack.await.is_err(), "the reader's forged event was stored");
    }
    assert_eq!(stream_state(&app.nats).await, before, "history or its consumers changed");
    // The ledger is still served and still writes.
    let after = app.append.append(organisation("org-after")).await.unwrap().into_inner().revision;
    assert_eq!(after, end + 1);
}

#[tokio::test]
async fn each_role_runs_as_its_own_least_privileged_user() {
    let nats = Nats::start();
    let db = Db::create().await;
    let base = settings(&nats, &db);
    create_stream(&nats, &base).await;
    let start = |user: &str, roles: Roles| {
        let mut s = base.clone();
        s.nats = nats.connect_as(user);
        async move {
            let app = Application::build(s, roles).await.unwrap();
            let addrs = (app.append_addr(), app.query_addr());
            let stop = tokio_util::sync::CancellationToken::new();
            let handle = tokio::spawn(app.run(stop.clone()));
            (addrs, stop, handle)
        }
    };
    let ((append_addr, _), stop_a, run_a) =
        start("append", Roles { append: true, query: false, projector: false, notary: false }).await;
    let (_, stop_p, run_p) =
        start("reader", Roles { append: false, query: false, projector: true, notary: false }).await;
    let ((_, query_addr), stop_q, run_q) =
        start("reader", Roles { append: false, query: true, projector: false, notary: false }).await;
    let mut append = v1::ledger_append_client::LedgerAppendClient::new(channel(append_addr.unwrap()).await);
    let mut query = v1::ledger_query_client::LedgerQueryClient::new(channel(query_addr.unwrap()).await);
    let mut replay = v1::ledger_replay_client::LedgerReplayClient::new(channel(query_addr.unwrap()).await);
    append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap();
    append.append(organisation("org-1")).await.unwrap();
    let end = append.append(membership("se", "org-1", vec![joined("se", "org-1", date(2020, 1, 1))])).await.unwrap();
    let end = end.into_inner().revision;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = query.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
        if s.projections.len() == TestApp::PROJECTIONS && s.projections.iter().all(|p| p.position >= end) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reader-only projector never reached {end}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replayed: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(
        replay.replay(v1::ReplayRequest::default()).await.unwrap().into_inner(),
    )
    .await
    .unwrap();
    assert_eq!(replayed.len() as u64, end);
    for (stop, run) in [(stop_a, run_a), (stop_p, run_p), (stop_q, run_q)] {
        stop.cancel();
        run.await.unwrap().unwrap();
    }
}

/// Runs `ledger append-api` at DEBUG (in `format`: text or json) until it listens; returns what it logged.
async fn debug_log_of_a_start(envs: Vec<(&'static str, String)>, format: &str) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("append-api")
        .envs(envs)
        .env("LEDGER_APPEND_ADDR", "127.0.0.1:0")
        .env("LEDGER_INSECURE_NO_AUTH", "true")
        .env("LEDGER_LOG_FORMAT", format)
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("append API listening") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), read).await;
    let _ = child.kill().await;
    log
}

#[tokio::test]
async fn no_nats_secret_reaches_the_log_even_at_debug() {
    let nats = Nats::start();
    create_stream(&nats, &settings(&nats, &Db::create().await)).await;
    let password = std::fs::read_to_string(nats.password_file("append")).unwrap();
    // In the URL (the worst case) and from a file.
    let in_url = vec![("LEDGER_NATS_URL", nats.url_as("append"))];
    let from_file = nats.env_as("append").into_iter().collect();
    for (envs, format) in [(in_url.clone(), "text"), (in_url, "json"), (from_file, "text")] {
        let log = debug_log_of_a_start(envs, format).await;
        assert!(log.contains("connected to the log"), "the append API did not start:\n{log}");
        assert!(log.contains("DEBUG"), "no DEBUG line was logged, so the check proves nothing:\n{log}");
        assert!(!log.contains(&password), "the NATS password is in the {format} log:\n{log}");
    }
}

#[test]
fn docker_compose_runs_nats_with_the_authorization_block_the_ledger_prints() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_ledger")).args(["nats", "authorization"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let compose = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml")).unwrap();
    // Compose writes `$` as `$$`; the block is indented under `nats_conf`.
    let expected: String = printed.lines().map(|l| format!("      {}\n", l.replace('$', "$$"))).collect();
    assert!(
        compose.contains(&expected),
        "docker-compose.yml's nats_conf must hold `ledger nats authorization` as printed:\n{expected}"
    );
}
