//! Growth curves through the published figures, and their inverses: the dates on which each next member joins
//! or each next pledge is submitted.
use time::{Date, Duration};

use super::calendar::{d, end_of_history, eu_launch};

/// Target number of EU-level members at a date: a piecewise-linear curve through the published points.
pub(super) fn eu_members_at(t: Date) -> f64 {
    let points = [(eu_launch(), 0.0), (d(2018, 7, 1), 400.0), (d(2021, 10, 1), 620.0), (end_of_history(), 700.0)];
    curve(&points, t)
}

/// Target number of pledges submitted by a date.
pub(super) fn pledges_at(t: Date) -> f64 {
    let points = [
        (eu_launch(), 0.0),
        (d(2018, 4, 1), 100.0),
        (d(2018, 7, 1), 110.0),
        (d(2020, 6, 1), 190.0),
        (d(2021, 10, 1), 210.0),
        (d(2023, 1, 1), 231.0),
        (d(2024, 12, 31), 370.0),
        (end_of_history(), 372.0),
    ];
    curve(&points, t)
}

/// The piecewise-linear curve through `points` (sorted by date) at `t`, flat before the first and after the last.
fn curve(points: &[(Date, f64)], t: Date) -> f64 {
    if t <= points[0].0 {
        return points[0].1;
    }
    for w in points.windows(2) {
        let ((a, va), (b, vb)) = (w[0], w[1]);
        if t <= b {
            let f = (t - a).whole_days() as f64 / (b - a).whole_days().max(1) as f64;
            return va + (vb - va) * f;
        }
    }
    points[points.len() - 1].1
}

/// Inverts a curve: the dates at which the 1st, 2nd, ... n-th item is reached.
pub(super) fn schedule(f: impl Fn(Date) -> f64, from: Date, to: Date, n: usize) -> Vec<Date> {
    let mut out = Vec::with_capacity(n);
    let mut day = from;
    while day <= to && out.len() < n {
        while out.len() < n && f(day) >= (out.len() + 1) as f64 {
            out.push(day);
        }
        day += Duration::days(1);
    }
    while out.len() < n {
        out.push(to);
    }
    out
}
