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
    pub actor: String,
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

/// One domain event. The variant is the event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    CoalitionEstablished(CoalitionEstablished),
    OrganisationRegistered(OrganisationRegistered),
    MembershipApproved(MembershipApproved),
    MembershipLeft(MembershipLeft),
}

impl EventKind {
    /// Every event type name the code knows, with its current schema version.
    pub const TYPES: [(&'static str, u32); 4] = [
        ("coalition_established", 1),
        ("organisation_registered", 1),
        ("membership_approved", 1),
        ("membership_left", 1),
    ];

    /// The event type's name, as stored in the log and used in filters.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::CoalitionEstablished(_) => "coalition_established",
            Self::OrganisationRegistered(_) => "organisation_registered",
            Self::MembershipApproved(_) => "membership_approved",
            Self::MembershipLeft(_) => "membership_left",
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
        }
    }

    /// The coalition the event is about, if it is about one other than its own aggregate id.
    pub fn coalition_id(&self) -> Option<&Token> {
        match self {
            Self::MembershipApproved(e) => Some(&e.coalition_id),
            Self::MembershipLeft(e) => Some(&e.coalition_id),
            Self::CoalitionEstablished(_) | Self::OrganisationRegistered(_) => None,
        }
    }

    /// Shape checks that need no state: required text present, dates sensible.
    pub fn validate(&self) -> Result<(), DomainError> {
        fn text(field: &str, s: &str, max: usize) -> Result<(), DomainError> {
            if s.trim().is_empty() {
                return Err(DomainError::invalid(field, "must not be empty"));
            }
            if s.chars().count() > max {
                return Err(DomainError::invalid(
                    field,
                    format!("longer than {max} characters"),
                ));
            }
            Ok(())
        }
        match self {
            Self::CoalitionEstablished(e) => {
                text("payload.name", &e.name, 200)?;
                match (e.kind, &e.country) {
                    (CoalitionKind::National, None) => Err(DomainError::invalid(
                        "payload.country",
                        "a national coalition needs a country",
                    )),
                    (CoalitionKind::Eu, Some(c)) => Err(DomainError::invalid(
                        "payload.country",
                        format!(
                            "the EU-level coalition has no country, got {:?}",
                            c.as_str()
                        ),
                    )),
                    _ => Ok(()),
                }
            }
            Self::OrganisationRegistered(e) => text("payload.name", &e.name, 300),
            Self::MembershipApproved(_) => Ok(()),
            Self::MembershipLeft(e) => {
                if e.reason.chars().count() > 1000 {
                    return Err(DomainError::invalid(
                        "payload.reason",
                        "longer than 1000 characters",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The current schema version of an event type, or `None` if the type is unknown to this code.
pub fn current_schema_version(type_name: &str) -> Option<u32> {
    EventKind::TYPES
        .iter()
        .find(|(t, _)| *t == type_name)
        .map(|(_, v)| *v)
}
