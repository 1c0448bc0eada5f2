//! The coalition-growth read model: coalitions (with their website and deactivation), organisations, current
//! members, and joins/leaves per coalition, month, organisation type and size.
//!
//! Tables live in a schema per build (`proj_coalition_growth_v<version>[_r<n>]`); dashboards and the query API
//! read them only through the `reporting` views, which are switched atomically when a rebuild finishes.
use std::collections::HashMap;

use ledger_domain::EventKind;
use ledger_proto::RecordedEvent;
use ledger_readmodel::ReadModel;
use time::Date;
use tokio_postgres::Transaction;

use crate::Projection;
use crate::sql::{Pipeline, column_comments, params};

#[derive(Debug, Clone, Copy, Default)]
pub struct CoalitionGrowth;

pub(crate) fn month_of(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

impl Projection for CoalitionGrowth {
    const READ_MODEL: ReadModel = ReadModel::CoalitionGrowth;

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.coalitions (
                 coalition_id text PRIMARY KEY, name text NOT NULL, kind text NOT NULL, country text,
                 launched_on date NOT NULL, website_url text, connected_on date, deactivated_on date);
             CREATE TABLE {s}.organisations (
                 organisation_id text PRIMARY KEY, name text NOT NULL, country text NOT NULL,
                 organisation_type text NOT NULL, size text NOT NULL);
             CREATE TABLE {s}.members (
                 coalition_id text NOT NULL, organisation_id text NOT NULL, joined_on date NOT NULL,
                 PRIMARY KEY (coalition_id, organisation_id));
             CREATE TABLE {s}.membership_months (
                 coalition_id text NOT NULL, month date NOT NULL, organisation_type text NOT NULL, size text NOT NULL,
                 joins bigint NOT NULL DEFAULT 0 CHECK (joins >= 0),
                 leaves bigint NOT NULL DEFAULT 0 CHECK (leaves >= 0),
                 PRIMARY KEY (coalition_id, month, organisation_type, size));"
        )
    }

    fn views_sql(s: &str, v: &str) -> String {
        let monthly = column_comments(
            &format!("{v}.coalition_growth_monthly"),
            &[
                ("coalition_id", "Coalition id"),
                ("month", "First day of the month (business date of the joins and leaves)"),
                ("joins", "Memberships approved in the month"),
                ("leaves", "Memberships ended in the month"),
                ("net", "joins - leaves"),
                ("cumulative", "Members at the end of the month"),
                ("country", "The coalition's country (NULL for the EU coalition)"),
            ],
        );
        let by_type = column_comments(
            &format!("{v}.coalition_growth_by_type"),
            &[
                ("coalition_id", "Coalition id"),
                ("month", "First day of the month"),
                (
                    "organisation_type",
                    "ict_company, education_provider, public_authority, employment_service, association, non_profit or social_partner",
                ),
                ("size", "sme or large"),
                ("joins", "Memberships approved in the month"),
                ("leaves", "Memberships ended in the month"),
                ("net", "joins - leaves"),
                ("country", "The coalition's country (NULL for the EU coalition)"),
            ],
        );
        let current = column_comments(
            &format!("{v}.coalition_members_current"),
            &[
                ("coalition_id", "Coalition id"),
                ("name", "Coalition name"),
                ("kind", "eu or national"),
                ("country", "The coalition's country (NULL for the EU coalition)"),
                ("launched_on", "Launch date"),
                ("members", "Active members now"),
                ("website_url", "Website connected to the Digital Skills and Jobs Platform, NULL if none"),
                ("connected_on", "When the website was connected"),
                ("deactivated_on", "When the coalition was deactivated, NULL while active"),
            ],
        );
        let national = column_comments(
            &format!("{v}.national_coalitions_monthly"),
            &[
                ("month", "First day of a month in which a national coalition launched or ended, or a site connected"),
                ("national_coalitions", "Active national coalitions at the end of the month"),
                ("connected_sites", "Active coalitions (EU included) with a connected website at the end of the month"),
            ],
        );
        format!(
            "CREATE OR REPLACE VIEW {v}.coalition_growth_monthly AS
                 SELECT g.coalition_id, g.month, g.joins, g.leaves, g.joins - g.leaves AS net,
                        sum(g.joins - g.leaves) OVER (PARTITION BY g.coalition_id ORDER BY g.month)::bigint AS cumulative,
                        c.country
                 FROM (SELECT coalition_id, month, sum(joins)::bigint AS joins, sum(leaves)::bigint AS leaves
                       FROM {s}.membership_months GROUP BY coalition_id, month) g
                 LEFT JOIN {s}.coalitions c USING (coalition_id);
             COMMENT ON VIEW {v}.coalition_growth_monthly IS
                 'Members per coalition per month: joins, leaves, net = joins - leaves, cumulative = members at month end';
             {monthly}
             CREATE OR REPLACE VIEW {v}.coalition_growth_by_type AS
                 SELECT m.coalition_id, m.month, m.organisation_type, m.size, m.joins, m.leaves,
                        m.joins - m.leaves AS net, c.country
                 FROM {s}.membership_months m LEFT JOIN {s}.coalitions c USING (coalition_id);
             COMMENT ON VIEW {v}.coalition_growth_by_type IS
                 'Joins and leaves per coalition and month by organisation type and size';
             {by_type}
             CREATE OR REPLACE VIEW {v}.coalition_members_current AS
                 SELECT c.coalition_id, c.name, c.kind, c.country, c.launched_on,
                        (SELECT count(*) FROM {s}.members m WHERE m.coalition_id = c.coalition_id)::bigint AS members,
                        c.website_url, c.connected_on, c.deactivated_on
                 FROM {s}.coalitions c;
             COMMENT ON VIEW {v}.coalition_members_current IS
                 'Each coalition with its current number of active members and its connected website';
             {current}
             CREATE OR REPLACE VIEW {v}.national_coalitions_monthly AS
                 SELECT month,
                        sum(sum(national)) OVER (ORDER BY month)::bigint AS national_coalitions,
                        sum(sum(connected)) OVER (ORDER BY month)::bigint AS connected_sites
                 FROM (SELECT date_trunc('month', launched_on)::date AS month, 1 AS national, 0 AS connected
                           FROM {s}.coalitions WHERE kind = 'national'
                       UNION ALL SELECT date_trunc('month', deactivated_on)::date, -1, 0
                           FROM {s}.coalitions WHERE kind = 'national' AND deactivated_on IS NOT NULL
                       UNION ALL SELECT date_trunc('month', connected_on)::date, 0, 1
                           FROM {s}.coalitions WHERE connected_on IS NOT NULL
                       UNION ALL SELECT date_trunc('month', deactivated_on)::date, 0, -1
                           FROM {s}.coalitions WHERE connected_on IS NOT NULL AND deactivated_on IS NOT NULL) changes
                 GROUP BY month;
             COMMENT ON VIEW {v}.national_coalitions_monthly IS
                 'National coalitions and connected websites over time (months with a change)';
             {national}"
        )
    }

    /// Set-based: the batch is folded in memory into its net effect (final organisation rows, the memberships
    /// ended and begun, joins and leaves per coalition, organisation and month), then written with a few `UNNEST`
    /// statements instead of one statement per event. Coalition events, rare, are applied one by one first.
    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        let batch = Batch::fold(events);
        write_coalitions(tx, s, &batch.coalition_events).await?;
        write_organisations(tx, s, batch.orgs, batch.renames).await?;
        write_memberships(tx, s, &batch.members, batch.member_order, batch.in_order).await?;
        write_months(tx, s, batch.months).await
    }
}

