//! Errors of an append, each mapped to one gRPC status code in [`crate::grpc`].
use ledger_domain::DomainError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppendError {
    /// The request is malformed; the domain error names the field. -> INVALID_ARGUMENT
    #[error("{0}")]
    Invalid(DomainError),
    /// The caller lacks the grant for this aggregate (known only once it is loaded: the coalition a pledge, course
    /// or content belongs to). The message names neither the aggregate's state nor its real coalition.
    /// -> PERMISSION_DENIED
    #[error("{0}")]
    Denied(ledger_domain::access::Denied),
    /// A domain rule forbids the change. -> FAILED_PRECONDITION
    #[error("{0}")]
    Rule(DomainError),
    /// The aggregate is not at the expected revision. -> ABORTED
    #[error("revision conflict on {aggregate}: expected {expected}, current revision is {current}")]
    Conflict { aggregate: String, expected: String, current: u64 },
    /// The log cannot be reached, or the write's outcome is unknown; retry with the same event ids. -> UNAVAILABLE
    #[error("{0}")]
    Unavailable(String),
    /// An event in the aggregate's consistency scope (or in an aggregate whose facts the rules need) cannot be read
    /// by this code, so no decision can be taken: the event was written by a newer version (upgrade), or it is
    /// corrupt (the aggregate is frozen; README, "An unreadable event"). Names the aggregate and the position.
    /// -> FAILED_PRECONDITION (`aggregate.history_readable`)
    #[error(
        "rule `aggregate.history_readable` broken: {aggregate}: the event at position {position} in its consistency \
         scope cannot be read by this code ({reason}); no rule can be checked against it, so nothing is appended \
         here{hint}"
    )]
    Unreadable { aggregate: String, position: u64, reason: String, hint: &'static str },
    /// A bug: something the service itself should have ensured does not hold. -> INTERNAL
    #[error("{0}")]
    Internal(String),
}

impl From<DomainError> for AppendError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation { .. } => Self::Invalid(e),
            DomainError::Rule { .. } => Self::Rule(e),
        }
    }
}

impl From<ledger_log::LogError> for AppendError {
    fn from(e: ledger_log::LogError) -> Self {
        use ledger_log::LogError as L;
        match e {
            L::AtomicBatchUnsupported(_) => Self::Rule(DomainError::rule("log.atomic_batches", e.to_string())),
            // The aggregate's own history did not hold the id, so it was used for another aggregate.
            L::DuplicateId { event_id, position } => Self::Invalid(DomainError::invalid(
                "events[0].event_id",
                format!("{event_id} is already used by another aggregate's event at position {position}"),
            )),
            L::EventTooLarge { index, bytes, limit, .. } => Self::Invalid(DomainError::invalid(
                format!("events[{index}]"),
                format!("{bytes} bytes encoded, more than the {limit} bytes an event may have (--max-event-bytes)"),
            )),
            L::ScopedCheckUnsupported(_) => Self::Rule(DomainError::rule("log.scoped_checks", e.to_string())),
            L::Unavailable(_)
            | L::WrongLastSequence { .. }
            | L::StreamViolated(_)
            | L::StreamMissing { .. }
            | L::NoStream(_) => Self::Unavailable(e.to_string()),
            L::ServerTooOld { .. } | L::MutableStream { .. } | L::Rejected(_) | L::Credentials(_) => {
                Self::Internal(e.to_string())
            }
        }
    }
}
