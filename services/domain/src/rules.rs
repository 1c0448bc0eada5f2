//! The rules an append must keep, as a fold over an aggregate's events.
//!
//! `apply` folds past events into a state; `decide` checks new events against that state (and against facts
//! about other aggregates in a [`Context`]) without changing it. Both are pure.
use time::Date;

use crate::event::{CoalitionEstablished, EventKind};
use crate::{Aggregate, AggregateType, DomainError};

/// What an aggregate's history says, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregateState {
    Coalition(Option<CoalitionFacts>),
    Organisation { registered: bool },
    Membership(MembershipFacts),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalitionFacts {
    pub launched_on: Date,
    pub open_pledging: bool,
}

impl From<&CoalitionEstablished> for CoalitionFacts {
    fn from(e: &CoalitionEstablished) -> Self {
        Self {
            launched_on: e.launched_on,
            open_pledging: e.open_pledging,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipFacts {
    /// Join date of the current membership, if active.
    pub active_since: Option<Date>,
    /// Leave date of the last membership that ended.
    pub last_left_on: Option<Date>,
}

/// Facts about other aggregates that a decision needs, loaded by the caller from the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The coalition named by a membership event, if it exists.
    pub coalition: Option<CoalitionFacts>,
    /// Whether the organisation named by a membership event is registered.
    pub organisation_registered: bool,
}

impl AggregateState {
    /// The state of an aggregate with no events.
    pub fn new(kind: AggregateType) -> Self {
        match kind {
            AggregateType::Coalition => Self::Coalition(None),
            AggregateType::Organisation => Self::Organisation { registered: false },
            AggregateType::Membership => Self::Membership(MembershipFacts::default()),
        }
    }

    /// Folds one past event in. Events of another aggregate type are ignored (they cannot be on this subject).
    pub fn apply(&mut self, event: &EventKind) {
        match (self, event) {
            (Self::Coalition(state), EventKind::CoalitionEstablished(e)) => *state = Some(e.into()),
            (Self::Organisation { registered }, EventKind::OrganisationRegistered(_)) => {
                *registered = true
            }
            (Self::Membership(m), EventKind::MembershipApproved(e)) => {
                m.active_since = Some(e.joined_on)
            }
            (Self::Membership(m), EventKind::MembershipLeft(e)) => {
                m.active_since = None;
                m.last_left_on = Some(e.left_on);
            }
            _ => {}
        }
    }

    /// Checks that `events`, appended in order to `aggregate` in this state, keep every rule.
    pub fn decide(
        &self,
        aggregate: &Aggregate,
        events: &[EventKind],
        ctx: &Context,
    ) -> Result<(), DomainError> {
        let mut state = self.clone();
        for (i, event) in events.iter().enumerate() {
            state
                .check(aggregate, event, ctx)
                .map_err(|e| e.in_field(&format!("events[{i}].")))?;
            state.apply(event);
        }
        Ok(())
    }

    fn check(
        &self,
        aggregate: &Aggregate,
        event: &EventKind,
        ctx: &Context,
    ) -> Result<(), DomainError> {
        event.validate()?;
        if event.aggregate_type() != aggregate.kind() {
            return Err(DomainError::invalid(
                "payload",
                format!(
                    "a {} event belongs to a {} aggregate, not to {aggregate}",
                    event.type_name(),
                    event.aggregate_type().name()
                ),
            ));
        }
        match (self, event) {
            (Self::Coalition(Some(_)), EventKind::CoalitionEstablished(_)) => {
                Err(DomainError::rule(
                    "coalition.established_once",
                    format!("{aggregate} is already established"),
                ))
            }
            (Self::Organisation { registered: true }, EventKind::OrganisationRegistered(_)) => {
                Err(DomainError::rule(
                    "organisation.registered_once",
                    format!("{aggregate} is already registered"),
                ))
            }
            (Self::Membership(m), EventKind::MembershipApproved(e)) => {
                let expected = Aggregate::membership(&e.coalition_id, &e.organisation_id);
                if &expected != aggregate {
                    return Err(DomainError::invalid(
                        "payload",
                        format!(
                            "a membership of {} in {} belongs to {expected}",
                            e.organisation_id, e.coalition_id
                        ),
                    ));
                }
                let Some(coalition) = &ctx.coalition else {
                    return Err(DomainError::rule(
                        "membership.coalition_exists",
                        format!(
                            "coalition {:?} has not been established",
                            e.coalition_id.as_str()
                        ),
                    ));
                };
                if !ctx.organisation_registered {
                    return Err(DomainError::rule(
                        "membership.organisation_registered",
                        format!(
                            "organisation {:?} is not registered",
                            e.organisation_id.as_str()
                        ),
                    ));
                }
                if let Some(since) = m.active_since {
                    return Err(DomainError::rule(
                        "membership.one_active",
                        format!(
                            "{} is already a member of {} since {since}",
                            e.organisation_id, e.coalition_id
                        ),
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
                        format!(
                            "joined_on {} is before the last leave on {left}",
                            e.joined_on
                        ),
                    ));
                }
                Ok(())
            }
            (Self::Membership(m), EventKind::MembershipLeft(e)) => {
                let expected = Aggregate::membership(&e.coalition_id, &e.organisation_id);
                if &expected != aggregate {
                    return Err(DomainError::invalid(
                        "payload",
                        format!(
                            "a membership of {} in {} belongs to {expected}",
                            e.organisation_id, e.coalition_id
                        ),
                    ));
                }
                match m.active_since {
                    None => Err(DomainError::rule(
                        "membership.leave_requires_active",
                        format!(
                            "{} is not a member of {}",
                            e.organisation_id, e.coalition_id
                        ),
                    )),
                    Some(since) if e.left_on < since => Err(DomainError::rule(
                        "membership.leave_after_join",
                        format!("left_on {} is before joined_on {since}", e.left_on),
                    )),
                    Some(_) => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::event::{
        MembershipApproved, MembershipLeft, OrganisationRegistered, OrganisationSize,
        OrganisationType,
    };
    use crate::{CountryCode, Token};

    fn tok(s: &str) -> Token {
        Token::parse("t", s).unwrap()
    }

    fn membership() -> Aggregate {
        Aggregate::membership(&tok("se"), &tok("skolverket"))
    }

    fn approved(on: Date) -> EventKind {
        EventKind::MembershipApproved(MembershipApproved {
            coalition_id: tok("se"),
            organisation_id: tok("skolverket"),
            joined_on: on,
        })
    }

    fn left(on: Date) -> EventKind {
        EventKind::MembershipLeft(MembershipLeft {
            coalition_id: tok("se"),
            organisation_id: tok("skolverket"),
            left_on: on,
            reason: "merged".into(),
        })
    }

    fn sweden() -> Context {
        Context {
            coalition: Some(CoalitionFacts {
                launched_on: date!(2018 - 05 - 03),
                open_pledging: false,
            }),
            organisation_registered: true,
        }
    }

    /// Given the past events, when `new` is decided, then the result is returned.
    fn given_when(past: &[EventKind], new: &[EventKind], ctx: &Context) -> Result<(), DomainError> {
        let mut state = AggregateState::new(AggregateType::Membership);
        past.iter().for_each(|e| state.apply(e));
        state.decide(&membership(), new, ctx)
    }

    fn rule_of(r: Result<(), DomainError>) -> &'static str {
        match r {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a broken rule, got {other:?}"),
        }
    }

    #[test]
    fn joining_on_or_after_launch_is_accepted() {
        assert_eq!(
            given_when(&[], &[approved(date!(2018 - 05 - 03))], &sweden()),
            Ok(())
        );
    }

    #[test]
    fn joining_before_launch_is_refused() {
        assert_eq!(
            rule_of(given_when(
                &[],
                &[approved(date!(2018 - 05 - 02))],
                &sweden()
            )),
            "membership.join_after_launch"
        );
    }

    #[test]
    fn joining_an_unknown_coalition_is_refused() {
        let ctx = Context {
            coalition: None,
            organisation_registered: true,
        };
        assert_eq!(
            rule_of(given_when(&[], &[approved(date!(2019 - 1 - 1))], &ctx)),
            "membership.coalition_exists"
        );
    }

    #[test]
    fn a_second_active_membership_is_refused_even_within_one_append() {
        let d = date!(2019 - 01 - 01);
        assert_eq!(
            rule_of(given_when(&[approved(d)], &[approved(d)], &sweden())),
            "membership.one_active"
        );
        assert_eq!(
            rule_of(given_when(&[], &[approved(d), approved(d)], &sweden())),
            "membership.one_active"
        );
    }

    #[test]
    fn leaving_before_joining_is_refused_and_after_is_accepted() {
        let past = [approved(date!(2019 - 01 - 10))];
        assert_eq!(
            rule_of(given_when(&past, &[left(date!(2019 - 01 - 09))], &sweden())),
            "membership.leave_after_join"
        );
        assert_eq!(
            given_when(&past, &[left(date!(2019 - 01 - 10))], &sweden()),
            Ok(())
        );
    }

    #[test]
    fn leaving_without_membership_is_refused_and_rejoining_after_leaving_is_accepted() {
        assert_eq!(
            rule_of(given_when(&[], &[left(date!(2019 - 1 - 1))], &sweden())),
            "membership.leave_requires_active"
        );
        let past = [approved(date!(2019 - 01 - 01)), left(date!(2020 - 01 - 01))];
        assert_eq!(
            given_when(&past, &[approved(date!(2021 - 01 - 01))], &sweden()),
            Ok(())
        );
        assert_eq!(
            rule_of(given_when(
                &past,
                &[approved(date!(2019 - 06 - 01))],
                &sweden()
            )),
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
        let err = state
            .decide(&other, &[approved(date!(2019 - 1 - 1))], &sweden())
            .unwrap_err();
        assert!(matches!(err, DomainError::Validation { .. }), "{err:?}");
    }
}
