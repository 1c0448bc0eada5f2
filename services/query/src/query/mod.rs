//! `coalition.ledger.v1.LedgerQuery`: every reporting read model through its `reporting` view, with filters and
//! pagination, and projection status. Every answer says which log position it reflects.
//!
//! Every call is authorised by `ledger_domain::access::authorize_read`: a reader of some coalitions gets only their
//! rows, whatever filter it sends (the server adds the condition); a filter naming another coalition, or a report
//! whose rows sum over every coalition, is `PERMISSION_DENIED` naming the missing grant. Auditors and platform
//! admins read everything. `UNAUTHENTICATED` comes from the auth layer before a call gets here.
//!
//! Status codes (mapped in one place, [`error`]): `INVALID_ARGUMENT` (bad or unsupported filter, names the field),
//! `PERMISSION_DENIED` (names the missing grant), `DEADLINE_EXCEEDED` (the projection did not reach
//! `consistency.min_position` in time; the message gives where it is), `UNAVAILABLE` (Postgres or NATS
//! unreachable, or a projection not installed yet); `UNAUTHENTICATED` comes from the auth layer.
//!
//! The service in pieces: [`error`] (what can go wrong and its status code), [`snapshot`] (read-your-writes in one
//! consistent snapshot), [`filter`] (a request's filters and page, validated once), [`report`] (one call = one
//! view, columns and supported filters; rows scoped to the caller) and [`handlers`] (one gRPC method per report).
mod error;
pub mod filter;
mod handlers;
mod report;
mod snapshot;

pub use error::QueryError;
pub(crate) use error::invalid;
pub use snapshot::{DEFAULT_WAIT, MAX_WAIT, QueryService, wanted_position};
