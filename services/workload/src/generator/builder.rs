//! The history being built: the random sequence, the event ids derived from the seed, and each item as the
//! append request a client would send (with the coalition it is for).
use std::collections::HashMap;

use ledger_proto::v1::{self, event_payload::Event as P};
use time::{Date, Duration};
use uuid::Uuid;

use super::Item;
use super::rng::Rng;

pub(super) struct Builder {
    /// Every random choice of the history, in the order the parts are generated.
    pub(super) rng: Rng,
    /// The namespace of the event ids.
    seed: u64,
    /// Events so far: the next event id is derived from it.
    counter: u64,
    /// The history so far, in creation order.
    pub(super) items: Vec<Item>,
    /// The coalition each aggregate belongs to, as its first event naming one says.
    owners: HashMap<String, String>,
}

impl Builder {
    pub(super) fn new(seed: u64) -> Self {
        Self { rng: Rng(seed), seed, counter: 0, items: Vec::new(), owners: HashMap::new() }
    }

    fn id(&mut self) -> String {
        self.counter += 1;
        Uuid::new_v5(&Uuid::from_u128(u128::from(self.seed)), &self.counter.to_be_bytes()).to_string()
    }

    /// Adds one append of one event, at 09:00 UTC on `on`.
    pub(super) fn push(&mut self, on: Date, kind: v1::AggregateType, id: &str, event: P) {
        let ts = on.midnight().assume_utc() + Duration::hours(9);
        let data = v1::EventData {
            event_id: self.id(),
            occurred_at: Some(prost_types::Timestamp { seconds: ts.unix_timestamp(), nanos: 0 }),
            actor: "demo-generator".into(),
            source: v1::Source::Import.into(),
            payload: Some(v1::EventPayload { event: Some(event) }),
            ..Default::default()
        };
        // The coalition the append is for, so that a writer of several coalitions is never asked which.
        let named = match kind {
            v1::AggregateType::Coalition => Some(id.to_owned()),
            v1::AggregateType::Membership => id.split('.').next().map(str::to_owned),
            _ => ledger_proto::convert::payload_to_domain(data.payload.as_ref())
                .ok()
                .and_then(|k| k.coalition_id().map(ToString::to_string)),
        };
        let coalition = match named {
            Some(c) => self.owners.entry(format!("{}/{id}", kind.as_str_name())).or_insert(c).clone(),
            None => self.owners.get(&format!("{}/{id}", kind.as_str_name())).cloned().unwrap_or_default(),
        };
        let request = v1::AppendRequest {
            aggregate: Some(v1::AggregateRef { r#type: kind.into(), id: id.to_owned() }),
            expected_revision: None,
            events: vec![data],
            coalition_id: coalition,
        };
        self.items.push(Item { on, request });
    }

    /// A day uniformly between `a` and `b` (inclusive).
    pub(super) fn day_between(&mut self, a: Date, b: Date) -> Date {
        let span = (b - a).whole_days().max(0) as u64;
        a + Duration::days(self.rng.below(span + 1) as i64)
    }
}
