//! The log's protocol, written once: the headers of a ledger message, an event as a message, the optimistic-
//! concurrency check, and JetStream's atomic batch publish (ADR-50, nats-server >= 2.12), used by single appends,
//! the group committer and the benchmark.
use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;
use uuid::Uuid;

use crate::connection::{Connection, OUTCOME_UNKNOWN};

/// Header names the ledger sets on every message (besides JetStream's own).
pub mod headers {
    pub const EVENT_ID: &str = "Ledger-Event-Id";
    pub const EVENT_TYPE: &str = "Ledger-Event-Type";
    pub const SCHEMA_VERSION: &str = "Ledger-Schema-Version";
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
    /// Makes the check above apply to another subject (or a wildcard) than the one written (nats-server >= 2.11).
    pub const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";
    pub const BATCH_ID: &str = "Nats-Batch-Id";
    pub const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
    pub const BATCH_COMMIT: &str = "Nats-Batch-Commit";
}

/// One event ready to be written: its id and type travel in headers, the encoded `StoredEvent` is the body.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub schema_version: u32,
    pub body: Bytes,
}

impl OutgoingEvent {
    pub(crate) fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let id = self.event_id.to_string();
        h.insert(headers::MSG_ID, id.as_str());
        h.insert(headers::EVENT_ID, id.as_str());
        h.insert(headers::EVENT_TYPE, self.event_type);
        h.insert(headers::SCHEMA_VERSION, self.schema_version.to_string().as_str());
        h
    }
}

/// An optimistic-concurrency check: the last sequence of `scope` (or of the subject written, if `None`).
#[derive(Debug, Clone)]
pub(crate) struct Check {
    sequence: u64,
    scope: Option<String>,
}

impl Check {
    pub(crate) fn new(sequence: u64, scope: Option<String>) -> Self {
        Self { sequence, scope }
    }

    pub(crate) fn add_to(&self, h: &mut HeaderMap) {
        h.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE, self.sequence.to_string().as_str());
        if let Some(scope) = &self.scope {
            h.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT, scope.as_str());
        }
    }
}

/// The reply to a batch commit: an ack or an error (ADR-50).
#[derive(Debug, Deserialize)]
struct BatchReply {
    #[serde(default)]
    pub(crate) seq: u64,
    #[serde(default)]
    pub(crate) count: Option<u64>,
    #[serde(default)]
    pub(crate) error: Option<ApiError>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApiError {
    #[serde(default)]
    pub(crate) err_code: u64,
    #[serde(default)]
    pub(crate) description: String,
}

/// JetStream error codes for a failed `Nats-Expected-Last-Subject-Sequence` check.
pub(crate) const WRONG_LAST_SEQUENCE: [u64; 2] = [10071, 10164];
/// JetStream error code: an atomic batch holds a message id already in the stream (within its duplicate window).
pub(crate) const BATCH_DUPLICATE_MESSAGE_ID: u64 = 10201;

/// One message of an atomic batch: its subject, its headers (the batch's own are added), its body.
#[derive(Debug, Clone)]
pub struct BatchMessage {
    pub subject: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why an atomic batch did not land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The connection to NATS is down: nothing was sent.
    NotConnected,
    /// A publish or the commit request failed: the batch may or may not have been written.
    NoAnswer(String),
    /// The commit's reply could not be read.
    Unreadable(String),
    /// The server answered that it wrote nothing, with its error code (10071/10164: a sequence check failed;
    /// 10201: a message id already in the stream).
    Refused { code: u64, description: String },
    /// The server acknowledged a different number of messages than were sent.
    Inconsistent(String),
}

/// Publishes `messages` as one atomic batch, all or none; returns the positions written, in order. Refused at once
/// while `connection` is down (nothing is sent); answered at once if it is lost before the commit's reply
/// ([`crate::OUTCOME_UNKNOWN`]).
pub async fn publish_atomic(
    client: &async_nats::Client,
    connection: &Connection,
    messages: Vec<BatchMessage>,
) -> Result<Vec<u64>, BatchError> {
    connection
        .call(
            client,
            publish_and_commit(client, messages),
            || BatchError::NotConnected,
            || BatchError::NoAnswer(OUTCOME_UNKNOWN.to_owned()),
        )
        .await
}

async fn publish_and_commit(client: &async_nats::Client, messages: Vec<BatchMessage>) -> Result<Vec<u64>, BatchError> {
    let total = messages.len();
    let batch_id = Uuid::new_v4().simple().to_string();
    for (i, m) in messages.into_iter().enumerate() {
        let BatchMessage { subject, mut headers, body } = m;
        headers.insert(self::headers::BATCH_ID, batch_id.as_str());
        headers.insert(self::headers::BATCH_SEQUENCE, (i + 1).to_string().as_str());
        if i + 1 < total {
            client
                .publish_with_headers(subject, headers, body)
                .await
                .map_err(|e| BatchError::NoAnswer(e.to_string()))?;
            continue;
        }
        headers.insert(self::headers::BATCH_COMMIT, "1");
        let reply = client
            .request_with_headers(subject, headers, body)
            .await
            .map_err(|e| BatchError::NoAnswer(e.to_string()))?;
        let reply: BatchReply =
            serde_json::from_slice(&reply.payload).map_err(|e| BatchError::Unreadable(e.to_string()))?;
        if let Some(err) = reply.error {
            return Err(BatchError::Refused { code: err.err_code, description: err.description });
        }
        let count = reply.count.unwrap_or(total as u64);
        if count != total as u64 || reply.seq < count {
            return Err(BatchError::Inconsistent(format!(
                "batch of {total} committed {count} messages ending at {}",
                reply.seq
            )));
        }
        return Ok((reply.seq + 1 - count..=reply.seq).collect());
    }
    Ok(Vec::new())
}
