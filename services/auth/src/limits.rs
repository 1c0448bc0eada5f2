//! Per-principal admission, after authentication: a cap on each principal's calls in flight, a token-bucket rate
//! limit per principal, and a cap on the server's calls in flight. A call over a limit is answered at once with
//! `RESOURCE_EXHAUSTED` naming the limit, so one client's burst never queues the others.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a principal, and the server as a whole, may have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Calls one principal may have in flight at once.
    pub per_principal_in_flight: usize,
    /// Calls the server may have in flight at once, over every principal.
    pub in_flight: usize,
    /// Calls per second one principal may start on average (0: no rate limit).
    pub per_principal_rate: f64,
    /// Calls one principal may start in a burst above the rate.
    pub per_principal_burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_principal_in_flight: 256,
            in_flight: 2048,
            per_principal_rate: 20_000.0,
            per_principal_burst: 40_000.0,
        }
    }
}

/// Principals remembered before idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

/// The admission state of one server (shared by its connections).
#[derive(Debug, Clone)]
pub struct Limiter {
    limits: Limits,
    total: Arc<Semaphore>,
    principals: Arc<Mutex<HashMap<String, Tracked>>>,
}

#[derive(Debug)]
struct Tracked {
    in_flight: Arc<Semaphore>,
    tokens: f64,
    at: Instant,
}

/// Held while a call is in flight; dropping it frees the call's places.
#[derive(Debug)]
pub struct Admitted {
    _principal: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

/// Why a call was not admitted: answered `RESOURCE_EXHAUSTED` with this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("principal {principal} already has {limit} calls in flight (the most one principal may have); retry later")]
    PrincipalInFlight { principal: String, limit: usize },
    #[error("the server already has {limit} calls in flight; retry later")]
    ServerInFlight { limit: usize },
    #[error("principal {principal} is over its rate limit of {rate} calls per second; retry in {retry_ms} ms")]
    Rate { principal: String, rate: f64, retry_ms: u64 },
}

impl Refused {
    /// The label counted in `ledger_limit_refusals_total{limit}`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::PrincipalInFlight { .. } => "principal_in_flight",
            Self::ServerInFlight { .. } => "server_in_flight",
            Self::Rate { .. } => "rate",
        }
    }
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self { total: Arc::new(Semaphore::new(limits.in_flight.max(1))), limits, principals: Arc::default() }
    }

    /// Admits a call of `principal` now, or says which limit it is over.
    pub fn admit(&self, principal: &str) -> Result<Admitted, Refused> {
        self.admit_at(principal, Instant::now()).inspect_err(|r| crate::metrics::limit_refused(r.label()))
    }

    fn admit_at(&self, principal: &str, now: Instant) -> Result<Admitted, Refused> {
        let l = self.limits;
        let own = {
            let mut map = self.principals.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_TRACKED && !map.contains_key(principal) {
                forget_idle(&mut map, &l, now);
            }
            let t = map.entry(principal.to_owned()).or_insert_with(|| Tracked {
                in_flight: Arc::new(Semaphore::new(l.per_principal_in_flight.max(1))),
                tokens: l.per_principal_burst.max(1.0),
                at: now,
            });
            if l.per_principal_rate > 0.0 {
                let elapsed = now.saturating_duration_since(t.at).as_secs_f64();
                t.tokens = (t.tokens + elapsed * l.per_principal_rate).min(l.per_principal_burst.max(1.0));
                t.at = now;
                if t.tokens < 1.0 {
                    let retry_ms = ((1.0 - t.tokens) / l.per_principal_rate * 1000.0).ceil() as u64;
                    return Err(Refused::Rate {
                        principal: principal.to_owned(),
                        rate: l.per_principal_rate,
                        retry_ms,
                    });
                }
            }
            let permit = t.in_flight.clone().try_acquire_owned().map_err(|_| Refused::PrincipalInFlight {
                principal: principal.to_owned(),
                limit: l.per_principal_in_flight,
            })?;
            // The server's place before the token: a call refused for any reason costs no token.
            let total =
                self.total.clone().try_acquire_owned().map_err(|_| Refused::ServerInFlight { limit: l.in_flight })?;
            if l.per_principal_rate > 0.0 {
                t.tokens -= 1.0;
            }
            (permit, total)
        };
        Ok(Admitted { _principal: own.0, _total: own.1 })
    }
}

