//! Who may do what: principals, their grants, and every authorisation decision, as pure functions.
//!
//! Authentication (tokens, certificates) happens at the edge and ends in a [`Principal`]; everything after that is
//! decided here, so the rules can be read and tested in one place:
//!
//! | role | may |
//! | --- | --- |
//! | `writer` of C | append events that belong to C: memberships in C, pledges to C with their initiatives and reports, courses and runs, activities and content of C, C's innovation partnership programmes (of C's country; the EU coalition's, of any) with their partnership and working groups; register a new organisation |
//! | `coalition-admin` of C | C's lifecycle: established, website connected, coordinator changed, deactivated; register a new organisation |
//! | `platform-admin` | everything, including renaming organisations (shared by every coalition), the member states' national coordinators, replay and every read |
//! | `reader` of C | the query API and the dashboard, answering only C's rows |
//! | `auditor` | replay and every read, all coalitions |
//!
//! A grant names coalitions or `*` (every coalition). Organisations are shared by coalitions: any writer or
//! coalition admin may *register* one (a new organisation must exist before it can join), but only a platform admin
//! may *rename* one, since a rename changes every coalition's reports.
//!
//! Appends are decided on the command alone, before any state is loaded ([`authorize_append`]). Some events do
//! not name their coalition (a pledge's approval, a course run, a content withdrawal): for those the caller's
//! coalition is the one it declares (or its only one), and once the aggregate is loaded [`AppendAccess::check_owner`]
//! confirms the aggregate belongs to it, before deduplication, revision or rules are looked at, with one message
//! for "another coalition's" and "does not exist" so that a refusal reveals nothing about the aggregate.
use std::collections::BTreeSet;
use std::fmt;

use crate::{Aggregate, AggregateType, EventKind, Token};

/// The subject recorded for events written before principals were recorded.
pub const UNKNOWN_PRINCIPAL: &str = "unknown";
/// The subject recorded for events appended by a server running with `--insecure-no-auth`.
pub const ANONYMOUS_PRINCIPAL: &str = "anonymous";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Writer,
    CoalitionAdmin,
    PlatformAdmin,
    Reader,
    Auditor,
}

impl Role {
    pub const ALL: [Self; 5] = [Self::Writer, Self::CoalitionAdmin, Self::PlatformAdmin, Self::Reader, Self::Auditor];

    pub fn name(self) -> &'static str {
        match self {
            Self::Writer => "writer",
            Self::CoalitionAdmin => "coalition-admin",
            Self::PlatformAdmin => "platform-admin",
            Self::Reader => "reader",
            Self::Auditor => "auditor",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Whether a grant of this role is scoped to coalitions (platform admins and auditors see everything).
    pub fn is_per_coalition(self) -> bool {
        matches!(self, Self::Writer | Self::CoalitionAdmin | Self::Reader)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The coalitions a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coalitions {
    /// `*`: every coalition, also those founded later.
    All,
    Some(BTreeSet<Token>),
}

impl Coalitions {
    pub fn covers(&self, c: &Token) -> bool {
        match self {
            Self::All => true,
            Self::Some(set) => set.contains(c),
        }
    }
}

/// One role over some coalitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub coalitions: Coalitions,
}

impl Grant {
    /// A grant from its role and coalition names (`*` for all). Roles that are not per coalition take none.
    pub fn parse(role: &str, coalitions: &[String]) -> Result<Self, String> {
        let role = Role::from_name(role).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            format!("unknown role {role:?} (one of {})", names.join(", "))
        })?;
        if !role.is_per_coalition() {
            if !coalitions.is_empty() && coalitions != ["*"] {
                return Err(format!("role {role} covers every coalition and takes no coalition list"));
            }
            return Ok(Self { role, coalitions: Coalitions::All });
        }
        if coalitions.is_empty() {
            return Err(format!("role {role} needs at least one coalition (or \"*\")"));
        }
        if coalitions.iter().any(|c| c == "*") {
            return Ok(Self { role, coalitions: Coalitions::All });
        }
        let set = coalitions
            .iter()
            .map(|c| Token::parse("coalition", c).map_err(|e| format!("coalition {c:?}: {e}")))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(Self { role, coalitions: Coalitions::Some(set) })
    }
}

