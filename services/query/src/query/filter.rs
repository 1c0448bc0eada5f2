//! A `ReportRequest`'s filters and page, validated once, and turned into SQL conditions on a report's columns
//! (the caller's coalitions added whatever it asked).
use ledger_domain::access::ReadScope;
use ledger_domain::{CountryCode, Token};
use ledger_proto::convert::pillar_to_domain;
use ledger_proto::v1;
use time::Date;
use tokio_postgres::types::ToSql;

use super::QueryError;
use super::error::invalid;
use ledger_readmodel::Report;

/// Most rows in one page.
pub const MAX_PAGE: u32 = 1000;
/// Rows in a page when the request gives no `page_size`.
pub const DEFAULT_PAGE: u32 = 100;

/// A SQL parameter of a report's conditions.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// A validated `ReportFilter` plus page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    pub coalition: Option<String>,
    pub country: Option<String>,
    pub pillar: Option<&'static str>,
    pub organisation: Option<String>,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub limit: i64,
    pub offset: i64,
}

/// "YYYY", "YYYY-MM" or "YYYY-MM-DD" as the first day it names.
pub fn parse_period(field: &'static str, s: &str) -> Result<Option<Date>, QueryError> {
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

/// DormantMembers' reference date (`as_of`, "YYYY-MM-DD", `today` if empty) and the day a year before it.
pub fn parse_as_of(as_of: &str, today: Date) -> Result<(Date, Date), QueryError> {
    let as_of = match parse_period("as_of", as_of)? {
        Some(d) if as_of.len() == 10 => d,
        Some(_) => return Err(invalid("as_of", "expected YYYY-MM-DD")),
        None => today,
    };
    let year_before = as_of.replace_year(as_of.year() - 1).unwrap_or_else(|_| as_of - time::Duration::days(365));
    Ok((as_of, year_before))
}

impl Filter {
    /// Validates the request's filter and page (`INVALID_ARGUMENT` naming the field at fault).
    pub fn parse(req: &v1::ReportRequest) -> Result<Self, QueryError> {
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
    pub fn conditions(
        &self,
        report: &Report,
        scope: &ReadScope,
        params: &mut Vec<Param>,
    ) -> Result<String, QueryError> {
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

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn as_of_is_a_day_or_today_and_the_day_a_year_before_it() {
        let today = date!(2026 - 12 - 02);
        assert_eq!(parse_as_of("", today).unwrap(), (today, date!(2025 - 12 - 02)));
        assert_eq!(parse_as_of("2024-03-01", today).unwrap(), (date!(2024 - 03 - 01), date!(2023 - 03 - 01)));
        // A leap day has no day a year before: 365 days before it.
        assert_eq!(parse_as_of("2024-02-29", today).unwrap(), (date!(2024 - 02 - 29), date!(2023 - 03 - 01)));
        for bad in ["2024", "2024-03", "2024-02-30", "yesterday"] {
            assert!(matches!(parse_as_of(bad, today), Err(QueryError::Invalid { field: "as_of", .. })), "{bad}");
        }
    }

    #[test]
    fn periods_are_the_first_day_they_name() {
        assert_eq!(parse_period("f", "2020").unwrap(), Some(date!(2020 - 01 - 01)));
        assert_eq!(parse_period("f", "2020-05").unwrap(), Some(date!(2020 - 05 - 01)));
        assert_eq!(parse_period("f", "2020-05-17").unwrap(), Some(date!(2020 - 05 - 17)));
        assert_eq!(parse_period("f", "").unwrap(), None);
        assert!(parse_period("f", "2020-13").is_err());
    }
}
