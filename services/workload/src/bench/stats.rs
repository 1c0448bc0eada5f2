//! The few statistics the benchmark reports: percentiles of latencies, milliseconds, rates.
use std::time::Duration;

/// The `p` percentile (0 to 1) of `sorted`, nearest rank; zero if empty.
pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Milliseconds, to two decimals.
pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// Events per second.
pub(super) fn rate(n: usize, d: Duration) -> u64 {
    (n as f64 / d.as_secs_f64().max(1e-9)).round() as u64
}