/// Forgets principals with nothing in flight and a full bucket (they would start over the same).
fn forget_idle(map: &mut HashMap<String, Tracked>, l: &Limits, now: Instant) {
    map.retain(|_, t| {
        let idle = t.in_flight.available_permits() == l.per_principal_in_flight.max(1);
        let refilled = l.per_principal_rate <= 0.0
            || t.tokens + now.saturating_duration_since(t.at).as_secs_f64() * l.per_principal_rate
                >= l.per_principal_burst;
        !(idle && refilled)
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(in_flight: usize, total: usize, rate: f64, burst: f64) -> Limiter {
        Limiter::new(Limits {
            per_principal_in_flight: in_flight,
            in_flight: total,
            per_principal_rate: rate,
            per_principal_burst: burst,
        })
    }

    #[test]
    fn given_a_principal_at_its_in_flight_cap_then_it_is_refused_and_another_is_admitted() {
        let l = limiter(2, 100, 0.0, 0.0);
        let now = Instant::now();
        let a1 = l.admit_at("a", now).unwrap();
        let _a2 = l.admit_at("a", now).unwrap();
        assert_eq!(l.admit_at("a", now).unwrap_err(), Refused::PrincipalInFlight { principal: "a".into(), limit: 2 });
        let _b = l.admit_at("b", now).unwrap();
        drop(a1);
        l.admit_at("a", now).unwrap();
    }

    #[test]
    fn given_the_server_at_its_cap_then_every_principal_is_refused_until_a_call_ends() {
        let l = limiter(10, 2, 0.0, 0.0);
        let now = Instant::now();
        let a = l.admit_at("a", now).unwrap();
        let _b = l.admit_at("b", now).unwrap();
        assert_eq!(l.admit_at("c", now).unwrap_err(), Refused::ServerInFlight { limit: 2 });
        drop(a);
        l.admit_at("c", now).unwrap();
    }

    #[test]
    fn given_a_burst_used_up_then_calls_are_refused_until_the_bucket_refills() {
        let l = limiter(100, 100, 10.0, 3.0);
        let now = Instant::now();
        for _ in 0..3 {
            drop(l.admit_at("a", now).unwrap());
        }
        let Refused::Rate { retry_ms, .. } = l.admit_at("a", now).unwrap_err() else { panic!("not a rate refusal") };
        assert_eq!(retry_ms, 100, "one token at 10 per second");
        drop(l.admit_at("b", now).unwrap());
        drop(l.admit_at("a", now + Duration::from_millis(100)).unwrap());
        assert!(l.admit_at("a", now + Duration::from_millis(100)).is_err());
        // A refused call costs no token: after a full second, three calls again (the burst), not more.
        let later = now + Duration::from_secs(5);
        for _ in 0..3 {
            drop(l.admit_at("a", later).unwrap());
        }
        assert!(l.admit_at("a", later).is_err());
    }

    #[test]
    fn a_call_refused_for_the_servers_cap_costs_no_token() {
        let l = limiter(10, 1, 10.0, 2.0);
        let now = Instant::now();
        let held = l.admit_at("a", now).unwrap();
        for _ in 0..3 {
            assert_eq!(l.admit_at("b", now).unwrap_err(), Refused::ServerInFlight { limit: 1 });
        }
        drop(held);
        drop(l.admit_at("b", now).unwrap());
        drop(l.admit_at("b", now).unwrap());
        assert!(matches!(l.admit_at("b", now).unwrap_err(), Refused::Rate { .. }), "b's burst of 2, used only now");
    }

    #[test]
    fn idle_principals_are_forgotten_when_many_are_tracked() {
        let l = limiter(1, 100_000, 1.0, 1.0);
        let now = Instant::now();
        for i in 0..MAX_TRACKED {
            drop(l.admit_at(&format!("p{i}"), now).unwrap());
        }
        let held = l.admit_at("new", now + Duration::from_secs(10)).unwrap();
        let map = l.principals.lock().unwrap();
        assert_eq!(map.len(), 1, "the refilled idle ones are forgotten, the new one is kept");
        drop(map);
        drop(held);
    }
}
