//! The ledger's Postgres roles (`ledger db setup-roles`): created or updated by an administrator, idempotently and
//! safely from several processes at once, with passwords sent as SCRAM-SHA-256 verifiers computed here (no
//! plaintext password reaches the server or its logs); then the database's own grants and, for a database that a
//! superuser migrated before, the ownership of what exists. The grants on the bookkeeping and the `reporting`
//! schema are migration 0004's, applied by the owner; the query role's TEMPORARY on the database (its as-of
//! builds; revoked from PUBLIC here with the rest) is migration 0006's.
use std::time::Duration;

use thiserror::Error;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::database::safe_dbname;
use crate::{DatabaseError, Postgres};

/// Runs migrations and owns the bookkeeping (`ledger`, `reporting` schemas, `ledger_schema_migrations`).
pub const OWNER_ROLE: &str = "ledger_owner";
/// Writes the read models and checkpoints; owns the read models' schemas and their `reporting` views.
pub const PROJECTOR_ROLE: &str = "ledger_projector";
/// Reads the `reporting` views and what the status call needs.
pub const QUERY_ROLE: &str = "ledger_query";
/// BI tools' group role (no login; migration 0002): the `reporting` views only.
pub const REPORTING_ROLE: &str = "ledger_reporting";

/// Passwords of the login roles (`None`: keep the role's current password, or none for a new role).
#[derive(Default)]
pub struct RolePasswords {
    pub owner: Option<String>,
    pub projector: Option<String>,
    pub query: Option<String>,
}

