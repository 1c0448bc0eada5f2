//! A deterministic (fixed-seed) history of the coalitions from 2013 to 2026, calibrated to the published figures
//! in `docs/domain.md`: 26 coalitions, ~1,200 organisations, ~370 pledges with ~900 initiatives and their reports
//! (corrections, late reports, withdrawals), course runs, activities, and content shared from May 2021 by the
//! connected coalitions. Every item is an append request for the public API; ids derive from the seed, so
//! sending the history twice writes it once.
//!
//! One module per part of the history, generated in this order from one random sequence: `coalitions`,
//! `members` (organisations and memberships), `pledges` (with initiatives and reports), `courses` (with
//! activities), `content`. The order of the draws is the history: changing it changes every later item.
mod builder;
mod calendar;
mod choices;
mod coalitions;
mod content;
mod courses;
mod curves;
mod figures;
mod members;
mod pledges;
mod programmes;
mod rng;

use ledger_proto::v1;
use time::Date;

pub use calendar::{end_of_history, eu_launch};
pub use coalitions::{NATIONAL, National};
pub use figures::{Figures, figures_at};
pub use programmes::{AREAS, PROGRAMME};

/// One request with the business date it happened on (the history is sorted by it).
#[derive(Debug, Clone)]
pub struct Item {
    pub on: Date,
    pub request: v1::AppendRequest,
}

/// Generates the history with `seed`, sorted by business date (creation order within a day).
pub fn generate(seed: u64) -> Vec<Item> {
    let mut b = builder::Builder::new(seed);
    coalitions::coalitions(&mut b);
    let members = members::organisations_and_memberships(&mut b);
    pledges::pledges(&mut b, &members);
    courses::courses_and_activities(&mut b, &members);
    content::content(&mut b);
    programmes::programmes(&mut b);
    // Chronological order; creation order breaks ties (so a registration precedes a join on the same day).
    let mut items = b.items;
    items.sort_by_key(|it| it.on);
    items
}

#[cfg(test)]
mod tests {
    use super::calendar::d;
    use super::*;
    use ledger_proto::v1::event_payload::Event as P;

    fn within(actual: i64, published: f64) -> bool {
        (actual as f64 - published).abs() <= published * 0.10
    }

    /// The demo's history is the same from one version to the next (so a second `ledger demo` writes nothing new):
    /// a change here is a change of the history, not a refactoring.
    #[test]
    fn the_seed_2013_history_is_unchanged() {
        let h = generate(2013);
        // 17,171 before Sweden's programme (363 events) and the national coordinators (35 events) were added.
        assert_eq!(h.len(), 17_569);
        let f = figures_at(&h, end_of_history());
        let counts = (f.organisations, f.pledges, f.initiatives, f.reports, f.corrections, f.withdrawn, f.course_runs);
        assert_eq!(counts, (1200, 372, 911, 3461, 111, 20, 2466));
        assert_eq!((f.trainings, f.certifications, f.placements), (16_095_936, 8_029_231, 47_584));
    }

    #[test]
    fn the_history_is_deterministic() {
        let (a, b) = (generate(7), generate(7));
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.request == y.request));
    }

    #[test]
    fn the_history_hits_the_published_figures_within_ten_percent() {
        let h = generate(2013);
        let national = |y, m, day| figures_at(&h, d(y, m, day)).national_coalitions;
        for (at, published) in [
            ((2015, 12, 31), 12.0),
            ((2017, 2, 28), 15.0),
            ((2017, 6, 30), 17.0),
            ((2018, 5, 31), 19.0),
            ((2018, 7, 31), 23.0),
            ((2026, 10, 31), 25.0),
        ] {
            let n = national(at.0, at.1, at.2);
            assert!(within(n, published), "national coalitions at {at:?}: {n}, published {published}");
        }
        let jul18 = figures_at(&h, d(2018, 7, 31));
        assert!(within(jul18.eu_members, 400.0), "EU members Jul 2018: {}", jul18.eu_members);
        assert!(within(jul18.trainings, 7_400_000.0), "trainings Jul 2018: {}", jul18.trainings);
        assert!(within(jul18.certifications, 1_900_000.0), "certifications Jul 2018: {}", jul18.certifications);
        let apr18 = figures_at(&h, d(2018, 4, 30));
        assert!(within(apr18.pledges, 100.0), "pledges Apr 2018: {}", apr18.pledges);
        let y2020 = figures_at(&h, d(2020, 6, 30));
        assert!(within(y2020.pledges, 190.0), "pledges 2020: {}", y2020.pledges);
        let oct21 = figures_at(&h, d(2021, 10, 31));
        assert!(within(oct21.eu_members, 620.0), "EU members Oct 2021: {}", oct21.eu_members);
        assert!(within(oct21.pledges, 210.0), "pledges Oct 2021: {}", oct21.pledges);
        assert!(within(oct21.trainings, 11_200_000.0), "trainings Oct 2021: {}", oct21.trainings);
        assert!(within(oct21.certifications, 4_500_000.0), "certifications Oct 2021: {}", oct21.certifications);
        assert!(within(oct21.placements, 26_600.0), "placements Oct 2021: {}", oct21.placements);
        assert!(within(oct21.jobs_matched, 40_000.0), "jobs matched Oct 2021: {}", oct21.jobs_matched);

        let all = figures_at(&h, end_of_history());
        assert!(within(all.organisations, 1_200.0), "organisations: {}", all.organisations);
        assert!(within(all.pledges, 370.0), "pledges: {}", all.pledges);
        assert!(within(all.initiatives, 900.0), "initiatives: {}", all.initiatives);
        assert!(within(all.course_runs, 2_500.0), "course runs: {}", all.course_runs);
        assert!(within(all.activities, 4_000.0), "activities: {}", all.activities);
        let first_content = h.iter().find(|it| {
            matches!(it.request.events[0].payload.as_ref().and_then(|p| p.event.as_ref()), Some(P::ContentShared(_)))
        });
        assert!(first_content.is_some_and(|it| it.on >= d(2021, 5, 20)), "content only from May 2021");
    }
}
