//! Every report the query API serves: the read model it reads, its view, the columns it returns and the view
//! columns its filters use. The query service builds its SQL from these; `docs/reporting.md` documents the views.
use crate::ReadModel;

/// One reporting call over one view.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// The gRPC method (named in errors).
    pub call: &'static str,
    /// The read model whose position the answer reflects.
    pub read_model: ReadModel,
    /// The view read (qualified, `reporting.<view>`).
    pub view: &'static str,
    /// The columns returned, in the order the handler maps them.
    pub select: &'static str,
    pub order: &'static str,
    /// The view columns each filter compares (`None`: the report does not take that filter).
    pub coalition: Option<&'static str>,
    pub organisation: Option<&'static str>,
    pub country: Option<&'static str>,
    pub pillar: Option<&'static str>,
    /// The pillar column is an array (`pillar = ANY(column)`).
    pub pillar_is_array: bool,
    /// A date expression compared with `from`/`to`.
    pub period: Option<&'static str>,
    /// Rows that belong to no coalition (context figures): every reader may read them.
    pub context: bool,
    /// A condition on the request's `as_of` date (default: today), written with `$on` for it.
    pub on: Option<&'static str>,
}

/// The fields most reports leave unset.
const NONE: Report = Report {
    call: "",
    read_model: ReadModel::CoalitionGrowth,
    view: "",
    select: "",
    order: "",
    coalition: None,
    organisation: None,
    country: None,
    pillar: None,
    pillar_is_array: false,
    period: None,
    context: false,
    on: None,
};

pub const COALITION_GROWTH: Report = Report {
    call: "CoalitionGrowth",
    read_model: ReadModel::CoalitionGrowth,
    view: "reporting.coalition_growth_monthly",
    select: "coalition_id, month, joins, leaves, net, cumulative",
    order: "coalition_id, month",
    coalition: Some("coalition_id"),
    country: Some("country"),
    period: Some("month"),
    ..NONE
};

pub const MEMBERS_BY_TYPE: Report = Report {
    call: "MembersByType",
    read_model: ReadModel::CoalitionGrowth,
    view: "reporting.coalition_growth_by_type",
    select: "coalition_id, month, organisation_type, size, joins, leaves, net",
    order: "coalition_id, month, organisation_type, size",
    coalition: Some("coalition_id"),
    country: Some("country"),
    period: Some("month"),
    ..NONE
};

pub const CURRENT_MEMBERS: Report = Report {
    call: "CurrentMembers",
    read_model: ReadModel::CoalitionGrowth,
    view: "reporting.coalition_members_current",
    select: "coalition_id, name, country, members, kind, launched_on, website_url, connected_on, deactivated_on",
    order: "coalition_id",
    coalition: Some("coalition_id"),
    country: Some("country"),
    ..NONE
};

pub const NATIONAL_COALITIONS: Report = Report {
    call: "NationalCoalitions",
    read_model: ReadModel::CoalitionGrowth,
    view: "reporting.national_coalitions_monthly",
    select: "month, national_coalitions, connected_sites",
    order: "month",
    period: Some("month"),
    ..NONE
};

pub const PLEDGE_PIPELINE: Report = Report {
    call: "PledgePipeline",
    read_model: ReadModel::Pledges,
    view: "reporting.pledge_pipeline",
    select: "coalition_id, status, pledges",
    order: "coalition_id, status",
    coalition: Some("coalition_id"),
    country: Some("country"),
    ..NONE
};

pub const PLEDGE_SCOREBOARD: Report = Report {
    call: "PledgeScoreboard",
    read_model: ReadModel::Pledges,
    view: "reporting.pledge_scoreboard",
    select: "pledge_id, organisation_id, coalition_id, title, status, indicator, target, achieved,
             pct_attained::float8, last_report_on, corrections",
    order: "pledge_id, indicator",
    coalition: Some("coalition_id"),
    organisation: Some("organisation_id"),
    country: Some("country"),
    pillar: Some("pillars"),
    pillar_is_array: true,
    ..NONE
};

pub const ORGANISATION_SCOREBOARD: Report = Report {
    call: "OrganisationScoreboard",
    read_model: ReadModel::Pledges,
    view: "reporting.organisation_scoreboard",
    select: "organisation_id, name, indicator, pledges, target, achieved, pct_attained::float8,
             last_report_on, corrections",
    order: "organisation_id, indicator",
    organisation: Some("organisation_id"),
    country: Some("country"),
    ..NONE
};

pub const OUTCOMES: Report = Report {
    call: "Outcomes",
    read_model: ReadModel::Outcomes,
    view: "reporting.outcomes_yearly",
    select: "year, pillar, country, indicator, amount, people, women, women_share::float8, coalition_id",
    order: "year, pillar, country, coalition_id, indicator",
    coalition: Some("coalition_id"),
    country: Some("country"),
    pillar: Some("pillar"),
    period: Some("make_date(year, 1, 1)"),
    ..NONE
};

pub const PARTICIPATION: Report = Report {
    call: "Participation",
    read_model: ReadModel::Participation,
    view: "reporting.participation_quarterly",
    select: "quarter, coalition_id, pillar, source, held, participants, completed, certified, women,
             women_share::float8",
    order: "quarter, coalition_id, pillar, source",
    coalition: Some("coalition_id"),
    country: Some("country"),
    pillar: Some("pillar"),
    period: Some("quarter"),
    ..NONE
};

