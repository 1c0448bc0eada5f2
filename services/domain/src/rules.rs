//! The rules an append must keep, as a fold over an aggregate's events.
//!
//! `apply` folds past events into a state; `decide` checks new events against that state (and against facts
//! about other aggregates in a [`Context`]) without changing it. Both are pure.
use std::collections::{BTreeMap, HashMap, HashSet};

use time::Date;

use crate::event::{
    CoalitionEstablished, EventKind, Indicator, MembershipApplied, MembershipRoleAssigned, Pillar, Progress,
};
use crate::{Aggregate, AggregateType, DomainError, Token};

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
}

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitiativeFacts {
    pub targets: BTreeMap<Indicator, i64>,
    /// Cumulative figures per indicator by the period they cover (after corrections). Reports may arrive late,
    /// so the order that matters is the periods', not the log's.
    pub by_period: BTreeMap<Date, BTreeMap<Indicator, i64>>,
}

impl InitiativeFacts {
    fn record(&mut self, period_end: Date, p: &Progress) {
        let figures = self.by_period.entry(period_end).or_default();
        for (indicator, n) in &p.cumulative {
            figures.insert(*indicator, *n);
        }
    }

    /// Checks that figures for `period_end` fit between the periods before and after it.
    fn check_monotonic(&self, period_end: Date, p: &Progress) -> Result<(), DomainError> {
        for (indicator, n) in &p.cumulative {
            let before = self.by_period.range(..=period_end).rev().find_map(|(d, f)| Some((*d, *f.get(indicator)?)));
            if let Some((d, b)) = before.filter(|(_, b)| b > n) {
                return Err(DomainError::rule(
                    "progress.cumulative_never_decreases",
                    format!("{indicator:?} to {period_end} is {n}, below the {b} reported to {d}; use a correction"),
                ));
            }
            let after = self
                .by_period
                .range(period_end.next_day().unwrap_or(period_end)..)
                .find_map(|(d, f)| Some((*d, *f.get(indicator)?)));
            if let Some((d, a)) = after.filter(|(_, a)| a < n) {
                return Err(DomainError::rule(
                    "progress.cumulative_never_decreases",
                    format!("{indicator:?} to {period_end} is {n}, above the {a} already reported to the later {d}"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalitionFacts {
    pub launched_on: Date,
    pub open_pledging: bool,
    pub website_connected: bool,
    pub deactivated: bool,
}

impl From<&CoalitionEstablished> for CoalitionFacts {
    fn from(e: &CoalitionEstablished) -> Self {
        Self {
            launched_on: e.launched_on,
            open_pledging: e.open_pledging,
            website_connected: false,
            deactivated: false,
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
    /// Coalitions the organisation of a membership or pledge is an active member of, as of the same write.
    pub active_memberships: HashSet<Token>,
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
        }
    }

    /// Folds one past event in. Events of another aggregate type are ignored (they cannot be on this subject).
    pub fn apply(&mut self, event: &EventKind) {
        match (self, event) {
            (Self::Coalition(state), EventKind::CoalitionEstablished(e)) => *state = Some(e.into()),
            (Self::Coalition(Some(c)), EventKind::CoalitionWebsiteConnected(_)) => c.website_connected = true,
            (Self::Coalition(Some(c)), EventKind::CoalitionDeactivated(_)) => c.deactivated = true,
            (Self::Course(c), EventKind::CourseListed(_)) => *c = Some(HashSet::new()),
            (Self::Course(Some(runs)), EventKind::CourseRunCompleted(e)) => {
                runs.insert(e.run_id.clone());
            }
            (Self::Activity { reported }, EventKind::ActivityReported(_)) => *reported = true,
            (Self::Content(c), EventKind::ContentShared(_)) => *c = Some(false),
            (Self::Content(c), EventKind::ContentWithdrawn(_)) => *c = Some(true),
            (Self::Organisation { registered }, EventKind::OrganisationRegistered(_)) => *registered = true,
            (Self::Membership(m), EventKind::MembershipApproved(e)) => m.active_since = Some(e.joined_on),
            (Self::Membership(m), EventKind::MembershipLeft(e)) => {
                m.active_since = None;
                m.last_left_on = Some(e.left_on);
            }
            (Self::Pledge(p), EventKind::PledgeSubmitted(e)) => {
                *p = Some(PledgeFacts {
                    status: PledgeStatus::Submitted,
                    pillars: e.pillars.clone(),
                    initiatives: HashMap::new(),
                    reports: HashMap::new(),
                });
            }
            (Self::Pledge(Some(p)), event) => match event {
                EventKind::PledgeApproved(_) => p.status = PledgeStatus::Approved,
                EventKind::PledgeCompleted(_) => p.status = PledgeStatus::Completed,
                EventKind::PledgeWithdrawn(_) => p.status = PledgeStatus::Withdrawn,
                EventKind::InitiativeAdded(e) => {
                    let targets = e.targets.iter().copied().collect();
                    p.initiatives.insert(e.initiative_id.clone(), InitiativeFacts { targets, ..Default::default() });
                }
                EventKind::TargetRevised(e) => {
                    if let Some(i) = p.initiatives.get_mut(&e.initiative_id) {
                        i.targets.insert(e.indicator, e.new_target);
                    }
                }
                EventKind::ProgressReported(e) => {
                    p.reports.insert(e.report_id.clone(), (e.initiative_id.clone(), e.period_end));
                    if let Some(i) = p.initiatives.get_mut(&e.initiative_id) {
                        i.record(e.period_end, &e.progress);
                    }
                }
                EventKind::ProgressCorrected(e) => {
                    if let Some((id, period)) = p.reports.get(&e.report_id)
                        && let Some(i) = p.initiatives.get_mut(id)
                    {
                        i.record(*period, &e.progress);
                    }
                }
                _ => {}
            },
            _ => {}
        }
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
        if let EventKind::MembershipApplied(MembershipApplied { coalition_id, organisation_id, .. })
        | EventKind::MembershipRoleAssigned(MembershipRoleAssigned { coalition_id, organisation_id, .. }) = event
        {
            let expected = Aggregate::membership(coalition_id, organisation_id);
            if &expected != aggregate {
                return Err(DomainError::invalid(
                    "payload",
                    format!("a membership of {organisation_id} in {coalition_id} belongs to {expected}"),
                ));
            }
        }
        match (self, event) {
            (Self::Coalition(Some(_)), EventKind::CoalitionEstablished(_)) => {
                Err(DomainError::rule("coalition.established_once", format!("{aggregate} is already established")))
            }
            (Self::Organisation { registered: true }, EventKind::OrganisationRegistered(_)) => {
                Err(DomainError::rule("organisation.registered_once", format!("{aggregate} is already registered")))
            }
            (Self::Membership(m), EventKind::MembershipApproved(e)) => {
                let expected = Aggregate::membership(&e.coalition_id, &e.organisation_id);
                if &expected != aggregate {
                    return Err(DomainError::invalid(
                        "payload",
                        format!("a membership of {} in {} belongs to {expected}", e.organisation_id, e.coalition_id),
                    ));
                }
                let Some(coalition) = &ctx.coalition else {
                    return Err(DomainError::rule(
                        "membership.coalition_exists",
                        format!("coalition {:?} has not been established", e.coalition_id.as_str()),
                    ));
                };
                if coalition.deactivated {
                    return Err(DomainError::rule(
                        "coalition.active",
                        format!("coalition {} is deactivated", e.coalition_id),
                    ));
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
            (Self::Membership(m), EventKind::MembershipLeft(e)) => {
                let expected = Aggregate::membership(&e.coalition_id, &e.organisation_id);
                if &expected != aggregate {
                    return Err(DomainError::invalid(
                        "payload",
                        format!("a membership of {} in {} belongs to {expected}", e.organisation_id, e.coalition_id),
                    ));
                }
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
            (Self::Pledge(p), event) => check_pledge(p.as_ref(), aggregate, event, ctx),
            (Self::Coalition(None), e) if !matches!(e, EventKind::CoalitionEstablished(_)) => {
                Err(DomainError::rule("coalition.exists", format!("{aggregate} has not been established")))
            }
            (Self::Coalition(Some(c)), EventKind::CoalitionWebsiteConnected(_)) if c.website_connected => {
                Err(DomainError::rule("coalition.website_connected_once", format!("{aggregate} is already connected")))
            }
            (Self::Coalition(Some(c)), EventKind::CoalitionDeactivated(_)) if c.deactivated => {
                Err(DomainError::rule("coalition.deactivated_once", format!("{aggregate} is already deactivated")))
            }
            (Self::Organisation { registered: false }, EventKind::OrganisationRenamed(_)) => {
                Err(DomainError::rule("organisation.exists", format!("{aggregate} is not registered")))
            }
            (Self::Membership(_), EventKind::MembershipApplied(e)) if ctx.coalition.is_none() => {
                Err(DomainError::rule(
                    "membership.coalition_exists",
                    format!("coalition {:?} has not been established", e.coalition_id.as_str()),
                ))
            }
            (Self::Membership(m), EventKind::MembershipApplied(e)) => match m.active_since {
                Some(since) => Err(DomainError::rule(
                    "membership.one_active",
                    format!("{} is already a member of {} since {since}", e.organisation_id, e.coalition_id),
                )),
                None => Ok(()),
            },
            (Self::Membership(m), EventKind::MembershipRoleAssigned(e)) if m.active_since.is_none() => {
                Err(DomainError::rule(
                    "membership.role_requires_active",
                    format!("{} is not a member of {}", e.organisation_id, e.coalition_id),
                ))
            }
            (Self::Course(Some(_)), EventKind::CourseListed(_)) => {
                Err(DomainError::rule("course.listed_once", format!("{aggregate} is already listed")))
            }
            (Self::Course(None), EventKind::CourseRunCompleted(_)) => {
                Err(DomainError::rule("course.exists", format!("{aggregate} is not listed")))
            }
            (Self::Course(Some(runs)), EventKind::CourseRunCompleted(e)) if runs.contains(&e.run_id) => Err(
                DomainError::rule("course.run_unique", format!("run {} of {aggregate} is already recorded", e.run_id)),
            ),
            (Self::Course(None), EventKind::CourseListed(e)) => {
                coalition_takes_part(ctx, &e.coalition_id)?;
                organisation_registered(ctx, &e.provider_id)
            }
            (Self::Activity { reported: true }, _) => {
                Err(DomainError::rule("activity.reported_once", format!("{aggregate} is already reported")))
            }
            (Self::Activity { reported: false }, EventKind::ActivityReported(e)) => {
                coalition_takes_part(ctx, &e.coalition_id)?;
                organisation_registered(ctx, &e.organisation_id)
            }
            (Self::Content(Some(_)), EventKind::ContentShared(_)) => {
                Err(DomainError::rule("content.shared_once", format!("{aggregate} is already shared")))
            }
            (Self::Content(c), EventKind::ContentWithdrawn(_)) if *c != Some(false) => Err(DomainError::rule(
                "content.withdraw_shared",
                format!("{aggregate} is {}", if c.is_some() { "already withdrawn" } else { "not shared" }),
            )),
            (Self::Content(None), EventKind::ContentShared(e)) => {
                coalition_takes_part(ctx, &e.coalition_id)?;
                match &ctx.coalition {
                    Some(c) if c.website_connected => Ok(()),
                    _ => Err(DomainError::rule(
                        "content.requires_connected_website",
                        format!("coalition {} has no website connected to the platform", e.coalition_id),
                    )),
                }
            }
            _ => Ok(()),
        }
    }
}

fn check_pledge(
    p: Option<&PledgeFacts>,
    aggregate: &Aggregate,
    event: &EventKind,
    ctx: &Context,
) -> Result<(), DomainError> {
    let rule = DomainError::rule;
    let Some(p) = p else {
        let EventKind::PledgeSubmitted(e) = event else {
            return Err(rule("pledge.exists", format!("{aggregate} has not been submitted")));
        };
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
        return Ok(());
    };
    let open = matches!(p.status, PledgeStatus::Submitted | PledgeStatus::Approved);
    let status = |s: PledgeStatus| format!("{aggregate} is {s:?}").to_lowercase();
    match event {
        EventKind::PledgeSubmitted(_) => {
            Err(rule("pledge.submitted_once", format!("{aggregate} was already submitted")))
        }
        EventKind::PledgeApproved(_) if p.status != PledgeStatus::Submitted => {
            Err(rule("pledge.approve_submitted", status(p.status)))
        }
        EventKind::InitiativeAdded(e) => {
            if !open {
                return Err(rule("pledge.open", status(p.status)));
            }
            if p.initiatives.contains_key(&e.initiative_id) {
                return Err(rule("initiative.unique", format!("initiative {} already exists", e.initiative_id)));
            }
            if !p.pillars.contains(&e.pillar) {
                return Err(rule(
                    "initiative.pillar_of_pledge",
                    format!("pillar {:?} is not one of the pledge's pillars {:?}", e.pillar, p.pillars),
                ));
            }
            Ok(())
        }
        EventKind::TargetRevised(e) => {
            if !open {
                return Err(rule("pledge.open", status(p.status)));
            }
            let i = initiative(p, &e.initiative_id)?;
            let current = i.targets.get(&e.indicator).copied().unwrap_or(0);
            if current != e.old_target {
                return Err(rule(
                    "target.revised_from_current",
                    format!("old_target {} but the current {:?} target is {current}", e.old_target, e.indicator),
                ));
            }
            Ok(())
        }
        EventKind::ProgressReported(e) => {
            if p.status != PledgeStatus::Approved {
                return Err(rule("progress.needs_approved_pledge", status(p.status)));
            }
            if p.reports.contains_key(&e.report_id) {
                return Err(rule("progress.report_unique", format!("report {} already exists", e.report_id)));
            }
            initiative(p, &e.initiative_id)?.check_monotonic(e.period_end, &e.progress)
        }
        EventKind::ProgressCorrected(e) => {
            if !p.reports.contains_key(&e.report_id) {
                return Err(rule(
                    "progress.correct_existing_report",
                    format!("no report {} in {aggregate}", e.report_id),
                ));
            }
            Ok(())
        }
        EventKind::PledgeCompleted(_) if p.status != PledgeStatus::Approved => {
            Err(rule("pledge.complete_approved", status(p.status)))
        }
        EventKind::PledgeWithdrawn(_) if !open => Err(rule("pledge.open", status(p.status))),
        _ => Ok(()),
    }
}

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

fn initiative<'a>(p: &'a PledgeFacts, id: &Token) -> Result<&'a InitiativeFacts, DomainError> {
    p.initiatives
        .get(id)
        .ok_or_else(|| DomainError::rule("initiative.exists", format!("the pledge has no initiative {id}")))
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::event::{
        MembershipApproved, MembershipLeft, OrganisationRegistered, OrganisationSize, OrganisationType,
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
                website_connected: false,
                deactivated: false,
            }),
            organisation_registered: true,
            ..Default::default()
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

    mod pledges {
        use super::*;
        use crate::event::{
            Indicator::*, InitiativeAdded, Pillar, PledgeApproved, PledgeSubmitted, PledgeWithdrawn, Progress,
            ProgressCorrected, ProgressReported, TargetRevised,
        };

        fn pledge() -> Aggregate {
            Aggregate::pledge(&tok("skolverket"), &tok("p1"))
        }

        fn submitted() -> EventKind {
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

        fn approved() -> EventKind {
            EventKind::PledgeApproved(PledgeApproved { approved_on: date!(2019 - 02 - 01) })
        }

        fn initiative(pillar: Pillar) -> EventKind {
            EventKind::InitiativeAdded(InitiativeAdded {
                initiative_id: tok("i1"),
                title: "Courses".into(),
                pillar,
                targets: vec![(TrainingsOnline, 1000)],
            })
        }

        fn report(id: &str, trainings: i64, people: i64, women: i64) -> EventKind {
            EventKind::ProgressReported(ProgressReported {
                report_id: tok(id),
                initiative_id: tok("i1"),
                period_end: date!(2019 - 06 - 30),
                progress: Progress {
                    cumulative: vec![(TrainingsOnline, trainings)],
                    people,
                    women,
                    per_country: vec![],
                },
            })
        }

        fn member_of_se() -> Context {
            let mut ctx = sweden();
            ctx.active_memberships.insert(tok("se"));
            ctx
        }

        fn given_when(past: &[EventKind], new: &[EventKind], ctx: &Context) -> Result<(), DomainError> {
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
        fn only_approved_pledges_take_reports() {
            let past = [submitted(), initiative(Pillar::Education)];
            assert_eq!(
                rule_of(given_when(&past, &[report("r1", 10, 5, 2)], &sweden())),
                "progress.needs_approved_pledge"
            );
            let past = [submitted(), approved(), initiative(Pillar::Education)];
            assert_eq!(given_when(&past, &[report("r1", 10, 5, 2)], &sweden()), Ok(()));
        }

        #[test]
        fn an_initiative_stays_within_the_pledges_pillars() {
            assert_eq!(
                rule_of(given_when(&[submitted()], &[initiative(Pillar::IctProfessionals)], &sweden())),
                "initiative.pillar_of_pledge"
            );
        }

        #[test]
        fn cumulative_progress_never_decreases_except_through_a_correction() {
            let past = [submitted(), approved(), initiative(Pillar::Education), report("r1", 500, 100, 50)];
            assert_eq!(
                rule_of(given_when(&past, &[report("r2", 400, 100, 50)], &sweden())),
                "progress.cumulative_never_decreases"
            );
            let correction = EventKind::ProgressCorrected(ProgressCorrected {
                report_id: tok("r1"),
                progress: Progress {
                    cumulative: vec![(TrainingsOnline, 300)],
                    people: 80,
                    women: 40,
                    per_country: vec![],
                },
                reason: "double-counted".into(),
            });
            assert_eq!(given_when(&past, &[correction.clone(), report("r2", 400, 100, 50)], &sweden()), Ok(()));
            let unknown = EventKind::ProgressCorrected(ProgressCorrected {
                report_id: tok("r9"),
                ..match correction {
                    EventKind::ProgressCorrected(c) => c,
                    _ => unreachable!(),
                }
            });
            assert_eq!(rule_of(given_when(&past, &[unknown], &sweden())), "progress.correct_existing_report");
        }

        #[test]
        fn a_late_report_for_an_earlier_period_is_accepted_if_it_fits_between_its_neighbours() {
            let at = |id: &str, period: Date, n: i64| {
                let EventKind::ProgressReported(mut r) = report(id, n, 10, 5) else { unreachable!() };
                r.period_end = period;
                EventKind::ProgressReported(r)
            };
            let past = [submitted(), approved(), initiative(Pillar::Education), at("r2", date!(2019 - 12 - 31), 700)];
            assert_eq!(given_when(&past, &[at("r1", date!(2019 - 06 - 30), 400)], &sweden()), Ok(()));
            assert_eq!(
                rule_of(given_when(&past, &[at("r1", date!(2019 - 06 - 30), 800)], &sweden())),
                "progress.cumulative_never_decreases"
            );
        }

        #[test]
        fn women_never_exceed_the_total_and_a_breakdown_sums_to_it() {
            let past = [submitted(), approved(), initiative(Pillar::Education)];
            let err = given_when(&past, &[report("r1", 10, 5, 6)], &sweden()).unwrap_err();
            assert!(
                matches!(err, DomainError::Validation { ref field, .. } if field == "events[0].payload.progress.women")
            );
            let EventKind::ProgressReported(mut r) = report("r1", 10, 5, 2) else { unreachable!() };
            r.progress.per_country = vec![(CountryCode::parse("c", "SE").unwrap(), 3)];
            let err = given_when(&past, &[EventKind::ProgressReported(r)], &sweden()).unwrap_err();
            assert!(err.to_string().contains("sums to 3"), "{err}");
        }

        #[test]
        fn a_target_is_revised_from_its_current_value_and_a_withdrawn_pledge_is_closed() {
            let past = [submitted(), approved(), initiative(Pillar::Education)];
            let revise = |old| {
                EventKind::TargetRevised(TargetRevised {
                    initiative_id: tok("i1"),
                    indicator: TrainingsOnline,
                    old_target: old,
                    new_target: 10_000,
                    reason: "COVID demand".into(),
                })
            };
            assert_eq!(given_when(&past, &[revise(1000)], &sweden()), Ok(()));
            assert_eq!(rule_of(given_when(&past, &[revise(999)], &sweden())), "target.revised_from_current");
            let withdrawn =
                EventKind::PledgeWithdrawn(PledgeWithdrawn { withdrawn_on: date!(2019 - 3 - 1), reason: "x".into() });
            assert_eq!(rule_of(given_when(&[submitted(), withdrawn], &[revise(1000)], &sweden())), "pledge.open");
        }
    }

    /// The rest of the catalogue's rules, each with an accepted and a refused case.
    #[allow(clippy::cloned_ref_to_slice_refs)] // `&[e.clone()]` reads as "given this one event"
    mod catalogue {
        use super::*;
        use crate::event::*;

        fn given_when(agg: Aggregate, past: &[EventKind], new: EventKind, ctx: &Context) -> Result<(), DomainError> {
            let mut state = AggregateState::new(agg.kind());
            past.iter().for_each(|e| state.apply(e));
            state.decide(&agg, &[new], ctx)
        }

        fn se() -> Aggregate {
            Aggregate::coalition(&tok("se"))
        }

        fn established() -> EventKind {
            EventKind::CoalitionEstablished(CoalitionEstablished {
                name: "Sweden".into(),
                kind: CoalitionKind::National,
                country: Some(CountryCode::parse("c", "SE").unwrap()),
                launched_on: date!(2018 - 05 - 03),
                open_pledging: false,
            })
        }

        fn connected() -> EventKind {
            EventKind::CoalitionWebsiteConnected(CoalitionWebsiteConnected {
                connected_on: date!(2021 - 06 - 01),
                url: "https://example.org".into(),
            })
        }

        fn deactivated() -> EventKind {
            EventKind::CoalitionDeactivated(CoalitionDeactivated {
                deactivated_on: date!(2025 - 1 - 1),
                reason: "x".into(),
            })
        }

        fn ctx_with(f: impl FnOnce(&mut CoalitionFacts)) -> Context {
            let mut ctx = sweden();
            if let Some(c) = ctx.coalition.as_mut() {
                f(c);
            }
            ctx
        }

        #[test]
        fn coalition_events_need_the_coalition_and_happen_once() {
            let none = Context::default();
            assert_eq!(given_when(se(), &[], established(), &none), Ok(()));
            assert_eq!(rule_of(given_when(se(), &[established()], established(), &none)), "coalition.established_once");
            assert_eq!(rule_of(given_when(se(), &[], connected(), &none)), "coalition.exists");
            assert_eq!(given_when(se(), &[established()], connected(), &none), Ok(()));
            assert_eq!(
                rule_of(given_when(se(), &[established(), connected()], connected(), &none)),
                "coalition.website_connected_once"
            );
            assert_eq!(given_when(se(), &[established()], deactivated(), &none), Ok(()));
            assert_eq!(
                rule_of(given_when(se(), &[established(), deactivated()], deactivated(), &none)),
                "coalition.deactivated_once"
            );
        }

        #[test]
        fn organisations_register_once_and_only_registered_ones_are_renamed() {
            let org = Aggregate::organisation(&tok("acme"));
            let registered = EventKind::OrganisationRegistered(OrganisationRegistered {
                name: "Acme".into(),
                country: CountryCode::parse("c", "SE").unwrap(),
                organisation_type: OrganisationType::IctCompany,
                size: OrganisationSize::Sme,
            });
            let renamed = EventKind::OrganisationRenamed(OrganisationRenamed { name: "Acme AB".into() });
            let none = Context::default();
            assert_eq!(given_when(org.clone(), &[registered.clone()], renamed.clone(), &none), Ok(()));
            assert_eq!(rule_of(given_when(org.clone(), &[], renamed, &none)), "organisation.exists");
            assert_eq!(
                rule_of(given_when(org, &[registered.clone()], registered, &none)),
                "organisation.registered_once"
            );
        }

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

        fn course() -> Aggregate {
            Aggregate::parse(AggregateType::Course, "c1").unwrap()
        }

        fn listed() -> EventKind {
            EventKind::CourseListed(CourseListed {
                provider_id: tok("skolverket"),
                coalition_id: tok("se"),
                title: "Programming for teachers".into(),
                pillar: Pillar::Education,
                skill_level: SkillLevel::Basic,
                format: CourseFormat::Blended,
                hours: 12,
            })
        }

        fn run(id: &str, enrolled: i64, completed: i64, certified: i64) -> EventKind {
            EventKind::CourseRunCompleted(CourseRunCompleted {
                run_id: tok(id),
                ended_on: date!(2020 - 06 - 01),
                enrolled,
                completed,
                certified,
                women_enrolled: enrolled / 2,
                women_completed: completed / 2,
            })
        }

        #[test]
        fn course_runs_need_a_listed_course_and_certified_within_completed_within_enrolled() {
            assert_eq!(given_when(course(), &[], listed(), &sweden()), Ok(()));
            assert_eq!(rule_of(given_when(course(), &[listed()], listed(), &sweden())), "course.listed_once");
            assert_eq!(rule_of(given_when(course(), &[], run("r1", 10, 8, 5), &sweden())), "course.exists");
            assert_eq!(given_when(course(), &[listed()], run("r1", 10, 8, 5), &sweden()), Ok(()));
            assert_eq!(
                rule_of(given_when(course(), &[listed(), run("r1", 10, 8, 5)], run("r1", 10, 8, 5), &sweden())),
                "course.run_unique"
            );
            for (bad, field) in [(run("r2", 10, 11, 5), "completed"), (run("r2", 10, 8, 9), "certified")] {
                let err = given_when(course(), &[listed()], bad, &sweden()).unwrap_err();
                assert!(matches!(err, DomainError::Validation { field: ref f, .. } if f.ends_with(field)), "{err}");
            }
        }

        #[test]
        fn activities_are_reported_once_in_an_active_coalition() {
            let agg = Aggregate::parse(AggregateType::Activity, "a1").unwrap();
            let reported = EventKind::ActivityReported(ActivityReported {
                organisation_id: tok("skolverket"),
                coalition_id: tok("se"),
                kind: ActivityKind::Class,
                pillar: Pillar::All,
                held_on: date!(2020 - 1 - 1),
                participants: 30,
                women: 16,
                per_country: vec![(CountryCode::parse("c", "SE").unwrap(), 30)],
            });
            assert_eq!(given_when(agg.clone(), &[], reported.clone(), &sweden()), Ok(()));
            assert_eq!(
                rule_of(given_when(agg.clone(), &[reported.clone()], reported.clone(), &sweden())),
                "activity.reported_once"
            );
            let closed = ctx_with(|c| c.deactivated = true);
            assert_eq!(rule_of(given_when(agg, &[], reported, &closed)), "coalition.active");
        }

        #[test]
        fn only_connected_coalitions_share_content_and_only_shared_content_is_withdrawn() {
            let agg = Aggregate::parse(AggregateType::Content, "n1").unwrap();
            let shared = EventKind::ContentShared(ContentShared {
                coalition_id: tok("se"),
                content_type: ContentType::GoodPractice,
                title: "Teachers' network".into(),
                shared_on: date!(2021 - 7 - 1),
            });
            let withdrawn =
                EventKind::ContentWithdrawn(ContentWithdrawn { withdrawn_on: date!(2021 - 8 - 1), reason: "x".into() });
            let connected = ctx_with(|c| c.website_connected = true);
            assert_eq!(given_when(agg.clone(), &[], shared.clone(), &connected), Ok(()));
            assert_eq!(
                rule_of(given_when(agg.clone(), &[], shared.clone(), &sweden())),
                "content.requires_connected_website"
            );
            assert_eq!(
                rule_of(given_when(agg.clone(), &[shared.clone()], shared.clone(), &connected)),
                "content.shared_once"
            );
            assert_eq!(given_when(agg.clone(), &[shared.clone()], withdrawn.clone(), &connected), Ok(()));
            assert_eq!(rule_of(given_when(agg.clone(), &[], withdrawn.clone(), &connected)), "content.withdraw_shared");
            assert_eq!(
                rule_of(given_when(agg, &[shared, withdrawn.clone()], withdrawn, &connected)),
                "content.withdraw_shared"
            );
        }

        #[test]
        fn hostile_input_is_refused_with_a_named_field_not_a_panic() {
            let mut nul = established();
            if let EventKind::CoalitionEstablished(e) = &mut nul {
                e.name = "Swe\u{0}den".into();
            }
            let err = given_when(se(), &[], nul, &Context::default()).unwrap_err();
            assert!(err.to_string().contains("payload.name"), "{err}");
            let overflow = Progress {
                cumulative: vec![],
                people: 1,
                women: 0,
                per_country: vec![
                    (CountryCode::parse("c", "SE").unwrap(), i64::MAX),
                    (CountryCode::parse("c", "DK").unwrap(), i64::MAX),
                    (CountryCode::parse("c", "FI").unwrap(), 3),
                ],
            };
            assert!(overflow.validate("p").unwrap_err().to_string().contains("per_country"));
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
