//! Conversions between wire messages and domain values. Wire -> domain validates and names the field at fault.
// Every payload struct and value set of the catalogue.
use ledger_domain::event::*;
use ledger_domain::{Aggregate, AggregateType, CountryCode, DomainError, EventKind, Source, Token};
use time::{Date, Month, OffsetDateTime};
use uuid::Uuid;

use crate::v1;
use crate::v1::event_payload::Event as P;

pub fn date_to_domain(field: &str, d: Option<&v1::Date>) -> Result<Date, DomainError> {
    let d = d.ok_or_else(|| DomainError::invalid(field, "required"))?;
    let month = u8::try_from(d.month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(|| DomainError::invalid(field, format!("month {} is not 1-12", d.month)))?;
    let day = u8::try_from(d.day).map_err(|_| DomainError::invalid(field, format!("day {}", d.day)))?;
    Date::from_calendar_date(d.year, month, day)
        .map_err(|e| DomainError::invalid(field, format!("{}-{}-{}: {e}", d.year, d.month, d.day)))
}

pub fn date_from_domain(d: Date) -> v1::Date {
    v1::Date { year: d.year(), month: u8::from(d.month()).into(), day: d.day().into() }
}

/// The first second a timestamp may name: 0001-01-01T00:00:00Z (protobuf's `Timestamp` range, which RFC 3339 can
/// write).
pub const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// The last second a timestamp may name: 9999-12-31T23:59:59Z.
pub const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// A wire timestamp within protobuf's documented range (years 1 to 9999, `nanos` in 0..=999,999,999); anything
/// else is refused naming `field`, never passed on (NATS takes start times as RFC 3339, which has no other years).
pub fn timestamp_to_domain(field: &str, t: Option<&prost_types::Timestamp>) -> Result<OffsetDateTime, DomainError> {
    let t = t.ok_or_else(|| DomainError::invalid(field, "required"))?;
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&t.seconds) {
        return Err(DomainError::invalid(
            field,
            format!("seconds {} is outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59Z", t.seconds),
        ));
    }
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(DomainError::invalid(field, format!("nanos {} is outside 0..=999999999", t.nanos)));
    }
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|e| DomainError::invalid(field, e.to_string()))
}

pub fn timestamp_from_domain(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.unix_timestamp(), nanos: i32::try_from(t.nanosecond()).unwrap_or(0) }
}

pub fn uuid_to_domain(field: &str, s: &str) -> Result<Uuid, DomainError> {
    if s.is_empty() {
        return Err(DomainError::invalid(field, "required (a UUID)"));
    }
    Uuid::parse_str(s)
        .map_err(|e| DomainError::invalid(field, format!("{} is not a UUID: {e}", ledger_domain::echo(s))))
}

pub fn optional_uuid_to_domain(field: &str, s: &str) -> Result<Option<Uuid>, DomainError> {
    if s.is_empty() { Ok(None) } else { uuid_to_domain(field, s).map(Some) }
}

/// An id a client chooses for a new event (event, correlation or causation id): a UUID, not the nil one.
/// (History is read with [`uuid_to_domain`], which takes what was written before nil ids were refused.)
pub fn new_id_to_domain(field: &str, s: &str) -> Result<Uuid, DomainError> {
    ledger_domain::ids::not_nil(field, uuid_to_domain(field, s)?)
}

/// An optional id for a new event: empty for none, else as [`new_id_to_domain`].
pub fn optional_new_id_to_domain(field: &str, s: &str) -> Result<Option<Uuid>, DomainError> {
    if s.is_empty() { Ok(None) } else { new_id_to_domain(field, s).map(Some) }
}

/// The event's source; unspecified (0) is refused: a client says where its events come from.
pub fn source_to_domain(field: &str, s: i32) -> Result<Source, DomainError> {
    match v1::Source::try_from(s) {
        Ok(v1::Source::Api) => Ok(Source::Api),
        Ok(v1::Source::Import) => Ok(Source::Import),
        Ok(v1::Source::PlatformSync) => Ok(Source::PlatformSync),
        Ok(v1::Source::Unspecified) => Err(DomainError::invalid(
            field,
            "required: SOURCE_API, SOURCE_IMPORT or SOURCE_PLATFORM_SYNC (SOURCE_UNSPECIFIED is not a source)",
        )),
        Err(_) => Err(DomainError::invalid(field, format!("unknown source {s}"))),
    }
}

pub fn source_from_domain(s: Source) -> v1::Source {
    match s {
        Source::Api => v1::Source::Api,
        Source::Import => v1::Source::Import,
        Source::PlatformSync => v1::Source::PlatformSync,
    }
}