/// A (coalition, organisation) pair.
type Pair = (String, String);

/// A batch of events folded into what it changes.
#[derive(Default)]
struct Batch<'a> {
    /// Coalition events, in order (rare: applied one by one).
    coalition_events: Vec<&'a RecordedEvent>,
    /// Organisations registered, with their final name, in order of first registration.
    orgs: Vec<OrgRow>,
    org_index: HashMap<String, usize>,
    /// Renames of organisations registered before this batch.
    renames: HashMap<String, String>,
    /// Per pair with one event in the batch: whether it ends a membership, and the joined_on it leaves active.
    members: HashMap<Pair, (bool, Option<Date>)>,
    member_order: Vec<Pair>,
    /// Pairs with several events in the batch, applied event by event in order (plain insert, delete), exactly as
    /// one at a time would: a join of an active membership then fails the batch and the fallback quarantines it,
    /// whatever the batch boundaries. `Some(joined_on)` is a join, `None` a leave.
    in_order: Vec<(Pair, Option<Date>)>,
    /// Joins and leaves per (coalition, organisation, month).
    months: HashMap<(String, String, Date), (i64, i64)>,
}

impl<'a> Batch<'a> {
    fn fold(events: &'a [RecordedEvent]) -> Self {
        let mut per_pair: HashMap<Pair, usize> = HashMap::new();
        for r in events {
            if let Some((key, _)) = membership_change(&r.event.kind) {
                *per_pair.entry(key).or_default() += 1;
            }
        }
        let mut batch = Batch::default();
        for r in events {
            let id = r.aggregate.id();
            match &r.event.kind {
                EventKind::CoalitionEstablished(_)
                | EventKind::CoalitionWebsiteConnected(_)
                | EventKind::CoalitionDeactivated(_) => batch.coalition_events.push(r),
                EventKind::OrganisationRegistered(e) => {
                    let row = (
                        id.to_owned(),
                        e.name.clone(),
                        e.country.as_str().to_owned(),
                        e.organisation_type.name(),
                        e.size.name(),
                    );
                    batch.renames.remove(id);
                    match batch.org_index.get(id) {
                        Some(&i) => batch.orgs[i].1 = row.1,
                        None => {
                            batch.org_index.insert(id.to_owned(), batch.orgs.len());
                            batch.orgs.push(row);
                        }
                    }
                }
                EventKind::OrganisationRenamed(e) => match batch.org_index.get(id) {
                    Some(&i) => batch.orgs[i].1 = e.name.clone(),
                    None => {
                        batch.renames.insert(id.to_owned(), e.name.clone());
                    }
                },
                kind => {
                    // Memberships; pledges and the rest feed other read models.
                    if let Some((key, change)) = membership_change(kind) {
                        let several = per_pair[&key] > 1;
                        batch.membership(key, change, several);
                    }
                }
            }
        }
        batch
    }

