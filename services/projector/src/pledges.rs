//! The pledge read model: the pipeline by status and a scoreboard per pledge and indicator (target vs achieved,
//! last report, corrections applied). Late reports never move figures back: the report covering the latest period
//! wins; a correction replaces its report's figures.
use ledger_domain::EventKind;
use ledger_domain::event::Indicator;
use ledger_proto::RecordedEvent;
use tokio_postgres::Transaction;

use crate::Projection;

#[derive(Debug, Clone, Copy, Default)]
pub struct Pledges;

pub fn indicator_name(i: Indicator) -> &'static str {
    match i {
        Indicator::TrainingsOnline => "trainings_online",
        Indicator::TrainingsFaceToFace => "trainings_face_to_face",
        Indicator::Certifications => "certifications",
        Indicator::PeopleReached => "people_reached",
        Indicator::Placements => "placements",
        Indicator::JobsMatched => "jobs_matched",
        Indicator::NewCourses => "new_courses",
        Indicator::Beneficiaries => "beneficiaries",
    }
}

impl Projection for Pledges {
    const NAME: &'static str = "pledges";
    const VERSION: i32 = 1;
    const TABLES: &'static [&'static str] = &["pledges", "targets", "reports", "progress"];

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.pledges (
                 pledge_id text PRIMARY KEY, organisation_id text NOT NULL, coalition_id text NOT NULL,
                 title text NOT NULL, status text NOT NULL, submitted_on date NOT NULL, approved_on date,
                 last_report_on date, corrections integer NOT NULL DEFAULT 0);
             CREATE TABLE {s}.targets (
                 pledge_id text NOT NULL, initiative_id text NOT NULL, indicator text NOT NULL, target bigint NOT NULL,
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

    fn views_sql(s: &str) -> String {
        format!(
            "CREATE OR REPLACE VIEW reporting.pledge_pipeline AS
                 SELECT coalition_id, status, count(*)::bigint AS pledges FROM {s}.pledges GROUP BY coalition_id, status;
             COMMENT ON VIEW reporting.pledge_pipeline IS
                 'Pledges per coalition by status: submitted, approved, completed, withdrawn';
             CREATE OR REPLACE VIEW reporting.pledge_scoreboard AS
                 SELECT p.pledge_id, p.organisation_id, p.coalition_id, p.title, p.status, t.indicator,
                        sum(t.target)::bigint AS target, coalesce(sum(g.achieved), 0)::bigint AS achieved,
                        CASE WHEN sum(t.target) > 0
                             THEN round(100.0 * coalesce(sum(g.achieved), 0) / sum(t.target), 1) END AS pct_attained,
                        p.last_report_on, p.corrections
                 FROM {s}.pledges p
                 JOIN {s}.targets t USING (pledge_id)
                 LEFT JOIN {s}.progress g USING (pledge_id, initiative_id, indicator)
                 GROUP BY p.pledge_id, p.organisation_id, p.coalition_id, p.title, p.status, t.indicator,
                          p.last_report_on, p.corrections;
             COMMENT ON VIEW reporting.pledge_scoreboard IS
                 'Per pledge and indicator: target vs achieved to date, % attained, last report date, corrections applied';"
        )
    }

    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        // Statements run in log order; events of one pledge depend on each other, so no pipelining here.
        for r in events {
            let id = r.aggregate.id();
            match &r.event.kind {
                EventKind::PledgeSubmitted(e) => {
                    tx.execute(
                        &format!(
                            "INSERT INTO {s}.pledges (pledge_id, organisation_id, coalition_id, title, status, submitted_on)
                             VALUES ($1, $2, $3, $4, 'submitted', $5) ON CONFLICT (pledge_id) DO NOTHING"
                        ),
                        &[&id, &e.organisation_id.as_str(), &e.coalition_id.as_str(), &e.title, &r.event.meta.occurred_at.date()],
                    )
                    .await?;
                }
                EventKind::PledgeApproved(e) => {
                    tx.execute(
                        &format!("UPDATE {s}.pledges SET status = 'approved', approved_on = $2 WHERE pledge_id = $1"),
                        &[&id, &e.approved_on],
                    )
                    .await?;
                }
                EventKind::PledgeCompleted(_) | EventKind::PledgeWithdrawn(_) => {
                    let status =
                        if matches!(r.event.kind, EventKind::PledgeCompleted(_)) { "completed" } else { "withdrawn" };
                    tx.execute(&format!("UPDATE {s}.pledges SET status = $2 WHERE pledge_id = $1"), &[&id, &status])
                        .await?;
                }
                EventKind::InitiativeAdded(e) => {
                    for (indicator, target) in &e.targets {
                        tx.execute(
                            &format!(
                                "INSERT INTO {s}.targets VALUES ($1, $2, $3, $4)
                                 ON CONFLICT (pledge_id, initiative_id, indicator) DO UPDATE SET target = EXCLUDED.target"
                            ),
                            &[&id, &e.initiative_id.as_str(), &indicator_name(*indicator), target],
                        )
                        .await?;
                    }
                }
                EventKind::TargetRevised(e) => {
                    tx.execute(
                        &format!(
                            "UPDATE {s}.targets SET target = $4 WHERE pledge_id = $1 AND initiative_id = $2 AND indicator = $3"
                        ),
                        &[&id, &e.initiative_id.as_str(), &indicator_name(e.indicator), &e.new_target],
                    )
                    .await?;
                }
                EventKind::ProgressReported(e) => {
                    tx.execute(
                        &format!("INSERT INTO {s}.reports VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"),
                        &[&id, &e.report_id.as_str(), &e.initiative_id.as_str(), &e.period_end],
                    )
                    .await?;
                    for (indicator, n) in &e.progress.cumulative {
                        tx.execute(
                            &format!(
                                "INSERT INTO {s}.progress VALUES ($1, $2, $3, $4, $5)
                                 ON CONFLICT (pledge_id, initiative_id, indicator) DO UPDATE
                                 SET achieved = EXCLUDED.achieved, period_end = EXCLUDED.period_end
                                 WHERE {s}.progress.period_end <= EXCLUDED.period_end"
                            ),
                            &[&id, &e.initiative_id.as_str(), &indicator_name(*indicator), n, &e.period_end],
                        )
                        .await?;
                    }
                    let filed = r.event.meta.occurred_at.date();
                    tx.execute(
                        &format!(
                            "UPDATE {s}.pledges SET last_report_on = greatest(last_report_on, $2) WHERE pledge_id = $1"
                        ),
                        &[&id, &filed],
                    )
                    .await?;
                }
                EventKind::ProgressCorrected(e) => {
                    for (indicator, n) in &e.progress.cumulative {
                        tx.execute(
                            &format!(
                                "UPDATE {s}.progress g SET achieved = $4
                                 FROM {s}.reports r
                                 WHERE r.pledge_id = $1 AND r.report_id = $2 AND g.pledge_id = r.pledge_id
                                   AND g.initiative_id = r.initiative_id AND g.indicator = $3
                                   AND g.period_end = r.period_end"
                            ),
                            &[&id, &e.report_id.as_str(), &indicator_name(*indicator), n],
                        )
                        .await?;
                    }
                    tx.execute(
                        &format!("UPDATE {s}.pledges SET corrections = corrections + 1 WHERE pledge_id = $1"),
                        &[&id],
                    )
                    .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
