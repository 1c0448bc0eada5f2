//! The event catalogue: what can happen in a coalition, as plain Rust values, plus each event's metadata.
//!
//! Each event type is one line of the `catalogue!` below (its stored name, current schema version and
//! aggregate type), one payload struct in `payload.rs` and one [`crate::rules::Rule`] implementation beside the
//! rules of its concern. Everything else about a type is derived from those, or is an exhaustive `match` that
//! does not compile until the type is given its arm.
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{AggregateType, DomainError, Token};

mod payload;

pub use payload::*;

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

/// Defines, from one table, the payload enum [`EventKind`] (variant `X` holds the struct `X`), the fieldless
/// [`EventType`] with [`EventType::ALL`], each type's stored name, current schema version and aggregate type,
/// [`EventKind::event_type`] and the dispatch to each type's rules. There is no other list of event types.
macro_rules! catalogue {
    ($($variant:ident($name:literal, $version:literal, $aggregate:ident)),+ $(,)?) => {
        /// One domain event. The variant is the event type.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum EventKind {
            $($variant($variant)),+
        }

        /// An event type, without its payload.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant),+
        }

        impl EventType {
            /// Every event type the code knows.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The type's name, as stored in the log and used in filters. Stored data: never changes.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }

            /// The schema version this code writes (and reads up to) for the type.
            pub const fn schema_version(self) -> u32 {
                match self {
                    $(Self::$variant => $version),+
                }
            }

            /// The kind of aggregate events of this type belong to.
            pub const fn aggregate_type(self) -> AggregateType {
                match self {
                    $(Self::$variant => AggregateType::$aggregate),+
                }
            }
        }

        impl EventKind {
            /// The event's type.
            pub const fn event_type(&self) -> EventType {
                match self {
                    $(Self::$variant(_) => EventType::$variant),+
                }
            }

            /// The event type's rules (implemented beside the rules of its concern in [`crate::rules`]).
            pub(crate) fn rules(&self) -> &dyn crate::rules::Rule {
                match self {
                    $(Self::$variant(e) => e),+
                }
            }
        }
    };
}

// Variant (and payload struct) (stored name, current schema version, aggregate type).
catalogue! {
    CoalitionEstablished("coalition_established", 1, Coalition),
    OrganisationRegistered("organisation_registered", 1, Organisation),
    MembershipApproved("membership_approved", 1, Membership),
    MembershipLeft("membership_left", 1, Membership),
    PledgeSubmitted("pledge_submitted", 2, Pledge),
    PledgeApproved("pledge_approved", 1, Pledge),
    InitiativeAdded("initiative_added", 1, Pledge),
    TargetRevised("target_revised", 1, Pledge),
    ProgressReported("progress_reported", 1, Pledge),
    ProgressCorrected("progress_corrected", 1, Pledge),
    PledgeCompleted("pledge_completed", 1, Pledge),
    PledgeWithdrawn("pledge_withdrawn", 1, Pledge),
    CoalitionWebsiteConnected("coalition_website_connected", 1, Coalition),
    CoalitionCoordinatorChanged("coalition_coordinator_changed", 1, Coalition),
    CoalitionDeactivated("coalition_deactivated", 1, Coalition),
    OrganisationRenamed("organisation_renamed", 1, Organisation),
    MembershipApplied("membership_applied", 1, Membership),
    MembershipRoleAssigned("membership_role_assigned", 1, Membership),
    CourseListed("course_listed", 1, Course),
    CourseRunCompleted("course_run_completed", 1, Course),
    ActivityReported("activity_reported", 1, Activity),
    ContentShared("content_shared", 1, Content),
    ContentWithdrawn("content_withdrawn", 1, Content),
    ProgrammeLaunched("programme_launched", 1, Programme),
    PriorityAreaAdded("priority_area_added", 1, Programme),
    PartnershipMemberAppointed("partnership_member_appointed", 1, Programme),
    PartnershipMemberLeft("partnership_member_left", 1, Programme),
    WorkingGroupStarted("working_group_started", 1, Programme),
    WorkingGroupParticipantJoined("working_group_participant_joined", 1, Programme),
    WorkingGroupParticipantLeft("working_group_participant_left", 1, Programme),
    WorkingGroupMeetingHeld("working_group_meeting_held", 1, Programme),
    WorkingGroupDeliverableReported("working_group_deliverable_reported", 1, Programme),
    WorkingGroupClosed("working_group_closed", 1, Programme),
    ProgrammeEnded("programme_ended", 1, Programme),
    NationalCoordinatorNominated("national_coordinator_nominated", 1, NationalCoordinator),
    NationalCoordinatorReplaced("national_coordinator_replaced", 1, NationalCoordinator),
}

