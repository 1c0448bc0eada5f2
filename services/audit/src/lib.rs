//! Verifiable history, with no I/O: the log as an RFC 9162 Merkle tree (hashes, an incremental tree, inclusion and
//! consistency proofs and their verification) and its signed checkpoints (C2SP `signed-note` and
//! `tlog-checkpoint`, Ed25519).
//!
//! - [`merkle`]: leaf and node hashes, roots, proofs from stored subtree hashes, proof verification.
//! - [`note`]: signed notes: Ed25519 signer and verifier keys (`vkey` text form), signing and verifying.
//! - [`checkpoint`]: the checkpoint body (origin, tree size, root hash) inside a signed note.
//!
//! Leaf index = log position − 1; the leaf bytes are the stored envelope exactly as written in the stream.
pub mod checkpoint;
pub mod merkle;
pub mod note;

pub use checkpoint::Checkpoint;
pub use merkle::{Hash, NodeMap, NodeRecorder, ProofError};
pub use note::{NoteError, Signer, Verifier};
