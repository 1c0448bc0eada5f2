//! Typed configuration from flags and environment variables. Secrets (URL credentials) are never logged.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the ledger's dependencies are and how to reach them.
#[derive(Clone, Args)]
pub struct Settings {
    /// NATS server URL (credentials, if any, in the URL).
    #[arg(long, global = true, env = "LEDGER_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Postgres URL for the read models.
    #[arg(
        long,
        global = true,
        env = "LEDGER_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/ledger"
    )]
    pub database_url: String,
    /// JetStream stream holding the log.
    #[arg(long, global = true, env = "LEDGER_STREAM", default_value = ledger_log::DEFAULT_STREAM)]
    pub stream: String,
    /// Subject prefix of the log (`<prefix>.<aggregate type>.<id>`).
    #[arg(long, global = true, env = "LEDGER_SUBJECT_PREFIX", default_value = ledger_log::DEFAULT_SUBJECT_PREFIX)]
    pub subject_prefix: String,
    /// JetStream duplicate window in seconds (the ledger also deduplicates beyond it).
    #[arg(long, global = true, env = "LEDGER_DUPLICATE_WINDOW_SECS", default_value_t = ledger_log::DEFAULT_DUPLICATE_WINDOW_SECS)]
    pub duplicate_window_secs: u64,
    /// Address of the append gRPC server (port 0: any free port).
    #[arg(long, global = true, env = "LEDGER_APPEND_ADDR", default_value = "127.0.0.1:50051")]
    pub append_addr: SocketAddr,
    /// Address of the query/replay gRPC server.
    #[arg(long, global = true, env = "LEDGER_QUERY_ADDR", default_value = "127.0.0.1:50052")]
    pub query_addr: SocketAddr,
    /// Address of the web dashboard (HTTP, served by the query role). None is served with `--no-dashboard`.
    #[arg(long, global = true, env = "LEDGER_DASHBOARD_ADDR", default_value = "127.0.0.1:8080")]
    pub dashboard_addr: Option<SocketAddr>,
    /// Serve no web dashboard.
    #[arg(long, global = true, env = "LEDGER_NO_DASHBOARD", conflicts_with = "dashboard_addr")]
    pub no_dashboard: bool,
    /// Address of the Prometheus metrics endpoint (`GET /metrics`), e.g. `127.0.0.1:9464`; none if unset.
    #[arg(long, global = true, env = "LEDGER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Write each append on its own instead of coalescing concurrent appends into atomic batches (group commit).
    #[arg(long, global = true, env = "LEDGER_NO_GROUP_COMMIT")]
    pub no_group_commit: bool,
    /// Messages per projector transaction.
    #[arg(long, global = true, env = "LEDGER_PROJECTOR_BATCH", default_value_t = 1000)]
    pub projector_batch: usize,
    #[command(flatten)]
    pub auth: AuthSettings,
}

/// How callers are authenticated (see the README's "Access" section).
#[derive(Clone, Debug, Default, Args)]
pub struct AuthSettings {
    /// Public keys verifying bearer tokens: a JSON Web Key Set of Ed25519 keys selected by key id (`ledger auth
    /// keygen` writes one). Reloaded when the file changes and on SIGHUP.
    #[arg(long, global = true, env = "LEDGER_AUTH_PUBLIC_KEYS")]
    pub auth_public_keys: Option<PathBuf>,
    /// The `iss` tokens must carry.
    #[arg(long, global = true, env = "LEDGER_AUTH_ISSUER", default_value = ledger_auth::DEFAULT_ISSUER)]
    pub auth_issuer: String,
    /// The `aud` tokens must carry.
    #[arg(long, global = true, env = "LEDGER_AUTH_AUDIENCE", default_value = ledger_auth::DEFAULT_AUDIENCE)]
    pub auth_audience: String,
    /// Serve without authentication: every caller is `anonymous` with every grant. For tests and local trials only;
    /// a warning is logged at every start.
    #[arg(long, global = true, env = "LEDGER_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// TLS certificate chain (PEM) of the gRPC servers.
    #[arg(long, global = true, env = "LEDGER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of the gRPC servers.
    #[arg(long, global = true, env = "LEDGER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) that signs client certificates: mutual TLS, a client without a certificate is refused at the
    /// handshake (unless --tls-client-optional).
    #[arg(long, global = true, env = "LEDGER_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: clients without a certificate may connect (they then need a token).
    #[arg(long, global = true, env = "LEDGER_TLS_CLIENT_OPTIONAL", requires = "tls_client_ca")]
    pub tls_client_optional: bool,
    /// Maps client certificates (subject common name) to principals and grants (JSON, see the README).
    #[arg(long, global = true, env = "LEDGER_TLS_CLIENT_PRINCIPALS", requires = "tls_client_ca")]
    pub tls_client_principals: Option<PathBuf>,
    /// `/metrics` answers only requests with a valid bearer token.
    #[arg(long, global = true, env = "LEDGER_METRICS_REQUIRE_TOKEN")]
    pub metrics_require_token: bool,
}

