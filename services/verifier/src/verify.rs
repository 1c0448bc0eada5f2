//! The verification: every checkpoint's signature, every leaf from position 1 hashed (RFC 9162) and its envelope
//! decoded and compared with the view served beside it, every checkpoint's root recomputed from the leaves, and the
//! latest checkpoint proved consistent with the one trusted before. On failure, the first position that differs and
//! why: the checkpoint whose root fails bounds the range, and the notary's own leaf hashes for that range, once
//! they verify against the signed root, name the position.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ledger_audit::merkle::{self, Tree, hex, leaf_hash};
use ledger_audit::{Checkpoint, Hash, Verifier};
use ledger_proto::v1;

use crate::source::{Leaf, Source, SourceError, View};

/// What a verification that passed established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The latest checkpoint, now trusted: its size, root and signed note.
    pub checkpoint: Checkpoint,
    pub note: String,
    /// Leaves hashed (= `checkpoint.size`).
    pub leaves: u64,
    /// Checkpoints whose root was recomputed from the leaves and matched.
    pub checkpoints_checked: usize,
    /// The size of the checkpoint trusted before, proved consistent with the latest one.
    pub consistent_with: Option<u64>,
    /// Positions whose envelope does not decode as a `StoredEvent` (hashed like any other; reported, not failed).
    pub undecodable: Vec<u64>,
    pub elapsed: Duration,
}

/// Why a log does not verify.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    #[error("reading the log: {0}")]
    Source(#[from] SourceError),
    #[error("the source holds no signed checkpoint")]
    NoCheckpoint,
    #[error("checkpoint #{index} does not verify with the key of {key}: {reason}")]
    BadCheckpoint { index: usize, key: String, reason: String },
    #[error(
        "fork: two checkpoints of size {size} with different roots, {first} and {second}, both signed by the notary"
    )]
    Fork { size: u64, first: String, second: String },
    #[error(
        "rollback: the latest checkpoint is of size {latest}, but a checkpoint of size {trusted} was trusted before: the log lost history or this is another log"
    )]
    Rollback { trusted: u64, latest: u64 },
    #[error("the latest checkpoint (size {to}) is not consistent with the one trusted before (size {from}): {reason}")]
    Inconsistent { from: u64, to: u64, reason: String },
    #[error("position {position} is missing: the next event served is at position {next}")]
    Missing { position: u64, next: u64 },
    #[error("position {position} is served again or out of order after position {after}")]
    OutOfOrder { position: u64, after: u64 },
    #[error(
        "the log is cut short: it ends at position {end}, but the checkpoint of size {size} covers positions up to {size}; positions {} to {size} are missing",
        end + 1
    )]
    CutShort { end: u64, size: u64 },
    #[error("position {position}: the replay's {field} is {view:?}, its stored envelope's is {stored:?}")]
    ViewDiffers { position: u64, field: &'static str, view: String, stored: String },
    #[error(
        "position {position} was changed: its stored bytes hash to {found}, the notary hashed {signed} (checkpoint of size {size})"
    )]
    Changed { position: u64, found: String, signed: String, size: u64 },
    #[error(
        "positions {first} and {second} are swapped: each holds the event the notary hashed at the other (checkpoint of size {size})"
    )]
    Swapped { first: u64, second: u64, size: u64 },
    #[error(
        "the root of the first {size} leaves is {found}, the signed checkpoint's is {signed}: an event from position {from} to {size} differs ({why})"
    )]
    RootDiffers { size: u64, from: u64, found: String, signed: String, why: String },
}

impl Failure {
    /// The first log position known to be bad, where the failure names one.
    pub fn position(&self) -> Option<u64> {
        match self {
            Failure::Missing { position, .. }
            | Failure::OutOfOrder { position, .. }
            | Failure::ViewDiffers { position, .. }
            | Failure::Changed { position, .. } => Some(*position),
            Failure::Swapped { first, .. } => Some(*first),
            Failure::CutShort { end, .. } => Some(end + 1),
            _ => None,
        }
    }
}

/// A root to check the recomputed tree against: a signed checkpoint, or the one trusted before.
#[derive(Debug, Clone, Copy)]
struct Target {
    root: Hash,
}

