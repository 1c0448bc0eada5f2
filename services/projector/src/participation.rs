//! The participation read model: course runs and activities per quarter, coalition and pillar with the women's
//! share, and content shared to the platform per coalition, quarter and type.
use ledger_domain::EventKind;
use ledger_proto::RecordedEvent;
use ledger_readmodel::ReadModel;
use time::{Date, Month};
use tokio_postgres::Transaction;

use crate::Projection;
use crate::sql::{Pipeline, column_comments, params};

#[derive(Debug, Clone, Copy, Default)]
pub struct Participation;

/// First day of the quarter `d` falls in.
pub(crate) fn quarter_of(d: Date) -> Date {
    let first_month = (u8::from(d.month()) - 1) / 3 * 3 + 1;
    Month::try_from(first_month).ok().and_then(|m| Date::from_calendar_date(d.year(), m, 1).ok()).unwrap_or(d)
}

impl Projection for Participation {
    const READ_MODEL: ReadModel = ReadModel::Participation;

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.coalitions (coalition_id text PRIMARY KEY, country text);
             CREATE TABLE {s}.courses (course_id text PRIMARY KEY, coalition_id text NOT NULL, pillar text NOT NULL);
             CREATE TABLE {s}.course_quarters (
                 quarter date NOT NULL, coalition_id text NOT NULL, pillar text NOT NULL,
                 runs bigint NOT NULL, enrolled bigint NOT NULL, completed bigint NOT NULL, certified bigint NOT NULL,
                 women_enrolled bigint NOT NULL,
                 PRIMARY KEY (quarter, coalition_id, pillar));
             CREATE TABLE {s}.activity_quarters (
                 quarter date NOT NULL, coalition_id text NOT NULL, pillar text NOT NULL,
                 activities bigint NOT NULL, participants bigint NOT NULL, women bigint NOT NULL,
                 PRIMARY KEY (quarter, coalition_id, pillar));
             CREATE TABLE {s}.content (
                 content_id text PRIMARY KEY, coalition_id text NOT NULL, content_type text NOT NULL,
                 shared_on date NOT NULL, withdrawn_on date);"
        )
    }

    fn views_sql(s: &str, v: &str) -> String {
        let participation = column_comments(
            &format!("{v}.participation_quarterly"),
            &[
                ("quarter", "First day of the quarter"),
                ("coalition_id", "Coalition the course or activity belongs to"),
                ("pillar", "all, labour_force, ict_professionals or education"),
                ("source", "course_runs or activities"),
                ("held", "Course runs completed or activities held in the quarter"),
                ("participants", "Enrolled (course runs) or participants (activities)"),
                ("completed", "Course runs: participants who completed; 0 for activities"),
                ("certified", "Course runs: participants certified; 0 for activities"),
                ("women", "Women among the participants"),
                ("women_share", "100 * women / participants, rounded to 0.1; NULL when there were none"),
                ("country", "The coalition's country (NULL for the EU coalition)"),
            ],
        );
        let content = column_comments(
            &format!("{v}.content_shared_quarterly"),
            &[
                ("coalition_id", "Coalition that shared the content"),
                ("quarter", "First day of the quarter it was shared in"),
                ("content_type", "news, event, good_practice or training_opportunity"),
                ("shared", "Items shared in the quarter"),
                ("withdrawn", "Of those, items withdrawn since"),
                ("country", "The coalition's country (NULL for the EU coalition)"),
            ],
        );
        format!(
            "CREATE OR REPLACE VIEW {v}.participation_quarterly AS
                 SELECT q.quarter, q.coalition_id, q.pillar, q.source, q.held, q.participants, q.completed, q.certified,
                        q.women,
                        CASE WHEN q.participants > 0 THEN round(100.0 * q.women / q.participants, 1) END AS women_share,
                        c.country
                 FROM (SELECT quarter, coalition_id, pillar, 'course_runs' AS source, runs AS held,
                              enrolled AS participants, completed, certified, women_enrolled AS women
                       FROM {s}.course_quarters
                       UNION ALL
                       SELECT quarter, coalition_id, pillar, 'activities', activities, participants, 0, 0, women
                       FROM {s}.activity_quarters) q
                 LEFT JOIN {s}.coalitions c USING (coalition_id);
             COMMENT ON VIEW {v}.participation_quarterly IS
                 'Course runs and activities per quarter, coalition and pillar, with the women''s share';
             {participation}
             CREATE OR REPLACE VIEW {v}.content_shared_quarterly AS
                 SELECT t.coalition_id, date_trunc('quarter', t.shared_on)::date AS quarter, t.content_type,
                        count(*)::bigint AS shared, count(t.withdrawn_on)::bigint AS withdrawn, c.country
                 FROM {s}.content t LEFT JOIN {s}.coalitions c USING (coalition_id)
                 GROUP BY t.coalition_id, date_trunc('quarter', t.shared_on), t.content_type, c.country;
             COMMENT ON VIEW {v}.content_shared_quarterly IS
                 'Content shared to the platform per coalition, quarter and type';
             {content}"
        )
    }

    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        let coalition =
            tx.prepare(&format!("INSERT INTO {s}.coalitions VALUES ($1, $2) ON CONFLICT DO NOTHING")).await?;
        let course = tx.prepare(&format!("INSERT INTO {s}.courses VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")).await?;
        // The course's coalition and pillar ('unknown' if it was never listed, which the append rules prevent).
        let run = tx
            .prepare(&format!(
                "INSERT INTO {s}.course_quarters
                 SELECT $2, coalesce(c.coalition_id, 'unknown'), coalesce(c.pillar, 'unknown'), 1, $3, $4, $5, $6
                 FROM (SELECT) x LEFT JOIN {s}.courses c ON c.course_id = $1
                 ON CONFLICT (quarter, coalition_id, pillar) DO UPDATE SET
                     runs = {s}.course_quarters.runs + 1,
                     enrolled = least({s}.course_quarters.enrolled::numeric + EXCLUDED.enrolled, 9223372036854775807)::bigint,
                     completed = least({s}.course_quarters.completed::numeric + EXCLUDED.completed, 9223372036854775807)::bigint,
                     certified = least({s}.course_quarters.certified::numeric + EXCLUDED.certified, 9223372036854775807)::bigint,
                     women_enrolled = least({s}.course_quarters.women_enrolled::numeric + EXCLUDED.women_enrolled, 9223372036854775807)::bigint"
            ))
            .await?;
        let activity = tx
            .prepare(&format!(
                "INSERT INTO {s}.activity_quarters VALUES ($1, $2, $3, 1, $4, $5)
                 ON CONFLICT (quarter, coalition_id, pillar) DO UPDATE SET
                     activities = {s}.activity_quarters.activities + 1,
                     participants = least({s}.activity_quarters.participants::numeric + EXCLUDED.participants, 9223372036854775807)::bigint,
                     women = least({s}.activity_quarters.women::numeric + EXCLUDED.women, 9223372036854775807)::bigint"
            ))
            .await?;
        let shared = tx
            .prepare(&format!("INSERT INTO {s}.content VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING"))
            .await?;
        let withdrawn = tx.prepare(&format!("UPDATE {s}.content SET withdrawn_on = $2 WHERE content_id = $1")).await?;
        let mut p = Pipeline::new(tx);
        for r in events {
            let id = r.aggregate.id().to_owned();
            match &r.event.kind {
                EventKind::CoalitionEstablished(e) => {
                    p.push(&coalition, params![id, e.country.as_ref().map(|c| c.as_str().to_owned())]);
                }
                EventKind::CourseListed(e) => p.push(&course, params![id, e.coalition_id.to_string(), e.pillar.name()]),
                EventKind::CourseRunCompleted(e) => p.push(
                    &run,
                    params![id, quarter_of(e.ended_on), e.enrolled, e.completed, e.certified, e.women_enrolled],
                ),
                EventKind::ActivityReported(e) => p.push(
                    &activity,
                    params![
                        quarter_of(e.held_on),
                        e.coalition_id.to_string(),
                        e.pillar.name(),
                        e.participants,
                        e.women
                    ],
                ),
                EventKind::ContentShared(e) => {
                    p.push(&shared, params![id, e.coalition_id.to_string(), e.content_type.name(), e.shared_on]);
                }
                EventKind::ContentWithdrawn(e) => p.push(&withdrawn, params![id, e.withdrawn_on]),
                _ => {}
            }
        }
        p.run().await
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::quarter_of;

    #[test]
    fn quarters_start_in_january_april_july_october() {
        assert_eq!(quarter_of(date!(2021 - 01 - 01)), date!(2021 - 01 - 01));
        assert_eq!(quarter_of(date!(2021 - 03 - 31)), date!(2021 - 01 - 01));
        assert_eq!(quarter_of(date!(2021 - 05 - 20)), date!(2021 - 04 - 01));
        assert_eq!(quarter_of(date!(2021 - 09 - 30)), date!(2021 - 07 - 01));
        assert_eq!(quarter_of(date!(2021 - 12 - 31)), date!(2021 - 10 - 01));
    }
}
