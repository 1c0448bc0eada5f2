//! Pledges (to the EU coalition, which takes pledges from anyone; made by its members here), 2.5 initiatives
//! each, ~4 reports per initiative; 3% corrections, 8% late reports, 5% withdrawn. Two heavy-tail firms make
//! the first two pledges and deliver most of the early trainings.
use ledger_proto::v1::{self, event_payload::Event as P};
use time::{Date, Duration};

use super::builder::Builder;
use super::calendar::{d, end_of_history, eu_launch, wire_date};
use super::choices::{EU_COUNTRIES, PILLARS, women_share};
use super::curves::{pledges_at, schedule};
use super::members::Member;

/// Pledges by the end of the history.
const PLEDGES: usize = 372;

/// Cumulative progress reports per initiative, at these fractions of its targets, each ~4 months apart.
const REPORTED_FRACTIONS: [f64; 4] = [0.4, 0.75, 0.95, 1.0];

/// What every initiative of a pledge shares.
struct Pledge {
    /// The 0-based number of the pledge (`p001` is 0).
    number: usize,
    /// The aggregate id, `<organisation>.<pledge>`.
    aggregate: String,
    pillars: Vec<v1::Pillar>,
    approved: Date,
    ends: Date,
    withdrawn: bool,
    initiatives: usize,
    /// Trainings the pledge delivers, before the per-initiative draws.
    scale: f64,
    placement_mean: f64,
    jobs_mean: f64,
    /// Certifications per training.
    cert_ratio: f64,
}

/// Every pledge of the history, with its initiatives, reports, corrections and its end.
pub(super) fn pledges(b: &mut Builder, members: &[Member]) {
    let eu: Vec<&Member> = members.iter().filter(|m| m.coalition == "eu").collect();
    let heavy = [eu[3].org.clone(), eu[11].org.clone()];
    let dates = schedule(pledges_at, eu_launch() + Duration::days(30), end_of_history(), PLEDGES);
    for (number, submitted) in dates.into_iter().enumerate() {
        // ~170 organisations made the first 200+ pledges: some pledge more than once.
        let member = if number < 2 {
            eu.iter().find(|m| m.org == heavy[number]).map_or(eu[0], |m| m)
        } else {
            // A member that had joined by then.
            let joined_by = eu.partition_point(|m| m.joined <= submitted).max(1);
            eu[b.rng.below(joined_by as u64) as usize]
        };
        let pledge = submit(b, number, submitted, member);
        let mut last_day = pledge.approved;
        for k in 0..pledge.initiatives {
            last_day = last_day.max(initiative(b, &pledge, k));
        }
        end_pledge(b, &pledge, last_day);
    }
}

/// Submits and approves pledge `number` of `member`, and draws what its initiatives share.
fn submit(b: &mut Builder, number: usize, submitted: Date, member: &Member) -> Pledge {
    let org = &member.org;
    let submitted = submitted.max(member.joined);
    let aggregate = format!("{org}.p{:03}", number + 1);
    let starts = submitted;
    let ends = starts + Duration::days(365 * 2 + b.rng.below(365 * 2) as i64);
    let second = b.rng.pick(&PILLARS);
    let mut pillars = vec![member.pillar];
    if second != member.pillar && b.rng.chance(0.4) {
        pillars.push(second);
    }
    let country = b.rng.pick(&EU_COUNTRIES);
    b.push(
        submitted,
        v1::AggregateType::Pledge,
        &aggregate,
        P::PledgeSubmitted(v1::PledgeSubmitted {
            organisation_id: org.clone(),
            coalition_id: "eu".into(),
            title: format!("Pledge {} by {org}", number + 1),
            pillars: pillars.iter().map(|p| (*p).into()).collect(),
            countries: vec![country.into()],
            starts_on: wire_date(starts),
            ends_on: wire_date(ends),
        }),
    );
    let approved = submitted + Duration::days(7 + b.rng.below(30) as i64);
    b.push(
        approved,
        v1::AggregateType::Pledge,
        &aggregate,
        P::PledgeApproved(v1::PledgeApproved { approved_on: wire_date(approved) }),
    );
    let withdrawn = b.rng.chance(0.05);
    let initiatives = 1 + b.rng.below(4) as usize; // 1..=4, mean 2.5
    // Scale: the two heavy-tail firms deliver most trainings (5.5M of 7.4M by mid-2018).
    // Pledges made after mid-2018 are larger but place fewer people (calibrated to the 2018 and 2021 totals).
    let after_2018 = submitted >= d(2018, 7, 1);
    let size = if after_2018 { 1.0 } else { 0.5 };
    let scale = if number < 2 { 2_750_000.0 } else { size * (9_000.0 + 66_000.0 * b.rng.f64().powi(3)) };
    let (placement_mean, jobs_mean) = if after_2018 { (117.0, 200.0) } else { (180.0, 250.0) };
    // Early pledges certified a quarter of their trainings, later ones most of them (4.5M of 11.2M by 2021).
    let cert_ratio = if number < 2 {
        0.26
    } else if submitted < d(2018, 7, 1) {
        0.3
    } else {
        0.75
    };
    Pledge {
        number,
        aggregate,
        pillars,
        approved,
        ends,
        withdrawn,
        initiatives,
        scale,
        placement_mean,
        jobs_mean,
        cert_ratio,
    }
}

