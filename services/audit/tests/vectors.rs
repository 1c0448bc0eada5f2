//! Every inclusion and consistency vector of transparency-dev/merkle's test data (see `testdata/README.md`),
//! verified with `ledger_audit::merkle`: the happy paths verify, every tampered case is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ledger_audit::merkle::{self, Hash};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

/// A hash as the vectors write it (base64). Some cases hold other byte strings on purpose (roots that are only
/// compared, garbage); those become a stand-in that equals the stand-in of the same bytes only and never a real
/// hash, so every comparison the verifier makes comes out as it would with the bytes themselves.
fn hash(s: &str) -> Option<Hash> {
    let bytes = STANDARD.decode(s).ok()?;
    Some(bytes.clone().try_into().unwrap_or_else(|_| {
        use sha2::Digest as _;
        sha2::Sha256::digest([b"not a 32-byte hash:".as_slice(), &bytes].concat()).into()
    }))
}

fn proof(p: &Option<Vec<String>>) -> Option<Vec<Hash>> {
    p.as_deref().unwrap_or_default().iter().map(|s| hash(s)).collect()
}

/// Every vector file under `testdata/<kind>`.
fn files(kind: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path, out) } else { out.push(path) }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(kind), &mut out);
    out.sort();
    out
}

#[test]
fn every_inclusion_vector_verifies_or_is_refused_as_it_should() {
    let (mut ok, mut refused) = (0, 0);
    for path in files("inclusion") {
        let v: Inclusion = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // A leaf hash must be one (only roots are compared as given).
        let leaf = STANDARD.decode(&v.leaf_hash).ok().and_then(|b| Hash::try_from(b).ok());
        let result = match (hash(&v.root), leaf, proof(&v.proof)) {
            (Some(root), Some(leaf), Some(p)) => merkle::verify_inclusion(v.leaf_idx, v.tree_size, &leaf, &p, &root),
            _ => Err(merkle::ProofError::WrongLength { got: 0, want: 0 }),
        };
        assert_eq!(result.is_err(), v.want_err, "{}: {result:?}", path.display());
        if v.want_err { refused += 1 } else { ok += 1 }
    }
    assert!(ok >= 5 && refused >= 50, "{ok} verified, {refused} refused: the vectors were not all read");
}

#[test]
fn every_consistency_vector_verifies_or_is_refused_as_it_should() {
    let (mut ok, mut refused) = (0, 0);
    for path in files("consistency") {
        let v: Consistency = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let result = match (hash(&v.root1), hash(&v.root2), proof(&v.proof)) {
            (Some(r1), Some(r2), Some(p)) => merkle::verify_consistency(v.size1, v.size2, &p, &r1, &r2),
            _ => Err(merkle::ProofError::WrongLength { got: 0, want: 0 }),
        };
        assert_eq!(result.is_err(), v.want_err, "{}: {result:?}", path.display());
        if v.want_err { refused += 1 } else { ok += 1 }
    }
    assert!(ok >= 5 && refused >= 50, "{ok} verified, {refused} refused: the vectors were not all read");
}
