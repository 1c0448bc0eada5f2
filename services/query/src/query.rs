//! `coalition.ledger.v1.LedgerQuery`: coalition growth and current members from the `reporting` views, and
//! projection status. Every answer says which log position it reflects.
//!
//! Status codes: `INVALID_ARGUMENT` (bad filter, names the field), `DEADLINE_EXCEEDED` (the projection did not
//! reach `consistency.min_position` in time; the message gives where it is), `UNAVAILABLE` (Postgres or NATS
//! unreachable).
use std::time::Duration;

use ledger_domain::Token;
use ledger_log::Log;
use ledger_proto::convert::timestamp_from_domain;
use ledger_proto::v1;
use ledger_proto::v1::ledger_query_server::LedgerQuery;
use thiserror::Error;
use tokio_postgres::Transaction;
use tonic::{Request, Response, Status};

use crate::Pool;

/// Longest a query waits for its `min_position`.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Wait used when `min_position` is set without `max_wait_ms`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);
const GROWTH: &str = "coalition_growth";
const PLEDGES: &str = "pledges";
const MAX_PAGE: u32 = 1000;

/// An optional id filter, validated (empty means no filter).
fn filter(field: &'static str, value: &str) -> Result<Option<String>, QueryError> {
    if value.is_empty() {
        return Ok(None);
    }
    Token::parse(field, value)
        .map(|t| Some(t.to_string()))
        .map_err(|e| QueryError::Invalid { field, reason: e.to_string() })
}

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("projection {projection} is at position {position}, not yet at {wanted}; retry or wait longer")]
    NotReached { projection: &'static str, position: u64, wanted: u64 },
    #[error("read models unavailable: {0}")]
    Unavailable(String),
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<QueryError> for Status {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid { .. } => Status::invalid_argument(e.to_string()),
            QueryError::NotReached { .. } => Status::deadline_exceeded(e.to_string()),
            QueryError::Unavailable(_) => Status::unavailable(e.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueryService {
    pool: Pool,
    log: Log,
}

impl QueryService {
    pub fn new(pool: Pool, log: Log) -> Self {
        Self { pool, log }
    }

    /// Runs `f` in a read-only snapshot once projection `name` has reached the wanted position; returns its
    /// result and the position the snapshot reflects.
    async fn consistent<T>(
        &self,
        name: &'static str,
        consistency: Option<&v1::Consistency>,
        f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, QueryError>,
    ) -> Result<(T, u64), QueryError> {
        let wanted = consistency.map_or(0, |c| c.min_position);
        let wait = match consistency.map_or(0, |c| c.max_wait_ms) {
            0 => DEFAULT_WAIT,
            ms => Duration::from_millis(ms.into()).min(MAX_WAIT),
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut conn = self.pool.get().await?;
        let client = conn.client();
        let mut pause = Duration::from_millis(1);
        loop {
            let tx = client
                .build_transaction()
                .read_only(true)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await?;
            let position = ledger_projector_position(&tx, name).await?;
            if position >= wanted {
                let out = f(&tx).await?;
                tx.commit().await?;
                return Ok((out, position));
            }
            tx.rollback().await?;
            if tokio::time::Instant::now() >= deadline {
                return Err(QueryError::NotReached { projection: name, position, wanted });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

async fn ledger_projector_position(tx: &Transaction<'_>, name: &str) -> Result<u64, QueryError> {
    let row = tx.query_opt("SELECT position FROM ledger.projections WHERE name = $1", &[&name]).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

fn month_label(d: time::Date) -> String {
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

#[tonic::async_trait]
impl LedgerQuery for QueryService {
    #[tracing::instrument(skip_all)]
    async fn coalition_growth(
        &self,
        request: Request<v1::CoalitionGrowthRequest>,
    ) -> Result<Response<v1::CoalitionGrowthResponse>, Status> {
        let req = request.into_inner();
        let coalition = filter("coalition_id", &req.coalition_id)?;
        let (months, position) = self
            .consistent(GROWTH, req.consistency.as_ref(), async |tx| {
                let rows = tx
                    .query(
                        "SELECT coalition_id, month, joins, leaves, net, cumulative
                         FROM reporting.coalition_growth_monthly
                         WHERE $1::text IS NULL OR coalition_id = $1 ORDER BY coalition_id, month",
                        &[&coalition],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| v1::MonthlyGrowth {
                        coalition_id: r.get(0),
                        month: month_label(r.get(1)),
                        joins: r.get(2),
                        leaves: r.get(3),
                        net: r.get(4),
                        cumulative: r.get(5),
                    })
                    .collect())
            })
            .await?;
        Ok(Response::new(v1::CoalitionGrowthResponse { months, position }))
    }

    #[tracing::instrument(skip_all)]
    async fn current_members(
        &self,
        request: Request<v1::CurrentMembersRequest>,
    ) -> Result<Response<v1::CurrentMembersResponse>, Status> {
        let req = request.into_inner();
        let (coalitions, position) = self
            .consistent(GROWTH, req.consistency.as_ref(), async |tx| {
                let rows = tx
                    .query(
                        "SELECT coalition_id, name, coalesce(country, ''), members
                         FROM reporting.coalition_members_current ORDER BY coalition_id",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| v1::CoalitionMembers {
                        coalition_id: r.get(0),
                        name: r.get(1),
                        country: r.get(2),
                        members: r.get(3),
                    })
                    .collect())
            })
            .await?;
        Ok(Response::new(v1::CurrentMembersResponse { coalitions, position }))
    }

    #[tracing::instrument(skip_all)]
    async fn pledge_pipeline(
        &self,
        request: Request<v1::PledgePipelineRequest>,
    ) -> Result<Response<v1::PledgePipelineResponse>, Status> {
        let req = request.into_inner();
        let coalition = filter("coalition_id", &req.coalition_id)?;
        let (rows, position) = self
            .consistent(PLEDGES, req.consistency.as_ref(), async |tx| {
                let rows = tx
                    .query(
                        "SELECT coalition_id, status, pledges FROM reporting.pledge_pipeline
                         WHERE $1::text IS NULL OR coalition_id = $1 ORDER BY coalition_id, status",
                        &[&coalition],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| v1::PipelineRow { coalition_id: r.get(0), status: r.get(1), pledges: r.get(2) })
                    .collect())
            })
            .await?;
        Ok(Response::new(v1::PledgePipelineResponse { rows, position }))
    }

    #[tracing::instrument(skip_all)]
    async fn pledge_scoreboard(
        &self,
        request: Request<v1::PledgeScoreboardRequest>,
    ) -> Result<Response<v1::PledgeScoreboardResponse>, Status> {
        let req = request.into_inner();
        let organisation = filter("organisation_id", &req.organisation_id)?;
        let coalition = filter("coalition_id", &req.coalition_id)?;
        if req.page_size > MAX_PAGE {
            return Err(QueryError::Invalid { field: "page_size", reason: format!("at most {MAX_PAGE}") }.into());
        }
        let size = i64::from(if req.page_size == 0 { 100 } else { req.page_size });
        let offset = i64::try_from(req.offset)
            .map_err(|_| QueryError::Invalid { field: "offset", reason: "too large".into() })?;
        let ((rows, more), position) = self
            .consistent(PLEDGES, req.consistency.as_ref(), async |tx| {
                let rows = tx
                    .query(
                        "SELECT pledge_id, organisation_id, coalition_id, title, status, indicator, target, achieved,
                                coalesce(pct_attained, 0)::float8, coalesce(to_char(last_report_on, 'YYYY-MM-DD'), ''),
                                corrections
                         FROM reporting.pledge_scoreboard
                         WHERE ($1::text IS NULL OR organisation_id = $1) AND ($2::text IS NULL OR coalition_id = $2)
                         ORDER BY pledge_id, indicator LIMIT $3 OFFSET $4",
                        &[&organisation, &coalition, &(size + 1), &offset],
                    )
                    .await?;
                let more = rows.len() as i64 > size;
                Ok((
                    rows.iter()
                        .take(size as usize)
                        .map(|r| v1::ScoreboardRow {
                            pledge_id: r.get(0),
                            organisation_id: r.get(1),
                            coalition_id: r.get(2),
                            title: r.get(3),
                            status: r.get(4),
                            indicator: r.get(5),
                            target: r.get(6),
                            achieved: r.get(7),
                            pct_attained: r.get(8),
                            last_report_on: r.get(9),
                            corrections: r.get(10),
                        })
                        .collect(),
                    more,
                ))
            })
            .await?;
        let next_offset = if more { req.offset + size as u64 } else { 0 };
        Ok(Response::new(v1::PledgeScoreboardResponse { rows, position, next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn projection_status(
        &self,
        _request: Request<v1::ProjectionStatusRequest>,
    ) -> Result<Response<v1::ProjectionStatusResponse>, Status> {
        let log_end = self.log.end().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let mut conn = self.pool.get().await.map_err(QueryError::from)?;
        let rows = ledger_projector::status(conn.client()).await.map_err(|e| Status::unavailable(e.to_string()))?;
        let projections = rows
            .into_iter()
            .map(|p| v1::ProjectionState {
                lag: log_end.saturating_sub(p.position),
                name: p.name,
                position: p.position,
                quarantined: p.quarantined,
                updated_at: Some(timestamp_from_domain(p.updated_at)),
            })
            .collect();
        Ok(Response::new(v1::ProjectionStatusResponse { projections, log_end }))
    }
}
