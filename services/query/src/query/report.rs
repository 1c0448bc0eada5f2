//! Running one report of the catalogue (`ledger_readmodel::reports`) for a caller (scoped to the caller's coalitions) in a snapshot; turning rows into wire values.
use ledger_domain::access::{ReadScope, authorize_read};
use ledger_readmodel::Report;
use time::Date;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tonic::{Request, Status};

use super::QueryService;
use super::as_of::Answered;
use super::filter::{Filter, Param, parse_as_of};
use ledger_proto::v1;

/// A page of rows and the offset of the next page (0 if none).
pub(crate) struct Page<T> {
    pub(crate) rows: Vec<T>,
    pub(crate) next_offset: u64,
    /// The date of a report with an `on` condition (`Report::on`): the request's `as_of`, or the answer's today.
    pub(crate) on: Option<Date>,
}

pub(crate) const DATE: fn(&Row, usize) -> String =
    |r, i| r.get::<_, Option<Date>>(i).map_or_else(String::new, |d| d.to_string());
pub(crate) const TEXT: fn(&Row, usize) -> String = |r, i| r.get::<_, Option<String>>(i).unwrap_or_default();
pub(crate) const F64: fn(&Row, usize) -> f64 = |r, i| r.get::<_, Option<f64>>(i).unwrap_or(0.0);

pub(crate) fn month(r: &Row, i: usize) -> String {
    r.get::<_, Date>(i).to_string()[..7].to_owned()
}

pub(crate) fn quarter(r: &Row, i: usize) -> String {
    let d: Date = r.get(i);
    format!("{}-Q{}", d.year(), (u8::from(d.month()) - 1) / 3 + 1)
}

impl QueryService {
    /// Runs `report` with the request's filters and page, in a snapshot at or after the wanted position, or as of
    /// the point the request names.
    pub(crate) async fn report<T: Send>(
        &self,
        report: &Report,
        request: &Request<v1::ReportRequest>,
        map: impl Fn(&Row) -> T + Send + Sync,
    ) -> Result<(Page<T>, Answered), Status> {
        let scope = read_scope(request)?;
        let req = request.get_ref();
        let filter = Filter::parse(req)?;
        let mut params: Vec<Param> = Vec::new();
        let mut conds = filter.conditions(report, &scope, &mut params)?;
        // A malformed `as_of` is refused before an as-of build is made for the request.
        if report.on.is_some() {
            parse_as_of(&req.as_of, time::OffsetDateTime::now_utc().date())?;
        }
        let source = self.source(request, report).await?;
        let on_day = match report.on {
            Some(on) => {
                let day = parse_as_of(&req.as_of, source.today())?.0;
                params.push(Box::new(day));
                conds = format!("{conds} AND ({})", on.replace("$on", &format!("${}", params.len())));
                Some(day)
            }
            None => None,
        };
        let sql = format!(
            "SELECT {} FROM {} WHERE {conds} ORDER BY {} LIMIT {} OFFSET {}",
            report.select,
            source.view(report),
            report.order,
            filter.limit + 1,
            filter.offset
        );
        self.answer(&source, report.read_model, req.consistency.as_ref(), async |tx| {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            let rows = tx.query(&sql, &refs).await?;
            let more = rows.len() as i64 > filter.limit;
            let next_offset = if more { (filter.offset + filter.limit) as u64 } else { 0 };
            Ok(Page { rows: rows.iter().take(filter.limit as usize).map(&map).collect(), next_offset, on: on_day })
        })
        .await
        .map_err(Status::from)
    }
}

/// The rows the caller may read (`PERMISSION_DENIED` naming the missing grant if none).
pub(crate) fn read_scope<T>(request: &Request<T>) -> Result<ReadScope, Status> {
    let principal = ledger_auth::principal(request)?;
    authorize_read(&principal).map_err(|d| ledger_auth::deny(&principal, d))
}
