//! Optimistic concurrency: what the client expects an aggregate's revision to be.
//!
//! A revision is the log position of the aggregate's last event (0 if it has none).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    Any,
    NoStream,
    Exact(u64),
}

impl ExpectedRevision {
    /// Whether an aggregate whose last event is at `current` (0 = none) satisfies this expectation.
    pub fn matches(self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current == 0,
            Self::Exact(n) => current == n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExpectedRevision::*;

    #[test]
    fn expectations_match_only_their_revision() {
        assert!(Any.matches(0) && Any.matches(7));
        assert!(NoStream.matches(0) && !NoStream.matches(1));
        assert!(Exact(5).matches(5) && !Exact(5).matches(4) && !Exact(0).matches(3));
    }
}
