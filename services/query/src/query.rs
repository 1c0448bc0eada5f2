//! `coalition.ledger.v1.LedgerQuery`: every reporting read model through its `reporting` view, with filters and
//! pagination, and projection status. Every answer says which log position it reflects.
//!
//! Every call is authorised by `ledger_domain::access::authorize_read`: a reader of some coalitions gets only their
//! rows, whatever filter it sends (the server adds the condition); a filter naming another coalition, or a report
//! whose rows sum over every coalition, is `PERMISSION_DENIED` naming the missing grant. Auditors and platform
//! admins read everything. `UNAUTHENTICATED` comes from the auth layer before a call gets here.
//!
//! Status codes: `INVALID_ARGUMENT` (bad or unsupported filter, names the field), `DEADLINE_EXCEEDED` (the
//! projection did not reach `consistency.min_position` in time; the message gives where it is), `UNAVAILABLE`
//! (Postgres or NATS unreachable).
use std::time::Duration;

use ledger_domain::access::{ReadScope, authorize_read};
use ledger_domain::{CountryCode, Token};
use ledger_log::Log;
use ledger_proto::convert::{pillar_to_domain, timestamp_from_domain};
use ledger_proto::v1;
use ledger_proto::v1::ledger_query_server::LedgerQuery;
use thiserror::Error;
use time::Date;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Transaction};
use tonic::{Request, Response, Status};

use crate::Pool;

/// Longest a query waits for its `min_position`.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Wait used when `min_position` is set without `max_wait_ms`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);
const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("projection {projection} is at position {position}, not yet at {wanted}; retry or wait longer")]
    NotReached { projection: &'static str, position: u64, wanted: u64 },
    #[error("read models unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Denied(ledger_domain::access::Denied),
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message ("relation … does not exist") rather than the driver's "db error".
        Self::Unavailable(e.as_db_error().map_or_else(|| e.to_string(), |d| format!("postgres: {}", d.message())))
    }
}