    /// Folds in a join or a leave of membership `key`; `several`: the batch holds more than one event of it.
    fn membership(&mut self, key: Pair, change: Change, several: bool) {
        let (on, counts) = match change {
            Change::Joined(on) => (on, (1, 0)),
            Change::Left(on) => (on, (0, 1)),
        };
        let month = self.months.entry((key.0.clone(), key.1.clone(), month_of(on))).or_default();
        month.0 += counts.0;
        month.1 += counts.1;
        let joined = match change {
            Change::Joined(on) => Some(on),
            Change::Left(_) => None,
        };
        if several {
            self.in_order.push((key, joined));
        } else {
            self.member_order.push(key.clone());
            self.members.insert(key, (joined.is_none(), joined));
        }
    }
}

/// A membership's change and its date.
#[derive(Clone, Copy)]
enum Change {
    Joined(Date),
    Left(Date),
}

/// The membership an event changes, and how (`None` for other events).
fn membership_change(kind: &EventKind) -> Option<(Pair, Change)> {
    match kind {
        EventKind::MembershipApproved(e) => {
            Some(((e.coalition_id.to_string(), e.organisation_id.to_string()), Change::Joined(e.joined_on)))
        }
        EventKind::MembershipLeft(e) => {
            Some(((e.coalition_id.to_string(), e.organisation_id.to_string()), Change::Left(e.left_on)))
        }
        _ => None,
    }
}

/// Coalition events, one statement each, pipelined.
async fn write_coalitions(
    tx: &Transaction<'_>,
    s: &str,
    events: &[&RecordedEvent],
) -> Result<(), tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let coalition = tx
        .prepare(&format!(
            "INSERT INTO {s}.coalitions (coalition_id, name, kind, country, launched_on)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (coalition_id) DO NOTHING"
        ))
        .await?;
    let website = tx
        .prepare(&format!("UPDATE {s}.coalitions SET website_url = $2, connected_on = $3 WHERE coalition_id = $1"))
        .await?;
    let deactivated =
        tx.prepare(&format!("UPDATE {s}.coalitions SET deactivated_on = $2 WHERE coalition_id = $1")).await?;
    let mut p = Pipeline::new(tx);
    for r in events {
        let id = r.aggregate.id().to_owned();
        match &r.event.kind {
            EventKind::CoalitionEstablished(e) => {
                let country = e.country.as_ref().map(|c| c.as_str().to_owned());
                p.push(&coalition, params![id, e.name.clone(), e.kind.name(), country, e.launched_on]);
            }
            EventKind::CoalitionWebsiteConnected(e) => {
                p.push(&website, params![id, e.url.clone(), e.connected_on]);
            }
            EventKind::CoalitionDeactivated(e) => p.push(&deactivated, params![id, e.deactivated_on]),
            _ => {}
        }
    }
    p.run().await
}

