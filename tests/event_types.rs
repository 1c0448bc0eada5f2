//! Every event type, appended alone after the shortest history its rules need, is accepted: the append service
//! loads the facts that each type's rules declare. The cases come from an exhaustive `match` on the domain's
//! `EventType` and the test walks `EventType::ALL`, so a new event type without its case here does not compile.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::programme as pg;
use common::*;
use ledger_domain::EventType;
use ledger_domain::ids::EU_MEMBER_STATES;
use ledger_proto::v1;
use v1::event_payload::Event as P;

/// One aggregate of a case: its type and id.
type On = (v1::AggregateType, String);

/// The history of case `n` up to and including `steps`, each event its own append, in their normal order: the
/// coalition and the organisation, then what the event at hand needs of them.
struct History {
    coalition: String,
    organisation: String,
    requests: Vec<v1::AppendRequest>,
}

impl History {
    fn new(n: usize) -> Self {
        let (coalition, organisation) = (format!("c{n}"), format!("o{n}"));
        let requests = vec![coalition_req(&coalition), common::organisation(&organisation)];
        Self { coalition, organisation, requests }
    }

    fn then(mut self, on: &On, payload: P) -> Self {
        self.requests.push(alone(on, payload));
        self
    }

    fn coalition_agg(&self) -> On {
        (v1::AggregateType::Coalition, self.coalition.clone())
    }

    fn membership_agg(&self) -> On {
        (v1::AggregateType::Membership, format!("{}.{}", self.coalition, self.organisation))
    }

    fn pledge_agg(&self) -> On {
        (v1::AggregateType::Pledge, format!("{}.p1", self.organisation))
    }

    /// The case's course, content and activity, named after its coalition.
    fn other_agg(&self, kind: v1::AggregateType) -> On {
        (kind, format!("{}-{}", kind.as_str_name().to_lowercase(), self.coalition))
    }

    /// The case's programme, launched with area `a1`, and then up to `steps` of: 1 a partnership member `m1`,
    /// 2 a working group `g1`, 3 its participant `p1`, 4 the group closed.
    fn programme(self, steps: usize) -> Self {
        let on = self.other_agg(v1::AggregateType::Programme);
        let c = self.coalition.clone();
        let all = [
            pg::appointed("m1", v1::Sector::CivilSociety, (2023, 3, 1)),
            pg::group_started("g1", "a1", (2023, 3, 1)),
            pg::joined("g1", "p1", (2023, 4, 1)),
            pg::group_closed("g1", (2023, 12, 1)),
        ];
        all.into_iter().take(steps).fold(self.then(&on, pg::launched(&c, "SE", &["a1"])), |h, p| h.then(&on, p))
    }

    fn joined(self) -> Self {
        let (c, o) = (self.coalition.clone(), self.organisation.clone());
        let on = self.membership_agg();
        self.then(
            &on,
            P::MembershipApproved(v1::MembershipApproved {
                coalition_id: c,
                organisation_id: o,
                joined_on: date(2019, 1, 10),
            }),
        )
    }

    fn submitted(self) -> Self {
        let (c, o) = (self.coalition.clone(), self.organisation.clone());
        let on = self.pledge_agg();
        self.joined().then(
            &on,
            P::PledgeSubmitted(v1::PledgeSubmitted {
                organisation_id: o,
                coalition_id: c,
                title: "Digital skills for teachers".into(),
                pillars: vec![v1::Pillar::Education.into()],
                countries: vec!["SE".into()],
                starts_on: date(2019, 2, 1),
                ends_on: date(2021, 12, 31),
            }),
        )
    }

    fn approved(self) -> Self {
        let on = self.pledge_agg();
        self.submitted().then(&on, P::PledgeApproved(v1::PledgeApproved { approved_on: date(2019, 2, 15) }))
    }

    fn with_initiative(self) -> Self {
        let on = self.pledge_agg();
        self.then(&on, initiative())
    }

