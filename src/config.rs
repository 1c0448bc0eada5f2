//! Typed configuration from flags and environment variables. Secrets (URL credentials) are never logged.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the ledger's dependencies are and how to reach them.
#[derive(Clone, Args)]
pub struct Settings {
    /// NATS server URL. Credentials may be in it (`nats://user:password@host`), taken out before the URL is used
    /// or logged; prefer --nats-password-file or the environment, as a flag is visible to other local users.
    #[arg(long, global = true, env = "LEDGER_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    #[command(flatten)]
    pub nats: NatsSettings,
    /// Postgres URL for the read models: the owner's, which runs the migrations (and, unless
    /// --projector-database-url or --query-database-url are given, the projector's and the query API's too).
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
    /// Seconds between checks of the stream's settings and sequence range (every role checks).
    #[arg(long, global = true, env = "LEDGER_STREAM_CHECK_SECS", default_value_t = 5)]
    pub stream_check_secs: u64,
    /// Messages per projector transaction.
    #[arg(long, global = true, env = "LEDGER_PROJECTOR_BATCH", default_value_t = 1000)]
    pub projector_batch: usize,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub limits: LimitSettings,
    #[command(flatten)]
    pub notary: NotarySettings,
    #[command(flatten)]
    pub postgres: PostgresSettings,
}

/// The notary: the key that signs checkpoints of the log's Merkle tree, and how often (see docs/audit.md).
#[derive(Clone, Debug, Args)]
pub struct NotarySettings {
    /// The notary's signer key file (`PRIVATE+KEY+<name>+<id>+<key>`, from `ledger audit keygen`); its key name is
    /// the log's origin. Without it `ledger all` runs no notary, and `ledger notary` refuses to start.
    #[arg(long, global = true, env = "LEDGER_NOTARY_KEY")]
    pub notary_key: Option<PathBuf>,
    /// A checkpoint once this many events are not covered by one.
    #[arg(long, global = true, env = "LEDGER_CHECKPOINT_EVERY_EVENTS", default_value_t = 1000)]
    pub checkpoint_every_events: u64,
    /// A checkpoint once the oldest event not covered by one has waited this long, in milliseconds.
    #[arg(long, global = true, env = "LEDGER_CHECKPOINT_EVERY_MS", default_value_t = 5000)]
    pub checkpoint_every_ms: u64,
}

impl Default for NotarySettings {
    fn default() -> Self {
        Self { notary_key: None, checkpoint_every_events: 1000, checkpoint_every_ms: 5000 }
    }
}

impl NotarySettings {
    /// The signer of `--notary-key`, if given. The key is never logged.
    pub fn signer(&self) -> anyhow::Result<Option<ledger_audit::Signer>> {
        use anyhow::Context as _;
        let Some(path) = &self.notary_key else { return Ok(None) };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the notary key {}", path.display()))?;
        let signer = ledger_audit::Signer::parse(&text)
            .map_err(|e| anyhow::anyhow!("the notary key {}: {e}", path.display()))?;
        Ok(Some(signer))
    }
}

