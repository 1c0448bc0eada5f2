//! Ed25519 signing keys and the public key file: generation, key ids, and a key set that reloads when its file
//! changes or on SIGHUP, so keys rotate without a restart.
//!
//! The public key file is a JSON Web Key Set (RFC 7517) of `OKP`/`Ed25519` keys, each with its `kid`: the RFC 7638
//! thumbprint of the key, so the same key always has the same id. A private key is a PKCS#8 PEM file.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.display().to_string(), source }
}

fn invalid(path: &Path, reason: impl Into<String>) -> KeyError {
    KeyError::Invalid { path: path.display().to_string(), reason: reason.into() }
}

/// One public key of a key set, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    #[serde(default)]
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "use")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

impl Jwk {
    fn ed25519(public: &[u8; 32]) -> Self {
        let x = URL_SAFE_NO_PAD.encode(public);
        Self {
            kid: thumbprint(&x),
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
            use_: Some("sig".into()),
            alg: Some("EdDSA".into()),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// RFC 7638 thumbprint of an Ed25519 key: SHA-256 of its canonical JSON, base64url.
pub fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// The PKCS#8 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// A private signing key read from its PEM file, with its key id.
pub struct SigningKey {
    pub kid: String,
    pem: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(io(path))?;
        let text = std::str::from_utf8(&pem).map_err(|_| invalid(path, "not a PEM file"))?;
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body.trim()).map_err(|e| invalid(path, format!("not a PEM file: {e}")))?;
        let seed: [u8; 32] = match der.strip_prefix(&PKCS8_PREFIX[..]) {
            Some(seed) => seed.try_into().map_err(|_| invalid(path, "not an Ed25519 PKCS#8 private key"))?,
            None => return Err(invalid(path, "not an Ed25519 PKCS#8 private key")),
        };
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        Ok(Self { kid: Jwk::ed25519(&public).kid, pem })
    }

    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, jsonwebtoken::errors::Error> {
        jsonwebtoken::EncodingKey::from_ed_pem(&self.pem)
    }
}

/// What `keygen` wrote.
#[derive(Debug)]
pub struct Generated {
    pub private_key: PathBuf,
    pub public_keys: PathBuf,
    pub kid: String,
}

/// Writes a new Ed25519 key pair into `dir`: the private key as `<name>.pem` (owner-only), its public key added to
/// `public-keys.json` there (created if missing; keys already in it stay, so a new key can be added before the old
/// one is retired).
pub fn generate(dir: &Path, name: &str) -> Result<Generated, KeyError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let private_key = dir.join(format!("{name}.pem"));
    if private_key.exists() {
        return Err(invalid(&private_key, "exists already; choose another --name or remove it"));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| invalid(dir, format!("no randomness: {e}")))?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    let body = STANDARD.encode(&der);
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
    write_private(&private_key, pem.as_bytes())?;

    let public_keys = dir.join("public-keys.json");
    let mut set = if public_keys.exists() { read_set(&public_keys)? } else { JwkSet::default() };
    let jwk = Jwk::ed25519(&public);
    let kid = jwk.kid.clone();
    set.keys.retain(|k| k.kid != kid);
    set.keys.push(jwk);
    write_set(&public_keys, &set)?;
    Ok(Generated { private_key, public_keys, kid })
}

/// Removes the key `kid` from a public key file (retiring a key after rotation). True if it was there.
pub fn remove(public_keys: &Path, kid: &str) -> Result<bool, KeyError> {
    let mut set = read_set(public_keys)?;
    let before = set.keys.len();
    set.keys.retain(|k| k.kid != kid);
    if set.keys.is_empty() && before > 0 {
        // A server cannot run on an empty set (and keeps its old keys if the file turns empty under it).
        return Err(invalid(public_keys, "removing the last key would leave none: add the new key first"));
    }
    write_set(public_keys, &set)?;
    Ok(set.keys.len() != before)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))
}

/// Writes through a temporary file and a rename, so a server reloading it never reads half a file.
fn write_set(path: &Path, set: &JwkSet) -> Result<(), KeyError> {
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(set).map_err(|e| invalid(path, e.to_string()))?;
    std::fs::write(&tmp, json).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn read_set(path: &Path) -> Result<JwkSet, KeyError> {
    parse_set(path, &std::fs::read(path).map_err(io(path))?)
}

fn parse_set(path: &Path, bytes: &[u8]) -> Result<JwkSet, KeyError> {
    serde_json::from_slice(bytes).map_err(|e| invalid(path, format!("not a JSON Web Key Set: {e}")))
}

/// Verification keys by key id.
#[derive(Clone)]
pub struct KeySet {
    keys: BTreeMap<String, DecodingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.keys()).finish()
    }
}