pub fn aggregate_type_to_domain(field: &str, t: i32) -> Result<AggregateType, DomainError> {
    match v1::AggregateType::try_from(t) {
        Ok(v1::AggregateType::Coalition) => Ok(AggregateType::Coalition),
        Ok(v1::AggregateType::Organisation) => Ok(AggregateType::Organisation),
        Ok(v1::AggregateType::Membership) => Ok(AggregateType::Membership),
        Ok(v1::AggregateType::Pledge) => Ok(AggregateType::Pledge),
        Ok(v1::AggregateType::Course) => Ok(AggregateType::Course),
        Ok(v1::AggregateType::Activity) => Ok(AggregateType::Activity),
        Ok(v1::AggregateType::Content) => Ok(AggregateType::Content),
        Ok(v1::AggregateType::Programme) => Ok(AggregateType::Programme),
        Ok(v1::AggregateType::NationalCoordinator) => Ok(AggregateType::NationalCoordinator),
        Ok(v1::AggregateType::Unspecified) | Err(_) => {
            Err(DomainError::invalid(field, format!("unknown or unspecified aggregate type {t}")))
        }
    }
}

pub fn aggregate_type_from_domain(t: AggregateType) -> v1::AggregateType {
    match t {
        AggregateType::Coalition => v1::AggregateType::Coalition,
        AggregateType::Organisation => v1::AggregateType::Organisation,
        AggregateType::Membership => v1::AggregateType::Membership,
        AggregateType::Pledge => v1::AggregateType::Pledge,
        AggregateType::Course => v1::AggregateType::Course,
        AggregateType::Activity => v1::AggregateType::Activity,
        AggregateType::Content => v1::AggregateType::Content,
        AggregateType::Programme => v1::AggregateType::Programme,
        AggregateType::NationalCoordinator => v1::AggregateType::NationalCoordinator,
    }
}

/// A closed set of values with the same variants on the wire and in the domain, mapped both ways by exhaustive
/// matches (a variant added on one side only does not compile); unspecified and unknown wire values are refused.
macro_rules! closed_enum {
    ($to:ident, $from:ident, $t:ident, $what:literal, [$($v:ident),+ $(,)?]) => {
        pub fn $to(field: &str, v: i32) -> Result<$t, DomainError> {
            match v1::$t::try_from(v) {
                $(Ok(v1::$t::$v) => Ok($t::$v),)+
                Ok(v1::$t::Unspecified) | Err(_) => {
                    Err(DomainError::invalid(field, format!(concat!("unknown or unspecified ", $what, " ({})"), v)))
                }
            }
        }
        pub fn $from(d: $t) -> v1::$t {
            match d {
                $($t::$v => v1::$t::$v),+
            }
        }
    };
}

closed_enum!(pillar_to_domain, pillar_from_domain, Pillar, "pillar", [All, LabourForce, IctProfessionals, Education]);
closed_enum!(
    indicator_to_domain,
    indicator_from_domain,
    Indicator,
    "indicator",
    [
        TrainingsOnline,
        TrainingsFaceToFace,
        Certifications,
        PeopleReached,
        Placements,
        JobsMatched,
        NewCourses,
        Beneficiaries
    ]
);
closed_enum!(
    organisation_type_to_domain,
    organisation_type_from_domain,
    OrganisationType,
    "organisation type",
    [IctCompany, EducationProvider, PublicAuthority, EmploymentService, Association, NonProfit, SocialPartner]
);
closed_enum!(role_to_domain, role_from_domain, MemberRole, "role", [Founder, Coordinator, ContactPoint]);
closed_enum!(skill_to_domain, skill_from_domain, SkillLevel, "skill level", [Basic, Intermediate, Advanced]);
closed_enum!(format_to_domain, format_from_domain, CourseFormat, "course format", [Online, FaceToFace, Blended]);
closed_enum!(activity_to_domain, activity_from_domain, ActivityKind, "activity kind", [Event, Class, Campaign]);
closed_enum!(
    content_to_domain,
    content_from_domain,
    ContentType,
    "content type",
    [News, Event, GoodPractice, TrainingOpportunity]
);

closed_enum!(
    sector_to_domain,
    sector_from_domain,
    Sector,
    "sector",
    [LargeCompany, SmallCompany, HigherEducation, GovernmentAgency, CivilSociety, PublicSector]
);

fn area_to_domain(field: &str, a: Option<&v1::PriorityArea>) -> Result<PriorityArea, DomainError> {
    let a = a.ok_or_else(|| DomainError::invalid(field, "required"))?;
    Ok(PriorityArea { area_id: token(&format!("{field}.area_id"), &a.area_id)?, title: a.title.clone() })
}

fn area_from_domain(a: &PriorityArea) -> v1::PriorityArea {
    v1::PriorityArea { area_id: a.area_id.to_string(), title: a.title.clone() }
}

fn countries_to_domain(field: &str, c: &[v1::CountryAmount]) -> Result<Vec<(CountryCode, i64)>, DomainError> {
    c.iter().enumerate().map(|(i, c)| Ok((country(&format!("{field}[{i}].country"), &c.country)?, c.amount))).collect()
}

