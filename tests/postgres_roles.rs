//! Least privilege in Postgres: `ledger db setup-roles` makes the owner, projector and query roles; Postgres itself
//! refuses what each may not do, the ledger works end to end on them, and no password reaches a log.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use ledger_proto::v1;
use tokio_postgres::error::SqlState;

/// Runs `sql` as `client` and expects Postgres to refuse it for lack of privilege.
async fn refused(client: &tokio_postgres::Client, who: &str, sql: &str) {
    match client.batch_execute(sql).await {
        Ok(()) => panic!("{who} may run {sql}"),
        Err(e) => assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{who}: {sql}: {e:?}"),
    }
}

async fn allowed(client: &tokio_postgres::Client, who: &str, sql: &str) {
    if let Err(e) = client.batch_execute(sql).await {
        panic!("{who} may not run {sql}: {e:?}");
    }
}

async fn schema_of(client: &tokio_postgres::Client, projection: &str) -> String {
    client.query_one("SELECT schema_name FROM ledger.projections WHERE name = $1", &[&projection]).await.unwrap().get(0)
}

#[tokio::test]
async fn the_whole_ledger_works_on_the_separate_roles_and_connects_as_nothing_else() {
    let mut app = TestApp::spawn_with_separate_roles(|_| {}).await;
    let pos = seed(&mut app, 3).await;
    app.append.append(pledge("org-1", "p1")).await.unwrap();
    app.wait_projected(pos + 1).await;
    let members = app.query.current_members(reporting("se", None)).await.unwrap().into_inner();
    assert_eq!(members.coalitions[0].members, 3);
    let pipeline = app.query.pledge_pipeline(reporting("se", None)).await.unwrap().into_inner();
    assert!(!pipeline.rows.is_empty(), "{pipeline:?}");
    let status = app.query.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
    assert!(status.projections.iter().all(|p| p.state == "live"), "{status:?}");
    // The dashboard's status comes through the query role too.
    let body = http_get(&format!("http://{}/api/status", app.dashboard_addr.unwrap())).await;
    assert!(body.contains("coalition_growth"), "{body}");

    // Whatever the ledger keeps open in this database is the projector's or the query role's (the set-up's and
    // the migration's connections may take a moment to close).
    let admin = app.db.client().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let users: Vec<String> = rows(
            &admin,
            "SELECT DISTINCT usename::text FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY 1",
            |r| r.get(0),
        )
        .await;
        if users == ["ledger_projector", "ledger_query"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "connected as {users:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The read models' schemas and views are the projector's; the bookkeeping is the owner's.
    let owners: Vec<(String, String)> = rows(
        &admin,
        "SELECT n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner)::text FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'v') AND (n.nspname IN ('ledger', 'reporting') OR n.nspname LIKE 'proj\\_%')",
        |r| (r.get(0), r.get(1)),
    )
    .await;
    for (relation, owner) in &owners {
        let expected = if relation.starts_with("ledger.") || relation == "reporting.digital_decade_targets" {
            "ledger_owner"
        } else {
            "ledger_projector"
        };
        assert_eq!(owner, expected, "{relation}");
    }
    assert!(owners.len() > 20, "{owners:?}");
}

#[tokio::test]
async fn the_query_role_reads_the_reports_and_the_status_and_can_write_nothing() {
    let mut app = TestApp::spawn_with_separate_roles(|_| {}).await;
    let pos = seed(&mut app, 2).await;
    app.wait_projected(pos).await;
    let admin = app.db.client().await;
    // A quarantined message, as the projector records one.
    admin
        .batch_execute(
            "INSERT INTO ledger.quarantine (projection, position, subject, reason, body)
             VALUES ('pledges', 999999, 'x', 'test', '\\x00'::bytea)",
        )
        .await
        .unwrap();
    let growth = schema_of(&admin, "coalition_growth").await;
    let query = app.db.client_as("ledger_query").await;
    let who = "ledger_query";
    for sql in [
        "SELECT * FROM reporting.coalition_members_current",
        "SELECT * FROM reporting.member_engagement",
        "SELECT * FROM reporting.digital_decade_targets",
        "SELECT name, version, schema_name, position, updated_at, state, last_error FROM ledger.projections",
        "SELECT count(*) FROM ledger.quarantine WHERE projection = 'pledges'",
        "BEGIN; LOCK TABLE reporting.coalition_growth_monthly IN ACCESS SHARE MODE; COMMIT",
        // As-of builds: tables of its own session, which no one else sees and which vanish with it.
        "CREATE TEMP TABLE mine (x int); DROP TABLE mine",
    ] {
        allowed(&query, who, sql).await;
    }
    for sql in [
        "UPDATE ledger.projections SET position = 0".to_owned(),
        "INSERT INTO ledger.projections (name, version, schema_name) VALUES ('x', 1, 'x')".into(),
        "DELETE FROM ledger.projections".into(),
        "INSERT INTO ledger.quarantine (projection, position, subject, reason, body) VALUES ('x', 1, 'x', 'x', '')"
            .into(),
        // The quarantined messages themselves are not the status's business.
        "SELECT body FROM ledger.quarantine".into(),
        "SELECT * FROM ledger.digital_decade_targets".into(),
        format!("SELECT * FROM {growth}.members"),
        format!("INSERT INTO {growth}.coalitions SELECT * FROM {growth}.coalitions"),
        format!("DELETE FROM {growth}.members"),
        "CREATE VIEW reporting.mine AS SELECT 1 AS x".into(),
        "CREATE OR REPLACE VIEW reporting.coalition_members_current AS SELECT 1 AS x".into(),
        "DROP VIEW reporting.coalition_members_current".into(),
        "CREATE SCHEMA mine".into(),
        "CREATE TABLE public.mine (x int)".into(),
        "DELETE FROM public.ledger_schema_migrations".into(),
    ] {
        refused(&query, who, &sql).await;
    }
    // A BI user, a member of ledger_reporting, connects (the database is no longer PUBLIC's) and reads the views.
    let bi = format!("bi_{}", uuid::Uuid::new_v4().simple());
    admin.batch_execute(&format!("CREATE ROLE {bi} LOGIN IN ROLE ledger_reporting")).await.unwrap();
    let bi_client = ledger_readmodel::connect(&app.db.url_as(&bi)).await.unwrap();
    allowed(&bi_client, &bi, "SELECT * FROM reporting.coalition_members_current").await;
    refused(&bi_client, &bi, "SELECT * FROM ledger.projections").await;
    drop(bi_client);
    admin.batch_execute(&format!("DROP ROLE {bi}")).await.unwrap();
    let position: i64 = admin.query_one("SELECT min(position) FROM ledger.projections", &[]).await.unwrap().get(0);
    assert_eq!(u64::try_from(position).unwrap(), pos, "nothing was changed");
}

#[tokio::test]
async fn the_projector_role_keeps_to_its_read_models_and_rebuilds_them() {
    let mut app = TestApp::spawn_with_separate_roles(|_| {}).await;
    let end = seed(&mut app, 12).await;
    app.wait_projected(end).await;
    let before = app.query.coalition_growth(reporting("", None)).await.unwrap().into_inner();
    let projector = app.db.client_as("ledger_projector").await;
    let who = "ledger_projector";
    for sql in [
        "DROP TABLE ledger.projections",
        "DROP TABLE ledger.quarantine",
        "DROP SCHEMA ledger CASCADE",
        "ALTER TABLE ledger.projections ADD COLUMN x int",
        "ALTER TABLE ledger.projections DROP CONSTRAINT projections_position_check",
        "DELETE FROM ledger.projections",
        "TRUNCATE ledger.quarantine",
        "DELETE FROM ledger.quarantine",
        "UPDATE ledger.quarantine SET reason = 'x'",
        "UPDATE ledger.projections SET name = 'x' WHERE name = 'pledges'",
        "UPDATE ledger.digital_decade_targets SET latest_value = 0",
        "DROP VIEW reporting.digital_decade_targets",
        "CREATE OR REPLACE VIEW reporting.digital_decade_targets AS SELECT 1 AS code",
        "DELETE FROM public.ledger_schema_migrations",
        "INSERT INTO public.ledger_schema_migrations (version, name) VALUES (999, 'x')",
        "DROP TABLE public.ledger_schema_migrations",
        "CREATE TABLE public.mine (x int)",
        "CREATE TABLE ledger.mine (x int)",
        "CREATE TEMP TABLE mine (x int)",
        "CREATE ROLE mine",
    ] {
        refused(&projector, who, sql).await;
    }

    // A rebuild of every read model, as the projector: new schemas, views replaced, old schemas dropped, while
    // the live projectors (also this role) keep running.
    let log = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap();
    let admin = app.db.client().await;
    let old = schema_of(&admin, "coalition_growth").await;
    let mut client = app.db.client_as("ledger_projector").await;
    for report in ledger_projector::rebuild_all(&log, &mut client).await.unwrap() {
        assert_eq!(report.differing_rows, Some(0), "{report:?}");
    }
    let new = schema_of(&admin, "coalition_growth").await;
    assert_ne!(old, new);
    let old_left: bool =
        admin.query_one("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", &[&old]).await.unwrap().get(0);
    assert!(!old_left, "the old schema {old} is dropped");
    // The query API (its own role) reads the replaced views, and so can BI tools.
    let after = app.query.coalition_growth(reporting("", None)).await.unwrap().into_inner();
    assert_eq!(before.months, after.months);
    let readable: bool = admin
        .query_one(
            "SELECT bool_and(has_table_privilege('ledger_query', c.oid, 'SELECT')
                             AND has_table_privilege('ledger_reporting', c.oid, 'SELECT'))
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'reporting'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(readable);
    let more = app.append.append(membership("se", "org-4", vec![left("se", "org-4", date(2025, 3, 2))])).await.unwrap();
    let consistency = Some(v1::Consistency { min_position: more.into_inner().revision, max_wait_ms: 5000 });
    let members = app.query.current_members(reporting("", consistency)).await.unwrap().into_inner();
    assert_eq!(members.coalitions[0].members, 11, "the live projector carries on in the rebuilt schema");
}

#[tokio::test]
async fn roles_that_may_not_migrate_refuse_a_database_the_owner_has_not_migrated() {
    let nats = Nats::start();
    let db = Db::create().await;
    db.setup_roles(false).await;
    let settings = settings_with_separate_roles(&nats, &db);
    create_stream(&nats, &settings).await;
    let error =
        match coalition_ledger::startup::Application::build(settings.clone(), coalition_ledger::startup::Roles::ALL)
            .await
        {
            Ok(_) => panic!("started on an unmigrated database"),
            Err(e) => format!("{e:#}"),
        };
    assert!(error.contains("ledger migrate") && error.contains("ledger_projector"), "{error}");
    // After `ledger migrate` as the owner, the same settings start.
    coalition_ledger::startup::migrate(&settings.databases().unwrap().owner).await.unwrap();
    coalition_ledger::startup::Application::build(settings, coalition_ledger::startup::Roles::ALL).await.unwrap();
}

#[tokio::test]
async fn setup_roles_is_idempotent_and_safe_in_parallel() {
    let (a, b) = (Db::create().await, Db::create().await);
    // Several administrators at once, on two databases of the cluster, twice.
    for _ in 0..2 {
        let runs = (0..3).flat_map(|_| [a.setup_roles(false), b.setup_roles(false)]);
        futures::future::join_all(runs).await;
    }
    a.setup_roles(true).await;
    let admin = a.client().await;
    let row = admin
        .query_one(
            "SELECT bool_or(rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls),
                    bool_and(rolcanlogin), count(*)
             FROM pg_roles WHERE rolname IN ('ledger_owner', 'ledger_projector', 'ledger_query')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, bool>(0), row.get::<_, bool>(1), row.get::<_, i64>(2)), (false, true, 3));
    // The password is stored as a SCRAM verifier.
    let scram: bool = admin
        .query_one("SELECT bool_and(rolpassword LIKE 'SCRAM-SHA-256$%') FROM pg_authid WHERE rolname LIKE 'ledger\\_%' AND rolcanlogin", &[])
        .await
        .unwrap()
        .get(0);
    assert!(scram);
    let name = a.name();
    let row = admin
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text,
                    has_database_privilege('ledger_projector', $1, 'CREATE'),
                    has_database_privilege('ledger_query', $1, 'CREATE'),
                    has_database_privilege('ledger_query', $1, 'TEMPORARY'),
                    has_database_privilege('ledger_query', $1, 'CONNECT'),
                    has_database_privilege('public', $1, 'CONNECT')
             FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ledger_owner");
    assert_eq!(
        (
            row.get::<_, bool>(1),
            row.get::<_, bool>(2),
            row.get::<_, bool>(3),
            row.get::<_, bool>(4),
            row.get::<_, bool>(5)
        ),
        // TEMPORARY for the query role's as-of builds (migration 6).
        (true, false, true, true, false)
    );
}

