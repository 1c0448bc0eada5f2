//! Identity and access against the running ledger with real keys and tokens: every RPC against every kind of
//! caller, readers confined to their coalition's rows, the writer recorded in the log. (Keys and TLS:
//! `keys_and_tls.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::auth::*;
use common::*;
use futures::StreamExt;
use ledger_auth::keys::SigningKey;
use ledger_auth::token::{self, Claims};
use ledger_proto::v1;
use ledger_proto::v1::event_payload::Event as P;
use ledger_proto::v1::ledger_audit_client::LedgerAuditClient;
use tonic::Code;

fn national(id: &str, country: &str) -> v1::AppendRequest {
    coalition(id, country, date(2018, 1, 1))
}

fn activity(coalition: &str, org: &str) -> v1::AppendRequest {
    request(
        v1::AggregateType::Activity,
        &format!("act-{}", uuid::Uuid::new_v4().simple()),
        None,
        vec![event(P::ActivityReported(v1::ActivityReported {
            organisation_id: org.into(),
            coalition_id: coalition.into(),
            kind: v1::ActivityKind::Event.into(),
            pillar: v1::Pillar::All.into(),
            held_on: date(2024, 2, 2),
            participants: 10,
            women: 4,
            per_country: vec![],
        }))],
    )
}

/// The RPCs, each called "on" coalition `on` (its request names it where the call takes a coalition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Append,
    AppendMany,
    Replay,
    ListCheckpoints,
    CoalitionGrowth,
    MembersByType,
    CurrentMembers,
    NationalCoalitions,
    PledgePipeline,
    PledgeScoreboard,
    OrganisationScoreboard,
    Outcomes,
    Participation,
    ContentShared,
    DormantMembers,
    DigitalDecadeTargets,
    ProjectionStatus,
}

const RPCS: [Rpc; 17] = [
    Rpc::Append,
    Rpc::AppendMany,
    Rpc::Replay,
    Rpc::ListCheckpoints,
    Rpc::CoalitionGrowth,
    Rpc::MembersByType,
    Rpc::CurrentMembers,
    Rpc::NationalCoalitions,
    Rpc::PledgePipeline,
    Rpc::PledgeScoreboard,
    Rpc::OrganisationScoreboard,
    Rpc::Outcomes,
    Rpc::Participation,
    Rpc::ContentShared,
    Rpc::DormantMembers,
    Rpc::DigitalDecadeTargets,
    Rpc::ProjectionStatus,
];

/// Calls `rpc` with `token` on coalition `on`; the code it answered (for `AppendMany`, its one append's code).
async fn call(app: &TestApp, rpc: Rpc, token: &str, on: &str) -> Code {
    let (mut a, mut q, mut r) = (app.append.clone(), app.query.clone(), app.replay.clone());
    let report = || {
        with(
            token,
            v1::ReportRequest {
                filter: Some(v1::ReportFilter { coalition_id: on.into(), ..Default::default() }),
                ..Default::default()
            },
        )
    };
    let unfiltered = || with(token, v1::ReportRequest::default());
    let code = |r: Result<(), tonic::Status>| r.err().map_or(Code::Ok, |s| s.code());
    match rpc {
        Rpc::Append => code(a.append(with(token, activity(on, "org-1"))).await.map(drop)),
        Rpc::AppendMany => {
            match a.append_many(with(token, v1::AppendManyRequest { appends: vec![activity(on, "org-1")] })).await {
                Err(s) => s.code(),
                Ok(r) => match &r.into_inner().results[0].result {
                    Some(v1::append_result::Result::Ok(_)) => Code::Ok,
                    Some(v1::append_result::Result::Failed(f)) => Code::from_i32(f.code),
                    None => Code::Unknown,
                },
            }
        }
        Rpc::Replay => match r.replay(with(token, v1::ReplayRequest { limit: 5, ..Default::default() })).await {
            Err(s) => s.code(),
            Ok(s) => {
                let items: Vec<_> = s.into_inner().collect().await;
                items.into_iter().find_map(|i| i.err()).map_or(Code::Ok, |s| s.code())
            }
        },
        Rpc::ListCheckpoints => {
            let mut audit = LedgerAuditClient::new(channel(app.query_addr).await);
            code(audit.list_checkpoints(with(token, v1::ListCheckpointsRequest::default())).await.map(drop))
        }
        Rpc::CoalitionGrowth => code(q.coalition_growth(report()).await.map(drop)),
        Rpc::MembersByType => code(q.members_by_type(report()).await.map(drop)),
        Rpc::CurrentMembers => code(q.current_members(report()).await.map(drop)),
        Rpc::NationalCoalitions => code(q.national_coalitions(unfiltered()).await.map(drop)),
        Rpc::PledgePipeline => code(q.pledge_pipeline(report()).await.map(drop)),
        Rpc::PledgeScoreboard => code(q.pledge_scoreboard(report()).await.map(drop)),
        Rpc::OrganisationScoreboard => code(q.organisation_scoreboard(unfiltered()).await.map(drop)),
        Rpc::Outcomes => code(q.outcomes(report()).await.map(drop)),
        Rpc::Participation => code(q.participation(report()).await.map(drop)),
        Rpc::ContentShared => code(q.content_shared(report()).await.map(drop)),
        Rpc::DormantMembers => code(q.dormant_members(report()).await.map(drop)),
        Rpc::DigitalDecadeTargets => code(q.digital_decade_targets(unfiltered()).await.map(drop)),
        Rpc::ProjectionStatus => code(q.projection_status(with(token, v1::ProjectionStatusRequest {})).await.map(drop)),
    }
}

