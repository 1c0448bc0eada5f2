//! Sweden's innovation partnership programme "Skills supply and lifelong learning" (its priority areas, a
//! partnership group of 20, the seven working groups with participants, meetings and deliverables) and the
//! member states' national coordinators from 2022. What the source pages say and what is generated is told
//! apart in `docs/domain.md`.
use ledger_proto::v1::{self, event_payload::Event as P};
use time::{Date, Duration};

use super::builder::Builder;
use super::calendar::{d, end_of_history, wire_date};

/// The programme's aggregate id.
pub const PROGRAMME: &str = "se-skills-supply";

/// The priority areas (source: the programme's page), the first four named at the launch, the other three added.
pub const AREAS: [(&str, &str); 7] = [
    ("integrated-package", "Integrated package for infrastructure for lifelong learning"),
    ("digital-infrastructure", "Digital infrastructure for lifelong learning"),
    ("skills-visible", "Making skills and needs visible"),
    ("attitudes-incentives", "Attitudes, incentives and environments for lifelong learning"),
    ("future-competitiveness", "Education and training for future competitiveness"),
    ("transitions", "Transitions, major establishments and recessions"),
    ("attracting-skills", "Attracting, integrating and retaining skills"),
];

/// The partnership group's members by sector (generated: the source says around 20, from these sectors).
const PARTNERSHIP: [(v1::Sector, usize); 6] = [
    (v1::Sector::LargeCompany, 5),
    (v1::Sector::SmallCompany, 3),
    (v1::Sector::HigherEducation, 4),
    (v1::Sector::GovernmentAgency, 4),
    (v1::Sector::CivilSociety, 2),
    (v1::Sector::PublicSector, 2),
];

/// The bodies a national coordinator is drawn from (generated).
const BODIES: [&str; 5] = [
    "Ministry of Education",
    "Ministry responsible for digital affairs",
    "Ministry of Labour",
    "Ministry of Economy",
    "National digitalisation agency",
];

fn launch() -> Date {
    d(2023, 1, 19)
}

fn sector_name(s: v1::Sector) -> &'static str {
    match s {
        v1::Sector::LargeCompany => "Large company",
        v1::Sector::SmallCompany => "Small company",
        v1::Sector::HigherEducation => "University",
        v1::Sector::GovernmentAgency => "Government agency",
        v1::Sector::CivilSociety => "Civil society organisation",
        v1::Sector::PublicSector => "Region",
        v1::Sector::Unspecified => "Organisation",
    }
}

/// The programme, then the coordinators.
pub(super) fn programmes(b: &mut Builder) {
    sweden(b);
    coordinators(b);
}

fn push(b: &mut Builder, on: Date, event: P) {
    b.push(on, v1::AggregateType::Programme, PROGRAMME, event);
}

fn area(i: usize) -> v1::PriorityArea {
    v1::PriorityArea { area_id: AREAS[i].0.into(), title: AREAS[i].1.into() }
}

/// Over 100 lines because it is the programme's whole story, in date order.
fn sweden(b: &mut Builder) {
    let launched = launch();
    push(
        b,
        launched,
        P::ProgrammeLaunched(v1::ProgrammeLaunched {
            coalition_id: "se".into(),
            country: "SE".into(),
            name: "Skills supply and lifelong learning".into(),
            owner: "Government Offices of Sweden".into(),
            priority_areas: (0..4).map(area).collect(),
            launched_on: wire_date(launched),
        }),
    );
    let added = d(2023, 6, 15);
    for i in 4..AREAS.len() {
        push(b, added, P::PriorityAreaAdded(v1::PriorityAreaAdded { area: Some(area(i)), added_on: wire_date(added) }));
    }
    // The partnership group: appointed within the launch's month; one member replaced by another of the sector.
    let mut n = 0;
    for (sector, count) in PARTNERSHIP {
        for k in 1..=count {
            n += 1;
            let on = b.day_between(launched, launched + Duration::days(30));
            let role = if n == 1 { "chair" } else { "member" };
            push(b, on, appointed(&format!("m{n:02}"), sector, &format!("{} {k}", sector_name(sector)), role, on));
        }
    }
    let left = b.day_between(d(2024, 9, 1), d(2025, 3, 31));
    push(
        b,
        left,
        P::PartnershipMemberLeft(v1::PartnershipMemberLeft {
            member_id: "m03".into(),
            left_on: wire_date(left),
            reason: "took up a post abroad".into(),
        }),
    );
    let next = left + Duration::days(45);
    push(b, next, appointed("m21", v1::Sector::LargeCompany, "Large company 6", "member", next));
    // The seven working groups, one per priority area, started once their area existed.
    for (g, (area_id, title)) in AREAS.iter().enumerate() {
        let earliest = if g < 4 { d(2023, 3, 1) } else { added + Duration::days(14) };
        let started = b.day_between(earliest, earliest + Duration::days(90));
        working_group(b, g + 1, area_id, title, started);
    }
}

