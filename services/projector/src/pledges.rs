//! The pledge read model: the pipeline by status and a scoreboard per pledge and indicator (target vs achieved,
//! last report, corrections applied), also summed per organisation. Late reports never move figures back: the
//! report covering the latest period wins; a correction replaces its report's figures.
use ledger_domain::EventKind;
use ledger_proto::RecordedEvent;
use ledger_readmodel::ReadModel;
use tokio_postgres::{Statement, Transaction};

use crate::Projection;
use crate::sql::{Organisations, Pipeline, column_comments, params};

#[derive(Debug, Clone, Copy, Default)]
pub struct Pledges;

impl Projection for Pledges {
    const READ_MODEL: ReadModel = ReadModel::Pledges;

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.organisations (
                 organisation_id text PRIMARY KEY, name text NOT NULL, country text NOT NULL);
             CREATE TABLE {s}.coalitions (coalition_id text PRIMARY KEY, country text);
             CREATE TABLE {s}.pledges (
                 pledge_id text PRIMARY KEY, organisation_id text NOT NULL, coalition_id text NOT NULL,
                 title text NOT NULL, status text NOT NULL, submitted_on date NOT NULL, approved_on date,
                 last_report_on date, corrections integer NOT NULL DEFAULT 0);
             CREATE TABLE {s}.targets (
                 pledge_id text NOT NULL, initiative_id text NOT NULL, indicator text NOT NULL, target bigint NOT NULL,
                 pillar text NOT NULL,
                 PRIMARY KEY (pledge_id, initiative_id, indicator));
             CREATE TABLE {s}.reports (
                 pledge_id text NOT NULL, report_id text NOT NULL, initiative_id text NOT NULL, period_end date NOT NULL,
                 PRIMARY KEY (pledge_id, report_id));
             CREATE TABLE {s}.progress (
                 pledge_id text NOT NULL, initiative_id text NOT NULL, indicator text NOT NULL,
                 achieved bigint NOT NULL, period_end date NOT NULL,
                 PRIMARY KEY (pledge_id, initiative_id, indicator));"
        )
    }

    fn views_sql(s: &str, v: &str) -> String {
        let pipeline = column_comments(
            &format!("{v}.pledge_pipeline"),
            &[
                ("coalition_id", "Coalition the pledge was made in"),
                ("status", "submitted, approved, completed or withdrawn"),
                ("pledges", "Number of pledges"),
                ("country", "The coalition's country (NULL for the EU coalition)"),
            ],
        );
        let scoreboard = column_comments(
            &format!("{v}.pledge_scoreboard"),
            &[
                ("pledge_id", "Pledge id"),
                ("organisation_id", "Pledging organisation"),
                ("coalition_id", "Coalition the pledge was made in"),
                ("title", "Pledge title"),
                ("status", "submitted, approved, completed or withdrawn"),
                ("indicator", "Commission indicator, e.g. trainings_online"),
                ("target", "Sum of the initiatives' current targets for the indicator"),
                ("achieved", "Sum of the initiatives' latest cumulative figures (after corrections)"),
                ("pct_attained", "100 * achieved / target, rounded to 0.1; NULL when the target is 0"),
                ("last_report_on", "Date the latest progress report was filed"),
                ("corrections", "Progress corrections applied to the pledge"),
                ("country", "The pledging organisation's country"),
                ("pillars", "Pillars of the initiatives with a target for the indicator"),
            ],
        );
        let by_org = column_comments(
            &format!("{v}.organisation_scoreboard"),
            &[
                ("organisation_id", "Organisation id"),
                ("name", "Organisation name"),
                ("country", "The organisation's country"),
                ("indicator", "Commission indicator"),
                ("pledges", "The organisation's pledges with a target for the indicator"),
                ("target", "Sum of targets"),
                ("achieved", "Sum of latest cumulative figures"),
                ("pct_attained", "100 * achieved / target, rounded to 0.1; NULL when the target is 0"),
                ("last_report_on", "Latest report filed on any of these pledges"),
                ("corrections", "Corrections applied to these pledges"),
            ],
        );
        format!(
            "CREATE OR REPLACE VIEW {v}.pledge_pipeline AS
                 SELECT p.coalition_id, p.status, count(*)::bigint AS pledges, c.country
                 FROM {s}.pledges p LEFT JOIN {s}.coalitions c USING (coalition_id)
                 GROUP BY p.coalition_id, p.status, c.country;
             COMMENT ON VIEW {v}.pledge_pipeline IS
                 'Pledges per coalition by status: submitted, approved, completed, withdrawn';
             {pipeline}
             CREATE OR REPLACE VIEW {v}.pledge_scoreboard AS
                 SELECT p.pledge_id, p.organisation_id, p.coalition_id, p.title, p.status, t.indicator,
                        least(sum(t.target), 9223372036854775807)::bigint AS target, least(coalesce(sum(g.achieved), 0), 9223372036854775807)::bigint AS achieved,
                        CASE WHEN sum(t.target) > 0
                             THEN round(100.0 * coalesce(sum(g.achieved), 0) / sum(t.target), 1) END AS pct_attained,
                        p.last_report_on, p.corrections, o.country,
                        array_agg(DISTINCT t.pillar ORDER BY t.pillar) AS pillars
                 FROM {s}.pledges p
                 JOIN {s}.targets t USING (pledge_id)
                 LEFT JOIN {s}.progress g USING (pledge_id, initiative_id, indicator)
                 LEFT JOIN {s}.organisations o ON o.organisation_id = p.organisation_id
                 GROUP BY p.pledge_id, p.organisation_id, p.coalition_id, p.title, p.status, t.indicator,
                          p.last_report_on, p.corrections, o.country;
             COMMENT ON VIEW {v}.pledge_scoreboard IS
                 'Per pledge and indicator: target vs achieved to date, % attained, last report date, corrections applied';
             {scoreboard}
             CREATE OR REPLACE VIEW {v}.organisation_scoreboard AS
                 SELECT b.organisation_id, o.name, o.country, b.indicator, count(*)::bigint AS pledges,
                        least(sum(b.target), 9223372036854775807)::bigint AS target, least(sum(b.achieved), 9223372036854775807)::bigint AS achieved,
                        CASE WHEN sum(b.target) > 0 THEN round(100.0 * sum(b.achieved) / sum(b.target), 1) END
                            AS pct_attained,
                        max(b.last_report_on) AS last_report_on, least(sum(b.corrections), 9223372036854775807)::bigint AS corrections
                 FROM {v}.pledge_scoreboard b
                 LEFT JOIN {s}.organisations o ON o.organisation_id = b.organisation_id
                 GROUP BY b.organisation_id, o.name, o.country, b.indicator;
             COMMENT ON VIEW {v}.organisation_scoreboard IS
                 'The pledge scoreboard summed per organisation and indicator';
             {by_org}"
        )
    }

    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        let organisations = Organisations::prepare(tx, s).await?;
        let st = Statements::prepare(tx, s).await?;
        let mut p = Pipeline::new(tx);
        for r in events {
            if organisations.push(&mut p, r) {
                continue;
            }
            let id = r.aggregate.id().to_owned();
            match &r.event.kind {
                EventKind::CoalitionEstablished(e) => {
                    p.push(&st.coalition, params![id, e.country.as_ref().map(|c| c.as_str().to_owned())]);
                }
                EventKind::PledgeSubmitted(e) => p.push(
                    &st.submitted,
                    params![
                        id,
                        e.organisation_id.to_string(),
                        e.coalition_id.to_string(),
                        e.title.clone(),
                        r.event.meta.occurred_at.date()
                    ],
                ),
                EventKind::PledgeApproved(e) => p.push(&st.approved, params![id, e.approved_on]),
                EventKind::PledgeCompleted(_) => p.push(&st.status, params![id, "completed"]),
                EventKind::PledgeWithdrawn(_) => p.push(&st.status, params![id, "withdrawn"]),
                EventKind::InitiativeAdded(e) => {
                    for (indicator, n) in &e.targets {
                        p.push(
                            &st.target,
                            params![id.clone(), e.initiative_id.to_string(), indicator.name(), *n, e.pillar.name()],
                        );
                    }
                }
                EventKind::TargetRevised(e) => {
                    p.push(&st.revised, params![id, e.initiative_id.to_string(), e.indicator.name(), e.new_target]);
                }
                EventKind::ProgressReported(e) => {
                    let (report_id, initiative) = (e.report_id.to_string(), e.initiative_id.to_string());
                    p.push(&st.report, params![id.clone(), report_id, initiative.clone(), e.period_end]);
                    for (indicator, n) in &e.progress.cumulative {
                        p.push(
                            &st.progress,
                            params![id.clone(), initiative.clone(), indicator.name(), *n, e.period_end],
                        );
                    }
                    p.push(&st.filed, params![id, r.event.meta.occurred_at.date()]);
                }
                EventKind::ProgressCorrected(e) => {
                    for (indicator, n) in &e.progress.cumulative {
                        p.push(&st.corrected, params![id.clone(), e.report_id.to_string(), indicator.name(), *n]);
                    }
                    p.push(&st.correction, params![id]);
                }
                _ => {}
            }
        }
        p.run().await
    }
}