impl AuthSettings {
    /// The authenticator the servers use. Refuses to run open unless `--insecure-no-auth` says so.
    pub fn authenticator(&self) -> anyhow::Result<ledger_auth::Authenticator> {
        if self.insecure_no_auth {
            tracing::warn!(
                "--insecure-no-auth: every caller is accepted as `anonymous` with every grant; never run this way \
                 outside a test"
            );
            return Ok(ledger_auth::Authenticator::insecure());
        }
        if self.auth_public_keys.is_none() && self.tls_client_principals.is_none() {
            anyhow::bail!(
                "no authentication configured: create a key pair with `ledger auth keygen --out DIR` and start with \
                 --auth-public-keys DIR/public-keys.json (or LEDGER_AUTH_PUBLIC_KEYS), or map client certificates \
                 with --tls-client-ca and --tls-client-principals; --insecure-no-auth runs without authentication"
            );
        }
        ledger_auth::Authenticator::new(&ledger_auth::AuthConfig {
            public_keys: self.auth_public_keys.clone(),
            clients: self.tls_client_principals.clone(),
            issuer: self.auth_issuer.clone(),
            audience: self.auth_audience.clone(),
        })
        .map_err(anyhow::Error::msg)
    }

    /// The gRPC servers' TLS configuration, if any.
    pub fn tls(&self) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
        use anyhow::Context as _;
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else { return Ok(None) };
        let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let mut tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
        if let Some(ca) = &self.tls_client_ca {
            tls = tls
                .client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?))
                .client_auth_optional(self.tls_client_optional);
        }
        Ok(Some(tls))
    }
}

impl Settings {
    pub fn log_config(&self) -> ledger_log::LogConfig {
        ledger_log::LogConfig {
            url: self.nats_url.clone(),
            stream: self.stream.clone(),
            subject_prefix: self.subject_prefix.clone(),
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
            group_commit: !self.no_group_commit,
        }
    }

    /// What `ledger bench` needs of these settings. It starts this executable for the ledger's roles, with the
    /// settings in its environment.
    pub fn bench_config(&self) -> anyhow::Result<ledger_workload::bench::Config> {
        use anyhow::Context as _;
        Ok(ledger_workload::bench::Config {
            nats_url: self.nats_url.clone(),
            database_url: self.database_url.clone(),
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
            append_addr: self.append_addr,
            query_addr: self.query_addr,
            auth_issuer: self.auth.auth_issuer.clone(),
            auth_audience: self.auth.auth_audience.clone(),
            insecure_no_auth: self.auth.insecure_no_auth,
            ledger_executable: std::env::current_exe().context("finding the ledger binary")?,
        })
    }

    /// Checks what flags and environment cannot express by type.
    pub fn validate(&self) -> anyhow::Result<()> {
        let token_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        anyhow::ensure!(token_ok(&self.stream), "--stream {:?}: use letters, digits, _ and -", self.stream);
        anyhow::ensure!(
            self.subject_prefix.split('.').all(token_ok),
            "--subject-prefix {:?}: dot-separated tokens of letters, digits, _ and -",
            self.subject_prefix
        );
        anyhow::ensure!(self.projector_batch > 0, "--projector-batch must be at least 1");
        anyhow::ensure!(self.duplicate_window_secs > 0, "--duplicate-window-secs must be at least 1");
        Ok(())
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("nats_url", &ledger_log::redact(&self.nats_url))
            .field("database_url", &ledger_log::redact(&self.database_url))
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .field("append_addr", &self.append_addr)
            .field("query_addr", &self.query_addr)
            .field("dashboard_addr", &self.dashboard_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}