/// New organisations (with their final name) and renames of known ones.
async fn write_organisations(
    tx: &Transaction<'_>,
    s: &str,
    orgs: Vec<OrgRow>,
    renames: HashMap<String, String>,
) -> Result<(), tokio_postgres::Error> {
    if !orgs.is_empty() {
        let (ids, names, countries, types, sizes) = multiunzip(orgs);
        tx.execute(
            &format!(
                "INSERT INTO {s}.organisations SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 ON CONFLICT (organisation_id) DO UPDATE SET name = EXCLUDED.name"
            ),
            &[&ids, &names, &countries, &types, &sizes],
        )
        .await?;
    }
    if !renames.is_empty() {
        let (ids, names): (Vec<String>, Vec<String>) = renames.into_iter().unzip();
        tx.execute(
            &format!(
                "UPDATE {s}.organisations o SET name = u.name FROM unnest($1::text[], $2::text[]) u(id, name)
                 WHERE o.organisation_id = u.id"
            ),
            &[&ids, &names],
        )
        .await?;
    }
    Ok(())
}

/// Memberships with one event in the batch: the ended ones, then the begun ones (a plain insert: joining an
/// active membership fails the batch, and the event-by-event fallback quarantines that event); then those with
/// several, in order.
async fn write_memberships(
    tx: &Transaction<'_>,
    s: &str,
    members: &HashMap<Pair, (bool, Option<Date>)>,
    member_order: Vec<Pair>,
    in_order: Vec<(Pair, Option<Date>)>,
) -> Result<(), tokio_postgres::Error> {
    let (mut ended_c, mut ended_o, mut active_c, mut active_o, mut active_on) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for key in member_order {
        let (ended, active) = members[&key];
        if ended {
            ended_c.push(key.0.clone());
            ended_o.push(key.1.clone());
        }
        if let Some(on) = active {
            active_c.push(key.0);
            active_o.push(key.1);
            active_on.push(on);
        }
    }
    if !ended_c.is_empty() {
        tx.execute(
            &format!(
                "DELETE FROM {s}.members m USING unnest($1::text[], $2::text[]) u(c, o)
                 WHERE m.coalition_id = u.c AND m.organisation_id = u.o"
            ),
            &[&ended_c, &ended_o],
        )
        .await?;
    }
    if !active_c.is_empty() {
        tx.execute(
            &format!("INSERT INTO {s}.members SELECT * FROM unnest($1::text[], $2::text[], $3::date[])"),
            &[&active_c, &active_o, &active_on],
        )
        .await?;
    }
    if !in_order.is_empty() {
        let join = tx.prepare(&format!("INSERT INTO {s}.members VALUES ($1, $2, $3)")).await?;
        let leave =
            tx.prepare(&format!("DELETE FROM {s}.members WHERE coalition_id = $1 AND organisation_id = $2")).await?;
        let mut p = Pipeline::new(tx);
        for ((c, o), joined) in in_order {
            match joined {
                Some(on) => p.push(&join, params![c, o, on]),
                None => p.push(&leave, params![c, o]),
            }
        }
        p.run().await?;
    }
    Ok(())
}

/// Joins and leaves per coalition, month, organisation type and size, added to what is there.
async fn write_months(
    tx: &Transaction<'_>,
    s: &str,
    months: HashMap<(String, String, Date), (i64, i64)>,
) -> Result<(), tokio_postgres::Error> {
    if months.is_empty() {
        return Ok(());
    }
    let (mut c, mut o, mut m, mut j, mut l) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((coalition, org, month), (joins, leaves)) in months {
        c.push(coalition);
        o.push(org);
        m.push(month);
        j.push(joins);
        l.push(leaves);
    }
    // The organisation's type and size ('unknown' if it was never registered, which the rules prevent).
    tx.execute(
        &format!(
            "INSERT INTO {s}.membership_months (coalition_id, month, organisation_type, size, joins, leaves)
             SELECT u.c, u.m, coalesce(g.organisation_type, 'unknown'), coalesce(g.size, 'unknown'),
                    sum(u.j), sum(u.l)
             FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[], $5::bigint[]) u(c, o, m, j, l)
             LEFT JOIN {s}.organisations g ON g.organisation_id = u.o
             GROUP BY 1, 2, 3, 4
             ON CONFLICT (coalition_id, month, organisation_type, size)
             DO UPDATE SET joins = {s}.membership_months.joins + EXCLUDED.joins,
                           leaves = {s}.membership_months.leaves + EXCLUDED.leaves"
        ),
        &[&c, &o, &m, &j, &l],
    )
    .await?;
    Ok(())
}

type OrgRow = (String, String, String, &'static str, &'static str);
type OrgColumns = (Vec<String>, Vec<String>, Vec<String>, Vec<&'static str>, Vec<&'static str>);

/// Splits organisation rows into one column each.
fn multiunzip(rows: Vec<OrgRow>) -> OrgColumns {
    let mut out: OrgColumns = Default::default();
    for (a, b, c, d, e) in rows {
        out.0.push(a);
        out.1.push(b);
        out.2.push(c);
        out.3.push(d);
        out.4.push(e);
    }
    out
}
