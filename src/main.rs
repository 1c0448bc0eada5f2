//! `ledger`: one binary, one subcommand per role (or all roles in one process), plus operations commands.
use anyhow::Context;
use clap::{Parser, Subcommand};
use coalition_ledger::config::Settings;
use coalition_ledger::startup::{Application, DRAIN_TIMEOUT, Roles, migrate, prepare_database, shutdown_on_signals};
use coalition_ledger::telemetry;
use ledger_workload::{bench, demo};

#[derive(Parser)]
#[command(name = "ledger", version, about = "Coalition Ledger: an event-sourced activity ledger")]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process: append API, projector, query API, and the notary if --notary-key is given.
    All,
    /// Run the append gRPC API (the only writer of the log).
    AppendApi,
    /// Run the query and replay gRPC API.
    QueryApi,
    /// Run the projectors (the only writers of the read models).
    Projector,
    /// Run the notary: the log's Merkle tree and its signed checkpoints (needs --notary-key).
    Notary,
    /// Apply database migrations as the owner (--database-url); also done at start by roles that use Postgres,
    /// unless they connect as roles of their own. Safe to run twice.
    Migrate,
    /// Rebuild the read models from the log into a new schema and switch to it.
    Rebuild,
    /// Append a small real history through the append API and print the resulting report.
    Demo(demo::DemoArgs),
    /// Measure append throughput/latency and rebuild speed on a stream of its own.
    Bench(bench::BenchArgs),
    /// Keys and tokens for authentication.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// The log's stream and the NATS users of the ledger's roles.
    #[command(subcommand)]
    Nats(NatsCommand),
    /// The Postgres roles of the ledger's roles.
    #[command(subcommand)]
    Db(DbCommand),
    /// Verifiable history: the notary's keys, verifying the log against its signed checkpoints, exporting it.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write a new Ed25519 notary key: DIR/notary.key (the signer key, owner-only; give it to the notary with
    /// --notary-key) and DIR/notary.vkey (the verifier key, for auditors). NAME is the log's origin, e.g.
    /// `ledger.example.org/coalitions`: no spaces and no `+`.
    Keygen {
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Verify the log with the notary's verifier key, through the public API only (or an export file): every
    /// checkpoint's signature, every event from position 1 hashed and its envelope decoded, every checkpoint's root
    /// recomputed, and the latest checkpoint proved consistent with the one trusted before (kept in a state file).
    /// On failure, prints the first position that differs and why, and exits with 1.
    Verify {
        /// The notary's verifier key (`notary.vkey` from `ledger audit keygen`).
        #[arg(long)]
        vkey: std::path::PathBuf,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Verify an export file (`ledger audit export`) instead, offline.
        #[arg(long, conflicts_with = "replay_url")]
        from_export: Option<std::path::PathBuf>,
        /// The state file: the last checkpoint trusted (default:
        /// `$XDG_STATE_HOME/coalition-ledger/<origin>.checkpoint`, or under ~/.local/state).
        #[arg(long)]
        state: Option<std::path::PathBuf>,
        /// Neither read nor write a state file.
        #[arg(long, conflicts_with = "state")]
        no_state: bool,
    },
    /// Write the log up to its latest checkpoint to a portable file (the checkpoints and every stored envelope,
    /// `proto/coalition/ledger/v1/export.proto`) that `ledger audit verify --from-export` checks offline.
    Export {
        #[command(flatten)]
        remote: RemoteArgs,
        /// The file to write (written as FILE.partial, renamed when complete).
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

/// How `ledger audit` reaches a ledger: its query API, as an auditor.
#[derive(clap::Args)]
struct RemoteArgs {
    /// The query API, e.g. `http://ledger.example.org:50052` or `https://…`.
    #[arg(long, env = "LEDGER_REPLAY_URL")]
    replay_url: Option<String>,
    /// A file holding an auditor's or platform admin's token (`ledger auth token --role auditor`).
    #[arg(long, env = "LEDGER_AUDIT_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
    /// A PEM CA certificate to verify an https server with (default: the system's roots).
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Also check the replay's decoded view of each event (id, type, aggregate, principal) against its stored
    /// envelope; slower to serve. Without it the replay sends the stored bytes only.
    #[arg(long)]
    check_view: bool,
}

impl RemoteArgs {
    fn config(&self) -> anyhow::Result<ledger_verifier::remote::RemoteConfig> {
        let url = self.replay_url.clone().context("--replay-url (or --from-export) is needed")?;
        let token = match &self.token_file {
            Some(path) => Some(coalition_ledger::config::read_secret_file(path, "auditor's token")?),
            None => None,
        };
        let ca_pem = match &self.ca {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading --ca {}", p.display()))?),
            None => None,
        };
        Ok(ledger_verifier::remote::RemoteConfig {
            url,
            token,
            ca_pem,
            identity_pem: None,
            check_view: self.check_view,
        })
    }
}

/// Progress on stderr, at most every two seconds.
fn progress(what: &'static str) -> impl FnMut(u64, u64) {
    let started = std::time::Instant::now();
    let mut last = started;
    move |done, total| {
        if last.elapsed() < std::time::Duration::from_secs(2) && done < total {
            return;
        }
        last = std::time::Instant::now();
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let percent = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
        eprintln!("{what}: {done} of {total} events ({percent:.0}%), {rate:.0} events/s");
    }
}

async fn audit_verify(
    vkey: &std::path::Path,
    remote: &RemoteArgs,
    from_export: Option<&std::path::Path>,
    state: Option<std::path::PathBuf>,
    no_state: bool,
) -> anyhow::Result<()> {
    use ledger_verifier::{export::ExportFile, remote::Remote, state as trusted};
    let text = std::fs::read_to_string(vkey).with_context(|| format!("reading --vkey {}", vkey.display()))?;
    let verifier = ledger_audit::Verifier::parse(text.trim()).map_err(|e| anyhow::anyhow!("--vkey: {e}"))?;
    let state = match (no_state, state) {
        (true, _) => None,
        (false, Some(path)) => Some(path),
        (false, None) => {
            Some(trusted::default_path(verifier.name()).context("no HOME to keep the state file in: give --state")?)
        }
    };
    let before = match &state {
        Some(path) => trusted::load(path, &verifier)?,
        None => None,
    };
    if let (Some(path), Some(c)) = (&state, &before) {
        println!("trusted before: the checkpoint of size {} (from {})", c.size, path.display());
    }
    let mut report = progress("verify");
    let outcome = match from_export {
        Some(path) => {
            let mut file = ExportFile::open(path)?;
            ledger_verifier::verify(&mut file, &verifier, before.as_ref(), &mut report).await
        }
        None => {
            let config = remote.config()?;
            let mut source = Remote::connect(&config).await?;
            ledger_verifier::verify(&mut source, &verifier, before.as_ref(), &mut report).await
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(failure) => {
            if let Some(p) = failure.position() {
                println!("FAILED at position {p}");
            }
            anyhow::bail!("verification failed: {failure}");
        }
    };
    let secs = outcome.elapsed.as_secs_f64();
    println!(
        "verified: {} events, position 1 to {}, root {} as signed by {} (checkpoint of size {}); {} checkpoints' roots recomputed; {:.2}s, {:.0} events/s",
        outcome.leaves,
        outcome.leaves,
        ledger_audit::merkle::hex(&outcome.checkpoint.root),
        verifier.name(),
        outcome.checkpoint.size,
        outcome.checkpoints_checked,
        secs,
        outcome.leaves as f64 / secs.max(1e-9),
    );
    if let Some(size) = outcome.consistent_with {
        println!("consistent with the checkpoint of size {size} trusted before");
    }
    if !outcome.undecodable.is_empty() {
        println!(
            "warning: {} positions hold an envelope that does not decode (hashed like the others): {:?}",
            outcome.undecodable.len(),
            outcome.undecodable
        );
    }
    if let Some(path) = state {
        trusted::save(&path, &outcome.note)?;
        println!(
            "trusted from now on: the checkpoint of size {} (saved to {})",
            outcome.checkpoint.size,
            path.display()
        );
    }
    Ok(())
}

async fn audit_command(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { vkey, remote, from_export, state, no_state } => {
            return audit_verify(&vkey, &remote, from_export.as_deref(), state, no_state).await;
        }
        AuditCommand::Export { remote, out } => {
            let mut source = ledger_verifier::remote::Remote::connect(&remote.config()?).await?;
            let summary = ledger_verifier::export::write(&mut source, &out, &mut progress("export")).await?;
            println!(
                "exported {} events and {} checkpoints of {} ({} bytes) to {}",
                summary.size,
                summary.checkpoints,
                summary.origin,
                summary.bytes,
                out.display()
            );
        }
        AuditCommand::Keygen { name, out } => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for the key: {e}"))?;
            let signer = ledger_audit::Signer::from_seed(&name, seed).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let key = out.join("notary.key");
            anyhow::ensure!(!key.exists(), "{} exists: a notary key is never overwritten", key.display());
            write_owner_only(&key, &format!("{}\n", signer.to_skey()))?;
            let vkey = out.join("notary.vkey");
            std::fs::write(&vkey, format!("{}\n", signer.verifier().to_vkey()))
                .with_context(|| format!("writing {}", vkey.display()))?;
            println!("signer key:   {} (keep it secret; only the notary reads it)", key.display());
            println!("verifier key: {} (give it to auditors)", vkey.display());
            println!("{}", signer.verifier().to_vkey());
        }
    }
    Ok(())
}

/// Writes `text` to a new file that only its owner may read.
fn write_owner_only(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create or update, as a Postgres administrator, the login roles `ledger_owner` (migrations),
    /// `ledger_projector` (read models) and `ledger_query` (reporting views, status), and the database of
    /// --database-url (created if missing, owned by ledger_owner) with its grants; hands objects a superuser created
    /// before to their roles. Passwords: --database-password-file, --projector-database-password-file,
    /// --query-database-password-file or their LEDGER_*_PASSWORD variables, sent as SCRAM-SHA-256 verifiers; a role
    /// given none keeps its password. Idempotent; then run `ledger migrate` as the owner.
    SetupRoles {
        /// The administrator's connection (a superuser), e.g.
        /// `postgres://postgres@db/postgres`; its password from --admin-password-file or
        /// LEDGER_ADMIN_DATABASE_PASSWORD.
        #[arg(long, env = "LEDGER_ADMIN_DATABASE_URL")]
        admin_url: String,
        /// File holding the administrator's password.
        #[arg(long, env = "LEDGER_ADMIN_DATABASE_PASSWORD_FILE")]
        admin_password_file: Option<std::path::PathBuf>,
    },
}

async fn db_command(settings: &Settings, command: DbCommand) -> anyhow::Result<()> {
    use ledger_readmodel::{OWNER_ROLE, PROJECTOR_ROLE, QUERY_ROLE};
    let DbCommand::SetupRoles { admin_url, admin_password_file } = command;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut admin = ledger_readmodel::Postgres::parse_with_ca(&admin_url, settings.postgres.database_ca.as_deref())
        .with_context(|| format!("--admin-url {}", ledger_log::redact(&admin_url)))?;
    let admin_password = match (&admin_password_file, env("LEDGER_ADMIN_DATABASE_PASSWORD")) {
        (Some(_), Some(_)) => anyhow::bail!(
            "the administrator's password is given both as a file and in LEDGER_ADMIN_DATABASE_PASSWORD: give it once"
        ),
        (Some(path), None) => Some(coalition_ledger::config::read_secret_file(path, "administrator's password")?),
        (None, v) => v,
    };
    if let Some(password) = admin_password {
        admin = admin.with_password(&password);
    }
    let databases = settings.databases()?;
    for (database, role, flag) in [
        (&databases.owner, OWNER_ROLE, "--database-url"),
        (&databases.projector, PROJECTOR_ROLE, "--projector-database-url"),
        (&databases.query, QUERY_ROLE, "--query-database-url"),
    ] {
        if database.user() != Some(role) {
            tracing::warn!(%database, "{flag} does not connect as {role}: give each role its own URL");
        }
    }
    let passwords = settings.postgres.passwords_from(env)?;
    let report = ledger_readmodel::setup_roles(&admin, &databases.owner, &passwords)
        .await
        .with_context(|| format!("setting up the roles as {admin}"))?;
    let name = databases.owner.dbname().unwrap_or_default();
    if report.created_database {
        println!("created database {name}, owned by {OWNER_ROLE}");
    }
    for role in [OWNER_ROLE, PROJECTOR_ROLE, QUERY_ROLE] {
        let password = if report.passwords_set.contains(&role) { "password set" } else { "password unchanged" };
        println!("role {role}: ready ({password})");
    }
    println!("database {name}: grants set; next, as the owner: ledger migrate");
    Ok(())
}

#[derive(Subcommand)]
enum NatsCommand {
    /// Create the log's stream, run with the NATS operator's credentials (the roles' users may not). Refused if the
    /// read models' database (--database-url, when it can be reached) has checkpoints: the stream held events and
    /// is restored, not created empty. An existing stream is only checked.
    CreateStream,
    /// Print the nats-server `authorization` block of the ledger's users for this stream and subject prefix: the
    /// operator, `append` (append API), `reader` (projector, query API) and `ledger` (`ledger all`). Passwords are
    /// `$LEDGER_NATS_<USER>_PASSWORD` variables, read by nats-server from its environment.
    Authorization,
}

async fn nats_command(settings: &Settings, command: NatsCommand) -> anyhow::Result<()> {
    use ledger_log::{NatsRole, NatsUser};
    match command {
        NatsCommand::CreateStream => {
            let mut config = settings.log_config()?;
            config.create_missing = true;
            match coalition_ledger::startup::highest_checkpoint(&settings.databases()?.projector).await {
                Ok(position) => config.known_position = position,
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "the read models' database cannot be read: creating the stream without checking its checkpoints"
                ),
            }
            let log = ledger_log::Log::connect(&config).await.context("creating or checking the stream")?;
            log.ensure_checkpoint_stream(true).await.context("creating or checking the checkpoint stream")?;
            println!(
                "streams {} and {} are ready: the log's last position is {}",
                log.stream_name(),
                ledger_log::checkpoint_stream(log.stream_name()),
                log.end().await?
            );
        }
        NatsCommand::Authorization => {
            let users = [
                ("operator", NatsRole::Operator),
                ("append", NatsRole::Append),
                ("reader", NatsRole::Read),
                ("notary", NatsRole::Notary),
                ("ledger", NatsRole::AllRoles),
            ]
            .map(|(name, role)| NatsUser {
                name: name.into(),
                password: format!("$LEDGER_NATS_{}_PASSWORD", name.to_uppercase()),
                role,
            });
            print!("{}", ledger_log::authorization(&settings.stream, &settings.subject_prefix, &users));
        }
    }
    Ok(())
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Write a new Ed25519 key pair: DIR/NAME.pem (private, owner-only) and its public key added to
    /// DIR/public-keys.json (the file for --auth-public-keys; keys already in it stay, for rotation).
    Keygen {
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value = "signing")]
        name: String,
    },
    /// Print a signed token for a principal with one role.
    Token {
        /// The private key (from `ledger auth keygen`).
        #[arg(long)]
        key: std::path::PathBuf,
        /// The principal, recorded with every event it appends.
        #[arg(long)]
        subject: String,
        /// writer, coalition-admin, reader (per coalition), platform-admin or auditor (every coalition).
        #[arg(long)]
        role: String,
        /// A coalition the role is granted for (repeat for several; `*` for all).
        #[arg(long = "coalition")]
        coalitions: Vec<String>,
        /// How long the token is valid: 90s, 15m, 12h, 30d (at most 366d).
        #[arg(long, default_value = "12h")]
        ttl: String,
    },
    /// Remove a key from a public key file (after rotating to a new one); servers reload the file by themselves.
    RemoveKey {
        #[arg(long)]
        keys: std::path::PathBuf,
        #[arg(long)]
        kid: String,
    },
}

