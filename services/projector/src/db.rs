//! Postgres connections and the projections' bookkeeping rows.
use time::OffsetDateTime;
use tokio_postgres::{Client, GenericClient, NoTls};

use crate::{Projection, ProjectorError};

/// Connects to Postgres. The connection's driver task logs when it ends (it ends when the client is dropped).
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        match connection.await {
            Ok(()) => tracing::trace!("postgres connection closed"),
            Err(e) => tracing::warn!(error = %e, "postgres connection ended with an error"),
        }
    });
    Ok(client)
}

/// The schema name of a build of projection `P`: `proj_<name>_v<version>` plus a suffix for rebuilds.
pub(crate) fn schema_name<P: Projection>(suffix: Option<u128>) -> String {
    match suffix {
        None => format!("proj_{}_v{}", P::NAME, P::VERSION),
        Some(n) => format!("proj_{}_v{}_r{n}", P::NAME, P::VERSION),
    }
}

/// Creates the projection's schema, tables, views and bookkeeping row if it has none yet. Returns the row's
/// version (which may be older than `P::VERSION`: then the caller rebuilds).
pub(crate) async fn install<P: Projection>(client: &mut Client) -> Result<i32, ProjectorError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('coalition-ledger.install.' || $1))", &[&P::NAME]).await?;
    if let Some(row) = tx.query_opt("SELECT version FROM ledger.projections WHERE name = $1", &[&P::NAME]).await? {
        return Ok(row.get(0));
    }
    let schema = schema_name::<P>(None);
    tx.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};")).await?;
    tx.batch_execute(&P::create_sql(&schema)).await?;
    tx.batch_execute(&P::views_sql(&schema)).await?;
    tx.execute(
        "INSERT INTO ledger.projections (name, version, schema_name, position) VALUES ($1, $2, $3, 0)",
        &[&P::NAME, &P::VERSION, &schema],
    )
    .await?;
    tx.commit().await?;
    tracing::info!(projection = P::NAME, %schema, "installed projection");
    Ok(P::VERSION)
}

/// Re-creates the projection's `reporting` views over the schema now serving it, so that views added or extended
/// (new columns at the end) without a version change appear on the next start.
pub(crate) async fn refresh_views<P: Projection>(client: &mut Client) -> Result<(), ProjectorError> {
    let tx = client.transaction().await?;
    let schema: String = tx
        .query_one("SELECT schema_name FROM ledger.projections WHERE name = $1 FOR UPDATE", &[&P::NAME])
        .await?
        .get(0);
    tx.batch_execute(&P::views_sql(&schema)).await?;
    tx.commit().await?;
    Ok(())
}

/// Records what the projector is doing (`starting`, `rebuilding`, `live`, `failed`, `stopped`).
pub(crate) async fn state(
    client: &impl GenericClient,
    name: &str,
    state: &str,
    error: Option<&str>,
) -> Result<(), ProjectorError> {
    client
        .execute("UPDATE ledger.projections SET state = $2, last_error = $3 WHERE name = $1", &[&name, &state, &error])
        .await?;
    Ok(())
}

/// `state` on a connection of its own, best effort: used after a failure, when the projector's own connection may
/// be gone. If Postgres is unreachable the state cannot be written, and the log says why.
pub(crate) async fn set_state(url: &str, name: &str, value: &str, error: Option<&str>) {
    let result = match connect(url).await {
        Ok(client) => state(&client, name, value, error).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = result {
        tracing::debug!(projection = name, state = value, error = %e, "could not record the projection state");
    }
}

/// Where a projection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub name: String,
    pub version: i32,
    pub position: u64,
    pub quarantined: u64,
    pub updated_at: OffsetDateTime,
    pub state: String,
    pub last_error: Option<String>,
}

/// Every projection's position and quarantine count.
pub async fn status(client: &impl GenericClient) -> Result<Vec<ProjectionStatus>, ProjectorError> {
    let rows = client
        .query(
            "SELECT p.name, p.version, p.position, p.updated_at,
                    (SELECT count(*) FROM ledger.quarantine q WHERE q.projection = p.name), p.state, p.last_error
             FROM ledger.projections p ORDER BY p.name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ProjectionStatus {
            name: r.get(0),
            version: r.get(1),
            position: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
            updated_at: r.get(3),
            quarantined: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
            state: r.get(5),
            last_error: r.get(6),
        })
        .collect())
}

/// Position of one projection (0 if it is not installed).
pub async fn position(client: &impl GenericClient, name: &str) -> Result<u64, ProjectorError> {
    let row = client.query_opt("SELECT position FROM ledger.projections WHERE name = $1", &[&name]).await?;
    Ok(row.map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)).unwrap_or(0))
}
