//! The rules an append must keep, as a fold over an aggregate's events, one file per concern.
//!
//! `apply` folds past events into a state; `decide` checks new events against that state (and against facts
//! about other aggregates in a [`Context`]) without changing it. Both are pure. Each event type's rules are one
//! [`Rule`] implementation beside the others of its concern: its shape checks, the facts about other aggregates
//! it needs, its checks against the state and how it changes the state.
use std::collections::HashSet;

use crate::event::EventKind;
use crate::{Aggregate, AggregateType, DomainError, Token};

mod coalition;
mod content;
mod coordinator;
mod course;
mod membership;
mod pledge;
mod programme;
mod progress;

pub use coalition::CoalitionFacts;
pub use coordinator::{CoordinatorFacts, STRUCTURED_DIALOGUE_FROM};
pub use membership::MembershipFacts;
pub use pledge::{PledgeFacts, PledgeStatus};
pub use programme::{GroupFacts, Periods, ProgrammeFacts};
pub use progress::InitiativeFacts;

/// What an aggregate's history says, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregateState {
    Coalition(Option<CoalitionFacts>),
    Organisation {
        registered: bool,
    },
    Membership(MembershipFacts),
    Pledge(Option<PledgeFacts>),
    /// Listed, with the run ids seen.
    Course(Option<HashSet<Token>>),
    Activity {
        reported: bool,
    },
    /// `Some(withdrawn)` once shared.
    Content(Option<bool>),
    /// Once launched.
    Programme(Option<ProgrammeFacts>),
    /// The current coordinator, once nominated.
    NationalCoordinator(Option<CoordinatorFacts>),
}

/// Facts about other aggregates that a decision needs, loaded by the caller from the log as the events'
/// [`FactsNeeded`] say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The coalition named by a membership event, if it exists.
    pub coalition: Option<CoalitionFacts>,
    /// Whether the organisation named by a membership event is registered.
    pub organisation_registered: bool,
    /// Coalitions the organisation of a membership or pledge is an active member of, as of the same write.
    pub active_memberships: HashSet<Token>,
}

/// The facts about aggregates outside the write's scope that an event's rules read: what the caller loads into
/// the [`Context`] ([`Context::active_memberships`] comes from the write's own scope and is always there).
/// Each event type declares it beside its rules, in [`Rule::facts_needed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactsNeeded {
    /// The coalition whose facts fill [`Context::coalition`].
    pub coalition: Option<Token>,
    /// The organisation whose registration fills [`Context::organisation_registered`].
    pub organisation: Option<Token>,
}

impl FactsNeeded {
    /// No facts about other aggregates.
    pub const NONE: Self = Self { coalition: None, organisation: None };

    fn coalition(coalition: &Token) -> Self {
        Self { coalition: Some(coalition.clone()), organisation: None }
    }

    fn coalition_and_organisation(coalition: &Token, organisation: &Token) -> Self {
        Self { coalition: Some(coalition.clone()), organisation: Some(organisation.clone()) }
    }

    /// What a batch of events needs: each fact as the first event naming it says (the events of one append
    /// belong to one aggregate, and the rules refuse those naming another).
    pub fn of<'a>(events: impl IntoIterator<Item = &'a EventKind>) -> Self {
        events.into_iter().map(EventKind::facts_needed).fold(Self::NONE, |a, b| Self {
            coalition: a.coalition.or(b.coalition),
            organisation: a.organisation.or(b.organisation),
        })
    }
}

/// One event type's rules. Every payload struct implements it, in the file of its concern; [`EventKind`]'s
/// dispatch to it is generated from the catalogue (`event/mod.rs`), so a type without rules does not compile.
pub(crate) trait Rule {
    /// Shape checks that need no state: required text present, dates sensible.
    fn validate(&self) -> Result<(), DomainError>;
    /// The facts about other aggregates that [`Rule::check`] reads from its [`Context`].
    fn facts_needed(&self) -> FactsNeeded;
    /// Whether the event may follow `state`, the state of `aggregate` (which is of the event's aggregate type).
    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError>;
    /// Folds the event into `state`; a state of another aggregate type is left as it is.
    fn apply(&self, state: &mut AggregateState);
}

impl EventKind {
    /// The facts about other aggregates this event's rules need (its type's [`Rule::facts_needed`]).
    pub fn facts_needed(&self) -> FactsNeeded {
        self.rules().facts_needed()
    }
}