/// An authenticated caller: who (the subject recorded with every event it appends) and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub grants: Vec<Grant>,
}

impl Principal {
    /// The caller of a server running with `--insecure-no-auth`: may do everything, recorded as `anonymous`.
    pub fn anonymous() -> Self {
        Self {
            subject: ANONYMOUS_PRINCIPAL.into(),
            grants: vec![Grant { role: Role::PlatformAdmin, coalitions: Coalitions::All }],
        }
    }

    fn is_platform_admin(&self) -> bool {
        self.grants.iter().any(|g| g.role == Role::PlatformAdmin)
    }

    /// Whether the principal holds `role` for coalition `c` (platform admins hold every role everywhere).
    pub fn holds(&self, role: Role, c: &Token) -> bool {
        self.is_platform_admin() || self.grants.iter().any(|g| g.role == role && g.coalitions.covers(c))
    }

    /// Whether the principal holds `role` for every coalition.
    fn holds_everywhere(&self, role: Role) -> bool {
        self.is_platform_admin() || self.grants.iter().any(|g| g.role == role && g.coalitions == Coalitions::All)
    }

    fn holds_anywhere(&self, roles: &[Role]) -> bool {
        self.is_platform_admin() || self.grants.iter().any(|g| roles.contains(&g.role))
    }

    /// The coalitions `role` is granted for, if it is one list (not `*`).
    fn coalitions_of(&self, role: Role) -> BTreeSet<Token> {
        let mut out = BTreeSet::new();
        for g in self.grants.iter().filter(|g| g.role == role) {
            if let Coalitions::Some(s) = &g.coalitions {
                out.extend(s.iter().cloned());
            }
        }
        out
    }
}

/// A refusal: the grant that was missing, and why it was needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// `writer:se`, `coalition-admin:eu`, `platform-admin`, `reader:*`, `auditor`.
    pub missing: String,
    pub reason: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "missing grant {}: {}", self.missing, self.reason)
    }
}

fn denied(missing: impl Into<String>, reason: impl Into<String>) -> Denied {
    Denied { missing: missing.into(), reason: reason.into() }
}

/// What an append needs, per event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    /// A role for a coalition the command names.
    Role(Role, Token),
    /// The writer role for the coalition the aggregate belongs to, which the command does not name.
    WriterOfOwner,
    /// Writer or coalition admin of any coalition (registering an organisation).
    AnyWriterOrAdmin,
    PlatformAdmin,
}

/// The coalition an aggregate belongs to by its id alone (coalitions and memberships); others say so in their
/// first event.
pub fn coalition_of_id(aggregate: &Aggregate) -> Option<Token> {
    match aggregate.kind() {
        AggregateType::Coalition => Token::parse("aggregate.id", aggregate.id()).ok(),
        AggregateType::Membership => {
            aggregate.id().split_once('.').and_then(|(c, _)| Token::parse("aggregate.id", c).ok())
        }
        _ => None,
    }
}

