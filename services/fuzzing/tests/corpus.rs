//! The fuzz targets on the committed corpus (`fuzz/corpus/<target>/`, replayed on every test run, no fuzzer
//! needed) and on the seeds it was started from: real requests and log messages, which the served code must
//! accept. `cargo test -p ledger-fuzzing -- --ignored write_seed_corpus` writes the seeds into the corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::BTreeMap;
use std::path::PathBuf;

use ledger_domain::event::EventType;
use ledger_domain::{Event, EventMeta};
use ledger_fuzzing::{TARGETS, Target};
use ledger_proto::v1;
use prost::Message;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

fn target(name: &str) -> Target {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).unwrap()
}

/// A seed: its file name, its bytes and whether the served code accepts it.
type Seed = (String, Vec<u8>, bool);

/// The seeds by target.
fn seeds() -> BTreeMap<&'static str, Vec<Seed>> {
    let mut out: BTreeMap<&'static str, Vec<Seed>> = BTreeMap::new();
    let mut add =
        |t: &'static str, name: String, bytes: Vec<u8>, ok: bool| out.entry(t).or_default().push((name, bytes, ok));

    // Append: the demo history's first request of each event type, as a client sends it.
    let history = ledger_workload::generator::generate(1);
    let mut firsts: BTreeMap<String, v1::AppendRequest> = BTreeMap::new();
    for item in &history {
        let cmd = ledger_append::grpc::command_from_request(&item.request).unwrap();
        firsts.entry(cmd.events[0].kind.type_name().to_owned()).or_insert_with(|| item.request.clone());
    }
    // The types the demo history does not hold, by hand (membership `se.acme`, organisation `acme`, coalition `se`,
    // Sweden's programme).
    use v1::event_payload::Event as P;
    let date = |year, month, day| Some(v1::Date { year, month, day });
    let by_hand = [
        (
            v1::AggregateType::Coalition,
            "se",
            P::CoalitionCoordinatorChanged(v1::CoalitionCoordinatorChanged {
                organisation_id: "acme".into(),
                changed_on: date(2020, 1, 1),
            }),
        ),
        (
            v1::AggregateType::Coalition,
            "se",
            P::CoalitionDeactivated(v1::CoalitionDeactivated {
                deactivated_on: date(2025, 1, 1),
                reason: "merged into another".into(),
            }),
        ),
        (
            v1::AggregateType::Organisation,
            "acme",
            P::OrganisationRenamed(v1::OrganisationRenamed { name: "Acme AB".into() }),
        ),
        (
            v1::AggregateType::Membership,
            "se.acme",
            P::MembershipApplied(v1::MembershipApplied {
                coalition_id: "se".into(),
                organisation_id: "acme".into(),
                applied_on: date(2019, 1, 3),
            }),
        ),
        (
            v1::AggregateType::Membership,
            "se.acme",
            P::MembershipRoleAssigned(v1::MembershipRoleAssigned {
                coalition_id: "se".into(),
                organisation_id: "acme".into(),
                role: v1::MemberRole::ContactPoint.into(),
            }),
        ),
        (
            v1::AggregateType::Programme,
            "se-skills-supply",
            P::WorkingGroupClosed(v1::WorkingGroupClosed {
                group_id: "wg1".into(),
                closed_on: date(2026, 6, 30),
                reason: "its objective is met".into(),
            }),
        ),
        (
            v1::AggregateType::Programme,
            "se-skills-supply",
            P::ProgrammeEnded(v1::ProgrammeEnded { ended_on: date(2026, 12, 31), reason: "the term ended".into() }),
        ),
    ];
    for (kind, id, payload) in by_hand {
        let mut req = firsts["membership_approved"].clone();
        req.aggregate = Some(v1::AggregateRef { r#type: kind.into(), id: id.into() });
        req.coalition_id = "se".into();
        req.events[0].payload = Some(v1::EventPayload { event: Some(payload) });
        let cmd = ledger_append::grpc::command_from_request(&req).unwrap();
        firsts.entry(cmd.events[0].kind.type_name().to_owned()).or_insert(req);
    }
    let missing: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).filter(|t| !firsts.contains_key(*t)).collect();
    assert!(missing.is_empty(), "no seed of {missing:?}: add one");
    for (ty, req) in &firsts {
        add("append", format!("seed-{ty}"), req.encode_to_vec(), true);
    }
    let mut revised = firsts["membership_approved"].clone();
    revised.expected_revision =
        Some(v1::ExpectedRevision { expected: Some(v1::expected_revision::Expected::Exact(3)) });
    add("append", "seed-expected-exact".into(), revised.encode_to_vec(), true);
    let mut bad_id = revised.clone();
    bad_id.events[0].event_id = "not-a-uuid".into();
    add("append", "seed-bad-event-id".into(), bad_id.encode_to_vec(), false);
    let mut other = revised;
    other.coalition_id = "other".into();
    add("append", "seed-other-coalition".into(), other.encode_to_vec(), false);

    // AppendMany: a few appends of several types together.
    let many = |reqs: Vec<v1::AppendRequest>| v1::AppendManyRequest { appends: reqs }.encode_to_vec();
    add("append_many", "seed-first-5".into(), many(history.iter().take(5).map(|i| i.request.clone()).collect()), true);
    add("append_many", "seed-every-type".into(), many(firsts.values().cloned().collect()), true);
    add("append_many", "seed-empty".into(), many(vec![]), true);

    // Reports: filters, pages and consistency as clients send them.
    let filter = |c: &str, country: &str, pillar: i32, org: &str, from: &str, to: &str| {
        Some(v1::ReportFilter {
            coalition_id: c.into(),
            country: country.into(),
            pillar,
            organisation_id: org.into(),
            from: from.into(),
            to: to.into(),
        })
    };
    use v1::as_of_log::Point;
    let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    let as_of = |point, consistency| v1::ReportRequest {
        as_of_log: Some(v1::AsOfLog { point }),
        consistency,
        filter: filter("se", "", 0, "", "2024", "2025"),
        ..Default::default()
    };
    let reports = [
        ("empty", v1::ReportRequest::default(), true),
        ("coalition", v1::ReportRequest { filter: filter("se", "", 0, "", "", ""), ..Default::default() }, true),
        (
            "every-filter",
            v1::ReportRequest { filter: filter("se", "SE", 1, "swedsoft", "2019", "2021-06"), ..Default::default() },
            false,
        ),
        (
            "days",
            v1::ReportRequest { filter: filter("", "", 0, "", "2020-01-15", "2020-02-01"), ..Default::default() },
            true,
        ),
        (
            "page",
            v1::ReportRequest { page: Some(v1::Page { page_size: 1000, offset: 5000 }), ..Default::default() },
            true,
        ),
        (
            "page-too-big",
            v1::ReportRequest { page: Some(v1::Page { page_size: 1001, offset: 0 }), ..Default::default() },
            false,
        ),
        (
            "consistency",
            v1::ReportRequest {
                consistency: Some(v1::Consistency { min_position: 42, max_wait_ms: 60_000 }),
                ..Default::default()
            },
            true,
        ),
        (
            "to-before-from",
            v1::ReportRequest { filter: filter("", "", 0, "", "2021", "2020"), ..Default::default() },
            false,
        ),
        ("bad-country", v1::ReportRequest { filter: filter("", "Sweden", 0, "", "", ""), ..Default::default() }, false),
        ("as-of-position", as_of(Some(Point::Position(1200)), None), true),
        ("as-of-record-time", as_of(Some(Point::RecordedBy(at(1_735_689_599))), None), true),
        ("as-of-unset", as_of(None, None), false),
        ("as-of-before-year-1", as_of(Some(Point::RecordedBy(at(-62_135_596_801))), None), false),
        (
            "as-of-with-consistency",
            as_of(Some(Point::Position(3)), Some(v1::Consistency { min_position: 3, max_wait_ms: 0 })),
            false,
        ),
    ];
    for (name, req, ok) in reports {
        add("report", format!("seed-{name}"), req.encode_to_vec(), ok);
    }
    for (name, as_of, ok) in [
        ("today", "", true),
        ("day", "2024-03-01", true),
        ("leap-day", "2024-02-29", true),
        ("month", "2024-03", false),
        ("garbage", "yesterday", false),
    ] {
        let req = v1::ReportRequest {
            as_of: as_of.into(),
            filter: filter("se", "", 0, "", "", ""),
            page: Some(v1::Page { page_size: 10, offset: 20 }),
            ..Default::default()
        };
        add("dormant_members", format!("seed-{name}"), req.encode_to_vec(), ok);
    }

    // Replay: starts, filters and limits.
    use v1::replay_request::Start;
    let ts = |seconds| Some(Start::FromTime(prost_types::Timestamp { seconds, nanos: 0 }));
    let replays = [
        ("everything", v1::ReplayRequest::default(), true),
        (
            "from-position",
            v1::ReplayRequest { start: Some(Start::FromPosition(0)), limit: 10, ..Default::default() },
            true,
        ),
        ("from-time", v1::ReplayRequest { start: ts(1_600_000_000), ..Default::default() }, true),
        ("before-year-1", v1::ReplayRequest { start: ts(-62_135_596_801), ..Default::default() }, false),
        (
            "filtered",
            v1::ReplayRequest {
                coalition_id: "se".into(),
                aggregate: Some(v1::AggregateRef {
                    r#type: v1::AggregateType::Membership.into(),
                    id: "se.swedsoft".into(),
                }),
                event_types: vec!["membership_approved".into(), "membership_left".into()],
                ..Default::default()
            },
            true,
        ),
        ("bad-coalition", v1::ReplayRequest { coalition_id: "SE!".into(), ..Default::default() }, false),
    ];
    for (name, req, ok) in replays {
        add("replay", format!("seed-{name}"), req.encode_to_vec(), ok);
    }

    // Stored events: each append seed's first event as the append service writes it; the payloads alone for the
    // upcaster, with the type and version bytes in front.
    for (ty, req) in &firsts {
        let cmd = ledger_append::grpc::command_from_request(req).unwrap();
        let e = &cmd.events[0];
        let event = Event {
            meta: EventMeta {
                event_id: e.event_id,
                occurred_at: e.occurred_at,
                recorded_at: time::macros::datetime!(2026-11-23 07:00:00.123456789 UTC),
                actor: e.actor.clone(),
                principal: "svc-se".into(),
                source: e.source,
                correlation_id: e.correlation_id.unwrap_or(e.event_id),
                causation_id: e.causation_id,
            },
            kind: e.kind.clone(),
        };
        let body = ledger_proto::stored::encode(&cmd.aggregate, &event);
        add("stored_event", format!("seed-{ty}"), body.clone(), true);
        let envelope = ledger_proto::stored::decode_envelope(&body).unwrap();
        let t = EventType::ALL.iter().position(|t| t.name() == ty).unwrap();
        let mut upcast = vec![u8::try_from(t).unwrap(), u8::try_from(envelope.schema_version).unwrap()];
        upcast.extend_from_slice(&envelope.payload);
        add("upcast", format!("seed-{ty}"), upcast, true);
        if ty == "pledge_submitted" {
            let v2 = v1::PledgeSubmitted::decode(envelope.payload.as_slice()).unwrap();
            let old = v1::PledgeSubmittedV1 {
                organisation_id: v2.organisation_id,
                coalition_id: v2.coalition_id,
                title: v2.title,
                pillar: v2.pillars[0],
                countries: v2.countries,
                starts_on: v2.starts_on,
                ends_on: v2.ends_on,
            };
            let mut v1_body = envelope.clone();
            v1_body.schema_version = 1;
            v1_body.payload = old.encode_to_vec();
            add("stored_event", "seed-pledge_submitted-v1".into(), v1_body.encode_to_vec(), true);
            let mut up = vec![u8::try_from(t).unwrap(), 1];
            up.extend_from_slice(&old.encode_to_vec());
            add("upcast", "seed-pledge_submitted-v1".into(), up, true);
        }
        if ty == "membership_approved" {
            let mut v0 = envelope.clone();
            v0.envelope_version = 0;
            v0.principal.clear();
            add("stored_event", "seed-envelope-v0".into(), v0.encode_to_vec(), true);
            let mut unknown = envelope.clone();
            unknown.event_type = "pledge_teleported".into();
            add("stored_event", "seed-unknown-type".into(), unknown.encode_to_vec(), false);
            let mut newer = envelope.clone();
            newer.schema_version = 9;
            add("stored_event", "seed-newer-version".into(), newer.encode_to_vec(), false);
        }
    }

    for (name, s, ok) in [
        ("year", "2020", true),
        ("month", "2020-05", true),
        ("day", "2020-05-17", true),
        ("none", "", true),
        ("month-13", "2020-13", false),
        ("word", "abcd", false),
        ("last-day", "9999-12-31", true),
        ("leap-day", "2023-02-29", false),
    ] {
        add("period", format!("seed-{name}"), s.as_bytes().to_vec(), ok);
    }
    out
}

#[test]
fn the_seeds_are_real_requests_the_served_code_takes_as_expected() {
    for (t, seeds) in seeds() {
        for (name, bytes, ok) in seeds {
            let outcome = target(t)(&bytes);
            assert_eq!(outcome.is_ok(), ok, "{t}/{name}: {outcome:?}");
        }
    }
}

#[test]
fn every_target_has_a_corpus_and_runs_every_input_of_it_without_a_panic() {
    let mut panicked = Vec::new();
    for (name, t) in TARGETS {
        let dir = corpus_dir(name);
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| f.unwrap().path())
            .collect();
        assert!(!files.is_empty(), "{}: no corpus", dir.display());
        for f in files {
            let data = std::fs::read(&f).unwrap();
            if std::panic::catch_unwind(|| t(&data)).is_err() {
                panicked.push(f.display().to_string());
            }
        }
    }
    assert!(panicked.is_empty(), "panicked on {panicked:#?}");
}

#[test]
#[ignore = "writes the seeds into fuzz/corpus/; run by hand when the seeds change"]
fn write_seed_corpus() {
    for (t, seeds) in seeds() {
        let dir = corpus_dir(t);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes, _) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