pub const CONTENT_SHARED: Report = Report {
    call: "ContentShared",
    read_model: ReadModel::Participation,
    view: "reporting.content_shared_quarterly",
    select: "coalition_id, quarter, content_type, shared, withdrawn",
    order: "coalition_id, quarter, content_type",
    coalition: Some("coalition_id"),
    country: Some("country"),
    period: Some("quarter"),
    ..NONE
};

/// Members with nothing recorded in the year before a date. Its SQL (a join of the two engagement views) is the
/// handler's own; the filters compare the members view, aliased `m`.
pub const DORMANT_MEMBERS: Report = Report {
    call: "DormantMembers",
    read_model: ReadModel::Engagement,
    view: "reporting.member_engagement",
    select: "coalition_id, organisation_id, name, country, joined_on",
    order: "coalition_id, organisation_id",
    coalition: Some("m.coalition_id"),
    country: Some("m.country"),
    ..NONE
};

/// The EU's Digital Decade targets: context figures loaded by a migration, answered at the growth read model's
/// position.
pub const DIGITAL_DECADE_TARGETS: Report = Report {
    call: "DigitalDecadeTargets",
    read_model: ReadModel::CoalitionGrowth,
    view: "reporting.digital_decade_targets",
    select: "code, description, unit, target_value::float8, target_year, latest_value::float8, latest_year,
             earlier_value::float8, earlier_year",
    order: "code",
    context: true,
    ..NONE
};

pub const PROGRAMME_OVERVIEW: Report = Report {
    call: "ProgrammeOverview",
    read_model: ReadModel::Programmes,
    view: "reporting.programme_overview",
    select: "programme_id, coalition_id, country, name, owner, launched_on, ended_on, priority_areas, working_groups,
             open_groups, members, participants, meetings, anchored_meetings, anchoring_rate::float8, deliverables",
    order: "programme_id",
    coalition: Some("coalition_id"),
    country: Some("country"),
    period: Some("launched_on"),
    ..NONE
};

pub const PROGRAMME_MEMBERS_BY_SECTOR: Report = Report {
    call: "ProgrammeMembersBySector",
    read_model: ReadModel::Programmes,
    view: "reporting.programme_members_by_sector",
    select: "programme_id, sector, members, appointed",
    order: "programme_id, sector",
    coalition: Some("coalition_id"),
    country: Some("country"),
    ..NONE
};

pub const WORKING_GROUPS_QUARTERLY: Report = Report {
    call: "WorkingGroupsQuarterly",
    read_model: ReadModel::Programmes,
    view: "reporting.working_groups_quarterly",
    select: "programme_id, group_id, area_id, quarter, joins, leaves, participants, meetings, anchored, present,
             deliverables",
    order: "programme_id, group_id, quarter",
    coalition: Some("coalition_id"),
    country: Some("country"),
    period: Some("quarter"),
    ..NONE
};

/// The partnership group on the request's `as_of` date.
pub const PARTNERSHIP_GROUP: Report = Report {
    call: "PartnershipGroup",
    read_model: ReadModel::Programmes,
    view: "reporting.partnership_members",
    select: "programme_id, member_id, name, organisation, sector, role, appointed_on, left_on",
    order: "programme_id, member_id, appointed_on",
    coalition: Some("coalition_id"),
    country: Some("country"),
    on: Some("appointed_on <= $on AND (left_on IS NULL OR left_on > $on)"),
    ..NONE
};

pub const NATIONAL_COORDINATORS: Report = Report {
    call: "NationalCoordinators",
    read_model: ReadModel::Programmes,
    view: "reporting.national_coordinators",
    select: "country, coalition_id, name, body, from_on, until_on",
    order: "country, from_on",
    coalition: Some("coalition_id"),
    country: Some("country"),
    ..NONE
};

/// Every report, in the order of the query API's methods.
pub const REPORTS: &[&Report] = &[
    &COALITION_GROWTH,
    &MEMBERS_BY_TYPE,
    &CURRENT_MEMBERS,
    &NATIONAL_COALITIONS,
    &PLEDGE_PIPELINE,
    &PLEDGE_SCOREBOARD,
    &ORGANISATION_SCOREBOARD,
    &OUTCOMES,
    &PARTICIPATION,
    &CONTENT_SHARED,
    &DORMANT_MEMBERS,
    &DIGITAL_DECADE_TARGETS,
    &PROGRAMME_OVERVIEW,
    &PROGRAMME_MEMBERS_BY_SECTOR,
    &WORKING_GROUPS_QUARTERLY,
    &PARTNERSHIP_GROUP,
    &NATIONAL_COORDINATORS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_reads_a_view_of_its_read_model_or_a_context_view() {
        for r in REPORTS {
            let view = r.view.strip_prefix("reporting.").unwrap_or_else(|| panic!("{}: unqualified view", r.call));
            assert!(
                r.context || r.read_model.spec().views.contains(&view),
                "{}: {view} is not a view of {}",
                r.call,
                r.read_model
            );
            assert!(!r.select.is_empty() && !r.order.is_empty(), "{}", r.call);
        }
    }

    #[test]
    fn every_view_is_read_by_some_report() {
        for m in ReadModel::ALL {
            for v in m.spec().views {
                let read = REPORTS.iter().any(|r| r.view == format!("reporting.{v}"));
                // organisation_engagement_days is read by DormantMembers' own SQL, beside member_engagement.
                assert!(read || *v == "organisation_engagement_days", "no report reads reporting.{v}");
            }
        }
    }
}
