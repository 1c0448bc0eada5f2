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
//! unreachable, or a projection not installed yet, or an as-of build failed), `OUT_OF_RANGE` (an `as_of_log`
//! position beyond the log's end, naming it), `RESOURCE_EXHAUSTED` (as many as-of builds in hand as the server
//! queues); `UNAUTHENTICATED` comes from the auth layer.
//!
//! With `as_of_log` (auditors and platform admins: `ledger_domain::access::authorize_as_of`), a report answers as
//! its read model stood at an earlier log position, from a temporary build ([`as_of`]).
//!
//! The service in pieces: [`error`] (what can go wrong and its status code), [`snapshot`] (read-your-writes in one
//! consistent snapshot), [`filter`] (a request's filters and page, validated once), [`report`] (one call = one
//! view, columns and supported filters; rows scoped to the caller), [`as_of`] (answers as of an earlier point of
//! the log) and [`handlers`] (one gRPC method per report).
pub mod as_of;
mod error;
pub mod filter;
mod handlers;
mod report;
mod snapshot;

pub use as_of::{AsOfConfig, AsOfMetrics, BuildFuture, BuildReadModel, Built};
pub use error::QueryError;
pub(crate) use error::invalid;
pub use snapshot::{DEFAULT_WAIT, MAX_WAIT, QueryService, wanted_position};
