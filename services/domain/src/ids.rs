//! Validated identifiers: aggregate references, subject-safe tokens and country codes.
use std::fmt;

use crate::{DomainError, echo};

/// 1 to 64 characters of `[A-Za-z0-9_-]`: safe as one NATS subject token and in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

impl Token {
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        if s.is_empty() || s.len() > 64 {
            return Err(DomainError::invalid(field, format!("must be 1 to 64 characters, got {}", s.len())));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
            return Err(DomainError::invalid(field, format!("character {c:?} not allowed (use A-Z a-z 0-9 _ -)")));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of aggregate: each is a consistency boundary with its own subject in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateType {
    Coalition,
    Organisation,
    /// One organisation's membership of one coalition; id `<coalition>.<organisation>`.
    Membership,
    /// One organisation's pledge; id `<organisation>.<pledge>`.
    Pledge,
    /// A course and its runs.
    Course,
    /// One reported activity (event, class, campaign).
    Activity,
    /// One piece of content shared to the platform.
    Content,
    /// An innovation partnership programme with its partnership group and working groups.
    Programme,
    /// A member state's national coordinator in the Structured Dialogue; id: the member state's code, lower case.
    NationalCoordinator,
}

impl AggregateType {
    pub const ALL: [Self; 9] = [
        Self::Coalition,
        Self::Organisation,
        Self::Membership,
        Self::Pledge,
        Self::Course,
        Self::Activity,
        Self::Content,
        Self::Programme,
        Self::NationalCoordinator,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Coalition => "coalition",
            Self::Organisation => "organisation",
            Self::Membership => "membership",
            Self::Pledge => "pledge",
            Self::Course => "course",
            Self::Activity => "activity",
            Self::Content => "content",
            Self::Programme => "programme",
            Self::NationalCoordinator => "national_coordinator",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// How many subject tokens the id has.
    fn id_tokens(self) -> usize {
        match self {
            Self::Membership | Self::Pledge => 2,
            Self::Coalition
            | Self::Organisation
            | Self::Course
            | Self::Activity
            | Self::Content
            | Self::Programme
            | Self::NationalCoordinator => 1,
        }
    }
}

/// A reference to one aggregate: its type and its validated id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aggregate {
    kind: AggregateType,
    id: String,
}

impl Aggregate {
    pub fn parse(kind: AggregateType, id: &str) -> Result<Self, DomainError> {
        let parts: Vec<&str> = id.split('.').collect();
        if parts.len() != kind.id_tokens() {
            return Err(DomainError::invalid(
                "aggregate.id",
                format!("a {} id has {} dot-separated part(s), got {}", kind.name(), kind.id_tokens(), echo(id)),
            ));
        }
        for p in parts {
            Token::parse("aggregate.id", p)?;
        }
        Ok(Self { kind, id: id.to_owned() })
    }

    pub fn coalition(id: &Token) -> Self {
        Self { kind: AggregateType::Coalition, id: id.to_string() }
    }

    pub fn organisation(id: &Token) -> Self {
        Self { kind: AggregateType::Organisation, id: id.to_string() }
    }

    pub fn membership(coalition: &Token, organisation: &Token) -> Self {
        Self { kind: AggregateType::Membership, id: format!("{coalition}.{organisation}") }
    }

    pub fn pledge(organisation: &Token, pledge: &Token) -> Self {
        Self { kind: AggregateType::Pledge, id: format!("{organisation}.{pledge}") }
    }

    /// The organisation an organisation-rooted aggregate (membership, pledge) belongs to.
    pub fn organisation_id(&self) -> Option<&str> {
        match self.kind {
            AggregateType::Membership => self.id.split_once('.').map(|(_, o)| o),
            AggregateType::Pledge => self.id.split_once('.').map(|(o, _)| o),
            AggregateType::Organisation => Some(&self.id),
            AggregateType::Coalition
            | AggregateType::Course
            | AggregateType::Activity
            | AggregateType::Content
            | AggregateType::Programme
            | AggregateType::NationalCoordinator => None,
        }
    }

    pub fn kind(&self) -> AggregateType {
        self.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The subject suffix of this aggregate in the log. Memberships and pledges live under their organisation
    /// (`org.<organisation>.membership.<coalition>`, `org.<organisation>.pledge.<pledge>`) so that one
    /// sequence check over `org.<organisation>.>` covers all of them; see [`Self::consistency_scope`].
    pub fn subject_suffix(&self) -> String {
        match (self.kind, self.id.split_once('.')) {
            (AggregateType::Membership, Some((c, o))) => format!("org.{o}.membership.{c}"),
            (AggregateType::Pledge, Some((o, p))) => format!("org.{o}.pledge.{p}"),
            _ => format!("{}.{}", self.kind.name(), self.id),
        }
    }

    /// The subject suffix pattern whose last sequence every write to this aggregate is checked against: the
    /// whole organisation for memberships and pledges (so a pledge and a leave of the same organisation cannot
    /// both pass their rules concurrently), the aggregate's own subject otherwise.
    pub fn consistency_scope(&self) -> String {
        match self.kind {
            AggregateType::Membership | AggregateType::Pledge => {
                format!("org.{}.>", self.organisation_id().unwrap_or_default())
            }
            _ => self.subject_suffix(),
        }
    }

    /// Parses a subject suffix written by [`Self::subject_suffix`].
    pub fn from_subject_suffix(s: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::invalid("subject", format!("{} is not an aggregate's subject", echo(s)));
        let parts: Vec<&str> = s.split('.').collect();
        match parts.as_slice() {
            ["org", o, "membership", c] => Self::parse(AggregateType::Membership, &format!("{c}.{o}")),
            ["org", o, "pledge", p] => Self::parse(AggregateType::Pledge, &format!("{o}.{p}")),
            [
                kind @ ("coalition"
                | "organisation"
                | "course"
                | "activity"
                | "content"
                | "programme"
                | "national_coordinator"),
                id,
            ] => Self::parse(AggregateType::from_name(kind).ok_or_else(bad)?, id),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.name(), self.id)
    }
}

/// The officially assigned ISO 3166-1 alpha-2 codes (249, as of ISO 3166-1:2020 and its newsletters since; the
/// list of the iso-codes project). Greece is `GR` here; the ledger writes it as the EU's `EL` (see [`CountryCode`]).
pub const ISO_3166_1_ALPHA_2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

/// The EU's 27 member states, in the EU's protocol order, with Greece as `EL`.
pub const EU_MEMBER_STATES: [&str; 27] = [
    "BE", "BG", "CZ", "DK", "DE", "EE", "IE", "EL", "ES", "FR", "HR", "IT", "CY", "LV", "LT", "LU", "HU", "MT", "NL",
    "AT", "PL", "PT", "RO", "SI", "SK", "FI", "SE",
];

/// A country code: two upper-case letters.
///
/// The ledger follows the EU's usage, in which Greece is `EL` (the Interinstitutional Style Guide, Eurostat and the
/// Commission's data): `EL` is the code written and read back for Greece, and `GR`, its ISO 3166-1 code, is
/// accepted and normalised to `EL` by [`CountryCode::parse`], so that one country never counts under two codes.
/// (The EU's other exception, `UK` for the United Kingdom, is not accepted: use `GB`.)
///
/// [`CountryCode::parse`] checks the shape only, so that history written before the list was enforced still reads;
/// a new event's codes must also be assigned ([`CountryCode::assigned`], which the rules' shape checks ask).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode(String);

impl CountryCode {
    /// The EU's code for Greece, written for `GR` too.
    pub const GREECE: &'static str = "EL";

    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(if s == "GR" { Self::GREECE.to_owned() } else { s.to_owned() }))
        } else {
            Err(DomainError::invalid(field, format!("expected a two-letter upper-case country code, got {}", echo(s))))
        }
    }

