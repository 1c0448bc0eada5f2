//! The JetStream log: the single source of truth. Connecting (with a server version check), creating or checking
//! the immutable stream, appending with per-aggregate revision checks, and reading back.
mod append;
mod checkpoints;
mod connection;
mod credentials;
mod error;
mod group;
mod permissions;
mod protocol;
mod read;
mod stream;
mod supervise;
mod version;

use std::time::Duration;

pub use checkpoints::{
    StoredCheckpoint, TREE_SIZE_HEADER, checkpoint_stream, checkpoint_stream_config, checkpoint_subject,
};
pub use connection::{
    Connection, ConnectionStats, MAX_RECONNECT_DELAY, NOT_CONNECTED, OUTCOME_UNKNOWN, OUTCOME_UNKNOWN_READ,
};
pub use credentials::{NatsAuth, NatsCredentials, NatsTls, Secret, split_url};
pub use error::LogError;
pub use group::GroupStats;
pub use permissions::{NatsRole, NatsUser, authorization};
pub use protocol::{BatchError, BatchMessage, OutgoingEvent, headers, publish_atomic};
pub use read::{LogMessage, ReadFrom};
pub use stream::stream_config;
pub use version::ServerVersion;

use async_nats::jetstream;
use ledger_domain::Aggregate;

/// Where the log lives.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`. Credentials in it are taken out (see [`split_url`]) and
    /// used as if given in `credentials`, which must then be empty.
    pub url: String,
    /// How to authenticate and whether to use TLS.
    pub credentials: NatsCredentials,
    /// JetStream stream name.
    pub stream: String,
    /// Subject prefix; the stream holds `<prefix>.>` and an aggregate lives on `<prefix>.<type>.<id>`.
    pub subject_prefix: String,
    /// JetStream's duplicate-detection window for `Nats-Msg-Id` (the ledger also deduplicates by itself).
    pub duplicate_window: Duration,
    /// Coalesce concurrent appends into atomic batches (group commit), if the server supports them.
    pub group_commit: bool,
    /// The highest position a record outside the stream says the log held (the read models' checkpoints; 0 if
    /// none): the stream may not end below it, and a missing stream is not created while it is above 0.
    pub known_position: u64,
    /// Create the stream if it does not exist (and no record says it held events). Off for a process that cannot
    /// know the records (the append API alone): `ledger nats create-stream` makes the stream.
    pub create_missing: bool,
    /// The largest encoded event (the stored envelope) an append may carry, checked before anything is sent, so
    /// that one oversized append never fails the others of its group. Capped below the server's `max_payload`.
    pub max_event_bytes: usize,
}

/// The stream's name unless configured otherwise.
pub const DEFAULT_STREAM: &str = "LEDGER";
/// The subject prefix unless configured otherwise.
pub const DEFAULT_SUBJECT_PREFIX: &str = "ledger";
/// The largest encoded event unless configured otherwise: 64 KiB, some 100 times the largest event of the demo
/// history, and far below nats-server's default `max_payload` of 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;
/// What a message's headers (the ledger's, the concurrency check's and an atomic batch's) may take of the
/// server's `max_payload`.
const HEADER_ROOM: usize = 1024;
/// JetStream's duplicate window, in seconds, unless configured otherwise.
pub const DEFAULT_DUPLICATE_WINDOW_SECS: u64 = 120;

impl LogConfig {
    /// The URL without credentials and the options carrying them (from the URL or `credentials`, not both).
    pub async fn connect_options(&self) -> Result<(String, async_nats::ConnectOptions), LogError> {
        let (url, in_url) = split_url(&self.url);
        let mut credentials = self.credentials.clone();
        if let Some(auth) = in_url {
            if credentials.auth != NatsAuth::Anonymous {
                return Err(LogError::Credentials(format!(
                    "credentials both in the NATS URL {} and given as {}: give them once",
                    redact(&self.url),
                    credentials.auth.kind()
                )));
            }
            credentials.auth = auth;
        }
        Ok((url, credentials.options().await?))
    }

