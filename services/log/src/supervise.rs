//! Watching that the stream still is the log the ledger wrote: its immutability settings, subjects and limits,
//! and its sequence range (first sequence 1, last never below the highest position the ledger has seen, no gap).
//! A violation is kept as the log's fault: appends are refused while it lasts, and it is shown to health and
//! metrics.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::jetstream::stream;

use crate::{Log, LogError};

/// What is known of the stream's health, shared by every clone of a log.
#[derive(Debug)]
pub(crate) struct Supervision {
    /// The highest position this process knows the log held: its own writes, what it read, the checkpoints it was
    /// given. The stream's last sequence may never be below it.
    pub(crate) highest_seen: AtomicU64,
    /// The current violation, if any.
    pub(crate) fault: tokio::sync::watch::Sender<Option<String>>,
    /// Checks done, and checks that found a violation.
    pub(crate) checks: AtomicU64,
    pub(crate) violations: AtomicU64,
}

impl Supervision {
    pub(crate) fn new(known: u64) -> Arc<Self> {
        Arc::new(Self {
            highest_seen: AtomicU64::new(known),
            fault: tokio::sync::watch::channel(None).0,
            checks: AtomicU64::new(0),
            violations: AtomicU64::new(0),
        })
    }
}

/// Everything wrong with a stream's state against what the ledger has seen, as sentences naming the value found.
fn sequence_violations(state: &stream::State, highest_seen: u64) -> Vec<String> {
    range_violations(state.messages, state.first_sequence, state.last_sequence, highest_seen)
}

/// [`sequence_violations`] of a stream holding `messages` from `first` to `last`.
fn range_violations(messages: u64, first: u64, last: u64, highest_seen: u64) -> Vec<String> {
    let mut v = Vec::new();
    if messages > 0 && first != 1 {
        v.push(format!("its first sequence is {}, must be 1: positions 1..{} were removed or evicted", first, first));
    }
    if last < highest_seen {
        v.push(format!(
            "its last sequence is {}, below position {highest_seen} that the ledger has seen: the stream was cut \
             short or replaced",
            last
        ));
    }
    let span = if messages == 0 { 0 } else { (last + 1).saturating_sub(first.max(1)) };
    if messages < span {
        v.push(format!("{} of its positions {first}..={last} are missing", span - messages));
    }
    v
}

impl Log {
    /// Records that the log held `position` (a write acknowledged, a message read, a checkpoint).
    pub fn saw(&self, position: u64) {
        self.supervision.highest_seen.fetch_max(position, Ordering::Relaxed);
    }

    /// The highest position this process knows the log held.
    pub fn highest_seen(&self) -> u64 {
        self.supervision.highest_seen.load(Ordering::Relaxed)
    }

    /// The stream's current violation, if the last check found one.
    pub fn stream_fault(&self) -> Option<String> {
        self.supervision.fault.borrow().clone()
    }

    /// Refuses a write (or a read for one) while the stream has a fault.
    pub(crate) fn refuse_if_faulted(&self) -> Result<(), LogError> {
        match self.stream_fault() {
            Some(reason) => Err(LogError::Unavailable(format!("appends are refused: {reason}"))),
            None => Ok(()),
        }
    }

    /// Changes of [`Self::stream_fault`].
    pub fn watch_stream_fault(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.supervision.fault.subscribe()
    }

    /// (checks done, checks that found a violation), for metrics.
    pub fn stream_checks(&self) -> (u64, u64) {
        (self.supervision.checks.load(Ordering::Relaxed), self.supervision.violations.load(Ordering::Relaxed))
    }

    /// Checks the stream's configuration and sequence range now. A violation becomes the log's fault (logged at
    /// ERROR when it appears) and is returned; a passing check clears an earlier fault (logged at WARN). An
    /// unreachable server is not a violation: the error is returned and the fault left as it was.
    pub async fn check_stream(&self) -> Result<(), LogError> {
        let name = self.stream_name().to_owned();
        // Read before the stream's state is fetched: a position seen after the fetch (an append acknowledged
        // meanwhile) may be beyond the state fetched, without anything being lost.
        let seen = self.highest_seen();
        let found = match self.js.get_stream(&name).await {
            Ok(mut s) => {
                Some(s.info().await.map_err(|e| LogError::Unavailable(format!("stream {name}: {e}")))?.clone())
            }
            Err(e) if crate::stream::not_found(&e) => None,
            Err(e) => return Err(LogError::Unavailable(format!("stream {name}: {e}"))),
        };
        self.supervision.checks.fetch_add(1, Ordering::Relaxed);
        let reasons = match &found {
            None => vec![format!("it is missing (deleted?); the ledger has seen position {seen}")],
            Some(info) => {
                let mut r: Vec<String> = crate::stream::immutability_violations(&info.config, &self.prefix)
                    .into_iter()
                    .map(|(setting, found, required)| format!("{setting} is {found}, must be {required}"))
                    .collect();
                r.extend(sequence_violations(&info.state, seen));
                r
            }
        };
        if reasons.is_empty() {
            if let Some(info) = &found {
                self.saw(info.state.last_sequence);
            }
            let was = self.supervision.fault.send_replace(None);
            if let Some(was) = was {
                tracing::warn!(stream = %name, was, "the stream passes its checks again; appends resume");
            }
            return Ok(());
        }
        let reason = format!("stream {name}: {}", reasons.join("; "));
        self.supervision.violations.fetch_add(1, Ordering::Relaxed);
        let was = self.supervision.fault.send_replace(Some(reason.clone()));
        if was.as_deref() != Some(reason.as_str()) {
            tracing::error!(stream = %name, %reason, "the log's stream is not the log the ledger wrote; appends are refused");
        }
        Err(LogError::StreamViolated(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intact_stream_passes_and_each_loss_is_named() {
        assert!(range_violations(0, 0, 0, 0).is_empty());
        assert!(range_violations(10, 1, 10, 10).is_empty());
        assert!(range_violations(10, 1, 10, 4).is_empty());
        let evicted = range_violations(10, 73_568, 73_577, 73_577);
        assert_eq!(evicted.len(), 1, "{evicted:?}");
        assert!(evicted[0].contains("first sequence is 73568"), "{evicted:?}");
        let replaced = range_violations(1, 1, 1, 73_577);
        assert!(replaced[0].contains("below position 73577"), "{replaced:?}");
        let gap = range_violations(8, 1, 10, 10);
        assert!(gap[0].contains("2 of its positions 1..=10 are missing"), "{gap:?}");
    }
}
