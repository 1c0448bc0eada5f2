//! Where a verifier reads the log from: the signed checkpoints, the leaves in order and, to name a bad position,
//! the notary's leaf hashes and consistency proofs. Nothing a source answers is trusted: [`crate::verify`] checks
//! it all against the verifier key.
use ledger_audit::Hash;

/// The event at a log position as a source hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub position: u64,
    /// The message body as stored in the stream: the leaf's bytes.
    pub stored: Vec<u8>,
    /// What the server decoded from it (a replay's fields beside `stored`), to be checked against the envelope.
    pub view: Option<View>,
}

/// The decoded fields a replay sends beside the stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub event_id: String,
    pub event_type: String,
    pub aggregate_id: String,
    pub principal: String,
}

/// A failure to read from a source: the call or file, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A log to verify.
#[allow(async_fn_in_trait)] // used with concrete sources, never as a `dyn` or across tasks
pub trait Source {
    /// Every checkpoint note the source holds, in order of size.
    async fn checkpoints(&mut self) -> Result<Vec<String>, SourceError>;
    /// Starts reading the leaves from position 1 up to `size`.
    async fn start(&mut self, size: u64) -> Result<(), SourceError>;
    /// The next leaf, or `None` at the end of what the source holds.
    async fn next_leaf(&mut self) -> Result<Option<Leaf>, SourceError>;
    /// The notary's hashes of `count` leaves from `from_position` (`None`: the source has none). Used only to name
    /// the first bad position, once they verify against a signed checkpoint.
    async fn leaf_hashes(&mut self, from_position: u64, count: u64) -> Result<Option<Vec<Hash>>, SourceError>;
    /// The consistency proof between two tree sizes (`None`: the source has none; an export's leaves are
    /// recomputed instead).
    async fn consistency_proof(&mut self, from: u64, to: u64) -> Result<Option<Vec<Hash>>, SourceError>;
}

/// Hashes as the API sends them (bytes), each checked to be 32 long.
pub(crate) fn hashes(what: &str, raw: Vec<Vec<u8>>) -> Result<Vec<Hash>, SourceError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, h)| {
            let n = h.len();
            Hash::try_from(h).map_err(|_| SourceError(format!("{what}[{i}] is {n} bytes long, not a 32-byte hash")))
        })
        .collect()
}
