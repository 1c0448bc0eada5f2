//! The commands the demo sends to be refused: rules broken, malformed input, a stale revision and, with tokens,
//! calls without the grant they need; each with the status code it must be refused with.
use ledger_proto::v1::{self, event_payload::Event as P};
use uuid::Uuid;

use super::tokens::Tokens;
use crate::generator::Item;

/// A command to be refused: what it tries, the code expected, the token it is sent with, the request.
pub(super) type Refusal = (&'static str, tonic::Code, Option<String>, v1::AppendRequest);

fn date(y: i32, m: u32, d: u32) -> Option<v1::Date> {
    Some(v1::Date { year: y, month: m, day: d })
}

fn one(kind: v1::AggregateType, id: &str, event: P) -> v1::AppendRequest {
    v1::AppendRequest {
        aggregate: Some(v1::AggregateRef { r#type: kind.into(), id: id.into() }),
        coalition_id: String::new(),
        expected_revision: None,
        events: vec![v1::EventData {
            event_id: Uuid::new_v4().to_string(),
            occurred_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            actor: "ledger-demo".into(),
            source: v1::Source::Api.into(),
            payload: Some(v1::EventPayload { event: Some(event) }),
            ..Default::default()
        }],
    }
}

/// A command to be refused without a token of its own: what it tries, the code expected, the request.
pub(super) type Invalid = (&'static str, tonic::Code, v1::AppendRequest);

/// Commands that break a rule or are malformed, with what each should be refused as.
pub(super) fn invalid_commands(history: &[Item]) -> Vec<Invalid> {
    let mut out = broken_rules(history);
    out.extend(lower_progress(history));
    out.push(stale_rename());
    out
}

/// Joins before a launch, pledges without membership, content without a website, impossible figures.
fn broken_rules(history: &[Item]) -> Vec<Invalid> {
    use tonic::Code;
    use v1::AggregateType as A;
    let mut out = vec![
        (
            "an organisation joins Sweden's coalition before its launch (3 May 2018)",
            Code::FailedPrecondition,
            one(
                A::Membership,
                "se.org-0001",
                P::MembershipApproved(v1::MembershipApproved {
                    coalition_id: "se".into(),
                    organisation_id: "org-0001".into(),
                    joined_on: date(2018, 1, 15),
                }),
            ),
        ),
        (
            "a non-member pledges to a national coalition that only takes members' pledges",
            Code::FailedPrecondition,
            one(
                A::Pledge,
                "org-0001.p-invalid",
                P::PledgeSubmitted(v1::PledgeSubmitted {
                    organisation_id: "org-0001".into(),
                    coalition_id: "se".into(),
                    title: "Pledge without membership".into(),
                    pillars: vec![v1::Pillar::All.into()],
                    countries: vec!["SE".into()],
                    starts_on: date(2024, 1, 1),
                    ends_on: date(2025, 1, 1),
                }),
            ),
        ),
        (
            "a coalition without a connected website shares content to the platform",
            Code::FailedPrecondition,
            one(
                A::Content,
                "content-invalid",
                P::ContentShared(v1::ContentShared {
                    coalition_id: "nl".into(),
                    content_type: v1::ContentType::News.into(),
                    title: "News".into(),
                    shared_on: date(2024, 3, 1),
                }),
            ),
        ),
        (
            "a course run with more certified than completed participants",
            Code::InvalidArgument,
            one(
                A::Course,
                "course-0000",
                P::CourseRunCompleted(v1::CourseRunCompleted {
                    run_id: "run-invalid".into(),
                    ended_on: date(2024, 6, 1),
                    enrolled: 20,
                    completed: 10,
                    certified: 12,
                    women_enrolled: 9,
                    women_completed: 5,
                }),
            ),
        ),
        (
            "an activity reporting more women than participants",
            Code::InvalidArgument,
            one(
                A::Activity,
                "activity-invalid",
                P::ActivityReported(v1::ActivityReported {
                    organisation_id: "org-0001".into(),
                    coalition_id: "eu".into(),
                    kind: v1::ActivityKind::Event.into(),
                    pillar: v1::Pillar::All.into(),
                    held_on: date(2024, 2, 2),
                    participants: 10,
                    women: 11,
                    per_country: vec![],
                }),
            ),
        ),
    ];
    // Sweden's programme: someone present at a working group meeting who is not in the group; a second coordinator.
    let mut meeting = one(
        A::Programme,
        crate::generator::PROGRAMME,
        P::WorkingGroupMeetingHeld(v1::WorkingGroupMeetingHeld {
            group_id: "wg1".into(),
            meeting_id: "wg1-meeting-invalid".into(),
            held_on: date(2026, 10, 1),
            anchored: true,
            present: vec!["wg1-p01".into(), "someone-else".into()],
        }),
    );
    meeting.coalition_id = "se".into();
    out.push((
        "a working group meeting of Sweden's programme at which someone not in the group is present",
        Code::FailedPrecondition,
        meeting,
    ));
    out.push((
        "a second national coordinator nominated for Sweden while one serves",
        Code::FailedPrecondition,
        one(
            A::NationalCoordinator,
            "se",
            P::NationalCoordinatorNominated(v1::NationalCoordinatorNominated {
                member_state: "SE".into(),
                name: "A second coordinator".into(),
                body: "Ministry of Education".into(),
                nominated_on: date(2024, 1, 1),
            }),
        ),
    ));
    // The course run above is sent for the coalition that lists the course (a writer of another is refused first).
    let course_coalition = history
        .iter()
        .find(|it| it.request.aggregate.as_ref().is_some_and(|a| a.id == "course-0000"))
        .map(|it| it.request.coalition_id.clone())
        .unwrap_or_default();
    for (_, _, req) in out.iter_mut() {
        if req.aggregate.as_ref().is_some_and(|a| a.id == "course-0000") {
            req.coalition_id = course_coalition.clone();
        }
    }
    out
}

/// A progress report lower than the one before it, without a correction (none if the history has no report).
fn lower_progress(history: &[Item]) -> Option<Invalid> {
    let (agg, coalition, r) =
        history.iter().rev().find_map(|it| match it.request.events[0].payload.as_ref()?.event.as_ref()? {
            P::ProgressReported(r) => {
                Some((it.request.aggregate.clone()?.id, it.request.coalition_id.clone(), r.clone()))
            }
            _ => None,
        })?;
    let mut lower = r.clone();
    lower.report_id = "r-invalid".into();
    if let Some(p) = lower.progress.as_mut() {
        p.cumulative.iter_mut().for_each(|a| a.amount /= 2);
    }
    Some((
        "a progress report whose cumulative figures go down without a correction",
        tonic::Code::FailedPrecondition,
        v1::AppendRequest {
            coalition_id: coalition,
            ..one(v1::AggregateType::Pledge, &agg, P::ProgressReported(lower))
        },
    ))
}

/// A rename that expects a stale revision.
fn stale_rename() -> Invalid {
    let mut stale = one(
        v1::AggregateType::Organisation,
        "org-0001",
        P::OrganisationRenamed(v1::OrganisationRenamed { name: "Renamed with a stale revision".into() }),
    );
    stale.expected_revision = Some(v1::ExpectedRevision { expected: Some(v1::expected_revision::Expected::Exact(1)) });
    ("a rename that expects an outdated revision", tonic::Code::Aborted, stale)
}

/// With tokens: calls refused by access control (no token; a writer of another coalition; a writer renaming an
/// organisation, which only a platform admin may).
pub(super) fn unauthorised_commands(tokens: &Tokens) -> anyhow::Result<Vec<Refusal>> {
    let deactivate = one(
        v1::AggregateType::Coalition,
        "dk",
        P::CoalitionDeactivated(v1::CoalitionDeactivated { deactivated_on: date(2024, 1, 1), reason: "x".into() }),
    );
    let rename = one(
        v1::AggregateType::Organisation,
        "org-0001",
        P::OrganisationRenamed(v1::OrganisationRenamed { name: "Renamed by a coalition's writer".into() }),
    );
    Ok(vec![
        ("an anonymous client deactivates Denmark's coalition", tonic::Code::Unauthenticated, None, deactivate.clone()),
        (
            "Sweden's writer deactivates Denmark's coalition",
            tonic::Code::PermissionDenied,
            tokens.read("writer-se")?,
            deactivate,
        ),
        (
            "Sweden's writer renames an organisation (shared by every coalition)",
            tonic::Code::PermissionDenied,
            tokens.read("writer-se")?,
            rename,
        ),
    ])
}
