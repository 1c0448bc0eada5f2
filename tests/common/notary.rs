//! The notary's side of the harness: a key of its own per test, the replayed log's leaf hashes, the audit client.
use std::path::PathBuf;

use futures::TryStreamExt;
use ledger_audit::merkle::{self, Hash};
use ledger_audit::{Signer, Verifier};
use ledger_proto::v1;
use ledger_proto::v1::ledger_audit_client::LedgerAuditClient;
use tonic::transport::Channel;

use super::{TestApp, channel};

pub const ORIGIN: &str = "test.example/ledger";

/// A notary signer key of its own, written to `dir/notary.key`.
pub fn key(dir: &tempfile::TempDir) -> (PathBuf, Verifier) {
    let (path, signer) = signer(dir);
    (path, signer.verifier())
}

/// A notary signer of its own, also written to `dir/notary.key`.
pub fn signer(dir: &tempfile::TempDir) -> (PathBuf, Signer) {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let signer = Signer::from_seed(ORIGIN, seed).unwrap();
    let path = dir.path().join("notary.key");
    std::fs::write(&path, signer.to_skey()).unwrap();
    (path, signer)
}

/// The log's leaf hashes, from the stored bytes a replay returns.
pub async fn leaves(app: &mut TestApp) -> Vec<Hash> {
    let events: Vec<v1::RecordedEvent> =
        app.replay.replay(v1::ReplayRequest::default()).await.unwrap().into_inner().try_collect().await.unwrap();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(e.position, i as u64 + 1);
            merkle::leaf_hash(&e.stored)
        })
        .collect()
}

pub async fn audit_client(app: &TestApp) -> LedgerAuditClient<Channel> {
    LedgerAuditClient::new(channel(app.query_addr).await)
}
