//! What a query can answer instead of rows, and the one mapping of it to a gRPC status.
use thiserror::Error;
use tonic::Status;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("projection {projection} is at position {position}, not yet at {wanted}; retry or wait longer")]
    NotReached { projection: &'static str, position: u64, wanted: u64 },
    #[error("read models unavailable: {0}")]
    Unavailable(String),
    /// The server has as much of this kind of work in hand as it takes (as-of builds).
    #[error("{0}")]
    Exhausted(String),
    #[error("{0}")]
    Denied(ledger_domain::access::Denied),
    /// The audit service: no such checkpoint.
    #[error("{0}")]
    NotFound(String),
    /// A size or position beyond the tree the notary has hashed (the audit service), or beyond the log's end (an
    /// as-of position).
    #[error("{0}")]
    OutOfRange(String),
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message ("relation … does not exist") rather than the driver's "db error".
        Self::Unavailable(e.as_db_error().map_or_else(|| e.to_string(), |d| format!("postgres: {}", d.message())))
    }
}

impl From<ledger_readmodel::PoolError> for QueryError {
    fn from(e: ledger_readmodel::PoolError) -> Self {
        match e {
            ledger_readmodel::PoolError::Postgres(e) => e.into(),
            busy => Self::Unavailable(busy.to_string()),
        }
    }
}

impl From<QueryError> for Status {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid { .. } => Status::invalid_argument(e.to_string()),
            QueryError::NotReached { .. } => Status::deadline_exceeded(e.to_string()),
            QueryError::Unavailable(_) => Status::unavailable(e.to_string()),
            QueryError::NotFound(_) => Status::not_found(e.to_string()),
            QueryError::OutOfRange(_) => Status::out_of_range(e.to_string()),
            QueryError::Exhausted(_) => Status::resource_exhausted(e.to_string()),
            QueryError::Denied(d) => {
                // The principal was logged where the scope was decided.
                ledger_auth::metrics::count_denied(&d.missing);
                Status::permission_denied(d.to_string())
            }
        }
    }
}

/// A malformed or unsupported request field.
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::Invalid { field, reason: reason.into() }
}
