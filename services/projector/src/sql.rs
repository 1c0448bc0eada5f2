//! Helpers shared by the projections: statements sent back to back on one connection (pipelined).
use std::future::Future;
use std::pin::Pin;

use ledger_domain::EventKind;
use ledger_proto::RecordedEvent;
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

/// An `organisations (organisation_id, name, country)` table kept by several projections: registrations and
/// renames, pipelined in log order.
pub(crate) struct Organisations {
    registered: Statement,
    renamed: Statement,
}

impl Organisations {
    pub(crate) async fn prepare(tx: &Transaction<'_>, s: &str) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            registered: tx
                .prepare(&format!(
                    "INSERT INTO {s}.organisations VALUES ($1, $2, $3)
                     ON CONFLICT (organisation_id) DO UPDATE SET name = EXCLUDED.name"
                ))
                .await?,
            renamed: tx.prepare(&format!("UPDATE {s}.organisations SET name = $2 WHERE organisation_id = $1")).await?,
        })
    }

    /// Queues `r` if it registers or renames an organisation; returns whether it did.
    pub(crate) fn push(&self, p: &mut Pipeline<'_, '_>, r: &RecordedEvent) -> bool {
        let id = r.aggregate.id().to_owned();
        match &r.event.kind {
            EventKind::OrganisationRegistered(e) => {
                p.push(&self.registered, params![id, e.name.clone(), e.country.as_str().to_owned()]);
            }
            EventKind::OrganisationRenamed(e) => p.push(&self.renamed, params![id, e.name.clone()]),
            _ => return false,
        }
        true
    }
}
