//! The auditor's side of verifiable history, what `ledger audit verify` and `ledger audit export` run: the log
//! read through the public API only (`LedgerReplay` and `LedgerAudit`) or from an export file, with no database
//! and no NATS, and checked against checkpoints signed by the notary's key.
//!
//! - [`source`]: where the leaves come from ([`Source`]): a running ledger ([`remote::Remote`]) or an export file
//!   ([`export::ExportFile`]).
//! - [`verify`]: the check: every checkpoint's signature, every leaf hashed and its envelope decoded, every
//!   checkpoint's root recomputed, the consistency with the checkpoint trusted before, and on failure the first
//!   position that differs and why.
//! - [`export`]: writing and reading the portable export (`proto/coalition/ledger/v1/export.proto`).
//! - [`state`]: the last checkpoint the auditor trusted, kept in a small file, as a Go sumdb client does.
pub mod export;
pub mod remote;
pub mod source;
pub mod state;
pub mod verify;

pub use source::{Leaf, Source, SourceError, View};
pub use verify::{Failure, Outcome, verify};
