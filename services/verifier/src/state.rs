//! The last checkpoint an auditor trusted, kept between runs in a small file (the signed note itself, as a Go
//! sumdb client keeps its latest tree head): the next run proves the new checkpoint consistent with it, and refuses
//! a log that went back or forked.
use std::path::{Path, PathBuf};

use ledger_audit::{Checkpoint, Verifier};

/// The default state file for a log: `$XDG_STATE_HOME/coalition-ledger/<origin>.checkpoint`, or under
/// `~/.local/state`; the origin with every character but `[A-Za-z0-9.-]` as `_`.
pub fn default_path(origin: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    let name: String =
        origin.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    Some(base.join("coalition-ledger").join(format!("{name}.checkpoint")))
}

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("state file {path} does not hold a checkpoint signed by the key of {key}: {reason}")]
    Invalid { path: String, key: String, reason: String },
}

/// The checkpoint trusted before, if the file exists; its signature is checked again.
pub fn load(path: &Path, verifier: &Verifier) -> Result<Option<Checkpoint>, StateError> {
    let note = match std::fs::read_to_string(path) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StateError::Io { path: path.display().to_string(), error }),
    };
    Checkpoint::verify(&note, verifier).map(Some).map_err(|e| StateError::Invalid {
        path: path.display().to_string(),
        key: verifier.name().to_owned(),
        reason: e.to_string(),
    })
}

/// Keeps `note` as the checkpoint trusted from now on: written beside the file and renamed over it, so a crash
/// leaves the old one or the new one, never half of one.
pub fn save(path: &Path, note: &str) -> Result<(), StateError> {
    let io = |error| StateError::Io { path: path.display().to_string(), error };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("checkpoint.tmp");
    std::fs::write(&tmp, note).map_err(io)?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_checkpoint_loads_back_and_one_signed_by_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/log.checkpoint");
        let signer = ledger_audit::Signer::from_seed("example.org/log", [7; 32]).unwrap();
        let verifier = signer.verifier();
        assert_eq!(load(&path, &verifier).unwrap(), None, "no file yet");
        let c = Checkpoint { origin: "example.org/log".into(), size: 3, root: [9; 32] };
        save(&path, &c.sign(&signer).unwrap()).unwrap();
        assert_eq!(load(&path, &verifier).unwrap(), Some(c));
        let other = ledger_audit::Signer::from_seed("example.org/log", [8; 32]).unwrap().verifier();
        let e = load(&path, &other).unwrap_err().to_string();
        assert!(e.contains("does not hold a checkpoint signed by the key of example.org/log"), "{e}");
    }
}