fn is_append(rpc: Rpc) -> bool {
    matches!(rpc, Rpc::Append | Rpc::AppendMany)
}

/// The log itself and its Merkle tree: auditors' and platform admins' only.
fn is_audit(rpc: Rpc) -> bool {
    matches!(rpc, Rpc::Replay | Rpc::ListCheckpoints)
}

/// Rows that sum over every coalition: a reader of some coalitions may not read them.
fn spans_coalitions(rpc: Rpc) -> bool {
    matches!(rpc, Rpc::NationalCoalitions | Rpc::OrganisationScoreboard)
}

/// One table of every call against every kind of caller, with the expected code beside each row: kept in one
/// function (over 100 lines) so that the table reads as one.
#[tokio::test]
async fn every_rpc_answers_each_kind_of_caller_with_the_expected_code() {
    let keys = Keys::new();
    let mut app = secured(&keys).await;
    let admin = keys.token("platform", "platform-admin", &[]);
    let mut end = 0;
    for req in [national("a", "SE"), national("b", "FI"), organisation("org-1")] {
        end = app.append.append(with(&admin, req)).await.unwrap().into_inner().revision;
    }
    // Every read model installed and caught up: a query then answers OK or is refused, never "not installed yet".
    wait_projected(&app, &admin, end).await;
    let other = Keys::new();
    let mut forged = SigningKey::read(&other.dir.path().join("signing.pem")).unwrap();
    forged.kid = keys.key.kid.clone();
    let cases: Vec<(&str, String, &str)> = vec![
        ("no token", String::new(), "a"),
        ("expired", keys.claims(Claims { iat: now() - 7200, exp: now() - 3600, ..writer_claims("w") }), "a"),
        ("wrong audience", keys.claims(Claims { aud: "another-service".into(), ..writer_claims("w") }), "a"),
        ("bad signature", token::mint_claims(&forged, &writer_claims("w")).unwrap(), "a"),
        ("unknown key", other.token("w", "writer", &["a"]), "a"),
        ("writer of a on a", keys.token("writer-a", "writer", &["a"]), "a"),
        ("writer of a on b", keys.token("writer-a", "writer", &["a"]), "b"),
        ("coalition-admin of a", keys.token("admin-a", "coalition-admin", &["a"]), "a"),
        ("reader of a", keys.token("reader-a", "reader", &["a"]), "a"),
        ("auditor", keys.token("auditor", "auditor", &[]), "a"),
        ("platform-admin", admin.clone(), "a"),
    ];
    let expected = |case: &str, rpc: Rpc| -> Code {
        match case {
            "no token" | "expired" | "wrong audience" | "bad signature" | "unknown key" => Code::Unauthenticated,
            "writer of a on a" if is_append(rpc) => Code::Ok,
            "platform-admin" => Code::Ok,
            "auditor" if is_append(rpc) => Code::PermissionDenied,
            "auditor" => Code::Ok,
            "reader of a" if is_append(rpc) || is_audit(rpc) || spans_coalitions(rpc) => Code::PermissionDenied,
            "reader of a" => Code::Ok,
            _ => Code::PermissionDenied,
        }
    };
    let mut wrong = Vec::new();
    for (case, token, on) in &cases {
        for rpc in RPCS {
            let got = call(&app, rpc, token, on).await;
            let want = expected(case, rpc);
            if got != want {
                wrong.push(format!("{case} × {rpc:?}: got {got:?}, expected {want:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} calls answered wrongly:\n{}",
        wrong.len(),
        cases.len() * RPCS.len(),
        wrong.join("\n")
    );

    // The refusals say why: the reason of the failure, the grant that is missing.
    let mut a = app.append.clone();
    let expired = keys.claims(Claims { iat: now() - 7200, exp: now() - 3600, ..writer_claims("w") });
    let s = a.append(with(&expired, activity("a", "org-1"))).await.unwrap_err();
    assert!(s.message().contains("expired"), "{}", s.message());
    let s = a.append(with(&other.token("w", "writer", &["a"]), activity("a", "org-1"))).await.unwrap_err();
    assert!(s.message().contains("unknown key"), "{}", s.message());
    let writer = keys.token("writer-a", "writer", &["a"]);
    let s = a.append(with(&writer, activity("b", "org-1"))).await.unwrap_err();
    assert!(s.message().contains("missing grant writer:b"), "{}", s.message());
    // A coalition's lifecycle needs its coalition admin; a rename needs a platform admin.
    let deactivate = request(
        v1::AggregateType::Coalition,
        "b",
        None,
        vec![event(P::CoalitionDeactivated(v1::CoalitionDeactivated {
            deactivated_on: date(2024, 1, 1),
            reason: "x".into(),
        }))],
    );
    let s = a.append(with(&keys.token("admin-a", "coalition-admin", &["a"]), deactivate.clone())).await.unwrap_err();
    assert_eq!((s.code(), s.message().contains("coalition-admin:b")), (Code::PermissionDenied, true), "{s:?}");
    let rename = request(
        v1::AggregateType::Organisation,
        "org-1",
        None,
        vec![event(P::OrganisationRenamed(v1::OrganisationRenamed { name: "Renamed".into() }))],
    );
    let s = a.append(with(&writer, rename.clone())).await.unwrap_err();
    assert!(s.message().contains("missing grant platform-admin"), "{}", s.message());
    a.append(with(&admin, rename)).await.unwrap();
    a.append(with(&keys.token("admin-b", "coalition-admin", &["b"]), deactivate)).await.unwrap();

    // Health checks stay open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(app.append_addr).await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();

    // Refusals are counted by reason.
    let metrics = reqwest_text(&format!("http://{}/metrics", app.metrics_addr)).await;
    for line in [
        "ledger_auth_failures_total{reason=\"expired\"}",
        "ledger_auth_failures_total{reason=\"unknown_key\"}",
        "ledger_auth_failures_total{reason=\"missing\"}",
        "ledger_auth_denied_total{grant=\"writer\"}",
    ] {
        assert!(metrics.contains(line), "{line} not in /metrics:\n{metrics}");
    }
    assert!(!metrics.contains(&writer), "a token leaked into /metrics");
}

/// Waits until every projection has processed `position` (asked with `token`).
async fn wait_projected(app: &TestApp, token: &str, position: u64) {
    let mut q = app.query.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = q.projection_status(with(token, v1::ProjectionStatusRequest {})).await {
            let s = s.into_inner();
            if s.projections.len() == TestApp::PROJECTIONS && s.projections.iter().all(|p| p.position >= position) {
                return;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the projections never reached {position}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plain HTTP GET (no client library needed for a text endpoint).
async fn reqwest_text(url: &str) -> String {
    http_get(url, None).await.1
}

/// GET `url` with an optional bearer token; (status, body).
async fn http_get(url: &str, token: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n{auth}connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Writes the demo's tokens into `dir`: a writer and a coalition admin per coalition, a platform admin, an
/// auditor and a reader of Sweden's coalition and of Denmark's.
fn demo_tokens(keys: &Keys, dir: &Path) {
    let coalitions = std::iter::once("eu").chain(ledger_workload::generator::NATIONAL.iter().map(|c| c.0));
    for c in coalitions {
        std::fs::write(dir.join(format!("writer-{c}.jwt")), keys.token(&format!("{c}-service"), "writer", &[c]))
            .unwrap();
        std::fs::write(
            dir.join(format!("coalition-admin-{c}.jwt")),
            keys.token(&format!("{c}-admin"), "coalition-admin", &[c]),
        )
        .unwrap();
    }
    std::fs::write(dir.join("platform-admin.jwt"), keys.token("platform", "platform-admin", &[])).unwrap();
    std::fs::write(dir.join("auditor.jwt"), keys.token("auditor", "auditor", &[])).unwrap();
    std::fs::write(dir.join("reader-se.jwt"), keys.token("se-dashboard", "reader", &["se"])).unwrap();
    std::fs::write(dir.join("reader-dk.jwt"), keys.token("dk-dashboard", "reader", &["dk"])).unwrap();
}

/// The coalition ids of a report's rows, through its JSON form (every row that has a `coalition_id`).
fn coalitions_in(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            if k == "coalition_id"
                && let Some(s) = x.as_str()
            {
                out.insert(s.to_owned());
            }
            out.extend(coalitions_in(x));
        }
    }
    if let Some(a) = v.as_array() {
        for x in a {
            out.extend(coalitions_in(x));
        }
    }
    out
}

#[tokio::test]
async fn the_demo_appends_with_a_token_per_coalition_a_reader_sees_only_its_rows_and_the_writer_is_recorded() {
    let keys = Keys::new();
    let mut app = secured(&keys).await;
    let tokens = tempfile::tempdir().unwrap();
    demo_tokens(&keys, tokens.path());
    let args = ledger_workload::demo::DemoArgs {
        append_url: format!("http://{}", app.append_addr),
        query_url: format!("http://{}", app.query_addr),
        seed: 2013,
        tokens: Some(tokens.path().to_owned()),
    };
    // Every append of the history with the token of its coalition's writer or admin; refusals as expected.
    ledger_workload::demo::run(args).await.unwrap();
    let read = |n: &str| std::fs::read_to_string(tokens.path().join(format!("{n}.jwt"))).unwrap();
    let (auditor, reader) = (read("auditor"), read("reader-se"));

    // The stored principal is the token's subject, beside the client's actor.
    let events = replay_with(&mut app, &auditor, v1::ReplayRequest::default()).await;
    let end = events.last().unwrap().position;
    for e in &events {
        let agg = e.aggregate.clone().unwrap();
        let expected = match (agg.r#type, e.event_type.as_str()) {
            (t, _) if t == v1::AggregateType::Coalition as i32 => format!("{}-admin", agg.id),
            (_, "organisation_registered") => "eu-service".to_owned(),
            (t, _) if t == v1::AggregateType::Membership as i32 => {
                format!("{}-service", agg.id.split('.').next().unwrap())
            }
            _ => continue,
        };
        assert_eq!(e.principal, expected, "{e:?}");
        assert_eq!(e.actor, "demo-generator");
    }
    assert!(events.iter().any(|e| e.principal == "se-service"));

    // A reader of Sweden's coalition gets Sweden's rows only from every report, whatever it asks; the auditor
    // sees the others' rows in the same reports (so the check can fail).
    let wait = Some(v1::Consistency { min_position: end, max_wait_ms: 10_000 });
    let page = Some(v1::Page { page_size: 1000, offset: 0 });
    let req = |t: &str, c: &str| {
        with(
            t,
            v1::ReportRequest {
                filter: Some(v1::ReportFilter { coalition_id: c.into(), ..Default::default() }),
                consistency: wait,
                page,
                as_of: "2026-06-30".into(),
                as_of_log: None,
            },
        )
    };
    let mut q = app.query.clone();
    let mut seen_own = 0;
    macro_rules! check {
        ($call:ident) => {{
            let mine = serde_json::to_value(q.$call(req(&reader, "")).await.unwrap().into_inner()).unwrap();
            let all = serde_json::to_value(q.$call(req(&auditor, "")).await.unwrap().into_inner()).unwrap();
            let (mine, all) = (coalitions_in(&mine), coalitions_in(&all));
            assert!(mine.iter().all(|c| c == "se"), "{}: a reader of se saw {mine:?}", stringify!($call));
            assert!(all.iter().any(|c| c != "se"), "{}: the auditor saw only {all:?}", stringify!($call));
            seen_own += usize::from(!mine.is_empty());
            let s = q.$call(req(&reader, "fi")).await.unwrap_err();
            assert_eq!(s.code(), Code::PermissionDenied, "{}: {s:?}", stringify!($call));
            assert!(s.message().contains("reader:fi"), "{}", s.message());
        }};
    }
    check!(coalition_growth);
    check!(members_by_type);
    check!(current_members);
    check!(pledge_pipeline);
    check!(pledge_scoreboard);
    check!(outcomes);
    check!(participation);
    check!(content_shared);
    check!(dormant_members);
    check!(national_coordinators);
    assert!(seen_own >= 6, "the reader of se saw its own rows in only {seen_own} of 10 reports");
    // Sweden's programme is the demo's only one: its reader reads it, a reader of another coalition sees none of
    // it and is refused Sweden's.
    let dk = read("reader-dk");
    macro_rules! programme_report {
        ($call:ident) => {{
            let mine = serde_json::to_value(q.$call(req(&reader, "")).await.unwrap().into_inner()).unwrap();
            let theirs = serde_json::to_value(q.$call(req(&dk, "")).await.unwrap().into_inner()).unwrap();
            let rows = |v: &serde_json::Value| v["rows"].as_array().map_or(0, Vec::len);
            assert!(rows(&mine) > 0 && rows(&theirs) == 0, "{}: {mine} / {theirs}", stringify!($call));
            assert!(mine.to_string().contains("se-skills-supply"), "{}", stringify!($call));
            let s = q.$call(req(&dk, "se")).await.unwrap_err();
            assert!(s.code() == Code::PermissionDenied && s.message().contains("reader:se"), "{s:?}");
        }};
    }
    programme_report!(programme_overview);
    programme_report!(programme_members_by_sector);
    programme_report!(working_groups_quarterly);
    programme_report!(partnership_group);
    for s in [
        q.national_coalitions(req(&reader, "")).await.unwrap_err(),
        q.organisation_scoreboard(req(&reader, "")).await.unwrap_err(),
    ] {
        assert_eq!(s.code(), Code::PermissionDenied);
        assert!(s.message().contains("reader:*"), "{}", s.message());
    }
    assert!(!q.digital_decade_targets(req(&reader, "")).await.unwrap().into_inner().targets.is_empty());
    q.projection_status(with(&reader, v1::ProjectionStatusRequest {})).await.unwrap();

    // The dashboard: the page for anyone, the data with a token, the reader's coalition only.
    let base = format!("http://{}", app.dashboard_addr.unwrap());
    assert_eq!(http_get(&format!("{base}/"), None).await.0, 200);
    let (code, body) = http_get(&format!("{base}/api/dashboard"), None).await;
    assert_eq!(code, 401, "{body}");
    let (code, body) = http_get(&format!("{base}/api/status"), Some("not-a-token")).await;
    assert_eq!(code, 401, "{body}");
    let (code, body) = http_get(&format!("{base}/api/dashboard"), Some(&reader)).await;
    assert_eq!(code, 200, "{body}");
    let dash: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(coalitions_in(&dash), ["se".to_owned()].into());
    assert!(dash["national"].is_null() && dash["principal"]["subject"] == "se-dashboard", "{}", dash["principal"]);
    let (code, _) = http_get(&format!("{base}/api/dashboard"), Some(&read("writer-se"))).await;
    assert_eq!(code, 403);
    // The log's tiles are the replay's: auditors' only.
    assert_eq!(http_get(&format!("{base}/tlog/checkpoint"), None).await.0, 401);
    let (code, body) = http_get(&format!("{base}/tlog/tile/entries/000.p/1"), Some(&reader)).await;
    assert!(code == 403 && body.contains("auditor"), "{code} {body}");
    let (code, body) = http_get(&format!("{base}/tlog/tile/entries/000.p/1"), Some(&auditor)).await;
    assert_eq!(code, 200, "{body}");
}
