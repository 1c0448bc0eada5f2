//! The outcomes read model: what pledges achieved per year, indicator, pillar, country and coalition, with the
//! women's share of the people reached. Reports carry cumulative figures, so a year's outcome is the latest report
//! of the year minus the latest of the year before, per initiative; corrections replace their report's figures.
//! People and women are shown to date (not per year): yearly differences of two cumulative figures could make a
//! share above 100%.
use ledger_domain::EventKind;
use ledger_proto::RecordedEvent;
use ledger_readmodel::ReadModel;
use tokio_postgres::Transaction;

use crate::Projection;
use crate::sql::{Pipeline, column_comments, params};

#[derive(Debug, Clone, Copy, Default)]
pub struct Outcomes;

impl Projection for Outcomes {
    const READ_MODEL: ReadModel = ReadModel::Outcomes;

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.organisations (organisation_id text PRIMARY KEY, country text NOT NULL);
             CREATE TABLE {s}.pledges (
                 pledge_id text PRIMARY KEY, organisation_id text NOT NULL, coalition_id text NOT NULL);
             CREATE TABLE {s}.initiatives (
                 pledge_id text NOT NULL, initiative_id text NOT NULL, pillar text NOT NULL,
                 PRIMARY KEY (pledge_id, initiative_id));
             CREATE TABLE {s}.reports (
                 pledge_id text NOT NULL, report_id text NOT NULL, initiative_id text NOT NULL, period_end date NOT NULL,
                 position bigint NOT NULL, people bigint NOT NULL, women bigint NOT NULL,
                 PRIMARY KEY (pledge_id, report_id));
             CREATE TABLE {s}.report_values (
                 pledge_id text NOT NULL, report_id text NOT NULL, indicator text NOT NULL, cumulative bigint NOT NULL,
                 PRIMARY KEY (pledge_id, report_id, indicator));"
        )
    }

    fn views_sql(s: &str, v: &str) -> String {
        let columns = column_comments(
            &format!("{v}.outcomes_yearly"),
            &[
                ("year", "Calendar year of the reports' period end"),
                ("pillar", "Pillar of the initiatives: all, labour_force, ict_professionals or education"),
                ("country", "The pledging organisation's country"),
                ("coalition_id", "Coalition the pledges were made in"),
                ("indicator", "Commission indicator, e.g. certifications"),
                (
                    "amount",
                    "Increase of the cumulative figure over the year (latest report of the year minus latest before)",
                ),
                (
                    "people",
                    "People reached to date by the group's initiatives that reported in the year, as of their latest report of the year (same on each indicator row of the group)",
                ),
                ("women", "Women among those people"),
                ("women_share", "100 * women / people, rounded to 0.1; NULL when no people were reported"),
            ],
        );
        format!(
            "CREATE OR REPLACE VIEW {v}.outcomes_yearly AS
             WITH latest AS (
                 SELECT DISTINCT ON (r.pledge_id, r.initiative_id, v.indicator, extract(year FROM r.period_end))
                        r.pledge_id, r.initiative_id, v.indicator, extract(year FROM r.period_end)::int AS year,
                        v.cumulative
                 FROM {s}.reports r JOIN {s}.report_values v USING (pledge_id, report_id)
                 ORDER BY r.pledge_id, r.initiative_id, v.indicator, extract(year FROM r.period_end),
                          r.period_end DESC, r.position DESC),
             amounts AS (
                 SELECT pledge_id, initiative_id, indicator, year,
                        cumulative - coalesce(lag(cumulative) OVER w, 0) AS amount
                 FROM latest WINDOW w AS (PARTITION BY pledge_id, initiative_id, indicator ORDER BY year)),
             latest_people AS (
                 SELECT DISTINCT ON (pledge_id, initiative_id, extract(year FROM period_end))
                        pledge_id, initiative_id, extract(year FROM period_end)::int AS year, people, women
                 FROM {s}.reports
                 ORDER BY pledge_id, initiative_id, extract(year FROM period_end), period_end DESC, position DESC),
             keyed AS (
                 SELECT i.pledge_id, i.initiative_id, i.pillar, o.country, p.coalition_id
                 FROM {s}.initiatives i JOIN {s}.pledges p USING (pledge_id)
                 JOIN {s}.organisations o ON o.organisation_id = p.organisation_id),
             people_by_group AS (
                 SELECT q.year, k.pillar, k.country, k.coalition_id, least(sum(q.people), 9223372036854775807)::bigint AS people,
                        least(sum(q.women), 9223372036854775807)::bigint AS women
                 FROM latest_people q JOIN keyed k USING (pledge_id, initiative_id)
                 GROUP BY q.year, k.pillar, k.country, k.coalition_id)
             SELECT a.year, k.pillar, k.country, k.coalition_id, a.indicator, least(sum(a.amount), 9223372036854775807)::bigint AS amount,
                    coalesce(g.people, 0) AS people, coalesce(g.women, 0) AS women,
                    CASE WHEN g.people > 0 THEN round(100.0 * g.women / g.people, 1) END AS women_share
             FROM amounts a JOIN keyed k USING (pledge_id, initiative_id)
             LEFT JOIN people_by_group g
                 ON g.year = a.year AND g.pillar = k.pillar AND g.country = k.country AND g.coalition_id = k.coalition_id
             GROUP BY a.year, k.pillar, k.country, k.coalition_id, a.indicator, g.people, g.women;
             COMMENT ON VIEW {v}.outcomes_yearly IS
                 'Pledge outcomes per year, pillar, country, coalition and indicator, with the women''s share of people reached';
             {columns}"
        )
    }

    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        let organisation =
            tx.prepare(&format!("INSERT INTO {s}.organisations VALUES ($1, $2) ON CONFLICT DO NOTHING")).await?;
        let pledge = tx.prepare(&format!("INSERT INTO {s}.pledges VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")).await?;
        let initiative =
            tx.prepare(&format!("INSERT INTO {s}.initiatives VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")).await?;
        let report = tx
            .prepare(&format!("INSERT INTO {s}.reports VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"))
            .await?;
        let value = tx
            .prepare(&format!(
                "INSERT INTO {s}.report_values VALUES ($1, $2, $3, $4)
                 ON CONFLICT (pledge_id, report_id, indicator) DO UPDATE SET cumulative = EXCLUDED.cumulative"
            ))
            .await?;
        let corrected = tx
            .prepare(&format!("UPDATE {s}.reports SET people = $3, women = $4 WHERE pledge_id = $1 AND report_id = $2"))
            .await?;
        let mut p = Pipeline::new(tx);
        for r in events {
            let id = r.aggregate.id().to_owned();
            match &r.event.kind {
                EventKind::OrganisationRegistered(e) => {
                    p.push(&organisation, params![id, e.country.as_str().to_owned()]);
                }
                EventKind::PledgeSubmitted(e) => {
                    p.push(&pledge, params![id, e.organisation_id.to_string(), e.coalition_id.to_string()]);
                }
                EventKind::InitiativeAdded(e) => {
                    p.push(&initiative, params![id, e.initiative_id.to_string(), e.pillar.name()]);
                }
                EventKind::ProgressReported(e) => {
                    let position = i64::try_from(r.position).unwrap_or(i64::MAX);
                    let report_id = e.report_id.to_string();
                    p.push(
                        &report,
                        params![
                            id.clone(),
                            report_id.clone(),
                            e.initiative_id.to_string(),
                            e.period_end,
                            position,
                            e.progress.people,
                            e.progress.women
                        ],
                    );
                    for (indicator, n) in &e.progress.cumulative {
                        p.push(&value, params![id.clone(), report_id.clone(), indicator.name(), *n]);
                    }
                }
                EventKind::ProgressCorrected(e) => {
                    let report_id = e.report_id.to_string();
                    p.push(&corrected, params![id.clone(), report_id.clone(), e.progress.people, e.progress.women]);
                    for (indicator, n) in &e.progress.cumulative {
                        p.push(&value, params![id.clone(), report_id.clone(), indicator.name(), *n]);
                    }
                }
                _ => {}
            }
        }
        p.run().await
    }
}