/// Limits against abuse and accidents: what one request, event, client or connection may take (see the README's
/// "Limits"). Each refusal names the limit.
#[derive(Clone, Debug, Args)]
pub struct LimitSettings {
    /// Largest encoded event (its stored envelope) in bytes; an append holding a larger one is refused with
    /// INVALID_ARGUMENT naming it, before it reaches the group commit. Capped below the NATS server's max_payload.
    #[arg(long, global = true, env = "LEDGER_MAX_EVENT_BYTES", default_value_t = ledger_log::DEFAULT_MAX_EVENT_BYTES)]
    pub max_event_bytes: usize,
    /// Largest gRPC request message in bytes (decoded size); a larger one is refused with OUT_OF_RANGE.
    #[arg(long, global = true, env = "LEDGER_MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Concurrent HTTP/2 streams (calls) one gRPC connection may open; more wait for one to end.
    #[arg(long, global = true, env = "LEDGER_MAX_CONCURRENT_STREAMS", default_value_t = 128)]
    pub max_concurrent_streams: u32,
    /// Longest a gRPC call may take to answer, in seconds (a client's shorter grpc-timeout wins); then CANCELLED.
    #[arg(long, global = true, env = "LEDGER_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Calls one principal may have in flight on one server; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, global = true, env = "LEDGER_MAX_IN_FLIGHT_PER_PRINCIPAL", default_value_t = 256)]
    pub max_in_flight_per_principal: usize,
    /// Calls one server may have in flight over all principals; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, global = true, env = "LEDGER_MAX_IN_FLIGHT", default_value_t = 2048)]
    pub max_in_flight: usize,
    /// Calls per second one principal may start on one server, on average (0: no rate limit).
    #[arg(long, global = true, env = "LEDGER_RATE_LIMIT", default_value_t = 20_000.0)]
    pub rate_limit: f64,
    /// Calls one principal may start at once above its rate.
    #[arg(long, global = true, env = "LEDGER_RATE_BURST", default_value_t = 40_000.0)]
    pub rate_burst: f64,
    /// Replay streams one principal may have open at once.
    #[arg(long, global = true, env = "LEDGER_MAX_REPLAYS_PER_PRINCIPAL", default_value_t = 4)]
    pub max_replays_per_principal: usize,
    /// Replay streams the query role serves at once (each holds a JetStream consumer).
    #[arg(long, global = true, env = "LEDGER_MAX_REPLAYS", default_value_t = 64)]
    pub max_replays: usize,
    /// Connections to Postgres the query role keeps.
    #[arg(long, global = true, env = "LEDGER_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: usize,
    /// Longest a query waits for a pooled Postgres connection, in milliseconds; then UNAVAILABLE.
    #[arg(long, global = true, env = "LEDGER_DB_ACQUIRE_TIMEOUT_MS", default_value_t = DEFAULT_ACQUIRE_MS)]
    pub db_acquire_timeout_ms: u64,
    /// Longest the dashboard and metrics servers wait for a request's headers, also between the requests of a
    /// kept-alive connection, in seconds; then the connection is closed.
    #[arg(long, global = true, env = "LEDGER_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_timeout_secs: u64,
    /// Connections the dashboard (and, apart, the metrics server) keeps open at once; more are closed at once.
    #[arg(long, global = true, env = "LEDGER_HTTP_MAX_CONNECTIONS", default_value_t = 256)]
    pub http_max_connections: usize,
    /// As-of builds (a read model up to an earlier log position, in temporary tables) the query role keeps for
    /// further questions; each holds a Postgres connection. The least recently used goes first.
    #[arg(long, global = true, env = "LEDGER_AS_OF_BUILDS", default_value_t = 4)]
    pub as_of_builds: usize,
    /// Seconds an as-of build is kept after its last use.
    #[arg(long, global = true, env = "LEDGER_AS_OF_IDLE_SECS", default_value_t = 600)]
    pub as_of_idle_secs: u64,
    /// As-of builds run at once (each reads the log and writes its temporary tables).
    #[arg(long, global = true, env = "LEDGER_AS_OF_CONCURRENT_BUILDS", default_value_t = 1)]
    pub as_of_concurrent_builds: usize,
    /// As-of builds in progress or waiting; an ask for one more is refused with RESOURCE_EXHAUSTED.
    #[arg(long, global = true, env = "LEDGER_AS_OF_QUEUED_BUILDS", default_value_t = 4)]
    pub as_of_queued_builds: usize,
}

/// `--db-acquire-timeout-ms` unless given.
const DEFAULT_ACQUIRE_MS: u64 = ledger_readmodel::DEFAULT_ACQUIRE_TIMEOUT.as_millis() as u64;

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_event_bytes: ledger_log::DEFAULT_MAX_EVENT_BYTES,
            max_request_bytes: 4 * 1024 * 1024,
            max_concurrent_streams: 128,
            request_timeout_secs: 30,
            max_in_flight_per_principal: 256,
            max_in_flight: 2048,
            rate_limit: 20_000.0,
            rate_burst: 40_000.0,
            max_replays_per_principal: 4,
            max_replays: 64,
            db_pool_size: 8,
            db_acquire_timeout_ms: DEFAULT_ACQUIRE_MS,
            http_header_timeout_secs: 10,
            http_max_connections: 256,
            as_of_builds: 4,
            as_of_idle_secs: 600,
            as_of_concurrent_builds: 1,
            as_of_queued_builds: 4,
        }
    }
}

