//! National coordinators of the Structured Dialogue: one at a time per EU member state, from 2022, nominated once
//! and then only replaced.
use time::Date;
use time::macros::date;

use super::{AggregateState, Context, FactsNeeded, Rule};
use crate::event::{NationalCoordinatorNominated, NationalCoordinatorReplaced, business_date, reason, text};
use crate::{Aggregate, DomainError};

/// The Commission started the Structured Dialogue with the member states in 2022 (`docs/domain.md`).
pub const STRUCTURED_DIALOGUE_FROM: Date = date!(2022 - 01 - 01);

/// What the rules know of a member state's coordinator: since when the current one serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinatorFacts {
    pub since: Date,
}

fn since(state: &AggregateState) -> Option<Date> {
    match state {
        AggregateState::NationalCoordinator(c) => c.map(|c| c.since),
        _ => None,
    }
}

fn after_dialogue_start(field: &str, on: Date) -> Result<(), DomainError> {
    if on < STRUCTURED_DIALOGUE_FROM {
        return Err(DomainError::rule(
            "coordinator.structured_dialogue",
            format!("{field} {on} is before the Structured Dialogue began ({STRUCTURED_DIALOGUE_FROM})"),
        ));
    }
    Ok(())
}

impl Rule for NationalCoordinatorNominated {
    fn validate(&self) -> Result<(), DomainError> {
        if !self.member_state.is_eu_member_state() {
            return Err(DomainError::invalid(
                "payload.member_state",
                format!("{} is not an EU member state", self.member_state.as_str()),
            ));
        }
        text("payload.name", &self.name, 300)?;
        text("payload.body", &self.body, 300)?;
        business_date("payload.nominated_on", self.nominated_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        // The id is the code in lower case, exactly: `SE` beside `se` would be a second coordinator of Sweden.
        let id = self.member_state.as_str().to_ascii_lowercase();
        if aggregate.id() != id {
            return Err(DomainError::invalid(
                "payload.member_state",
                format!(
                    "the coordinator of {} is the aggregate national_coordinator/{id}, not {aggregate}",
                    self.member_state.as_str()
                ),
            ));
        }
        if let Some(since) = since(state) {
            return Err(DomainError::rule(
                "coordinator.one_active",
                format!("{aggregate} has a coordinator since {since}: replace them instead"),
            ));
        }
        after_dialogue_start("payload.nominated_on", self.nominated_on)
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::NationalCoordinator(c @ None) = state {
            *c = Some(CoordinatorFacts { since: self.nominated_on });
        }
    }
}

impl Rule for NationalCoordinatorReplaced {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 300)?;
        text("payload.body", &self.body, 300)?;
        business_date("payload.replaced_on", self.replaced_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        match since(state) {
            None => Err(DomainError::rule("coordinator.exists", format!("{aggregate} has no coordinator to replace"))),
            Some(since) if self.replaced_on <= since => Err(DomainError::rule(
                "coordinator.replaced_after_nomination",
                format!("replaced on {} is not after the current coordinator's start, {since}", self.replaced_on),
            )),
            Some(_) => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::NationalCoordinator(Some(c)) = state {
            c.since = self.replaced_on;
        }
    }
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // `&[e.clone()]` reads as "given this one event"
mod tests {
    use super::super::testing::{given_one, rule_of, sweden};
    use super::*;
    use crate::event::EventKind;
    use crate::{AggregateType, CountryCode};

    fn sweden_coordinator() -> Aggregate {
        Aggregate::parse(AggregateType::NationalCoordinator, "se").unwrap()
    }

    fn nominated(state: &str, on: Date) -> EventKind {
        EventKind::NationalCoordinatorNominated(NationalCoordinatorNominated {
            member_state: CountryCode::parse("member_state", state).unwrap(),
            name: "C. Person".into(),
            body: "Ministry of Education and Research".into(),
            nominated_on: on,
        })
    }

    fn replaced(on: Date) -> EventKind {
        EventKind::NationalCoordinatorReplaced(NationalCoordinatorReplaced {
            name: "D. Person".into(),
            body: "Ministry of Infrastructure".into(),
            replaced_on: on,
            reason: "reshuffle".into(),
        })
    }

    #[test]
    fn a_member_state_has_one_coordinator_at_a_time_from_2022() {
        let agg = sweden_coordinator();
        let first = nominated("SE", date!(2022 - 03 - 01));
        assert_eq!(given_one(agg.clone(), &[], first.clone(), &sweden()), Ok(()));
        assert_eq!(
            rule_of(given_one(agg.clone(), &[], nominated("SE", date!(2021 - 12 - 31)), &sweden())),
            "coordinator.structured_dialogue"
        );
        assert_eq!(
            rule_of(given_one(agg.clone(), &[first.clone()], nominated("SE", date!(2023 - 01 - 01)), &sweden())),
            "coordinator.one_active"
        );
        assert_eq!(
            rule_of(given_one(agg.clone(), &[], replaced(date!(2023 - 01 - 01)), &sweden())),
            "coordinator.exists"
        );
        assert_eq!(
            rule_of(given_one(agg.clone(), &[first.clone()], replaced(date!(2022 - 03 - 01)), &sweden())),
            "coordinator.replaced_after_nomination"
        );
        let again = [first, replaced(date!(2023 - 01 - 01))];
        assert_eq!(
            rule_of(given_one(agg.clone(), &again, replaced(date!(2022 - 12 - 01)), &sweden())),
            "coordinator.replaced_after_nomination"
        );
        assert_eq!(given_one(agg, &again, replaced(date!(2024 - 01 - 01)), &sweden()), Ok(()));
    }

    #[test]
    fn the_member_state_is_the_aggregate_s_and_one_of_the_27() {
        let field = |r: Result<(), DomainError>| match r {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let agg = sweden_coordinator();
        assert_eq!(
            field(given_one(agg, &[], nominated("FI", date!(2022 - 03 - 01)), &sweden())),
            "events[0].payload.member_state"
        );
        assert_eq!(field(nominated("NO", date!(2022 - 03 - 01)).validate()), "payload.member_state");
        let upper = Aggregate::parse(AggregateType::NationalCoordinator, "SE").unwrap();
        assert_eq!(
            field(given_one(upper, &[], nominated("SE", date!(2022 - 03 - 01)), &sweden())),
            "events[0].payload.member_state"
        );
        let greece = Aggregate::parse(AggregateType::NationalCoordinator, "el").unwrap();
        assert_eq!(given_one(greece, &[], nominated("GR", date!(2022 - 03 - 01)), &sweden()), Ok(()), "GR reads as EL");
    }
}