fn need(aggregate: &Aggregate, kind: &EventKind) -> Need {
    use EventKind as K;
    let by_id = coalition_of_id(aggregate);
    match kind {
        K::CoalitionEstablished(_)
        | K::CoalitionWebsiteConnected(_)
        | K::CoalitionCoordinatorChanged(_)
        | K::CoalitionDeactivated(_) => match by_id {
            Some(c) if aggregate.kind() == AggregateType::Coalition => Need::Role(Role::CoalitionAdmin, c),
            // A coalition event on another aggregate is refused by the rules; only a platform admin gets there.
            _ => Need::PlatformAdmin,
        },
        K::OrganisationRegistered(_) => Need::AnyWriterOrAdmin,
        K::OrganisationRenamed(_) => Need::PlatformAdmin,
        K::MembershipApplied(_) | K::MembershipApproved(_) | K::MembershipLeft(_) | K::MembershipRoleAssigned(_) => {
            // The payload's coalition decides (the rules refuse one that differs from the id's), so a payload
            // naming another coalition cannot ride on a grant for the id's.
            match kind.coalition_id().cloned().or(by_id) {
                Some(c) => Need::Role(Role::Writer, c),
                None => Need::PlatformAdmin,
            }
        }
        K::PledgeSubmitted(_)
        | K::CourseListed(_)
        | K::ActivityReported(_)
        | K::ContentShared(_)
        | K::ProgrammeLaunched(_) => match kind.coalition_id() {
            Some(c) => Need::Role(Role::Writer, c.clone()),
            None => Need::WriterOfOwner,
        },
        K::PledgeApproved(_)
        | K::InitiativeAdded(_)
        | K::TargetRevised(_)
        | K::ProgressReported(_)
        | K::ProgressCorrected(_)
        | K::PledgeCompleted(_)
        | K::PledgeWithdrawn(_)
        | K::CourseRunCompleted(_)
        | K::ContentWithdrawn(_)
        | K::PriorityAreaAdded(_)
        | K::PartnershipMemberAppointed(_)
        | K::PartnershipMemberLeft(_)
        | K::WorkingGroupStarted(_)
        | K::WorkingGroupParticipantJoined(_)
        | K::WorkingGroupParticipantLeft(_)
        | K::WorkingGroupMeetingHeld(_)
        | K::WorkingGroupDeliverableReported(_)
        | K::WorkingGroupClosed(_)
        | K::ProgrammeEnded(_) => Need::WriterOfOwner,
        // Member states nominate their coordinators to the Commission, which records them on the platform.
        K::NationalCoordinatorNominated(_) | K::NationalCoordinatorReplaced(_) => Need::PlatformAdmin,
    }
}

/// An append that may go ahead, and what must still be confirmed once the aggregate is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendAccess {
    /// The coalition the aggregate must belong to; `None` if the caller may write whatever it belongs to.
    pub owner: Option<Token>,
}

impl AppendAccess {
    /// Confirms that the loaded aggregate belongs to the coalition the caller writes for. `recorded` is the
    /// coalition its history names (`None` if it has none yet); `named` the one the command's own events name
    /// (a new aggregate created by this very command).
    pub fn check_owner(
        &self,
        aggregate: &Aggregate,
        recorded: Option<&Token>,
        named: Option<&Token>,
    ) -> Result<(), Denied> {
        let Some(want) = &self.owner else { return Ok(()) };
        match recorded.or(named) {
            Some(c) if c == want => Ok(()),
            // Another coalition's aggregate, or one that does not exist: the same answer, naming neither.
            _ => Err(denied(
                format!("writer of the coalition {aggregate} belongs to"),
                format!("{aggregate} is not an aggregate of coalition {want}"),
            )),
        }
    }
}

