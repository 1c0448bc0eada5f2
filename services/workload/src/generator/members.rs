//! Organisations and their memberships. EU-level members follow the published curve; national coalitions grow
//! from a founding group at launch (Sweden: 7 founders, 20 by March 2019, 24 later in 2019). Each organisation is
//! registered the day it joins; a few leave later.
use ledger_proto::v1::{self, event_payload::Event as P};
use time::{Date, Duration};

use super::builder::Builder;
use super::calendar::{d, end_of_history, eu_launch, wire_date};
use super::choices::{EU_COUNTRIES, ORG_TYPES, PILLARS};
use super::coalitions::NATIONAL;
use super::curves::{eu_members_at, schedule};

/// EU-level members by the end of the history.
const EU_MEMBERS: usize = 700;

/// A membership of the history, which later parts draw their pledges, courses and activities from.
pub(super) struct Member {
    pub(super) org: String,
    pub(super) coalition: String,
    pub(super) joined: Date,
    /// The pillar the organisation works in (its pledges', courses' and activities' pillar).
    pub(super) pillar: v1::Pillar,
}

/// Registers the organisations, in order of their coalition (EU first, then each national one), and appends
/// their joins and leaves; returns the memberships.
pub(super) fn organisations_and_memberships(b: &mut Builder) -> Vec<Member> {
    let mut registered = 0;
    let mut members = eu_members(b, &mut registered);
    members.extend(national_members(b, &mut registered));
    joins_and_leaves(b, &members);
    members
}

fn eu_members(b: &mut Builder, registered: &mut usize) -> Vec<Member> {
    let mut members = Vec::new();
    for joined in schedule(eu_members_at, eu_launch(), end_of_history(), EU_MEMBERS) {
        let country = b.rng.pick(&EU_COUNTRIES);
        let org = new_organisation(b, registered, joined, country);
        let pillar = b.rng.pick(&PILLARS);
        members.push(Member { org, coalition: "eu".into(), joined, pillar });
    }
    members
}

fn national_members(b: &mut Builder, registered: &mut usize) -> Vec<Member> {
    let end = end_of_history();
    let mut members = Vec::new();
    for (id, country, (y, m, day), _) in NATIONAL {
        let launched = d(y, m, day);
        let (founders, total) =
            if id == "se" { (7, 24) } else { (5 + b.rng.below(4) as usize, 14 + b.rng.below(16) as usize) };
        for i in 0..total {
            let joined = if i < founders {
                launched
            } else if id == "se" && i < 20 {
                b.day_between(launched + Duration::days(30), d(2019, 3, 15))
            } else if id == "se" {
                b.day_between(d(2019, 4, 1), d(2019, 11, 30))
            } else {
                b.day_between(launched + Duration::days(20), end.min(launched + Duration::days(365 * 6)))
            };
            let org = new_organisation(b, registered, joined, country);
            let pillar = b.rng.pick(&PILLARS);
            members.push(Member { org, coalition: id.into(), joined, pillar });
        }
    }
    members
}

/// Registers the next organisation (`org-0001`, `org-0002`, ...) on `on`; returns its id.
fn new_organisation(b: &mut Builder, registered: &mut usize, on: Date, country: &str) -> String {
    *registered += 1;
    let n = *registered;
    let id = format!("org-{n:04}");
    let ty = b.rng.pick(&ORG_TYPES);
    let size = if matches!(ty, v1::OrganisationType::IctCompany) && b.rng.chance(0.6) {
        v1::OrganisationSize::Sme
    } else if b.rng.chance(0.5) {
        v1::OrganisationSize::Large
    } else {
        v1::OrganisationSize::Sme
    };
    b.push(
        on,
        v1::AggregateType::Organisation,
        &id,
        P::OrganisationRegistered(v1::OrganisationRegistered {
            name: format!("Organisation {n} ({country})"),
            country: country.into(),
            organisation_type: ty.into(),
            size: size.into(),
        }),
    );
    id
}

/// Each membership's join, and for ~6% of those older than 400 days a leave at least 180 days after joining.
fn joins_and_leaves(b: &mut Builder, members: &[Member]) {
    let end = end_of_history();
    for Member { org, coalition, joined, .. } in members {
        let agg = format!("{coalition}.{org}");
        b.push(
            *joined,
            v1::AggregateType::Membership,
            &agg,
            P::MembershipApproved(v1::MembershipApproved {
                coalition_id: coalition.clone(),
                organisation_id: org.clone(),
                joined_on: wire_date(*joined),
            }),
        );
        if b.rng.chance(0.06) && *joined < end - Duration::days(400) {
            let on = b.day_between(*joined + Duration::days(180), end);
            b.push(
                on,
                v1::AggregateType::Membership,
                &agg,
                P::MembershipLeft(v1::MembershipLeft {
                    coalition_id: coalition.clone(),
                    organisation_id: org.clone(),
                    left_on: wire_date(on),
                    reason: "no longer active in digital skills".into(),
                }),
            );
        }
    }
}
