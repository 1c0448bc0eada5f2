//! Process-wide counters of authentication failures (by reason), authorisation refusals (by missing role) and
//! calls refused by a limit, rendered by the `/metrics` endpoint as `ledger_auth_failures_total{reason}`,
//! `ledger_auth_denied_total{grant}` and `ledger_limit_refusals_total{limit}`.
use std::collections::BTreeMap;
use std::sync::Mutex;

static FAILURES: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());
static DENIED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static LIMIT_REFUSALS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());
static KEY_RELOAD_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn key_reload_failed() {
    KEY_RELOAD_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Times the public key file changed but did not read (the previous keys stayed in use).
pub fn key_reload_failures() -> u64 {
    KEY_RELOAD_FAILURES.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn failure(reason: &'static str) {
    *FAILURES.lock().unwrap_or_else(|p| p.into_inner()).entry(reason).or_default() += 1;
}

/// Counts a refusal by the role of the missing grant (`writer:se` counts as `writer`), so the label set stays small.
pub fn count_denied(missing: &str) {
    let role = missing.split([':', ' ']).next().unwrap_or(missing).to_owned();
    *DENIED.lock().unwrap_or_else(|p| p.into_inner()).entry(role).or_default() += 1;
}

/// Failures so far, by reason.
pub fn failures() -> Vec<(String, u64)> {
    FAILURES.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Refusals so far, by the role of the missing grant.
pub fn refusals() -> Vec<(String, u64)> {
    DENIED.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), *v)).collect()
}

pub(crate) fn limit_refused(limit: &'static str) {
    *LIMIT_REFUSALS.lock().unwrap_or_else(|p| p.into_inner()).entry(limit).or_default() += 1;
}

/// Calls refused by a limit so far (`ledger_limit_refusals_total{limit}`), by limit.
pub fn limit_refusals() -> Vec<(String, u64)> {
    LIMIT_REFUSALS.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}
