//! Limits against abuse: each holds, and the other clients stay served meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use coalition_ledger::startup::Roles;
use common::*;
use ledger_proto::v1;
use tonic::Code;

/// An organisation whose name (300 three-byte characters) makes an event of about 1.1 KB.
fn big_organisation(id: &str) -> v1::AppendRequest {
    let mut r = organisation(id);
    if let Some(v1::event_payload::Event::OrganisationRegistered(o)) =
        r.events[0].payload.as_mut().and_then(|p| p.event.as_mut())
    {
        o.name = "漢".repeat(300);
    }
    r
}

#[tokio::test]
async fn an_oversized_event_is_refused_alone_and_the_appends_grouped_with_it_are_written() {
    let app = TestApp::spawn_with(Roles::ALL, |s| s.limits.max_event_bytes = 1024).await;
    // Small and oversized appends at once, so that the group committer sees them together.
    let mut calls = Vec::new();
    for i in 0..48 {
        let mut client = app.append.clone();
        let request = if i % 6 == 0 { big_organisation(&format!("big-{i}")) } else { organisation(&format!("o-{i}")) };
        calls.push(tokio::spawn(async move { (i, client.append(request).await) }));
    }
    let (mut written, mut refused) = (0, 0);
    for call in calls {
        let (i, result) = call.await.unwrap();
        match result {
            Ok(_) => {
                assert_ne!(i % 6, 0, "the oversized append {i} was written");
                written += 1;
            }
            Err(e) => {
                assert_eq!(i % 6, 0, "the small append {i} failed: {e:?}");
                assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
                assert!(e.message().contains("events[0]") && e.message().contains("1024 bytes"), "{}", e.message());
                refused += 1;
            }
        }
    }
    assert_eq!((written, refused), (40, 8));
}

#[tokio::test]
async fn a_request_above_the_size_limit_is_out_of_range_and_others_are_served() {
    let app = TestApp::spawn_with(Roles::ALL, |s| s.limits.max_request_bytes = 256 * 1024).await;
    let mut huge = organisation("huge");
    huge.events[0].actor = "a".repeat(300 * 1024);
    let (mut client, mut other) = (app.append.clone(), app.append.clone());
    let (big, small) = tokio::join!(client.append(huge), other.append(organisation("small")));
    let err = big.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    small.unwrap();
    // The connection that carried the refused request still serves.
    client.append(organisation("after")).await.unwrap();
}