/// Decides an append on the command alone: the aggregate, its events' kinds and the coalition the caller says it
/// writes for (`declared`, optional). Runs before any state is loaded.
pub fn authorize_append(
    principal: &Principal,
    aggregate: &Aggregate,
    kinds: &[&EventKind],
    declared: Option<&Token>,
) -> Result<AppendAccess, Denied> {
    let mut owner: Option<Token> = None;
    // The coalition the command itself names, if any: the default for its events that name none.
    let named = kinds.iter().find_map(|k| k.coalition_id().cloned()).or_else(|| coalition_of_id(aggregate));
    for kind in kinds {
        match need(aggregate, kind) {
            Need::Role(role, c) => {
                if let Some(d) = declared
                    && d != &c
                {
                    return Err(denied(
                        format!("{role}:{c}"),
                        format!("the append declares coalition {d} but its {} names {c}", kind.type_name()),
                    ));
                }
                if !principal.holds(role, &c) {
                    return Err(denied(format!("{role}:{c}"), format!("{} in coalition {c}", kind.type_name())));
                }
                // The aggregate must also be this coalition's (a new pledge id that already belongs to another).
                if !principal.holds_everywhere(role) && aggregate.kind() != AggregateType::Coalition {
                    owner = Some(c);
                }
            }
            Need::WriterOfOwner => {
                if principal.holds_everywhere(Role::Writer) {
                    continue;
                }
                let c = match declared.or(named.as_ref()) {
                    Some(d) => d.clone(),
                    None => {
                        let mine = principal.coalitions_of(Role::Writer);
                        match (mine.len(), mine.into_iter().next()) {
                            (1, Some(only)) => only,
                            (0, _) => {
                                return Err(denied(
                                    "writer",
                                    format!("{} needs the writer role of the aggregate's coalition", kind.type_name()),
                                ));
                            }
                            _ => {
                                return Err(denied(
                                    "writer",
                                    format!(
                                        "{} does not name its coalition and the caller writes for several: set \
                                         coalition_id in the request",
                                        kind.type_name()
                                    ),
                                ));
                            }
                        }
                    }
                };
                if !principal.holds(Role::Writer, &c) {
                    return Err(denied(format!("writer:{c}"), format!("{} in coalition {c}", kind.type_name())));
                }
                owner = Some(c);
            }
            Need::AnyWriterOrAdmin => {
                if !principal.holds_anywhere(&[Role::Writer, Role::CoalitionAdmin]) {
                    return Err(denied(
                        "writer",
                        format!(
                            "{}: registering an organisation needs a writer or coalition-admin grant",
                            kind.type_name()
                        ),
                    ));
                }
            }
            Need::PlatformAdmin => {
                if !principal.is_platform_admin() {
                    return Err(denied(
                        "platform-admin",
                        format!("{} (organisations are shared by every coalition)", kind.type_name()),
                    ));
                }
            }
        }
    }
    Ok(AppendAccess { owner })
}

/// The rows a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadScope {
    All,
    /// Only these coalitions' rows.
    Coalitions(BTreeSet<Token>),
}

impl ReadScope {
    /// Checks a requested coalition filter against the scope.
    pub fn check_filter(&self, coalition: &Token) -> Result<(), Denied> {
        match self {
            Self::Coalitions(s) if !s.contains(coalition) => {
                Err(denied(format!("reader:{coalition}"), format!("rows of coalition {coalition}")))
            }
            _ => Ok(()),
        }
    }

    /// For a report that has no coalition column (its rows span coalitions): only for an unrestricted reader.
    pub fn check_unrestricted(&self, call: &str) -> Result<(), Denied> {
        match self {
            Self::All => Ok(()),
            Self::Coalitions(_) => Err(denied("reader:*", format!("{call} sums over every coalition"))),
        }
    }
}

/// Decides a read of the query API or the dashboard: readers of some coalitions see those; auditors and platform
/// admins see all.
pub fn authorize_read(principal: &Principal) -> Result<ReadScope, Denied> {
    if principal.grants.iter().any(|g| matches!(g.role, Role::PlatformAdmin | Role::Auditor))
        || principal.holds_everywhere(Role::Reader)
    {
        return Ok(ReadScope::All);
    }
    let mine = principal.coalitions_of(Role::Reader);
    if mine.is_empty() {
        return Err(denied("reader", "the query API answers readers, auditors and platform admins"));
    }
    Ok(ReadScope::Coalitions(mine))
}

/// Decides a replay of the log: auditors and platform admins.
pub fn authorize_replay(principal: &Principal) -> Result<(), Denied> {
    auditor(principal, "the replay API answers auditors and platform admins")
}

/// An as-of answer (a report as the read model stood at an earlier point of the log, built for the asker from the
/// log): auditors and platform admins, as for a replay. The rows are then scoped as [`authorize_read`] says.
pub fn authorize_as_of(principal: &Principal) -> Result<(), Denied> {
    auditor(principal, "as-of answers are for auditors and platform admins")
}

