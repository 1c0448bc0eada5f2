//! Innovation partnership programmes: launched once by its country's coalition; priority areas, a partnership
//! group and working groups whose participants meet and report deliverables; nothing dated before the launch,
//! nothing after the end, nothing in a closed group.
use std::collections::{HashMap, HashSet};

use time::Date;

use super::{AggregateState, Context, FactsNeeded, Rule, coalition_takes_part};
use crate::event::{
    PartnershipMemberAppointed, PartnershipMemberLeft, PriorityArea, PriorityAreaAdded, ProgrammeEnded,
    ProgrammeLaunched, WorkingGroupClosed, WorkingGroupDeliverableReported, WorkingGroupMeetingHeld,
    WorkingGroupParticipantJoined, WorkingGroupParticipantLeft, WorkingGroupStarted, business_date, reason, text,
};
use crate::{Aggregate, DomainError, Token};

/// The most priority areas a launch names and the most participants a meeting lists.
pub const MAX_LIST: usize = 1000;

/// Periods of membership (of the partnership group, of a working group): from, and until if it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Periods(Vec<(Date, Option<Date>)>);

impl Periods {
    /// Whether the latest period is still open.
    pub fn active(&self) -> bool {
        self.0.last().is_some_and(|(_, to)| to.is_none())
    }

    /// Whether one of the periods covers `on` (from `from`, up to but not including `to`).
    pub fn covers(&self, on: Date) -> bool {
        self.0.iter().any(|(from, to)| *from <= on && to.is_none_or(|to| on < to))
    }

    fn since(&self) -> Option<Date> {
        self.0.last().filter(|(_, to)| to.is_none()).map(|(from, _)| *from)
    }

    fn start(&mut self, on: Date) {
        self.0.push((on, None));
    }

    fn end(&mut self, on: Date) {
        if let Some((_, to @ None)) = self.0.last_mut() {
            *to = Some(on);
        }
    }
}

impl Periods {
    /// Whether a new period may start on `on`: not while one is open (`unique`), not before the last one ended
    /// (`dates`). `who` names the member or participant and where, for the message.
    fn may_start(
        periods: Option<&Self>,
        on: Date,
        unique: &'static str,
        dates: &'static str,
        who: &str,
    ) -> Result<(), DomainError> {
        match periods {
            Some(p) if p.active() => {
                Err(DomainError::rule(unique, format!("{who}: already so since {}", p.since().unwrap_or(on))))
            }
            Some(p) if p.0.last().and_then(|(_, to)| *to).is_some_and(|ended| on < ended) => {
                Err(DomainError::rule(dates, format!("{who}: again on {on}, before the date they left")))
            }
            _ => Ok(()),
        }
    }

    /// Whether the open period may end on `on`: there is one (`active`), and `on` is after it began (`dates`).
    fn may_end(
        periods: Option<&Self>,
        on: Date,
        active: &'static str,
        dates: &'static str,
        who: &str,
    ) -> Result<(), DomainError> {
        match periods.and_then(Self::since) {
            None => Err(DomainError::rule(active, format!("{who}: not so on {on}"))),
            // A period of no day at all would be a row of nothing in the read models, which the next period on
            // the same day could not be told from: leaving is after the start.
            Some(since) if on <= since => {
                Err(DomainError::rule(dates, format!("{who}: left on {on}, not after the start on {since}")))
            }
            Some(_) => Ok(()),
        }
    }
}

/// What the rules know of one working group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFacts {
    pub started_on: Date,
    pub closed_on: Option<Date>,
    /// The latest business date recorded for the group (its start, joins, leaves, meetings, deliverables).
    pub latest_on: Date,
    pub participants: HashMap<Token, Periods>,
    /// The date of the last meeting each participant was present at: a leave is after it.
    pub attended: HashMap<Token, Date>,
    pub meetings: HashSet<Token>,
    pub deliverables: HashSet<Token>,
}

/// What the rules know of a launched programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeFacts {
    pub launched_on: Date,
    pub ended_on: Option<Date>,
    /// Each priority area and the date it was named (the launch's, or its addition's).
    pub areas: HashMap<Token, Date>,
    pub members: HashMap<Token, Periods>,
    pub groups: HashMap<Token, GroupFacts>,
    /// The latest business date of any event of the programme: it ends on or after it.
    pub latest_on: Date,
}

