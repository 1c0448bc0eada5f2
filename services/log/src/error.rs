//! Errors of the log layer.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogError {
    /// NATS or JetStream cannot be reached or did not answer in time. Safe to retry.
    #[error("log unavailable: {0}")]
    Unavailable(String),
    #[error(
        "nats-server {found} is too old: the ledger needs >= 2.10 (sync_interval for durable acks, multi-filter \
         consumers, fixed per-subject sequence checks); install nats-server 2.12 or newer (atomic batches)"
    )]
    ServerTooOld { found: String },
    /// The NATS credentials or TLS files given are unusable (the message names the file, never the secret).
    #[error("NATS credentials: {0}")]
    Credentials(String),
    /// The existing stream allows history to be lost or changed.
    #[error("stream {stream} is not immutable: {setting} is {found}, must be {required}")]
    MutableStream { stream: String, setting: &'static str, found: String, required: &'static str },
    /// The stream no longer is the log the ledger wrote (its settings were loosened, history evicted, the stream
    /// cut short, replaced or deleted): appends are refused until an operator restores it.
    #[error("{0}")]
    StreamViolated(String),
    /// The stream is missing, yet a record (a checkpoint) says the log held events: it is not created empty.
    #[error(
        "stream {stream} is missing, but the read models have processed the log up to position {position}: the \
         ledger does not create an empty stream in its place. Restore the stream (from a backup or a replica), or, to \
         really start over, drop the read models' database first"
    )]
    StreamMissing { stream: String, position: u64 },
    /// The stream does not exist and this process does not create it.
    #[error(
        "stream {0} does not exist: create it with `ledger nats create-stream` (with the NATS operator's credentials and \
         the read models' database, which it checks first)"
    )]
    NoStream(String),
    /// The aggregate's last position is not what the append expected.
    #[error("wrong last sequence for {subject}")]
    WrongLastSequence { subject: String },
    /// Several events in one append need atomic batches (nats-server >= 2.12).
    #[error("appending {0} events at once needs atomic batch publish (nats-server >= 2.12 with allow_atomic)")]
    AtomicBatchUnsupported(usize),
    /// Checking an organisation's aggregates together needs nats-server >= 2.11.
    #[error("{0} is checked together with its organisation's other aggregates, which needs nats-server >= 2.11")]
    ScopedCheckUnsupported(String),
    /// JetStream recognised the event id from an earlier message (within its duplicate window) and wrote nothing.
    /// For a multi-event append the id may be any of its events' and the position is 0 (the server does not say).
    #[error("event id {event_id} is already in the log at position {position}")]
    DuplicateId { event_id: String, position: u64 },
    /// An event of the append is larger, encoded, than the log takes; nothing was sent.
    #[error("event {index} ({event_id}) is {bytes} bytes encoded, more than the {limit} bytes an event may have")]
    EventTooLarge { index: usize, event_id: String, bytes: usize, limit: usize },
    /// The server refused the write for another reason.
    #[error("JetStream refused the write: {0}")]
    Rejected(String),
}
