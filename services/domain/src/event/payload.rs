//! The payloads of the event catalogue: one struct per event type, and the closed value sets they use.
use time::Date;

use crate::event::amount;
use crate::{CountryCode, DomainError, Token};

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

/// How many pillars there are: a list of pillars holds at most this many.
pub const PILLARS: usize = 4;
/// How many indicators there are: a list of targets or of cumulative amounts holds at most this many.
pub const INDICATORS: usize = 8;

/// Refuses a list `field` longer than `max`, or a value that repeats an earlier one, naming the repeat
/// (`field[i]suffix`).
pub(crate) fn once_each<'a, T: PartialEq + 'a>(
    field: &str,
    suffix: &str,
    max: usize,
    items: impl IntoIterator<Item = &'a T>,
) -> Result<(), DomainError> {
    let items: Vec<&T> = items.into_iter().collect();
    at_most(field, items.len(), max)?;
    for (i, item) in items.iter().enumerate() {
        if let Some(j) = items[..i].iter().position(|earlier| earlier == item) {
            return Err(DomainError::invalid(format!("{field}[{i}]{suffix}"), format!("repeats {field}[{j}]{suffix}")));
        }
    }
    Ok(())
}

/// Refuses a list `field` of `len` entries if that is more than `max`.
pub(crate) fn at_most(field: &str, len: usize, max: usize) -> Result<(), DomainError> {
    if len > max { Err(DomainError::invalid(field, format!("{len} entries, at most {max}"))) } else { Ok(()) }
}

/// A list of countries (`field[i]suffix`): at most one entry per assigned code, each an assigned code, each once.
pub(crate) fn countries<'a>(
    field: &str,
    suffix: &str,
    codes: impl IntoIterator<Item = &'a CountryCode> + Clone,
) -> Result<(), DomainError> {
    let max = crate::ids::ISO_3166_1_ALPHA_2.len();
    at_most(field, codes.clone().into_iter().count(), max)?;
    for (i, c) in codes.clone().into_iter().enumerate() {
        c.assigned(&format!("{field}[{i}]{suffix}"))?;
    }
    once_each(field, suffix, max, codes)
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
    /// Counts within 0..=[`MAX_AMOUNT`](crate::event::MAX_AMOUNT), each indicator and country once, countries
    /// assigned, women <= people, the country breakdown sums to people.
    pub fn validate(&self, field: &str) -> Result<(), DomainError> {
        let mut seen = std::collections::HashSet::new();
        at_most(&format!("{field}.cumulative"), self.cumulative.len(), INDICATORS)?;
        for (i, (indicator, n)) in self.cumulative.iter().enumerate() {
            amount(&format!("{field}.cumulative[{i}].amount"), *n)?;
            if !seen.insert(indicator) {
                return Err(DomainError::invalid(
                    format!("{field}.cumulative[{i}]"),
                    format!("{indicator:?} repeated"),
                ));
            }
        }
        amount(&format!("{field}.people"), self.people)?;
        amount(&format!("{field}.women"), self.women)?;
        if self.women > self.people {
            return Err(DomainError::invalid(
                format!("{field}.women"),
                format!("women {} exceeds people {}", self.women, self.people),
            ));
        }
        if !self.per_country.is_empty() {
            countries(&format!("{field}.per_country"), ".country", self.per_country.iter().map(|(c, _)| c))?;
            for (i, (_, n)) in self.per_country.iter().enumerate() {
                amount(&format!("{field}.per_country[{i}].amount"), *n)?;
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

/// Who a member of a programme's partnership group or a working group's participant represents: the sectors
/// the Swedish innovation partnership page names (large and small companies, universities and higher education
/// institutions, government agencies, civil society, the public sphere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sector {
    LargeCompany,
    SmallCompany,
    HigherEducation,
    GovernmentAgency,
    CivilSociety,
    PublicSector,
}

/// One of a programme's priority areas: its id within the programme and its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityArea {
    pub area_id: Token,
    pub title: String,
}

/// Aggregate `programme/<id>`: an innovation partnership programme of a member state, owned by its coalition's
/// writers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeLaunched {
    /// The coalition whose writers record the programme and whose readers may read it.
    pub coalition_id: Token,
    pub country: CountryCode,
    pub name: String,
    /// The body that owns the programme (a ministry, the government offices).
    pub owner: String,
    pub priority_areas: Vec<PriorityArea>,
    pub launched_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityAreaAdded {
    pub area: PriorityArea,
    pub added_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnershipMemberAppointed {
    pub member_id: Token,
    pub name: String,
    pub organisation: String,
    pub sector: Sector,
    /// In the partnership group: chair, member, expert.
    pub role: String,
    pub appointed_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnershipMemberLeft {
    pub member_id: Token,
    pub left_on: Date,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingGroupStarted {
    pub group_id: Token,
    /// The priority area the group works under.
    pub area_id: Token,
    pub name: String,
    pub objective: String,
    pub started_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingGroupParticipantJoined {
    pub group_id: Token,
    pub participant_id: Token,
    pub name: String,
    pub organisation: String,
    pub sector: Sector,
    pub joined_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingGroupParticipantLeft {
    pub group_id: Token,
    pub participant_id: Token,
    pub left_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingGroupMeetingHeld {
    pub group_id: Token,
    pub meeting_id: Token,
    pub held_on: Date,
    /// Whether the group anchored its work with the partnership group at this meeting.
    pub anchored: bool,
    /// The participants present (participant ids of the group).
    pub present: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingGroupDeliverableReported {
    pub group_id: Token,
    pub deliverable_id: Token,
    pub title: String,
    pub reported_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingGroupClosed {
    pub group_id: Token,
    pub closed_on: Date,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeEnded {
    pub ended_on: Date,
    pub reason: String,
}

/// Aggregate `national_coordinator/<member state, lower case>`: the member state's national coordinator in the
/// Structured Dialogue with the Commission (since 2022); one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NationalCoordinatorNominated {
    pub member_state: CountryCode,
    pub name: String,
    /// The ministry or body the coordinator works for.
    pub body: String,
    pub nominated_on: Date,
}

/// The member state's coordinator is replaced by another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NationalCoordinatorReplaced {
    pub name: String,
    pub body: String,
    pub replaced_on: Date,
    pub reason: String,
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
    Sector {
        LargeCompany => "large_company", SmallCompany => "small_company", HigherEducation => "higher_education",
        GovernmentAgency => "government_agency", CivilSociety => "civil_society", PublicSector => "public_sector",
    }
}
