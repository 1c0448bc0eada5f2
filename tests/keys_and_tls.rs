//! Keys and transport against the running ledger: signing keys rotated without a restart, mutual TLS mapping
//! client certificates to principals, and a server that refuses to start open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use coalition_ledger::startup::{Application, Roles};
use common::auth::*;
use common::*;
use futures::StreamExt;
use ledger_auth::keys::{self, SigningKey};
use ledger_auth::token::{self, GrantClaim};
use ledger_proto::v1;
use tonic::Code;

#[tokio::test]
async fn keys_rotate_without_a_restart_and_old_events_read_with_an_unknown_principal() {
    let keys = Keys::new();
    let mut app = secured(&keys).await;
    let old = keys.token("platform", "platform-admin", &[]);
    app.append.append(with(&old, coalition("a", "SE", date(2018, 1, 1)))).await.unwrap();

    // A new key joins the file: tokens of both are valid, without a restart.
    let g = keys::generate(keys.dir.path(), "next").unwrap();
    let next_key = SigningKey::read(&g.private_key).unwrap();
    let new = token::mint(
        &next_key,
        ISS,
        AUD,
        "platform-2",
        vec![GrantClaim { role: "platform-admin".into(), coalitions: vec![] }],
        HOUR,
    )
    .unwrap();
    let accepted = |t: String| {
        let mut a = app.append.clone();
        async move { a.append(with(&t, organisation(&format!("o-{}", uuid::Uuid::new_v4().simple())))).await }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while accepted(new.clone()).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the new key was never accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    accepted(old.clone()).await.unwrap();

    // The old key is retired: its tokens are refused, the new ones still accepted.
    assert!(keys::remove(&keys.public_keys(), &keys.key.kid).unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match accepted(old.clone()).await {
            Err(s) if s.code() == Code::Unauthenticated => {
                assert!(s.message().contains("unknown key"), "{}", s.message());
                break;
            }
            _ => assert!(tokio::time::Instant::now() < deadline, "the old key was never retired"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    accepted(new.clone()).await.unwrap();

    // A half-written key file keeps the keys in service.
    std::fs::write(keys.public_keys(), "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    accepted(new.clone()).await.unwrap();

    // An event from before principals were recorded (an envelope without one) reads as `unknown`.
    let body = stored_event("organisation", "legacy", "organisation_registered", 1, 1_600_000_000, {
        prost::Message::encode_to_vec(&v1::OrganisationRegistered {
            name: "Legacy".into(),
            country: "SE".into(),
            organisation_type: v1::OrganisationType::IctCompany.into(),
            size: v1::OrganisationSize::Sme.into(),
        })
    });
    let at = app.publish_by_hand("ledger.organisation.legacy", body).await;
    let events = replay_with(
        &mut app,
        &new,
        v1::ReplayRequest { start: Some(v1::replay_request::Start::FromPosition(1)), ..Default::default() },
    )
    .await;
    let by_position = |p: u64| events.iter().find(|e| e.position == p).unwrap();
    assert_eq!(by_position(at).principal, "unknown");
    assert_eq!(by_position(1).principal, "platform");
    assert!(events.iter().any(|e| e.principal == "platform-2"));
}

#[tokio::test]
async fn a_server_without_keys_refuses_to_start_and_says_how_to_make_them() {
    let nats = Nats::start();
    let db = Db::create().await;
    let mut s = settings(&nats, &db);
    s.auth.insecure_no_auth = false;
    let err = Application::build(s, Roles::ALL).await.err().expect("started without authentication");
    let msg = format!("{err:#}");
    assert!(msg.contains("ledger auth keygen") && msg.contains("--insecure-no-auth"), "{msg}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate for `cn`, as PEM files in `dir`.
fn certificates(dir: &Path, cn: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
    let ca = common::tls::TestCa::new("ledger test CA");
    let (server_cert, server_key) = ca.leaf(vec!["localhost".into()], "localhost");
    let (client_cert, client_key) = ca.leaf(vec![], cn);
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    (
        write("ca.pem", ca.pem.clone()),
        write("server.pem", server_cert),
        write("server.key", server_key),
        write("client.pem", client_cert),
        write("client.key", client_key),
    )
}

#[tokio::test]
async fn mutual_tls_maps_client_certificates_to_principals_and_refuses_clients_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key, client_cert, client_key) = certificates(dir.path(), "gateway.internal");
    let principals = dir.path().join("clients.json");
    std::fs::write(
        &principals,
        r#"{"clients": [{"common_name": "gateway.internal", "principal": "gateway",
                          "grants": [{"role": "platform-admin"}]}]}"#,
    )
    .unwrap();
    let nats = Nats::start();
    let db = Db::create().await;
    let mut s = settings(&nats, &db);
    s.auth.insecure_no_auth = false;
    s.auth.tls_cert = Some(cert);
    s.auth.tls_key = Some(key);
    s.auth.tls_client_ca = Some(ca.clone());
    s.auth.tls_client_principals = Some(principals);
    common::create_stream(&nats, &s).await;
    let app = Application::build(s, Roles::ALL).await.unwrap();
    let addr = app.append_addr().unwrap();
    let query_addr = app.query_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let handle = tokio::spawn(app.run(stop.clone()));

    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let ca_pem = std::fs::read(&ca).unwrap();
    let endpoint = |addr: std::net::SocketAddr, identity: Option<Identity>| {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem)).domain_name("localhost");
        if let Some(i) = identity {
            tls = tls.identity(i);
        }
        Endpoint::from_shared(format!("https://{addr}")).unwrap().tls_config(tls).unwrap()
    };
    // Without a client certificate the handshake is refused: no call gets through.
    let no_cert = match endpoint(addr, None).connect().await {
        Err(e) => format!("connect: {e}"),
        Ok(ch) => {
            let mut c = ledger_proto::v1::ledger_append_client::LedgerAppendClient::new(ch);
            let s = c
                .append(coalition("a", "SE", date(2018, 1, 1)))
                .await
                .expect_err("a client without a certificate got through");
            assert_ne!(s.code(), Code::Ok);
            format!("{s:?}")
        }
    };
    assert!(!no_cert.is_empty());

    // With one, the certificate's principal appends, and the log records it.
    let identity = Identity::from_pem(std::fs::read(&client_cert).unwrap(), std::fs::read(&client_key).unwrap());
    let mut c = ledger_proto::v1::ledger_append_client::LedgerAppendClient::new(
        endpoint(addr, Some(identity.clone())).connect().await.unwrap(),
    );
    let position = c.append(coalition("a", "SE", date(2018, 1, 1))).await.unwrap().into_inner().revision;
    let mut r = ledger_proto::v1::ledger_replay_client::LedgerReplayClient::new(
        endpoint(query_addr, Some(identity)).connect().await.unwrap(),
    );
    let events: Vec<_> = r.replay(v1::ReplayRequest::default()).await.unwrap().into_inner().collect().await;
    let e = events.into_iter().map(|e| e.unwrap()).find(|e| e.position == position).unwrap();
    assert_eq!(e.principal, "gateway");
    stop.cancel();
    handle.await.unwrap().unwrap();
}
