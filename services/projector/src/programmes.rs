//! The programmes read model: innovation partnership programmes (priority areas, the partnership group's members
//! over time, working groups with their participants, meetings and deliverables) and the member states'
//! national coordinators over time.
use ledger_domain::EventKind;
use ledger_proto::RecordedEvent;
use ledger_readmodel::ReadModel;
use tokio_postgres::Transaction;

use crate::Projection;
use crate::sql::{Pipeline, column_comments, params};

#[derive(Debug, Clone, Copy, Default)]
pub struct Programmes;

const PROGRAMME: &str = "Programme (aggregate id)";
const COALITION: &str = "Coalition the programme belongs to (its readers may read it)";
const COUNTRY: &str = "The programme's country";

impl Projection for Programmes {
    const READ_MODEL: ReadModel = ReadModel::Programmes;

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.coalitions (coalition_id text PRIMARY KEY, country text NOT NULL, position bigint NOT NULL);
             CREATE TABLE {s}.programmes (
                 programme_id text PRIMARY KEY, coalition_id text NOT NULL, country text NOT NULL, name text NOT NULL,
                 owner text NOT NULL, launched_on date NOT NULL, ended_on date);
             CREATE TABLE {s}.areas (
                 programme_id text NOT NULL, area_id text NOT NULL, title text NOT NULL, added_on date NOT NULL,
                 PRIMARY KEY (programme_id, area_id));
             CREATE TABLE {s}.members (
                 programme_id text NOT NULL, member_id text NOT NULL, appointed_on date NOT NULL, name text NOT NULL,
                 organisation text NOT NULL, sector text NOT NULL, role text NOT NULL, left_on date,
                 PRIMARY KEY (programme_id, member_id, appointed_on));
             CREATE TABLE {s}.groups (
                 programme_id text NOT NULL, group_id text NOT NULL, area_id text NOT NULL, name text NOT NULL,
                 objective text NOT NULL, started_on date NOT NULL, closed_on date,
                 PRIMARY KEY (programme_id, group_id));
             CREATE TABLE {s}.participants (
                 programme_id text NOT NULL, group_id text NOT NULL, participant_id text NOT NULL,
                 joined_on date NOT NULL, name text NOT NULL, organisation text NOT NULL, sector text NOT NULL,
                 left_on date,
                 PRIMARY KEY (programme_id, group_id, participant_id, joined_on));
             CREATE TABLE {s}.meetings (
                 programme_id text NOT NULL, group_id text NOT NULL, meeting_id text NOT NULL, held_on date NOT NULL,
                 anchored boolean NOT NULL, present integer NOT NULL,
                 PRIMARY KEY (programme_id, group_id, meeting_id));
             CREATE TABLE {s}.deliverables (
                 programme_id text NOT NULL, group_id text NOT NULL, deliverable_id text NOT NULL, title text NOT NULL,
                 reported_on date NOT NULL,
                 PRIMARY KEY (programme_id, group_id, deliverable_id));
             CREATE TABLE {s}.coordinators (
                 country text NOT NULL, from_on date NOT NULL, name text NOT NULL, body text NOT NULL, until_on date,
                 PRIMARY KEY (country, from_on));"
        )
    }

    /// Over 100 lines because it is the five views' SQL and their column comments.
    fn views_sql(s: &str, v: &str) -> String {
        let overview = column_comments(
            &format!("{v}.programme_overview"),
            &[
                ("programme_id", PROGRAMME),
                ("coalition_id", COALITION),
                ("country", COUNTRY),
                ("name", "The programme's name"),
                ("owner", "The body that owns it"),
                ("launched_on", "Launch date"),
                ("ended_on", "End date; NULL while it runs"),
                ("priority_areas", "Priority areas"),
                ("working_groups", "Working groups started"),
                ("open_groups", "Of those, not closed"),
                (
                    "members",
                    "Partnership group members after every event recorded so far (a leave dated later counts already; none once the programme ended)",
                ),
                (
                    "participants",
                    "Working group participants after every event recorded so far, counted once per group",
                ),
                ("meetings", "Working group meetings held"),
                (
                    "anchored_meetings",
                    "Of those, meetings at which the group anchored its work with the partnership group",
                ),
                ("anchoring_rate", "100 * anchored_meetings / meetings, rounded to 0.1; NULL before any meeting"),
                ("deliverables", "Deliverables reported"),
            ],
        );
        let sectors = column_comments(
            &format!("{v}.programme_members_by_sector"),
            &[
                ("programme_id", PROGRAMME),
                ("coalition_id", COALITION),
                ("country", COUNTRY),
                (
                    "sector",
                    "large_company, small_company, higher_education, government_agency, civil_society or public_sector",
                ),
                ("members", "Partnership group members of the sector after every event recorded so far"),
                ("appointed", "Appointments of the sector since the launch (a member appointed twice counts twice)"),
            ],
        );
        let quarterly = column_comments(
            &format!("{v}.working_groups_quarterly"),
            &[
                ("programme_id", PROGRAMME),
                ("group_id", "Working group"),
                ("area_id", "The priority area it works under"),
                ("coalition_id", COALITION),
                ("country", COUNTRY),
                ("quarter", "First day of the quarter"),
                ("joins", "Participants who joined in the quarter"),
                ("leaves", "Participants who left in the quarter (closing the group ends every participant's part)"),
                ("participants", "Participants at the end of the quarter"),
                ("meetings", "Meetings held in the quarter"),
                ("anchored", "Of those, meetings anchored with the partnership group"),
                ("present", "Participants present, summed over the quarter's meetings"),
                ("deliverables", "Deliverables reported in the quarter"),
            ],
        );
        let members = column_comments(
            &format!("{v}.partnership_members"),
            &[
                ("programme_id", PROGRAMME),
                ("coalition_id", COALITION),
                ("country", COUNTRY),
                ("member_id", "Member"),
                ("name", "Name"),
                ("organisation", "Organisation they come from"),
                ("sector", "Sector of the organisation"),
                ("role", "Role in the partnership group"),
                ("appointed_on", "Appointed on"),
                (
                    "left_on",
                    "Left on (or the programme's end); NULL while a member. A member on date D: appointed_on <= D < left_on",
                ),
            ],
        );
        let coordinators = column_comments(
            &format!("{v}.national_coordinators"),
            &[
                ("country", "Member state"),
                (
                    "coalition_id",
                    "The member state's national coalition (the first established, if several); NULL if none. Its readers may read the row",
                ),
                ("name", "The national coordinator"),
                ("body", "The ministry or body they work for"),
                ("from_on", "Nominated (or took over) on"),
                ("until_on", "Replaced on; NULL for the current coordinator"),
            ],
        );
        format!(
            "CREATE OR REPLACE VIEW {v}.programme_overview AS
                 SELECT p.programme_id, p.coalition_id, p.country, p.name, p.owner, p.launched_on, p.ended_on,
                        (SELECT count(*) FROM {s}.areas a WHERE a.programme_id = p.programme_id)::bigint AS priority_areas,
                        (SELECT count(*) FROM {s}.groups g WHERE g.programme_id = p.programme_id)::bigint AS working_groups,
                        (SELECT count(*) FROM {s}.groups g
                         WHERE g.programme_id = p.programme_id AND g.closed_on IS NULL)::bigint AS open_groups,
                        (SELECT count(*) FROM {s}.members m
                         WHERE m.programme_id = p.programme_id AND m.left_on IS NULL)::bigint AS members,
                        (SELECT count(*) FROM {s}.participants t
                         WHERE t.programme_id = p.programme_id AND t.left_on IS NULL)::bigint AS participants,
                        coalesce(x.meetings, 0)::bigint AS meetings, coalesce(x.anchored, 0)::bigint AS anchored_meetings,
                        CASE WHEN x.meetings > 0 THEN round(100.0 * x.anchored / x.meetings, 1) END AS anchoring_rate,
                        (SELECT count(*) FROM {s}.deliverables d WHERE d.programme_id = p.programme_id)::bigint AS deliverables
                 FROM {s}.programmes p
                 LEFT JOIN (SELECT programme_id, count(*) AS meetings, count(*) FILTER (WHERE anchored) AS anchored
                            FROM {s}.meetings GROUP BY programme_id) x USING (programme_id);
             COMMENT ON VIEW {v}.programme_overview IS
                 'Innovation partnership programmes: areas, groups, members, participants, meetings, anchoring, deliverables';
             {overview}
             CREATE OR REPLACE VIEW {v}.programme_members_by_sector AS
                 SELECT m.programme_id, p.coalition_id, p.country, m.sector,
                        count(*) FILTER (WHERE m.left_on IS NULL)::bigint AS members, count(*)::bigint AS appointed
                 FROM {s}.members m JOIN {s}.programmes p USING (programme_id)
                 GROUP BY m.programme_id, p.coalition_id, p.country, m.sector;
             COMMENT ON VIEW {v}.programme_members_by_sector IS
                 'The partnership group of each programme by sector: members now and appointments since the launch';
             {sectors}
             CREATE OR REPLACE VIEW {v}.working_groups_quarterly AS
                 WITH q AS (
                     SELECT programme_id, group_id, date_trunc('quarter', joined_on)::date AS quarter,
                            1 AS joins, 0 AS leaves, 0 AS meetings, 0 AS anchored, 0 AS present, 0 AS deliverables
                     FROM {s}.participants
                     UNION ALL
                     SELECT programme_id, group_id, date_trunc('quarter', left_on)::date, 0, 1, 0, 0, 0, 0
                     FROM {s}.participants WHERE left_on IS NOT NULL
                     UNION ALL
                     SELECT programme_id, group_id, date_trunc('quarter', held_on)::date, 0, 0, 1,
                            CASE WHEN anchored THEN 1 ELSE 0 END, present, 0
                     FROM {s}.meetings
                     UNION ALL
                     SELECT programme_id, group_id, date_trunc('quarter', reported_on)::date, 0, 0, 0, 0, 0, 1
                     FROM {s}.deliverables),
                 per AS (
                     SELECT programme_id, group_id, quarter, sum(joins)::bigint AS joins, sum(leaves)::bigint AS leaves,
                            sum(meetings)::bigint AS meetings, sum(anchored)::bigint AS anchored,
                            sum(present)::bigint AS present, sum(deliverables)::bigint AS deliverables
                     FROM q GROUP BY programme_id, group_id, quarter)
                 SELECT per.programme_id, per.group_id, g.area_id, p.coalition_id, p.country, per.quarter, per.joins,
                        per.leaves,
                        sum(per.joins - per.leaves) OVER (PARTITION BY per.programme_id, per.group_id ORDER BY per.quarter)::bigint
                            AS participants,
                        per.meetings, per.anchored, per.present, per.deliverables
                 FROM per JOIN {s}.programmes p USING (programme_id)
                 JOIN {s}.groups g ON g.programme_id = per.programme_id AND g.group_id = per.group_id;
             COMMENT ON VIEW {v}.working_groups_quarterly IS
                 'Each working group per quarter: participants joining, leaving and at the end, meetings, anchoring, deliverables';
             {quarterly}
             CREATE OR REPLACE VIEW {v}.partnership_members AS
                 SELECT m.programme_id, p.coalition_id, p.country, m.member_id, m.name, m.organisation, m.sector, m.role,
                        m.appointed_on, m.left_on
                 FROM {s}.members m JOIN {s}.programmes p USING (programme_id);
             COMMENT ON VIEW {v}.partnership_members IS
                 'Every appointment to a programme''s partnership group, with when it ended: its composition at any date';
             {members}
             CREATE OR REPLACE VIEW {v}.national_coordinators AS
                 SELECT n.country, c.coalition_id, n.name, n.body, n.from_on, n.until_on
                 FROM {s}.coordinators n
                 LEFT JOIN (SELECT DISTINCT ON (country) country, coalition_id FROM {s}.coalitions
                            ORDER BY country, position) c ON c.country = n.country;
             COMMENT ON VIEW {v}.national_coordinators IS
                 'The member states'' national coordinators of the Structured Dialogue, one row per term';
             {coordinators}"
        )
    }

    /// Over 100 lines because it is one statement and one arm per event type of the read model.
    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        let prepare = |sql: String| async move { tx.prepare(&sql).await };
        // Only national coalitions: the EU coalition has no country.
        let coalition =
            prepare(format!("INSERT INTO {s}.coalitions VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")).await?;
        let launched =
            prepare(format!("INSERT INTO {s}.programmes VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT DO NOTHING"))
                .await?;
        let area = prepare(format!("INSERT INTO {s}.areas VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")).await?;
        let appointed = prepare(format!(
            "INSERT INTO {s}.members VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) ON CONFLICT DO NOTHING"
        ))
        .await?;
        let member_left = prepare(format!(
            "UPDATE {s}.members SET left_on = $3 WHERE programme_id = $1 AND member_id = $2 AND left_on IS NULL"
        ))
        .await?;
        let started =
            prepare(format!("INSERT INTO {s}.groups VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT DO NOTHING"))
                .await?;
        let joined = prepare(format!(
            "INSERT INTO {s}.participants VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) ON CONFLICT DO NOTHING"
        ))
        .await?;
        let participant_left = prepare(format!(
            "UPDATE {s}.participants SET left_on = $4
             WHERE programme_id = $1 AND group_id = $2 AND participant_id = $3 AND left_on IS NULL"
        ))
        .await?;
        let meeting =
            prepare(format!("INSERT INTO {s}.meetings VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")).await?;
        let deliverable =
            prepare(format!("INSERT INTO {s}.deliverables VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")).await?;
        let closed = prepare(format!(
            "WITH g AS (UPDATE {s}.groups SET closed_on = $3 WHERE programme_id = $1 AND group_id = $2)
             UPDATE {s}.participants SET left_on = $3 WHERE programme_id = $1 AND group_id = $2 AND left_on IS NULL"
        ))
        .await?;
        let ended = prepare(format!(
            "WITH p AS (UPDATE {s}.programmes SET ended_on = $2 WHERE programme_id = $1)
             UPDATE {s}.members SET left_on = $2 WHERE programme_id = $1 AND left_on IS NULL"
        ))
        .await?;
        let nominated =
            prepare(format!("INSERT INTO {s}.coordinators VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING"))
                .await?;
        let replaced = prepare(format!(
            "WITH old AS (UPDATE {s}.coordinators SET until_on = $2 WHERE country = $1 AND until_on IS NULL)
             INSERT INTO {s}.coordinators VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING"
        ))
        .await?;
        let mut p = Pipeline::new(tx);
        for r in events {
            let id = r.aggregate.id().to_owned();
            match &r.event.kind {
                EventKind::CoalitionEstablished(e) => {
                    if let Some(country) = &e.country {
                        let position = i64::try_from(r.position).unwrap_or(i64::MAX);
                        p.push(&coalition, params![id, country.as_str().to_owned(), position]);
                    }
                }
                EventKind::ProgrammeLaunched(e) => {
                    p.push(
                        &launched,
                        params![
                            id.clone(),
                            e.coalition_id.to_string(),
                            e.country.as_str().to_owned(),
                            e.name.clone(),
                            e.owner.clone(),
                            e.launched_on
                        ],
                    );
                    for a in &e.priority_areas {
                        p.push(&area, params![id.clone(), a.area_id.to_string(), a.title.clone(), e.launched_on]);
                    }
                }
                EventKind::PriorityAreaAdded(e) => {
                    p.push(&area, params![id, e.area.area_id.to_string(), e.area.title.clone(), e.added_on]);
                }
                EventKind::PartnershipMemberAppointed(e) => p.push(
                    &appointed,
                    params![
                        id,
                        e.member_id.to_string(),
                        e.appointed_on,
                        e.name.clone(),
                        e.organisation.clone(),
                        e.sector.name(),
                        e.role.clone()
                    ],
                ),
                EventKind::PartnershipMemberLeft(e) => {
                    p.push(&member_left, params![id, e.member_id.to_string(), e.left_on]);
                }
                EventKind::WorkingGroupStarted(e) => p.push(
                    &started,
                    params![
                        id,
                        e.group_id.to_string(),
                        e.area_id.to_string(),
                        e.name.clone(),
                        e.objective.clone(),
                        e.started_on
                    ],
                ),
                EventKind::WorkingGroupParticipantJoined(e) => p.push(
                    &joined,
                    params![
                        id,
                        e.group_id.to_string(),
                        e.participant_id.to_string(),
                        e.joined_on,
                        e.name.clone(),
                        e.organisation.clone(),
                        e.sector.name()
                    ],
                ),
                EventKind::WorkingGroupParticipantLeft(e) => p.push(
                    &participant_left,
                    params![id, e.group_id.to_string(), e.participant_id.to_string(), e.left_on],
                ),
                EventKind::WorkingGroupMeetingHeld(e) => p.push(
                    &meeting,
                    params![
                        id,
                        e.group_id.to_string(),
                        e.meeting_id.to_string(),
                        e.held_on,
                        e.anchored,
                        i32::try_from(e.present.len()).unwrap_or(i32::MAX)
                    ],
                ),
                EventKind::WorkingGroupDeliverableReported(e) => p.push(
                    &deliverable,
                    params![id, e.group_id.to_string(), e.deliverable_id.to_string(), e.title.clone(), e.reported_on],
                ),
                EventKind::WorkingGroupClosed(e) => {
                    p.push(&closed, params![id, e.group_id.to_string(), e.closed_on]);
                }
                EventKind::ProgrammeEnded(e) => p.push(&ended, params![id, e.ended_on]),
                EventKind::NationalCoordinatorNominated(e) => p.push(
                    &nominated,
                    params![e.member_state.as_str().to_owned(), e.nominated_on, e.name.clone(), e.body.clone()],
                ),
                EventKind::NationalCoordinatorReplaced(e) => {
                    p.push(&replaced, params![id.to_uppercase(), e.replaced_on, e.name.clone(), e.body.clone()])
                }
                _ => {}
            }
        }
        p.run().await
    }
}
