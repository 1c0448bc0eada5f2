//! The portable export (`proto/coalition/ledger/v1/export.proto`): a header with the signed checkpoints, then the
//! stored envelope of every position up to the latest checkpoint, as length-delimited protobuf messages. Written
//! from a running ledger by [`write`]; read back as a [`Source`] by [`ExportFile`], offline.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use ledger_audit::Hash;
use ledger_proto::v1;
use prost::Message;

use crate::remote::Remote;
use crate::source::{Leaf, Source, SourceError};

/// The header's `format`.
pub const FORMAT: &str = "coalition-ledger-export/v1";
/// The largest message the reader accepts (an event is at most the server's `--max-event-bytes`, far below).
const MAX_MESSAGE: u64 = 64 * 1024 * 1024;
/// Leaf hashes fetched per call while exporting.
const HASHES_PER_CALL: u64 = 10_000;

/// What an export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub origin: String,
    pub size: u64,
    pub checkpoints: usize,
    pub bytes: u64,
}

fn io(path: &Path, e: std::io::Error) -> SourceError {
    SourceError(format!("{}: {e}", path.display()))
}

/// Writes the log `remote` serves, up to its latest checkpoint, to `out`: first to `<out>.partial`, renamed once
/// complete and synced, so an interrupted export leaves no file that looks whole. `progress(done, total)` every few
/// thousand events.
pub async fn write(
    remote: &mut Remote,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExportSummary, SourceError> {
    let latest = remote.latest_checkpoint().await?;
    let checkpoints = remote.checkpoints_up_to(latest.size).await?;
    let header = v1::ExportHeader {
        format: FORMAT.into(),
        origin: latest.origin.clone(),
        size: latest.size,
        checkpoints: checkpoints.clone(),
    };
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial).map_err(|e| io(&partial, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut bytes = 0u64;
    let mut put = |w: &mut BufWriter<std::fs::File>, m: &dyn Fn(&mut Vec<u8>)| -> Result<(), SourceError> {
        let mut buf = Vec::new();
        m(&mut buf);
        bytes += buf.len() as u64;
        w.write_all(&buf).map_err(|e| io(&partial, e))
    };
    put(&mut w, &|b| header.encode_length_delimited(b).unwrap_or_else(|_| unreachable!("a Vec grows")))?;
    remote.start(latest.size).await?;
    // The notary's hashes of positions `signed_from..`, fetched a chunk at a time as the replay reaches them.
    let (mut signed, mut signed_from): (Vec<Hash>, u64) = (Vec::new(), 1);
    let mut written = 0u64;
    while written < latest.size {
        let Some(leaf) = remote.next_leaf().await? else { break };
        let p = leaf.position;
        if p != written + 1 {
            let _ = std::fs::remove_file(&partial);
            return Err(SourceError(format!(
                "the replay served position {p} after {written}: position {} is missing, so no export was written \
                 (`ledger audit verify` through the API names what differs)",
                written + 1
            )));
        }
        if p < signed_from || p >= signed_from + signed.len() as u64 {
            let count = HASHES_PER_CALL.min(latest.size.saturating_sub(p) + 1);
            signed = remote.leaf_hashes(p, count).await?.unwrap_or_default();
            signed_from = p;
        }
        let notary_leaf_hash =
            p.checked_sub(signed_from).and_then(|i| signed.get(i as usize)).map(|h| h.to_vec()).unwrap_or_default();
        let event = v1::ExportedEvent { position: leaf.position, stored: leaf.stored, notary_leaf_hash };
        put(&mut w, &|b| event.encode_length_delimited(b).unwrap_or_else(|_| unreachable!("a Vec grows")))?;
        written += 1;
        if written.is_multiple_of(4096) {
            progress(written, latest.size);
        }
    }
    progress(written, latest.size);
    if written < latest.size {
        let _ = std::fs::remove_file(&partial);
        return Err(SourceError(format!(
            "the replay ended at position {written}, but the latest checkpoint covers {}: no export was written",
            latest.size
        )));
    }
    let file = w.into_inner().map_err(|e| io(&partial, e.into_error()))?;
    file.sync_all().map_err(|e| io(&partial, e))?;
    std::fs::rename(&partial, out).map_err(|e| io(out, e))?;
    Ok(ExportSummary { origin: latest.origin, size: latest.size, checkpoints: checkpoints.len(), bytes })
}

/// An export file read as a [`Source`]: no network at all.
pub struct ExportFile {
    header: v1::ExportHeader,
    reader: BufReader<std::fs::File>,
    path: String,
    /// The notary's leaf hash of each position read so far.
    signed: HashMap<u64, Hash>,
}

impl ExportFile {
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let name = path.display().to_string();
        let header: v1::ExportHeader = read_message(&mut reader, &name)?
            .ok_or_else(|| SourceError(format!("{name}: empty file, not an export")))?;
        if header.format != FORMAT {
            return Err(SourceError(format!("{name}: format {:?}, this verifier reads {FORMAT:?}", header.format)));
        }
        Ok(Self { header, reader, path: name, signed: HashMap::new() })
    }

    pub fn header(&self) -> &v1::ExportHeader {
        &self.header
    }
}

/// The next length-delimited message, `None` at a clean end of file.
fn read_message<M: Message + Default>(r: &mut impl BufRead, path: &str) -> Result<Option<M>, SourceError> {
    let bad = |why: String| SourceError(format!("{path}: {why}"));
    let mut len = 0u64;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        match r.read(&mut byte) {
            Ok(0) if i == 0 => return Ok(None),
            Ok(0) => return Err(bad("the file ends inside a message's length".into())),
            Ok(_) => {}
            Err(e) => return Err(bad(e.to_string())),
        }
        len |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            if len > MAX_MESSAGE {
                return Err(bad(format!("a message of {len} bytes, more than the {MAX_MESSAGE} an export holds")));
            }
            let mut buf = vec![0u8; len as usize];
            r.read_exact(&mut buf).map_err(|e| bad(format!("the file ends inside a message: {e}")))?;
            return M::decode(buf.as_slice()).map(Some).map_err(|e| bad(format!("a message does not decode: {e}")));
        }
    }
    Err(bad("a message length longer than 10 bytes".into()))
}

impl Source for ExportFile {
    async fn checkpoints(&mut self) -> Result<Vec<String>, SourceError> {
        Ok(self.header.checkpoints.clone())
    }

    async fn start(&mut self, _size: u64) -> Result<(), SourceError> {
        Ok(())
    }

    async fn next_leaf(&mut self) -> Result<Option<Leaf>, SourceError> {
        let Some(e) = read_message::<v1::ExportedEvent>(&mut self.reader, &self.path)? else { return Ok(None) };
        if let Ok(h) = Hash::try_from(e.notary_leaf_hash) {
            self.signed.insert(e.position, h);
        }
        Ok(Some(Leaf { position: e.position, stored: e.stored, view: None }))
    }

    async fn leaf_hashes(&mut self, from_position: u64, count: u64) -> Result<Option<Vec<Hash>>, SourceError> {
        let hashes: Option<Vec<Hash>> =
            (from_position..from_position + count).map(|p| self.signed.get(&p).copied()).collect();
        Ok(hashes)
    }

    async fn consistency_proof(&mut self, _from: u64, _to: u64) -> Result<Option<Vec<Hash>>, SourceError> {
        Ok(None)
    }
}
