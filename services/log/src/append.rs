//! Writing to the log: one message per event, several events of one aggregate in one atomic batch.
use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use bytes::Bytes;
use ledger_domain::Aggregate;
use serde::Deserialize;
use uuid::Uuid;

use crate::{Log, LogError};

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
    pub(crate) fn add_to(&self, h: &mut HeaderMap) {
        h.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE, self.sequence.to_string().as_str());
        if let Some(scope) = &self.scope {
            h.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT, scope.as_str());
        }
    }
}

/// The reply to a batch commit: an ack or an error (ADR-50).
#[derive(Debug, Deserialize)]
pub(crate) struct BatchReply {
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

impl Log {
    /// Appends `events` to `aggregate`'s subject, all or none, in order. With `expected_last = Some(n)` the write
    /// only happens if the last message in the aggregate's consistency scope (its own subject, or its
    /// organisation's subjects for memberships and pledges) is at position `n` (0: none); otherwise
    /// [`LogError::WrongLastSequence`]. Returns the positions written.
    ///
    /// An error other than a refusal leaves the outcome unknown (the write may have happened): retry with the
    /// same event ids; the append service recognises them.
    pub async fn append(
        &self,
        aggregate: &Aggregate,
        expected_last: Option<u64>,
        events: &[OutgoingEvent],
    ) -> Result<Vec<u64>, LogError> {
        let subject = self.subject(aggregate);
        let check = match expected_last {
            None => None,
            Some(n) => {
                let scope = self.scope(aggregate);
                if scope != subject && !self.version.has_scoped_sequence_checks() {
                    return Err(LogError::ScopedCheckUnsupported(aggregate.to_string()));
                }
                Some(Check { sequence: n, scope: (scope != subject).then_some(scope) })
            }
        };
        if events.is_empty() {
            return Ok(Vec::new());
        }
        match &self.committer {
            // Coalesced with concurrent appends into one atomic batch.
            Some(committer) if events.len() <= crate::group::MAX_GROUP_MESSAGES => {
                let (done, answer) = tokio::sync::oneshot::channel();
                let scope = self.scope(aggregate);
                let write = crate::group::Write { subject, scope, check, events: events.to_vec(), done };
                committer.send(write).await.map_err(|_| LogError::Unavailable("the group committer stopped".into()))?;
                answer.await.map_err(|_| LogError::Unavailable("the group committer dropped the append".into()))?
            }
            _ => self.write_alone(subject, check, events).await,
        }
    }

    /// Writes one append by itself: one publish, or one atomic batch of its events.
    pub(crate) async fn write_alone(
        &self,
        subject: String,
        check: Option<Check>,
        events: &[OutgoingEvent],
    ) -> Result<Vec<u64>, LogError> {
        match events {
            [] => Ok(Vec::new()),
            [one] => self.publish_one(subject, check, one).await.map(|seq| vec![seq]),
            many if self.atomic_batches => self.publish_batch(subject, check, many).await,
            many => Err(LogError::AtomicBatchUnsupported(many.len())),
        }
    }

    /// The subject pattern an aggregate's writes are checked against.
    pub fn scope(&self, aggregate: &Aggregate) -> String {
        format!("{}.{}", self.prefix, aggregate.consistency_scope())
    }

    async fn publish_one(&self, subject: String, check: Option<Check>, e: &OutgoingEvent) -> Result<u64, LogError> {
        let mut h = e.headers();
        if let Some(c) = &check {
            c.add_to(&mut h);
        }
        let map = |err: async_nats::jetstream::context::PublishError, subject: &str| match err.kind() {
            PublishErrorKind::WrongLastSequence => LogError::WrongLastSequence { subject: subject.to_owned() },
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound => {
                LogError::Unavailable(err.to_string())
            }
            _ if WRONG_LAST_SEQUENCE.iter().any(|c| err.to_string().contains(&c.to_string())) => {
                LogError::WrongLastSequence { subject: subject.to_owned() }
            }
            PublishErrorKind::Other => LogError::Unavailable(err.to_string()),
            _ => LogError::Rejected(err.to_string()),
        };
        let ack = self
            .js
            .publish_with_headers(subject.clone(), h, e.body.clone())
            .await
            .map_err(|err| map(err, &subject))?
            .await
            .map_err(|err| map(err, &subject))?;
        if ack.duplicate {
            // JetStream already holds a message with this id (within its duplicate window) and wrote nothing.
            return Err(LogError::DuplicateId { event_id: e.event_id.to_string(), position: ack.sequence });
        }
        Ok(ack.sequence)
    }

    async fn publish_batch(
        &self,
        subject: String,
        check: Option<Check>,
        events: &[OutgoingEvent],
    ) -> Result<Vec<u64>, LogError> {
        let batch_id = Uuid::new_v4().simple().to_string();
        let last = events.len() - 1;
        let unavailable = |e: &dyn std::fmt::Display| LogError::Unavailable(format!("batch publish: {e}"));
        for (i, e) in events.iter().enumerate() {
            let mut h = e.headers();
            h.insert(headers::BATCH_ID, batch_id.as_str());
            h.insert(headers::BATCH_SEQUENCE, (i + 1).to_string().as_str());
            if i == 0
                && let Some(c) = &check
            {
                c.add_to(&mut h);
            }
            if i < last {
                self.client
                    .publish_with_headers(subject.clone(), h, e.body.clone())
                    .await
                    .map_err(|e| unavailable(&e))?;
                continue;
            }
            h.insert(headers::BATCH_COMMIT, "1");
            let reply = self
                .client
                .request_with_headers(subject.clone(), h, e.body.clone())
                .await
                .map_err(|e| unavailable(&e))?;
            let reply: BatchReply = serde_json::from_slice(&reply.payload)
                .map_err(|err| LogError::Rejected(format!("unreadable batch reply: {err}")))?;
            if let Some(err) = reply.error {
                return Err(if WRONG_LAST_SEQUENCE.contains(&err.err_code) {
                    LogError::WrongLastSequence { subject }
                } else if err.err_code == BATCH_DUPLICATE_MESSAGE_ID {
                    // One of the ids is already in the log (a retry of a write that landed, most likely): the
                    // append service reads the aggregate and recognises its own events. Which id is not said.
                    LogError::DuplicateId { event_id: events[0].event_id.to_string(), position: 0 }
                } else {
                    LogError::Rejected(format!("{} (error {})", err.description, err.err_code))
                });
            }
            let count = reply.count.unwrap_or(events.len() as u64);
            if count != events.len() as u64 || reply.seq < count {
                return Err(LogError::Rejected(format!(
                    "batch of {} committed {count} messages ending at {}",
                    events.len(),
                    reply.seq
                )));
            }
            return Ok((reply.seq + 1 - count..=reply.seq).collect());
        }
        Ok(Vec::new())
    }
}
