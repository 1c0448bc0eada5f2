//! The web dashboard in a real headless Chromium: it loads without a console message or script error and shows
//! the numbers the query API returns for the same data; a screenshot is kept in `target/test-artifacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use ledger_proto::v1;

/// The browser: `$LEDGER_CHROMIUM` (set by scripts/test.sh, which installs Debian's package) or `chromium`.
fn chromium() -> String {
    std::env::var("LEDGER_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Runs headless Chromium on `url` with its network features off; returns (stdout, stderr).
fn browse(url: &str, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=8000",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run scripts/chromium.sh or set LEDGER_CHROMIUM", chromium()));
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The value of attribute `name` inside the tag that starts at `html[start..]`.
fn attribute(html: &str, start: usize, name: &str) -> Option<String> {
    let tag = &html[start..start + html[start..].find('>')?];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(tag[at..at + tag[at..].find('"')?].to_owned())
}

/// `data-value` of the first element with `data-k="<k>"` at or after `from`.
fn figure(html: &str, from: usize, k: &str) -> Option<i64> {
    let at = from + html[from..].find(&format!("data-k=\"{k}\""))?;
    let start = html[..at].rfind('<')?;
    attribute(html, start, "data-value")?.parse().ok()
}

#[tokio::test]
async fn the_dashboard_shows_what_the_query_api_returns_without_a_console_error() {
    let mut app = TestApp::spawn().await;
    // The first years of the demo history: coalitions, members, pledges with reports, courses and activities.
    append_history(&mut app, 3000).await;
    // A programme of Sweden's coalition with a working group that met twice, once anchored; a coordinator.
    use common::programme as pg;
    let on = |t: v1::AggregateType, id: &str, p| request(t, id, None, vec![event(p)]);
    let programme = v1::AggregateType::Programme;
    let mut end = 0;
    for r in [
        coalition("pg-se", "SE", date(2018, 5, 3)),
        on(programme, "pg1", pg::launched("pg-se", "SE", &["a1"])),
        on(programme, "pg1", pg::appointed("m1", v1::Sector::CivilSociety, (2023, 2, 10))),
        on(programme, "pg1", pg::appointed("m2", v1::Sector::LargeCompany, (2023, 2, 10))),
        on(programme, "pg1", pg::group_started("g1", "a1", (2023, 3, 1))),
        on(programme, "pg1", pg::joined("g1", "p1", (2023, 3, 2))),
        on(programme, "pg1", pg::meeting("g1", "mt1", (2023, 4, 1), true, &["p1"])),
        on(programme, "pg1", pg::meeting("g1", "mt2", (2023, 7, 1), false, &["p1"])),
        on(v1::AggregateType::NationalCoordinator, "dk", pg::nominated("DK", (2022, 3, 1))),
    ] {
        end = app.append.append(r).await.unwrap().into_inner().revision;
    }
    app.wait_projected(end).await;

    // What the query API says.
    let q = &mut app.query;
    let members = q.current_members(reporting("", None)).await.unwrap().into_inner().coalitions;
    let pipeline = q.pledge_pipeline(reporting("", None)).await.unwrap().into_inner().rows;
    let dormant = q.dormant_members(reporting("", None)).await.unwrap().into_inner();
    let board = q.pledge_scoreboard(reporting("", None)).await.unwrap().into_inner().rows;
    let status = q.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
    assert!(!board.is_empty() && pipeline.iter().map(|r| r.pledges).sum::<i64>() > 0, "the data has pledges");

    let url = format!("http://{}/", app.dashboard_addr.unwrap());
    let (dom, log) = tokio::task::spawn_blocking(move || browse(&url, &["--dump-dom"])).await.unwrap();
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "the page wrote to the console: {console:#?}");
    assert!(dom.contains("data-ready=\"1\""), "the page never rendered data:\n{dom}");
    let errors = dom.find("id=\"errors\"").unwrap();
    assert!(attribute(&dom, dom[..errors].rfind('<').unwrap(), "hidden").is_some(), "script errors shown on the page");

    let expected = HashMap::from([
        ("position", status.log_end as i64),
        ("members", members.iter().map(|c| c.members).sum()),
        ("coalitions", members.len() as i64),
        (
            "national-coalitions",
            members.iter().filter(|c| c.kind == "national" && c.deactivated_on.is_empty()).count() as i64,
        ),
        (
            "connected-sites",
            members.iter().filter(|c| !c.website_url.is_empty() && c.deactivated_on.is_empty()).count() as i64,
        ),
        ("pledges", pipeline.iter().map(|r| r.pledges).sum()),
        ("dormant", dormant.total as i64),
    ]);
    for (k, v) in &expected {
        assert_eq!(figure(&dom, 0, k), Some(*v), "figure {k}");
    }
    // Each coalition's row shows its member count.
    for c in &members {
        let row =
            dom.find(&format!("data-coalition=\"{}\"", c.coalition_id)).unwrap_or_else(|| panic!("{}", c.coalition_id));
        assert_eq!(figure(&dom, row, "members"), Some(c.members), "members of {}", c.coalition_id);
    }
    // One scoreboard row per pledge and indicator.
    assert_eq!(dom.matches("data-pledge=\"").count(), board.len());
    // The programme's row and the coordinator's.
    let row = dom.find("data-programme=\"pg1\"").expect("the programme's row");
    assert_eq!(
        (figure(&dom, row, "groups"), figure(&dom, row, "members"), figure(&dom, row, "meetings")),
        (Some(1), Some(2), Some(2))
    );
    assert!(dom[row..].contains("50%"), "the anchoring rate");
    assert!(dom.contains("data-country=\"DK\""), "the coordinator's row");
    assert_eq!(dom.matches("data-member=\"").count(), 2, "the partnership group today");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let (url, arg) = (format!("http://{}/", app.dashboard_addr.unwrap()), format!("--screenshot={}", shot.display()));
    tokio::task::spawn_blocking(move || browse(&url, &[&arg])).await.unwrap();
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "screenshot {} is {size} bytes", shot.display());
}

