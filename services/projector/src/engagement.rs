//! The engagement read model, for dormant members: current memberships and the business dates on which each
//! organisation did something in each coalition (a pledge event of a pledge to it, a run of a course it lists,
//! an activity in it). Per coalition, so that one coalition's report reflects only what happened in it (v2; v1
//! counted an organisation's engagement in any coalition). Content is shared by coalitions, not organisations,
//! so it cannot count for an organisation.
use ledger_domain::EventKind;
use ledger_proto::RecordedEvent;
use ledger_readmodel::ReadModel;
use tokio_postgres::Transaction;

use crate::Projection;
use crate::sql::{Organisations, Pipeline, column_comments, params};

#[derive(Debug, Clone, Copy, Default)]
pub struct Engagement;

impl Projection for Engagement {
    const READ_MODEL: ReadModel = ReadModel::Engagement;

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.organisations (organisation_id text PRIMARY KEY, name text NOT NULL, country text NOT NULL);
             CREATE TABLE {s}.members (
                 coalition_id text NOT NULL, organisation_id text NOT NULL, joined_on date NOT NULL,
                 PRIMARY KEY (coalition_id, organisation_id));
             CREATE TABLE {s}.courses (
                 course_id text PRIMARY KEY, provider_id text NOT NULL, coalition_id text NOT NULL);
             CREATE TABLE {s}.pledges (
                 pledge_id text PRIMARY KEY, organisation_id text NOT NULL, coalition_id text NOT NULL);
             CREATE TABLE {s}.engaged (
                 organisation_id text NOT NULL, coalition_id text NOT NULL, engaged_on date NOT NULL,
                 PRIMARY KEY (organisation_id, coalition_id, engaged_on));"
        )
    }

    fn views_sql(s: &str, v: &str) -> String {
        let members = column_comments(
            &format!("{v}.member_engagement"),
            &[
                ("coalition_id", "Coalition"),
                ("organisation_id", "Active member"),
                ("name", "Organisation name"),
                ("country", "The organisation's country"),
                ("joined_on", "When the current membership began"),
                (
                    "last_engaged_on",
                    "Latest pledge event, course run or activity of the organisation in this coalition; NULL if none",
                ),
                ("dormant", "Member for 12 months or more with nothing recorded in the last 12 months (as of today)"),
            ],
        );
        let days = column_comments(
            &format!("{v}.organisation_engagement_days"),
            &[
                ("organisation_id", "Organisation"),
                ("engaged_on", "A business date on which it recorded a pledge event, a course run or an activity"),
                ("coalition_id", "The coalition it was recorded in (the pledge's, the course's, the activity's)"),
            ],
        );
        format!(
            "CREATE OR REPLACE VIEW {v}.organisation_engagement_days AS
                 SELECT organisation_id, engaged_on, coalition_id FROM {s}.engaged;
             COMMENT ON VIEW {v}.organisation_engagement_days IS
                 'Dates on which each organisation did something the ledger records, per coalition';
             {days}
             CREATE OR REPLACE VIEW {v}.member_engagement AS
                 SELECT m.coalition_id, m.organisation_id, o.name, o.country, m.joined_on, e.last_engaged_on,
                        (m.joined_on <= current_date - interval '12 months'
                         AND coalesce(e.last_engaged_on <= current_date - interval '12 months', true)) AS dormant
                 FROM {s}.members m
                 LEFT JOIN {s}.organisations o USING (organisation_id)
                 LEFT JOIN (SELECT organisation_id, coalition_id, max(engaged_on) AS last_engaged_on FROM {s}.engaged
                            GROUP BY organisation_id, coalition_id) e USING (organisation_id, coalition_id);
             COMMENT ON VIEW {v}.member_engagement IS
                 'Active members with their latest engagement and whether they are dormant today';
             {members}"
        )
    }

    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        let organisations = Organisations::prepare(tx, s).await?;
        let join = tx.prepare(&format!("INSERT INTO {s}.members VALUES ($1, $2, $3)")).await?;
        let leave =
            tx.prepare(&format!("DELETE FROM {s}.members WHERE coalition_id = $1 AND organisation_id = $2")).await?;
        let course = tx.prepare(&format!("INSERT INTO {s}.courses VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")).await?;
        let pledge = tx.prepare(&format!("INSERT INTO {s}.pledges VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")).await?;
        let engaged =
            tx.prepare(&format!("INSERT INTO {s}.engaged VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")).await?;
        let run = tx
            .prepare(&format!(
                "INSERT INTO {s}.engaged SELECT provider_id, coalition_id, $2 FROM {s}.courses WHERE course_id = $1
                 ON CONFLICT DO NOTHING"
            ))
            .await?;
        let pledge_event = tx
            .prepare(&format!(
                "INSERT INTO {s}.engaged SELECT organisation_id, coalition_id, $2 FROM {s}.pledges WHERE pledge_id = $1
                 ON CONFLICT DO NOTHING"
            ))
            .await?;
        let mut p = Pipeline::new(tx);
        for r in events {
            if organisations.push(&mut p, r) {
                continue;
            }
            let id = r.aggregate.id().to_owned();
            let on = r.event.meta.occurred_at.date();
            match &r.event.kind {
                EventKind::MembershipApproved(e) => {
                    p.push(&join, params![e.coalition_id.to_string(), e.organisation_id.to_string(), e.joined_on]);
                }
                EventKind::MembershipLeft(e) => {
                    p.push(&leave, params![e.coalition_id.to_string(), e.organisation_id.to_string()]);
                }
                EventKind::CourseListed(e) => {
                    p.push(&course, params![id, e.provider_id.to_string(), e.coalition_id.to_string()]);
                }
                EventKind::CourseRunCompleted(e) => p.push(&run, params![id, e.ended_on]),
                EventKind::ActivityReported(e) => {
                    p.push(&engaged, params![e.organisation_id.to_string(), e.coalition_id.to_string(), e.held_on])
                }
                EventKind::PledgeSubmitted(e) => {
                    let org = e.organisation_id.to_string();
                    p.push(&pledge, params![id.clone(), org.clone(), e.coalition_id.to_string()]);
                    p.push(&engaged, params![org, e.coalition_id.to_string(), on]);
                }
                EventKind::PledgeApproved(_)
                | EventKind::InitiativeAdded(_)
                | EventKind::TargetRevised(_)
                | EventKind::ProgressReported(_)
                | EventKind::ProgressCorrected(_)
                | EventKind::PledgeCompleted(_)
                | EventKind::PledgeWithdrawn(_) => p.push(&pledge_event, params![id, on]),
                _ => {}
            }
        }
        p.run().await
    }
}
