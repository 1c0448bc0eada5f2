//! Memberships: an organisation applies to, joins and leaves a coalition, one active membership at a time, and
//! takes roles in it while a member.
use time::Date;

use super::{AggregateState, Context, FactsNeeded, Rule};
use crate::event::{
    MembershipApplied, MembershipApproved, MembershipLeft, MembershipRoleAssigned, business_date, reason,
};
use crate::{Aggregate, DomainError, Token};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipFacts {
    /// Join date of the current membership, if active.
    pub active_since: Option<Date>,
    /// Leave date of the last membership that ended.
    pub last_left_on: Option<Date>,
}

/// A membership event is written to the membership its payload names.
fn own_membership(aggregate: &Aggregate, coalition_id: &Token, organisation_id: &Token) -> Result<(), DomainError> {
    let expected = Aggregate::membership(coalition_id, organisation_id);
    if &expected != aggregate {
        return Err(DomainError::invalid(
            "payload",
            format!("a membership of {organisation_id} in {coalition_id} belongs to {expected}"),
        ));
    }
    Ok(())
}

impl Rule for MembershipApproved {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.joined_on", self.joined_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::coalition_and_organisation(&self.coalition_id, &self.organisation_id)
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError> {
        let AggregateState::Membership(m) = state else { return Ok(()) };
        let e = self;
        own_membership(aggregate, &e.coalition_id, &e.organisation_id)?;
        let Some(coalition) = &ctx.coalition else {
            return Err(DomainError::rule(
                "membership.coalition_exists",
                format!("coalition {:?} has not been established", e.coalition_id.as_str()),
            ));
        };
        if coalition.deactivated {
            return Err(DomainError::rule("coalition.active", format!("coalition {} is deactivated", e.coalition_id)));
        }
        if !ctx.organisation_registered {
            return Err(DomainError::rule(
                "membership.organisation_registered",
                format!("organisation {:?} is not registered", e.organisation_id.as_str()),
            ));
        }
        if let Some(since) = m.active_since {
            return Err(DomainError::rule(
                "membership.one_active",
                format!("{} is already a member of {} since {since}", e.organisation_id, e.coalition_id),
            ));
        }
        if e.joined_on < coalition.launched_on {
            return Err(DomainError::rule(
                "membership.join_after_launch",
                format!(
                    "joined_on {} is before coalition {} was launched on {}",
                    e.joined_on, e.coalition_id, coalition.launched_on
                ),
            ));
        }
        if let Some(left) = m.last_left_on.filter(|left| e.joined_on < *left) {
            return Err(DomainError::rule(
                "membership.rejoin_after_leaving",
                format!("joined_on {} is before the last leave on {left}", e.joined_on),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Membership(m) = state {
            m.active_since = Some(self.joined_on);
        }
    }
}

impl Rule for MembershipLeft {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.left_on", self.left_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let AggregateState::Membership(m) = state else { return Ok(()) };
        let e = self;
        own_membership(aggregate, &e.coalition_id, &e.organisation_id)?;
        match m.active_since {
            None => Err(DomainError::rule(
                "membership.leave_requires_active",
                format!("{} is not a member of {}", e.organisation_id, e.coalition_id),
            )),
            Some(since) if e.left_on < since => Err(DomainError::rule(
                "membership.leave_after_join",
                format!("left_on {} is before joined_on {since}", e.left_on),
            )),
            Some(_) => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Membership(m) = state {
            m.active_since = None;
            m.last_left_on = Some(self.left_on);
        }
    }
}

impl Rule for MembershipApplied {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.applied_on", self.applied_on)
    }

    /// The coalition must exist (its organisation's registration is checked when the membership is approved).
    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::coalition(&self.coalition_id)
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError> {
        let e = self;
        own_membership(aggregate, &e.coalition_id, &e.organisation_id)?;
        let AggregateState::Membership(m) = state else { return Ok(()) };
        if ctx.coalition.is_none() {
            return Err(DomainError::rule(
                "membership.coalition_exists",
                format!("coalition {:?} has not been established", e.coalition_id.as_str()),
            ));
        }
        match m.active_since {
            Some(since) => Err(DomainError::rule(
                "membership.one_active",
                format!("{} is already a member of {} since {since}", e.organisation_id, e.coalition_id),
            )),
            None => Ok(()),
        }
    }

    fn apply(&self, _: &mut AggregateState) {}
}

impl Rule for MembershipRoleAssigned {
    fn validate(&self) -> Result<(), DomainError> {
        Ok(())
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let e = self;
        own_membership(aggregate, &e.coalition_id, &e.organisation_id)?;
        match state {
            AggregateState::Membership(m) if m.active_since.is_none() => Err(DomainError::rule(
                "membership.role_requires_active",
                format!("{} is not a member of {}", e.organisation_id, e.coalition_id),
            )),
            _ => Ok(()),
        }
    }

    fn apply(&self, _: &mut AggregateState) {}
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::super::testing::{approved, left, loaded_for, membership, rule_of, sweden, tok};
    use super::super::{AggregateType, EventKind};
    use super::*;
    use crate::CountryCode;
    use crate::event::{OrganisationRegistered, OrganisationSize, OrganisationType};

    /// Given the past events, when `new` is decided, then the result is returned.
    fn given_when(past: &[EventKind], new: &[EventKind], ctx: &Context) -> Result<(), DomainError> {
        let mut state = AggregateState::new(AggregateType::Membership);
        past.iter().for_each(|e| state.apply(e));
        state.decide(&membership(), new, ctx)
    }

    #[test]
    fn joining_on_or_after_launch_is_accepted() {
        assert_eq!(given_when(&[], &[approved(date!(2018 - 05 - 03))], &sweden()), Ok(()));
    }

    #[test]
    fn joining_before_launch_is_refused() {
        assert_eq!(
            rule_of(given_when(&[], &[approved(date!(2018 - 05 - 02))], &sweden())),
            "membership.join_after_launch"
        );
    }

    #[test]
    fn joining_an_unknown_coalition_is_refused() {
        let ctx = Context { coalition: None, organisation_registered: true, ..Default::default() };
        assert_eq!(rule_of(given_when(&[], &[approved(date!(2019 - 1 - 1))], &ctx)), "membership.coalition_exists");
    }

    #[test]
    fn a_second_active_membership_is_refused_even_within_one_append() {
        let d = date!(2019 - 01 - 01);
        assert_eq!(rule_of(given_when(&[approved(d)], &[approved(d)], &sweden())), "membership.one_active");
        assert_eq!(rule_of(given_when(&[], &[approved(d), approved(d)], &sweden())), "membership.one_active");
    }

    #[test]
    fn leaving_before_joining_is_refused_and_after_is_accepted() {
        let past = [approved(date!(2019 - 01 - 10))];
        assert_eq!(
            rule_of(given_when(&past, &[left(date!(2019 - 01 - 09))], &sweden())),
            "membership.leave_after_join"
        );
        assert_eq!(given_when(&past, &[left(date!(2019 - 01 - 10))], &sweden()), Ok(()));
    }

    #[test]
    fn leaving_without_membership_is_refused_and_rejoining_after_leaving_is_accepted() {
        assert_eq!(
            rule_of(given_when(&[], &[left(date!(2019 - 1 - 1))], &sweden())),
            "membership.leave_requires_active"
        );
        let past = [approved(date!(2019 - 01 - 01)), left(date!(2020 - 01 - 01))];
        assert_eq!(given_when(&past, &[approved(date!(2021 - 01 - 01))], &sweden()), Ok(()));
        assert_eq!(
            rule_of(given_when(&past, &[approved(date!(2019 - 06 - 01))], &sweden())),
            "membership.rejoin_after_leaving"
        );
    }

    #[test]
    fn an_event_on_the_wrong_aggregate_names_the_field() {
        let org = EventKind::OrganisationRegistered(OrganisationRegistered {
            name: "Skolverket".into(),
            country: CountryCode::parse("c", "SE").unwrap(),
            organisation_type: OrganisationType::PublicAuthority,
            size: OrganisationSize::Large,
        });
        match given_when(&[], &[approved(date!(2019 - 1 - 1)), org], &sweden()) {
            Err(DomainError::Validation { field, .. }) => assert_eq!(field, "events[1].payload"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_membership_event_must_name_its_own_aggregate() {
        let other = Aggregate::membership(&tok("se"), &tok("someone-else"));
        let state = AggregateState::new(AggregateType::Membership);
        let err = state.decide(&other, &[approved(date!(2019 - 1 - 1))], &sweden()).unwrap_err();
        assert!(matches!(err, DomainError::Validation { .. }), "{err:?}");
    }

    fn applied() -> EventKind {
        EventKind::MembershipApplied(MembershipApplied {
            coalition_id: tok("se"),
            organisation_id: tok("skolverket"),
            applied_on: date!(2019 - 1 - 1),
        })
    }

    /// An application alone was once refused as for an unknown coalition: the append service loaded the
    /// coalition's facts only for the event types it listed, and not for applications.
    #[test]
    fn an_application_alone_declares_its_coalition_and_is_accepted_when_the_coalition_exists() {
        let new = [applied()];
        assert_eq!(FactsNeeded::of(&new), FactsNeeded { coalition: Some(tok("se")), organisation: None });
        assert_eq!(given_when(&[], &new, &loaded_for(&new, &sweden())), Ok(()));
        let nowhere = Context { coalition: None, ..sweden() };
        assert_eq!(rule_of(given_when(&[], &new, &loaded_for(&new, &nowhere))), "membership.coalition_exists");
    }

    #[test]
    fn the_facts_an_approval_declares_are_enough_for_it() {
        let new = [approved(date!(2019 - 1 - 1))];
        assert_eq!(given_when(&[], &new, &loaded_for(&new, &sweden())), Ok(()));
        let new = [applied(), approved(date!(2019 - 1 - 1))];
        assert_eq!(given_when(&[], &new, &loaded_for(&new, &sweden())), Ok(()));
    }

    #[allow(clippy::cloned_ref_to_slice_refs)] // `&[e.clone()]` reads as "given this one event"
    mod catalogue {
        use super::super::super::testing::{ctx_with, given_one as given_when};
        use super::*;
        use crate::event::*;

        #[test]
        fn memberships_need_a_registered_organisation_an_active_coalition_and_roles_an_active_membership() {
            let join = approved(date!(2019 - 1 - 1));
            let unregistered = Context { organisation_registered: false, ..sweden() };
            assert_eq!(
                rule_of(given_when(membership(), &[], join.clone(), &unregistered)),
                "membership.organisation_registered"
            );
            let closed = ctx_with(|c| c.deactivated = true);
            assert_eq!(rule_of(given_when(membership(), &[], join.clone(), &closed)), "coalition.active");
            let role = EventKind::MembershipRoleAssigned(MembershipRoleAssigned {
                coalition_id: tok("se"),
                organisation_id: tok("skolverket"),
                role: MemberRole::ContactPoint,
            });
            assert_eq!(given_when(membership(), &[join.clone()], role.clone(), &sweden()), Ok(()));
            assert_eq!(rule_of(given_when(membership(), &[], role, &sweden())), "membership.role_requires_active");
            let applied = EventKind::MembershipApplied(MembershipApplied {
                coalition_id: tok("se"),
                organisation_id: tok("skolverket"),
                applied_on: date!(2019 - 1 - 1),
            });
            assert_eq!(given_when(membership(), &[], applied.clone(), &sweden()), Ok(()));
            assert_eq!(rule_of(given_when(membership(), &[join], applied, &sweden())), "membership.one_active");
        }

        #[test]
        fn a_role_or_application_names_its_own_membership_and_a_deactivated_coalition_takes_no_pledges() {
            let role = EventKind::MembershipRoleAssigned(MembershipRoleAssigned {
                coalition_id: tok("dk"),
                organisation_id: tok("skolverket"),
                role: MemberRole::Founder,
            });
            let err = given_when(membership(), &[approved(date!(2019 - 1 - 1))], role, &sweden()).unwrap_err();
            assert!(matches!(err, DomainError::Validation { .. }), "{err}");
            let pledge = Aggregate::pledge(&tok("skolverket"), &tok("p1"));
            let submitted = EventKind::PledgeSubmitted(PledgeSubmitted {
                organisation_id: tok("skolverket"),
                coalition_id: tok("se"),
                title: "t".into(),
                pillars: vec![Pillar::All],
                countries: vec![],
                starts_on: date!(2025 - 1 - 1),
                ends_on: date!(2025 - 2 - 1),
            });
            let mut closed = ctx_with(|c| c.deactivated = true);
            closed.active_memberships.insert(tok("se"));
            assert_eq!(rule_of(given_when(pledge, &[], submitted, &closed)), "coalition.active");
        }
    }
}
