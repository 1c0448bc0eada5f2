//! Test harness: a real nats-server (>= 2.12, its own data directory and port) and a real Postgres database per
//! test, and the ledger started in-process on port 0. Tests are isolated, parallel-safe and re-runnable.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use coalition_ledger::config::{AuthSettings, Settings};
use coalition_ledger::startup::{Application, Roles};
use ledger_proto::v1;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use ledger_proto::v1::ledger_replay_client::LedgerReplayClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

pub mod auth;
pub mod notary;
pub mod programme;
pub mod tls;

/// The nats-server binary: `$LEDGER_NATS_SERVER`, else whatever `scripts/nats-server.sh` finds or fetches.
pub fn nats_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("LEDGER_NATS_SERVER") {
            return PathBuf::from(p);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/nats-server.sh");
        let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run nats-server.sh");
        assert!(out.status.success(), "scripts/nats-server.sh failed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

/// A nats-server with JetStream and `sync_interval: always`, killed on drop. It accepts no anonymous client: its
/// users are those of `ledger nats authorization` (`ledger_log::authorization`), each with a password of its own.
pub struct Nats {
    child: Child,
    /// The operator's URL (credentials inside): for tests that manage or tamper with the stream.
    pub url: String,
    /// The URL without credentials.
    pub plain_url: String,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// The harness's NATS users: (name, role).
pub const NATS_USERS: [(&str, ledger_log::NatsRole); 5] = [
    ("operator", ledger_log::NatsRole::Operator),
    ("ledger", ledger_log::NatsRole::AllRoles),
    ("append", ledger_log::NatsRole::Append),
    ("reader", ledger_log::NatsRole::Read),
    ("notary", ledger_log::NatsRole::Notary),
];

impl Nats {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, 0)
    }

    fn start_in(dir: tempfile::TempDir, port: u16) -> Self {
        let conf = dir.path().join("nats.conf");
        let port_conf = if port == 0 { "-1".to_string() } else { port.to_string() };
        // Passwords are kept across a restart (same directory).
        let users: Vec<ledger_log::NatsUser> = NATS_USERS
            .iter()
            .map(|&(name, role)| {
                let file = dir.path().join(format!("{name}.password"));
                if !file.exists() {
                    std::fs::write(&file, Uuid::new_v4().simple().to_string()).unwrap();
                }
                let password = std::fs::read_to_string(&file).unwrap();
                ledger_log::NatsUser { name: name.into(), password: format!("{password:?}"), role }
            })
            .collect();
        let authorization =
            ledger_log::authorization(ledger_log::DEFAULT_STREAM, ledger_log::DEFAULT_SUBJECT_PREFIX, &users);
        std::fs::write(
            &conf,
            format!(
                "host: 127.0.0.1\nport: {port_conf}\njetstream {{ store_dir: {:?}, sync_interval: always }}\n{authorization}",
                dir.path().join("js")
            ),
        )
        .unwrap();
        let mut child = Command::new(nats_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the server's log until it says where it listens, then keeps draining it so the pipe never fills.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(20)).expect("nats-server did not start");
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        let plain_url = format!("nats://127.0.0.1:{port}");
        let mut nats = Self { child, url: String::new(), plain_url, port, dir };
        nats.url = nats.url_as("operator");
        nats
    }

    /// The file holding `user`'s password.
    pub fn password_file(&self, user: &str) -> PathBuf {
        self.dir.path().join(format!("{user}.password"))
    }

    /// A URL with `user`'s credentials inside.
    pub fn url_as(&self, user: &str) -> String {
        let password = std::fs::read_to_string(self.password_file(user)).unwrap();
        format!("nats://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// Settings that make the ledger connect as `user` (password from its file).
    pub fn connect_as(&self, user: &str) -> coalition_ledger::config::NatsSettings {
        coalition_ledger::config::NatsSettings {
            nats_user: Some(user.into()),
            nats_password_file: Some(self.password_file(user)),
            ..Default::default()
        }
    }

    /// The environment that makes a `ledger` process connect as `user`.
    pub fn env_as(&self, user: &str) -> [(&'static str, String); 3] {
        [
            ("LEDGER_NATS_URL", self.plain_url.clone()),
            ("LEDGER_NATS_USER", user.into()),
            ("LEDGER_NATS_PASSWORD_FILE", self.password_file(user).display().to_string()),
        ]
    }

    /// Stops the server (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's JetStream store directory (`store_dir`).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("js")
    }

    /// Restarts the server on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let new = Self::start_in(dir, self.port);
        *self = new;
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh Postgres database, dropped at the end of the test.
pub struct Db {
    pub url: String,
    name: String,
    admin: String,
    /// Password files of the ledger's Postgres roles ([`Db::setup_roles`]).
    secrets: tempfile::TempDir,
}

pub fn admin_url() -> String {
    std::env::var("LEDGER_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl Db {
    pub async fn create() -> Self {
        Self::create_on(admin_url()).await
    }

    /// A fresh database on the server of `admin` (a superuser's connection string).
    pub async fn create_on(admin: String) -> Self {
        let name = format!("ledger_test_{}", Uuid::new_v4().simple());
        let client =
            ledger_readmodel::connect(&admin).await.expect("connect to the test Postgres (LEDGER_TEST_DATABASE_URL)");
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let url = with_dbname(&admin, &name);
        Self { url, name, admin, secrets: tempfile::tempdir().unwrap() }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        ledger_readmodel::connect(&self.url).await.unwrap()
    }

    /// The database as the administrator sees it.
    pub fn postgres(&self) -> ledger_readmodel::Postgres {
        ledger_readmodel::Postgres::parse(&self.url).unwrap()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL as `role` (the administrator's host, port and options; no password in it).
    pub fn url_as(&self, role: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("the test database URL is a URL");
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("{scheme}://{role}@{rest}")
    }

    /// The file holding `role`'s password (written by [`Db::setup_roles`]).
    pub fn password_file(&self, role: &str) -> PathBuf {
        self.secrets.path().join(format!("{role}.password"))
    }

    /// `ledger db setup-roles` for this database (the roles are the cluster's: every test gives them the same
    /// passwords, [`ROLE_PASSWORDS`]), then, unless `migrate` is false, `ledger migrate` as the owner.
    pub async fn setup_roles(&self, migrate: bool) {
        for (role, password) in ROLE_PASSWORDS {
            std::fs::write(self.password_file(role), password).unwrap();
        }
        let passwords = ledger_readmodel::RolePasswords {
            owner: Some(ROLE_PASSWORDS[0].1.into()),
            projector: Some(ROLE_PASSWORDS[1].1.into()),
            query: Some(ROLE_PASSWORDS[2].1.into()),
        };
        let admin = ledger_readmodel::Postgres::parse(&self.admin).unwrap();
        ledger_readmodel::setup_roles(&admin, &self.postgres(), &passwords).await.unwrap();
        if migrate {
            coalition_ledger::startup::migrate(
                &self.role_settings().databases(&self.url_as("ledger_owner")).unwrap().owner,
            )
            .await
            .unwrap();
        }
    }

    /// Settings that make the owner, the projector and the query API connect as their roles, passwords from files.
    pub fn role_settings(&self) -> coalition_ledger::config::PostgresSettings {
        coalition_ledger::config::PostgresSettings {
            projector_database_url: Some(self.url_as("ledger_projector")),
            query_database_url: Some(self.url_as("ledger_query")),
            database_password_file: Some(self.password_file("ledger_owner")),
            projector_database_password_file: Some(self.password_file("ledger_projector")),
            query_database_password_file: Some(self.password_file("ledger_query")),
            database_ca: None,
        }
    }

    /// A connection as `role` (one of [`ROLE_PASSWORDS`]).
    pub async fn client_as(&self, role: &str) -> tokio_postgres::Client {
        let password = ROLE_PASSWORDS.iter().find(|(r, _)| *r == role).map(|(_, p)| *p).unwrap();
        ledger_readmodel::Postgres::parse(&self.url_as(role)).unwrap().with_password(password).connect().await.unwrap()
    }
}

/// The passwords the tests give the ledger's Postgres roles (owner, projector, query).
pub const ROLE_PASSWORDS: [(&str, &str); 3] =
    [("ledger_owner", "owner-pw 1'x"), ("ledger_projector", "projector-pw 2"), ("ledger_query", "query-pw 3")];

fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside or outside a runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(c) = ledger_readmodel::connect(&admin).await {
                    let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

pub fn settings(nats: &Nats, db: &Db) -> Settings {
    Settings {
        // The ledger runs every role in one process: the `ledger` user (the union of the roles' permissions).
        nats_url: nats.plain_url.clone(),
        nats: nats.connect_as("ledger"),
        database_url: db.url.clone(),
        stream: ledger_log::DEFAULT_STREAM.into(),
        subject_prefix: ledger_log::DEFAULT_SUBJECT_PREFIX.into(),
        duplicate_window_secs: ledger_log::DEFAULT_DUPLICATE_WINDOW_SECS,
        append_addr: "127.0.0.1:0".parse().unwrap(),
        query_addr: "127.0.0.1:0".parse().unwrap(),
        dashboard_addr: Some("127.0.0.1:0".parse().unwrap()),
        no_dashboard: false,
        no_group_commit: false,
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        projector_batch: 100,
        stream_check_secs: 1,
        // Tests about access (tests/access.rs, tests/keys_and_tls.rs) configure keys; the others run open.
        auth: AuthSettings {
            auth_issuer: ledger_auth::DEFAULT_ISSUER.into(),
            auth_audience: ledger_auth::DEFAULT_AUDIENCE.into(),
            insecure_no_auth: true,
            ..AuthSettings::default()
        },
        limits: coalition_ledger::config::LimitSettings::default(),
        notary: coalition_ledger::config::NotarySettings::default(),
        postgres: coalition_ledger::config::PostgresSettings::default(),
    }
}

/// [`settings`] with the owner, the projector and the query API on their roles ([`Db::setup_roles`]).
pub fn settings_with_separate_roles(nats: &Nats, db: &Db) -> Settings {
    Settings { database_url: db.url_as("ledger_owner"), postgres: db.role_settings(), ..settings(nats, db) }
}

/// The rows of `sql` (no parameters), each made by `row`.
pub async fn rows<T>(client: &tokio_postgres::Client, sql: &str, row: impl Fn(&tokio_postgres::Row) -> T) -> Vec<T> {
    client.query(sql, &[]).await.unwrap().iter().map(row).collect()
}

/// The ledger running in-process with its own NATS and database.
pub struct TestApp {
    pub db: Db,
    pub nats: Nats,
    pub settings: Settings,
    pub append: LedgerAppendClient<Channel>,
    pub query: LedgerQueryClient<Channel>,
    pub replay: LedgerReplayClient<Channel>,
    pub append_addr: SocketAddr,
    pub query_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub dashboard_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    _stop_on_drop: tokio_util::sync::DropGuard,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A NATS client for `url`, credentials in it included (async-nats ignores a URL's credentials; the ledger takes
/// them out and passes them as options, as this does).
pub async fn nats_client(url: &str) -> Result<async_nats::Client, ledger_log::LogError> {
    ledger_log::connect_client(url, &ledger_log::NatsCredentials::default()).await
}

/// Creates the stream as the operator (the ledger's own users may not), with the settings' stream configuration;
/// an existing stream is only checked.
pub async fn create_stream(nats: &Nats, settings: &Settings) {
    let config = ledger_log::LogConfig {
        url: nats.url.clone(),
        credentials: ledger_log::NatsCredentials::default(),
        create_missing: true,
        ..settings.log_config().unwrap()
    };
    match ledger_log::Log::connect(&config).await {
        Ok(log) => {
            if let Err(e) = log.ensure_checkpoint_stream(true).await {
                eprintln!("the harness could not create or check the checkpoint stream: {e}");
            }
        }
        // A test of a refused stream sees the refusal from the ledger itself.
        Err(e) => eprintln!("the harness could not create or check the stream: {e}"),
    }
}

/// Runs `ledger <role>` as a process of its own with `env`, and `LEDGER_FAULT=fault` if given, until it exits (a
/// fault aborts it) or `done` says so (then it is stopped with SIGTERM); fails after 60 s. Returns how it exited.
pub async fn run_ledger_process(
    role: &str,
    env: Vec<(&str, String)>,
    fault: Option<&str>,
    mut done: impl AsyncFnMut() -> bool,
) -> std::process::ExitStatus {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger"));
    cmd.arg(role).envs(env).env("RUST_LOG", "warn");
    match fault {
        Some(f) => cmd.env("LEDGER_FAULT", f),
        None => cmd.env_remove("LEDGER_FAULT"),
    };
    let mut child = cmd.spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if done().await {
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
            return child.wait().unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "ledger {role} did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of `GET /metrics` (with the HTTP head) from a metrics endpoint.
pub async fn metrics_text(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// GET over a plain TCP connection (HTTP/1.1); panics unless the answer is 200. Returns the body.
pub async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{url}: {}", out.lines().next().unwrap_or(""));
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Roles::ALL, |_| {}).await
    }

    pub async fn spawn_with(roles: Roles, tweak: impl FnOnce(&mut Settings)) -> Self {
        let nats = Nats::start();
        let db = Db::create().await;
        let mut settings = settings(&nats, &db);
        tweak(&mut settings);
        Self::start(nats, db, settings, roles).await
    }

    /// The ledger with least privilege in Postgres: the database set up by `ledger db setup-roles` and migrated by
    /// the owner, the projector and the query API on their own roles (`ledger_projector`, `ledger_query`).
    pub async fn spawn_with_separate_roles(tweak: impl FnOnce(&mut Settings)) -> Self {
        let nats = Nats::start();
        let db = Db::create().await;
        db.setup_roles(true).await;
        let mut settings = settings_with_separate_roles(&nats, &db);
        tweak(&mut settings);
        Self::start(nats, db, settings, Roles::ALL).await
    }

    pub async fn start(nats: Nats, db: Db, settings: Settings, roles: Roles) -> Self {
        create_stream(&nats, &settings).await;
        let app = Application::build(settings.clone(), Roles { append: true, query: true, ..roles }).await.unwrap();
        let (append_addr, query_addr) = (app.append_addr().unwrap(), app.query_addr().unwrap());
        let metrics_addr = app.metrics_addr().unwrap();
        let dashboard_addr = app.dashboard_addr();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(shutdown.clone()));
        Self {
            append: LedgerAppendClient::new(channel(append_addr).await),
            query: LedgerQueryClient::new(channel(query_addr).await),
            replay: LedgerReplayClient::new(channel(query_addr).await),
            db,
            nats,
            settings,
            append_addr,
            query_addr,
            metrics_addr,
            dashboard_addr,
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
            handle: Some(handle),
        }
    }

    /// Stops the application gracefully and returns its result, keeping NATS and the database.
    pub async fn stop(mut self) -> (Nats, Db, Settings, anyhow::Result<()>) {
        self.shutdown.cancel();
        let r = tokio::time::timeout(Duration::from_secs(20), self.handle.take().unwrap())
            .await
            .expect("the application did not stop within 20s")
            .expect("the application task panicked");
        (self.nats, self.db, self.settings, r)
    }

    /// Writes `body` to `subject` directly, bypassing the append service (as a buggy or hostile writer would);
    /// returns its log position.
    pub async fn publish_by_hand(&self, subject: &str, body: Vec<u8>) -> u64 {
        let js = async_nats::jetstream::new(nats_client(&self.nats.url).await.unwrap());
        js.publish(subject.to_owned(), body.into()).await.unwrap().await.unwrap().sequence
    }

    /// Every projection the ledger runs.
    pub const PROJECTIONS: usize = ledger_readmodel::ReadModel::ALL.len();

    /// Waits until every projection has processed `position`.
    pub async fn wait_projected(&mut self, position: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.query.projection_status(v1::ProjectionStatusRequest {}).await.unwrap().into_inner();
            if s.projections.len() == Self::PROJECTIONS && s.projections.iter().all(|p| p.position >= position) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "projection never reached {position}: {s:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---- builders of requests ----------------------------------------------------------------------------------

pub fn date(y: i32, m: u32, d: u32) -> Option<v1::Date> {
    Some(v1::Date { year: y, month: m, day: d })
}

pub fn event(payload: v1::event_payload::Event) -> v1::EventData {
    v1::EventData {
        event_id: Uuid::new_v4().to_string(),
        occurred_at: Some(prost_types::Timestamp { seconds: 1_600_000_000, nanos: 0 }),
        actor: "test".into(),
        source: v1::Source::Api.into(),
        payload: Some(v1::EventPayload { event: Some(payload) }),
        ..Default::default()
    }
}

pub fn request(
    kind: v1::AggregateType,
    id: &str,
    expected: Option<v1::expected_revision::Expected>,
    events: Vec<v1::EventData>,
) -> v1::AppendRequest {
    v1::AppendRequest {
        aggregate: Some(v1::AggregateRef { r#type: kind.into(), id: id.into() }),
        expected_revision: expected.map(|e| v1::ExpectedRevision { expected: Some(e) }),
        events,
        coalition_id: String::new(),
    }
}

pub fn coalition(id: &str, country: &str, launched: Option<v1::Date>) -> v1::AppendRequest {
    use v1::event_payload::Event as P;
    request(
        v1::AggregateType::Coalition,
        id,
        None,
        vec![event(P::CoalitionEstablished(v1::CoalitionEstablished {
            name: format!("Coalition {id}"),
            kind: v1::CoalitionKind::National.into(),
            country: country.into(),
            launched_on: launched,
            open_pledging: false,
        }))],
    )
}

pub fn organisation(id: &str) -> v1::AppendRequest {
    use v1::event_payload::Event as P;
    request(
        v1::AggregateType::Organisation,
        id,
        None,
        vec![event(P::OrganisationRegistered(v1::OrganisationRegistered {
            name: format!("Organisation {id}"),
            country: "SE".into(),
            organisation_type: v1::OrganisationType::IctCompany.into(),
            size: v1::OrganisationSize::Sme.into(),
        }))],
    )
}

pub fn joined(coalition: &str, org: &str, on: Option<v1::Date>) -> v1::EventData {
    event(v1::event_payload::Event::MembershipApproved(v1::MembershipApproved {
        coalition_id: coalition.into(),
        organisation_id: org.into(),
        joined_on: on,
    }))
}

pub fn left(coalition: &str, org: &str, on: Option<v1::Date>) -> v1::EventData {
    event(v1::event_payload::Event::MembershipLeft(v1::MembershipLeft {
        coalition_id: coalition.into(),
        organisation_id: org.into(),
        left_on: on,
        reason: "test".into(),
    }))
}

pub fn membership(coalition: &str, org: &str, events: Vec<v1::EventData>) -> v1::AppendRequest {
    request(v1::AggregateType::Membership, &format!("{coalition}.{org}"), None, events)
}

/// Sets up coalition `se` (launched 2018-05-03) and `n` organisations `org-0..n` that joined it; returns the last
/// position.
pub async fn seed(app: &mut TestApp, n: usize) -> u64 {
    let mut last = app.append.append(coalition("se", "SE", date(2018, 5, 3))).await.unwrap().into_inner().revision;
    for i in 0..n {
        let org = format!("org-{i}");
        app.append.append(organisation(&org)).await.unwrap();
        let on = date(2019 + (i as i32 % 5), 1 + (i as u32 % 12), 10);
        last = app
            .append
            .append(membership("se", &org, vec![joined("se", &org, on)]))
            .await
            .unwrap()
            .into_inner()
            .revision;
    }
    last
}

/// A pledge submitted by `org` in coalition "se" (pledge aggregate `<org>.<id>`).
pub fn pledge(org: &str, id: &str) -> v1::AppendRequest {
    request(
        v1::AggregateType::Pledge,
        &format!("{org}.{id}"),
        None,
        vec![event(v1::event_payload::Event::PledgeSubmitted(v1::PledgeSubmitted {
            organisation_id: org.into(),
            coalition_id: "se".into(),
            title: "Digital skills for teachers".into(),
            pillars: vec![v1::Pillar::Education.into()],
            countries: vec!["SE".into()],
            starts_on: date(2020, 1, 1),
            ends_on: date(2021, 12, 31),
        }))],
    )
}

/// A reporting request: `coalition` ("" = all), read-your-writes `consistency`, up to 1000 rows.
pub fn reporting(coalition: &str, consistency: Option<v1::Consistency>) -> v1::ReportRequest {
    v1::ReportRequest {
        filter: Some(v1::ReportFilter { coalition_id: coalition.into(), ..Default::default() }),
        page: Some(v1::Page { page_size: 1000, offset: 0 }),
        consistency,
        as_of: String::new(),
        as_of_log: None,
    }
}

/// Appends the first `n` requests of the demo history (seed 2013) through the API; returns the log end.
pub async fn append_history(app: &mut TestApp, n: usize) -> u64 {
    let mut end = 0;
    for item in ledger_workload::generator::generate(2013).into_iter().take(n) {
        end = app.append.append(item.request).await.unwrap().into_inner().revision.max(end);
    }
    end
}

/// The body of a message as the append service would store it (`StoredEvent`), for tests that write the log by
/// hand: `payload` is the encoded event message of `event_type` at `schema_version`.
pub fn stored_event(
    aggregate_type: &str,
    aggregate_id: &str,
    event_type: &str,
    schema_version: u32,
    seconds: i64,
    payload: Vec<u8>,
) -> Vec<u8> {
    let at = Some(prost_types::Timestamp { seconds, nanos: 0 });
    let stored = v1::StoredEvent {
        event_id: Uuid::new_v4().to_string(),
        aggregate_type: aggregate_type.into(),
        aggregate_id: aggregate_id.into(),
        event_type: event_type.into(),
        schema_version,
        occurred_at: at,
        recorded_at: at,
        actor: "by-hand".into(),
        source: 1,
        correlation_id: Uuid::new_v4().to_string(),
        payload,
        ..Default::default()
    };
    prost::Message::encode_to_vec(&stored)
}
