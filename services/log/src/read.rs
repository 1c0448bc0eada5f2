//! Reading the log back: one aggregate's events (for rule checks and deduplication) and ranges of the whole log
//! in order (for replay and rebuilds).
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use ledger_domain::Aggregate;
use ledger_proto::RecordedEvent;
use ledger_proto::stored::DecodeError;
use time::OffsetDateTime;

use crate::{Log, LogError};

/// A raw message of the log.
#[derive(Debug, Clone)]
pub struct LogMessage {
    pub position: u64,
    pub subject: String,
    pub body: Bytes,
    /// Where the subject's part after the log's prefix starts (`None`: the subject is outside the prefix).
    suffix_start: Option<usize>,
}

impl LogMessage {
    /// A message read from a log whose subjects start with `prefix`.
    fn new(position: u64, subject: String, body: Bytes, prefix: &str) -> Self {
        let suffix_start =
            subject.strip_prefix(prefix).and_then(|s| s.strip_prefix('.')).map(|s| subject.len() - s.len());
        Self { position, subject, body, suffix_start }
    }

    /// The subject without the log's prefix (`<type>.<id>…`, what [`Aggregate::subject_suffix`] writes).
    pub fn subject_suffix(&self) -> Option<&str> {
        self.suffix_start.map(|i| &self.subject[i..])
    }

    /// The one decoding of a log message into a recorded event: the envelope, its agreement with the subject, the
    /// payload upcast from the version it was written with. Every reader of the log (rule checks, projectors,
    /// replay, tests) goes through this.
    pub fn decode(&self) -> Result<RecordedEvent, DecodeError> {
        let suffix = self.subject_suffix().ok_or_else(|| DecodeError::OutsidePrefix(self.subject.clone()))?;
        ledger_proto::stored::decode(self.position, suffix, &self.body)
    }
}

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// The first position to return (1 = the beginning).
    Position(u64),
    /// The first message stored at or after this time.
    Time(OffsetDateTime),
}

impl Log {
    /// A message of this log (found by a reader of its own, such as a projector's durable consumer).
    pub fn message(&self, position: u64, subject: String, body: Bytes) -> LogMessage {
        LogMessage::new(position, subject, body, &self.prefix)
    }

    /// All messages of one aggregate's consistency scope (its own subject, or all of its organisation's
    /// memberships and pledges) after position `after`, in order.
    pub async fn read_scope(&self, aggregate: &Aggregate, after: u64) -> Result<Vec<LogMessage>, LogError> {
        // Refused at once while the connection is down, and answered at once if it is lost during the read: a read
        // would otherwise wait for the connection, or the request timeout.
        let lost = || LogError::Unavailable(format!("reading {aggregate}: {}", crate::OUTCOME_UNKNOWN_READ));
        let not_connected = || LogError::Unavailable(crate::NOT_CONNECTED.to_owned());
        self.connection.call(&self.client, self.read_scope_now(aggregate, after), not_connected, lost).await
    }

    async fn read_scope_now(&self, aggregate: &Aggregate, after: u64) -> Result<Vec<LogMessage>, LogError> {
        // Read for an append's rules: while the stream is not the ledger's log, nothing is decided against it.
        self.refuse_if_faulted()?;
        let subject = self.scope(aggregate);
        let mut out = Vec::new();
        let mut next = after + 1;
        loop {
            match self.stream.direct_get_next_for_subject(subject.as_str(), Some(next)).await {
                Ok(m) => {
                    next = m.sequence + 1;
                    out.push(LogMessage::new(m.sequence, m.subject.to_string(), m.payload, &self.prefix));
                }
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(LogError::Unavailable(format!("reading {subject}: {e}"))),
            }
        }
    }

    /// The position of the first message on `subject` (a subject of this log), or `None` if it has none.
    pub async fn first_position(&self, subject: &str) -> Result<Option<u64>, LogError> {
        match self.stream.direct_get_next_for_subject(subject, Some(1)).await {
            Ok(m) => Ok(Some(m.sequence)),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::Unavailable(format!("reading {subject}: {e}"))),
        }
    }

    /// Messages from `from` up to and including position `until`, in log order, optionally only those on
    /// subjects matching `filter` (a subject pattern under the prefix, e.g. `ledger.membership.>`).
    /// Memory stays bounded: messages are fetched as the returned stream is polled.
    pub async fn read(
        &self,
        from: ReadFrom,
        filter: Option<String>,
        until: u64,
    ) -> Result<impl Stream<Item = Result<LogMessage, LogError>> + Send + 'static, LogError> {
        let deliver_policy = match from {
            ReadFrom::Position(p) => DeliverPolicy::ByStartSequence { start_sequence: p.max(1) },
            ReadFrom::Time(t) => DeliverPolicy::ByStartTime { start_time: t },
        };
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                filter_subject: filter.unwrap_or_else(|| format!("{}.>", self.prefix)),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| LogError::Unavailable(format!("creating a reader: {e}")))?;
        let nothing_pending = consumer.cached_info().num_pending == 0;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| LogError::Unavailable(format!("reading the log: {e}")))?
            .map_err(|e| LogError::Unavailable(format!("reading the log: {e}")));
        let prefix = self.prefix.clone();
        let stream = messages.and_then(move |m| {
            let read = m
                .info()
                .map(|i| (i.stream_sequence, i.pending))
                .map_err(|e| LogError::Unavailable(format!("a message without JetStream metadata: {e}")))
                .map(|(position, pending)| {
                    (LogMessage::new(position, m.subject.to_string(), m.payload.clone(), &prefix), pending)
                });
            futures::future::ready(read)
        });
        // Stop at `until`, or when nothing more is pending for this filter, without waiting for another message.
        let stream = futures::stream::unfold(
            (Box::pin(stream), nothing_pending || until == 0),
            move |(mut inner, done)| async move {
                if done {
                    return None;
                }
                match inner.next().await? {
                    Ok((msg, pending)) if msg.position <= until => {
                        let done = pending == 0 || msg.position == until;
                        Some((Ok(msg), (inner, done)))
                    }
                    Ok(_) => None,
                    Err(e) => Some((Err(e), (inner, true))),
                }
            },
        );
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_outside_the_prefix_has_no_suffix_and_does_not_decode() {
        let inside = LogMessage::new(1, "ledger.org.a.membership.se".into(), Bytes::new(), "ledger");
        assert_eq!(inside.subject_suffix(), Some("org.a.membership.se"));
        for subject in ["ledgerx.org.a.membership.se", "other.org.a.membership.se", "ledger"] {
            let m = LogMessage::new(1, subject.into(), Bytes::new(), "ledger");
            assert_eq!(m.subject_suffix(), None, "{subject}");
            assert_eq!(m.decode().unwrap_err(), DecodeError::OutsidePrefix(subject.into()));
        }
    }
}
