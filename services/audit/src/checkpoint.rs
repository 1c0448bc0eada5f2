//! The C2SP `tlog-checkpoint` body: origin, tree size and base64 root hash, one per line (no extension lines), and
//! its signing and verification as a signed note.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::merkle::Hash;
use crate::note::{NoteError, Signer, Verifier};

/// A tree head: the log `origin` held `size` leaves with root `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Reads a note text; extension lines are refused (the ledger writes none and nothing would audit them).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |why: String| NoteError::Malformed(format!("checkpoint: {why}"));
        let lines: Vec<&str> =
            text.strip_suffix('\n').ok_or_else(|| bad("no final newline".into()))?.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(bad(format!("{} lines, a checkpoint has 3 (origin, size, root)", lines.len())));
        };
        if origin.is_empty() {
            return Err(bad("empty origin".into()));
        }
        if size.is_empty() || (size.len() > 1 && size.starts_with('0')) || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("tree size {size:?} is not a decimal without leading zeroes")));
        }
        let size = size.parse().map_err(|_| bad(format!("tree size {size} is too large")))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or_else(|| bad(format!("root hash {root:?} is not the base64 of 32 bytes")))?;
        Ok(Self { origin: origin.to_owned(), size, root })
    }

    /// This checkpoint as a note signed by `signer`.
    pub fn sign(&self, signer: &Signer) -> Result<String, NoteError> {
        signer.sign(&self.body())
    }

    /// The checkpoint of `note` if `verifier` signed it and its origin is the verifier's key name.
    pub fn verify(note: &str, verifier: &Verifier) -> Result<Self, NoteError> {
        let checkpoint = Self::parse(verifier.verify(note)?)?;
        if checkpoint.origin != verifier.name() {
            return Err(NoteError::Malformed(format!(
                "checkpoint of origin {:?}, signed by the key of {:?}",
                checkpoint.origin,
                verifier.name()
            )));
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_through_its_signed_note() {
        let signer = Signer::from_seed("ledger.example/coalitions", [3; 32]).unwrap();
        let c = Checkpoint { origin: "ledger.example/coalitions".into(), size: 20852163, root: [9; 32] };
        let note = c.sign(&signer).unwrap();
        assert!(note.starts_with("ledger.example/coalitions\n20852163\nCQkJ"), "{note}");
        assert_eq!(Checkpoint::verify(&note, &signer.verifier()).unwrap(), c);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = STANDARD.encode([0u8; 32]);
        for bad in [
            format!("o\n01\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("\n1\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{root}\nextension\n"),
            format!("o\n1\n{root}"),
            format!("o\n99999999999999999999999\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size, 0);
    }

    #[test]
    fn a_checkpoint_signed_for_another_origin_is_refused() {
        let signer = Signer::from_seed("a.example/log", [3; 32]).unwrap();
        let note = Checkpoint { origin: "b.example/log".into(), size: 1, root: [0; 32] }.sign(&signer).unwrap();
        assert!(Checkpoint::verify(&note, &signer.verifier()).is_err());
    }
}
