//! The nats-server version and what it allows.
use std::fmt;

use crate::LogError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.trim_start_matches('v').split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        Some(Self { major: parts.next()??, minor: parts.next()??, patch: parts.next().flatten().unwrap_or(0) })
    }

    /// Parses the version a server announced and refuses anything older than 2.10.
    pub fn check(announced: &str) -> Result<Self, LogError> {
        match Self::parse(announced) {
            Some(v) if v >= Self::MINIMUM => Ok(v),
            _ => Err(LogError::ServerTooOld { found: announced.to_owned() }),
        }
    }

    pub const MINIMUM: Self = Self { major: 2, minor: 10, patch: 0 };
    pub const ATOMIC_BATCHES: Self = Self { major: 2, minor: 12, patch: 0 };

    /// `Nats-Expected-Last-Subject-Sequence-Subject` (a check over a subject filter).
    pub fn has_scoped_sequence_checks(self) -> bool {
        self >= Self { major: 2, minor: 11, patch: 0 }
    }

    pub fn has_atomic_batches(self) -> bool {
        self >= Self::ATOMIC_BATCHES
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_below_2_10_are_refused_and_2_12_has_atomic_batches() {
        assert!(matches!(ServerVersion::check("2.9.10"), Err(LogError::ServerTooOld { .. })));
        assert!(matches!(ServerVersion::check("garbage"), Err(LogError::ServerTooOld { .. })));
        let v = ServerVersion::check("2.10.27").unwrap();
        assert!(!v.has_atomic_batches());
        assert!(ServerVersion::check("v2.15.1").unwrap().has_atomic_batches());
        assert!(ServerVersion::check("2.12.0-beta.1").unwrap().has_atomic_batches());
        assert!(ServerVersion::check("3.0.0").is_ok());
    }
}
