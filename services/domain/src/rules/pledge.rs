//! Pledges: submitted by a member (or to a coalition open to all), approved, then completed or withdrawn. What
//! happens in between (initiatives, targets, progress) is in `progress.rs`.
use std::collections::HashMap;

use time::Date;

use super::progress::InitiativeFacts;
use super::{AggregateState, Context, FactsNeeded, Rule, coalition_takes_part};
use crate::event::{
    PILLARS, Pillar, PledgeApproved, PledgeCompleted, PledgeSubmitted, PledgeWithdrawn, business_date, countries,
    once_each, reason, text,
};
use crate::{Aggregate, DomainError, Token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PledgeStatus {
    Submitted,
    Approved,
    Completed,
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeFacts {
    pub status: PledgeStatus,
    pub pillars: Vec<Pillar>,
    pub initiatives: HashMap<Token, InitiativeFacts>,
    /// Report id -> (initiative id, period end).
    pub reports: HashMap<Token, (Token, Date)>,
}

impl PledgeFacts {
    fn is_open(&self) -> bool {
        matches!(self.status, PledgeStatus::Submitted | PledgeStatus::Approved)
    }
}

/// The submitted pledge's facts; `None` for a state of another aggregate type.
pub(super) fn submitted<'a>(
    state: &'a AggregateState,
    aggregate: &Aggregate,
) -> Result<Option<&'a PledgeFacts>, DomainError> {
    match state {
        AggregateState::Pledge(Some(p)) => Ok(Some(p)),
        AggregateState::Pledge(None) => {
            Err(DomainError::rule("pledge.exists", format!("{aggregate} has not been submitted")))
        }
        _ => Ok(None),
    }
}

pub(super) fn submitted_mut(state: &mut AggregateState) -> Option<&mut PledgeFacts> {
    match state {
        AggregateState::Pledge(Some(p)) => Some(p),
        _ => None,
    }
}

/// A refusal because of the pledge's status.
pub(super) fn status(rule: &'static str, aggregate: &Aggregate, p: &PledgeFacts) -> DomainError {
    DomainError::rule(rule, format!("{aggregate} is {:?}", p.status).to_lowercase())
}

pub(super) fn open(aggregate: &Aggregate, p: &PledgeFacts) -> Result<(), DomainError> {
    if p.is_open() { Ok(()) } else { Err(status("pledge.open", aggregate, p)) }
}

/// The submitted pledge if it is still open (`None` for a state of another kind of aggregate).
pub(super) fn submitted_and_open<'a>(
    state: &'a AggregateState,
    aggregate: &Aggregate,
) -> Result<Option<&'a PledgeFacts>, DomainError> {
    let pledge = submitted(state, aggregate)?;
    if let Some(p) = pledge {
        open(aggregate, p)?;
    }
    Ok(pledge)
}

/// A status change allowed only from status `from` (refused as `rule` otherwise).
fn only_from(
    state: &AggregateState,
    aggregate: &Aggregate,
    from: PledgeStatus,
    rule: &'static str,
) -> Result<(), DomainError> {
    match submitted(state, aggregate)? {
        Some(p) if p.status != from => Err(status(rule, aggregate, p)),
        _ => Ok(()),
    }
}

fn set_status(state: &mut AggregateState, to: PledgeStatus) {
    if let Some(p) = submitted_mut(state) {
        p.status = to;
    }
}