fn area(field: &str, a: &PriorityArea) -> Result<(), DomainError> {
    text(&format!("{field}.title"), &a.title, 300)
}

/// The launched, not yet ended programme, with every later event's business date at or after its launch.
fn open_programme<'a>(
    state: &'a AggregateState,
    aggregate: &Aggregate,
    field: &str,
    on: Date,
) -> Result<&'a ProgrammeFacts, DomainError> {
    let AggregateState::Programme(p) = state else {
        unreachable!("a programme event is checked against a programme's state");
    };
    let Some(p) = p else {
        return Err(DomainError::rule("programme.exists", format!("{aggregate} has not been launched")));
    };
    if let Some(ended) = p.ended_on {
        return Err(DomainError::rule("programme.active", format!("{aggregate} ended on {ended}")));
    }
    if on < p.launched_on {
        return Err(DomainError::rule(
            "programme.not_before_launch",
            format!("{field} {on} is before {aggregate} was launched on {}", p.launched_on),
        ));
    }
    Ok(p)
}

/// The open working group `group` of the programme, with `on` at or after its start.
fn open_group<'a>(
    p: &'a ProgrammeFacts,
    aggregate: &Aggregate,
    group: &Token,
    field: &str,
    on: Date,
) -> Result<&'a GroupFacts, DomainError> {
    let Some(g) = p.groups.get(group) else {
        return Err(DomainError::rule(
            "working_group.exists",
            format!("working group {group} has not been started in {aggregate}"),
        ));
    };
    if let Some(closed) = g.closed_on {
        return Err(DomainError::rule("working_group.open", format!("working group {group} closed on {closed}")));
    }
    if on < g.started_on {
        return Err(DomainError::rule(
            "working_group.not_before_start",
            format!("{field} {on} is before working group {group} started on {}", g.started_on),
        ));
    }
    Ok(g)
}

fn programme_mut(state: &mut AggregateState) -> Option<&mut ProgrammeFacts> {
    match state {
        AggregateState::Programme(Some(p)) => Some(p),
        _ => None,
    }
}

/// The programme, with `on` recorded as its latest business date if it is later.
fn programme_on(state: &mut AggregateState, on: Date) -> Option<&mut ProgrammeFacts> {
    let p = programme_mut(state)?;
    p.latest_on = p.latest_on.max(on);
    Some(p)
}

/// The working group, with `on` recorded as its (and its programme's) latest business date if it is later.
fn group_on<'a>(state: &'a mut AggregateState, group: &Token, on: Date) -> Option<&'a mut GroupFacts> {
    let g = programme_on(state, on)?.groups.get_mut(group)?;
    g.latest_on = g.latest_on.max(on);
    Some(g)
}

impl Rule for ProgrammeLaunched {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 300)?;
        text("payload.owner", &self.owner, 300)?;
        self.country.assigned("payload.country")?;
        business_date("payload.launched_on", self.launched_on)?;
        if self.priority_areas.len() > MAX_LIST {
            return Err(DomainError::invalid("payload.priority_areas", format!("more than {MAX_LIST} areas")));
        }
        let mut seen = HashSet::new();
        for (i, a) in self.priority_areas.iter().enumerate() {
            area(&format!("payload.priority_areas[{i}]"), a)?;
            if !seen.insert(&a.area_id) {
                return Err(DomainError::invalid(
                    format!("payload.priority_areas[{i}].area_id"),
                    format!("{} is named twice", a.area_id),
                ));
            }
        }
        Ok(())
    }

    /// The coalition, which must be active and, if national, of the programme's country.
    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::coalition(&self.coalition_id)
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError> {
        if let AggregateState::Programme(Some(_)) = state {
            return Err(DomainError::rule("programme.launched_once", format!("{aggregate} is already launched")));
        }
        coalition_takes_part(ctx, &self.coalition_id)?;
        match ctx.coalition.as_ref().and_then(|c| c.country.as_ref()) {
            Some(country) if *country != self.country => Err(DomainError::rule(
                "programme.country_of_coalition",
                format!("coalition {} is {}'s, not {}'s", self.coalition_id, country.as_str(), self.country.as_str()),
            )),
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Programme(p @ None) = state {
            *p = Some(ProgrammeFacts {
                launched_on: self.launched_on,
                ended_on: None,
                areas: self.priority_areas.iter().map(|a| (a.area_id.clone(), self.launched_on)).collect(),
                members: HashMap::new(),
                groups: HashMap::new(),
                latest_on: self.launched_on,
            });
        }
    }
}

