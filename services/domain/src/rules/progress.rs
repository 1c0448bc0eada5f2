//! An open pledge's initiatives and their targets, and the progress reported on them: cumulative figures that
//! never go down from one period to the next except through a correction.
use std::collections::BTreeMap;

use time::Date;

use super::pledge::{PledgeFacts, PledgeStatus, status, submitted, submitted_and_open, submitted_mut};
use super::{AggregateState, Context, FactsNeeded, Rule};
use crate::event::{
    INDICATORS, Indicator, InitiativeAdded, Progress, ProgressCorrected, ProgressReported, TargetRevised, amount,
    at_most, business_date, once_each, required_reason, text,
};
use crate::{Aggregate, DomainError, Token};

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

fn initiative<'a>(p: &'a PledgeFacts, id: &Token) -> Result<&'a InitiativeFacts, DomainError> {
    p.initiatives
        .get(id)
        .ok_or_else(|| DomainError::rule("initiative.exists", format!("the pledge has no initiative {id}")))
}

impl Rule for InitiativeAdded {
    fn validate(&self) -> Result<(), DomainError> {
        let e = self;
        text("payload.title", &e.title, 300)?;
        if e.targets.is_empty() {
            return Err(DomainError::invalid("payload.targets", "at least one target is required"));
        }
        at_most("payload.targets", e.targets.len(), INDICATORS)?;
        for (i, (_, n)) in e.targets.iter().enumerate() {
            amount(&format!("payload.targets[{i}].amount"), *n)?;
        }
        once_each("payload.targets", ".indicator", INDICATORS, e.targets.iter().map(|(indicator, _)| indicator))
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let Some(p) = submitted_and_open(state, aggregate)? else { return Ok(()) };
        let e = self;
        if p.initiatives.contains_key(&e.initiative_id) {
            return Err(DomainError::rule(
                "initiative.unique",
                format!("initiative {} already exists", e.initiative_id),
            ));
        }
        if !p.pillars.contains(&e.pillar) {
            return Err(DomainError::rule(
                "initiative.pillar_of_pledge",
                format!("pillar {:?} is not one of the pledge's pillars {:?}", e.pillar, p.pillars),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = submitted_mut(state) {
            let targets = self.targets.iter().copied().collect();
            p.initiatives.insert(self.initiative_id.clone(), InitiativeFacts { targets, ..Default::default() });
        }
    }
}

impl Rule for TargetRevised {
    fn validate(&self) -> Result<(), DomainError> {
        amount("payload.old_target", self.old_target)?;
        amount("payload.new_target", self.new_target)?;
        required_reason(&self.reason, 1000)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let Some(p) = submitted_and_open(state, aggregate)? else { return Ok(()) };
        let e = self;
        let i = initiative(p, &e.initiative_id)?;
        let current = i.targets.get(&e.indicator).copied().unwrap_or(0);
        if current != e.old_target {
            return Err(DomainError::rule(
                "target.revised_from_current",
                format!("old_target {} but the current {:?} target is {current}", e.old_target, e.indicator),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = submitted_mut(state)
            && let Some(i) = p.initiatives.get_mut(&self.initiative_id)
        {
            i.targets.insert(self.indicator, self.new_target);
        }
    }
}

impl Rule for ProgressReported {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.period_end", self.period_end)?;
        self.progress.validate("payload.progress")
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let Some(p) = submitted(state, aggregate)? else { return Ok(()) };
        let e = self;
        if p.status != PledgeStatus::Approved {
            return Err(status("progress.needs_approved_pledge", aggregate, p));
        }
        if p.reports.contains_key(&e.report_id) {
            return Err(DomainError::rule("progress.report_unique", format!("report {} already exists", e.report_id)));
        }
        initiative(p, &e.initiative_id)?.check_monotonic(e.period_end, &e.progress)
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = submitted_mut(state) {
            p.reports.insert(self.report_id.clone(), (self.initiative_id.clone(), self.period_end));
            if let Some(i) = p.initiatives.get_mut(&self.initiative_id) {
                i.record(self.period_end, &self.progress);
            }
        }
    }
}

impl Rule for ProgressCorrected {
    fn validate(&self) -> Result<(), DomainError> {
        required_reason(&self.reason, 1000)?;
        self.progress.validate("payload.progress")
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        let Some(p) = submitted(state, aggregate)? else { return Ok(()) };
        if !p.reports.contains_key(&self.report_id) {
            return Err(DomainError::rule(
                "progress.correct_existing_report",
                format!("no report {} in {aggregate}", self.report_id),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut AggregateState) {
        if let Some(p) = submitted_mut(state)
            && let Some((id, period)) = p.reports.get(&self.report_id)
            && let Some(i) = p.initiatives.get_mut(id)
        {
            i.record(*period, &self.progress);
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::super::EventKind;
    use super::super::pledge::tests::{approved, given_when, initiative, report, submitted};
    use super::super::testing::{rule_of, sweden, tok};
    use super::*;
    use crate::event::Indicator::*;
    use crate::event::{Pillar, PledgeWithdrawn};
    use crate::{CountryCode, DomainError};

    #[test]
    fn only_approved_pledges_take_reports() {
        let past = [submitted(), initiative(Pillar::Education)];
        assert_eq!(rule_of(given_when(&past, &[report("r1", 10, 5, 2)], &sweden())), "progress.needs_approved_pledge");
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
            progress: Progress { cumulative: vec![(TrainingsOnline, 300)], people: 80, women: 40, per_country: vec![] },
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

    #[test]
    fn targets_name_each_indicator_once_and_breakdowns_each_country_once() {
        let field = |r: Result<(), DomainError>| match r {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let twice = EventKind::InitiativeAdded(InitiativeAdded {
            initiative_id: tok("i1"),
            title: "Courses".into(),
            pillar: Pillar::Education,
            targets: vec![(TrainingsOnline, 1000), (Certifications, 10), (TrainingsOnline, 5)],
        });
        assert_eq!(field(given_when(&[submitted()], &[twice], &sweden())), "events[0].payload.targets[2].indicator");
        let past = [submitted(), approved(), initiative(Pillar::Education)];
        let with_countries = |codes: &[&str]| {
            let EventKind::ProgressReported(mut r) = report("r1", 10, 4, 2) else { unreachable!() };
            r.progress.per_country = codes.iter().map(|c| (CountryCode::parse("c", c).unwrap(), 2)).collect();
            given_when(&past, &[EventKind::ProgressReported(r)], &sweden())
        };
        assert_eq!(with_countries(&["SE", "EL"]), Ok(()));
        assert_eq!(field(with_countries(&["SE", "SE"])), "events[0].payload.progress.per_country[1].country");
        assert_eq!(field(with_countries(&["GR", "EL"])), "events[0].payload.progress.per_country[1].country");
        assert_eq!(field(with_countries(&["ZZ", "SE"])), "events[0].payload.progress.per_country[0].country");
    }

    #[test]
    fn amounts_are_within_0_to_10_to_the_12_and_lists_within_their_value_sets() {
        let field = |r: Result<(), DomainError>| match r {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let with_target = |n: i64| {
            EventKind::InitiativeAdded(InitiativeAdded {
                initiative_id: tok("i1"),
                title: "Courses".into(),
                pillar: Pillar::Education,
                targets: vec![(TrainingsOnline, 1000), (Certifications, n)],
            })
        };
        assert_eq!(given_when(&[submitted()], &[with_target(crate::event::MAX_AMOUNT)], &sweden()), Ok(()));
        for bad in [crate::event::MAX_AMOUNT + 1, i64::MAX, -1, i64::MIN] {
            assert_eq!(
                field(given_when(&[submitted()], &[with_target(bad)], &sweden())),
                "events[0].payload.targets[1].amount"
            );
        }
        let revise = EventKind::TargetRevised(TargetRevised {
            initiative_id: tok("i1"),
            indicator: TrainingsOnline,
            old_target: 1000,
            new_target: i64::MAX,
            reason: "typo".into(),
        });
        let past = [submitted(), approved(), initiative(Pillar::Education)];
        assert_eq!(field(given_when(&past, &[revise], &sweden())), "events[0].payload.new_target");
        let huge = report("r1", i64::MAX, 10, 5);
        assert_eq!(field(given_when(&past, &[huge], &sweden())), "events[0].payload.progress.cumulative[0].amount");
        // Nine targets cannot all name distinct indicators: refused by length before anything else is looked at.
        let nine = EventKind::InitiativeAdded(InitiativeAdded {
            initiative_id: tok("i1"),
            title: "Courses".into(),
            pillar: Pillar::Education,
            targets: vec![(TrainingsOnline, 1); 9],
        });
        let err = given_when(&[submitted()], &[nine], &sweden()).unwrap_err();
        assert!(err.to_string().contains("9 entries, at most 8"), "{err}");
        let EventKind::ProgressReported(mut r) = report("r1", 10, 4, 2) else { unreachable!() };
        r.progress.per_country = vec![(CountryCode::parse("c", "SE").unwrap(), 0); 400_000];
        let err = given_when(&past, &[EventKind::ProgressReported(r)], &sweden()).unwrap_err();
        assert!(err.to_string().contains("400000 entries, at most 249"), "{err}");
    }
}