impl Rule for PledgeSubmitted {
    fn validate(&self) -> Result<(), DomainError> {
        let e = self;
        text("payload.title", &e.title, 300)?;
        if e.pillars.is_empty() {
            return Err(DomainError::invalid("payload.pillars", "a pledge needs at least one pillar"));
        }
        once_each("payload.pillars", "", PILLARS, &e.pillars)?;
        countries("payload.countries", "", &e.countries)?;
        business_date("payload.starts_on", e.starts_on)?;
        business_date("payload.ends_on", e.ends_on)?;
        if e.starts_on > e.ends_on {
            return Err(DomainError::invalid(
                "payload.ends_on",
                format!("ends_on {} is before starts_on {}", e.ends_on, e.starts_on),
            ));
        }
        Ok(())
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::coalition_and_organisation(&self.coalition_id, &self.organisation_id)
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError> {
        let rule = DomainError::rule;
        let e = self;
        match state {
            AggregateState::Pledge(Some(_)) => {
                return Err(rule("pledge.submitted_once", format!("{aggregate} was already submitted")));
            }
            AggregateState::Pledge(None) => {}
            _ => return Ok(()),
        }
        if aggregate.organisation_id() != Some(e.organisation_id.as_str()) {
            return Err(DomainError::invalid(
                "payload.organisation_id",
                format!("{} does not own {aggregate}", e.organisation_id),
            ));
        }
        let Some(coalition) = &ctx.coalition else {
            return Err(rule(
                "pledge.coalition_exists",
                format!("coalition {:?} has not been established", e.coalition_id.as_str()),
            ));
        };
        coalition_takes_part(ctx, &e.coalition_id)?;
        if !coalition.open_pledging && !ctx.active_memberships.contains(&e.coalition_id) {
            return Err(rule(
                "pledge.requires_active_membership",
                format!(
                    "organisation {} is not an active member of coalition {}, which only takes pledges from members",
                    e.organisation_id, e.coalition_id
                ),
            ));
        }
        if !ctx.organisation_registered {
            return Err(rule(
                "pledge.organisation_registered",
                format!("organisation {} is not registered", e.organisation_id),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Pledge(p) = state {
            *p = Some(PledgeFacts {
                status: PledgeStatus::Submitted,
                pillars: self.pillars.clone(),
                initiatives: HashMap::new(),
                reports: HashMap::new(),
            });
        }
    }
}

impl Rule for PledgeApproved {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.approved_on", self.approved_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        only_from(state, aggregate, PledgeStatus::Submitted, "pledge.approve_submitted")
    }

    fn apply(&self, state: &mut AggregateState) {
        set_status(state, PledgeStatus::Approved);
    }
}

impl Rule for PledgeCompleted {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.completed_on", self.completed_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        only_from(state, aggregate, PledgeStatus::Approved, "pledge.complete_approved")
    }

    fn apply(&self, state: &mut AggregateState) {
        set_status(state, PledgeStatus::Completed);
    }
}

impl Rule for PledgeWithdrawn {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.withdrawn_on", self.withdrawn_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        match submitted(state, aggregate)? {
            Some(p) => open(aggregate, p),
            None => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = submitted_mut(state) {
            p.status = PledgeStatus::Withdrawn;
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use time::macros::date;

    use super::super::testing::{rule_of, sweden, tok};
    use super::super::{AggregateType, CoalitionFacts, EventKind};
    use super::*;
    use crate::CountryCode;
    use crate::event::Indicator::*;
    use crate::event::{InitiativeAdded, Progress, ProgressReported};

    fn pledge() -> Aggregate {
        Aggregate::pledge(&tok("skolverket"), &tok("p1"))
    }

    pub(crate) fn submitted() -> EventKind {
        EventKind::PledgeSubmitted(PledgeSubmitted {
            organisation_id: tok("skolverket"),
            coalition_id: tok("se"),
            title: "Teachers' digital skills".into(),
            pillars: vec![Pillar::Education],
            countries: vec![CountryCode::parse("c", "SE").unwrap()],
            starts_on: date!(2019 - 01 - 01),
            ends_on: date!(2020 - 12 - 31),
        })
    }

    pub(crate) fn approved() -> EventKind {
        EventKind::PledgeApproved(PledgeApproved { approved_on: date!(2019 - 02 - 01) })
    }

    pub(crate) fn initiative(pillar: Pillar) -> EventKind {
        EventKind::InitiativeAdded(InitiativeAdded {
            initiative_id: tok("i1"),
            title: "Courses".into(),
            pillar,
            targets: vec![(TrainingsOnline, 1000)],
        })
    }

    pub(crate) fn report(id: &str, trainings: i64, people: i64, women: i64) -> EventKind {
        EventKind::ProgressReported(ProgressReported {
            report_id: tok(id),
            initiative_id: tok("i1"),
            period_end: date!(2019 - 06 - 30),
            progress: Progress { cumulative: vec![(TrainingsOnline, trainings)], people, women, per_country: vec![] },
        })
    }

    fn member_of_se() -> Context {
        let mut ctx = sweden();
        ctx.active_memberships.insert(tok("se"));
        ctx
    }

    pub(crate) fn given_when(past: &[EventKind], new: &[EventKind], ctx: &Context) -> Result<(), DomainError> {
        let mut state = AggregateState::new(AggregateType::Pledge);
        past.iter().for_each(|e| state.apply(e));
        state.decide(&pledge(), new, ctx)
    }

    #[test]
    fn a_member_may_pledge_and_a_non_member_may_not_unless_the_coalition_is_open() {
        assert_eq!(given_when(&[], &[submitted()], &member_of_se()), Ok(()));
        assert_eq!(rule_of(given_when(&[], &[submitted()], &sweden())), "pledge.requires_active_membership");
        let mut open = sweden();
        open.coalition = Some(CoalitionFacts {
            country: Some(crate::CountryCode::parse("country", "SE").unwrap()),
            launched_on: date!(2018 - 05 - 03),
            open_pledging: true,
            website_connected: false,
            deactivated: false,
        });
        assert_eq!(given_when(&[], &[submitted()], &open), Ok(()));
    }

    #[test]
    fn a_pledge_needs_a_pillar_and_start_before_end() {
        let EventKind::PledgeSubmitted(mut p) = submitted() else { unreachable!() };
        p.pillars.clear();
        let err = given_when(&[], &[EventKind::PledgeSubmitted(p.clone())], &member_of_se()).unwrap_err();
        assert!(matches!(err, DomainError::Validation { ref field, .. } if field == "events[0].payload.pillars"));
        p.pillars = vec![Pillar::All];
        p.ends_on = date!(2018 - 12 - 31);
        let err = given_when(&[], &[EventKind::PledgeSubmitted(p)], &member_of_se()).unwrap_err();
        assert!(matches!(err, DomainError::Validation { ref field, .. } if field == "events[0].payload.ends_on"));
    }

    #[test]
    fn a_pledge_names_each_pillar_and_country_once_and_only_assigned_countries() {
        let when = |f: &dyn Fn(&mut PledgeSubmitted)| {
            let EventKind::PledgeSubmitted(mut p) = submitted() else { unreachable!() };
            f(&mut p);
            match given_when(&[], &[EventKind::PledgeSubmitted(p)], &member_of_se()) {
                Err(DomainError::Validation { field, .. }) => field,
                other => panic!("expected a validation error, got {other:?}"),
            }
        };
        let c = |s: &str| CountryCode::parse("c", s).unwrap();
        assert_eq!(
            when(&|p| p.pillars = vec![Pillar::Education, Pillar::All, Pillar::Education]),
            "events[0].payload.pillars[2]"
        );
        assert_eq!(when(&|p| p.countries = vec![c("SE"), c("DK"), c("SE")]), "events[0].payload.countries[2]");
        // Greece under either code is one country.
        assert_eq!(when(&|p| p.countries = vec![c("EL"), c("GR")]), "events[0].payload.countries[1]");
        assert_eq!(when(&|p| p.countries = vec![c("SE"), c("ZZ")]), "events[0].payload.countries[1]");
        assert_eq!(when(&|p| p.starts_on = date!(1900 - 01 - 01)), "events[0].payload.starts_on");
        assert_eq!(when(&|p| p.ends_on = date!(9999 - 12 - 31)), "events[0].payload.ends_on");
        assert_eq!(when(&|p| p.title = "Teachers\u{200B}".into()), "events[0].payload.title");
    }
}
