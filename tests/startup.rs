//! Start-up and operations: refusing an old server and a mutable stream, health and reflection, graceful stop,
//! migrations twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use coalition_ledger::startup::{Application, Roles};
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A fake NATS server that announces version 2.9.10 and answers PINGs.
async fn old_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = socket.into_split();
                let info = format!(
                    "INFO {{\"server_id\":\"fake\",\"server_name\":\"fake\",\"version\":\"2.9.10\",\"proto\":1,\
                     \"go\":\"go1.19\",\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\
                     \"max_payload\":1048576,\"jetstream\":true}}\r\n"
                );
                w.write_all(info.as_bytes()).await.ok();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.starts_with("PING") {
                        w.write_all(b"PONG\r\n").await.ok();
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn the_service_refuses_a_nats_server_older_than_2_10_and_says_what_to_install() {
    let port = old_server().await;
    let db = Db::create().await;
    let nats = Nats::start();
    let mut s = settings(&nats, &db);
    s.nats_url = format!("nats://127.0.0.1:{port}");
    let err = Application::build(s, Roles::ALL).await.err().expect("must refuse");
    let msg = format!("{err:#}");
    assert!(msg.contains("2.9.10") && msg.contains(">= 2.10") && msg.contains("2.12"), "{msg}");
}

#[tokio::test]
async fn the_service_refuses_a_stream_that_allows_history_to_be_purged() {
    let nats = Nats::start();
    let db = Db::create().await;
    let client = nats_client(&nats.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "LEDGER".into(),
        subjects: vec!["ledger.>".into()],
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        deny_delete: true,
        deny_purge: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let err = Application::build(settings(&nats, &db), Roles::ALL).await.err().expect("must refuse");
    let msg = format!("{err:#}");
    assert!(msg.contains("not immutable") && msg.contains("deny_purge"), "{msg}");
}

#[tokio::test]
async fn health_and_reflection_answer_and_a_graceful_stop_returns_ok() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = TestApp::spawn().await;
    // Each port's reflection lists exactly what the port serves.
    let common = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"];
    let append_port: Vec<&str> = common.into_iter().chain(["coalition.ledger.v1.LedgerAppend"]).collect();
    let query_port: Vec<&str> = common
        .into_iter()
        .chain([
            "coalition.ledger.v1.LedgerQuery",
            "coalition.ledger.v1.LedgerReplay",
            "coalition.ledger.v1.LedgerAudit",
        ])
        .collect();
    for (addr, service, listed) in [
        (app.append_addr, "coalition.ledger.v1.LedgerAppend", &append_port),
        (app.query_addr, "coalition.ledger.v1.LedgerQuery", &query_port),
        (app.query_addr, "coalition.ledger.v1.LedgerReplay", &query_port),
        (app.query_addr, "coalition.ledger.v1.LedgerAudit", &query_port),
    ] {
        let mut health = HealthClient::new(channel(addr).await);
        let r = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service}");

        let mut reflection = ServerReflectionClient::new(channel(addr).await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut replies = reflection.server_reflection_info(futures::stream::iter([req])).await.unwrap().into_inner();
        let reply = replies.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else { panic!("{reply:?}") };
        let mut names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        let mut expected = listed.clone();
        expected.sort_unstable();
        assert_eq!(names, expected, "reflection on the port of {service}");
    }
    let (_nats, db, settings, result) = app.stop().await;
    result.unwrap();

    // Migrations are idempotent: a second run applies nothing.
    assert!(coalition_ledger::startup::migrate(&db.postgres()).await.unwrap().is_empty());
    assert!(coalition_ledger::startup::migrate(&settings.databases().unwrap().owner).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn metrics_show_appends_by_outcome_and_projection_lag() {
    let mut app = TestApp::spawn().await;
    let pos = app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap().into_inner().revision;
    let _ = app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap_err(); // established twice
    app.wait_projected(pos).await;
    let mut conn = tokio::net::TcpStream::connect(app.metrics_addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await.unwrap();
    let mut body = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut conn, &mut body).await.unwrap();
    for expected in [
        "ledger_appends_total{outcome=\"written\"} 1",
        "ledger_appends_total{outcome=\"rule\"} 1",
        "ledger_events_written_total 1",
        "ledger_log_end_position 1",
        "ledger_projection_position{projection=\"coalition_growth\"} 1",
        "ledger_projection_lag_events{projection=\"coalition_growth\"} 0",
    ] {
        assert!(body.contains(expected), "{expected:?} missing from:\n{body}");
    }
}

#[tokio::test]
async fn the_reporting_role_reads_the_reporting_views_and_nothing_else() {
    let mut app = TestApp::spawn().await;
    let pos = seed(&mut app, 2).await;
    app.wait_projected(pos).await;
    let client = app.db.client().await;
    // A BI user: a login role that is a member of ledger_reporting.
    let user = format!("bi_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE ROLE {user} LOGIN IN ROLE ledger_reporting")).await.unwrap();
    let mut cfg: tokio_postgres::Config = app.db.url.parse().unwrap();
    cfg.user(&user);
    let (bi, conn) = cfg.connect(tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(conn);
    let members: i64 =
        bi.query_one("SELECT sum(members)::bigint FROM reporting.coalition_members_current", &[]).await.unwrap().get(0);
    assert_eq!(members, 2);
    // Every view of `reporting` is readable by the role, and every column of it is documented.
    let views = client
        .query("SELECT table_name FROM information_schema.views WHERE table_schema = 'reporting' ORDER BY 1", &[])
        .await
        .unwrap();
    // Exactly the catalogue's views, and the context views its reports read (made by migrations).
    let mut expected: Vec<String> = ledger_readmodel::ReadModel::ALL
        .iter()
        .flat_map(|m| m.spec().views.iter().map(|v| (*v).to_owned()))
        .chain(ledger_readmodel::REPORTS.iter().filter(|r| r.context).map(|r| r.view["reporting.".len()..].to_owned()))
        .collect();
    expected.sort();
    let mut found: Vec<String> = views.iter().map(|v| v.get(0)).collect();
    found.sort();
    assert_eq!(found, expected);
    for v in &views {
        let view: String = v.get(0);
        bi.query(&format!("SELECT * FROM reporting.{view} LIMIT 1"), &[]).await.unwrap();
    }
    let undocumented: Vec<String> = client
        .query(
            "SELECT c.relname || '.' || a.attname FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'reporting' AND c.relkind = 'v' AND a.attnum > 0
               AND col_description(c.oid, a.attnum) IS NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(undocumented.is_empty(), "reporting columns without a comment: {undocumented:?}");
    // docs/reporting.md documents each view column with the same words (and type) as the database.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reporting.md")).unwrap();
    let columns = client
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'reporting' AND c.relkind = 'v' AND a.attnum > 0 ORDER BY c.relname, a.attnum",
            &[],
        )
        .await
        .unwrap();
    for r in &columns {
        let (view, column, ty, comment): (String, String, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        let section = doc.split(&format!("## reporting.{view}\n")).nth(1).unwrap_or_else(|| panic!("docs: no {view}"));
        let section = section.split("\n## ").next().unwrap_or_default();
        let line = format!("| `{column}` | {ty} | {comment} |");
        assert!(section.contains(&line), "docs/reporting.md, {view}: expected the line {line}");
    }
    let schema: String = client
        .query_one("SELECT schema_name FROM ledger.projections WHERE name = 'coalition_growth'", &[])
        .await
        .unwrap()
        .get(0);
    for forbidden in ["SELECT * FROM ledger.projections".to_owned(), format!("SELECT * FROM {schema}.members")] {
        let err = bi.query(&forbidden, &[]).await.unwrap_err();
        assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE), "{forbidden}: {err}");
    }
    assert!(bi.batch_execute("DELETE FROM reporting.coalition_growth_monthly").await.is_err());
    drop(bi);
    let _ = driver.await;
    client.batch_execute(&format!("DROP OWNED BY {user}; DROP ROLE {user}")).await.unwrap();
}

/// Sends `body` as the request of `path`, whatever it holds (a client that sends garbage).
async fn raw_call(addr: std::net::SocketAddr, path: &'static str, body: Vec<u8>) -> tonic::Status {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Default)]
    struct Raw;
    struct RawEncoder;
    struct RawDecoder;
    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            bytes::BufMut::put_slice(buf, &item);
            Ok(())
        }
    }
    impl Decoder for RawDecoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            let n = bytes::Buf::remaining(buf);
            Ok(Some(bytes::Buf::copy_to_bytes(buf, n).to_vec()))
        }
    }
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawEncoder;
        type Decoder = RawDecoder;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> RawDecoder {
            RawDecoder
        }
    }
    let mut grpc = tonic::client::Grpc::new(channel(addr).await);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(body), path, Raw).await.unwrap_err()
}

#[tokio::test]
async fn a_request_that_does_not_decode_is_invalid_argument_naming_the_message() {
    let app = TestApp::spawn().await;
    for (addr, path, message) in [
        (app.append_addr, "/coalition.ledger.v1.LedgerAppend/Append", "AppendRequest"),
        (app.query_addr, "/coalition.ledger.v1.LedgerQuery/CoalitionGrowth", "ReportRequest"),
    ] {
        for body in [vec![0xff, 0xff, 0xff], vec![0x0a, 0x05, 0x01]] {
            let status = raw_call(addr, path, body).await;
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{path}: {status:?}");
            assert!(status.message().contains(message), "{path}: {}", status.message());
        }
    }
}
