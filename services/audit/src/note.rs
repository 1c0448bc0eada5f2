//! C2SP `signed-note` with Ed25519 (signature type 0x01): keys in the text forms Go's `sumdb/note` uses (verifier
//! key `<name>+<hex key id>+<base64(0x01 || public key)>`, signer key `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01
//! || seed)>`), signing a text, and verifying a note against one trusted key (other signatures are ignored, as
//! the spec requires).
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 keys.
const ED25519: u8 = 0x01;
/// Most signature lines a note may have (the spec asks verifiers to accept at least 16).
const MAX_SIGNATURES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    MalformedKey(String),
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("the note has no valid signature by {name}+{id:08x}")]
    Unverified { name: String, id: u32 },
    #[error("the text to sign is not a note text: {0}")]
    BadText(String),
}

/// The key id: the first four bytes of SHA-256(name || 0x0A || 0x01 || public key), big-endian.
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(public);
    let d: [u8; 32] = h.finalize().into();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn valid_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(NoteError::MalformedKey(format!("key name {name:?}: non-empty, no spaces, no '+'")));
    }
    Ok(())
}

/// A key that signs notes. Its `Debug` shows the name and id, never the seed.
#[derive(Clone)]
pub struct Signer {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.id)
    }
}

impl Signer {
    /// A signer named `name` with the Ed25519 key of `seed`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        valid_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        Ok(Self { id: key_id(name, &key.verifying_key().to_bytes()), name: name.to_owned(), key })
    }

    /// Reads the text form `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::MalformedKey(format!("signer key: {why}"));
        let rest = skey.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(|| bad("does not start with PRIVATE+KEY+"))?;
        let (name, id, key) = split_key(rest).ok_or_else(|| bad("expected <name>+<hex id>+<base64 key>"))?;
        let bytes = STANDARD.decode(key).map_err(|_| bad("the key is not base64"))?;
        let seed: [u8; 32] = match bytes.split_first() {
            Some((&ED25519, seed)) => seed.try_into().map_err(|_| bad("an Ed25519 seed has 32 bytes"))?,
            _ => return Err(bad("not an Ed25519 (0x01) key")),
        };
        let signer = Self::from_seed(name, seed)?;
        if signer.id != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(signer)
    }

    /// The text form read by [`Self::parse`]. A secret: write it to a file only the notary reads.
    pub fn to_skey(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(&self.key.to_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.id, STANDARD.encode(bytes))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// The verifier of this signer's notes.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), id: self.id, key: self.key.verifying_key() }
    }

    /// Signs `text` (which must end in a newline and hold no control character but newlines): the signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes()).to_bytes();
        let mut bytes = self.id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&signature);
        Ok(format!("{text}\n\u{2014} {} {}\n", self.name, STANDARD.encode(bytes)))
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::BadText("it must end in a newline".into()));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::BadText("it holds a control character other than newline".into()));
    }
    Ok(())
}

/// `<name>+<hex id>+<rest>`: the name, the id and the rest.
fn split_key(s: &str) -> Option<(&str, u32, &str)> {
    let mut parts = s.splitn(3, '+');
    let name = parts.next()?;
    let id = parts.next()?;
    let rest = parts.next()?;
    if id.len() != 8 {
        return None;
    }
    Some((name, u32::from_str_radix(id, 16).ok()?, rest))
}