/// Auditors and platform admins; anyone else is refused with `reason`.
fn auditor(principal: &Principal, reason: &str) -> Result<(), Denied> {
    if principal.grants.iter().any(|g| matches!(g.role, Role::PlatformAdmin | Role::Auditor)) {
        Ok(())
    } else {
        Err(denied("auditor", reason))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use time::macros::date;

    use super::*;
    use crate::event::*;

    fn t(s: &str) -> Token {
        Token::parse("t", s).unwrap()
    }

    fn who(grants: &[(&str, &[&str])]) -> Principal {
        Principal {
            subject: "svc".into(),
            grants: grants
                .iter()
                .map(|(r, cs)| Grant::parse(r, &cs.iter().map(|c| c.to_string()).collect::<Vec<_>>()).unwrap())
                .collect(),
        }
    }

    fn membership(c: &str, o: &str) -> (Aggregate, EventKind) {
        let kind = EventKind::MembershipApproved(MembershipApproved {
            coalition_id: t(c),
            organisation_id: t(o),
            joined_on: date!(2020 - 01 - 01),
        });
        (Aggregate::membership(&t(c), &t(o)), kind)
    }

    fn approval() -> EventKind {
        EventKind::PledgeApproved(PledgeApproved { approved_on: date!(2020 - 01 - 01) })
    }

    fn deactivation() -> EventKind {
        EventKind::CoalitionDeactivated(CoalitionDeactivated {
            deactivated_on: date!(2020 - 01 - 01),
            reason: "x".into(),
        })
    }

    #[test]
    fn given_a_writer_of_a_when_it_appends_a_membership_in_a_then_it_may() {
        let (agg, kind) = membership("a", "acme");
        let access = authorize_append(&who(&[("writer", &["a"])]), &agg, &[&kind], None).unwrap();
        assert_eq!(access.owner, Some(t("a")));
    }

    #[test]
    fn given_a_writer_of_a_when_it_appends_a_membership_in_b_then_the_missing_grant_is_named() {
        let (agg, kind) = membership("b", "acme");
        let err = authorize_append(&who(&[("writer", &["a"])]), &agg, &[&kind], None).unwrap_err();
        assert_eq!(err.missing, "writer:b");
    }

    #[test]
    fn given_a_membership_id_of_a_when_the_payload_names_b_then_the_grant_for_b_is_needed() {
        let (agg, _) = membership("a", "acme");
        let (_, kind_b) = membership("b", "acme");
        let err = authorize_append(&who(&[("writer", &["a"])]), &agg, &[&kind_b], None).unwrap_err();
        assert_eq!(err.missing, "writer:b");
    }

    #[test]
    fn given_coalition_lifecycle_events_then_only_its_coalition_admin_or_a_platform_admin_may() {
        let agg = Aggregate::coalition(&t("a"));
        let kind = deactivation();
        assert!(authorize_append(&who(&[("coalition-admin", &["a"])]), &agg, &[&kind], None).is_ok());
        assert!(authorize_append(&who(&[("platform-admin", &[])]), &agg, &[&kind], None).is_ok());
        let err = authorize_append(&who(&[("writer", &["a"])]), &agg, &[&kind], None).unwrap_err();
        assert_eq!(err.missing, "coalition-admin:a");
        let err = authorize_append(&who(&[("coalition-admin", &["b"])]), &agg, &[&kind], None).unwrap_err();
        assert_eq!(err.missing, "coalition-admin:a");
    }

    #[test]
    fn given_organisations_then_writers_register_and_only_platform_admins_rename() {
        let agg = Aggregate::organisation(&t("acme"));
        let reg = EventKind::OrganisationRegistered(OrganisationRegistered {
            name: "Acme".into(),
            country: crate::CountryCode::parse("c", "SE").unwrap(),
            organisation_type: OrganisationType::IctCompany,
            size: OrganisationSize::Sme,
        });
        let rename = EventKind::OrganisationRenamed(OrganisationRenamed { name: "Acme AB".into() });
        assert!(authorize_append(&who(&[("writer", &["a"])]), &agg, &[&reg], None).is_ok());
        assert!(authorize_append(&who(&[("coalition-admin", &["a"])]), &agg, &[&reg], None).is_ok());
        assert_eq!(authorize_append(&who(&[("reader", &["a"])]), &agg, &[&reg], None).unwrap_err().missing, "writer");
        let err = authorize_append(&who(&[("writer", &["*"])]), &agg, &[&rename], None).unwrap_err();
        assert_eq!(err.missing, "platform-admin");
        assert!(authorize_append(&who(&[("platform-admin", &[])]), &agg, &[&rename], None).is_ok());
    }

    #[test]
    fn given_an_event_that_names_no_coalition_then_the_owner_is_checked_after_loading() {
        let agg = Aggregate::pledge(&t("acme"), &t("p1"));
        let kind = approval();
        // One coalition: it is the one.
        let access = authorize_append(&who(&[("writer", &["a"])]), &agg, &[&kind], None).unwrap();
        assert_eq!(access.owner, Some(t("a")));
        assert!(access.check_owner(&agg, Some(&t("a")), None).is_ok());
        // Another coalition's pledge and a pledge that does not exist are refused alike.
        let other = access.check_owner(&agg, Some(&t("b")), None).unwrap_err();
        let none = access.check_owner(&agg, None, None).unwrap_err();
        assert_eq!(other, none);
        assert!(!other.to_string().contains("coalition b"), "{other}");
        // Several coalitions: the request must say which.
        let two = who(&[("writer", &["a", "b"])]);
        assert!(authorize_append(&two, &agg, &[&kind], None).unwrap_err().reason.contains("coalition_id"));
        assert_eq!(authorize_append(&two, &agg, &[&kind], Some(&t("b"))).unwrap().owner, Some(t("b")));
        assert_eq!(authorize_append(&two, &agg, &[&kind], Some(&t("c"))).unwrap_err().missing, "writer:c");
        // Every coalition: nothing to confirm.
        assert_eq!(authorize_append(&who(&[("writer", &["*"])]), &agg, &[&kind], None).unwrap().owner, None);
    }

    #[test]
    fn given_a_new_pledge_submitted_with_its_approval_then_the_submission_names_the_owner() {
        let agg = Aggregate::pledge(&t("acme"), &t("p1"));
        let submitted = EventKind::PledgeSubmitted(PledgeSubmitted {
            organisation_id: t("acme"),
            coalition_id: t("a"),
            title: "x".into(),
            pillars: vec![Pillar::All],
            countries: vec![],
            starts_on: date!(2020 - 01 - 01),
            ends_on: date!(2021 - 01 - 01),
        });
        let approval = approval();
        let access = authorize_append(&who(&[("writer", &["a"])]), &agg, &[&submitted, &approval], None).unwrap();
        assert!(access.check_owner(&agg, None, Some(&t("a"))).is_ok());
        let err = authorize_append(&who(&[("writer", &["a"])]), &agg, &[&submitted], Some(&t("b"))).unwrap_err();
        assert!(err.reason.contains("declares"), "{err}");
    }

    #[test]
    fn given_a_programme_then_its_coalition_s_writers_write_it_and_only_platform_admins_write_coordinators() {
        let agg = Aggregate::parse(AggregateType::Programme, "se-skills").unwrap();
        let launched = EventKind::ProgrammeLaunched(ProgrammeLaunched {
            coalition_id: t("a"),
            country: crate::CountryCode::parse("c", "SE").unwrap(),
            name: "x".into(),
            owner: "y".into(),
            priority_areas: vec![],
            launched_on: date!(2023 - 01 - 01),
        });
        assert_eq!(
            authorize_append(&who(&[("writer", &["a"])]), &agg, &[&launched], None).unwrap().owner,
            Some(t("a"))
        );
        assert_eq!(
            authorize_append(&who(&[("writer", &["b"])]), &agg, &[&launched], None).unwrap_err().missing,
            "writer:a"
        );
        // A later event names no coalition: the programme's is confirmed once it is loaded.
        let ended =
            EventKind::ProgrammeEnded(ProgrammeEnded { ended_on: date!(2024 - 01 - 01), reason: String::new() });
        let access = authorize_append(&who(&[("writer", &["b"])]), &agg, &[&ended], None).unwrap();
        assert!(access.check_owner(&agg, Some(&t("a")), None).is_err());
        assert!(access.check_owner(&agg, Some(&t("b")), None).is_ok());
        let coordinator = Aggregate::parse(AggregateType::NationalCoordinator, "se").unwrap();
        let nominated = EventKind::NationalCoordinatorNominated(NationalCoordinatorNominated {
            member_state: crate::CountryCode::parse("c", "SE").unwrap(),
            name: "x".into(),
            body: "y".into(),
            nominated_on: date!(2022 - 03 - 01),
        });
        for grants in [&[("writer", &["*"][..])][..], &[("coalition-admin", &["a"][..])]] {
            let err = authorize_append(&who(grants), &coordinator, &[&nominated], None).unwrap_err();
            assert_eq!(err.missing, "platform-admin");
        }
        assert!(authorize_append(&who(&[("platform-admin", &[])]), &coordinator, &[&nominated], None).is_ok());
    }

    #[test]
    fn given_readers_auditors_and_writers_then_reads_are_scoped() {
        assert_eq!(authorize_read(&who(&[("reader", &["a"])])).unwrap(), ReadScope::Coalitions([t("a")].into()));
        assert_eq!(authorize_read(&who(&[("reader", &["*"])])).unwrap(), ReadScope::All);
        assert_eq!(authorize_read(&who(&[("auditor", &[])])).unwrap(), ReadScope::All);
        assert_eq!(authorize_read(&who(&[("platform-admin", &[])])).unwrap(), ReadScope::All);
        assert_eq!(authorize_read(&who(&[("writer", &["a"])])).unwrap_err().missing, "reader");
        let scope = authorize_read(&who(&[("reader", &["a"])])).unwrap();
        assert_eq!(scope.check_filter(&t("b")).unwrap_err().missing, "reader:b");
        assert!(scope.check_filter(&t("a")).is_ok());
        assert_eq!(scope.check_unrestricted("NationalCoalitions").unwrap_err().missing, "reader:*");
    }

    #[test]
    fn given_anyone_but_auditors_and_platform_admins_then_replay_is_refused() {
        assert!(authorize_replay(&who(&[("auditor", &[])])).is_ok());
        assert!(authorize_replay(&who(&[("platform-admin", &[])])).is_ok());
        assert_eq!(authorize_replay(&who(&[("reader", &["*"])])).unwrap_err().missing, "auditor");
        assert!(authorize_replay(&who(&[("writer", &["*"])])).is_err());
    }

    #[test]
    fn given_anyone_but_auditors_and_platform_admins_then_as_of_answers_are_refused() {
        assert!(authorize_as_of(&who(&[("auditor", &[])])).is_ok());
        assert!(authorize_as_of(&who(&[("platform-admin", &[])])).is_ok());
        let refused = authorize_as_of(&who(&[("reader", &["*"])])).unwrap_err();
        assert_eq!(refused.missing, "auditor");
        assert!(refused.reason.contains("as-of"), "{refused}");
        assert!(authorize_as_of(&who(&[("coalition-admin", &["se"])])).is_err());
    }

    #[test]
    fn grants_are_parsed_strictly() {
        assert!(Grant::parse("writer", &[]).unwrap_err().contains("at least one coalition"));
        assert!(Grant::parse("auditor", &["a".into()]).unwrap_err().contains("takes no coalition"));
        assert!(Grant::parse("root", &[]).unwrap_err().contains("unknown role"));
        assert!(Grant::parse("writer", &["a.b".into()]).is_err());
        assert_eq!(Grant::parse("reader", &["a".into(), "*".into()]).unwrap().coalitions, Coalitions::All);
    }
}
