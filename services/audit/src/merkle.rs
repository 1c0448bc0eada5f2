//! RFC 9162 §2.1 Merkle trees over SHA-256: leaf hash `SHA-256(0x00 || leaf)`, node hash
//! `SHA-256(0x01 || left || right)`, the root of any size, inclusion and consistency proofs computed from the
//! hashes of complete subtrees, and their verification (§2.1.3.2, §2.1.4.2).
//!
//! Subtrees are named as in tlog-tiles: the node at `(level, index)` is the root of the complete subtree over
//! leaves `index * 2^level .. (index + 1) * 2^level`. Whoever keeps the tree stores those nodes ([`NodeSource`]);
//! every proof and root for a size is computed from O(log n) of them.
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of a leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the tree over `leaves` (leaf hashes), by the definition (RFC 9162 §2.1.1): the left subtree holds
/// the largest power of two below the size.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (n >= 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Why a proof does not verify, or cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("size {first} is larger than size {second}")]
    SizesReversed { first: u64, second: u64 },
    #[error("a consistency proof from size 0 is meaningless (every tree extends the empty one)")]
    FromEmpty,
    #[error("the proof has {got} hashes, a proof for these sizes has {want}")]
    WrongLength { got: usize, want: usize },
    #[error("the proof does not lead to the expected root {}", hex(.expected))]
    RootMismatch { expected: Hash, computed: Hash },
    #[error("the proof does not lead to the earlier root {}", hex(.expected))]
    FirstRootMismatch { expected: Hash, computed: Hash },
    #[error("the subtree ({level}, {index}) is not stored")]
    MissingNode { level: u8, index: u64 },
}

/// Lower-case hex of a hash, for messages.
pub fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes of complete subtrees, by `(level, index)` (see the module's documentation).
pub trait NodeSource {
    fn node(&self, level: u8, index: u64) -> Option<Hash>;
}

/// Stored nodes by `(level, index)`.
pub type NodeMap = std::collections::HashMap<(u8, u64), Hash>;

impl NodeSource for NodeMap {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        self.get(&(level, index)).copied()
    }
}

/// The nodes a computation over a [`NodeSource`] reads, for a store that fetches only those: run the computation
/// once against the recorder (every node it is handed is zeroes), fetch [`NodeRecorder::needed`], run it again on
/// them. Which nodes a root or proof reads depends only on the sizes and indexes, never on the hashes.
#[derive(Debug, Default)]
pub struct NodeRecorder(std::cell::RefCell<std::collections::BTreeSet<(u8, u64)>>);

impl NodeRecorder {
    /// The `(level, index)` of every node read so far, in order.
    pub fn needed(&self) -> Vec<(u8, u64)> {
        self.0.borrow().iter().copied().collect()
    }
}

impl NodeSource for NodeRecorder {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        self.0.borrow_mut().insert((level, index));
        Some([0; 32])
    }
}

/// The root of the subtree over leaves `start..end` of any tree that holds them, from complete subtrees of
/// `nodes`: `start` must be a multiple of the largest power of two not above `end - start` (as every subtree of
/// RFC 9162's definition is).
pub fn subtree_root(nodes: &(impl NodeSource + ?Sized), start: u64, end: u64) -> Result<Hash, ProofError> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return nodes.node(level, start >> level).ok_or(ProofError::MissingNode { level, index: start >> level });
    }
    let k = split(n);
    Ok(node_hash(&subtree_root(nodes, start, start + k)?, &subtree_root(nodes, start + k, end)?))
}