#[tokio::test]
async fn a_replay_from_a_time_outside_years_1_to_9999_is_invalid_not_a_panic() {
    let mut app = TestApp::spawn().await;
    for seconds in [-377_705_116_800, 253_402_300_800, i64::MIN] {
        let request = v1::ReplayRequest {
            start: Some(v1::replay_request::Start::FromTime(prost_types::Timestamp { seconds, nanos: 0 })),
            ..Default::default()
        };
        let err = app.replay.replay(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{seconds}: {err:?}");
        assert!(err.message().contains("from_time"), "{}", err.message());
    }
    // The server is still there.
    app.append.append(organisation("after")).await.unwrap();
}

/// A query that waits for a position the log will not reach for `ms` milliseconds, then answers
/// DEADLINE_EXCEEDED: a call that stays in flight on purpose.
fn waiting_query(ms: u32) -> v1::ReportRequest {
    reporting("", Some(v1::Consistency { min_position: 1_000_000, max_wait_ms: ms }))
}

mod secured {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::common::auth::{Keys, with};
    use ledger_proto::v1::ledger_replay_client::LedgerReplayClient;

    async fn app(keys: &Keys, tweak: impl FnOnce(&mut coalition_ledger::config::LimitSettings)) -> TestApp {
        let path = keys.public_keys();
        TestApp::spawn_with(Roles::ALL, move |s| {
            s.auth.insecure_no_auth = false;
            s.auth.auth_public_keys = Some(path);
            tweak(&mut s.limits);
        })
        .await
    }

    #[tokio::test]
    async fn a_principal_over_its_in_flight_cap_is_refused_while_another_is_served() {
        let keys = Keys::new();
        let app = app(&keys, |l| l.max_in_flight_per_principal = 2).await;
        let (a, b) = (keys.token("a", "reader", &["se"]), keys.token("b", "reader", &["se"]));
        let mut held = Vec::new();
        for _ in 0..2 {
            let (mut q, a) = (app.query.clone(), a.clone());
            held.push(tokio::spawn(async move { q.coalition_growth(with(&a, waiting_query(1500))).await }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let err = app.query.clone().projection_status(with(&a, v1::ProjectionStatusRequest {})).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert!(err.message().contains("principal a already has 2 calls in flight"), "{}", err.message());
        let started = Instant::now();
        app.query.clone().projection_status(with(&b, v1::ProjectionStatusRequest {})).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(1000), "b waited {:?}", started.elapsed());
        for h in held {
            assert_eq!(h.await.unwrap().unwrap_err().code(), Code::DeadlineExceeded);
        }
        // Once its calls ended, a is served again.
        app.query.clone().projection_status(with(&a, v1::ProjectionStatusRequest {})).await.unwrap();
    }

    #[tokio::test]
    async fn a_principal_over_its_rate_is_refused_while_another_is_served() {
        let keys = Keys::new();
        let app = app(&keys, |l| {
            l.rate_limit = 2.0;
            l.rate_burst = 5.0;
        })
        .await;
        let (a, b) = (keys.token("a", "reader", &["se"]), keys.token("b", "reader", &["se"]));
        let mut q = app.query.clone();
        let mut refused = 0;
        for _ in 0..10 {
            match q.projection_status(with(&a, v1::ProjectionStatusRequest {})).await {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                    assert!(e.message().contains("rate limit of 2 calls per second"), "{}", e.message());
                    refused += 1;
                }
            }
        }
        assert!((4..=5).contains(&refused), "{refused} of 10 refused with a burst of 5");
        q.projection_status(with(&b, v1::ProjectionStatusRequest {})).await.unwrap();
        let text = metrics_text(app.metrics_addr).await;
        assert!(text.contains("ledger_limit_refusals_total{limit=\"rate\"}"), "{text}");
    }

    #[tokio::test]
    async fn a_principal_with_its_replays_open_is_refused_another_while_others_replay() {
        let keys = Keys::new();
        let mut app = app(&keys, |l| l.max_replays_per_principal = 1).await;
        let writer = keys.token("w", "platform-admin", &[]);
        // A log longer than one HTTP/2 window, so that an unread replay stays open.
        let mut renames = vec![];
        for i in 0..499 {
            renames.push(event(v1::event_payload::Event::OrganisationRenamed(v1::OrganisationRenamed {
                name: format!("Organisation renamed {i} with a long enough name to fill the window"),
            })));
        }
        for o in 0..3 {
            let id = format!("o{o}");
            app.append.append(with(&writer, organisation(&id))).await.unwrap();
            let r = request(v1::AggregateType::Organisation, &id, None, renames.clone());
            let r = v1::AppendRequest {
                events: r
                    .events
                    .into_iter()
                    .map(|mut e| {
                        e.event_id = uuid::Uuid::new_v4().to_string();
                        e
                    })
                    .collect(),
                ..r
            };
            app.append.append(with(&writer, r)).await.unwrap();
        }
        let (a, b) = (keys.token("a", "auditor", &[]), keys.token("b", "auditor", &[]));
        let mut first = LedgerReplayClient::new(channel(app.query_addr).await);
        let open = first.replay(with(&a, v1::ReplayRequest::default())).await.unwrap().into_inner();
        let err = app.replay.replay(with(&a, v1::ReplayRequest::default())).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert!(err.message().contains("principal a already has 1 replays open"), "{}", err.message());
        let all = crate::common::auth::replay_with(&mut app, &b, v1::ReplayRequest::default()).await;
        assert_eq!(all.len(), 3 * 500);
        // Closing the stream closes the replay: a may open one again.
        drop(open);
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match app.replay.replay(with(&a, v1::ReplayRequest { limit: 1, ..Default::default() })).await {
                Ok(_) => break,
                Err(e) if e.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("the closed replay still counts: {e:?}"),
            }
        }
    }
}

#[tokio::test]
async fn queries_waiting_for_a_position_hold_no_pooled_connection() {
    let app = TestApp::spawn_with(Roles::ALL, |s| s.limits.db_pool_size = 2).await;
    let mut waiting = Vec::new();
    for _ in 0..16 {
        let mut q = app.query.clone();
        waiting.push(tokio::spawn(async move { q.coalition_growth(waiting_query(2000)).await }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    app.query.clone().projection_status(v1::ProjectionStatusRequest {}).await.unwrap();
    app.query.clone().projection_status(v1::ProjectionStatusRequest {}).await.unwrap();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_millis(1000), "served in {took:?} beside 16 waiting queries");
    for w in waiting {
        assert_eq!(w.await.unwrap().unwrap_err().code(), Code::DeadlineExceeded);
    }
}

#[tokio::test]
async fn a_pool_with_every_connection_busy_answers_within_its_acquire_timeout() {
    let db = Db::create().await;
    let pool = ledger_readmodel::Pool::new(
        ledger_readmodel::Postgres::parse(&db.url).unwrap(),
        1,
        std::time::Duration::from_millis(200),
    );
    let held = pool.get().await.unwrap();
    let started = std::time::Instant::now();
    let err = pool.get().await.err().expect("a second connection from a pool of one");
    assert!(matches!(err, ledger_readmodel::PoolError::Busy { size: 1, .. }), "{err}");
    assert!(err.to_string().contains("all 1 connections to Postgres stayed busy"), "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(200) && waited < std::time::Duration::from_secs(2),
        "{waited:?}"
    );
    drop(held);
    pool.get().await.unwrap();
}

#[tokio::test]
async fn a_connection_at_its_stream_cap_waits_while_another_connection_is_served() {
    let app = TestApp::spawn_with(Roles::ALL, |s| s.limits.max_concurrent_streams = 2).await;
    let mut shared = ledger_proto::v1::ledger_query_client::LedgerQueryClient::new(channel(app.query_addr).await);
    // One call first, so that the client knows the server's settings (a stream opened before would be refused).
    shared.projection_status(v1::ProjectionStatusRequest {}).await.unwrap();
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let mut q = shared.clone();
            tokio::spawn(async move {
                let err = q.coalition_growth(waiting_query(1000)).await.unwrap_err();
                assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
                started.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let other = std::time::Instant::now();
    let mut q = ledger_proto::v1::ledger_query_client::LedgerQueryClient::new(channel(app.query_addr).await);
    q.projection_status(v1::ProjectionStatusRequest {}).await.unwrap();
    assert!(
        other.elapsed() < std::time::Duration::from_millis(700),
        "the other connection waited {:?}",
        other.elapsed()
    );
    let mut ended = Vec::new();
    for c in calls {
        ended.push(c.await.unwrap());
    }
    ended.sort();
    // Two ran at once; the third started when one of them ended.
    assert!(ended[1] < std::time::Duration::from_millis(1800), "{ended:?}");
    assert!(ended[2] >= std::time::Duration::from_millis(1900), "{ended:?}");
}

#[tokio::test]
async fn a_call_past_the_request_timeout_is_cancelled_and_the_server_goes_on() {
    let app = TestApp::spawn_with(Roles::ALL, |s| s.limits.request_timeout_secs = 1).await;
    let started = std::time::Instant::now();
    let err = app.query.clone().coalition_growth(waiting_query(5000)).await.unwrap_err();
    assert_eq!(err.code(), Code::Cancelled, "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_millis(2500), "{:?}", started.elapsed());
    app.query.clone().projection_status(v1::ProjectionStatusRequest {}).await.unwrap();
}

mod dashboard {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// Reads until the server closes the connection (or `limit` passes); returns how long that took.
    async fn closed_after(conn: &mut TcpStream, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(limit.saturating_sub(started.elapsed()), conn.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => {}
            }
        }
    }

    #[tokio::test]
    async fn slow_and_idle_connections_are_closed_and_a_capped_server_still_serves_afterwards() {
        let app = TestApp::spawn_with(Roles::ALL, |s| {
            s.limits.http_header_timeout_secs = 1;
            s.limits.http_max_connections = 3;
        })
        .await;
        let addr = app.dashboard_addr.unwrap();
        // A slow client sending a header byte every 200 ms, and two idle ones, fill the cap.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        let drip = tokio::spawn(async move {
            let started = Instant::now();
            for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if slow.write_all(&[*b]).await.is_err() {
                    return Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            closed_after(&mut slow, Duration::from_secs(1)).await.map(|d| d + started.elapsed())
        });
        let mut idle: Vec<TcpStream> = Vec::new();
        for _ in 0..2 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Over the cap: closed at once.
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        let closed = closed_after(&mut fourth, Duration::from_millis(800)).await;
        assert!(closed.is_some(), "a connection over the cap was kept open");
        // The header timeout closes the idle ones and the slow one, though it keeps sending.
        for conn in &mut idle {
            let after = closed_after(conn, Duration::from_secs(3)).await.expect("an idle connection stayed open");
            assert!(after < Duration::from_millis(2500), "{after:?}");
        }
        let slow_closed = drip.await.unwrap().expect("the slow connection stayed open");
        assert!(slow_closed < Duration::from_millis(2500), "{slow_closed:?}");
        // Then the dashboard serves again.
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut page = String::new();
        conn.read_to_string(&mut page).await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200"), "{}", &page[..page.len().min(200)]);
    }
}