fn appointed(id: &str, sector: v1::Sector, organisation: &str, role: &str, on: Date) -> P {
    P::PartnershipMemberAppointed(v1::PartnershipMemberAppointed {
        member_id: id.into(),
        name: format!("Partnership member {}", &id[1..]),
        organisation: organisation.into(),
        sector: sector.into(),
        role: role.into(),
        appointed_on: wire_date(on),
    })
}

/// One working group: 8 to 15 participants joining in its first month, a meeting every six to ten weeks until the
/// end of the history (every third anchored with the partnership group, at random), participants now and then
/// leaving and others joining, and a deliverable about every fourth meeting.
fn working_group(b: &mut Builder, g: usize, area_id: &str, title: &str, started: Date) {
    let group = format!("wg{g}");
    push(
        b,
        started,
        P::WorkingGroupStarted(v1::WorkingGroupStarted {
            group_id: group.clone(),
            area_id: area_id.into(),
            name: title.into(),
            objective: format!("Proposals for the partnership group on: {}", title.to_lowercase()),
            started_on: wire_date(started),
        }),
    );
    let sectors = [
        v1::Sector::LargeCompany,
        v1::Sector::SmallCompany,
        v1::Sector::HigherEducation,
        v1::Sector::GovernmentAgency,
        v1::Sector::CivilSociety,
        v1::Sector::PublicSector,
    ];
    let mut active: Vec<String> = Vec::new();
    let mut next_participant = 0;
    let mut join = |b: &mut Builder, on: Date, active: &mut Vec<String>| {
        next_participant += 1;
        let id = format!("wg{g}-p{next_participant:02}");
        let sector = b.rng.pick(&sectors);
        let organisation = format!("{} {}", sector_name(sector), 1 + b.rng.below(40));
        push(
            b,
            on,
            P::WorkingGroupParticipantJoined(v1::WorkingGroupParticipantJoined {
                group_id: group.clone(),
                participant_id: id.clone(),
                name: format!("Participant {next_participant} of working group {g}"),
                organisation,
                sector: sector.into(),
                joined_on: wire_date(on),
            }),
        );
        active.push(id);
    };
    let first = 8 + b.rng.below(8);
    let mut day = started;
    for _ in 0..first {
        day = b.day_between(day, started + Duration::days(30));
        join(b, day, &mut active);
    }
    let mut held = started + Duration::days(40);
    let mut meetings = 0;
    while held <= end_of_history() {
        meetings += 1;
        // Now and then someone leaves and someone new joins, before the meeting.
        if active.len() > 4 && b.rng.chance(0.15) {
            let who = active.remove(b.rng.below(active.len() as u64) as usize);
            let on = held - Duration::days(7);
            push(
                b,
                on,
                P::WorkingGroupParticipantLeft(v1::WorkingGroupParticipantLeft {
                    group_id: group.clone(),
                    participant_id: who,
                    left_on: wire_date(on),
                }),
            );
        }
        if b.rng.chance(0.2) {
            join(b, held - Duration::days(5), &mut active);
        }
        let mut present: Vec<String> = active.iter().filter(|_| b.rng.chance(0.8)).cloned().collect();
        if present.is_empty() {
            present.push(active[0].clone());
        }
        let anchored = b.rng.chance(1.0 / 3.0);
        push(
            b,
            held,
            P::WorkingGroupMeetingHeld(v1::WorkingGroupMeetingHeld {
                group_id: group.clone(),
                meeting_id: format!("wg{g}-meeting-{meetings:02}"),
                held_on: wire_date(held),
                anchored,
                present,
            }),
        );
        if meetings % 4 == 0 {
            let on = held + Duration::days(14);
            if on <= end_of_history() {
                push(
                    b,
                    on,
                    P::WorkingGroupDeliverableReported(v1::WorkingGroupDeliverableReported {
                        group_id: group.clone(),
                        deliverable_id: format!("wg{g}-d{}", meetings / 4),
                        title: format!("Working group {g}: report {}", meetings / 4),
                        reported_on: wire_date(on),
                    }),
                );
            }
        }
        held += Duration::days(42 + b.rng.below(29) as i64);
    }
}

