//! TLS to Postgres against a private cluster started by the test (initdb into a temporary directory, `ssl = on`,
//! a certificate of a test CA, password logins with SCRAM only, TCP without TLS refused): `sslmode=require`
//! encrypts, `verify-full` and `verify-ca` check what they should, and the whole ledger runs on its separate roles
//! over verified TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tls::TestCa;
use common::*;
use ledger_readmodel::Postgres;

/// The superuser's password in the private cluster.
const ADMIN_PASSWORD: &str = "admin pw'1";

/// A Postgres cluster of the test's own, stopped on drop.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// The CA that signed the server's certificate (for `localhost` only), and one that did not.
    ca: PathBuf,
    wrong_ca: PathBuf,
}

/// Runs a Postgres program as the `postgres` user when this process is root (initdb refuses root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn id(flag: &str) -> u32 {
    let out = Command::new("id").args([flag, "postgres"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a `postgres` user for the private cluster")
}

/// The newest installed PostgreSQL's binaries (scripts/postgres.sh installs them if missing).
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries in /usr/lib/postgresql (scripts/postgres.sh installs them)")
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("initdb in /usr/lib/postgresql/*/bin").1
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let ca = TestCa::new("ledger test Postgres CA");
        let (cert, key) = ca.leaf(vec!["localhost".into()], "localhost");
        let write = |name: &str, text: &str| {
            let p = path.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca_file = write("ca.pem", &ca.pem);
        let wrong_ca = write("wrong-ca.pem", &TestCa::new("another CA").pem);
        write("server.pem", &cert);
        let key_file = write("server.key", &key);
        write("admin.password", ADMIN_PASSWORD);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        if is_root() {
            let (uid, gid) = (id("-u"), id("-g"));
            for entry in std::fs::read_dir(path).unwrap() {
                std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(gid)).unwrap();
            }
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
        let data = path.join("data");
        let status = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile"])
            .arg(path.join("admin.password"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        // TCP only with TLS, and only with a SCRAM password.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} \
             -c fsync=off -c max_connections=50",
            path.display(),
            path.join("server.pem").display(),
            key_file.display()
        );
        let status = as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(path.join("log"))
            .args(["-w", "-o", &options, "start"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        let log = std::fs::read_to_string(path.join("log")).unwrap_or_default();
        assert!(status.success(), "pg_ctl start failed:\n{log}");
        Self { bin, dir, port, ca: ca_file, wrong_ca }
    }

    /// The superuser's URL on `host` with `sslmode` (and `ca`, if any).
    fn admin_url(&self, host: &str, sslmode: &str, ca: Option<&Path>) -> String {
        let ca = ca.map(|p| format!("&sslrootcert={}", p.display())).unwrap_or_default();
        let password = "admin%20pw%271";
        format!("postgres://postgres:{password}@{host}:{}/postgres?sslmode={sslmode}{ca}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// Whether the connection `url` opens is encrypted, as the server sees it (`pg_stat_ssl`).
async fn encrypted(url: &str) -> Result<bool, String> {
    let client = Postgres::parse(url).map_err(|e| format!("{e:#}"))?.connect().await.map_err(|e| error_text(&e))?;
    let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    Ok(row.get(0))
}

/// An error with its sources.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn each_sslmode_checks_what_it_promises_on_a_server_with_a_certificate() {
    let pg = PrivatePostgres::start();
    // require: encrypted, the certificate not checked.
    assert_eq!(encrypted(&pg.admin_url("127.0.0.1", "require", None)).await, Ok(true));
    assert_eq!(encrypted(&pg.admin_url("localhost", "prefer", None)).await, Ok(true));
    // verify-full: the right CA and the name in the certificate.
    assert_eq!(encrypted(&pg.admin_url("localhost", "verify-full", Some(&pg.ca))).await, Ok(true));
    // verify-ca: the right CA; the certificate names localhost, not 127.0.0.1, which only verify-full minds.
    assert_eq!(encrypted(&pg.admin_url("127.0.0.1", "verify-ca", Some(&pg.ca))).await, Ok(true));
    let wrong_name = encrypted(&pg.admin_url("127.0.0.1", "verify-full", Some(&pg.ca))).await.unwrap_err();
    assert!(wrong_name.contains("TLS") && wrong_name.contains("not valid for name"), "{wrong_name}");
    // A CA that did not sign the certificate: refused, saying so, in both verifying modes, and with require
    // (given a CA, require checks it as verify-ca does, like libpq).
    for mode in ["verify-full", "verify-ca", "require"] {
        let refused = encrypted(&pg.admin_url("localhost", mode, Some(&pg.wrong_ca))).await.unwrap_err();
        assert!(refused.contains("TLS") && refused.contains("UnknownIssuer"), "{mode}: {refused}");
    }
    // This server refuses TCP without TLS; the error is the server's.
    let plain = encrypted(&pg.admin_url("127.0.0.1", "disable", None)).await.unwrap_err();
    assert!(plain.contains("no encryption") || plain.contains("pg_hba.conf"), "{plain}");
    // verify-full without a CA is refused before connecting.
    let no_ca = encrypted(&pg.admin_url("localhost", "verify-full", None)).await.unwrap_err();
    assert!(no_ca.contains("sslrootcert") && no_ca.contains("--database-ca"), "{no_ca}");
}

#[tokio::test]
async fn the_ledger_runs_on_its_roles_over_verified_tls_with_scram_passwords() {
    let pg = PrivatePostgres::start();
    // Every connection of the ledger and of the harness goes through verified TLS with a password.
    let admin = pg.admin_url("localhost", "verify-full", Some(&pg.ca));
    let db = Db::create_on(admin).await;
    db.setup_roles(true).await;
    // The roles' passwords, sent as SCRAM verifiers, log them in (the server accepts no other way over TCP).
    let query = db.client_as("ledger_query").await;
    let user: String = query.query_one("SELECT current_user::text", &[]).await.unwrap().get(0);
    assert_eq!(user, "ledger_query");
    let wrong = Postgres::parse(&db.url_as("ledger_query")).unwrap().with_password("not it").connect().await;
    assert!(error_text(&wrong.err().unwrap()).contains("password authentication failed"));

    // The CA given as --database-ca instead of in the URLs.
    let nats = Nats::start();
    let mut settings = settings_with_separate_roles(&nats, &db);
    fn without_ca(url: String) -> String {
        url.split("&sslrootcert=").next().unwrap().to_owned()
    }
    settings.database_url = without_ca(settings.database_url);
    settings.postgres.projector_database_url = settings.postgres.projector_database_url.map(without_ca);
    settings.postgres.query_database_url = settings.postgres.query_database_url.map(without_ca);
    settings.postgres.database_ca = Some(pg.ca.clone());
    let mut app = TestApp::start(nats, db, settings, coalition_ledger::startup::Roles::ALL).await;
    let pos = seed(&mut app, 3).await;
    app.wait_projected(pos).await;
    let members = app.query.current_members(reporting("se", None)).await.unwrap().into_inner();
    assert_eq!(members.coalitions[0].members, 3);
    let admin = app.db.client().await;
    let plain: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.datname = current_database() AND NOT s.ssl",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain, 0, "every connection to the ledger's database is encrypted");
}
