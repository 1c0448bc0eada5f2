//! Reading the log back: one aggregate's events (for rule checks and deduplication) and ranges of the whole log
//! in order (for replay and rebuilds).
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use ledger_domain::Aggregate;
use time::OffsetDateTime;

use crate::{Log, LogError};

/// A raw message of the log.
#[derive(Debug, Clone)]
pub struct LogMessage {
    pub position: u64,
    pub subject: String,
    pub body: Bytes,
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
    /// All messages of one aggregate's consistency scope (its own subject, or all of its organisation's
    /// memberships and pledges) after position `after`, in order.
    pub async fn read_scope(&self, aggregate: &Aggregate, after: u64) -> Result<Vec<LogMessage>, LogError> {
        let subject = self.scope(aggregate);
        let mut out = Vec::new();
        let mut next = after + 1;
        loop {
            match self.stream.direct_get_next_for_subject(subject.as_str(), Some(next)).await {
                Ok(m) => {
                    next = m.sequence + 1;
                    out.push(LogMessage { position: m.sequence, subject: m.subject.to_string(), body: m.payload });
                }
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(LogError::Unavailable(format!("reading {subject}: {e}"))),
            }
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
        let stream = messages.and_then(|m| async move {
            let info = m
                .info()
                .map(|i| (i.stream_sequence, i.pending))
                .map_err(|e| LogError::Unavailable(format!("a message without JetStream metadata: {e}")))?;
            let msg = LogMessage { position: info.0, subject: m.subject.to_string(), body: m.payload.clone() };
            Ok((msg, info.1))
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