impl EventType {
    /// The type of a stored name, or `None` if the name is unknown to this code.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl EventKind {
    /// The event type's name, as stored in the log and used in filters.
    pub fn type_name(&self) -> &'static str {
        self.event_type().name()
    }

    /// The schema version this code writes for the event's type.
    pub fn schema_version(&self) -> u32 {
        self.event_type().schema_version()
    }

    /// The kind of aggregate this event belongs to.
    pub fn aggregate_type(&self) -> AggregateType {
        self.event_type().aggregate_type()
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
            Self::ProgrammeLaunched(e) => Some(&e.coalition_id),
            Self::CoalitionEstablished(_)
            | Self::OrganisationRegistered(_)
            | Self::PledgeApproved(_)
            | Self::InitiativeAdded(_)
            | Self::TargetRevised(_)
            | Self::ProgressReported(_)
            | Self::ProgressCorrected(_)
            | Self::PledgeCompleted(_)
            | Self::PledgeWithdrawn(_)
            | Self::CoalitionWebsiteConnected(_)
            | Self::CoalitionCoordinatorChanged(_)
            | Self::CoalitionDeactivated(_)
            | Self::OrganisationRenamed(_)
            | Self::CourseRunCompleted(_)
            | Self::ContentWithdrawn(_)
            | Self::PriorityAreaAdded(_)
            | Self::PartnershipMemberAppointed(_)
            | Self::PartnershipMemberLeft(_)
            | Self::WorkingGroupStarted(_)
            | Self::WorkingGroupParticipantJoined(_)
            | Self::WorkingGroupParticipantLeft(_)
            | Self::WorkingGroupMeetingHeld(_)
            | Self::WorkingGroupDeliverableReported(_)
            | Self::WorkingGroupClosed(_)
            | Self::ProgrammeEnded(_)
            // A national coordinator belongs to a member state, not to a coalition.
            | Self::NationalCoordinatorNominated(_)
            | Self::NationalCoordinatorReplaced(_) => None,
        }
    }

    /// Shape checks that need no state: required text present, dates sensible (each type's
    /// [`crate::rules::Rule::validate`]).
    pub fn validate(&self) -> Result<(), DomainError> {
        self.rules().validate()
    }
}

/// The current schema version of an event type, or `None` if the type is unknown to this code.
pub fn current_schema_version(type_name: &str) -> Option<u32> {
    EventType::from_name(type_name).map(EventType::schema_version)
}

/// The Unicode format characters (general category Cf, Unicode 15.1) as inclusive ranges: invisible, and able to
/// make text read otherwise than it is stored (the right-to-left override U+202E and the other bidirectional
/// controls, zero-width spaces and joiners, the word joiner, the soft hyphen, the byte order mark, tag characters).
const FORMAT_CHARACTERS: [(char, char); 21] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a Unicode format character (general category Cf).
pub fn is_format_character(c: char) -> bool {
    FORMAT_CHARACTERS.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

/// Refuses control characters (NUL and the others: invalid in Postgres text or invisible to readers) and Unicode
/// format characters ([`is_format_character`]); `line_breaks` allows newline and tab (free text such as a reason).
fn no_hidden_characters(field: &str, s: &str, line_breaks: bool) -> Result<(), DomainError> {
    let allowed = |c: char| line_breaks && (c == '\n' || c == '\t');
    match s.chars().find(|c| (c.is_control() && !allowed(*c)) || is_format_character(*c)) {
        Some(c) if c.is_control() => {
            Err(DomainError::invalid(field, format!("contains the control character U+{:04X}", u32::from(c))))
        }
        Some(c) => Err(DomainError::invalid(
            field,
            format!("contains the invisible format character U+{:04X} (zero-width or bidirectional)", u32::from(c)),
        )),
        None => Ok(()),
    }
}

/// A one-line text the client chooses outside a payload (an event's actor): no control or format characters.
pub fn plain_line(field: &str, s: &str) -> Result<(), DomainError> {
    no_hidden_characters(field, s, false)
}

/// A required name or title: present, at most `max` characters, one line, no control or format characters.
pub(crate) fn text(field: &str, s: &str, max: usize) -> Result<(), DomainError> {
    required(field, s, max)?;
    no_hidden_characters(field, s, false)
}

/// A required reason (`payload.reason`): present, at most `max` characters, no format characters and no control
/// characters but newline and tab.
pub(crate) fn required_reason(s: &str, max: usize) -> Result<(), DomainError> {
    required("payload.reason", s, max)?;
    no_hidden_characters("payload.reason", s, true)
}

fn required(field: &str, s: &str, max: usize) -> Result<(), DomainError> {
    if s.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(DomainError::invalid(field, format!("longer than {max} characters")));
    }
    Ok(())
}

/// An optional reason (`payload.reason`): at most 1000 characters, no format characters and no control
/// characters but newline and tab.
pub(crate) fn reason(reason: &str) -> Result<(), DomainError> {
    if reason.chars().count() > 1000 {
        return Err(DomainError::invalid("payload.reason", "longer than 1000 characters"));
    }
    no_hidden_characters("payload.reason", reason, true)
}

