//! Where each projection stands: its row in `ledger.projections` (schema, version, position, state, last error)
//! and its quarantine count, read and written only through these functions; and the lock readers take on a read
//! model's views so that a rebuild's switch is seen whole or not at all.
use std::time::Duration;

use time::OffsetDateTime;
use tokio_postgres::{Client, GenericClient, Transaction};

use crate::{Postgres, ReadModel};

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

/// Every installed projection's position, state and quarantine count, by name.
pub async fn status(client: &impl GenericClient) -> Result<Vec<ProjectionStatus>, tokio_postgres::Error> {
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
pub async fn position(client: &impl GenericClient, model: ReadModel) -> Result<u64, tokio_postgres::Error> {
    let row = client.query_opt("SELECT position FROM ledger.projections WHERE name = $1", &[&model.name()]).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

/// The highest checkpoint of any projection (0 if none): the log held at least this many events.
pub async fn highest_position(client: &impl GenericClient) -> Result<u64, tokio_postgres::Error> {
    let row = client.query_one("SELECT coalesce(max(position), 0) FROM ledger.projections", &[]).await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Records what the projector is doing (`starting`, `rebuilding`, `live`, `failed`, `stopped`) and its last error.
pub async fn state(
    client: &impl GenericClient,
    model: ReadModel,
    state: &str,
    error: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE ledger.projections SET state = $2, last_error = $3 WHERE name = $1",
            &[&model.name(), &state, &error],
        )
        .await?;
    Ok(())
}

/// [`state`] on a connection of its own, best effort: used after a failure, when the projector's own connection
/// may be gone. If Postgres is unreachable the state cannot be written, and the log says why.
pub async fn set_state(database: &Postgres, model: ReadModel, value: &str, error: Option<&str>) {
    let result = match database.connect().await {
        Ok(client) => state(&client, model, value, error).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::debug!(projection = model.name(), state = value, error = %e, "could not record the projection state");
    }
}

/// In one round trip: whether the read model is installed, and which of its views exist now (qualified, in
/// creation order: a new version's added view appears only at its switch).
pub async fn installed_views(client: &Client, model: ReadModel) -> Result<(bool, Vec<String>), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM ledger.projections WHERE name = $1),
                    ARRAY(SELECT v FROM unnest($2::text[]) WITH ORDINALITY u(v, n)
                          WHERE to_regclass(v) IS NOT NULL ORDER BY n)",
            &[&model.name(), &model.qualified_views()],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Locks `views` (as [`installed_views`] returned them) for reading until `tx` ends, waiting at most `timeout`.
/// Taken before the snapshot's first query, it puts a rebuild's switch wholly before the snapshot or after it.
pub async fn lock_views(
    tx: &Transaction<'_>,
    views: &[String],
    timeout: Duration,
) -> Result<(), tokio_postgres::Error> {
    if views.is_empty() {
        return Ok(());
    }
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '{}ms'; LOCK TABLE {} IN ACCESS SHARE MODE",
        timeout.as_millis(),
        views.join(", ")
    ))
    .await
}