    /// A configuration with every default but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            credentials: NatsCredentials::default(),
            stream: DEFAULT_STREAM.into(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.into(),
            duplicate_window: Duration::from_secs(DEFAULT_DUPLICATE_WINDOW_SECS),
            group_commit: true,
            known_position: 0,
            create_missing: true,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// A connection to the log. Cheap to clone.
#[derive(Clone)]
pub struct Log {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    prefix: String,
    version: ServerVersion,
    atomic_batches: bool,
    /// Group commit, when the server has atomic batches and it was asked for (see `group.rs`).
    committer: Option<tokio::sync::mpsc::Sender<group::Write>>,
    group_stats: std::sync::Arc<GroupStats>,
    /// Losses of the connection, watched by writes waiting for their acknowledgement.
    connection: Connection,
    /// What is known of the stream's health (see `supervise.rs`).
    supervision: std::sync::Arc<supervise::Supervision>,
    /// The largest event body an append may carry (see [`LogConfig::max_event_bytes`]).
    max_event_bytes: usize,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("prefix", &self.prefix).field("version", &self.version).finish_non_exhaustive()
    }
}

impl Log {
    /// Connects, refuses a server older than 2.10, and creates the stream or checks that the existing one is
    /// immutable. Fails with a message naming what is wrong.
    pub async fn connect(config: &LogConfig) -> Result<Self, LogError> {
        let connection = Connection::default();
        let (url, credentials) = config.connect_options().await?;
        let client = connection
            .options(credentials)
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(10)))
            .name("coalition-ledger")
            .connect(url.as_str())
            .await
            .map_err(|e| LogError::Unavailable(format!("cannot connect to NATS at {url}: {e}")))?;
        let version = ServerVersion::check(&client.server_info().version)?;
        let server_max = client.server_info().max_payload;
        let max_event_bytes = config.max_event_bytes.min(server_max.saturating_sub(HEADER_ROOM));
        if max_event_bytes < config.max_event_bytes {
            tracing::warn!(
                configured = config.max_event_bytes,
                server_max_payload = server_max,
                max_event_bytes,
                "the largest event is capped below the server's max_payload"
            );
        }
        let js = jetstream::new(client.clone());
        let (stream, atomic_batches) = stream::ensure(&js, config, version).await?;
        let mut log = Self {
            client,
            js,
            stream,
            prefix: config.subject_prefix.clone(),
            version,
            atomic_batches,
            committer: None,
            group_stats: Default::default(),
            connection,
            supervision: supervise::Supervision::new(config.known_position),
            max_event_bytes,
        };
        // The range is checked before anything is served: a log that lost history the ledger has seen is refused.
        log.check_stream().await?;
        let group_commit = config.group_commit && atomic_batches;
        if group_commit {
            log.committer = Some(group::spawn(log.clone()));
        }
        tracing::info!(server = %version, stream = %config.stream, atomic_batches, group_commit, "connected to the log");
        Ok(log)
    }

    /// The largest encoded event an append may carry.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    pub fn server_version(&self) -> ServerVersion {
        self.version
    }

    /// Whether multi-event appends can be written atomically (nats-server >= 2.12 with `allow_atomic`).
    pub fn atomic_batches(&self) -> bool {
        self.atomic_batches
    }

    /// What group commit did so far (shared by every clone of this log).
    /// The connection's losses and reconnections, for metrics.
    pub fn connection_stats(&self) -> &ConnectionStats {
        &self.connection.stats
    }

    pub fn group_stats(&self) -> &GroupStats {
        &self.group_stats
    }

    pub fn stream_name(&self) -> &str {
        &self.stream.cached_info().config.name
    }

    pub fn subject_prefix(&self) -> &str {
        &self.prefix
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The subject an aggregate's events are written to.
    pub fn subject(&self, aggregate: &Aggregate) -> String {
        format!("{}.{}", self.prefix, aggregate.subject_suffix())
    }

    /// The position of the last message in the log (0 if empty).
    pub async fn end(&self) -> Result<u64, LogError> {
        let info = self.stream.get_info().await.map_err(|e| LogError::Unavailable(format!("stream info: {e}")))?;
        self.saw(info.state.last_sequence);
        Ok(info.state.last_sequence)
    }
}