#[tokio::test]
async fn setup_roles_hands_a_database_a_superuser_migrated_to_the_roles() {
    // A ledger that ran as the superuser until now: its objects are the superuser's.
    let mut app = TestApp::spawn().await;
    let end = seed(&mut app, 4).await;
    app.wait_projected(end).await;
    let (nats, db, _, result) = app.stop().await;
    result.unwrap();
    db.setup_roles(true).await;
    let settings = settings_with_separate_roles(&nats, &db);
    let mut app = TestApp::start(nats, db, settings, coalition_ledger::startup::Roles::ALL).await;
    let more = app.append.append(membership("se", "org-1", vec![left("se", "org-1", date(2025, 3, 2))])).await.unwrap();
    let consistency = Some(v1::Consistency { min_position: more.into_inner().revision, max_wait_ms: 5000 });
    let members = app.query.current_members(reporting("", consistency)).await.unwrap().into_inner();
    assert_eq!(members.coalitions[0].members, 3);
    let log = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap();
    let mut client = app.db.client_as("ledger_projector").await;
    let report = ledger_projector::rebuild::<ledger_projector::Pledges>(&log, &mut client).await.unwrap();
    assert_eq!(report.differing_rows, Some(0), "{report:?}");
}

/// The `ledger` executable's output (stdout and stderr) for `args`, with `env`.
fn ledger(args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn no_password_reaches_the_output_in_any_form_of_connection_string() {
    let db = Db::create().await;
    let admin: tokio_postgres::Config = admin_url().parse().unwrap();
    let host = match &admin.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => "127.0.0.1".into(),
    };
    let port = admin.get_ports().first().copied().unwrap_or(5432);
    // The test server trusts local connections: the passwords are sent (or offered) but never needed, which is
    // what lets wrong ones through. What matters is that none is printed.
    let secrets = ["s3cr3t-owner", "adm1n pa55", "pr0j pa55", "qu3ry-pa55", "url-pa55"];
    let owner_kv =
        format!("host={host} port={port} user=ledger_owner password='{} x' dbname={}", secrets[0], db.name());
    let admin_kv = format!("host = {host} port = {port} user = postgres password = 'adm1n pa55' dbname = postgres");
    let projector_url =
        format!("postgres://ledger_projector:{}@{host}:{port}/{}?sslmode=prefer", secrets[4], db.name());
    let dir = tempfile::tempdir().unwrap();
    let projector_file = dir.path().join("projector");
    std::fs::write(&projector_file, secrets[2]).unwrap();
    let env = [
        ("LEDGER_DATABASE_URL", owner_kv.clone()),
        ("LEDGER_PROJECTOR_DATABASE_URL", projector_url.clone()),
        ("LEDGER_PROJECTOR_DATABASE_PASSWORD_FILE", projector_file.display().to_string()),
        ("LEDGER_QUERY_DATABASE_URL", db.url_as("ledger_query")),
        ("LEDGER_QUERY_DATABASE_PASSWORD", secrets[3].into()),
    ];
    let (ok, setup) = ledger(&["db", "setup-roles", "--admin-url", &admin_kv], &env);
    assert!(ok, "{setup}");
    assert!(setup.contains("role ledger_query: ready (password set)"), "{setup}");
    let (ok, migrate) = ledger(&["migrate"], &env);
    assert!(ok, "{migrate}");
    // Failures name the server they could not reach, without its password.
    let unreachable = [
        (
            "LEDGER_DATABASE_URL",
            format!("host=127.0.0.1 port=1 user=ledger_owner password='{} x' dbname=x", secrets[0]),
        ),
        ("LEDGER_NATS_URL", "nats://127.0.0.1:1".into()),
    ];
    let (ok, failed) = ledger(&["query-api", "--insecure-no-auth"], &unreachable);
    assert!(!ok && failed.contains("connecting to Postgres at"), "{failed}");
    let (ok, rebuild) =
        ledger(&["rebuild"], &[env.to_vec(), vec![("LEDGER_NATS_URL", "nats://127.0.0.1:1".into())]].concat());
    assert!(!ok, "{rebuild}");
    for output in [&setup, &migrate, &failed, &rebuild] {
        for secret in secrets {
            assert!(!output.contains(secret), "{secret:?} in:\n{output}");
        }
    }
    // The settings as logged at start.
    let mut settings =
        coalition_ledger::config::Settings { database_url: owner_kv, ..common::settings(&Nats::start(), &db) };
    settings.postgres.projector_database_url = Some(projector_url);
    let shown = format!("{settings:?} {:?}", settings.databases().unwrap());
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret:?} in {shown}");
    }
}