impl std::fmt::Debug for RolePasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolePasswords")
            .field("owner", &self.owner.as_ref().map(|_| "***"))
            .field("projector", &self.projector.as_ref().map(|_| "***"))
            .field("query", &self.query.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum RolesError {
    #[error("connecting as the administrator")]
    Connect(#[source] tokio_postgres::Error),
    #[error("{step}")]
    Step {
        step: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// What [`setup_roles`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RolesReport {
    /// Login roles whose password was set.
    pub passwords_set: Vec<&'static str>,
    /// Whether the database was created.
    pub created_database: bool,
}

/// Creates or updates the ledger's roles (cluster-wide) and the grants and ownership in `database` (the owner's
/// connection; only its database name is used), connecting as `admin` (a superuser: it hands over objects others
/// own). Safe to run again and from several processes at once.
pub async fn setup_roles(
    admin: &Postgres,
    database: &Postgres,
    passwords: &RolePasswords,
) -> Result<RolesReport, RolesError> {
    let name = safe_dbname(database)?;
    let client = admin.connect().await.map_err(RolesError::Connect)?;
    let mut report = RolesReport::default();
    let logins = [
        (OWNER_ROLE, passwords.owner.as_deref()),
        (PROJECTOR_ROLE, passwords.projector.as_deref()),
        (QUERY_ROLE, passwords.query.as_deref()),
    ];
    for (role, password) in logins {
        retry("creating the login roles", || create_role(&client, role, true, password)).await?;
        if password.is_some() {
            report.passwords_set.push(role);
        }
    }
    retry("creating the reporting role", || create_role(&client, REPORTING_ROLE, false, None)).await?;
    // The owner may act as the projector: it sets the default privileges of the projector's views (migration
    // 0004) and hands them over when a database migrated by a superuser is put under these roles.
    let membership = format!(
        "DO $$ BEGIN
             IF NOT pg_has_role('{OWNER_ROLE}', '{PROJECTOR_ROLE}', 'MEMBER') THEN
                 GRANT {PROJECTOR_ROLE} TO {OWNER_ROLE};
             END IF;
         END $$"
    );
    retry("making the owner a member of the projector role", || client.batch_execute(&membership)).await?;

    let create = format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}");
    match client.batch_execute(&create).await {
        Ok(()) => report.created_database = true,
        Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => {}
        Err(source) => return Err(RolesError::Step { step: "creating the database", source }),
    }
    let database_grants = format!(
        "ALTER DATABASE {name} OWNER TO {OWNER_ROLE};
         REVOKE ALL ON DATABASE {name} FROM PUBLIC;
         GRANT CONNECT, CREATE ON DATABASE {name} TO {PROJECTOR_ROLE};
         GRANT CONNECT ON DATABASE {name} TO {QUERY_ROLE}, {REPORTING_ROLE};"
    );
    retry("granting the database", || client.batch_execute(&database_grants)).await?;
    drop(client);

    let target = admin.with_dbname(&name).connect().await.map_err(RolesError::Connect)?;
    retry("handing the existing objects to their roles", || target.batch_execute(OWNERSHIP)).await?;
    Ok(report)
}

/// Creates `role` if it does not exist (another process may create it meanwhile), then sets what it may do: no
/// superuser or other cluster-wide rights, a search path without schemas named after roles, and its password
/// as a SCRAM-SHA-256 verifier.
async fn create_role(
    client: &Client,
    role: &'static str,
    login: bool,
    password: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let login = if login { "LOGIN" } else { "NOLOGIN" };
    let mut sql = format!(
        "DO $$
         BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                 CREATE ROLE {role} {login};
             END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN
             NULL;
         END
         $$;
         ALTER ROLE {role} {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
         ALTER ROLE {role} SET search_path = pg_catalog, public;"
    );
    if let Some(password) = password {
        // Only characters of base64, digits, `$`, `:` and `-`: nothing to escape in a literal.
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        sql.push_str(&format!("ALTER ROLE {role} PASSWORD '{verifier}';"));
    }
    client.batch_execute(&sql).await
}

/// Runs `step` again (up to 20 times) when another process changed the same catalog rows at the same moment:
/// Postgres then answers "tuple concurrently updated" or a duplicate key.
async fn retry<F, Fut>(what: &'static str, mut step: F) -> Result<(), RolesError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), tokio_postgres::Error>>,
{
    let mut attempt = 0u32;
    loop {
        match step().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 20 && concurrent(&e) => {
                attempt += 1;
                tracing::debug!(step = what, error = %e, attempt, "concurrent change; retrying");
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
            }
            Err(source) => return Err(RolesError::Step { step: what, source }),
        }
    }
}

fn concurrent(e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else { return false };
    db.code() == &SqlState::UNIQUE_VIOLATION
        || db.code() == &SqlState::T_R_SERIALIZATION_FAILURE
        || db.code() == &SqlState::T_R_DEADLOCK_DETECTED
        || (db.code() == &SqlState::INTERNAL_ERROR && db.message().contains("concurrently"))
}

/// Ownership as the roles expect it, for objects created before (by a superuser): the bookkeeping to the owner,
/// the read models' schemas (with their tables) and their `reporting` views to the projector. Nothing to do on a
/// new database.
const OWNERSHIP: &str = r"
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT nspname FROM pg_namespace
             WHERE nspname IN ('ledger', 'reporting') AND nspowner <> 'ledger_owner'::regrole LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO ledger_owner', r.nspname);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v')
               AND ((n.nspname = 'ledger')
                    OR (n.nspname = 'public' AND c.relname = 'ledger_schema_migrations')
                    OR (n.nspname = 'reporting' AND c.relname = 'digital_decade_targets'))
               AND c.relowner <> 'ledger_owner'::regrole LOOP
        EXECUTE format(CASE WHEN r.relkind = 'v' THEN 'ALTER VIEW %s OWNER TO ledger_owner'
                            ELSE 'ALTER TABLE %s OWNER TO ledger_owner' END, r.rel);
    END LOOP;
    FOR r IN SELECT nspname FROM pg_namespace
             WHERE nspname LIKE 'proj\_%' AND nspowner <> 'ledger_projector'::regrole LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO ledger_projector', r.nspname);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v')
               AND (n.nspname LIKE 'proj\_%'
                    OR (n.nspname = 'reporting' AND c.relname <> 'digital_decade_targets'))
               AND c.relowner <> 'ledger_projector'::regrole LOOP
        EXECUTE format(CASE WHEN r.relkind = 'v' THEN 'ALTER VIEW %s OWNER TO ledger_projector'
                            ELSE 'ALTER TABLE %s OWNER TO ledger_projector' END, r.rel);
    END LOOP;
END
$$;
";
