//! Payloads of programmes and national coordinators, for the tests that append them.
#![allow(dead_code)] // each test binary uses some

use ledger_proto::v1;
use v1::event_payload::Event as P;

use super::date;

pub fn launched(coalition: &str, country: &str, areas: &[&str]) -> P {
    P::ProgrammeLaunched(v1::ProgrammeLaunched {
        coalition_id: coalition.into(),
        country: country.into(),
        name: "Skills supply and lifelong learning".into(),
        owner: "Government Offices of Sweden".into(),
        priority_areas: areas
            .iter()
            .map(|a| v1::PriorityArea { area_id: (*a).into(), title: format!("Area {a}") })
            .collect(),
        launched_on: date(2023, 2, 1),
    })
}

pub fn area_added(area: &str, on: (i32, u32, u32)) -> P {
    P::PriorityAreaAdded(v1::PriorityAreaAdded {
        area: Some(v1::PriorityArea { area_id: area.into(), title: format!("Area {area}") }),
        added_on: date(on.0, on.1, on.2),
    })
}

pub fn appointed(member: &str, sector: v1::Sector, on: (i32, u32, u32)) -> P {
    P::PartnershipMemberAppointed(v1::PartnershipMemberAppointed {
        member_id: member.into(),
        name: format!("Member {member}"),
        organisation: format!("Organisation of {member}"),
        sector: sector.into(),
        role: "member".into(),
        appointed_on: date(on.0, on.1, on.2),
    })
}

pub fn member_left(member: &str, on: (i32, u32, u32)) -> P {
    P::PartnershipMemberLeft(v1::PartnershipMemberLeft {
        member_id: member.into(),
        left_on: date(on.0, on.1, on.2),
        reason: "a new post".into(),
    })
}

pub fn group_started(group: &str, area: &str, on: (i32, u32, u32)) -> P {
    P::WorkingGroupStarted(v1::WorkingGroupStarted {
        group_id: group.into(),
        area_id: area.into(),
        name: format!("Working group {group}"),
        objective: "A shared picture of skills needs".into(),
        started_on: date(on.0, on.1, on.2),
    })
}

pub fn joined(group: &str, who: &str, on: (i32, u32, u32)) -> P {
    P::WorkingGroupParticipantJoined(v1::WorkingGroupParticipantJoined {
        group_id: group.into(),
        participant_id: who.into(),
        name: format!("Participant {who}"),
        organisation: "Skolverket".into(),
        sector: v1::Sector::GovernmentAgency.into(),
        joined_on: date(on.0, on.1, on.2),
    })
}

pub fn participant_left(group: &str, who: &str, on: (i32, u32, u32)) -> P {
    P::WorkingGroupParticipantLeft(v1::WorkingGroupParticipantLeft {
        group_id: group.into(),
        participant_id: who.into(),
        left_on: date(on.0, on.1, on.2),
    })
}

pub fn meeting(group: &str, id: &str, on: (i32, u32, u32), anchored: bool, present: &[&str]) -> P {
    P::WorkingGroupMeetingHeld(v1::WorkingGroupMeetingHeld {
        group_id: group.into(),
        meeting_id: id.into(),
        held_on: date(on.0, on.1, on.2),
        anchored,
        present: present.iter().map(|p| (*p).into()).collect(),
    })
}

pub fn deliverable(group: &str, id: &str, on: (i32, u32, u32)) -> P {
    P::WorkingGroupDeliverableReported(v1::WorkingGroupDeliverableReported {
        group_id: group.into(),
        deliverable_id: id.into(),
        title: format!("Deliverable {id}"),
        reported_on: date(on.0, on.1, on.2),
    })
}

pub fn group_closed(group: &str, on: (i32, u32, u32)) -> P {
    P::WorkingGroupClosed(v1::WorkingGroupClosed {
        group_id: group.into(),
        closed_on: date(on.0, on.1, on.2),
        reason: "its objective is met".into(),
    })
}

pub fn ended(on: (i32, u32, u32)) -> P {
    P::ProgrammeEnded(v1::ProgrammeEnded { ended_on: date(on.0, on.1, on.2), reason: "the term ended".into() })
}

pub fn nominated(state: &str, on: (i32, u32, u32)) -> P {
    P::NationalCoordinatorNominated(v1::NationalCoordinatorNominated {
        member_state: state.into(),
        name: format!("Coordinator of {state}"),
        body: "Ministry of Education".into(),
        nominated_on: date(on.0, on.1, on.2),
    })
}

pub fn replaced(on: (i32, u32, u32)) -> P {
    P::NationalCoordinatorReplaced(v1::NationalCoordinatorReplaced {
        name: "The next coordinator".into(),
        body: "Ministry of Digitalisation".into(),
        replaced_on: date(on.0, on.1, on.2),
        reason: "a new government".into(),
    })
}
