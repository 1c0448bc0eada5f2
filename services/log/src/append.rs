//! Writing to the log: one message per event, several events of one aggregate in one atomic batch, or through
//! the group committer. The message format and the batch protocol are in `protocol`.
use async_nats::jetstream::context::PublishErrorKind;
use ledger_domain::Aggregate;

use crate::connection::{NOT_CONNECTED, OUTCOME_UNKNOWN};
use crate::protocol::{
    BATCH_DUPLICATE_MESSAGE_ID, BatchError, BatchMessage, Check, OutgoingEvent, WRONG_LAST_SEQUENCE, publish_atomic,
};
use crate::{Log, LogError};

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
                Some(Check::new(n, (scope != subject).then_some(scope)))
            }
        };
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Before the group committer: an event the server would refuse would fail every append of its group.
        if let Some((index, e)) = events.iter().enumerate().find(|(_, e)| e.body.len() > self.max_event_bytes) {
            return Err(LogError::EventTooLarge {
                index,
                event_id: e.event_id.to_string(),
                bytes: e.body.len(),
                limit: self.max_event_bytes,
            });
        }
        self.refuse_if_faulted()?;
        let positions = match &self.committer {
            // Coalesced with concurrent appends into one atomic batch.
            Some(committer) if events.len() <= crate::group::MAX_GROUP_MESSAGES => {
                let (done, answer) = tokio::sync::oneshot::channel();
                let scope = self.scope(aggregate);
                let write = crate::group::Write { subject, scope, check, events: events.to_vec(), done };
                committer.send(write).await.map_err(|_| LogError::Unavailable("the group committer stopped".into()))?;
                answer.await.map_err(|_| LogError::Unavailable("the group committer dropped the append".into()))?
            }
            _ => self.write_alone(subject, check, events).await,
        }?;
        if let Some(&last) = positions.last() {
            self.saw(last);
        }
        Ok(positions)
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
        let publish = async {
            self.js
                .publish_with_headers(subject.clone(), h, e.body.clone())
                .await
                .map_err(|err| map(err, &subject))?
                .await
                .map_err(|err| map(err, &subject))
        };
        let ack = self
            .connection
            .call(
                &self.client,
                publish,
                || LogError::Unavailable(NOT_CONNECTED.to_owned()),
                || LogError::Unavailable(OUTCOME_UNKNOWN.to_owned()),
            )
            .await?;
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
        let messages = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut headers = e.headers();
                if i == 0
                    && let Some(c) = &check
                {
                    c.add_to(&mut headers);
                }
                BatchMessage { subject: subject.clone(), headers, body: e.body.clone() }
            })
            .collect();
        publish_atomic(&self.client, &self.connection, messages).await.map_err(|err| match err {
            BatchError::NotConnected => LogError::Unavailable(NOT_CONNECTED.to_owned()),
            BatchError::NoAnswer(e) => LogError::Unavailable(format!("batch publish: {e}")),
            BatchError::Unreadable(e) => LogError::Rejected(format!("unreadable batch reply: {e}")),
            BatchError::Refused { code, .. } if WRONG_LAST_SEQUENCE.contains(&code) => {
                LogError::WrongLastSequence { subject: subject.clone() }
            }
            // One of the ids is already in the log (a retry of a write that landed, most likely): the append
            // service reads the aggregate and recognises its own events. Which id is not said.
            BatchError::Refused { code: BATCH_DUPLICATE_MESSAGE_ID, .. } => {
                LogError::DuplicateId { event_id: events[0].event_id.to_string(), position: 0 }
            }
            BatchError::Refused { code, description } => LogError::Rejected(format!("{description} (error {code})")),
            BatchError::Inconsistent(m) => LogError::Rejected(m),
        })
    }
}