/// Initiative `k` of the pledge with its targets, a rare revision and its reports; returns the day of its last
/// report (the approval's if none).
fn initiative(b: &mut Builder, pledge: &Pledge, k: usize) -> Date {
    let ini = format!("i{}", k + 1);
    let pillar = pledge.pillars[k % pledge.pillars.len()];
    let share = 1.0 / pledge.initiatives as f64;
    let scale = pledge.scale * share;
    let online = (scale * (0.5 + 0.3 * b.rng.f64())) as i64;
    let f2f = (scale * (0.45 + 0.25 * b.rng.f64())) as i64;
    let certs = ((online + f2f) as f64 * pledge.cert_ratio * (0.9 + 0.2 * b.rng.f64())) as i64;
    let reached = ((online + f2f) as f64 * (1.3 + 0.4 * b.rng.f64())) as i64;
    let placements = (pledge.placement_mean * share * b.rng.f64() * 2.0) as i64;
    let jobs = (pledge.jobs_mean * share * b.rng.f64() * 2.0) as i64;
    let courses = (scale / 1_400.0) as i64 + b.rng.below(2) as i64;
    let targets = [
        (v1::Indicator::TrainingsOnline, online),
        (v1::Indicator::TrainingsFaceToFace, f2f),
        (v1::Indicator::Certifications, certs),
        (v1::Indicator::PeopleReached, reached),
        (v1::Indicator::Placements, placements),
        (v1::Indicator::JobsMatched, jobs),
        (v1::Indicator::NewCourses, courses),
        (v1::Indicator::Beneficiaries, reached),
    ];
    let on = pledge.approved + Duration::days(k as i64);
    b.push(
        on,
        v1::AggregateType::Pledge,
        &pledge.aggregate,
        P::InitiativeAdded(v1::InitiativeAdded {
            initiative_id: ini.clone(),
            title: format!("Initiative {} of pledge {}", k + 1, pledge.number + 1),
            pillar: pillar.into(),
            targets: targets
                .iter()
                .map(|(ind, n)| v1::IndicatorAmount { indicator: (*ind).into(), amount: *n })
                .collect(),
        }),
    );
    if b.rng.chance(0.02) {
        b.push(
            on + Duration::days(90),
            v1::AggregateType::Pledge,
            &pledge.aggregate,
            P::TargetRevised(v1::TargetRevised {
                initiative_id: ini.clone(),
                indicator: v1::Indicator::TrainingsOnline.into(),
                old_target: online,
                new_target: online * 10,
                reason: "demand for online training during COVID-19".into(),
            }),
        );
    }
    let initiative = Initiative { id: ini, pillar, added: on, targets, reached };
    reports(b, pledge, &initiative).unwrap_or(pledge.approved)
}