impl LimitSettings {
    /// What the auth layer admits.
    pub fn admission(&self) -> ledger_auth::limits::Limits {
        ledger_auth::limits::Limits {
            per_principal_in_flight: self.max_in_flight_per_principal,
            in_flight: self.max_in_flight,
            per_principal_rate: self.rate_limit,
            per_principal_burst: self.rate_burst,
        }
    }

    /// What the dashboard and metrics servers allow.
    pub fn http(&self) -> crate::http::HttpLimits {
        crate::http::HttpLimits {
            header_timeout: Duration::from_secs(self.http_header_timeout_secs),
            max_connections: self.http_max_connections,
        }
    }

    /// How the query role serves as-of answers, its builds connecting to `database`.
    pub fn as_of(&self, database: ledger_readmodel::Postgres) -> ledger_query::AsOfConfig {
        ledger_query::AsOfConfig {
            database,
            kept: self.as_of_builds,
            idle: Duration::from_secs(self.as_of_idle_secs),
            concurrent: self.as_of_concurrent_builds,
            queued: self.as_of_queued_builds,
        }
    }

    /// Checks what the types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_event_bytes >= 1024, "--max-event-bytes must be at least 1024");
        anyhow::ensure!(
            self.max_request_bytes >= self.max_event_bytes,
            "--max-request-bytes must be at least --max-event-bytes"
        );
        for (name, v) in [
            ("--max-concurrent-streams", self.max_concurrent_streams as usize),
            ("--request-timeout-secs", self.request_timeout_secs as usize),
            ("--max-in-flight-per-principal", self.max_in_flight_per_principal),
            ("--max-in-flight", self.max_in_flight),
            ("--max-replays-per-principal", self.max_replays_per_principal),
            ("--max-replays", self.max_replays),
            ("--db-pool-size", self.db_pool_size),
            ("--db-acquire-timeout-ms", self.db_acquire_timeout_ms as usize),
            ("--http-header-timeout-secs", self.http_header_timeout_secs as usize),
            ("--http-max-connections", self.http_max_connections),
            ("--as-of-builds", self.as_of_builds),
            ("--as-of-idle-secs", self.as_of_idle_secs as usize),
            ("--as-of-concurrent-builds", self.as_of_concurrent_builds),
            ("--as-of-queued-builds", self.as_of_queued_builds),
        ] {
            anyhow::ensure!(v > 0, "{name} must be at least 1");
        }
        anyhow::ensure!(self.rate_limit.is_finite() && self.rate_limit >= 0.0, "--rate-limit must be 0 or more");
        anyhow::ensure!(
            self.rate_limit == 0.0 || (self.rate_burst.is_finite() && self.rate_burst >= 1.0),
            "--rate-burst must be at least 1"
        );
        Ok(())
    }
}