    fn reported(self) -> Self {
        let on = self.pledge_agg();
        self.approved().with_initiative().then(&on, report())
    }

    fn connected(self) -> Self {
        let on = self.coalition_agg();
        self.then(&on, connected())
    }

    fn shared(self) -> Self {
        let c = self.coalition.clone();
        let on = self.other_agg(v1::AggregateType::Content);
        self.connected().then(&on, shared(&c))
    }

    fn listed(self) -> Self {
        let (c, o) = (self.coalition.clone(), self.organisation.clone());
        let on = self.other_agg(v1::AggregateType::Course);
        self.then(&on, listed(&c, &o))
    }
}

fn coalition_req(id: &str) -> v1::AppendRequest {
    coalition(id, "SE", date(2018, 5, 3))
}

fn alone((kind, id): &On, payload: P) -> v1::AppendRequest {
    request(*kind, id, None, vec![event(payload)])
}

fn initiative() -> P {
    P::InitiativeAdded(v1::InitiativeAdded {
        initiative_id: "i1".into(),
        title: "Online courses".into(),
        pillar: v1::Pillar::Education.into(),
        targets: vec![v1::IndicatorAmount { indicator: v1::Indicator::TrainingsOnline.into(), amount: 1000 }],
    })
}

fn progress(people: i64) -> Option<v1::Progress> {
    Some(v1::Progress {
        cumulative: vec![v1::IndicatorAmount { indicator: v1::Indicator::TrainingsOnline.into(), amount: people }],
        people,
        women: people / 2,
        per_country: vec![v1::CountryAmount { country: "SE".into(), amount: people }],
    })
}

fn report() -> P {
    P::ProgressReported(v1::ProgressReported {
        report_id: "r1".into(),
        initiative_id: "i1".into(),
        period_end: date(2019, 6, 30),
        progress: progress(100),
    })
}

fn connected() -> P {
    P::CoalitionWebsiteConnected(v1::CoalitionWebsiteConnected {
        connected_on: date(2021, 5, 20),
        url: "https://digital-skills-jobs.europa.eu/en/national-coalition/se".into(),
    })
}

fn shared(coalition: &str) -> P {
    P::ContentShared(v1::ContentShared {
        coalition_id: coalition.into(),
        content_type: v1::ContentType::News.into(),
        title: "A new course catalogue".into(),
        shared_on: date(2021, 6, 1),
    })
}

fn listed(coalition: &str, provider: &str) -> P {
    P::CourseListed(v1::CourseListed {
        provider_id: provider.into(),
        coalition_id: coalition.into(),
        title: "Programming for beginners".into(),
        pillar: v1::Pillar::All.into(),
        skill_level: v1::SkillLevel::Basic.into(),
        format: v1::CourseFormat::Online.into(),
        hours: 20,
    })
}