/// The root of the tree of `size` leaves.
pub fn root(nodes: &(impl NodeSource + ?Sized), size: u64) -> Result<Hash, ProofError> {
    subtree_root(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1), leaf to root.
pub fn inclusion_proof(nodes: &(impl NodeSource + ?Sized), index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(nodes, index, 0, size, &mut proof)?;
    Ok(proof)
}

/// PATH(m, D[start:end]), appended to `out` from the leaf up.
fn path(
    nodes: &(impl NodeSource + ?Sized),
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(nodes, m, start, start + k, out)?;
        out.push(subtree_root(nodes, start + k, end)?);
    } else {
        path(nodes, m - k, start + k, end, out)?;
        out.push(subtree_root(nodes, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `first` and `second` leaves (RFC 9162 §2.1.4.1).
pub fn consistency_proof(nodes: &(impl NodeSource + ?Sized), first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
    if first > second {
        return Err(ProofError::SizesReversed { first, second });
    }
    if first == 0 {
        return Err(ProofError::FromEmpty);
    }
    let mut proof = Vec::new();
    if first < second {
        subproof(nodes, first, 0, second, true, &mut proof)?;
    }
    Ok(proof)
}

/// SUBPROOF(m, D[start:end], b).
fn subproof(
    nodes: &(impl NodeSource + ?Sized),
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(subtree_root(nodes, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, start, start + k, whole, out)?;
        out.push(subtree_root(nodes, start + k, end)?);
    } else {
        subproof(nodes, m - k, start + k, end, false, out)?;
        out.push(subtree_root(nodes, start, start + k)?);
    }
    Ok(())
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_length(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    if r == *root { Ok(()) } else { Err(ProofError::RootMismatch { expected: *root, computed: r }) }
}

/// How many hashes the inclusion proof of `index` in a tree of `size` has.
fn inclusion_length(index: u64, size: u64) -> usize {
    // The levels below the point where the paths to `index` and to the last leaf part, plus the right border
    // above it.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Verifies that the tree of `second` leaves with root `second_root` extends the tree of `first` leaves with root
/// `first_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesReversed { first, second });
    }
    if first == 0 {
        return Err(ProofError::FromEmpty);
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len(), want: 0 });
        }
        return if first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch { expected: *second_root, computed: *first_root })
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength { got: 0, want: 1 });
    }
    // 1. If first is an exact power of 2, prepend first_root to the proof.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    // 2-3.
    let (mut f_n, mut s_n) = (first - 1, second - 1);
    // 4.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5.
    let mut fr = path[0];
    let mut sr = path[0];
    // 6.
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want: proof.len() - 1 });
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // 7.
    if s_n != 0 {
        return Err(ProofError::WrongLength { got: proof.len(), want: proof.len() + 1 });
    }
    if fr != *first_root {
        return Err(ProofError::FirstRootMismatch { expected: *first_root, computed: fr });
    }
    if sr != *second_root {
        return Err(ProofError::RootMismatch { expected: *second_root, computed: sr });
    }
    Ok(())
}