impl From<QueryError> for Status {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid { .. } => Status::invalid_argument(e.to_string()),
            QueryError::NotReached { .. } => Status::deadline_exceeded(e.to_string()),
            QueryError::Unavailable(_) => Status::unavailable(e.to_string()),
            QueryError::Denied(d) => {
                // The principal was logged where the scope was decided.
                ledger_auth::metrics::count_denied(&d.missing);
                Status::permission_denied(d.to_string())
            }
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
            // A projection not installed yet (no projector has started) has no views to lock: it is at position 0.
            let (installed, views) = installed_views(client, name).await?;
            if !installed {
                if wanted == 0 {
                    return Err(QueryError::Unavailable(format!(
                        "projection {name} is not installed yet: no projector has started on this database"
                    )));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(QueryError::NotReached { projection: name, position: 0, wanted });
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(20));
                continue;
            }
            let tx = client
                .build_transaction()
                .read_only(true)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await?;
            // Lock the projection's views before the snapshot is taken (by the first query): a rebuild's switch
            // then happens wholly before this snapshot or waits until it ends, so the answer comes from one
            // complete build and the position read matches it.
            // Only the views that exist (a new version's added view appears at its switch), and no longer than
            // a query may wait.
            if !views.is_empty() {
                tx.batch_execute(&format!(
                    "SET LOCAL lock_timeout = '{}ms'; LOCK TABLE {} IN ACCESS SHARE MODE",
                    MAX_WAIT.as_millis(),
                    views.join(", ")
                ))
                .await?;
            }
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

type Param = Box<dyn ToSql + Sync + Send>;

/// A validated `ReportFilter` plus page.
#[derive(Debug, Default)]
struct Filter {
    coalition: Option<String>,
    country: Option<String>,
    pillar: Option<&'static str>,
    organisation: Option<String>,
    from: Option<Date>,
    to: Option<Date>,
    limit: i64,
    offset: i64,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::Invalid { field, reason: reason.into() }
}

/// "YYYY", "YYYY-MM" or "YYYY-MM-DD" as the first day it names.
fn parse_period(field: &'static str, s: &str) -> Result<Option<Date>, QueryError> {
    if s.is_empty() {
        return Ok(None);
    }
    let full = match s.len() {
        4 => format!("{s}-01-01"),
        7 => format!("{s}-01"),
        _ => s.to_owned(),
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(&full, format)
        .map(Some)
        .map_err(|_| invalid(field, format!("{s:?} is not YYYY, YYYY-MM or YYYY-MM-DD")))
}

impl Filter {
    fn parse(req: &v1::ReportRequest) -> Result<Self, QueryError> {
        let f = req.filter.clone().unwrap_or_default();
        let token = |field: &'static str, v: &str| -> Result<Option<String>, QueryError> {
            if v.is_empty() {
                return Ok(None);
            }
            Token::parse(field, v).map(|t| Some(t.to_string())).map_err(|e| invalid(field, e.to_string()))
        };
        let page = req.page.unwrap_or_default();
        if page.page_size > MAX_PAGE {
            return Err(invalid("page.page_size", format!("{} is more than {MAX_PAGE}", page.page_size)));
        }
        let from = parse_period("filter.from", &f.from)?;
        let to = parse_period("filter.to", &f.to)?;
        if let (Some(a), Some(b)) = (from, to)
            && a >= b
        {
            return Err(invalid("filter.to", format!("{b} is not after filter.from {a}")));
        }
        Ok(Self {
            coalition: token("filter.coalition_id", &f.coalition_id)?,
            organisation: token("filter.organisation_id", &f.organisation_id)?,
            country: match f.country.as_str() {
                "" => None,
                c => Some(
                    CountryCode::parse("filter.country", c)
                        .map_err(|e| invalid("filter.country", e.to_string()))?
                        .as_str()
                        .to_owned(),
                ),
            },
            pillar: match f.pillar {
                0 => None,
                p => Some(
                    pillar_to_domain("filter.pillar", p).map_err(|e| invalid("filter.pillar", e.to_string()))?.name(),
                ),
            },
            from,
            to,
            limit: i64::from(if page.page_size == 0 { DEFAULT_PAGE } else { page.page_size }),
            offset: i64::try_from(page.offset).map_err(|_| invalid("page.offset", "too large"))?,
        })
    }

    /// `WHERE` conditions for the filters set, on the view's columns; a filter the view lacks is refused. A reader
    /// restricted to some coalitions gets the condition on the view's coalition column whatever it asked.
    fn conditions(&self, report: &Report, scope: &ReadScope, params: &mut Vec<Param>) -> Result<String, QueryError> {
        let mut conds = vec!["true".to_owned()];
        if let ReadScope::Coalitions(mine) = scope
            && !report.context
        {
            let Some(column) = report.coalition else {
                scope.check_unrestricted(report.call).map_err(QueryError::Denied)?;
                return Ok(conds.join(" AND "));
            };
            let mine: Vec<String> = mine.iter().map(Token::to_string).collect();
            params.push(Box::new(mine));
            conds.push(format!("{column} = ANY(${})", params.len()));
        }
        let mut add = |field: &'static str, column: Option<&str>, value: Param, op: &str| -> Result<(), QueryError> {
            let column = column.ok_or_else(|| invalid(field, format!("not supported by {}", report.call)))?;
            params.push(value);
            let n = params.len();
            conds.push(match op {
                "any" => format!("${n} = ANY({column})"),
                op => format!("{column} {op} ${n}"),
            });
            Ok(())
        };
        if let Some(v) = &self.coalition {
            let t =
                Token::parse("filter.coalition_id", v).map_err(|e| invalid("filter.coalition_id", e.to_string()))?;
            scope.check_filter(&t).map_err(QueryError::Denied)?;
            add("filter.coalition_id", report.coalition, Box::new(v.clone()), "=")?;
        }
        if let Some(v) = &self.organisation {
            add("filter.organisation_id", report.organisation, Box::new(v.clone()), "=")?;
        }
        if let Some(v) = &self.country {
            add("filter.country", report.country, Box::new(v.clone()), "=")?;
        }
        if let Some(v) = self.pillar {
            let op = if report.pillar_is_array { "any" } else { "=" };
            add("filter.pillar", report.pillar, Box::new(v), op)?;
        }
        if let Some(v) = self.from {
            add("filter.from", report.period, Box::new(v), ">=")?;
        }
        if let Some(v) = self.to {
            add("filter.to", report.period, Box::new(v), "<")?;
        }
        Ok(conds.join(" AND "))
    }
}