/// A trusted key that verifies notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl Verifier {
    /// Reads the `vkey` form `<name>+<hex id>+<base64(0x01 || public key)>`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::MalformedKey(format!("verifier key: {why}"));
        let (name, id, key) = split_key(vkey.trim()).ok_or_else(|| bad("expected <name>+<hex id>+<base64 key>"))?;
        valid_name(name)?;
        let bytes = STANDARD.decode(key).map_err(|_| bad("the key is not base64"))?;
        let public: [u8; 32] = match bytes.split_first() {
            Some((&ED25519, public)) => public.try_into().map_err(|_| bad("an Ed25519 public key has 32 bytes"))?,
            _ => return Err(bad("not an Ed25519 (0x01) key")),
        };
        if key_id(name, &public) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 point"))?;
        Ok(Self { name: name.to_owned(), id, key })
    }

    /// The `vkey` text form.
    pub fn to_vkey(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(&self.key.to_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, STANDARD.encode(bytes))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// The text of `note` if one of its signatures is this key's and verifies; other signatures are ignored.
    pub fn verify<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let (text, signatures) = split_note(note)?;
        for line in signatures.lines().take(MAX_SIGNATURES) {
            let Some((name, sig)) = line.strip_prefix("\u{2014} ").and_then(|l| l.split_once(' ')) else {
                return Err(NoteError::Malformed(format!("signature line {line:?}")));
            };
            let Ok(bytes) = STANDARD.decode(sig) else {
                return Err(NoteError::Malformed(format!("signature of {name} is not base64")));
            };
            if name != self.name || bytes.len() < 4 || bytes[..4] != self.id.to_be_bytes() {
                continue;
            }
            let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes[4..]) else { continue };
            if self.key.verify(text.as_bytes(), &signature).is_ok() {
                return Ok(text);
            }
        }
        Err(NoteError::Unverified { name: self.name.clone(), id: self.id })
    }
}

/// The text (with its final newline) and the signature lines of a note, split at its last blank line.
fn split_note(note: &str) -> Result<(&str, &str), NoteError> {
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("a control character other than newline".into()));
    }
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("it does not end in a newline".into()));
    }
    let at = note.rfind("\n\n").ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
    let (text, signatures) = (&note[..at + 1], &note[at + 2..]);
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature".into()));
    }
    Ok((text, signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the C2SP signed-note specification.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn given_the_specs_example_then_its_vkey_verifies_its_note() {
        let v = Verifier::parse(SPEC_VKEY).unwrap();
        assert_eq!((v.name(), v.id()), ("example.com/foo", 0x530d903a));
        assert_eq!(v.to_vkey(), SPEC_VKEY);
        assert_eq!(v.verify(SPEC_NOTE).unwrap(), "This is an example message.\n");
        let changed = SPEC_NOTE.replace("example message", "example massage");
        assert_eq!(v.verify(&changed), Err(NoteError::Unverified { name: "example.com/foo".into(), id: 0x530d903a }));
    }

    #[test]
    fn a_signed_note_verifies_with_its_key_only_and_keys_round_trip_through_their_text_forms() {
        let signer = Signer::from_seed("ledger.example/log", [7; 32]).unwrap();
        let note = signer.sign("ledger.example/log\n3\nAAAA\n").unwrap();
        assert_eq!(signer.verifier().verify(&note).unwrap(), "ledger.example/log\n3\nAAAA\n");
        let again = Signer::parse(&signer.to_skey()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        assert_eq!(Verifier::parse(&signer.verifier().to_vkey()).unwrap(), signer.verifier());
        let other = Signer::from_seed("ledger.example/log", [8; 32]).unwrap();
        assert!(other.verifier().verify(&note).is_err(), "another key of the same name");
        // A note with a second, unknown signature still verifies with the trusted one.
        let cosigned = format!("{note}\u{2014} witness.example AAAAAAAA\n");
        assert!(signer.verifier().verify(&cosigned).is_ok());
        assert!(format!("{signer:?}").contains("ledger.example/log+"), "Debug names the key");
        assert!(!format!("{signer:?}").contains(&signer.to_skey()), "Debug never shows the seed");
    }

    #[test]
    fn malformed_keys_and_notes_are_refused_with_a_reason() {
        assert!(Verifier::parse("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").is_err());
        assert!(Verifier::parse("no-plus-signs").is_err());
        assert!(Signer::parse("example.com/foo+530d903a+AAAA").is_err());
        assert!(Signer::from_seed("has space", [1; 32]).is_err());
        let v = Verifier::parse(SPEC_VKEY).unwrap();
        for bad in ["", "text\n", "text\n\n", "text\n\n\u{2014} x\n", "te\u{7}xt\n\n\u{2014} a b\n"] {
            assert!(v.verify(bad).is_err(), "{bad:?}");
        }
        let s = Signer::from_seed("k", [1; 32]).unwrap();
        assert!(s.sign("no final newline").is_err());
        assert!(s.sign("a\ttab\n").is_err());
    }
}
