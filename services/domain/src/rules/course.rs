//! Courses and activities: a course is listed once by a registered provider in an active coalition and records
//! each run once; an activity is reported once.
use std::collections::HashSet;

use super::{AggregateState, Context, FactsNeeded, Rule, coalition_takes_part, organisation_registered};
use crate::event::{ActivityReported, CourseListed, CourseRunCompleted, Progress, amount, business_date, text};
use crate::{Aggregate, DomainError};

impl Rule for CourseListed {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.title", &self.title, 300)?;
        if self.hours == 0 {
            return Err(DomainError::invalid("payload.hours", "a course lasts at least one hour"));
        }
        Ok(())
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::coalition_and_organisation(&self.coalition_id, &self.provider_id)
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Course(Some(_)) => {
                Err(DomainError::rule("course.listed_once", format!("{aggregate} is already listed")))
            }
            AggregateState::Course(None) => {
                coalition_takes_part(ctx, &self.coalition_id)?;
                organisation_registered(ctx, &self.provider_id)
            }
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Course(c) = state {
            *c = Some(HashSet::new());
        }
    }
}

impl Rule for CourseRunCompleted {
    fn validate(&self) -> Result<(), DomainError> {
        let e = self;
        business_date("payload.ended_on", e.ended_on)?;
        let check = |field: &str, ok: bool, what: String| {
            if ok { Ok(()) } else { Err(DomainError::invalid(format!("payload.{field}"), what)) }
        };
        amount("payload.enrolled", e.enrolled)?;
        amount("payload.completed", e.completed)?;
        amount("payload.certified", e.certified)?;
        amount("payload.women_enrolled", e.women_enrolled)?;
        amount("payload.women_completed", e.women_completed)?;
        check(
            "completed",
            e.completed >= 0 && e.completed <= e.enrolled,
            format!("completed {} must be 0..=enrolled {}", e.completed, e.enrolled),
        )?;
        check(
            "certified",
            e.certified <= e.completed,
            format!("certified {} exceeds completed {}", e.certified, e.completed),
        )?;
        check(
            "women_enrolled",
            e.women_enrolled <= e.enrolled,
            format!("women_enrolled {} exceeds enrolled {}", e.women_enrolled, e.enrolled),
        )?;
        check(
            "women_completed",
            e.women_completed <= e.completed.min(e.women_enrolled),
            format!(
                "women_completed {} exceeds completed {} or women_enrolled {}",
                e.women_completed, e.completed, e.women_enrolled
            ),
        )
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Course(None) => {
                Err(DomainError::rule("course.exists", format!("{aggregate} is not listed")))
            }
            AggregateState::Course(Some(runs)) if runs.contains(&self.run_id) => Err(DomainError::rule(
                "course.run_unique",
                format!("run {} of {aggregate} is already recorded", self.run_id),
            )),
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Course(Some(runs)) = state {
            runs.insert(self.run_id.clone());
        }
    }
}

impl Rule for ActivityReported {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.held_on", self.held_on)?;
        Progress {
            cumulative: vec![],
            people: self.participants,
            women: self.women,
            per_country: self.per_country.clone(),
        }
        .validate("payload")
        .map_err(|err| match err {
            DomainError::Validation { field, reason } => DomainError::Validation {
                field: field.replace("payload.people", "payload.participants"),
                reason: reason.replace("people", "participants"),
            },
            other => other,
        })
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::coalition_and_organisation(&self.coalition_id, &self.organisation_id)
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, ctx: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Activity { reported: true } => {
                Err(DomainError::rule("activity.reported_once", format!("{aggregate} is already reported")))
            }
            AggregateState::Activity { reported: false } => {
                coalition_takes_part(ctx, &self.coalition_id)?;
                organisation_registered(ctx, &self.organisation_id)
            }
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Activity { reported } = state {
            *reported = true;
        }
    }
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // `&[e.clone()]` reads as "given this one event"
mod tests {
    use time::macros::date;

    use super::super::testing::{ctx_with, given_one as given_when, rule_of, sweden, tok};
    use super::*;
    use crate::event::*;
    use crate::{AggregateType, CountryCode};

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

    /// A class of 30 (16 women) by skolverket in Sweden's coalition, with the country breakdown given.
    fn activity(per_country: Vec<(CountryCode, i64)>) -> EventKind {
        EventKind::ActivityReported(ActivityReported {
            organisation_id: tok("skolverket"),
            coalition_id: tok("se"),
            kind: ActivityKind::Class,
            pillar: Pillar::All,
            held_on: date!(2020 - 1 - 1),
            participants: 30,
            women: 16,
            per_country,
        })
    }

    #[test]
    fn activities_are_reported_once_in_an_active_coalition() {
        let agg = Aggregate::parse(AggregateType::Activity, "a1").unwrap();
        let reported = activity(vec![(CountryCode::parse("c", "SE").unwrap(), 30)]);
        assert_eq!(given_when(agg.clone(), &[], reported.clone(), &sweden()), Ok(()));
        assert_eq!(
            rule_of(given_when(agg.clone(), &[reported.clone()], reported.clone(), &sweden())),
            "activity.reported_once"
        );
        let closed = ctx_with(|c| c.deactivated = true);
        assert_eq!(rule_of(given_when(agg, &[], reported, &closed)), "coalition.active");
    }

    #[test]
    fn an_activity_breakdown_names_each_country_once() {
        let agg = Aggregate::parse(AggregateType::Activity, "a1").unwrap();
        let c = |s: &str| CountryCode::parse("c", s).unwrap();
        let reported = activity(vec![(c("SE"), 10), (c("FI"), 10), (c("SE"), 10)]);
        let err = given_when(agg, &[], reported, &sweden()).unwrap_err();
        assert!(
            matches!(err, DomainError::Validation { ref field, .. } if field == "events[0].payload.per_country[2].country"),
            "{err}"
        );
    }
}
