//! The stream of signed checkpoints beside the log: `<stream>_CHECKPOINTS` on the one subject
//! `<prefix>-checkpoints`, as immutable as the log (file storage, no limits, deny delete and purge). The notary
//! publishes each checkpoint once (its message id is the tree size, so a retry after a crash is recognised); an
//! auditor reads them back in order.
use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};

use crate::stream::{immutability_violations_of, not_found};
use crate::{Log, LogError};

/// The header naming a checkpoint's tree size.
pub const TREE_SIZE_HEADER: &str = "Ledger-Tree-Size";

/// The checkpoint stream of the log stream `stream`.
pub fn checkpoint_stream(stream: &str) -> String {
    format!("{stream}_CHECKPOINTS")
}

/// The subject checkpoints of the log with subject prefix `prefix` are published to.
pub fn checkpoint_subject(prefix: &str) -> String {
    format!("{prefix}-checkpoints")
}

/// The configuration the checkpoint stream is created with: as immutable as the log.
pub fn checkpoint_stream_config(stream: &str, prefix: &str) -> stream::Config {
    crate::stream::immutable(
        &checkpoint_stream(stream),
        "Coalition Ledger: the signed checkpoints of the log's Merkle tree",
        checkpoint_subject(prefix),
        std::time::Duration::from_secs(24 * 3600),
    )
}

/// One checkpoint as the stream holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Its position in the checkpoint stream.
    pub sequence: u64,
    /// The signed note.
    pub note: String,
}

impl Log {
    fn checkpoint_names(&self) -> (String, String) {
        (checkpoint_stream(self.stream_name()), checkpoint_subject(&self.prefix))
    }

    /// Checks that the checkpoint stream exists and is immutable; creates it if it is missing and `create` is set
    /// (the operator's `ledger nats create-stream`).
    pub async fn ensure_checkpoint_stream(&self, create: bool) -> Result<(), LogError> {
        let (name, subject) = self.checkpoint_names();
        let unavailable = |e: &dyn std::fmt::Display| LogError::Unavailable(format!("stream {name}: {e}"));
        match self.js.get_stream(&name).await {
            Ok(mut existing) => {
                let info = existing.info().await.map_err(|e| unavailable(&e))?;
                if let Some((setting, found, required)) =
                    immutability_violations_of(&info.config, &subject).into_iter().next()
                {
                    return Err(LogError::MutableStream { stream: name, setting, found, required });
                }
                Ok(())
            }
            Err(e) if not_found(&e) && create => {
                self.js
                    .create_stream(checkpoint_stream_config(self.stream_name(), &self.prefix))
                    .await
                    .map_err(|e| unavailable(&e))?;
                tracing::info!(stream = %name, "created the checkpoint stream");
                Ok(())
            }
            Err(e) if not_found(&e) => Err(LogError::NoStream(name)),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Publishes the checkpoint of tree size `size`; a second publish of the same size (a retry) is recognised
    /// by its message id and writes nothing. Returns its position in the checkpoint stream.
    pub async fn publish_checkpoint(&self, size: u64, note: &str) -> Result<u64, LogError> {
        let (name, subject) = self.checkpoint_names();
        let mut headers = HeaderMap::new();
        headers.insert(crate::headers::MSG_ID, format!("checkpoint-{size}").as_str());
        headers.insert(TREE_SIZE_HEADER, size.to_string().as_str());
        let ack = self
            .js
            .publish_with_headers(subject, headers, note.to_owned().into())
            .await
            .map_err(|e| LogError::Unavailable(format!("publishing checkpoint {size} to {name}: {e}")))?
            .await
            .map_err(|e| LogError::Unavailable(format!("publishing checkpoint {size} to {name}: {e}")))?;
        Ok(ack.sequence)
    }

    /// The tree size of the last checkpoint the checkpoint stream holds (`None` if it holds none).
    pub async fn last_checkpoint_size(&self) -> Result<Option<u64>, LogError> {
        let (name, subject) = self.checkpoint_names();
        let unavailable = |e: &dyn std::fmt::Display| LogError::Unavailable(format!("stream {name}: {e}"));
        let stream: jetstream::stream::Stream = self.js.get_stream(&name).await.map_err(|e| unavailable(&e))?;
        match stream.direct_get_last_for_subject(subject.as_str()).await {
            Ok(m) => {
                let size = m.headers.get(TREE_SIZE_HEADER).and_then(|v| v.as_str().parse().ok());
                size.map(Some).ok_or_else(|| {
                    LogError::Rejected(format!("checkpoint {} of {name} has no {TREE_SIZE_HEADER} header", m.sequence))
                })
            }
            Err(e) if e.kind() == jetstream::stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Every checkpoint the checkpoint stream holds, in order.
    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, LogError> {
        let (name, subject) = self.checkpoint_names();
        let unavailable = |e: &dyn std::fmt::Display| LogError::Unavailable(format!("stream {name}: {e}"));
        let stream: jetstream::stream::Stream = self.js.get_stream(&name).await.map_err(|e| unavailable(&e))?;
        let mut out = Vec::new();
        let mut next = 1;
        loop {
            match stream.direct_get_next_for_subject(subject.as_str(), Some(next)).await {
                Ok(m) => {
                    next = m.sequence + 1;
                    let note = String::from_utf8(m.payload.to_vec())
                        .map_err(|_| LogError::Rejected(format!("checkpoint {} of {name} is not UTF-8", m.sequence)))?;
                    out.push(StoredCheckpoint { sequence: m.sequence, note });
                }
                Err(e) if e.kind() == jetstream::stream::DirectGetErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(unavailable(&e)),
            }
        }
    }
}
