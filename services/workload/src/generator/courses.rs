//! Courses (~620 listed, ~2,500 runs) and activities (~4,000) by national members, in their pillar.
use ledger_proto::v1::{self, event_payload::Event as P};
use time::Duration;

use super::builder::Builder;
use super::calendar::{end_of_history, wire_date};
use super::choices::women_share;
use super::members::Member;

const COURSES: usize = 620;
const ACTIVITIES: usize = 4000;

/// The courses, each with its runs, then the activities.
pub(super) fn courses_and_activities(b: &mut Builder, members: &[Member]) {
    let national: Vec<&Member> = members.iter().filter(|m| m.coalition != "eu").collect();
    for c in 0..COURSES {
        course(b, &national, c);
    }
    for a in 0..ACTIVITIES {
        activity(b, &national, a);
    }
}

/// Course `c`, listed by a national member after it joined, and 2 to 6 runs ~40 days apart (those that end
/// within the history).
fn course(b: &mut Builder, national: &[&Member], c: usize) {
    let end = end_of_history();
    let m = national[b.rng.below(national.len() as u64) as usize];
    let listed = b.day_between(m.joined, end - Duration::days(200));
    let id = format!("course-{c:04}");
    let skill = b.rng.pick(&[v1::SkillLevel::Basic, v1::SkillLevel::Intermediate, v1::SkillLevel::Advanced]);
    let format = b.rng.pick(&[v1::CourseFormat::Online, v1::CourseFormat::FaceToFace, v1::CourseFormat::Blended]);
    let hours = 4 + b.rng.below(60) as u32;
    b.push(
        listed,
        v1::AggregateType::Course,
        &id,
        P::CourseListed(v1::CourseListed {
            provider_id: m.org.clone(),
            coalition_id: m.coalition.clone(),
            title: format!("Course {c}"),
            pillar: m.pillar.into(),
            skill_level: skill.into(),
            format: format.into(),
            hours,
        }),
    );
    for r in 0..(2 + b.rng.below(5)) {
        let ended = listed + Duration::days(40 * (r as i64 + 1) + b.rng.below(30) as i64);
        if ended > end {
            break;
        }
        let enrolled = 10 + b.rng.below(60) as i64;
        let completed = enrolled * (55 + b.rng.below(40) as i64) / 100;
        let certified = completed * (30 + b.rng.below(60) as i64) / 100;
        let share = women_share(&mut b.rng, m.pillar);
        let women_enrolled = (enrolled as f64 * share) as i64;
        let women_completed = ((completed as f64 * share) as i64).min(women_enrolled);
        b.push(
            ended,
            v1::AggregateType::Course,
            &id,
            P::CourseRunCompleted(v1::CourseRunCompleted {
                run_id: format!("run-{}", r + 1),
                ended_on: wire_date(ended),
                enrolled,
                completed,
                certified,
                women_enrolled,
                women_completed,
            }),
        );
    }
}

/// Activity `a`, held by a national member some day after it joined.
fn activity(b: &mut Builder, national: &[&Member], a: usize) {
    let m = national[b.rng.below(national.len() as u64) as usize];
    let held = b.day_between(m.joined, end_of_history());
    let participants = 5 + b.rng.below(200) as i64;
    let women = (participants as f64 * women_share(&mut b.rng, m.pillar)) as i64;
    let kind = b.rng.pick(&[v1::ActivityKind::Event, v1::ActivityKind::Class, v1::ActivityKind::Campaign]);
    b.push(
        held,
        v1::AggregateType::Activity,
        &format!("activity-{a:04}"),
        P::ActivityReported(v1::ActivityReported {
            organisation_id: m.org.clone(),
            coalition_id: m.coalition.clone(),
            kind: kind.into(),
            pillar: m.pillar.into(),
            held_on: wire_date(held),
            participants,
            women,
            per_country: vec![],
        }),
    );
}