/// Case `n`: the history that `t` needs, then the append of `t`'s event alone.
///
/// Over 100 lines because it is one arm per event type: the match stays exhaustive, so that a new event type does
/// not compile until it has its case.
fn case(t: EventType, n: usize) -> (Vec<v1::AppendRequest>, v1::AppendRequest) {
    let h = History::new(n);
    let (c, o) = (h.coalition.clone(), h.organisation.clone());
    let (coalition_agg, membership_agg, pledge_agg) = (h.coalition_agg(), h.membership_agg(), h.pledge_agg());
    let [course, activity, content, programme] = [
        v1::AggregateType::Course,
        v1::AggregateType::Activity,
        v1::AggregateType::Content,
        v1::AggregateType::Programme,
    ]
    .map(|k| h.other_agg(k));
    let (history, on, payload) = match t {
        EventType::CoalitionEstablished => {
            let mut h = h;
            let established = h.requests.remove(0);
            return (h.requests, established);
        }
        EventType::OrganisationRegistered => {
            let mut h = h;
            let registered = h.requests.remove(1);
            return (h.requests, registered);
        }
        EventType::MembershipApproved => return last_of(h.joined()),
        EventType::MembershipLeft => (
            h.joined(),
            membership_agg,
            P::MembershipLeft(v1::MembershipLeft {
                coalition_id: c,
                organisation_id: o,
                left_on: date(2020, 1, 10),
                reason: "merged".into(),
            }),
        ),
        EventType::MembershipApplied => (
            h,
            membership_agg,
            P::MembershipApplied(v1::MembershipApplied {
                coalition_id: c,
                organisation_id: o,
                applied_on: date(2019, 1, 3),
            }),
        ),
        EventType::MembershipRoleAssigned => (
            h.joined(),
            membership_agg,
            P::MembershipRoleAssigned(v1::MembershipRoleAssigned {
                coalition_id: c,
                organisation_id: o,
                role: v1::MemberRole::ContactPoint.into(),
            }),
        ),
        EventType::PledgeSubmitted => return last_of(h.submitted()),
        EventType::PledgeApproved => return last_of(h.approved()),
        EventType::InitiativeAdded => (h.submitted(), pledge_agg, initiative()),
        EventType::TargetRevised => (
            h.submitted().with_initiative(),
            pledge_agg,
            P::TargetRevised(v1::TargetRevised {
                initiative_id: "i1".into(),
                indicator: v1::Indicator::TrainingsOnline.into(),
                old_target: 1000,
                new_target: 10_000,
                reason: "demand grew during the pandemic".into(),
            }),
        ),
        EventType::ProgressReported => (h.approved().with_initiative(), pledge_agg, report()),
        EventType::ProgressCorrected => (
            h.reported(),
            pledge_agg,
            P::ProgressCorrected(v1::ProgressCorrected {
                report_id: "r1".into(),
                progress: progress(80),
                reason: "double counting".into(),
            }),
        ),
        EventType::PledgeCompleted => {
            (h.approved(), pledge_agg, P::PledgeCompleted(v1::PledgeCompleted { completed_on: date(2021, 12, 31) }))
        }
        EventType::PledgeWithdrawn => (
            h.submitted(),
            pledge_agg,
            P::PledgeWithdrawn(v1::PledgeWithdrawn { withdrawn_on: date(2019, 3, 1), reason: "no budget".into() }),
        ),
        EventType::CoalitionWebsiteConnected => (h, coalition_agg, connected()),
        EventType::CoalitionCoordinatorChanged => (
            h.joined(),
            coalition_agg,
            P::CoalitionCoordinatorChanged(v1::CoalitionCoordinatorChanged {
                organisation_id: o,
                changed_on: date(2020, 1, 1),
            }),
        ),
        EventType::CoalitionDeactivated => (
            h,
            coalition_agg,
            P::CoalitionDeactivated(v1::CoalitionDeactivated {
                deactivated_on: date(2025, 1, 1),
                reason: "merged into another".into(),
            }),
        ),
        EventType::OrganisationRenamed => (
            h,
            (v1::AggregateType::Organisation, o.clone()),
            P::OrganisationRenamed(v1::OrganisationRenamed { name: format!("{o} AB") }),
        ),
        EventType::CourseListed => (h, course, listed(&c, &o)),
        EventType::CourseRunCompleted => (
            h.listed(),
            course,
            P::CourseRunCompleted(v1::CourseRunCompleted {
                run_id: "run1".into(),
                ended_on: date(2020, 6, 30),
                enrolled: 30,
                completed: 25,
                certified: 20,
                women_enrolled: 15,
                women_completed: 12,
            }),
        ),
        EventType::ActivityReported => (
            h,
            activity,
            P::ActivityReported(v1::ActivityReported {
                organisation_id: o,
                coalition_id: c,
                kind: v1::ActivityKind::Class.into(),
                pillar: v1::Pillar::All.into(),
                held_on: date(2020, 3, 1),
                participants: 30,
                women: 16,
                per_country: vec![v1::CountryAmount { country: "SE".into(), amount: 30 }],
            }),
        ),
        EventType::ContentShared => (h.connected(), content, shared(&c)),
        EventType::ContentWithdrawn => (
            h.shared(),
            content,
            P::ContentWithdrawn(v1::ContentWithdrawn { withdrawn_on: date(2022, 1, 1), reason: "outdated".into() }),
        ),
        EventType::ProgrammeLaunched => (h, programme, pg::launched(&c, "SE", &["a1"])),
        EventType::PriorityAreaAdded => (h.programme(0), programme, pg::area_added("a2", (2023, 3, 1))),
        EventType::PartnershipMemberAppointed => {
            (h.programme(0), programme, pg::appointed("m1", v1::Sector::CivilSociety, (2023, 3, 1)))
        }
        EventType::PartnershipMemberLeft => (h.programme(1), programme, pg::member_left("m1", (2024, 1, 1))),
        EventType::WorkingGroupStarted => (h.programme(0), programme, pg::group_started("g1", "a1", (2023, 3, 1))),
        EventType::WorkingGroupParticipantJoined => (h.programme(2), programme, pg::joined("g1", "p1", (2023, 4, 1))),
        EventType::WorkingGroupParticipantLeft => {
            (h.programme(3), programme, pg::participant_left("g1", "p1", (2023, 9, 1)))
        }
        EventType::WorkingGroupMeetingHeld => {
            (h.programme(3), programme, pg::meeting("g1", "mt1", (2023, 5, 1), true, &["p1"]))
        }
        EventType::WorkingGroupDeliverableReported => {
            (h.programme(3), programme, pg::deliverable("g1", "d1", (2023, 6, 1)))
        }
        EventType::WorkingGroupClosed => (h.programme(3), programme, pg::group_closed("g1", (2023, 12, 1))),
        EventType::ProgrammeEnded => (h.programme(4), programme, pg::ended((2024, 6, 30))),
        // One member state per case: the test runs every case in one ledger.
        EventType::NationalCoordinatorNominated => {
            let state = EU_MEMBER_STATES[n % EU_MEMBER_STATES.len()];
            let on = (v1::AggregateType::NationalCoordinator, state.to_lowercase());
            (h, on, pg::nominated(state, (2022, 3, 1)))
        }
        EventType::NationalCoordinatorReplaced => {
            let state = EU_MEMBER_STATES[n % EU_MEMBER_STATES.len()];
            let on = (v1::AggregateType::NationalCoordinator, state.to_lowercase());
            (h.then(&on, pg::nominated(state, (2022, 3, 1))), on, pg::replaced((2024, 1, 1)))
        }
    };
    (history.requests, alone(&on, payload))
}

/// A history's last append as the case's event, the rest as its history.
fn last_of(h: History) -> (Vec<v1::AppendRequest>, v1::AppendRequest) {
    let mut requests = h.requests;
    let last = requests.pop().unwrap();
    (requests, last)
}

#[tokio::test]
async fn every_event_type_appended_alone_after_the_history_it_needs_is_accepted() {
    let mut app = TestApp::spawn().await;
    for (n, t) in EventType::ALL.iter().enumerate() {
        let (history, append) = case(*t, n);
        let kind = ledger_proto::convert::payload_to_domain(append.events[0].payload.as_ref()).unwrap();
        assert_eq!(kind.event_type(), *t, "case {n} appends a {} event", kind.type_name());
        for (i, r) in history.into_iter().enumerate() {
            if let Err(e) = app.append.append(r).await {
                panic!("{}: history append {i} refused: {e:?}", t.name());
            }
        }
        match app.append.append(append).await {
            Ok(reply) => assert_eq!(reply.into_inner().positions.len(), 1, "{}", t.name()),
            Err(e) => panic!("{} appended alone: {:?} {}", t.name(), e.code(), e.message()),
        }
    }
}