fn auth_command(settings: &Settings, command: AuthCommand) -> anyhow::Result<()> {
    use ledger_auth::{keys, token};
    match command {
        AuthCommand::Keygen { out, name } => {
            anyhow::ensure!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "--name {name:?}: letters, digits, - and _"
            );
            let g = keys::generate(&out, &name)?;
            println!("private key: {} (keep it secret; it signs tokens)", g.private_key.display());
            println!("public keys: {} (give it to the servers: --auth-public-keys)", g.public_keys.display());
            println!("key id:      {}", g.kid);
        }
        AuthCommand::Token { key, subject, role, coalitions, ttl } => {
            let key = keys::SigningKey::read(&key)?;
            let ttl = token::parse_ttl(&ttl).map_err(|e| anyhow::anyhow!("--ttl {e}"))?;
            let grants = vec![token::GrantClaim { role, coalitions }];
            let t = token::mint(&key, &settings.auth.auth_issuer, &settings.auth.auth_audience, &subject, grants, ttl)
                .map_err(anyhow::Error::msg)?;
            println!("{t}");
        }
        AuthCommand::RemoveKey { keys: file, kid } => {
            anyhow::ensure!(keys::remove(&file, &kid)?, "{}: no key {kid:?}", file.display());
            println!("removed key {kid} from {}", file.display());
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let roles = match cli.command {
        Command::All => Roles::ALL,
        Command::AppendApi => Roles { append: true, query: false, projector: false, notary: false },
        Command::QueryApi => Roles { append: false, query: true, projector: false, notary: false },
        Command::Projector => Roles { append: false, query: false, projector: true, notary: false },
        Command::Notary => Roles::NOTARY,
        Command::Migrate => {
            let applied = migrate(&cli.settings.databases()?.owner).await?;
            println!("migrations applied: {applied:?} (already applied ones are skipped)");
            return Ok(());
        }
        Command::Rebuild => {
            cli.settings.validate()?;
            // Rebuilds are the projector's work: they run as its role.
            let databases = cli.settings.databases()?;
            prepare_database(&databases, Roles { append: false, query: false, projector: true, notary: false }).await?;
            let mut log_config = cli.settings.log_config()?;
            log_config.known_position = coalition_ledger::startup::highest_checkpoint(&databases.projector).await?;
            let log = ledger_log::Log::connect(&log_config).await.context("opening the log")?;
            let mut client = databases
                .projector
                .connect()
                .await
                .with_context(|| format!("connecting to Postgres at {}", databases.projector))?;
            for r in ledger_projector::rebuild_all(&log, &mut client).await? {
                let secs = r.elapsed.as_secs_f64();
                println!(
                    "rebuilt {} from {} events in {secs:.2}s ({:.0} events/s) into {}, now at position {}",
                    r.projection,
                    r.events,
                    r.events as f64 / secs.max(1e-9),
                    r.schema,
                    r.position
                );
                match r.differing_rows {
                    Some(0) => println!("  identical to the live read model at the same position"),
                    Some(n) => {
                        anyhow::bail!("{}: the rebuilt read model differs from the live one in {n} rows", r.projection)
                    }
                    None => println!("  the live read model was behind the log or of another version; not compared"),
                }
            }
            return Ok(());
        }
        Command::Demo(args) => return demo::run(args).await,
        Command::Bench(args) => return bench::run(cli.settings.bench_config()?, args).await,
        Command::Auth(command) => return auth_command(&cli.settings, command),
        Command::Nats(command) => return nats_command(&cli.settings, command).await,
        Command::Audit(command) => return audit_command(command).await,
        Command::Db(command) => return db_command(&cli.settings, command).await,
    };
    // Signals are caught from the start: SIGHUP (key reload) must not end a process that is still starting.
    let shutdown = shutdown_on_signals();
    let app = Application::build(cli.settings, roles).await?;
    let stop = shutdown.clone();
    tokio::select! {
        r = app.run(shutdown) => r,
        _ = async { stop.cancelled().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
            anyhow::bail!("in-flight work did not finish within {DRAIN_TIMEOUT:?} after the shutdown signal")
        }
    }
}