/// Every member state's national coordinator, nominated in 2022 (the Structured Dialogue's first year); about a
/// third replaced once since.
fn coordinators(b: &mut Builder) {
    for state in ledger_domain::ids::EU_MEMBER_STATES {
        let nominated = b.day_between(d(2022, 2, 1), d(2022, 9, 30));
        let body = b.rng.pick(&BODIES).to_owned();
        let name = format!("National coordinator of {state}");
        let event = P::NationalCoordinatorNominated(v1::NationalCoordinatorNominated {
            member_state: state.into(),
            name,
            body,
            nominated_on: wire_date(nominated),
        });
        b.push(nominated, v1::AggregateType::NationalCoordinator, &state.to_lowercase(), event);
        if b.rng.chance(0.35) {
            let on = b.day_between(d(2023, 1, 1), d(2026, 6, 30));
            let body = b.rng.pick(&BODIES).to_owned();
            let name = format!("National coordinator of {state} (from {})", on.year());
            let event = P::NationalCoordinatorReplaced(v1::NationalCoordinatorReplaced {
                name,
                body,
                replaced_on: wire_date(on),
                reason: "a new government".into(),
            });
            b.push(on, v1::AggregateType::NationalCoordinator, &state.to_lowercase(), event);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ledger_domain::rules::{AggregateState, CoalitionFacts, Context};
    use ledger_domain::{Aggregate, AggregateType, CountryCode, EventKind};

    use super::*;

    /// The generated programme and coordinators, in the order the demo appends them, keep every rule.
    #[test]
    fn the_programme_and_the_coordinators_keep_the_rules_in_history_order() {
        let h = super::super::generate(2013);
        let ctx = Context {
            coalition: Some(CoalitionFacts {
                country: Some(CountryCode::parse("c", "SE").unwrap()),
                launched_on: d(2018, 5, 3),
                open_pledging: false,
                website_connected: true,
                deactivated: false,
            }),
            ..Default::default()
        };
        let mut states: HashMap<Aggregate, AggregateState> = HashMap::new();
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        for it in &h {
            let agg = ledger_proto::convert::aggregate_to_domain(it.request.aggregate.as_ref()).unwrap();
            if !matches!(agg.kind(), AggregateType::Programme | AggregateType::NationalCoordinator) {
                continue;
            }
            let kind = ledger_proto::convert::payload_to_domain(it.request.events[0].payload.as_ref()).unwrap();
            let state = states.entry(agg.clone()).or_insert_with(|| AggregateState::new(agg.kind()));
            if let Err(e) = state.decide(&agg, std::slice::from_ref(&kind), &ctx) {
                panic!("{agg} on {}: {kind:?}: {e}", it.on);
            }
            state.apply(&kind);
            *counts.entry(kind.type_name()).or_default() += 1;
        }
        let AggregateState::Programme(Some(p)) =
            &states[&Aggregate::parse(AggregateType::Programme, PROGRAMME).unwrap()]
        else {
            panic!("no programme");
        };
        assert_eq!((p.areas.len(), p.groups.len()), (7, 7));
        assert_eq!(p.members.values().filter(|m| m.active()).count(), 20, "a partnership group of 20");
        assert_eq!(counts["national_coordinator_nominated"], 27);
        assert!(counts["working_group_meeting_held"] > 7 * 10, "{counts:?}");
        assert!(counts["working_group_deliverable_reported"] >= 7, "{counts:?}");
        assert!(matches!(kind_of(&h, "se"), Some(EventKind::NationalCoordinatorNominated(_))));
    }

    fn kind_of(h: &[super::super::Item], coordinator: &str) -> Option<EventKind> {
        h.iter()
            .find(|it| {
                it.request
                    .aggregate
                    .as_ref()
                    .is_some_and(|a| a.r#type == v1::AggregateType::NationalCoordinator as i32 && a.id == coordinator)
            })
            .and_then(|it| ledger_proto::convert::payload_to_domain(it.request.events[0].payload.as_ref()).ok())
    }
}