/// The statements a batch of pledge events is written with, prepared once per batch.
struct Statements {
    coalition: Statement,
    submitted: Statement,
    approved: Statement,
    status: Statement,
    target: Statement,
    revised: Statement,
    report: Statement,
    progress: Statement,
    filed: Statement,
    corrected: Statement,
    correction: Statement,
}

impl Statements {
    async fn prepare(tx: &Transaction<'_>, s: &str) -> Result<Self, tokio_postgres::Error> {
        let coalition =
            tx.prepare(&format!("INSERT INTO {s}.coalitions VALUES ($1, $2) ON CONFLICT DO NOTHING")).await?;
        let submitted = tx
            .prepare(&format!(
                "INSERT INTO {s}.pledges (pledge_id, organisation_id, coalition_id, title, status, submitted_on)
                     VALUES ($1, $2, $3, $4, 'submitted', $5) ON CONFLICT (pledge_id) DO NOTHING"
            ))
            .await?;
        let approved = tx
            .prepare(&format!("UPDATE {s}.pledges SET status = 'approved', approved_on = $2 WHERE pledge_id = $1"))
            .await?;
        let status = tx.prepare(&format!("UPDATE {s}.pledges SET status = $2 WHERE pledge_id = $1")).await?;
        let target = tx
            .prepare(&format!(
                "INSERT INTO {s}.targets VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (pledge_id, initiative_id, indicator) DO UPDATE SET target = EXCLUDED.target"
            ))
            .await?;
        let revised = tx
            .prepare(&format!(
                "UPDATE {s}.targets SET target = $4 WHERE pledge_id = $1 AND initiative_id = $2 AND indicator = $3"
            ))
            .await?;
        let report =
            tx.prepare(&format!("INSERT INTO {s}.reports VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")).await?;
        let progress = tx
            .prepare(&format!(
                "INSERT INTO {s}.progress VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (pledge_id, initiative_id, indicator) DO UPDATE
                     SET achieved = EXCLUDED.achieved, period_end = EXCLUDED.period_end
                     WHERE {s}.progress.period_end <= EXCLUDED.period_end"
            ))
            .await?;
        let filed = tx
            .prepare(&format!(
                "UPDATE {s}.pledges SET last_report_on = greatest(last_report_on, $2) WHERE pledge_id = $1"
            ))
            .await?;
        let corrected = tx
            .prepare(&format!(
                "UPDATE {s}.progress g SET achieved = $4
                     FROM {s}.reports r
                     WHERE r.pledge_id = $1 AND r.report_id = $2 AND g.pledge_id = r.pledge_id
                       AND g.initiative_id = r.initiative_id AND g.indicator = $3 AND g.period_end = r.period_end"
            ))
            .await?;
        let correction =
            tx.prepare(&format!("UPDATE {s}.pledges SET corrections = corrections + 1 WHERE pledge_id = $1")).await?;
        Ok(Self {
            coalition,
            submitted,
            approved,
            status,
            target,
            revised,
            report,
            progress,
            filed,
            corrected,
            correction,
        })
    }
}
