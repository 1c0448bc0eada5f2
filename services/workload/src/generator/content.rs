//! Content shared to the platform by connected coalitions, after they connected (May 2021 onwards); 2% withdrawn
//! two weeks later.
use ledger_proto::v1::{self, event_payload::Event as P};
use time::{Date, Duration};

use super::builder::Builder;
use super::calendar::{end_of_history, wire_date};

const SHARED: usize = 2000;

/// The shared items, each from a coalition whose website was connected by then (as the history so far says).
pub(super) fn content(b: &mut Builder) {
    let end = end_of_history();
    let connected: Vec<(String, Date)> = b
        .items
        .iter()
        .filter_map(|it| match it.request.events[0].payload.as_ref()?.event.as_ref()? {
            P::CoalitionWebsiteConnected(_) => Some((it.request.aggregate.as_ref()?.id.clone(), it.on)),
            _ => None,
        })
        .collect();
    for n in 0..SHARED {
        let (coalition, from) = connected[b.rng.below(connected.len() as u64) as usize].clone();
        let on = b.day_between(from, end);
        let id = format!("content-{n:04}");
        let content_type = b.rng.pick(&[
            v1::ContentType::News,
            v1::ContentType::Event,
            v1::ContentType::GoodPractice,
            v1::ContentType::TrainingOpportunity,
        ]);
        b.push(
            on,
            v1::AggregateType::Content,
            &id,
            P::ContentShared(v1::ContentShared {
                coalition_id: coalition,
                content_type: content_type.into(),
                title: format!("Shared item {n}"),
                shared_on: wire_date(on),
            }),
        );
        if b.rng.chance(0.02) {
            let w = (on + Duration::days(14)).min(end);
            b.push(
                w,
                v1::AggregateType::Content,
                &id,
                P::ContentWithdrawn(v1::ContentWithdrawn { withdrawn_on: wire_date(w), reason: "outdated".into() }),
            );
        }
    }
}