/// The earliest business date the ledger takes: the coalitions began in 2013 (the Grand Coalition for Digital
/// Jobs; Lithuania's national coalition on 7 Nov 2013), so an earlier date is a mistake. See `docs/domain.md`.
pub const EARLIEST_BUSINESS_DATE: Date = time::macros::date!(2000 - 01 - 01);
/// The latest business date the ledger takes: far enough for any pledge's planned end.
pub const LATEST_BUSINESS_DATE: Date = time::macros::date!(2100 - 12 - 31);

/// The largest amount or count the ledger takes (targets, progress, participants, enrolments, a country's
/// share): 10^12, far above any coalition's figure (the EU has 4.5 * 10^8 inhabitants). Read models add such
/// values up in 64-bit integers and saturate at `i64::MAX`, which 9 million maximal values would reach.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// An amount or count `n` within 0..=[`MAX_AMOUNT`].
pub fn amount(field: &str, n: i64) -> Result<(), DomainError> {
    if (0..=MAX_AMOUNT).contains(&n) {
        Ok(())
    } else {
        Err(DomainError::invalid(field, format!("{n} is outside 0..={MAX_AMOUNT}")))
    }
}

/// A business date (`..._on`, a period's end) within [`EARLIEST_BUSINESS_DATE`]..=[`LATEST_BUSINESS_DATE`].
pub fn business_date(field: &str, d: Date) -> Result<(), DomainError> {
    if (EARLIEST_BUSINESS_DATE..=LATEST_BUSINESS_DATE).contains(&d) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{d} is outside the business dates {EARLIEST_BUSINESS_DATE}..={LATEST_BUSINESS_DATE}"),
        ))
    }
}

/// A website address: `http` or `https`, with a host (a name or an IP address), at most 500 characters, no
/// spaces, credentials, control or format characters. Refuses `javascript:`, `data:`, `file:` and relative URLs.
pub(crate) fn web_url(field: &str, url: &str) -> Result<(), DomainError> {
    required(field, url, 500)?;
    no_hidden_characters(field, url, false)?;
    let bad = |why: &str| Err(DomainError::invalid(field, format!("{url:?} is not a web address: {why}")));
    if url.chars().any(char::is_whitespace) {
        return bad("it contains a space");
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else {
        return bad("it must start with http:// or https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return bad("it must not carry credentials");
    }
    // `host`, `host:port`, `[v6]` or `[v6]:port`.
    let (host, port, v6) = match authority.strip_prefix('[').and_then(|a| a.split_once(']')) {
        Some((v6, "")) => ("", None, Some(v6)),
        Some((v6, rest)) => ("", Some(rest.strip_prefix(':').unwrap_or("not a port")), Some(v6)),
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port), None),
            None => (authority, None, None),
        },
    };
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return bad("its port must be 1 to 65535");
    }
    let ok = match v6 {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        // Labels of letters, digits and hyphens (not at either end); a trailing dot (a fully qualified name) is fine.
        None => {
            let name = host.strip_suffix('.').unwrap_or(host);
            !name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_alphanumeric() || c == '-')
                })
        }
    };
    if ok { Ok(()) } else { bad("it has no valid host") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names and versions in the log before the catalogue was one table: stored data, so they never change.
    #[test]
    fn the_stored_names_and_versions_are_those_already_in_the_log() {
        let stored: Vec<(&str, u32)> = EventType::ALL.iter().map(|t| (t.name(), t.schema_version())).collect();
        assert_eq!(
            stored,
            [
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
                ("programme_launched", 1),
                ("priority_area_added", 1),
                ("partnership_member_appointed", 1),
                ("partnership_member_left", 1),
                ("working_group_started", 1),
                ("working_group_participant_joined", 1),
                ("working_group_participant_left", 1),
                ("working_group_meeting_held", 1),
                ("working_group_deliverable_reported", 1),
                ("working_group_closed", 1),
                ("programme_ended", 1),
                ("national_coordinator_nominated", 1),
                ("national_coordinator_replaced", 1),
            ]
        );
    }

    #[test]
    fn every_name_reads_back_as_its_type_and_unknown_names_as_none() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(*t));
            assert_eq!(current_schema_version(t.name()), Some(t.schema_version()));
        }
        assert_eq!(EventType::from_name("pledge_teleported"), None);
    }

    #[test]
    fn format_characters_are_those_of_unicode_category_cf() {
        assert!(FORMAT_CHARACTERS.windows(2).all(|w| w[0].1 < w[1].0), "sorted and disjoint");
        for c in ['\u{00AD}', '\u{200B}', '\u{200F}', '\u{202A}', '\u{202E}', '\u{2060}', '\u{2064}', '\u{2066}'] {
            assert!(is_format_character(c), "{c:?}");
        }
        for c in ['\u{2069}', '\u{FEFF}', '\u{E0001}', '\u{061C}'] {
            assert!(is_format_character(c), "{c:?}");
        }
        for c in ['a', 'Ä', 'λ', ' ', '-', '\u{2010}', '\u{00A0}', '\u{2065}'] {
            assert!(!is_format_character(c), "{c:?}");
        }
    }
}