impl AggregateState {
    /// The state of an aggregate with no events.
    pub fn new(kind: AggregateType) -> Self {
        match kind {
            AggregateType::Coalition => Self::Coalition(None),
            AggregateType::Organisation => Self::Organisation { registered: false },
            AggregateType::Membership => Self::Membership(MembershipFacts::default()),
            AggregateType::Pledge => Self::Pledge(None),
            AggregateType::Course => Self::Course(None),
            AggregateType::Activity => Self::Activity { reported: false },
            AggregateType::Content => Self::Content(None),
            AggregateType::Programme => Self::Programme(None),
            AggregateType::NationalCoordinator => Self::NationalCoordinator(None),
        }
    }

    /// Folds one past event in. Events of another aggregate type are ignored (they cannot be on this subject).
    pub fn apply(&mut self, event: &EventKind) {
        event.rules().apply(self);
    }

    /// Checks that `events`, appended in order to `aggregate` in this state, keep every rule.
    pub fn decide(&self, aggregate: &Aggregate, events: &[EventKind], ctx: &Context) -> Result<(), DomainError> {
        let mut state = self.clone();
        for (i, event) in events.iter().enumerate() {
            state.check(aggregate, event, ctx).map_err(|e| e.in_field(&format!("events[{i}].")))?;
            state.apply(event);
        }
        Ok(())
    }

    fn check(&self, aggregate: &Aggregate, event: &EventKind, ctx: &Context) -> Result<(), DomainError> {
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
        event.rules().check(self, aggregate, ctx)
    }
}

/// The named organisation is registered (for courses and activities).
fn organisation_registered(ctx: &Context, id: &Token) -> Result<(), DomainError> {
    if ctx.organisation_registered {
        Ok(())
    } else {
        Err(DomainError::rule("organisation.exists", format!("organisation {id} is not registered")))
    }
}

/// The named coalition exists and is active (for pledges, courses, activities and content).
fn coalition_takes_part(ctx: &Context, id: &Token) -> Result<(), DomainError> {
    match &ctx.coalition {
        None => Err(DomainError::rule("coalition.exists", format!("coalition {id} has not been established"))),
        Some(c) if c.deactivated => {
            Err(DomainError::rule("coalition.active", format!("coalition {id} is deactivated")))
        }
        Some(_) => Ok(()),
    }
}

/// What the tests of every concern share: tokens, Sweden's coalition, a membership, and given/when helpers.
#[cfg(test)]
mod testing {
    use time::Date;
    use time::macros::date;

    use super::*;
    use crate::event::{MembershipApproved, MembershipLeft};

    pub(crate) fn tok(s: &str) -> Token {
        Token::parse("t", s).unwrap()
    }

    pub(crate) fn membership() -> Aggregate {
        Aggregate::membership(&tok("se"), &tok("skolverket"))
    }

    pub(crate) fn approved(on: Date) -> EventKind {
        EventKind::MembershipApproved(MembershipApproved {
            coalition_id: tok("se"),
            organisation_id: tok("skolverket"),
            joined_on: on,
        })
    }

    pub(crate) fn left(on: Date) -> EventKind {
        EventKind::MembershipLeft(MembershipLeft {
            coalition_id: tok("se"),
            organisation_id: tok("skolverket"),
            left_on: on,
            reason: "merged".into(),
        })
    }

    pub(crate) fn sweden() -> Context {
        Context {
            coalition: Some(CoalitionFacts {
                country: Some(crate::CountryCode::parse("country", "SE").unwrap()),
                launched_on: date!(2018 - 05 - 03),
                open_pledging: false,
                website_connected: false,
                deactivated: false,
            }),
            organisation_registered: true,
            ..Default::default()
        }
    }

    /// Sweden's coalition with a change.
    pub(crate) fn ctx_with(f: impl FnOnce(&mut CoalitionFacts)) -> Context {
        let mut ctx = sweden();
        if let Some(c) = ctx.coalition.as_mut() {
            f(c);
        }
        ctx
    }

    /// What an append service loads for `events` from `world`: only the facts the events declare they need.
    pub(crate) fn loaded_for(events: &[EventKind], world: &Context) -> Context {
        let needed = FactsNeeded::of(events);
        Context {
            coalition: needed.coalition.and(world.coalition.clone()),
            organisation_registered: needed.organisation.is_some() && world.organisation_registered,
            active_memberships: world.active_memberships.clone(),
        }
    }

    pub(crate) fn rule_of(r: Result<(), DomainError>) -> &'static str {
        match r {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a broken rule, got {other:?}"),
        }
    }

    /// Given the past events of `agg`, when `new` is decided, then the result is returned.
    pub(crate) fn given_one(
        agg: Aggregate,
        past: &[EventKind],
        new: EventKind,
        ctx: &Context,
    ) -> Result<(), DomainError> {
        let mut state = AggregateState::new(agg.kind());
        past.iter().for_each(|e| state.apply(e));
        state.decide(&agg, &[new], ctx)
    }
}