#[tokio::test]
async fn the_dashboard_serves_everything_it_needs_itself() {
    let mut app = TestApp::spawn().await;
    app.wait_projected(0).await; // every read model installed
    let base = format!("http://{}", app.dashboard_addr.unwrap());
    let index = http_get(&format!("{base}/")).await;
    assert!(!index.contains("http://") && !index.contains("https://"), "the page loads nothing from elsewhere");
    for path in ["/app.js", "/style.css", "/favicon.svg", "/api/status", "/api/dashboard"] {
        http_get(&format!("{base}{path}")).await;
    }
    let script = http_get(&format!("{base}/app.js")).await;
    assert!(!script.contains("console."), "the script never writes to the console");
}

#[tokio::test]
async fn on_a_server_with_authentication_the_page_asks_for_a_token_and_shows_no_data_without_one() {
    let keys = tempfile::tempdir().unwrap();
    let g = ledger_auth::keys::generate(keys.path(), "signing").unwrap();
    let app = TestApp::spawn_with(coalition_ledger::startup::Roles::ALL, move |s| {
        s.auth.insecure_no_auth = false;
        s.auth.auth_public_keys = Some(g.public_keys);
    })
    .await;
    let url = format!("http://{}/", app.dashboard_addr.unwrap());
    let (dom, log) = tokio::task::spawn_blocking(move || browse(&url, &["--dump-dom"])).await.unwrap();
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    // Chromium logs the refused fetch itself (401); the page's own script writes nothing.
    assert!(console.iter().all(|l| l.contains("401")), "the page wrote to the console: {console:#?}");
    let form = dom.find("id=\"signin\"").expect("no sign-in form");
    assert!(attribute(&dom, dom[..form].rfind('<').unwrap(), "hidden").is_none(), "the sign-in form is hidden:\n{dom}");
    assert!(!dom.contains("data-ready=\"1\""), "the page rendered data without a token");
    let errors = dom.find("id=\"errors\"").unwrap();
    assert!(attribute(&dom, dom[..errors].rfind('<').unwrap(), "hidden").is_some(), "script errors shown on the page");
}
