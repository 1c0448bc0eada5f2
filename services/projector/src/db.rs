//! A projection's schema in Postgres: its name per build, installing it with its bookkeeping row, refreshing its
//! views. (The bookkeeping row's other uses are in `ledger-readmodel`.)
use tokio_postgres::Client;

use crate::{Projection, ProjectorError};

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
    tx.batch_execute(&P::views_sql(&schema, "reporting")).await?;
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
    tx.batch_execute(&P::views_sql(&schema, "reporting")).await?;
    tx.commit().await?;
    Ok(())
}