/// Verifies the log `source` serves with the notary's `verifier` key; `trusted` is the checkpoint trusted before
/// (from the state file). `progress(done, total)` is called every few thousand leaves.
pub async fn verify<S: Source>(
    source: &mut S,
    verifier: &Verifier,
    trusted: Option<&Checkpoint>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Outcome, Failure> {
    let started = Instant::now();
    let notes = source.checkpoints().await?;
    let mut checkpoints: BTreeMap<u64, (Checkpoint, String)> = BTreeMap::new();
    for (index, note) in notes.into_iter().enumerate() {
        let c = Checkpoint::verify(&note, verifier).map_err(|e| Failure::BadCheckpoint {
            index,
            key: verifier.name().to_owned(),
            reason: e.to_string(),
        })?;
        if let Some((seen, _)) = checkpoints.get(&c.size)
            && seen.root != c.root
        {
            return Err(Failure::Fork { size: c.size, first: hex(&seen.root), second: hex(&c.root) });
        }
        checkpoints.insert(c.size, (c, note));
    }
    let Some((_, (latest, latest_note))) = checkpoints.last_key_value() else { return Err(Failure::NoCheckpoint) };
    let (latest, latest_note) = (latest.clone(), latest_note.clone());
    let mut consistent_with = None;
    if let Some(t) = trusted {
        if t.size > latest.size {
            return Err(Failure::Rollback { trusted: t.size, latest: latest.size });
        }
        if let Some((c, _)) = checkpoints.get(&t.size)
            && c.root != t.root
        {
            return Err(Failure::Fork { size: t.size, first: hex(&t.root), second: hex(&c.root) });
        }
        if t.size < latest.size
            && let Some(proof) = source.consistency_proof(t.size, latest.size).await?
        {
            merkle::verify_consistency(t.size, latest.size, &proof, &t.root, &latest.root)
                .map_err(|e| Failure::Inconsistent { from: t.size, to: latest.size, reason: e.to_string() })?;
        }
        consistent_with = Some(t.size);
    }
    // Every root the leaves must produce: the signed checkpoints and the trusted one.
    let mut targets: BTreeMap<u64, Target> =
        checkpoints.values().map(|(c, _)| (c.size, Target { root: c.root })).collect();
    if let Some(t) = trusted {
        targets.insert(t.size, Target { root: t.root });
    }

    source.start(latest.size).await?;
    let mut tree = Tree::new();
    // The tree at the last size whose root matched, and the leaf hashes since.
    let mut verified = Tree::new();
    let mut window: Vec<Hash> = Vec::new();
    let mut undecodable = Vec::new();
    let mut checked = 0;
    let mut next_target = targets.range(1..).next().map(|(s, t)| (*s, *t));
    while tree.size() < latest.size {
        let Some(leaf) = source.next_leaf().await? else { break };
        let expected = tree.size() + 1;
        if leaf.position > expected {
            return Err(Failure::Missing { position: expected, next: leaf.position });
        }
        if leaf.position < expected {
            return Err(Failure::OutOfOrder { position: leaf.position, after: tree.size() });
        }
        if !check_envelope(&leaf)? {
            undecodable.push(leaf.position);
        }
        let hash = leaf_hash(&leaf.stored);
        tree.push(hash);
        window.push(hash);
        if tree.size().is_multiple_of(4096) {
            progress(tree.size(), latest.size);
        }
        if let Some((size, target)) = next_target
            && size == tree.size()
        {
            if tree.root() != target.root {
                return Err(pinpoint(source, &verified, &window, size, &target.root, &tree.root()).await);
            }
            checked += 1;
            verified = tree.clone();
            window.clear();
            next_target = targets.range(size + 1..).next().map(|(s, t)| (*s, *t));
        }
    }
    progress(tree.size(), latest.size);
    if tree.size() < latest.size {
        return Err(Failure::CutShort { end: tree.size(), size: latest.size });
    }
    Ok(Outcome {
        checkpoint: latest,
        note: latest_note,
        leaves: tree.size(),
        checkpoints_checked: checked,
        consistent_with,
        undecodable,
        elapsed: started.elapsed(),
    })
}

/// Decodes the leaf's envelope and compares it with the view served beside it: `Ok(false)` if it does not decode
/// (still a leaf like any other), an error if the view says something else than the envelope.
fn check_envelope(leaf: &Leaf) -> Result<bool, Failure> {
    let Ok(stored) = <v1::StoredEvent as prost::Message>::decode(leaf.stored.as_slice()) else { return Ok(false) };
    let Some(view) = &leaf.view else { return Ok(true) };
    // The envelope decodes, so the view must say what it says (an old envelope's principal reads as `unknown`).
    let principal =
        if stored.envelope_version == 0 && stored.principal.is_empty() { "unknown" } else { &stored.principal };
    let View { event_id, event_type, aggregate_id, principal: view_principal } = view;
    for (field, view, stored) in [
        ("event_id", event_id, stored.event_id.as_str()),
        ("event_type", event_type, stored.event_type.as_str()),
        ("aggregate id", aggregate_id, stored.aggregate_id.as_str()),
        ("principal", view_principal, principal),
    ] {
        if view != stored {
            return Err(Failure::ViewDiffers {
                position: leaf.position,
                field,
                view: view.clone(),
                stored: stored.to_owned(),
            });
        }
    }
    Ok(true)
}

/// Names the first bad position among the leaves after `verified` up to `size`, whose root `found` is not the
/// signed `root`: by the notary's leaf hashes for the range, if the source has them and they produce the signed
/// root (else the range is all that can be said).
async fn pinpoint<S: Source>(
    source: &mut S,
    verified: &Tree,
    window: &[Hash],
    size: u64,
    root: &Hash,
    found: &Hash,
) -> Failure {
    let from = verified.size() + 1;
    let range = |why: String| Failure::RootDiffers { size, from, found: hex(found), signed: hex(root), why };
    let signed = match source.leaf_hashes(from, size - verified.size()).await {
        Ok(Some(h)) => h,
        Ok(None) => return range("the source has no leaf hashes to name the position".into()),
        Err(e) => return range(format!("the notary's leaf hashes could not be read: {e}")),
    };
    let mut check = verified.clone();
    for h in &signed {
        check.push(*h);
    }
    if check.size() != size || check.root() != *root {
        return range("the source's leaf hashes do not produce the signed root either".into());
    }
    let Some(i) = window.iter().zip(&signed).position(|(a, b)| a != b) else {
        return range("every leaf hash matches the notary's, yet the root differs".into());
    };
    let position = from + i as u64;
    if let Some(j) = signed.iter().position(|h| *h == window[i])
        && window.get(j) == Some(&signed[i])
    {
        return Failure::Swapped { first: position, second: from + j as u64, size };
    }
    Failure::Changed { position, found: hex(&window[i]), signed: hex(&signed[i]), size }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn a_view_that_says_something_else_than_its_envelope_is_named_and_an_undecodable_one_is_only_counted() {
        let stored = v1::StoredEvent {
            event_id: "e1".into(),
            event_type: "organisation_registered".into(),
            aggregate_id: "org-1".into(),
            principal: "writer".into(),
            envelope_version: 2,
            ..Default::default()
        }
        .encode_to_vec();
        let view = View {
            event_id: "e1".into(),
            event_type: "organisation_registered".into(),
            aggregate_id: "org-1".into(),
            principal: "writer".into(),
        };
        let leaf = |view: Option<View>| Leaf { position: 3, stored: stored.clone(), view };
        assert!(check_envelope(&leaf(Some(view.clone()))).unwrap());
        assert!(check_envelope(&leaf(None)).unwrap());
        let lying = View { principal: "someone-else".into(), ..view };
        let e = check_envelope(&leaf(Some(lying))).unwrap_err();
        assert!(matches!(e, Failure::ViewDiffers { position: 3, field: "principal", .. }), "{e}");
        let broken = Leaf { position: 4, stored: vec![0xff, 0xff], view: None };
        assert!(!check_envelope(&broken).unwrap(), "hashed like any leaf, reported as undecodable");
    }
}