/// One reporting call: its view, the columns it returns (in row order), and which view columns the filters use.
#[derive(Debug, Default)]
struct Report {
    call: &'static str,
    projection: &'static str,
    view: &'static str,
    select: &'static str,
    order: &'static str,
    coalition: Option<&'static str>,
    organisation: Option<&'static str>,
    country: Option<&'static str>,
    pillar: Option<&'static str>,
    pillar_is_array: bool,
    period: Option<&'static str>,
    /// Rows that belong to no coalition (context figures): every reader may read them.
    context: bool,
}

/// A page of rows and the offset of the next page (0 if none).
struct Page<T> {
    rows: Vec<T>,
    next_offset: u64,
}

const DATE: fn(&Row, usize) -> String = |r, i| r.get::<_, Option<Date>>(i).map_or_else(String::new, |d| d.to_string());
const TEXT: fn(&Row, usize) -> String = |r, i| r.get::<_, Option<String>>(i).unwrap_or_default();
const F64: fn(&Row, usize) -> f64 = |r, i| r.get::<_, Option<f64>>(i).unwrap_or(0.0);

fn month(r: &Row, i: usize) -> String {
    r.get::<_, Date>(i).to_string()[..7].to_owned()
}

fn quarter(r: &Row, i: usize) -> String {
    let d: Date = r.get(i);
    format!("{}-Q{}", d.year(), (u8::from(d.month()) - 1) / 3 + 1)
}

impl QueryService {
    /// Runs `report` with the request's filters and page, in a snapshot at or after the wanted position.
    async fn report<T: Send>(
        &self,
        report: Report,
        request: &Request<v1::ReportRequest>,
        map: impl Fn(&Row) -> T + Send + Sync,
    ) -> Result<(Page<T>, u64), Status> {
        let scope = read_scope(request)?;
        let req = request.get_ref();
        let filter = Filter::parse(req)?;
        let mut params: Vec<Param> = Vec::new();
        let conds = filter.conditions(&report, &scope, &mut params)?;
        let sql = format!(
            "SELECT {} FROM {} WHERE {conds} ORDER BY {} LIMIT {} OFFSET {}",
            report.select,
            report.view,
            report.order,
            filter.limit + 1,
            filter.offset
        );
        self.consistent(report.projection, req.consistency.as_ref(), async |tx| {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            let rows = tx.query(&sql, &refs).await?;
            let more = rows.len() as i64 > filter.limit;
            let next_offset = if more { (filter.offset + filter.limit) as u64 } else { 0 };
            Ok(Page { rows: rows.iter().take(filter.limit as usize).map(&map).collect(), next_offset })
        })
        .await
        .map_err(Status::from)
    }
}

/// The rows the caller may read (`PERMISSION_DENIED` naming the missing grant if none).
fn read_scope<T>(request: &Request<T>) -> Result<ReadScope, Status> {
    let principal = ledger_auth::principal(request)?;
    authorize_read(&principal).map_err(|d| ledger_auth::deny(&principal, d))
}

/// In one round trip: whether the projection is installed, and which of its views exist now (as
/// `reporting.<view>`, in the order the projection creates them).
async fn installed_views(client: &tokio_postgres::Client, name: &str) -> Result<(bool, Vec<String>), QueryError> {
    let wanted: Vec<String> = ledger_projector::views(name).iter().map(|v| format!("reporting.{v}")).collect();
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM ledger.projections WHERE name = $1),
                    ARRAY(SELECT v FROM unnest($2::text[]) WITH ORDINALITY u(v, n)
                          WHERE to_regclass(v) IS NOT NULL ORDER BY n)",
            &[&name, &wanted],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