/// An initiative as its reports need it.
struct Initiative {
    id: String,
    pillar: v1::Pillar,
    added: Date,
    targets: [(v1::Indicator, i64); 8],
    /// People the initiative reaches in the end.
    reached: i64,
}

/// Up to four reports at 40/75/95/100% of target, each ~4 months apart (8% arrive late), none after the history
/// ends and only the first of a withdrawn pledge; 3% corrected a month later. Returns the last one's day.
fn reports(b: &mut Builder, pledge: &Pledge, initiative: &Initiative) -> Option<Date> {
    let end = end_of_history();
    let mut last = None;
    for (r, frac) in REPORTED_FRACTIONS.into_iter().enumerate() {
        let period_end = initiative.added + Duration::days(120 * (r as i64 + 1));
        if period_end > end || (pledge.withdrawn && r >= 1) {
            break;
        }
        let late = if b.rng.chance(0.08) { 120 + b.rng.below(200) as i64 } else { 0 };
        let filed = (period_end + Duration::days(20 + late)).min(end);
        let progress = progress(b, initiative, frac);
        let report_id = format!("{}-r{}", initiative.id, r + 1);
        b.push(
            filed,
            v1::AggregateType::Pledge,
            &pledge.aggregate,
            P::ProgressReported(v1::ProgressReported {
                report_id: report_id.clone(),
                initiative_id: initiative.id.clone(),
                period_end: wire_date(period_end),
                progress: Some(progress.clone()),
            }),
        );
        last = Some(last.map_or(filed, |l: Date| l.max(filed)));
        if b.rng.chance(0.03) {
            // A correction lowers an over-reported figure by 5%.
            let mut fixed = progress;
            for a in &mut fixed.cumulative {
                a.amount = a.amount * 95 / 100;
            }
            b.push(
                (filed + Duration::days(30)).min(end),
                v1::AggregateType::Pledge,
                &pledge.aggregate,
                P::ProgressCorrected(v1::ProgressCorrected {
                    report_id,
                    progress: Some(fixed),
                    reason: "double-counted participants".into(),
                }),
            );
        }
    }
    last
}

/// Cumulative progress at `frac` of the targets: people reached, women among them, 70% in one country and the
/// rest in Sweden.
fn progress(b: &mut Builder, initiative: &Initiative, frac: f64) -> v1::Progress {
    let people = ((initiative.reached as f64) * frac) as i64;
    let women = (people as f64 * women_share(&mut b.rng, initiative.pillar)) as i64;
    let c1 = b.rng.pick(&EU_COUNTRIES);
    let in_c1 = people * 7 / 10;
    v1::Progress {
        cumulative: initiative
            .targets
            .iter()
            .map(|(ind, n)| v1::IndicatorAmount { indicator: (*ind).into(), amount: (*n as f64 * frac) as i64 })
            .collect(),
        people,
        women,
        per_country: if c1 == "SE" {
            vec![v1::CountryAmount { country: c1.into(), amount: people }]
        } else {
            vec![
                v1::CountryAmount { country: c1.into(), amount: in_c1 },
                v1::CountryAmount { country: "SE".into(), amount: people - in_c1 },
            ]
        },
    }
}

/// Withdraws the pledge two months after its last report, or completes it once it has ended and reported.
fn end_pledge(b: &mut Builder, pledge: &Pledge, last_day: Date) {
    let end = end_of_history();
    if pledge.withdrawn {
        let on = (last_day + Duration::days(60)).min(end);
        b.push(
            on,
            v1::AggregateType::Pledge,
            &pledge.aggregate,
            P::PledgeWithdrawn(v1::PledgeWithdrawn { withdrawn_on: wire_date(on), reason: "lack of resources".into() }),
        );
    } else if pledge.ends < end - Duration::days(30) && last_day < end - Duration::days(30) {
        let on = pledge.ends.max(last_day) + Duration::days(10);
        b.push(
            on,
            v1::AggregateType::Pledge,
            &pledge.aggregate,
            P::PledgeCompleted(v1::PledgeCompleted { completed_on: wire_date(on) }),
        );
    }
}
