//! The coalition domain in plain Rust: validated values, the event catalogue and the rules an append must keep.
//!
//! Nothing here does I/O. The append service loads an aggregate's past events, folds them into a state with
//! [`rules::AggregateState::apply`] and asks [`rules::AggregateState::decide`] whether new events may follow.
pub mod access;
pub mod error;
pub mod event;
pub mod ids;
pub mod revision;
pub mod rules;

pub use error::{DomainError, echo};
pub use event::{Event, EventKind, EventMeta, EventType, Source};
pub use ids::{Aggregate, AggregateType, CountryCode, Token};
pub use revision::ExpectedRevision;