async fn ledger_projector_position(tx: &Transaction<'_>, name: &str) -> Result<u64, QueryError> {
    let row = tx.query_opt("SELECT position FROM ledger.projections WHERE name = $1", &[&name]).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

#[tonic::async_trait]
impl LedgerQuery for QueryService {
    #[tracing::instrument(skip_all)]
    async fn coalition_growth(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::CoalitionGrowthResponse>, Status> {
        let report = Report {
            call: "CoalitionGrowth",
            projection: GROWTH,
            view: "reporting.coalition_growth_monthly",
            select: "coalition_id, month, joins, leaves, net, cumulative",
            order: "coalition_id, month",
            coalition: Some("coalition_id"),
            country: Some("country"),
            period: Some("month"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::MonthlyGrowth {
                coalition_id: r.get(0),
                month: month(r, 1),
                joins: r.get(2),
                leaves: r.get(3),
                net: r.get(4),
                cumulative: r.get(5),
            })
            .await?;
        Ok(Response::new(v1::CoalitionGrowthResponse { months: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn members_by_type(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::MembersByTypeResponse>, Status> {
        let report = Report {
            call: "MembersByType",
            projection: GROWTH,
            view: "reporting.coalition_growth_by_type",
            select: "coalition_id, month, organisation_type, size, joins, leaves, net",
            order: "coalition_id, month, organisation_type, size",
            coalition: Some("coalition_id"),
            country: Some("country"),
            period: Some("month"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::TypeGrowth {
                coalition_id: r.get(0),
                month: month(r, 1),
                organisation_type: r.get(2),
                size: r.get(3),
                joins: r.get(4),
                leaves: r.get(5),
                net: r.get(6),
            })
            .await?;
        Ok(Response::new(v1::MembersByTypeResponse { rows: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn current_members(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::CurrentMembersResponse>, Status> {
        let report = Report {
            call: "CurrentMembers",
            projection: GROWTH,
            view: "reporting.coalition_members_current",
            select: "coalition_id, name, country, members, kind, launched_on, website_url, connected_on, deactivated_on",
            order: "coalition_id",
            coalition: Some("coalition_id"),
            country: Some("country"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::CoalitionMembers {
                coalition_id: r.get(0),
                name: r.get(1),
                country: TEXT(r, 2),
                members: r.get(3),
                kind: r.get(4),
                launched_on: DATE(r, 5),
                website_url: TEXT(r, 6),
                connected_on: DATE(r, 7),
                deactivated_on: DATE(r, 8),
            })
            .await?;
        Ok(Response::new(v1::CurrentMembersResponse { coalitions: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn national_coalitions(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::NationalCoalitionsResponse>, Status> {
        let report = Report {
            call: "NationalCoalitions",
            projection: GROWTH,
            view: "reporting.national_coalitions_monthly",
            select: "month, national_coalitions, connected_sites",
            order: "month",
            period: Some("month"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::NationalMonth {
                month: month(r, 0),
                national_coalitions: r.get(1),
                connected_sites: r.get(2),
            })
            .await?;
        Ok(Response::new(v1::NationalCoalitionsResponse { months: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn pledge_pipeline(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::PledgePipelineResponse>, Status> {
        let report = Report {
            call: "PledgePipeline",
            projection: PLEDGES,
            view: "reporting.pledge_pipeline",
            select: "coalition_id, status, pledges",
            order: "coalition_id, status",
            coalition: Some("coalition_id"),
            country: Some("country"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::PipelineRow {
                coalition_id: r.get(0),
                status: r.get(1),
                pledges: r.get(2),
            })
            .await?;
        Ok(Response::new(v1::PledgePipelineResponse { rows: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn pledge_scoreboard(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::PledgeScoreboardResponse>, Status> {
        let report = Report {
            call: "PledgeScoreboard",
            projection: PLEDGES,
            view: "reporting.pledge_scoreboard",
            select: "pledge_id, organisation_id, coalition_id, title, status, indicator, target, achieved,
                     pct_attained::float8, last_report_on, corrections",
            order: "pledge_id, indicator",
            coalition: Some("coalition_id"),
            organisation: Some("organisation_id"),
            country: Some("country"),
            pillar: Some("pillars"),
            pillar_is_array: true,
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::ScoreboardRow {
                pledge_id: r.get(0),
                organisation_id: r.get(1),
                coalition_id: r.get(2),
                title: r.get(3),
                status: r.get(4),
                indicator: r.get(5),
                target: r.get(6),
                achieved: r.get(7),
                pct_attained: F64(r, 8),
                last_report_on: DATE(r, 9),
                corrections: r.get(10),
            })
            .await?;
        Ok(Response::new(v1::PledgeScoreboardResponse { rows: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn organisation_scoreboard(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::OrganisationScoreboardResponse>, Status> {
        let report = Report {
            call: "OrganisationScoreboard",
            projection: PLEDGES,
            view: "reporting.organisation_scoreboard",
            select: "organisation_id, name, indicator, pledges, target, achieved, pct_attained::float8,
                     last_report_on, corrections",
            order: "organisation_id, indicator",
            organisation: Some("organisation_id"),
            country: Some("country"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::OrganisationScoreRow {
                organisation_id: r.get(0),
                name: TEXT(r, 1),
                indicator: r.get(2),
                pledges: r.get(3),
                target: r.get(4),
                achieved: r.get(5),
                pct_attained: F64(r, 6),
                last_report_on: DATE(r, 7),
                corrections: r.get(8),
            })
            .await?;
        Ok(Response::new(v1::OrganisationScoreboardResponse {
            rows: page.rows,
            position,
            next_offset: page.next_offset,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn outcomes(&self, request: Request<v1::ReportRequest>) -> Result<Response<v1::OutcomesResponse>, Status> {
        let report = Report {
            call: "Outcomes",
            projection: OUTCOMES,
            view: "reporting.outcomes_yearly",
            select: "year, pillar, country, indicator, amount, people, women, women_share::float8, coalition_id",
            order: "year, pillar, country, coalition_id, indicator",
            coalition: Some("coalition_id"),
            country: Some("country"),
            pillar: Some("pillar"),
            period: Some("make_date(year, 1, 1)"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::OutcomeRow {
                year: r.get(0),
                pillar: r.get(1),
                country: r.get(2),
                indicator: r.get(3),
                amount: r.get(4),
                people: r.get(5),
                women: r.get(6),
                women_share: F64(r, 7),
                coalition_id: r.get(8),
            })
            .await?;
        Ok(Response::new(v1::OutcomesResponse { rows: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn participation(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ParticipationResponse>, Status> {
        let report = Report {
            call: "Participation",
            projection: PARTICIPATION,
            view: "reporting.participation_quarterly",
            select: "quarter, coalition_id, pillar, source, held, participants, completed, certified, women,
                     women_share::float8",
            order: "quarter, coalition_id, pillar, source",
            coalition: Some("coalition_id"),
            country: Some("country"),
            pillar: Some("pillar"),
            period: Some("quarter"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::ParticipationRow {
                quarter: quarter(r, 0),
                coalition_id: r.get(1),
                pillar: r.get(2),
                source: r.get(3),
                held: r.get(4),
                participants: r.get(5),
                completed: r.get(6),
                certified: r.get(7),
                women: r.get(8),
                women_share: F64(r, 9),
            })
            .await?;
        Ok(Response::new(v1::ParticipationResponse { rows: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn content_shared(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ContentSharedResponse>, Status> {
        let report = Report {
            call: "ContentShared",
            projection: PARTICIPATION,
            view: "reporting.content_shared_quarterly",
            select: "coalition_id, quarter, content_type, shared, withdrawn",
            order: "coalition_id, quarter, content_type",
            coalition: Some("coalition_id"),
            country: Some("country"),
            period: Some("quarter"),
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::ContentRow {
                coalition_id: r.get(0),
                quarter: quarter(r, 1),
                content_type: r.get(2),
                shared: r.get(3),
                withdrawn: r.get(4),
            })
            .await?;
        Ok(Response::new(v1::ContentSharedResponse { rows: page.rows, position, next_offset: page.next_offset }))
    }

    #[tracing::instrument(skip_all)]
    async fn dormant_members(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::DormantMembersResponse>, Status> {
        let scope = read_scope(&request)?;
        let req = request.get_ref();
        let as_of = match parse_period("as_of", &req.as_of)? {
            Some(d) if req.as_of.len() == 10 => d,
            Some(_) => return Err(invalid("as_of", "expected YYYY-MM-DD").into()),
            None => time::OffsetDateTime::now_utc().date(),
        };
        let year_before = as_of.replace_year(as_of.year() - 1).unwrap_or_else(|_| as_of - time::Duration::days(365));
        let filter = Filter::parse(req)?;
        let report = Report {
            call: "DormantMembers",
            coalition: Some("m.coalition_id"),
            country: Some("m.country"),
            ..Report::default()
        };
        let mut params: Vec<Param> = vec![Box::new(as_of), Box::new(year_before)];
        let conds = filter.conditions(&report, &scope, &mut params)?;
        // Members since at least a year with nothing recorded in the year up to `as_of`.
        let dormant = format!(
            "FROM reporting.member_engagement m
             WHERE m.joined_on <= $2 AND NOT EXISTS (
                 SELECT 1 FROM reporting.organisation_engagement_days d
                 WHERE d.organisation_id = m.organisation_id AND d.coalition_id = m.coalition_id
                   AND d.engaged_on > $2 AND d.engaged_on <= $1)
               AND {conds}"
        );
        let (limit, offset) = (filter.limit, filter.offset);
        let ((rows, total), position) = self
            .consistent(ENGAGEMENT, req.consistency.as_ref(), async |tx| {
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
                let total: i64 = tx.query_one(&format!("SELECT count(*) {dormant}"), &refs).await?.get(0);
                let rows = tx
                    .query(
                        &format!(
                            "SELECT m.coalition_id, m.organisation_id, m.name, m.country, m.joined_on,
                                    (SELECT max(d.engaged_on) FROM reporting.organisation_engagement_days d
                                     WHERE d.organisation_id = m.organisation_id AND d.coalition_id = m.coalition_id
                                       AND d.engaged_on <= $1)
                             {dormant} ORDER BY m.coalition_id, m.organisation_id LIMIT {limit} OFFSET {offset}"
                        ),
                        &refs,
                    )
                    .await?;
                let rows = rows
                    .iter()
                    .map(|r| v1::DormantRow {
                        coalition_id: r.get(0),
                        organisation_id: r.get(1),
                        name: TEXT(r, 2),
                        country: TEXT(r, 3),
                        joined_on: DATE(r, 4),
                        last_engaged_on: DATE(r, 5),
                    })
                    .collect::<Vec<_>>();
                Ok((rows, total))
            })
            .await?;
        let total = u64::try_from(total).unwrap_or(0);
        let next_offset = if (offset + limit) as u64 >= total { 0 } else { (offset + limit) as u64 };
        Ok(Response::new(v1::DormantMembersResponse { rows, position, next_offset, total, as_of: as_of.to_string() }))
    }

    #[tracing::instrument(skip_all)]
    async fn digital_decade_targets(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::DigitalDecadeTargetsResponse>, Status> {
        let report = Report {
            call: "DigitalDecadeTargets",
            projection: GROWTH,
            view: "reporting.digital_decade_targets",
            select: "code, description, unit, target_value::float8, target_year, latest_value::float8, latest_year,
                     earlier_value::float8, earlier_year",
            order: "code",
            context: true,
            ..Report::default()
        };
        let (page, position) = self
            .report(report, &request, |r| v1::TargetRow {
                code: r.get(0),
                description: r.get(1),
                unit: r.get(2),
                target_value: F64(r, 3),
                target_year: r.get(4),
                latest_value: F64(r, 5),
                latest_year: r.get(6),
                earlier_value: F64(r, 7),
                earlier_year: r.get::<_, Option<i32>>(8).unwrap_or(0),
            })
            .await?;
        Ok(Response::new(v1::DigitalDecadeTargetsResponse {
            targets: page.rows,
            position,
            next_offset: page.next_offset,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn projection_status(
        &self,
        request: Request<v1::ProjectionStatusRequest>,
    ) -> Result<Response<v1::ProjectionStatusResponse>, Status> {
        // Positions and states of the read models: for anyone who may read one.
        read_scope(&request)?;
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
                version: p.version,
                state: p.state,
                last_error: p.last_error.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(v1::ProjectionStatusResponse { projections, log_end }))
    }
}

const GROWTH: &str = "coalition_growth";
const PLEDGES: &str = "pledges";
const OUTCOMES: &str = "outcomes";
const PARTICIPATION: &str = "participation";
const ENGAGEMENT: &str = "engagement";
