//! Validated identifiers: aggregate references, subject-safe tokens and country codes.
use std::fmt;

use crate::DomainError;

/// 1 to 64 characters of `[A-Za-z0-9_-]`: safe as one NATS subject token and in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

impl Token {
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        if s.is_empty() || s.len() > 64 {
            return Err(DomainError::invalid(
                field,
                format!("must be 1 to 64 characters, got {}", s.len()),
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(DomainError::invalid(
                field,
                format!("character {c:?} not allowed (use A-Z a-z 0-9 _ -)"),
            ));
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
}

impl AggregateType {
    pub const ALL: [Self; 3] = [Self::Coalition, Self::Organisation, Self::Membership];

    pub fn name(self) -> &'static str {
        match self {
            Self::Coalition => "coalition",
            Self::Organisation => "organisation",
            Self::Membership => "membership",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// How many subject tokens the id has.
    fn id_tokens(self) -> usize {
        match self {
            Self::Membership => 2,
            _ => 1,
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
                format!(
                    "a {} id has {} dot-separated part(s), got {id:?}",
                    kind.name(),
                    kind.id_tokens()
                ),
            ));
        }
        for p in parts {
            Token::parse("aggregate.id", p)?;
        }
        Ok(Self {
            kind,
            id: id.to_owned(),
        })
    }

    pub fn coalition(id: &Token) -> Self {
        Self {
            kind: AggregateType::Coalition,
            id: id.to_string(),
        }
    }

    pub fn organisation(id: &Token) -> Self {
        Self {
            kind: AggregateType::Organisation,
            id: id.to_string(),
        }
    }

    pub fn membership(coalition: &Token, organisation: &Token) -> Self {
        Self {
            kind: AggregateType::Membership,
            id: format!("{coalition}.{organisation}"),
        }
    }

    pub fn kind(&self) -> AggregateType {
        self.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The subject suffix of this aggregate in the log: `<type>.<id>`.
    pub fn subject_suffix(&self) -> String {
        format!("{}.{}", self.kind.name(), self.id)
    }

    /// Parses a subject suffix written by [`Self::subject_suffix`].
    pub fn from_subject_suffix(s: &str) -> Result<Self, DomainError> {
        let (kind, id) = s
            .split_once('.')
            .ok_or_else(|| DomainError::invalid("subject", format!("{s:?}")))?;
        let kind = AggregateType::from_name(kind).ok_or_else(|| {
            DomainError::invalid("subject", format!("unknown aggregate type {kind:?}"))
        })?;
        Self::parse(kind, id)
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.name(), self.id)
    }
}

/// ISO 3166-1 alpha-2 code, upper case (the EU's own "EL" for Greece is accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                field,
                format!("expected a two-letter upper-case country code, got {s:?}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_ids_have_two_tokens_and_round_trip_through_the_subject() {
        let m = Aggregate::parse(AggregateType::Membership, "se.org-1").unwrap();
        assert_eq!(m.subject_suffix(), "membership.se.org-1");
        assert_eq!(
            Aggregate::from_subject_suffix("membership.se.org-1").unwrap(),
            m
        );
        assert!(Aggregate::parse(AggregateType::Membership, "se").is_err());
        assert!(Aggregate::parse(AggregateType::Coalition, "se.x").is_err());
    }

    #[test]
    fn tokens_refuse_subject_wildcards_and_empty_strings() {
        for bad in ["", "a*b", "a>b", "a b", "a.b", &"x".repeat(65)] {
            let err = Token::parse("aggregate.id", bad).unwrap_err();
            assert!(
                matches!(err, DomainError::Validation { ref field, .. } if field == "aggregate.id"),
                "{bad}"
            );
        }
        assert!(Token::parse("id", "Org_1-a").is_ok());
    }

    #[test]
    fn country_codes_are_two_upper_case_letters() {
        assert!(CountryCode::parse("c", "SE").is_ok());
        assert!(CountryCode::parse("c", "se").is_err());
        assert!(CountryCode::parse("c", "SWE").is_err());
    }
}