fn countries_from_domain(c: &[(CountryCode, i64)]) -> Vec<v1::CountryAmount> {
    c.iter().map(|(c, n)| v1::CountryAmount { country: c.as_str().to_owned(), amount: *n }).collect()
}

fn amounts_to_domain(field: &str, a: &[v1::IndicatorAmount]) -> Result<Vec<(Indicator, i64)>, DomainError> {
    a.iter()
        .enumerate()
        .map(|(i, x)| Ok((indicator_to_domain(&format!("{field}[{i}].indicator"), x.indicator)?, x.amount)))
        .collect()
}

fn amounts_from_domain(a: &[(Indicator, i64)]) -> Vec<v1::IndicatorAmount> {
    a.iter().map(|(i, n)| v1::IndicatorAmount { indicator: indicator_from_domain(*i).into(), amount: *n }).collect()
}

fn progress_to_domain(p: Option<&v1::Progress>) -> Result<Progress, DomainError> {
    let p = p.ok_or_else(|| DomainError::invalid("payload.progress", "required"))?;
    Ok(Progress {
        cumulative: amounts_to_domain("payload.progress.cumulative", &p.cumulative)?,
        people: p.people,
        women: p.women,
        per_country: p
            .per_country
            .iter()
            .enumerate()
            .map(|(i, c)| Ok((country(&format!("payload.progress.per_country[{i}].country"), &c.country)?, c.amount)))
            .collect::<Result<_, DomainError>>()?,
    })
}

fn progress_from_domain(p: &Progress) -> v1::Progress {
    v1::Progress {
        cumulative: amounts_from_domain(&p.cumulative),
        people: p.people,
        women: p.women,
        per_country: p
            .per_country
            .iter()
            .map(|(c, n)| v1::CountryAmount { country: c.as_str().to_owned(), amount: *n })
            .collect(),
    }
}

