//! Synthetic events, written by the benchmark straight into its own raw and rebuild streams (never the ledger's):
//! coalitions, then organisations with their memberships, activities, leaves and renames.
use bytes::Bytes;
use ledger_domain::event::{
    ActivityKind, ActivityReported, CoalitionEstablished, CoalitionKind, MembershipApproved, MembershipLeft,
    OrganisationRegistered, OrganisationSize, OrganisationType, Pillar,
};
use ledger_domain::{Aggregate, AggregateType, CountryCode, Event, EventKind, EventMeta, Source, Token};
use time::OffsetDateTime;
use time::macros::date;
use uuid::Uuid;

const COALITIONS: u64 = 26;

fn token(s: String) -> Token {
    Token::parse("bench", &s).unwrap_or_else(|_| unreachable!("benchmark ids are valid tokens"))
}

/// The `i`-th synthetic event: 26 coalitions first, then per organisation its registration, a membership, an
/// activity and, for every second one, a leave.
fn synthetic(i: u64) -> (Aggregate, Event) {
    let on = date!(2024 - 01 - 15);
    let (aggregate, kind) = if i < COALITIONS {
        let id = token(format!("c{i}"));
        let kind = EventKind::CoalitionEstablished(CoalitionEstablished {
            name: format!("Coalition {i}"),
            kind: if i == 0 { CoalitionKind::Eu } else { CoalitionKind::National },
            country: (i > 0).then(|| CountryCode::parse("bench", "SE").unwrap_or_else(|_| unreachable!())),
            launched_on: date!(2016 - 01 - 01),
            open_pledging: true,
        });
        (Aggregate::coalition(&id), kind)
    } else {
        let n = (i - COALITIONS) / 4;
        let org = token(format!("o{n}"));
        let coalition = token(format!("c{}", n % COALITIONS));
        match (i - COALITIONS) % 4 {
            0 => (
                Aggregate::organisation(&org),
                EventKind::OrganisationRegistered(OrganisationRegistered {
                    name: format!("Organisation {n}"),
                    country: CountryCode::parse("bench", "SE").unwrap_or_else(|_| unreachable!()),
                    organisation_type: OrganisationType::IctCompany,
                    size: OrganisationSize::Sme,
                }),
            ),
            1 => (
                Aggregate::membership(&coalition, &org),
                EventKind::MembershipApproved(MembershipApproved {
                    coalition_id: coalition.clone(),
                    organisation_id: org.clone(),
                    joined_on: on,
                }),
            ),
            2 => (
                Aggregate::parse(AggregateType::Activity, &format!("a{n}")).unwrap_or_else(|_| unreachable!()),
                EventKind::ActivityReported(ActivityReported {
                    organisation_id: org,
                    coalition_id: coalition,
                    kind: ActivityKind::Event,
                    pillar: Pillar::All,
                    held_on: on,
                    participants: 40,
                    women: 20,
                    per_country: Vec::new(),
                }),
            ),
            _ => (
                Aggregate::membership(&coalition, &org),
                if n.is_multiple_of(2) {
                    EventKind::MembershipLeft(MembershipLeft {
                        coalition_id: coalition,
                        organisation_id: org,
                        left_on: on,
                        reason: "benchmark".into(),
                    })
                } else {
                    EventKind::OrganisationRenamed(ledger_domain::event::OrganisationRenamed {
                        name: format!("Organisation {n} renamed"),
                    })
                },
            ),
        }
    };
    // A rename belongs to the organisation.
    let aggregate = match &kind {
        EventKind::OrganisationRenamed(_) => Aggregate::organisation(&token(format!("o{}", (i - COALITIONS) / 4))),
        _ => aggregate,
    };
    let now = OffsetDateTime::now_utc();
    let meta = EventMeta {
        event_id: Uuid::new_v4(),
        occurred_at: now,
        recorded_at: now,
        actor: "bench".into(),
        principal: "bench".into(),
        source: Source::Import,
        correlation_id: Uuid::new_v4(),
        causation_id: None,
    };
    (aggregate, Event { meta, kind })
}

/// (subject, body) of synthetic events `from..to` under `prefix`.
pub(super) fn synthetic_messages(prefix: &str, from: u64, to: u64) -> Vec<(String, Bytes)> {
    (from..to)
        .map(|i| {
            let (aggregate, event) = synthetic(i);
            let body = Bytes::from(ledger_proto::stored::encode(&aggregate, &event));
            (format!("{prefix}.{}", aggregate.subject_suffix()), body)
        })
        .collect()
}
