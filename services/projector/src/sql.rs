//! Helpers shared by the projections: statements sent back to back on one connection (pipelined).
use std::future::Future;
use std::pin::Pin;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Statement, Transaction};

type Param = Box<dyn ToSql + Sync + Send>;

/// Statements queued in log order and sent without waiting for each reply. Postgres runs a connection's
/// statements in the order received, so the effect is the same as running them one by one, without a round trip
/// per statement.
pub(crate) struct Pipeline<'t, 'c> {
    tx: &'t Transaction<'c>,
    ops: Vec<(Statement, Vec<Param>)>,
}

impl<'t, 'c> Pipeline<'t, 'c> {
    pub(crate) fn new(tx: &'t Transaction<'c>) -> Self {
        Self { tx, ops: Vec::new() }
    }

    pub(crate) fn push(&mut self, statement: &Statement, params: Vec<Param>) {
        self.ops.push((statement.clone(), params));
    }

    /// Runs every queued statement; the first error is returned (and the caller's transaction is then unusable).
    pub(crate) async fn run(self) -> Result<(), tokio_postgres::Error> {
        let tx = self.tx;
        let futures = self.ops.iter().map(|(statement, params)| {
            Box::pin(async move {
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
                tx.execute(statement, &refs).await
            }) as Pin<Box<dyn Future<Output = _> + Send + '_>>
        });
        futures::future::try_join_all(futures).await?;
        Ok(())
    }
}

/// Boxes statement parameters: `params![a, b, c]`.
macro_rules! params {
    ($($p:expr),* $(,)?) => { vec![$(Box::new($p) as Box<dyn tokio_postgres::types::ToSql + Sync + Send>),*] };
}
pub(crate) use params;

/// `COMMENT ON COLUMN` statements for a view: one per (column, description).
pub(crate) fn column_comments(view: &str, columns: &[(&str, &str)]) -> String {
    columns.iter().map(|(c, d)| format!("COMMENT ON COLUMN {view}.{c} IS '{}';\n", d.replace('\'', "''"))).collect()
}