pub fn aggregate_to_domain(a: Option<&v1::AggregateRef>) -> Result<Aggregate, DomainError> {
    let a = a.ok_or_else(|| DomainError::invalid("aggregate", "required"))?;
    Aggregate::parse(aggregate_type_to_domain("aggregate.type", a.r#type)?, &a.id)
}

pub fn aggregate_from_domain(a: &Aggregate) -> v1::AggregateRef {
    v1::AggregateRef { r#type: aggregate_type_from_domain(a.kind()).into(), id: a.id().to_owned() }
}

fn country(field: &str, s: &str) -> Result<CountryCode, DomainError> {
    CountryCode::parse(field, s)
}

fn token(field: &str, s: &str) -> Result<Token, DomainError> {
    Token::parse(field, s)
}

/// Wire payload -> domain event. Errors name the field under `payload.`.
///
/// Over 100 lines because it is one arm per event type: the match stays exhaustive, so that a new wire event
/// does not compile until it is converted here.
pub fn payload_to_domain(p: Option<&v1::EventPayload>) -> Result<EventKind, DomainError> {
    let event = p
        .and_then(|p| p.event.as_ref())
        .ok_or_else(|| DomainError::invalid("payload", "required: set exactly one event"))?;
    Ok(match event {
        P::CoalitionEstablished(e) => {
            let kind = match v1::CoalitionKind::try_from(e.kind) {
                Ok(v1::CoalitionKind::Eu) => CoalitionKind::Eu,
                Ok(v1::CoalitionKind::National) => CoalitionKind::National,
                Ok(v1::CoalitionKind::Unspecified) | Err(_) => {
                    return Err(DomainError::invalid("payload.kind", format!("unknown or unspecified ({})", e.kind)));
                }
            };
            EventKind::CoalitionEstablished(CoalitionEstablished {
                name: e.name.clone(),
                kind,
                country: if e.country.is_empty() { None } else { Some(country("payload.country", &e.country)?) },
                launched_on: date_to_domain("payload.launched_on", e.launched_on.as_ref())?,
                open_pledging: e.open_pledging,
            })
        }
        P::OrganisationRegistered(e) => EventKind::OrganisationRegistered(OrganisationRegistered {
            name: e.name.clone(),
            country: country("payload.country", &e.country)?,
            organisation_type: organisation_type_to_domain("payload.organisation_type", e.organisation_type)?,
            size: match v1::OrganisationSize::try_from(e.size) {
                Ok(v1::OrganisationSize::Sme) => OrganisationSize::Sme,
                Ok(v1::OrganisationSize::Large) => OrganisationSize::Large,
                Ok(v1::OrganisationSize::Unspecified) | Err(_) => {
                    return Err(DomainError::invalid("payload.size", format!("unknown or unspecified ({})", e.size)));
                }
            },
        }),
        P::MembershipApproved(e) => EventKind::MembershipApproved(MembershipApproved {
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            organisation_id: token("payload.organisation_id", &e.organisation_id)?,
            joined_on: date_to_domain("payload.joined_on", e.joined_on.as_ref())?,
        }),
        P::MembershipLeft(e) => EventKind::MembershipLeft(MembershipLeft {
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            organisation_id: token("payload.organisation_id", &e.organisation_id)?,
            left_on: date_to_domain("payload.left_on", e.left_on.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::PledgeSubmitted(e) => EventKind::PledgeSubmitted(PledgeSubmitted {
            organisation_id: token("payload.organisation_id", &e.organisation_id)?,
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            title: e.title.clone(),
            pillars: e
                .pillars
                .iter()
                .enumerate()
                .map(|(i, p)| pillar_to_domain(&format!("payload.pillars[{i}]"), *p))
                .collect::<Result<_, _>>()?,
            countries: e
                .countries
                .iter()
                .enumerate()
                .map(|(i, c)| country(&format!("payload.countries[{i}]"), c))
                .collect::<Result<_, _>>()?,
            starts_on: date_to_domain("payload.starts_on", e.starts_on.as_ref())?,
            ends_on: date_to_domain("payload.ends_on", e.ends_on.as_ref())?,
        }),
        P::PledgeApproved(e) => EventKind::PledgeApproved(PledgeApproved {
            approved_on: date_to_domain("payload.approved_on", e.approved_on.as_ref())?,
        }),
        P::InitiativeAdded(e) => EventKind::InitiativeAdded(InitiativeAdded {
            initiative_id: token("payload.initiative_id", &e.initiative_id)?,
            title: e.title.clone(),
            pillar: pillar_to_domain("payload.pillar", e.pillar)?,
            targets: amounts_to_domain("payload.targets", &e.targets)?,
        }),
        P::TargetRevised(e) => EventKind::TargetRevised(TargetRevised {
            initiative_id: token("payload.initiative_id", &e.initiative_id)?,
            indicator: indicator_to_domain("payload.indicator", e.indicator)?,
            old_target: e.old_target,
            new_target: e.new_target,
            reason: e.reason.clone(),
        }),
        P::ProgressReported(e) => EventKind::ProgressReported(ProgressReported {
            report_id: token("payload.report_id", &e.report_id)?,
            initiative_id: token("payload.initiative_id", &e.initiative_id)?,
            period_end: date_to_domain("payload.period_end", e.period_end.as_ref())?,
            progress: progress_to_domain(e.progress.as_ref())?,
        }),
        P::ProgressCorrected(e) => EventKind::ProgressCorrected(ProgressCorrected {
            report_id: token("payload.report_id", &e.report_id)?,
            progress: progress_to_domain(e.progress.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::PledgeCompleted(e) => EventKind::PledgeCompleted(PledgeCompleted {
            completed_on: date_to_domain("payload.completed_on", e.completed_on.as_ref())?,
        }),
        P::PledgeWithdrawn(e) => EventKind::PledgeWithdrawn(PledgeWithdrawn {
            withdrawn_on: date_to_domain("payload.withdrawn_on", e.withdrawn_on.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::CoalitionWebsiteConnected(e) => EventKind::CoalitionWebsiteConnected(CoalitionWebsiteConnected {
            connected_on: date_to_domain("payload.connected_on", e.connected_on.as_ref())?,
            url: e.url.clone(),
        }),
        P::CoalitionCoordinatorChanged(e) => EventKind::CoalitionCoordinatorChanged(CoalitionCoordinatorChanged {
            organisation_id: token("payload.organisation_id", &e.organisation_id)?,
            changed_on: date_to_domain("payload.changed_on", e.changed_on.as_ref())?,
        }),
        P::CoalitionDeactivated(e) => EventKind::CoalitionDeactivated(CoalitionDeactivated {
            deactivated_on: date_to_domain("payload.deactivated_on", e.deactivated_on.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::OrganisationRenamed(e) => EventKind::OrganisationRenamed(OrganisationRenamed { name: e.name.clone() }),
        P::MembershipApplied(e) => EventKind::MembershipApplied(MembershipApplied {
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            organisation_id: token("payload.organisation_id", &e.organisation_id)?,
            applied_on: date_to_domain("payload.applied_on", e.applied_on.as_ref())?,
        }),
        P::MembershipRoleAssigned(e) => EventKind::MembershipRoleAssigned(MembershipRoleAssigned {
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            organisation_id: token("payload.organisation_id", &e.organisation_id)?,
            role: role_to_domain("payload.role", e.role)?,
        }),
        P::CourseListed(e) => EventKind::CourseListed(CourseListed {
            provider_id: token("payload.provider_id", &e.provider_id)?,
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            title: e.title.clone(),
            pillar: pillar_to_domain("payload.pillar", e.pillar)?,
            skill_level: skill_to_domain("payload.skill_level", e.skill_level)?,
            format: format_to_domain("payload.format", e.format)?,
            hours: e.hours,
        }),
        P::CourseRunCompleted(e) => EventKind::CourseRunCompleted(CourseRunCompleted {
            run_id: token("payload.run_id", &e.run_id)?,
            ended_on: date_to_domain("payload.ended_on", e.ended_on.as_ref())?,
            enrolled: e.enrolled,
            completed: e.completed,
            certified: e.certified,
            women_enrolled: e.women_enrolled,
            women_completed: e.women_completed,
        }),
        P::ActivityReported(e) => EventKind::ActivityReported(ActivityReported {
            organisation_id: token("payload.organisation_id", &e.organisation_id)?,
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            kind: activity_to_domain("payload.kind", e.kind)?,
            pillar: pillar_to_domain("payload.pillar", e.pillar)?,
            held_on: date_to_domain("payload.held_on", e.held_on.as_ref())?,
            participants: e.participants,
            women: e.women,
            per_country: countries_to_domain("payload.per_country", &e.per_country)?,
        }),
        P::ContentShared(e) => EventKind::ContentShared(ContentShared {
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            content_type: content_to_domain("payload.content_type", e.content_type)?,
            title: e.title.clone(),
            shared_on: date_to_domain("payload.shared_on", e.shared_on.as_ref())?,
        }),
        P::ContentWithdrawn(e) => EventKind::ContentWithdrawn(ContentWithdrawn {
            withdrawn_on: date_to_domain("payload.withdrawn_on", e.withdrawn_on.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::ProgrammeLaunched(e) => EventKind::ProgrammeLaunched(ProgrammeLaunched {
            coalition_id: token("payload.coalition_id", &e.coalition_id)?,
            country: country("payload.country", &e.country)?,
            name: e.name.clone(),
            owner: e.owner.clone(),
            priority_areas: e
                .priority_areas
                .iter()
                .enumerate()
                .map(|(i, a)| area_to_domain(&format!("payload.priority_areas[{i}]"), Some(a)))
                .collect::<Result<_, _>>()?,
            launched_on: date_to_domain("payload.launched_on", e.launched_on.as_ref())?,
        }),
        P::PriorityAreaAdded(e) => EventKind::PriorityAreaAdded(PriorityAreaAdded {
            area: area_to_domain("payload.area", e.area.as_ref())?,
            added_on: date_to_domain("payload.added_on", e.added_on.as_ref())?,
        }),
        P::PartnershipMemberAppointed(e) => EventKind::PartnershipMemberAppointed(PartnershipMemberAppointed {
            member_id: token("payload.member_id", &e.member_id)?,
            name: e.name.clone(),
            organisation: e.organisation.clone(),
            sector: sector_to_domain("payload.sector", e.sector)?,
            role: e.role.clone(),
            appointed_on: date_to_domain("payload.appointed_on", e.appointed_on.as_ref())?,
        }),
        P::PartnershipMemberLeft(e) => EventKind::PartnershipMemberLeft(PartnershipMemberLeft {
            member_id: token("payload.member_id", &e.member_id)?,
            left_on: date_to_domain("payload.left_on", e.left_on.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::WorkingGroupStarted(e) => EventKind::WorkingGroupStarted(WorkingGroupStarted {
            group_id: token("payload.group_id", &e.group_id)?,
            area_id: token("payload.area_id", &e.area_id)?,
            name: e.name.clone(),
            objective: e.objective.clone(),
            started_on: date_to_domain("payload.started_on", e.started_on.as_ref())?,
        }),
        P::WorkingGroupParticipantJoined(e) => {
            EventKind::WorkingGroupParticipantJoined(WorkingGroupParticipantJoined {
                group_id: token("payload.group_id", &e.group_id)?,
                participant_id: token("payload.participant_id", &e.participant_id)?,
                name: e.name.clone(),
                organisation: e.organisation.clone(),
                sector: sector_to_domain("payload.sector", e.sector)?,
                joined_on: date_to_domain("payload.joined_on", e.joined_on.as_ref())?,
            })
        }
        P::WorkingGroupParticipantLeft(e) => EventKind::WorkingGroupParticipantLeft(WorkingGroupParticipantLeft {
            group_id: token("payload.group_id", &e.group_id)?,
            participant_id: token("payload.participant_id", &e.participant_id)?,
            left_on: date_to_domain("payload.left_on", e.left_on.as_ref())?,
        }),
        P::WorkingGroupMeetingHeld(e) => EventKind::WorkingGroupMeetingHeld(WorkingGroupMeetingHeld {
            group_id: token("payload.group_id", &e.group_id)?,
            meeting_id: token("payload.meeting_id", &e.meeting_id)?,
            held_on: date_to_domain("payload.held_on", e.held_on.as_ref())?,
            anchored: e.anchored,
            present: e
                .present
                .iter()
                .enumerate()
                .map(|(i, p)| token(&format!("payload.present[{i}]"), p))
                .collect::<Result<_, _>>()?,
        }),
        P::WorkingGroupDeliverableReported(e) => {
            EventKind::WorkingGroupDeliverableReported(WorkingGroupDeliverableReported {
                group_id: token("payload.group_id", &e.group_id)?,
                deliverable_id: token("payload.deliverable_id", &e.deliverable_id)?,
                title: e.title.clone(),
                reported_on: date_to_domain("payload.reported_on", e.reported_on.as_ref())?,
            })
        }
        P::WorkingGroupClosed(e) => EventKind::WorkingGroupClosed(WorkingGroupClosed {
            group_id: token("payload.group_id", &e.group_id)?,
            closed_on: date_to_domain("payload.closed_on", e.closed_on.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::ProgrammeEnded(e) => EventKind::ProgrammeEnded(ProgrammeEnded {
            ended_on: date_to_domain("payload.ended_on", e.ended_on.as_ref())?,
            reason: e.reason.clone(),
        }),
        P::NationalCoordinatorNominated(e) => EventKind::NationalCoordinatorNominated(NationalCoordinatorNominated {
            member_state: country("payload.member_state", &e.member_state)?,
            name: e.name.clone(),
            body: e.body.clone(),
            nominated_on: date_to_domain("payload.nominated_on", e.nominated_on.as_ref())?,
        }),
        P::NationalCoordinatorReplaced(e) => EventKind::NationalCoordinatorReplaced(NationalCoordinatorReplaced {
            name: e.name.clone(),
            body: e.body.clone(),
            replaced_on: date_to_domain("payload.replaced_on", e.replaced_on.as_ref())?,
            reason: e.reason.clone(),
        }),
    })
}

/// Domain event -> wire payload (always the current schema).
///
/// Over 100 lines because it is one arm per event type: the match stays exhaustive, so that a new domain event
/// does not compile until it is converted here.
pub fn payload_from_domain(e: &EventKind) -> v1::EventPayload {
    let event = match e {
        EventKind::CoalitionEstablished(e) => P::CoalitionEstablished(v1::CoalitionEstablished {
            name: e.name.clone(),
            kind: match e.kind {
                CoalitionKind::Eu => v1::CoalitionKind::Eu,
                CoalitionKind::National => v1::CoalitionKind::National,
            }
            .into(),
            country: e.country.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default(),
            launched_on: Some(date_from_domain(e.launched_on)),
            open_pledging: e.open_pledging,
        }),
        EventKind::OrganisationRegistered(e) => P::OrganisationRegistered(v1::OrganisationRegistered {
            name: e.name.clone(),
            country: e.country.as_str().to_owned(),
            organisation_type: organisation_type_from_domain(e.organisation_type).into(),
            size: match e.size {
                OrganisationSize::Sme => v1::OrganisationSize::Sme,
                OrganisationSize::Large => v1::OrganisationSize::Large,
            }
            .into(),
        }),
        EventKind::MembershipApproved(e) => P::MembershipApproved(v1::MembershipApproved {
            coalition_id: e.coalition_id.to_string(),
            organisation_id: e.organisation_id.to_string(),
            joined_on: Some(date_from_domain(e.joined_on)),
        }),
        EventKind::MembershipLeft(e) => P::MembershipLeft(v1::MembershipLeft {
            coalition_id: e.coalition_id.to_string(),
            organisation_id: e.organisation_id.to_string(),
            left_on: Some(date_from_domain(e.left_on)),
            reason: e.reason.clone(),
        }),
        EventKind::PledgeSubmitted(e) => P::PledgeSubmitted(v1::PledgeSubmitted {
            organisation_id: e.organisation_id.to_string(),
            coalition_id: e.coalition_id.to_string(),
            title: e.title.clone(),
            pillars: e.pillars.iter().map(|p| pillar_from_domain(*p).into()).collect(),
            countries: e.countries.iter().map(|c| c.as_str().to_owned()).collect(),
            starts_on: Some(date_from_domain(e.starts_on)),
            ends_on: Some(date_from_domain(e.ends_on)),
        }),
        EventKind::PledgeApproved(e) => {
            P::PledgeApproved(v1::PledgeApproved { approved_on: Some(date_from_domain(e.approved_on)) })
        }
        EventKind::InitiativeAdded(e) => P::InitiativeAdded(v1::InitiativeAdded {
            initiative_id: e.initiative_id.to_string(),
            title: e.title.clone(),
            pillar: pillar_from_domain(e.pillar).into(),
            targets: amounts_from_domain(&e.targets),
        }),
        EventKind::TargetRevised(e) => P::TargetRevised(v1::TargetRevised {
            initiative_id: e.initiative_id.to_string(),
            indicator: indicator_from_domain(e.indicator).into(),
            old_target: e.old_target,
            new_target: e.new_target,
            reason: e.reason.clone(),
        }),
        EventKind::ProgressReported(e) => P::ProgressReported(v1::ProgressReported {
            report_id: e.report_id.to_string(),
            initiative_id: e.initiative_id.to_string(),
            period_end: Some(date_from_domain(e.period_end)),
            progress: Some(progress_from_domain(&e.progress)),
        }),
        EventKind::ProgressCorrected(e) => P::ProgressCorrected(v1::ProgressCorrected {
            report_id: e.report_id.to_string(),
            progress: Some(progress_from_domain(&e.progress)),
            reason: e.reason.clone(),
        }),
        EventKind::PledgeCompleted(e) => {
            P::PledgeCompleted(v1::PledgeCompleted { completed_on: Some(date_from_domain(e.completed_on)) })
        }
        EventKind::PledgeWithdrawn(e) => P::PledgeWithdrawn(v1::PledgeWithdrawn {
            withdrawn_on: Some(date_from_domain(e.withdrawn_on)),
            reason: e.reason.clone(),
        }),
        EventKind::CoalitionWebsiteConnected(e) => P::CoalitionWebsiteConnected(v1::CoalitionWebsiteConnected {
            connected_on: Some(date_from_domain(e.connected_on)),
            url: e.url.clone(),
        }),
        EventKind::CoalitionCoordinatorChanged(e) => P::CoalitionCoordinatorChanged(v1::CoalitionCoordinatorChanged {
            organisation_id: e.organisation_id.to_string(),
            changed_on: Some(date_from_domain(e.changed_on)),
        }),
        EventKind::CoalitionDeactivated(e) => P::CoalitionDeactivated(v1::CoalitionDeactivated {
            deactivated_on: Some(date_from_domain(e.deactivated_on)),
            reason: e.reason.clone(),
        }),
        EventKind::OrganisationRenamed(e) => P::OrganisationRenamed(v1::OrganisationRenamed { name: e.name.clone() }),
        EventKind::MembershipApplied(e) => P::MembershipApplied(v1::MembershipApplied {
            coalition_id: e.coalition_id.to_string(),
            organisation_id: e.organisation_id.to_string(),
            applied_on: Some(date_from_domain(e.applied_on)),
        }),
        EventKind::MembershipRoleAssigned(e) => P::MembershipRoleAssigned(v1::MembershipRoleAssigned {
            coalition_id: e.coalition_id.to_string(),
            organisation_id: e.organisation_id.to_string(),
            role: role_from_domain(e.role).into(),
        }),
        EventKind::CourseListed(e) => P::CourseListed(v1::CourseListed {
            provider_id: e.provider_id.to_string(),
            coalition_id: e.coalition_id.to_string(),
            title: e.title.clone(),
            pillar: pillar_from_domain(e.pillar).into(),
            skill_level: skill_from_domain(e.skill_level).into(),
            format: format_from_domain(e.format).into(),
            hours: e.hours,
        }),
        EventKind::CourseRunCompleted(e) => P::CourseRunCompleted(v1::CourseRunCompleted {
            run_id: e.run_id.to_string(),
            ended_on: Some(date_from_domain(e.ended_on)),
            enrolled: e.enrolled,
            completed: e.completed,
            certified: e.certified,
            women_enrolled: e.women_enrolled,
            women_completed: e.women_completed,
        }),
        EventKind::ActivityReported(e) => P::ActivityReported(v1::ActivityReported {
            organisation_id: e.organisation_id.to_string(),
            coalition_id: e.coalition_id.to_string(),
            kind: activity_from_domain(e.kind).into(),
            pillar: pillar_from_domain(e.pillar).into(),
            held_on: Some(date_from_domain(e.held_on)),
            participants: e.participants,
            women: e.women,
            per_country: countries_from_domain(&e.per_country),
        }),
        EventKind::ContentShared(e) => P::ContentShared(v1::ContentShared {
            coalition_id: e.coalition_id.to_string(),
            content_type: content_from_domain(e.content_type).into(),
            title: e.title.clone(),
            shared_on: Some(date_from_domain(e.shared_on)),
        }),
        EventKind::ContentWithdrawn(e) => P::ContentWithdrawn(v1::ContentWithdrawn {
            withdrawn_on: Some(date_from_domain(e.withdrawn_on)),
            reason: e.reason.clone(),
        }),
        EventKind::ProgrammeLaunched(e) => P::ProgrammeLaunched(v1::ProgrammeLaunched {
            coalition_id: e.coalition_id.to_string(),
            country: e.country.as_str().to_owned(),
            name: e.name.clone(),
            owner: e.owner.clone(),
            priority_areas: e.priority_areas.iter().map(area_from_domain).collect(),
            launched_on: Some(date_from_domain(e.launched_on)),
        }),
        EventKind::PriorityAreaAdded(e) => P::PriorityAreaAdded(v1::PriorityAreaAdded {
            area: Some(area_from_domain(&e.area)),
            added_on: Some(date_from_domain(e.added_on)),
        }),
        EventKind::PartnershipMemberAppointed(e) => P::PartnershipMemberAppointed(v1::PartnershipMemberAppointed {
            member_id: e.member_id.to_string(),
            name: e.name.clone(),
            organisation: e.organisation.clone(),
            sector: sector_from_domain(e.sector).into(),
            role: e.role.clone(),
            appointed_on: Some(date_from_domain(e.appointed_on)),
        }),
        EventKind::PartnershipMemberLeft(e) => P::PartnershipMemberLeft(v1::PartnershipMemberLeft {
            member_id: e.member_id.to_string(),
            left_on: Some(date_from_domain(e.left_on)),
            reason: e.reason.clone(),
        }),
        EventKind::WorkingGroupStarted(e) => P::WorkingGroupStarted(v1::WorkingGroupStarted {
            group_id: e.group_id.to_string(),
            area_id: e.area_id.to_string(),
            name: e.name.clone(),
            objective: e.objective.clone(),
            started_on: Some(date_from_domain(e.started_on)),
        }),
        EventKind::WorkingGroupParticipantJoined(e) => {
            P::WorkingGroupParticipantJoined(v1::WorkingGroupParticipantJoined {
                group_id: e.group_id.to_string(),
                participant_id: e.participant_id.to_string(),
                name: e.name.clone(),
                organisation: e.organisation.clone(),
                sector: sector_from_domain(e.sector).into(),
                joined_on: Some(date_from_domain(e.joined_on)),
            })
        }
        EventKind::WorkingGroupParticipantLeft(e) => P::WorkingGroupParticipantLeft(v1::WorkingGroupParticipantLeft {
            group_id: e.group_id.to_string(),
            participant_id: e.participant_id.to_string(),
            left_on: Some(date_from_domain(e.left_on)),
        }),
        EventKind::WorkingGroupMeetingHeld(e) => P::WorkingGroupMeetingHeld(v1::WorkingGroupMeetingHeld {
            group_id: e.group_id.to_string(),
            meeting_id: e.meeting_id.to_string(),
            held_on: Some(date_from_domain(e.held_on)),
            anchored: e.anchored,
            present: e.present.iter().map(ToString::to_string).collect(),
        }),
        EventKind::WorkingGroupDeliverableReported(e) => {
            P::WorkingGroupDeliverableReported(v1::WorkingGroupDeliverableReported {
                group_id: e.group_id.to_string(),
                deliverable_id: e.deliverable_id.to_string(),
                title: e.title.clone(),
                reported_on: Some(date_from_domain(e.reported_on)),
            })
        }
        EventKind::WorkingGroupClosed(e) => P::WorkingGroupClosed(v1::WorkingGroupClosed {
            group_id: e.group_id.to_string(),
            closed_on: Some(date_from_domain(e.closed_on)),
            reason: e.reason.clone(),
        }),
        EventKind::ProgrammeEnded(e) => P::ProgrammeEnded(v1::ProgrammeEnded {
            ended_on: Some(date_from_domain(e.ended_on)),
            reason: e.reason.clone(),
        }),
        EventKind::NationalCoordinatorNominated(e) => {
            P::NationalCoordinatorNominated(v1::NationalCoordinatorNominated {
                member_state: e.member_state.as_str().to_owned(),
                name: e.name.clone(),
                body: e.body.clone(),
                nominated_on: Some(date_from_domain(e.nominated_on)),
            })
        }
        EventKind::NationalCoordinatorReplaced(e) => P::NationalCoordinatorReplaced(v1::NationalCoordinatorReplaced {
            name: e.name.clone(),
            body: e.body.clone(),
            replaced_on: Some(date_from_domain(e.replaced_on)),
            reason: e.reason.clone(),
        }),
    };
    v1::EventPayload { event: Some(event) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Result<OffsetDateTime, DomainError> {
        timestamp_to_domain("from_time", Some(&prost_types::Timestamp { seconds, nanos }))
    }

    fn field(r: Result<OffsetDateTime, DomainError>) -> String {
        match r {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn timestamps_within_years_1_to_9999_are_taken_and_round_trip() {
        for (s, n) in
            [(MIN_TIMESTAMP_SECONDS, 0), (0, 0), (1_700_000_000, 999_999_999), (MAX_TIMESTAMP_SECONDS, 999_999_999)]
        {
            let t = ts(s, n).unwrap_or_else(|e| panic!("{s}.{n}: {e}"));
            assert_eq!(timestamp_from_domain(t), prost_types::Timestamp { seconds: s, nanos: n });
        }
    }

    #[test]
    fn timestamps_outside_the_range_or_with_bad_nanos_are_refused_naming_the_field() {
        // Year -9999 (which once panicked a replay), year 10000, i64's ends, and nanos out of range.
        for (s, n) in [
            (-377_705_116_800, 0),
            (MIN_TIMESTAMP_SECONDS - 1, 0),
            (MAX_TIMESTAMP_SECONDS + 1, 0),
            (i64::MIN, 0),
            (i64::MAX, 0),
            (0, -1),
            (0, 1_000_000_000),
            (0, i32::MIN),
            (0, i32::MAX),
        ] {
            assert_eq!(field(ts(s, n)), "from_time", "{s}.{n}");
        }
        assert_eq!(field(timestamp_to_domain("occurred_at", None)), "occurred_at");
    }
}
