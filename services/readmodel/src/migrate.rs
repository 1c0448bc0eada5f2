//! Versioned SQL migrations from `migrations/`, applied in order, each once, under an advisory lock.
use thiserror::Error;
use tokio_postgres::Client;

/// (version, name, sql), in order. New migrations are appended; applied ones are never edited.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "ledger", include_str!("../../../migrations/0001_ledger.sql")),
    (2, "reporting_role", include_str!("../../../migrations/0002_reporting_role.sql")),
    (3, "projection_state_and_targets", include_str!("../../../migrations/0003_projection_state_and_targets.sql")),
    (4, "least_privilege", include_str!("../../../migrations/0004_least_privilege.sql")),
    (5, "audit", include_str!("../../../migrations/0005_audit.sql")),
    (6, "as_of_builds", include_str!("../../../migrations/0006_as_of_builds.sql")),
];

#[derive(Debug, Error)]
pub enum MigrationError {
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("migration {version} {name}: {source}")]
    Failed { version: i32, name: &'static str, source: tokio_postgres::Error },
}

/// Applies the migrations not yet applied. Safe to run twice and from several processes at once.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, MigrationError> {
    let tx = client.transaction().await?;
    // Serialise concurrent migrators; released at commit.
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('coalition-ledger.migrate'))", &[]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS public.ledger_schema_migrations (
             version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let done: Vec<i32> =
        tx.query("SELECT version FROM public.ledger_schema_migrations", &[]).await?.iter().map(|r| r.get(0)).collect();
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        if done.contains(&version) {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|source| MigrationError::Failed { version, name, source })?;
        tx.execute("INSERT INTO public.ledger_schema_migrations (version, name) VALUES ($1, $2)", &[&version, &name])
            .await?;
        tracing::info!(version, name, "applied migration");
        applied.push(version);
    }
    tx.commit().await?;
    Ok(applied)
}

/// The migrations this ledger has and the database lacks (all of them for a database never migrated). Roles that
/// do not migrate (the projector and the query role on their own logins) check this at start.
pub async fn pending_migrations(client: &Client) -> Result<Vec<i32>, tokio_postgres::Error> {
    let applied: Vec<i32> = match client.query("SELECT version FROM public.ledger_schema_migrations", &[]).await {
        Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(MIGRATIONS.iter().map(|m| m.0).filter(|v| !applied.contains(v)).collect())
}