/// How the ledger authenticates to NATS and secures the connection (see the README's "NATS permissions").
/// Secrets come from files, or from the environment variables `LEDGER_NATS_PASSWORD`, `LEDGER_NATS_TOKEN` and
/// `LEDGER_NATS_NKEY_SEED`: never from a flag's value, which other local users can read.
#[derive(Clone, Debug, Default, Args)]
pub struct NatsSettings {
    /// NATS user name (its password from --nats-password-file or LEDGER_NATS_PASSWORD).
    #[arg(long, global = true, env = "LEDGER_NATS_USER")]
    pub nats_user: Option<String>,
    /// File holding the NATS user's password.
    #[arg(long, global = true, env = "LEDGER_NATS_PASSWORD_FILE", requires = "nats_user")]
    pub nats_password_file: Option<PathBuf>,
    /// File holding a NATS authentication token (or LEDGER_NATS_TOKEN).
    #[arg(long, global = true, env = "LEDGER_NATS_TOKEN_FILE")]
    pub nats_token_file: Option<PathBuf>,
    /// File holding an nkey seed (`SU...`; or LEDGER_NATS_NKEY_SEED).
    #[arg(long, global = true, env = "LEDGER_NATS_NKEY_FILE")]
    pub nats_nkey_file: Option<PathBuf>,
    /// A NATS `.creds` file (user JWT and seed, for servers in operator mode).
    #[arg(long, global = true, env = "LEDGER_NATS_CREDS_FILE")]
    pub nats_creds_file: Option<PathBuf>,
    /// CA certificate (PEM) of the NATS server's certificate; turns TLS on.
    #[arg(long, global = true, env = "LEDGER_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for NATS servers that verify clients; turns TLS on.
    #[arg(long, global = true, env = "LEDGER_NATS_TLS_CERT", requires = "nats_tls_key")]
    pub nats_tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "LEDGER_NATS_TLS_KEY", requires = "nats_tls_cert")]
    pub nats_tls_key: Option<PathBuf>,
    /// Refuse a NATS server that does not offer TLS (implied by the other TLS options).
    #[arg(long, global = true, env = "LEDGER_NATS_TLS_REQUIRED")]
    pub nats_tls_required: bool,
}

impl NatsSettings {
    /// The credentials these settings name, read from their files or the environment. At most one kind.
    pub fn credentials(&self) -> anyhow::Result<ledger_log::NatsCredentials> {
        self.credentials_from(|name| std::env::var(name).ok())
    }