/// A plain NATS client with these credentials (for tools that manage streams: `ledger bench`, tests). The log's
/// own connection is [`Log::connect`].
pub async fn connect_client(url: &str, credentials: &NatsCredentials) -> Result<async_nats::Client, LogError> {
    let config = LogConfig { credentials: credentials.clone(), ..LogConfig::new(url) };
    let (url, options) = config.connect_options().await?;
    options
        .connect(url.as_str())
        .await
        .map_err(|e| LogError::Unavailable(format!("cannot connect to NATS at {url}: {e}")))
}

/// Hides the secrets of a connection string, for logs: the password of `scheme://user:password@host` (kept:
/// `scheme://user:***@host`), a credential standing alone before `@` (a NATS token: `nats://***@host`; a Postgres
/// URL's user name stays), a `password=` (or `sslpassword=`) query parameter, and the value of `password` in a
/// key=value string (Postgres), quoted or not (`password='a b'`, `password = 'it\'s'`). The one redactor of the
/// workspace.
pub fn redact(url: &str) -> String {
    if let Some(scheme) = url.find("://") {
        let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
        let base = match base.rfind('@').filter(|at| *at > scheme) {
            Some(at) => {
                let credentials = &base[scheme + 3..at];
                let kept = match credentials.split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    // Postgres: a user name alone; anything else (NATS): a token.
                    None if url.starts_with("postgres") => credentials.to_owned(),
                    None => "***".to_owned(),
                };
                format!("{}{kept}{}", &base[..scheme + 3], &base[at..])
            }
            None => base.to_owned(),
        };
        let Some(query) = query else { return base };
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if is_password_key(k) => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        return format!("{base}?{}", query.join("&"));
    }
    redact_key_values(url)
}

fn is_password_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

/// A key=value string with every password's value, quoted or bare, replaced; the rest kept as written.
fn redact_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        // Whitespace between pairs, then a key, `=` with optional blanks around it, then the value.
        let blank = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..blank]);
        rest = &rest[blank..];
        let key_len = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = &rest[..key_len];
        let after_key = &rest[key_len..];
        let eq = after_key.trim_start();
        let Some(after_eq) = eq.strip_prefix('=') else {
            out.push_str(key);
            rest = after_key;
            continue;
        };
        let value = after_eq.trim_start();
        let value_len = value_len(value);
        out.push_str(&rest[..rest.len() - value.len()]);
        out.push_str(if is_password_key(key) { "***" } else { &value[..value_len] });
        rest = &value[value_len..];
    }
    out
}

/// Length of the value at the start of `text`: a quoted value to its closing quote (`\'` and `\\` escaped), a
/// bare one to the next whitespace.
fn value_len(text: &str) -> usize {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, '\'')) => {
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => return i + 1,
                    _ => {}
                }
            }
            text.len()
        }
        _ => {
            let mut escaped = false;
            for (i, c) in text.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    c if c.is_whitespace() => return i,
                    _ => {}
                }
            }
            text.len()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_are_redacted() {
        assert_eq!(super::redact("nats://u:secret@h:4222"), "nats://u:***@h:4222");
        assert_eq!(super::redact("nats://s3cr3t-token@h:4222"), "nats://***@h:4222");
        assert_eq!(super::redact("nats://h:4222"), "nats://h:4222");
        assert_eq!(super::redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("host=h user=u password=pw dbname=d"), "host=h user=u password=*** dbname=d");
        assert_eq!(super::redact("host=h password='a b' dbname=d"), "host=h password=*** dbname=d");
        assert_eq!(super::redact("password = 'it\\'s \\\\ x'  user=u"), "password = ***  user=u");
        assert_eq!(super::redact("PASSWORD=a\\ b host=h"), "PASSWORD=*** host=h");
        assert_eq!(
            super::redact("host=h sslpassword='k k' password='unterminated"),
            "host=h sslpassword=*** password=***"
        );
        assert_eq!(
            super::redact("postgres://u@h/db?password=pw&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(super::redact("postgres://u:p@ss@h/db?options=a@b"), "postgres://u:***@h/db?options=a@b");
        for (text, secret) in [("host=h password='s3 cr' x", "s3 cr"), ("password='s3\\'cr' host=h", "cr")] {
            assert!(!super::redact(text).contains(secret), "{}", super::redact(text));
        }
    }
}