impl Rule for PriorityAreaAdded {
    fn validate(&self) -> Result<(), DomainError> {
        area("payload.area", &self.area)?;
        business_date("payload.added_on", self.added_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.added_on", self.added_on)?;
        if p.areas.contains_key(&self.area.area_id) {
            return Err(DomainError::rule(
                "programme.area_unique",
                format!("{aggregate} already has priority area {}", self.area.area_id),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = programme_on(state, self.added_on) {
            p.areas.insert(self.area.area_id.clone(), self.added_on);
        }
    }
}

impl Rule for PartnershipMemberAppointed {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 300)?;
        text("payload.organisation", &self.organisation, 300)?;
        text("payload.role", &self.role, 100)?;
        business_date("payload.appointed_on", self.appointed_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.appointed_on", self.appointed_on)?;
        let who = format!("{} as a member of the partnership group of {aggregate}", self.member_id);
        Periods::may_start(
            p.members.get(&self.member_id),
            self.appointed_on,
            "partnership.member_unique",
            "partnership.member_dates",
            &who,
        )
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = programme_on(state, self.appointed_on) {
            p.members.entry(self.member_id.clone()).or_default().start(self.appointed_on);
        }
    }
}

impl Rule for PartnershipMemberLeft {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.left_on", self.left_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.left_on", self.left_on)?;
        let who = format!("{} as a member of the partnership group of {aggregate}", self.member_id);
        Periods::may_end(
            p.members.get(&self.member_id),
            self.left_on,
            "partnership.member_active",
            "partnership.member_dates",
            &who,
        )
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(m) = programme_on(state, self.left_on).and_then(|p| p.members.get_mut(&self.member_id)) {
            m.end(self.left_on);
        }
    }
}

impl Rule for WorkingGroupStarted {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 300)?;
        text("payload.objective", &self.objective, 2000)?;
        business_date("payload.started_on", self.started_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.started_on", self.started_on)?;
        if p.groups.contains_key(&self.group_id) {
            return Err(DomainError::rule(
                "working_group.unique",
                format!("working group {} of {aggregate} is already started", self.group_id),
            ));
        }
        match p.areas.get(&self.area_id) {
            None => Err(DomainError::rule(
                "programme.area_exists",
                format!("{aggregate} has no priority area {}", self.area_id),
            )),
            Some(named) if self.started_on < *named => Err(DomainError::rule(
                "working_group.not_before_area",
                format!(
                    "started on {} is before priority area {} was named, on {named}",
                    self.started_on, self.area_id
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = programme_on(state, self.started_on) {
            p.groups.entry(self.group_id.clone()).or_insert_with(|| GroupFacts {
                started_on: self.started_on,
                closed_on: None,
                latest_on: self.started_on,
                participants: HashMap::new(),
                attended: HashMap::new(),
                meetings: HashSet::new(),
                deliverables: HashSet::new(),
            });
        }
    }
}

impl Rule for WorkingGroupParticipantJoined {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 300)?;
        text("payload.organisation", &self.organisation, 300)?;
        business_date("payload.joined_on", self.joined_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.joined_on", self.joined_on)?;
        let g = open_group(p, aggregate, &self.group_id, "payload.joined_on", self.joined_on)?;
        let who = format!("{} as a participant of working group {}", self.participant_id, self.group_id);
        Periods::may_start(
            g.participants.get(&self.participant_id),
            self.joined_on,
            "working_group.participant_unique",
            "working_group.participant_dates",
            &who,
        )
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(g) = group_on(state, &self.group_id, self.joined_on) {
            g.participants.entry(self.participant_id.clone()).or_default().start(self.joined_on);
        }
    }
}

impl Rule for WorkingGroupParticipantLeft {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.left_on", self.left_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.left_on", self.left_on)?;
        let g = open_group(p, aggregate, &self.group_id, "payload.left_on", self.left_on)?;
        let who = format!("{} as a participant of working group {}", self.participant_id, self.group_id);
        Periods::may_end(
            g.participants.get(&self.participant_id),
            self.left_on,
            "working_group.participant_active",
            "working_group.participant_dates",
            &who,
        )?;
        // A leave dated back before a meeting they were present at would make that meeting's attendance untrue.
        match g.attended.get(&self.participant_id) {
            Some(last) if self.left_on <= *last => Err(DomainError::rule(
                "working_group.participant_dates",
                format!("{who}: left on {}, but present at the meeting of {last}", self.left_on),
            )),
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(m) =
            group_on(state, &self.group_id, self.left_on).and_then(|g| g.participants.get_mut(&self.participant_id))
        {
            m.end(self.left_on);
        }
    }
}

impl Rule for WorkingGroupMeetingHeld {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.held_on", self.held_on)?;
        if self.present.is_empty() {
            return Err(DomainError::invalid("payload.present", "a meeting has at least one participant present"));
        }
        if self.present.len() > MAX_LIST {
            return Err(DomainError::invalid("payload.present", format!("more than {MAX_LIST} participants")));
        }
        let mut seen = HashSet::new();
        for (i, p) in self.present.iter().enumerate() {
            if !seen.insert(p) {
                return Err(DomainError::invalid(format!("payload.present[{i}]"), format!("{p} is named twice")));
            }
        }
        Ok(())
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.held_on", self.held_on)?;
        let g = open_group(p, aggregate, &self.group_id, "payload.held_on", self.held_on)?;
        if g.meetings.contains(&self.meeting_id) {
            return Err(DomainError::rule(
                "working_group.meeting_unique",
                format!("meeting {} of working group {} is already recorded", self.meeting_id, self.group_id),
            ));
        }
        if let Some((i, who)) = self
            .present
            .iter()
            .enumerate()
            .find(|(_, who)| !g.participants.get(*who).is_some_and(|m| m.covers(self.held_on)))
        {
            return Err(DomainError::rule(
                "working_group.present_are_participants",
                format!("present[{i}] {who} did not take part in working group {} on {}", self.group_id, self.held_on),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(g) = group_on(state, &self.group_id, self.held_on) {
            g.meetings.insert(self.meeting_id.clone());
            for who in &self.present {
                let last = g.attended.entry(who.clone()).or_insert(self.held_on);
                *last = (*last).max(self.held_on);
            }
        }
    }
}

impl Rule for WorkingGroupDeliverableReported {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.title", &self.title, 300)?;
        business_date("payload.reported_on", self.reported_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.reported_on", self.reported_on)?;
        let g = open_group(p, aggregate, &self.group_id, "payload.reported_on", self.reported_on)?;
        if g.deliverables.contains(&self.deliverable_id) {
            return Err(DomainError::rule(
                "working_group.deliverable_unique",
                format!("deliverable {} of working group {} is already reported", self.deliverable_id, self.group_id),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(g) = group_on(state, &self.group_id, self.reported_on) {
            g.deliverables.insert(self.deliverable_id.clone());
        }
    }
}

impl Rule for WorkingGroupClosed {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.closed_on", self.closed_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.closed_on", self.closed_on)?;
        let g = open_group(p, aggregate, &self.group_id, "payload.closed_on", self.closed_on)?;
        if self.closed_on < g.latest_on {
            return Err(DomainError::rule(
                "working_group.closed_after_activity",
                format!("closed on {} is before the group's last recorded date, {}", self.closed_on, g.latest_on),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(g) = group_on(state, &self.group_id, self.closed_on) {
            g.closed_on = Some(self.closed_on);
            for m in g.participants.values_mut() {
                m.end(self.closed_on);
            }
        }
    }
}

impl Rule for ProgrammeEnded {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.ended_on", self.ended_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let p = open_programme(state, aggregate, "payload.ended_on", self.ended_on)?;
        if let Some((id, _)) = p.groups.iter().find(|(_, g)| g.closed_on.is_none()) {
            return Err(DomainError::rule(
                "programme.groups_closed",
                format!("working group {id} of {aggregate} is still open: close it first"),
            ));
        }
        if self.ended_on < p.latest_on {
            return Err(DomainError::rule(
                "programme.ended_after_activity",
                format!("ended on {} is before the programme's last recorded date, {}", self.ended_on, p.latest_on),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = programme_mut(state) {
            p.ended_on = Some(self.ended_on);
            for m in p.members.values_mut() {
                m.end(self.ended_on);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // `&[e.clone()]` reads as "given this one event"
mod tests {
    use time::macros::date;

    use super::super::testing::{ctx_with, given_one, rule_of, sweden, tok};
    use super::*;
    use crate::event::*;
    use crate::{AggregateType, CountryCode};

    fn programme() -> Aggregate {
        Aggregate::parse(AggregateType::Programme, "se-skills").unwrap()
    }

    fn se() -> CountryCode {
        CountryCode::parse("country", "SE").unwrap()
    }

    fn launched() -> EventKind {
        EventKind::ProgrammeLaunched(ProgrammeLaunched {
            coalition_id: tok("se"),
            country: se(),
            name: "Skills supply and lifelong learning".into(),
            owner: "Government Offices of Sweden".into(),
            priority_areas: vec![PriorityArea {
                area_id: tok("visible"),
                title: "Making skills and needs visible".into(),
            }],
            launched_on: date!(2023 - 02 - 01),
        })
    }

    fn group_started(on: Date) -> EventKind {
        EventKind::WorkingGroupStarted(WorkingGroupStarted {
            group_id: tok("wg1"),
            area_id: tok("visible"),
            name: "Making skills and needs visible".into(),
            objective: "A shared picture of skills needs".into(),
            started_on: on,
        })
    }

    fn joined(who: &str, on: Date) -> EventKind {
        EventKind::WorkingGroupParticipantJoined(WorkingGroupParticipantJoined {
            group_id: tok("wg1"),
            participant_id: tok(who),
            name: "A. Person".into(),
            organisation: "Skolverket".into(),
            sector: Sector::GovernmentAgency,
            joined_on: on,
        })
    }

    fn left(who: &str, on: Date) -> EventKind {
        EventKind::WorkingGroupParticipantLeft(WorkingGroupParticipantLeft {
            group_id: tok("wg1"),
            participant_id: tok(who),
            left_on: on,
        })
    }

    fn meeting(id: &str, on: Date, present: &[&str]) -> EventKind {
        EventKind::WorkingGroupMeetingHeld(WorkingGroupMeetingHeld {
            group_id: tok("wg1"),
            meeting_id: tok(id),
            held_on: on,
            anchored: true,
            present: present.iter().map(|p| tok(p)).collect(),
        })
    }

    fn closed(on: Date) -> EventKind {
        EventKind::WorkingGroupClosed(WorkingGroupClosed { group_id: tok("wg1"), closed_on: on, reason: String::new() })
    }

    fn appointed(who: &str, on: Date) -> EventKind {
        EventKind::PartnershipMemberAppointed(PartnershipMemberAppointed {
            member_id: tok(who),
            name: "B. Person".into(),
            organisation: "Ericsson".into(),
            sector: Sector::LargeCompany,
            role: "member".into(),
            appointed_on: on,
        })
    }

    fn member_left(who: &str, on: Date) -> EventKind {
        EventKind::PartnershipMemberLeft(PartnershipMemberLeft {
            member_id: tok(who),
            left_on: on,
            reason: "new post".into(),
        })
    }

    fn ended(on: Date) -> EventKind {
        EventKind::ProgrammeEnded(ProgrammeEnded { ended_on: on, reason: String::new() })
    }

    /// Given the launched programme and `past`, when `new` is decided.
    fn given(past: &[EventKind], new: EventKind) -> Result<(), DomainError> {
        let mut all = vec![launched()];
        all.extend_from_slice(past);
        given_one(programme(), &all, new, &sweden())
    }

    /// A working group started on 1 March 2023 with `a` from 1 April.
    fn group_with_a() -> Vec<EventKind> {
        vec![group_started(date!(2023 - 03 - 01)), joined("a", date!(2023 - 04 - 01))]
    }

    #[test]
    fn a_programme_is_launched_once_by_an_active_coalition_of_its_country() {
        assert_eq!(given_one(programme(), &[], launched(), &sweden()), Ok(()));
        assert_eq!(rule_of(given_one(programme(), &[launched()], launched(), &sweden())), "programme.launched_once");
        let finland = ctx_with(|c| c.country = Some(CountryCode::parse("c", "FI").unwrap()));
        assert_eq!(rule_of(given_one(programme(), &[], launched(), &finland)), "programme.country_of_coalition");
        let eu = ctx_with(|c| c.country = None);
        assert_eq!(given_one(programme(), &[], launched(), &eu), Ok(()), "the EU coalition may own any country's");
        let gone = ctx_with(|c| c.deactivated = true);
        assert_eq!(rule_of(given_one(programme(), &[], launched(), &gone)), "coalition.active");
        assert_eq!(rule_of(given_one(programme(), &[], launched(), &Context::default())), "coalition.exists");
    }

    #[test]
    fn a_launch_names_each_priority_area_once_and_its_country_must_be_assigned() {
        let EventKind::ProgrammeLaunched(mut e) = launched() else { unreachable!() };
        e.priority_areas.push(e.priority_areas[0].clone());
        let twice = EventKind::ProgrammeLaunched(e.clone()).validate();
        assert!(
            matches!(twice, Err(DomainError::Validation { ref field, .. }) if field == "payload.priority_areas[1].area_id"),
            "{twice:?}"
        );
        e.priority_areas.truncate(1);
        e.country = CountryCode::parse("c", "XX").unwrap();
        assert!(
            matches!(EventKind::ProgrammeLaunched(e).validate(), Err(DomainError::Validation { field, .. }) if field == "payload.country")
        );
    }

    #[test]
    fn nothing_happens_to_a_programme_before_its_launch_or_after_its_end() {
        let area = |on| {
            EventKind::PriorityAreaAdded(PriorityAreaAdded {
                area: PriorityArea { area_id: tok("digital"), title: "Digital infrastructure".into() },
                added_on: on,
            })
        };
        assert_eq!(rule_of(given_one(programme(), &[], area(date!(2023 - 05 - 01)), &sweden())), "programme.exists");
        assert_eq!(given(&[], area(date!(2023 - 05 - 01))), Ok(()));
        assert_eq!(rule_of(given(&[], area(date!(2023 - 01 - 31)))), "programme.not_before_launch");
        assert_eq!(
            rule_of(given(&[area(date!(2023 - 05 - 01))], area(date!(2023 - 06 - 01)))),
            "programme.area_unique"
        );
        assert_eq!(rule_of(given(&[ended(date!(2024 - 01 - 01))], area(date!(2024 - 05 - 01)))), "programme.active");
        assert_eq!(
            rule_of(given(&[ended(date!(2024 - 01 - 01))], appointed("m1", date!(2024 - 05 - 01)))),
            "programme.active"
        );
    }

    #[test]
    fn a_working_group_starts_under_an_existing_priority_area_once() {
        assert_eq!(given(&[], group_started(date!(2023 - 03 - 01))), Ok(()));
        assert_eq!(rule_of(given(&[], group_started(date!(2022 - 03 - 01)))), "programme.not_before_launch");
        let EventKind::WorkingGroupStarted(mut e) = group_started(date!(2023 - 03 - 01)) else { unreachable!() };
        e.area_id = tok("nowhere");
        assert_eq!(rule_of(given(&[], EventKind::WorkingGroupStarted(e))), "programme.area_exists");
        assert_eq!(
            rule_of(given(&[group_started(date!(2023 - 03 - 01))], group_started(date!(2023 - 04 - 01)))),
            "working_group.unique"
        );
        // Under an area added on 1 June: not before it.
        let EventKind::WorkingGroupStarted(mut later) = group_started(date!(2023 - 05 - 01)) else { unreachable!() };
        later.area_id = tok("late");
        let added = EventKind::PriorityAreaAdded(PriorityAreaAdded {
            area: PriorityArea { area_id: tok("late"), title: "Added later".into() },
            added_on: date!(2023 - 06 - 01),
        });
        assert_eq!(
            rule_of(given(&[added.clone()], EventKind::WorkingGroupStarted(later.clone()))),
            "working_group.not_before_area"
        );
        later.started_on = date!(2023 - 06 - 01);
        assert_eq!(given(&[added], EventKind::WorkingGroupStarted(later)), Ok(()));
    }

    #[test]
    fn partnership_members_are_appointed_while_not_members_and_leave_once() {
        let m = appointed("m1", date!(2023 - 02 - 10));
        assert_eq!(given(&[], m.clone()), Ok(()));
        assert_eq!(rule_of(given(&[m.clone()], m.clone())), "partnership.member_unique");
        assert_eq!(rule_of(given(&[], member_left("m1", date!(2023 - 03 - 01)))), "partnership.member_active");
        assert_eq!(
            rule_of(given(&[m.clone()], member_left("m1", date!(2023 - 01 - 31)))),
            "programme.not_before_launch"
        );
        assert_eq!(rule_of(given(&[m.clone()], member_left("m1", date!(2023 - 02 - 05)))), "partnership.member_dates");
        assert_eq!(rule_of(given(&[m.clone()], member_left("m1", date!(2023 - 02 - 10)))), "partnership.member_dates");
        let gone = [m.clone(), member_left("m1", date!(2023 - 06 - 01))];
        assert_eq!(rule_of(given(&gone, member_left("m1", date!(2023 - 07 - 01)))), "partnership.member_active");
        assert_eq!(given(&gone, appointed("m1", date!(2024 - 01 - 01))), Ok(()), "appointed again after leaving");
        assert_eq!(rule_of(given(&gone, appointed("m1", date!(2023 - 05 - 01)))), "partnership.member_dates");
    }

    #[test]
    fn participants_join_an_open_group_once_and_leave_after_joining() {
        let g = group_with_a();
        assert_eq!(rule_of(given(&[], joined("a", date!(2023 - 04 - 01)))), "working_group.exists");
        assert_eq!(rule_of(given(&g, joined("a", date!(2023 - 05 - 01)))), "working_group.participant_unique");
        assert_eq!(rule_of(given(&g[..1], joined("a", date!(2023 - 02 - 15)))), "working_group.not_before_start");
        assert_eq!(rule_of(given(&g, left("b", date!(2023 - 05 - 01)))), "working_group.participant_active");
        assert_eq!(rule_of(given(&g, left("a", date!(2023 - 03 - 15)))), "working_group.participant_dates");
        assert_eq!(rule_of(given(&g, left("a", date!(2023 - 04 - 01)))), "working_group.participant_dates", "same day");
        // Present at a meeting on 1 May: a leave dated 15 April, recorded after it, is refused.
        let mut met = g.clone();
        met.push(meeting("m1", date!(2023 - 05 - 01), &["a"]));
        assert_eq!(rule_of(given(&met, left("a", date!(2023 - 04 - 15)))), "working_group.participant_dates");
        assert_eq!(rule_of(given(&met, left("a", date!(2023 - 05 - 01)))), "working_group.participant_dates");
        assert_eq!(given(&met, left("a", date!(2023 - 05 - 02))), Ok(()));
        assert_eq!(given(&g, left("a", date!(2023 - 05 - 01))), Ok(()));
    }

    #[test]
    fn those_present_at_a_meeting_take_part_in_the_group_on_its_date() {
        let mut g = group_with_a();
        assert_eq!(given(&g, meeting("m1", date!(2023 - 04 - 01), &["a"])), Ok(()));
        // Before `a` joined; `b` never did.
        assert_eq!(
            rule_of(given(&g, meeting("m1", date!(2023 - 03 - 20), &["a"]))),
            "working_group.present_are_participants"
        );
        assert_eq!(
            rule_of(given(&g, meeting("m1", date!(2023 - 05 - 01), &["a", "b"]))),
            "working_group.present_are_participants"
        );
        g.push(left("a", date!(2023 - 06 - 01)));
        // Up to the day before leaving, not on it; a meeting recorded late still counts those present then.
        assert_eq!(given(&g, meeting("m1", date!(2023 - 05 - 31), &["a"])), Ok(()));
        assert_eq!(
            rule_of(given(&g, meeting("m1", date!(2023 - 06 - 01), &["a"]))),
            "working_group.present_are_participants"
        );
        g.push(meeting("m1", date!(2023 - 05 - 02), &["a"]));
        assert_eq!(rule_of(given(&g, meeting("m1", date!(2023 - 05 - 03), &["a"]))), "working_group.meeting_unique");
        let nobody = meeting("m2", date!(2023 - 05 - 03), &[]).validate();
        assert!(matches!(nobody, Err(DomainError::Validation { field, .. }) if field == "payload.present"));
        let twice = meeting("m2", date!(2023 - 05 - 03), &["a", "a"]).validate();
        assert!(matches!(twice, Err(DomainError::Validation { field, .. }) if field == "payload.present[1]"));
    }

    #[test]
    fn a_closed_group_has_no_meetings_joins_or_deliverables_and_closes_after_its_last_date() {
        let mut g = group_with_a();
        g.push(meeting("m1", date!(2023 - 09 - 01), &["a"]));
        assert_eq!(rule_of(given(&g, closed(date!(2023 - 08 - 01)))), "working_group.closed_after_activity");
        assert_eq!(given(&g, closed(date!(2023 - 09 - 01))), Ok(()));
        g.push(closed(date!(2023 - 12 - 01)));
        assert_eq!(rule_of(given(&g, meeting("m2", date!(2023 - 11 - 01), &["a"]))), "working_group.open");
        assert_eq!(rule_of(given(&g, joined("b", date!(2023 - 11 - 01)))), "working_group.open");
        assert_eq!(rule_of(given(&g, closed(date!(2024 - 01 - 01)))), "working_group.open");
        let deliverable = |id: &str| {
            EventKind::WorkingGroupDeliverableReported(WorkingGroupDeliverableReported {
                group_id: tok("wg1"),
                deliverable_id: tok(id),
                title: "Report".into(),
                reported_on: date!(2023 - 10 - 01),
            })
        };
        assert_eq!(rule_of(given(&g, deliverable("d1"))), "working_group.open");
        let open = group_with_a();
        assert_eq!(given(&open, deliverable("d1")), Ok(()));
        let mut once = open.clone();
        once.push(deliverable("d1"));
        assert_eq!(rule_of(given(&once, deliverable("d1"))), "working_group.deliverable_unique");
    }

    #[test]
    fn a_programme_ends_once_every_group_is_closed_and_after_its_last_date() {
        let mut g = group_with_a();
        assert_eq!(rule_of(given(&g, ended(date!(2024 - 01 - 01)))), "programme.groups_closed");
        g.push(closed(date!(2023 - 12 - 01)));
        assert_eq!(rule_of(given(&g, ended(date!(2023 - 11 - 01)))), "programme.ended_after_activity");
        g.push(appointed("m1", date!(2023 - 12 - 15)));
        assert_eq!(rule_of(given(&g, ended(date!(2023 - 12 - 10)))), "programme.ended_after_activity");
        assert_eq!(given(&g, ended(date!(2023 - 12 - 15))), Ok(()));
        // Every kind of event dates the programme: here a priority area added after the groups closed.
        let mut areas = g.clone();
        areas.push(EventKind::PriorityAreaAdded(PriorityAreaAdded {
            area: PriorityArea { area_id: tok("later"), title: "Later".into() },
            added_on: date!(2024 - 06 - 01),
        }));
        assert_eq!(rule_of(given(&areas, ended(date!(2024 - 01 - 01)))), "programme.ended_after_activity");
        g.push(ended(date!(2023 - 12 - 31)));
        assert_eq!(rule_of(given(&g, ended(date!(2024 - 01 - 01)))), "programme.active");
    }

    #[test]
    fn folding_keeps_membership_periods_so_a_date_in_any_of_them_counts() {
        let mut p = Periods::default();
        p.start(date!(2023 - 01 - 01));
        p.end(date!(2023 - 02 - 01));
        p.start(date!(2023 - 03 - 01));
        assert!(p.active());
        assert!(p.covers(date!(2023 - 01 - 31)) && !p.covers(date!(2023 - 02 - 15)) && p.covers(date!(2030 - 01 - 01)));
    }
}
