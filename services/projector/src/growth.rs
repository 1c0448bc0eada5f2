//! The coalition-growth read model: coalitions, organisations, current members, and joins/leaves per month.
//!
//! Tables live in a schema per build (`proj_coalition_growth_v<version>[_r<n>]`); dashboards and the query API
//! read them only through the `reporting` views, which are switched atomically when a rebuild finishes.
use ledger_domain::EventKind;
use ledger_domain::event::{CoalitionKind, OrganisationSize, OrganisationType};
use ledger_proto::RecordedEvent;
use time::Date;
use tokio_postgres::Transaction;

use crate::Projection;

#[derive(Debug, Clone, Copy, Default)]
pub struct CoalitionGrowth;

fn month_of(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

fn org_type(t: OrganisationType) -> &'static str {
    match t {
        OrganisationType::IctCompany => "ict_company",
        OrganisationType::EducationProvider => "education_provider",
        OrganisationType::PublicAuthority => "public_authority",
        OrganisationType::EmploymentService => "employment_service",
        OrganisationType::Association => "association",
        OrganisationType::NonProfit => "non_profit",
        OrganisationType::SocialPartner => "social_partner",
    }
}

impl Projection for CoalitionGrowth {
    const NAME: &'static str = "coalition_growth";
    const VERSION: i32 = 1;
    const TABLES: &'static [&'static str] = &["coalitions", "organisations", "members", "membership_months"];

    fn create_sql(s: &str) -> String {
        format!(
            "CREATE TABLE {s}.coalitions (
                 coalition_id text PRIMARY KEY, name text NOT NULL, kind text NOT NULL, country text,
                 launched_on date NOT NULL);
             CREATE TABLE {s}.organisations (
                 organisation_id text PRIMARY KEY, name text NOT NULL, country text NOT NULL,
                 organisation_type text NOT NULL, size text NOT NULL);
             CREATE TABLE {s}.members (
                 coalition_id text NOT NULL, organisation_id text NOT NULL, joined_on date NOT NULL,
                 PRIMARY KEY (coalition_id, organisation_id));
             CREATE TABLE {s}.membership_months (
                 coalition_id text NOT NULL, month date NOT NULL,
                 joins bigint NOT NULL DEFAULT 0 CHECK (joins >= 0),
                 leaves bigint NOT NULL DEFAULT 0 CHECK (leaves >= 0),
                 PRIMARY KEY (coalition_id, month));"
        )
    }

    fn views_sql(s: &str) -> String {
        format!(
            "CREATE OR REPLACE VIEW reporting.coalition_growth_monthly AS
                 SELECT coalition_id, month, joins, leaves, joins - leaves AS net,
                        sum(joins - leaves) OVER (PARTITION BY coalition_id ORDER BY month)::bigint AS cumulative
                 FROM {s}.membership_months;
             COMMENT ON VIEW reporting.coalition_growth_monthly IS
                 'Members per coalition per month: joins, leaves, net = joins - leaves, cumulative = members at month end';
             CREATE OR REPLACE VIEW reporting.coalition_members_current AS
                 SELECT c.coalition_id, c.name, c.kind, c.country, c.launched_on,
                        count(m.organisation_id)::bigint AS members
                 FROM {s}.coalitions c LEFT JOIN {s}.members m USING (coalition_id)
                 GROUP BY c.coalition_id, c.name, c.kind, c.country, c.launched_on;
             COMMENT ON VIEW reporting.coalition_members_current IS
                 'Each coalition with its current number of active members';"
        )
    }

    async fn apply(tx: &Transaction<'_>, s: &str, events: &[RecordedEvent]) -> Result<(), tokio_postgres::Error> {
        let coalition = tx
            .prepare(&format!(
                "INSERT INTO {s}.coalitions VALUES ($1, $2, $3, $4, $5) ON CONFLICT (coalition_id) DO NOTHING"
            ))
            .await?;
        let organisation = tx
            .prepare(&format!(
                "INSERT INTO {s}.organisations VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (organisation_id) DO UPDATE SET name = EXCLUDED.name"
            ))
            .await?;
        let join = tx.prepare(&format!("INSERT INTO {s}.members VALUES ($1, $2, $3)")).await?;
        let leave =
            tx.prepare(&format!("DELETE FROM {s}.members WHERE coalition_id = $1 AND organisation_id = $2")).await?;
        let month = tx
            .prepare(&format!(
                "INSERT INTO {s}.membership_months (coalition_id, month, joins, leaves) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (coalition_id, month)
                 DO UPDATE SET joins = {s}.membership_months.joins + EXCLUDED.joins,
                               leaves = {s}.membership_months.leaves + EXCLUDED.leaves"
            ))
            .await?;
        // One statement per future, sent back to back (pipelined): the server runs them in this order.
        let mut pending = Vec::new();
        for r in events {
            let id = r.aggregate.id().to_owned();
            match &r.event.kind {
                EventKind::CoalitionEstablished(e) => {
                    let kind = match e.kind {
                        CoalitionKind::Eu => "eu",
                        CoalitionKind::National => "national",
                    };
                    let country = e.country.as_ref().map(|c| c.as_str().to_owned());
                    let (name, launched) = (e.name.clone(), e.launched_on);
                    let st = coalition.clone();
                    pending.push(Box::pin(
                        async move { tx.execute(&st, &[&id, &name, &kind, &country, &launched]).await },
                    ) as std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>>);
                }
                EventKind::OrganisationRegistered(e) => {
                    let size = match e.size {
                        OrganisationSize::Sme => "sme",
                        OrganisationSize::Large => "large",
                    };
                    let (name, country, ty) =
                        (e.name.clone(), e.country.as_str().to_owned(), org_type(e.organisation_type));
                    let st = organisation.clone();
                    pending.push(Box::pin(async move { tx.execute(&st, &[&id, &name, &country, &ty, &size]).await }));
                }
                EventKind::MembershipApproved(e) => {
                    let (c, o, on) = (e.coalition_id.to_string(), e.organisation_id.to_string(), e.joined_on);
                    let (st, mt) = (join.clone(), month.clone());
                    let c2 = c.clone();
                    pending.push(Box::pin(async move { tx.execute(&st, &[&c, &o, &on]).await }));
                    pending.push(Box::pin(async move { tx.execute(&mt, &[&c2, &month_of(on), &1i64, &0i64]).await }));
                }
                EventKind::MembershipLeft(e) => {
                    let (c, o, on) = (e.coalition_id.to_string(), e.organisation_id.to_string(), e.left_on);
                    let (st, mt) = (leave.clone(), month.clone());
                    let c2 = c.clone();
                    pending.push(Box::pin(async move { tx.execute(&st, &[&c, &o]).await }));
                    pending.push(Box::pin(async move { tx.execute(&mt, &[&c2, &month_of(on), &0i64, &1i64]).await }));
                }
                // Pledges and the rest feed other read models.
                _ => {}
            }
        }
        futures::future::try_join_all(pending).await?;
        Ok(())
    }
}