impl KeySet {
    /// Reads and checks a public key file: every key Ed25519, with a unique id.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        Self::check(path, read_set(path)?)
    }

    fn check(path: &Path, set: JwkSet) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for (i, k) in set.keys.iter().enumerate() {
            if k.kty != "OKP" || k.crv != "Ed25519" {
                return Err(invalid(path, format!("keys[{i}]: only OKP/Ed25519 keys are accepted")));
            }
            let raw = URL_SAFE_NO_PAD.decode(&k.x).map_err(|e| invalid(path, format!("keys[{i}].x: {e}")))?;
            if raw.len() != 32 {
                return Err(invalid(path, format!("keys[{i}].x: {} bytes, an Ed25519 key has 32", raw.len())));
            }
            let kid = if k.kid.is_empty() { thumbprint(&k.x) } else { k.kid.clone() };
            let key = DecodingKey::from_ed_components(&k.x).map_err(|e| invalid(path, format!("keys[{i}]: {e}")))?;
            if keys.insert(kid.clone(), key).is_some() {
                return Err(invalid(path, format!("keys[{i}]: key id {kid:?} appears twice")));
            }
        }
        if keys.is_empty() {
            return Err(invalid(path, "holds no key"));
        }
        Ok(Self { keys })
    }

    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }
}

/// A key set read from a file and read again when the file changes.
#[derive(Debug, Clone)]
pub struct KeyStore {
    path: PathBuf,
    /// The keys in service, and the content hash of the file they were read from (what tells a changed file).
    current: Arc<RwLock<(Arc<KeySet>, [u8; 32])>>,
}

impl KeyStore {
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        let set = KeySet::check(path, parse_set(path, &bytes)?)?;
        let hash = sha2::Sha256::digest(&bytes).into();
        Ok(Self { path: path.to_owned(), current: Arc::new(RwLock::new((Arc::new(set), hash))) })
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Reads the file again if it changed (or if `force`). A file that does not read keeps the old keys in
    /// service (and is reported), so a half-edited file never locks every caller out.
    pub fn reload(&self, force: bool) -> Result<bool, KeyError> {
        let bytes = std::fs::read(&self.path).map_err(io(&self.path))?;
        let hash: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        if !force && self.current.read().unwrap_or_else(|p| p.into_inner()).1 == hash {
            return Ok(false);
        }
        let set = parse_set(&self.path, &bytes).and_then(|s| KeySet::check(&self.path, s));
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        // A file that does not read is not read again until it changes; the keys in service stay.
        current.1 = hash;
        current.0 = Arc::new(set?);
        Ok(true)
    }

    /// Reloads on SIGHUP and when the file changes (checked every `every`), until `stop`.
    pub async fn watch(self, every: Duration, stop: tokio_util::sync::CancellationToken) {
        let mut last_error = String::new();
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP; key file changes are still noticed"))
            .ok();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            let force = tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => false,
                _ = hangup => true,
            };
            match self.reload(force) {
                Ok(changed) => {
                    if changed {
                        tracing::info!(path = %self.path.display(), keys = ?self.current().ids(), "public keys reloaded");
                    }
                    last_error.clear();
                }
                Err(e) => {
                    crate::metrics::key_reload_failed();
                    // Logged when it starts or changes, not every second.
                    if e.to_string() != last_error {
                        tracing::error!(error = %e, "public keys not reloaded; the previous keys stay in use");
                        last_error = e.to_string();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_generated_key_pair_reads_back_with_the_same_key_id() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate(dir.path(), "signing").unwrap();
        let private = SigningKey::read(&g.private_key).unwrap();
        assert_eq!(private.kid, g.kid);
        assert!(KeySet::read(&g.public_keys).unwrap().get(&g.kid).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&g.private_key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // A second key joins the set; the first can then be removed.
        let g2 = generate(dir.path(), "next").unwrap();
        assert_eq!(KeySet::read(&g.public_keys).unwrap().ids().len(), 2);
        assert!(remove(&g.public_keys, &g.kid).unwrap());
        assert_eq!(KeySet::read(&g.public_keys).unwrap().ids(), vec![g2.kid.clone()]);
        assert!(remove(&g.public_keys, &g2.kid).unwrap_err().to_string().contains("last key"));
        assert!(generate(dir.path(), "next").is_err(), "an existing private key is never overwritten");
    }

    #[test]
    fn a_bad_key_file_is_refused_and_a_reload_keeps_the_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate(dir.path(), "signing").unwrap();
        let store = KeyStore::open(&g.public_keys).unwrap();
        std::fs::write(&g.public_keys, r#"{"keys":[{"kty":"RSA","crv":"","x":""}]}"#).unwrap();
        let err = store.reload(false).unwrap_err();
        assert!(err.to_string().contains("OKP/Ed25519"), "{err}");
        assert!(store.current().get(&g.kid).is_some());
        std::fs::write(&g.public_keys, r#"{"keys":[]}"#).unwrap();
        assert!(KeySet::read(&g.public_keys).unwrap_err().to_string().contains("no key"));
    }
}