/// A tree kept incrementally, O(log n) per leaf: the roots of the complete subtrees on its right border (its
/// "compact range"). Appending returns the nodes that became complete, for whoever stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    size: u64,
    /// One hash per set bit of `size`, highest level first.
    border: Vec<Hash>,
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree of `size` leaves whose right border is `border` (the complete subtrees of `size`'s set bits,
    /// highest level first), as read back from a store; `None` if `border` does not fit `size`.
    pub fn from_border(size: u64, border: Vec<Hash>) -> Option<Self> {
        (border.len() == size.count_ones() as usize).then_some(Self { size, border })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn border(&self) -> &[Hash] {
        &self.border
    }

    /// Appends a leaf (its hash); returns the nodes `(level, index, hash)` completed by it, the leaf first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let mut completed = vec![(0u8, self.size, leaf)];
        let mut hash = leaf;
        let mut level = 0u8;
        let mut index = self.size;
        // Each trailing one bit of the old size is a complete subtree that merges with the new one.
        while index & 1 == 1 {
            let left = self.border.pop().unwrap_or_else(|| unreachable!("one border hash per set bit of the size"));
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push((level, index, hash));
        }
        self.border.push(hash);
        self.size += 1;
        completed
    }

    /// The root of the tree as it is now.
    pub fn root(&self) -> Hash {
        let mut hashes = self.border.iter().rev();
        let Some(first) = hashes.next() else { return empty_root() };
        hashes.fold(*first, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves and roots of the reference tree used by RFC 6962 implementations (Certificate Transparency's
    /// test data, as in transparency-dev/merkle's `testonly/constants.go`).
    fn leaves() -> Vec<Vec<u8>> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|h| unhex(h))
            .collect()
    }

    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn h(s: &str) -> Hash {
        unhex(s).try_into().unwrap()
    }

    /// A tree of `n` leaves built incrementally, with every completed node stored.
    fn grown(leaves: &[Hash]) -> (Tree, NodeMap) {
        let mut tree = Tree::new();
        let mut nodes = NodeMap::default();
        for leaf in leaves {
            for (level, index, hash) in tree.push(*leaf) {
                nodes.insert((level, index), hash);
            }
        }
        (tree, nodes)
    }

    fn generated(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    #[test]
    fn given_the_reference_leaves_then_every_root_is_the_known_answer() {
        let hashes: Vec<Hash> = leaves().iter().map(|l| leaf_hash(l)).collect();
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(root_of(&hashes[..n]), h(want), "root of {n} by definition");
            let (tree, nodes) = grown(&hashes[..n]);
            assert_eq!(tree.root(), h(want), "root of {n} grown incrementally");
            assert_eq!(root(&nodes, n as u64).unwrap(), h(want), "root of {n} from stored nodes");
        }
    }

    #[test]
    fn given_any_tree_up_to_70_leaves_then_every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        let all = generated(70);
        let (_, nodes) = grown(&all);
        for size in 1..=70u64 {
            let r = root_of(&all[..size as usize]);
            for index in 0..size {
                let proof = inclusion_proof(&nodes, index, size).unwrap();
                assert_eq!(proof.len(), inclusion_length(index, size), "{index} in {size}");
                verify_inclusion(index, size, &all[index as usize], &proof, &r).unwrap();
                let other = all[((index + 1) % size) as usize];
                if size > 1 {
                    assert!(verify_inclusion(index, size, &other, &proof, &r).is_err(), "{index} in {size}");
                }
            }
        }
    }

    #[test]
    fn given_any_two_sizes_up_to_70_then_the_consistency_proof_verifies_and_a_forked_root_does_not() {
        let all = generated(70);
        let (_, nodes) = grown(&all);
        for second in 1..=70u64 {
            let r2 = root_of(&all[..second as usize]);
            for first in 1..=second {
                let r1 = root_of(&all[..first as usize]);
                let proof = consistency_proof(&nodes, first, second).unwrap();
                verify_consistency(first, second, &proof, &r1, &r2).unwrap();
                let forked = leaf_hash(b"forked");
                assert!(verify_consistency(first, second, &proof, &forked, &r2).is_err(), "{first}->{second}");
                assert!(verify_consistency(first, second, &proof, &r1, &forked).is_err(), "{first}->{second}");
            }
        }
    }

    #[test]
    fn a_tree_read_back_from_its_border_goes_on_as_if_it_had_never_stopped() {
        let all = generated(37);
        let (mut whole, _) = grown(&all);
        let (part, _) = grown(&all[..20]);
        let mut resumed = Tree::from_border(part.size(), part.border().to_vec()).unwrap();
        for leaf in &all[20..] {
            resumed.push(*leaf);
        }
        assert_eq!(resumed, whole);
        assert_eq!(resumed.root(), root_of(&all));
        assert!(Tree::from_border(5, vec![[0; 32]]).is_none(), "5 has two set bits");
        whole.push(all[0]);
        assert_eq!(whole.size(), 38);
    }

    #[test]
    fn given_the_nodes_a_recorder_names_then_every_proof_is_the_same_as_from_every_node() {
        let all = generated(70);
        let (_, nodes) = grown(&all);
        for second in 1..=70u64 {
            for first in 1..=second {
                let recorder = NodeRecorder::default();
                consistency_proof(&recorder, first, second).unwrap();
                inclusion_proof(&recorder, first - 1, second).unwrap();
                root(&recorder, second).unwrap();
                let needed = recorder.needed();
                let log2 = u64::BITS - second.leading_zeros();
                assert!(
                    needed.len() as u32 <= 2 * log2 + 2,
                    "O(log n) nodes for {first} -> {second}: {}",
                    needed.len()
                );
                let fetched: NodeMap = needed.iter().map(|&(l, i)| ((l, i), nodes[&(l, i)])).collect();
                assert_eq!(consistency_proof(&fetched, first, second), consistency_proof(&nodes, first, second));
                assert_eq!(inclusion_proof(&fetched, first - 1, second), inclusion_proof(&nodes, first - 1, second));
                assert_eq!(root(&fetched, second), root(&nodes, second));
            }
        }
    }
}
