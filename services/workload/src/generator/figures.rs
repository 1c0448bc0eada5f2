//! Figures computed from a generated history, for calibration against the published ones.
use std::collections::HashMap;

use ledger_proto::v1::{self, event_payload::Event as P};
use time::Date;

use super::Item;

/// Figures computed from a generated history, for calibration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub national_coalitions: i64,
    pub eu_members: i64,
    pub organisations: i64,
    pub pledges: i64,
    pub initiatives: i64,
    pub reports: i64,
    pub corrections: i64,
    pub withdrawn: i64,
    pub trainings: i64,
    pub trainings_online: i64,
    pub certifications: i64,
    pub placements: i64,
    pub jobs_matched: i64,
    pub course_runs: i64,
    pub activities: i64,
    pub content: i64,
}

/// The figures as known on `at` (events up to and including that business date).
pub fn figures_at(items: &[Item], at: Date) -> Figures {
    let mut f = Figures::default();
    // Per initiative: the figures of the report covering the latest period (late reports do not move it back).
    type PeriodFigures = (Option<v1::Date>, HashMap<i32, i64>);
    let mut latest: HashMap<(String, String), PeriodFigures> = HashMap::new();
    let mut report_of: HashMap<(String, String), (String, Option<v1::Date>)> = HashMap::new();
    let key_of = |d: &Option<v1::Date>| d.map(|d| (d.year, d.month, d.day));
    for it in items.iter().take_while(|it| it.on <= at) {
        let agg = it.request.aggregate.as_ref().map(|a| a.id.clone()).unwrap_or_default();
        let Some(event) = it.request.events[0].payload.as_ref().and_then(|p| p.event.as_ref()) else { continue };
        match event {
            P::CoalitionEstablished(c) if c.kind == v1::CoalitionKind::National as i32 => f.national_coalitions += 1,
            P::OrganisationRegistered(_) => f.organisations += 1,
            P::MembershipApproved(m) if m.coalition_id == "eu" => f.eu_members += 1,
            P::MembershipLeft(m) if m.coalition_id == "eu" => f.eu_members -= 1,
            P::PledgeSubmitted(_) => f.pledges += 1,
            P::InitiativeAdded(_) => f.initiatives += 1,
            P::ProgressReported(r) => {
                f.reports += 1;
                let key = (agg.clone(), r.initiative_id.clone());
                report_of.insert((agg.clone(), r.report_id.clone()), (r.initiative_id.clone(), r.period_end));
                let p = r.progress.as_ref().map(|p| p.cumulative.clone()).unwrap_or_default();
                if latest.get(&key).is_none_or(|(d, _)| key_of(d) <= key_of(&r.period_end)) {
                    latest.insert(key, (r.period_end, p.iter().map(|a| (a.indicator, a.amount)).collect()));
                }
            }
            P::ProgressCorrected(c) => {
                f.corrections += 1;
                if let Some((ini, period)) = report_of.get(&(agg.clone(), c.report_id.clone())) {
                    let key = (agg.clone(), ini.clone());
                    let p = c.progress.as_ref().map(|p| p.cumulative.clone()).unwrap_or_default();
                    if latest.get(&key).is_some_and(|(d, _)| key_of(d) == key_of(period)) {
                        latest.insert(key, (*period, p.iter().map(|a| (a.indicator, a.amount)).collect()));
                    }
                }
            }
            P::PledgeWithdrawn(_) => f.withdrawn += 1,
            P::CourseRunCompleted(_) => f.course_runs += 1,
            P::ActivityReported(_) => f.activities += 1,
            P::ContentShared(_) => f.content += 1,
            _ => {}
        }
    }
    for (_, amounts) in latest.values() {
        let get = |i: v1::Indicator| amounts.get(&(i as i32)).copied().unwrap_or(0);
        f.trainings_online += get(v1::Indicator::TrainingsOnline);
        f.trainings += get(v1::Indicator::TrainingsOnline) + get(v1::Indicator::TrainingsFaceToFace);
        f.certifications += get(v1::Indicator::Certifications);
        f.placements += get(v1::Indicator::Placements);
        f.jobs_matched += get(v1::Indicator::JobsMatched);
    }
    f
}