    /// Whether the code is one of the EU's 27 member states ([`EU_MEMBER_STATES`], Greece as `EL`).
    pub fn is_eu_member_state(&self) -> bool {
        EU_MEMBER_STATES.contains(&self.0.as_str())
    }

    /// Whether the code is an assigned ISO 3166-1 alpha-2 code (or `EL`, Greece).
    pub fn is_assigned(&self) -> bool {
        self.0 == Self::GREECE || ISO_3166_1_ALPHA_2.binary_search(&self.0.as_str()).is_ok()
    }

    /// Refuses a code that is not assigned to a country ([`Self::is_assigned`]), naming `field`.
    pub fn assigned(&self, field: &str) -> Result<(), DomainError> {
        if self.is_assigned() {
            Ok(())
        } else {
            Err(DomainError::invalid(field, format!("{:?} is not an ISO 3166-1 alpha-2 country code", self.0)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Refuses the nil UUID (all zeros) as an id the client chooses: it is what an unset id looks like.
pub fn not_nil(field: &str, id: uuid::Uuid) -> Result<uuid::Uuid, DomainError> {
    if id.is_nil() { Err(DomainError::invalid(field, "the nil UUID is not an id")) } else { Ok(id) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_ids_have_two_tokens_and_round_trip_through_the_subject() {
        let m = Aggregate::parse(AggregateType::Membership, "se.org-1").unwrap();
        assert_eq!(m.subject_suffix(), "org.org-1.membership.se");
        assert_eq!(Aggregate::from_subject_suffix("org.org-1.membership.se").unwrap(), m);
        let p = Aggregate::parse(AggregateType::Pledge, "org-1.p7").unwrap();
        assert_eq!(p.subject_suffix(), "org.org-1.pledge.p7");
        assert_eq!(p.consistency_scope(), m.consistency_scope());
        assert_eq!(Aggregate::from_subject_suffix("org.org-1.pledge.p7").unwrap(), p);
        let c = Aggregate::parse(AggregateType::Coalition, "se").unwrap();
        assert_eq!(c.consistency_scope(), "coalition.se");
        assert!(Aggregate::from_subject_suffix("org.x.y.z").is_err());
        assert!(Aggregate::parse(AggregateType::Membership, "se").is_err());
        assert!(Aggregate::parse(AggregateType::Coalition, "se.x").is_err());
    }

    #[test]
    fn tokens_refuse_subject_wildcards_and_empty_strings() {
        for bad in ["", "a*b", "a>b", "a b", "a.b", &"x".repeat(65)] {
            let err = Token::parse("aggregate.id", bad).unwrap_err();
            assert!(matches!(err, DomainError::Validation { ref field, .. } if field == "aggregate.id"), "{bad}");
        }
        assert!(Token::parse("id", "Org_1-a").is_ok());
    }

    #[test]
    fn country_codes_are_two_upper_case_letters() {
        assert!(CountryCode::parse("c", "SE").is_ok());
        assert!(CountryCode::parse("c", "se").is_err());
        assert!(CountryCode::parse("c", "SWE").is_err());
    }

    #[test]
    fn only_assigned_codes_are_countries_and_greece_is_el_whichever_code_is_given() {
        let code = |s: &str| CountryCode::parse("c", s).unwrap();
        assert!(ISO_3166_1_ALPHA_2.windows(2).all(|w| w[0] < w[1]), "sorted, for the binary search");
        for ok in ["SE", "DE", "GB", "PT", "EL", "GR"] {
            assert_eq!(code(ok).assigned("c"), Ok(()), "{ok}");
        }
        assert_eq!(code("GR"), code("EL"));
        assert_eq!(code("GR").as_str(), "EL");
        for bad in ["ZZ", "UK", "XK", "EU", "AA"] {
            let err = code(bad).assigned("payload.country").unwrap_err();
            assert!(matches!(err, DomainError::Validation { ref field, .. } if field == "payload.country"), "{bad}");
        }
    }

    #[test]
    fn the_nil_uuid_is_not_an_id() {
        assert!(not_nil("events[0].event_id", uuid::Uuid::nil()).unwrap_err().to_string().contains("event_id"));
        assert!(not_nil("id", uuid::Uuid::from_u128(7)).is_ok());
    }
}
