//! The event catalogue: what can happen in a coalition, as plain Rust values, plus each event's metadata.
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{AggregateType, CountryCode, DomainError, Token};

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Import,
    PlatformSync,
}

/// What every event carries besides its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// Client-chosen; the idempotency key.
    pub event_id: Uuid,
    /// Business time.
    pub occurred_at: OffsetDateTime,
    /// Server time, set by the append service.
    pub recorded_at: OffsetDateTime,
    /// The person or system on whose behalf the caller acts: chosen by the client.
    pub actor: String,
    /// The authenticated principal that appended the event: set by the server, never taken from the request.
    /// [`crate::access::UNKNOWN_PRINCIPAL`] for events written before principals were recorded.
    pub principal: String,
    pub source: Source,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub meta: EventMeta,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoalitionKind {
    Eu,
    National,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganisationType {
    IctCompany,
    EducationProvider,
    PublicAuthority,
    EmploymentService,
    Association,
    NonProfit,
    SocialPartner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganisationSize {
    Sme,
    Large,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalitionEstablished {
    pub name: String,
    pub kind: CoalitionKind,
    /// `None` for the EU-level coalition.
    pub country: Option<CountryCode>,
    pub launched_on: Date,
    pub open_pledging: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationRegistered {
    pub name: String,
    pub country: CountryCode,
    pub organisation_type: OrganisationType,
    pub size: OrganisationSize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipApproved {
    pub coalition_id: Token,
    pub organisation_id: Token,
    pub joined_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipLeft {
    pub coalition_id: Token,
    pub organisation_id: Token,
    pub left_on: Date,
    pub reason: String,
}

/// The four pillars of the coalition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pillar {
    All,
    LabourForce,
    IctProfessionals,
    Education,
}

/// The Commission's pledge indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Indicator {
    TrainingsOnline,
    TrainingsFaceToFace,
    Certifications,
    PeopleReached,
    Placements,
    JobsMatched,
    NewCourses,
    Beneficiaries,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeSubmitted {
    pub organisation_id: Token,
    pub coalition_id: Token,
    pub title: String,
    pub pillars: Vec<Pillar>,
    pub countries: Vec<CountryCode>,
    pub starts_on: Date,
    pub ends_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeApproved {
    pub approved_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiativeAdded {
    pub initiative_id: Token,
    pub title: String,
    pub pillar: Pillar,
    pub targets: Vec<(Indicator, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRevised {
    pub initiative_id: Token,
    pub indicator: Indicator,
    pub old_target: i64,
    pub new_target: i64,
    pub reason: String,
}

/// Progress to date of one initiative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub cumulative: Vec<(Indicator, i64)>,
    pub people: i64,
    pub women: i64,
    pub per_country: Vec<(CountryCode, i64)>,
}

impl Progress {
    /// Counts non-negative, women <= people, the country breakdown sums to people.
    pub fn validate(&self, field: &str) -> Result<(), DomainError> {
        let mut seen = std::collections::HashSet::new();
        for (i, (indicator, n)) in self.cumulative.iter().enumerate() {
            if *n < 0 {
                return Err(DomainError::invalid(
                    format!("{field}.cumulative[{i}].amount"),
                    format!("{n} is negative"),
                ));
            }
            if !seen.insert(indicator) {
                return Err(DomainError::invalid(
                    format!("{field}.cumulative[{i}]"),
                    format!("{indicator:?} repeated"),
                ));
            }
        }
        if self.people < 0 || self.women < 0 {
            return Err(DomainError::invalid(format!("{field}.people"), "counts must not be negative"));
        }
        if self.women > self.people {
            return Err(DomainError::invalid(
                format!("{field}.women"),
                format!("women {} exceeds people {}", self.women, self.people),
            ));
        }
        if !self.per_country.is_empty() {
            if let Some((c, n)) = self.per_country.iter().find(|(_, n)| *n < 0) {
                return Err(DomainError::invalid(format!("{field}.per_country"), format!("{} is {n}", c.as_str())));
            }
            let sum: i128 = self.per_country.iter().map(|(_, n)| i128::from(*n)).sum();
            if sum != i128::from(self.people) {
                return Err(DomainError::invalid(
                    format!("{field}.per_country"),
                    format!("the breakdown sums to {sum}, not to people {}", self.people),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressReported {
    pub report_id: Token,
    pub initiative_id: Token,
    pub period_end: Date,
    pub progress: Progress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressCorrected {
    pub report_id: Token,
    pub progress: Progress,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeCompleted {
    pub completed_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeWithdrawn {
    pub withdrawn_on: Date,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalitionWebsiteConnected {
    pub connected_on: Date,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalitionCoordinatorChanged {
    pub organisation_id: Token,
    pub changed_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalitionDeactivated {
    pub deactivated_on: Date,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationRenamed {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipApplied {
    pub coalition_id: Token,
    pub organisation_id: Token,
    pub applied_on: Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRole {
    Founder,
    Coordinator,
    ContactPoint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRoleAssigned {
    pub coalition_id: Token,
    pub organisation_id: Token,
    pub role: MemberRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkillLevel {
    Basic,
    Intermediate,
    Advanced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CourseFormat {
    Online,
    FaceToFace,
    Blended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseListed {
    pub provider_id: Token,
    pub coalition_id: Token,
    pub title: String,
    pub pillar: Pillar,
    pub skill_level: SkillLevel,
    pub format: CourseFormat,
    pub hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseRunCompleted {
    pub run_id: Token,
    pub ended_on: Date,
    pub enrolled: i64,
    pub completed: i64,
    pub certified: i64,
    pub women_enrolled: i64,
    pub women_completed: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    Event,
    Class,
    Campaign,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityReported {
    pub organisation_id: Token,
    pub coalition_id: Token,
    pub kind: ActivityKind,
    pub pillar: Pillar,
    pub held_on: Date,
    pub participants: i64,
    pub women: i64,
    pub per_country: Vec<(CountryCode, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    News,
    Event,
    GoodPractice,
    TrainingOpportunity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentShared {
    pub coalition_id: Token,
    pub content_type: ContentType,
    pub title: String,
    pub shared_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentWithdrawn {
    pub withdrawn_on: Date,
    pub reason: String,
}

/// One domain event. The variant is the event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    CoalitionEstablished(CoalitionEstablished),
    OrganisationRegistered(OrganisationRegistered),
    MembershipApproved(MembershipApproved),
    MembershipLeft(MembershipLeft),
    PledgeSubmitted(PledgeSubmitted),
    PledgeApproved(PledgeApproved),
    InitiativeAdded(InitiativeAdded),
    TargetRevised(TargetRevised),
    ProgressReported(ProgressReported),
    ProgressCorrected(ProgressCorrected),
    PledgeCompleted(PledgeCompleted),
    PledgeWithdrawn(PledgeWithdrawn),
    CoalitionWebsiteConnected(CoalitionWebsiteConnected),
    CoalitionCoordinatorChanged(CoalitionCoordinatorChanged),
    CoalitionDeactivated(CoalitionDeactivated),
    OrganisationRenamed(OrganisationRenamed),
    MembershipApplied(MembershipApplied),
    MembershipRoleAssigned(MembershipRoleAssigned),
    CourseListed(CourseListed),
    CourseRunCompleted(CourseRunCompleted),
    ActivityReported(ActivityReported),
    ContentShared(ContentShared),
    ContentWithdrawn(ContentWithdrawn),
}

impl EventKind {
    /// Every event type name the code knows, with its current schema version.
    pub const TYPES: [(&'static str, u32); 23] = [
        ("coalition_established", 1),
        ("organisation_registered", 1),
        ("membership_approved", 1),
        ("membership_left", 1),
        ("pledge_submitted", 2),
        ("pledge_approved", 1),
        ("initiative_added", 1),
        ("target_revised", 1),
        ("progress_reported", 1),
        ("progress_corrected", 1),
        ("pledge_completed", 1),
        ("pledge_withdrawn", 1),
        ("coalition_website_connected", 1),
        ("coalition_coordinator_changed", 1),
        ("coalition_deactivated", 1),
        ("organisation_renamed", 1),
        ("membership_applied", 1),
        ("membership_role_assigned", 1),
        ("course_listed", 1),
        ("course_run_completed", 1),
        ("activity_reported", 1),
        ("content_shared", 1),
        ("content_withdrawn", 1),
    ];

    /// The event type's name, as stored in the log and used in filters.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::CoalitionEstablished(_) => "coalition_established",
            Self::OrganisationRegistered(_) => "organisation_registered",
            Self::MembershipApproved(_) => "membership_approved",
            Self::MembershipLeft(_) => "membership_left",
            Self::PledgeSubmitted(_) => "pledge_submitted",
            Self::PledgeApproved(_) => "pledge_approved",
            Self::InitiativeAdded(_) => "initiative_added",
            Self::TargetRevised(_) => "target_revised",
            Self::ProgressReported(_) => "progress_reported",
            Self::ProgressCorrected(_) => "progress_corrected",
            Self::PledgeCompleted(_) => "pledge_completed",
            Self::PledgeWithdrawn(_) => "pledge_withdrawn",
            Self::CoalitionWebsiteConnected(_) => "coalition_website_connected",
            Self::CoalitionCoordinatorChanged(_) => "coalition_coordinator_changed",
            Self::CoalitionDeactivated(_) => "coalition_deactivated",
            Self::OrganisationRenamed(_) => "organisation_renamed",
            Self::MembershipApplied(_) => "membership_applied",
            Self::MembershipRoleAssigned(_) => "membership_role_assigned",
            Self::CourseListed(_) => "course_listed",
            Self::CourseRunCompleted(_) => "course_run_completed",
            Self::ActivityReported(_) => "activity_reported",
            Self::ContentShared(_) => "content_shared",
            Self::ContentWithdrawn(_) => "content_withdrawn",
        }
    }

    /// The schema version this code writes for the event's type.
    pub fn schema_version(&self) -> u32 {
        current_schema_version(self.type_name()).unwrap_or(1)
    }

    /// The kind of aggregate this event belongs to.
    pub fn aggregate_type(&self) -> AggregateType {
        match self {
            Self::CoalitionEstablished(_) => AggregateType::Coalition,
            Self::OrganisationRegistered(_) => AggregateType::Organisation,
            Self::MembershipApproved(_) | Self::MembershipLeft(_) => AggregateType::Membership,
            Self::PledgeSubmitted(_)
            | Self::PledgeApproved(_)
            | Self::InitiativeAdded(_)
            | Self::TargetRevised(_)
            | Self::ProgressReported(_)
            | Self::ProgressCorrected(_)
            | Self::PledgeCompleted(_)
            | Self::PledgeWithdrawn(_) => AggregateType::Pledge,
            Self::CoalitionWebsiteConnected(_)
            | Self::CoalitionCoordinatorChanged(_)
            | Self::CoalitionDeactivated(_) => AggregateType::Coalition,
            Self::OrganisationRenamed(_) => AggregateType::Organisation,
            Self::MembershipApplied(_) | Self::MembershipRoleAssigned(_) => AggregateType::Membership,
            Self::CourseListed(_) | Self::CourseRunCompleted(_) => AggregateType::Course,
            Self::ActivityReported(_) => AggregateType::Activity,
            Self::ContentShared(_) | Self::ContentWithdrawn(_) => AggregateType::Content,
        }
    }

    /// The coalition the event is about, if it is about one other than its own aggregate id.
    pub fn coalition_id(&self) -> Option<&Token> {
        match self {
            Self::MembershipApproved(e) => Some(&e.coalition_id),
            Self::MembershipLeft(e) => Some(&e.coalition_id),
            Self::PledgeSubmitted(e) => Some(&e.coalition_id),
            Self::MembershipApplied(e) => Some(&e.coalition_id),
            Self::MembershipRoleAssigned(e) => Some(&e.coalition_id),
            Self::CourseListed(e) => Some(&e.coalition_id),
            Self::ActivityReported(e) => Some(&e.coalition_id),
            Self::ContentShared(e) => Some(&e.coalition_id),
            _ => None,
        }
    }

    /// Shape checks that need no state: required text present, dates sensible.
    pub fn validate(&self) -> Result<(), DomainError> {
        fn text(field: &str, s: &str, max: usize) -> Result<(), DomainError> {
            if s.trim().is_empty() {
                return Err(DomainError::invalid(field, "must not be empty"));
            }
            if s.chars().count() > max {
                return Err(DomainError::invalid(field, format!("longer than {max} characters")));
            }
            no_control_characters(field, s)
        }
        match self {
            Self::CoalitionEstablished(e) => {
                text("payload.name", &e.name, 200)?;
                match (e.kind, &e.country) {
                    (CoalitionKind::National, None) => {
                        Err(DomainError::invalid("payload.country", "a national coalition needs a country"))
                    }
                    (CoalitionKind::Eu, Some(c)) => Err(DomainError::invalid(
                        "payload.country",
                        format!("the EU-level coalition has no country, got {:?}", c.as_str()),
                    )),
                    _ => Ok(()),
                }
            }
            Self::OrganisationRegistered(e) => text("payload.name", &e.name, 300),
            Self::MembershipApproved(_)
            | Self::PledgeApproved(_)
            | Self::PledgeCompleted(_)
            | Self::CoalitionCoordinatorChanged(_)
            | Self::MembershipApplied(_)
            | Self::MembershipRoleAssigned(_) => Ok(()),
            Self::CoalitionWebsiteConnected(e) => text("payload.url", &e.url, 500),
            Self::OrganisationRenamed(e) => text("payload.name", &e.name, 300),
            Self::CourseListed(e) => {
                text("payload.title", &e.title, 300)?;
                if e.hours == 0 {
                    return Err(DomainError::invalid("payload.hours", "a course lasts at least one hour"));
                }
                Ok(())
            }
            Self::CourseRunCompleted(e) => {
                let check = |field: &str, ok: bool, what: String| {
                    if ok { Ok(()) } else { Err(DomainError::invalid(format!("payload.{field}"), what)) }
                };
                check(
                    "enrolled",
                    e.enrolled >= 0 && e.women_enrolled >= 0 && e.women_completed >= 0 && e.certified >= 0,
                    "counts must not be negative".into(),
                )?;
                check(
                    "completed",
                    e.completed >= 0 && e.completed <= e.enrolled,
                    format!("completed {} must be 0..=enrolled {}", e.completed, e.enrolled),
                )?;
                check(
                    "certified",
                    e.certified <= e.completed,
                    format!("certified {} exceeds completed {}", e.certified, e.completed),
                )?;
                check(
                    "women_enrolled",
                    e.women_enrolled <= e.enrolled,
                    format!("women_enrolled {} exceeds enrolled {}", e.women_enrolled, e.enrolled),
                )?;
                check(
                    "women_completed",
                    e.women_completed <= e.completed.min(e.women_enrolled),
                    format!(
                        "women_completed {} exceeds completed {} or women_enrolled {}",
                        e.women_completed, e.completed, e.women_enrolled
                    ),
                )
            }
            Self::ActivityReported(e) => Progress {
                cumulative: vec![],
                people: e.participants,
                women: e.women,
                per_country: e.per_country.clone(),
            }
            .validate("payload")
            .map_err(|err| match err {
                DomainError::Validation { field, reason } => DomainError::Validation {
                    field: field.replace("payload.people", "payload.participants"),
                    reason: reason.replace("people", "participants"),
                },
                other => other,
            }),
            Self::ContentShared(e) => text("payload.title", &e.title, 300),
            Self::MembershipLeft(MembershipLeft { reason, .. })
            | Self::PledgeWithdrawn(PledgeWithdrawn { reason, .. })
            | Self::CoalitionDeactivated(CoalitionDeactivated { reason, .. })
            | Self::ContentWithdrawn(ContentWithdrawn { reason, .. }) => {
                if reason.chars().count() > 1000 {
                    return Err(DomainError::invalid("payload.reason", "longer than 1000 characters"));
                }
                no_control_characters("payload.reason", reason)
            }
            Self::PledgeSubmitted(e) => {
                text("payload.title", &e.title, 300)?;
                if e.pillars.is_empty() {
                    return Err(DomainError::invalid("payload.pillars", "a pledge needs at least one pillar"));
                }
                if e.starts_on > e.ends_on {
                    return Err(DomainError::invalid(
                        "payload.ends_on",
                        format!("ends_on {} is before starts_on {}", e.ends_on, e.starts_on),
                    ));
                }
                Ok(())
            }
            Self::InitiativeAdded(e) => {
                text("payload.title", &e.title, 300)?;
                if e.targets.is_empty() {
                    return Err(DomainError::invalid("payload.targets", "at least one target is required"));
                }
                if let Some((i, (_, n))) = e.targets.iter().enumerate().find(|(_, (_, n))| *n < 0) {
                    return Err(DomainError::invalid(
                        format!("payload.targets[{i}].amount"),
                        format!("{n} is negative"),
                    ));
                }
                Ok(())
            }
            Self::TargetRevised(e) => {
                if e.new_target < 0 || e.old_target < 0 {
                    return Err(DomainError::invalid("payload.new_target", "targets must not be negative"));
                }
                text("payload.reason", &e.reason, 1000)
            }
            Self::ProgressReported(e) => e.progress.validate("payload.progress"),
            Self::ProgressCorrected(e) => {
                text("payload.reason", &e.reason, 1000)?;
                e.progress.validate("payload.progress")
            }
        }
    }
}

/// Refuses NUL and other control characters (except tab and newline): they are invalid in Postgres text and
/// invisible to readers.
pub fn no_control_characters(field: &str, s: &str) -> Result<(), DomainError> {
    match s.chars().find(|c| c.is_control() && *c != '\n' && *c != '\t') {
        Some(c) => Err(DomainError::invalid(field, format!("contains the control character {:?}", c))),
        None => Ok(()),
    }
}

/// The current schema version of an event type, or `None` if the type is unknown to this code.
pub fn current_schema_version(type_name: &str) -> Option<u32> {
    EventKind::TYPES.iter().find(|(t, _)| *t == type_name).map(|(_, v)| *v)
}

/// `name()`: the stable snake_case name of each value, as read models, views and the query API spell it.
macro_rules! names {
    ($($ty:ident { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl $ty {
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
    )+};
}

names! {
    CoalitionKind { Eu => "eu", National => "national" }
    OrganisationType {
        IctCompany => "ict_company", EducationProvider => "education_provider",
        PublicAuthority => "public_authority", EmploymentService => "employment_service",
        Association => "association", NonProfit => "non_profit", SocialPartner => "social_partner",
    }
    OrganisationSize { Sme => "sme", Large => "large" }
    Pillar { All => "all", LabourForce => "labour_force", IctProfessionals => "ict_professionals", Education => "education" }
    Indicator {
        TrainingsOnline => "trainings_online", TrainingsFaceToFace => "trainings_face_to_face",
        Certifications => "certifications", PeopleReached => "people_reached", Placements => "placements",
        JobsMatched => "jobs_matched", NewCourses => "new_courses", Beneficiaries => "beneficiaries",
    }
    ContentType { News => "news", Event => "event", GoodPractice => "good_practice", TrainingOpportunity => "training_opportunity" }
}