    /// As [`Self::credentials`], with the environment given (for tests).
    pub fn credentials_from(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ledger_log::NatsCredentials> {
        use anyhow::Context as _;
        use ledger_log::{NatsAuth, Secret};
        let read = |path: &PathBuf, what: &str| read_secret_file(path, what).map(Secret::new);
        let secret = |file: &Option<PathBuf>, var: &str, what: &str| -> anyhow::Result<Option<Secret>> {
            match (file, env(var).filter(|v| !v.is_empty())) {
                (Some(_), Some(_)) => {
                    anyhow::bail!("the NATS {what} is given both as a file and in {var}: give it once")
                }
                (Some(path), None) => read(path, &format!("NATS {what}")).map(Some),
                (None, Some(v)) => Ok(Some(Secret::new(v))),
                (None, None) => Ok(None),
            }
        };
        let password = secret(&self.nats_password_file, "LEDGER_NATS_PASSWORD", "password")?;
        let token = secret(&self.nats_token_file, "LEDGER_NATS_TOKEN", "token")?;
        let seed = secret(&self.nats_nkey_file, "LEDGER_NATS_NKEY_SEED", "nkey seed")?;
        let mut kinds = Vec::new();
        if let Some(user) = &self.nats_user {
            let password =
                password.context("--nats-user needs a password: --nats-password-file or LEDGER_NATS_PASSWORD")?;
            kinds.push(NatsAuth::UserPassword { user: user.clone(), password });
        } else {
            anyhow::ensure!(password.is_none(), "a NATS password is given without --nats-user");
        }
        kinds.extend(token.map(NatsAuth::Token));
        kinds.extend(seed.map(NatsAuth::NkeySeed));
        kinds.extend(self.nats_creds_file.clone().map(NatsAuth::CredsFile));
        anyhow::ensure!(
            kinds.len() <= 1,
            "several kinds of NATS credentials are given ({}): give one",
            kinds.iter().map(NatsAuth::kind).collect::<Vec<_>>().join(", ")
        );
        let tls = ledger_log::NatsTls {
            ca: self.nats_tls_ca.clone(),
            client_cert: self.nats_tls_cert.clone().zip(self.nats_tls_key.clone()),
            required: self.nats_tls_required,
        };
        Ok(ledger_log::NatsCredentials { auth: kinds.pop().unwrap_or_default(), tls })
    }
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
    /// Where the log is and how to reach it; reads the NATS credentials' files.
    pub fn log_config(&self) -> anyhow::Result<ledger_log::LogConfig> {
        Ok(ledger_log::LogConfig {
            url: self.nats_url.clone(),
            credentials: self.nats.credentials()?,
            stream: self.stream.clone(),
            subject_prefix: self.subject_prefix.clone(),
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
            group_commit: !self.no_group_commit,
            // Set by the roles that read the checkpoints (`startup.rs`) and by `ledger stream create`.
            known_position: 0,
            create_missing: false,
            max_event_bytes: self.limits.max_event_bytes,
        })
    }

    /// What `ledger bench` needs of these settings. It starts this executable for the ledger's roles, with the
    /// settings in its environment.
    pub fn bench_config(&self) -> anyhow::Result<ledger_workload::bench::Config> {
        use anyhow::Context as _;
        Ok(ledger_workload::bench::Config {
            nats_url: self.nats_url.clone(),
            nats_credentials: self.nats.credentials()?,
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
        anyhow::ensure!(self.stream_check_secs > 0, "--stream-check-secs must be at least 1");
        anyhow::ensure!(self.duplicate_window_secs > 0, "--duplicate-window-secs must be at least 1");
        self.limits.validate()?;
        anyhow::ensure!(self.notary.checkpoint_every_events > 0, "--checkpoint-every-events must be at least 1");
        anyhow::ensure!(self.notary.checkpoint_every_ms > 0, "--checkpoint-every-ms must be at least 1");
        Ok(())
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("nats_url", &ledger_log::redact(&self.nats_url))
            .field("nats", &self.nats)
            .field("database_url", &ledger_log::redact(&self.database_url))
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .field("append_addr", &self.append_addr)
            .field("query_addr", &self.query_addr)
            .field("dashboard_addr", &self.dashboard_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("notary", &self.notary)
            .field("postgres", &self.postgres)
            .finish_non_exhaustive()
    }
}

/// How each of the ledger's roles reaches Postgres, as a role of its own (see the README's "Postgres roles"):
/// the owner (`--database-url`) migrates, the projector writes the read models, the query API reads them.
/// Passwords come from files or the environment (`LEDGER_DATABASE_PASSWORD`, `LEDGER_PROJECTOR_DATABASE_PASSWORD`,
/// `LEDGER_QUERY_DATABASE_PASSWORD`) and replace one in the URL; TLS is the URLs' `sslmode` and `sslrootcert`
/// (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`) with --database-ca as the default CA.
#[derive(Clone, Default, Args)]
pub struct PostgresSettings {
    /// Postgres URL of the projector (writes the read models and checkpoints), e.g.
    /// `postgres://ledger_projector@db/ledger`; default: --database-url. Given, or with --query-database-url,
    /// the roles do not migrate at start: `ledger migrate` (as the owner) must have run.
    #[arg(long, global = true, env = "LEDGER_PROJECTOR_DATABASE_URL")]
    pub projector_database_url: Option<String>,
    /// Postgres URL of the query API (reads the reporting views and the projections' status), e.g.
    /// `postgres://ledger_query@db/ledger`; default: --database-url.
    #[arg(long, global = true, env = "LEDGER_QUERY_DATABASE_URL")]
    pub query_database_url: Option<String>,
    /// File holding the password of --database-url's user (or LEDGER_DATABASE_PASSWORD).
    #[arg(long, global = true, env = "LEDGER_DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,
    /// File holding the projector's Postgres password (or LEDGER_PROJECTOR_DATABASE_PASSWORD).
    #[arg(long, global = true, env = "LEDGER_PROJECTOR_DATABASE_PASSWORD_FILE")]
    pub projector_database_password_file: Option<PathBuf>,
    /// File holding the query API's Postgres password (or LEDGER_QUERY_DATABASE_PASSWORD).
    #[arg(long, global = true, env = "LEDGER_QUERY_DATABASE_PASSWORD_FILE")]
    pub query_database_password_file: Option<PathBuf>,
    /// CA certificates (PEM) that sign the Postgres server's certificate, for every connection whose URL names
    /// no `sslrootcert`; with it `prefer` and `require` check the certificate as `verify-ca` does.
    #[arg(long, global = true, env = "LEDGER_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,
}

/// Where each role connects, parsed, with its password and TLS (see [`PostgresSettings`]).
#[derive(Clone, Debug)]
pub struct Databases {
    /// Migrations (`ledger migrate`), and every role unless given its own URL.
    pub owner: ledger_readmodel::Postgres,
    pub projector: ledger_readmodel::Postgres,
    pub query: ledger_readmodel::Postgres,
    /// The projector or the query API has a URL of its own: the roles then check that the owner migrated the
    /// database instead of migrating it themselves.
    pub separate_roles: bool,
}

impl PostgresSettings {
    /// Each role's connection, its password read from its file or the environment.
    pub fn databases(&self, owner_url: &str) -> anyhow::Result<Databases> {
        self.databases_from(owner_url, |name| std::env::var(name).ok())
    }

    /// As [`Self::databases`], with the environment given (for tests).
    pub fn databases_from(&self, owner_url: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Databases> {
        use anyhow::Context as _;
        let passwords = self.passwords_from(&env)?;
        let open = |url: &str, password: Option<String>, what: &str| -> anyhow::Result<ledger_readmodel::Postgres> {
            let mut database = ledger_readmodel::Postgres::parse_with_ca(url, self.database_ca.as_deref())
                .with_context(|| format!("{what}: {}", ledger_log::redact(url)))?;
            if let Some(password) = password {
                database = database.with_password(&password);
            }
            Ok(database)
        };
        let owner = open(owner_url, passwords.owner, "--database-url")?;
        let role = |url: &Option<String>, password: Option<String>, what: &str| match url {
            Some(url) => open(url, password, what),
            None => Ok(owner.clone()),
        };
        Ok(Databases {
            projector: role(&self.projector_database_url, passwords.projector, "--projector-database-url")?,
            query: role(&self.query_database_url, passwords.query, "--query-database-url")?,
            owner,
            separate_roles: self.projector_database_url.is_some() || self.query_database_url.is_some(),
        })
    }

    /// The three passwords, from their files or the environment (a file and a variable for one role: refused).
    pub fn passwords_from(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ledger_readmodel::RolePasswords> {
        let secret = |file: &Option<PathBuf>, var: &str, what: &str| -> anyhow::Result<Option<String>> {
            match (file, env(var).filter(|v| !v.is_empty())) {
                (Some(_), Some(_)) => anyhow::bail!("the {what} is given both as a file and in {var}: give it once"),
                (Some(path), None) => read_secret_file(path, what).map(Some),
                (None, v) => Ok(v),
            }
        };
        Ok(ledger_readmodel::RolePasswords {
            owner: secret(&self.database_password_file, "LEDGER_DATABASE_PASSWORD", "Postgres password")?,
            projector: secret(
                &self.projector_database_password_file,
                "LEDGER_PROJECTOR_DATABASE_PASSWORD",
                "projector's Postgres password",
            )?,
            query: secret(
                &self.query_database_password_file,
                "LEDGER_QUERY_DATABASE_PASSWORD",
                "query API's Postgres password",
            )?,
        })
    }
}

/// A secret held in a file (its final line break dropped); an empty file is refused.
pub fn read_secret_file(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the {what} file {}", path.display()))?;
    let value = text.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!value.is_empty(), "the {what} file {} is empty", path.display());
    Ok(value)
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |url: &Option<String>| url.as_deref().map(ledger_log::redact);
        f.debug_struct("PostgresSettings")
            .field("projector_database_url", &redacted(&self.projector_database_url))
            .field("query_database_url", &redacted(&self.query_database_url))
            .field("database_password_file", &self.database_password_file)
            .field("projector_database_password_file", &self.projector_database_password_file)
            .field("query_database_password_file", &self.query_database_password_file)
            .field("database_ca", &self.database_ca)
            .finish()
    }
}

impl Settings {
    /// Each role's Postgres connection (see [`PostgresSettings`]).
    pub fn databases(&self) -> anyhow::Result<Databases> {
        self.postgres.databases(&self.database_url)
    }
}
