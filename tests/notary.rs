//! The notary: signed checkpoints whose roots are those of the replayed log, consistent with each other, none
//! while idle, and the same roots after the notary is killed at any point and restarted.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use coalition_ledger::startup::Roles;
use common::*;
use futures::TryStreamExt;
use ledger_audit::merkle::{self, Hash};
use ledger_audit::{Checkpoint, Signer, Verifier};
use ledger_proto::v1;

const ORIGIN: &str = "test.example/ledger";

/// A notary key in a file of its own.
fn key(dir: &tempfile::TempDir) -> (PathBuf, Verifier) {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let signer = Signer::from_seed(ORIGIN, seed).unwrap();
    let path = dir.path().join("notary.key");
    std::fs::write(&path, signer.to_skey()).unwrap();
    (path, signer.verifier())
}

/// The log's leaf hashes, from the stored bytes a replay returns.
async fn leaves(app: &mut TestApp) -> Vec<Hash> {
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

/// The checkpoints of the checkpoint stream, verified with `vkey`.
async fn checkpoints(app: &TestApp, vkey: &Verifier) -> Vec<Checkpoint> {
    let log = ledger_log::Log::connect(&app.settings.log_config().unwrap()).await.unwrap();
    log.checkpoints().await.unwrap().iter().map(|c| Checkpoint::verify(&c.note, vkey).unwrap()).collect()
}

/// Waits until a checkpoint covers `size`.
async fn covered(app: &TestApp, vkey: &Verifier, size: u64) -> Vec<Checkpoint> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = checkpoints(app, vkey).await;
        if all.last().is_some_and(|c| c.size >= size) {
            return all;
        }
        assert!(tokio::time::Instant::now() < deadline, "no checkpoint of size {size}: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every checkpoint's root is the root of the replayed log's first `size` leaves, and the notary's stored tree
/// proves each one consistent with every later one and each leaf included.
async fn check(app: &TestApp, all: &[Checkpoint], leaves: &[Hash]) {
    let client = app.db.client().await;
    for c in all {
        assert_eq!(c.origin, ORIGIN);
        assert_eq!(c.root, merkle::root_of(&leaves[..c.size as usize]), "the root of size {}", c.size);
    }
    for (i, a) in all.iter().enumerate() {
        for b in &all[i..] {
            let proof = ledger_projector::notary::stored_consistency_proof(&client, a.size, b.size).await.unwrap();
            merkle::verify_consistency(a.size, b.size, &proof, &a.root, &b.root).unwrap();
        }
    }
    let last = all.last().unwrap();
    for index in 0..last.size {
        let proof = ledger_projector::notary::stored_inclusion_proof(&client, index, last.size).await.unwrap();
        merkle::verify_inclusion(index, last.size, &leaves[index as usize], &proof, &last.root).unwrap();
    }
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_events_or_t_seconds_with_the_replayed_logs_roots_and_none_while_idle() {
    let dir = tempfile::tempdir().unwrap();
    let (path, vkey) = key(&dir);
    let mut app = TestApp::spawn_with(Roles::ALL, |s| {
        s.notary.notary_key = Some(path);
        s.notary.checkpoint_every_events = 5;
        s.notary.checkpoint_every_ms = 300;
    })
    .await;
    let end = seed(&mut app, 12).await;
    let all = covered(&app, &vkey, end).await;
    let sizes: Vec<u64> = all.iter().map(|c| c.size).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "one checkpoint per size, growing: {sizes:?}");
    assert!(sizes.len() >= 2, "{end} events, a checkpoint every 5: {sizes:?}");
    // One more event: covered by the timer, though fewer than 5 arrived.
    let one = app.append.append(organisation("late")).await.unwrap().into_inner().revision;
    let all = covered(&app, &vkey, one).await;
    assert_eq!(all.last().unwrap().size, one);
    let leaves = leaves(&mut app).await;
    check(&app, &all, &leaves).await;
    // Idle: nothing more is signed.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(checkpoints(&app, &vkey).await.len(), all.len(), "a checkpoint was signed while idle");
    let text = metrics_text(app.metrics_addr).await;
    assert!(text.contains(&format!("ledger_notary_tree_size {one}")), "{text}");
    assert!(text.contains("ledger_notary_checkpoint_lag_events 0"), "{text}");
    // The notary's tables take no change.
    let client = app.db.client().await;
    let err = client.execute("UPDATE audit.nodes SET hash = hash", &[]).await.unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("append-only"), "{err:?}");
    let err = client.execute("DELETE FROM audit.checkpoints", &[]).await.unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("append-only"), "{err:?}");
}

/// Runs `ledger notary` as a process of its own until it exits (a fault aborts it) or the checkpoints cover
/// `until`, then stops it with SIGTERM.
async fn run_notary(app: &TestApp, key: &Path, vkey: &Verifier, fault: Option<&str>, until: u64) -> ExitStatus {
    let mut env: Vec<(&str, String)> = app.nats.env_as("notary").into();
    env.extend([
        ("LEDGER_DATABASE_URL", app.settings.database_url.clone()),
        ("LEDGER_NOTARY_KEY", key.display().to_string()),
        ("LEDGER_CHECKPOINT_EVERY_EVENTS", "4".into()),
        ("LEDGER_CHECKPOINT_EVERY_MS", "200".into()),
        ("LEDGER_PROJECTOR_BATCH", "3".into()),
    ]);
    run_ledger_process("notary", env, fault, async || {
        checkpoints(app, vkey).await.last().is_some_and(|c| c.size >= until)
    })
    .await
}

#[tokio::test]
async fn a_notary_killed_before_its_commit_or_its_publish_restarts_to_exactly_the_same_roots() {
    let dir = tempfile::tempdir().unwrap();
    let (path, vkey) = key(&dir);
    // The ledger without a notary of its own: the notary runs as a process, as its own NATS user.
    let mut app = TestApp::spawn_with(Roles::ALL, |_| {}).await;
    let end = seed(&mut app, 15).await;
    let client = app.db.client().await;
    let unpublished = || async {
        let rows = client.query("SELECT size FROM audit.checkpoints WHERE NOT published", &[]).await.unwrap();
        rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect::<Vec<u64>>()
    };
    // Killed as its tree passes 9, before the commit; then as a checkpoint past 20 is signed and committed but not
    // yet published.
    let status = run_notary(&app, &path, &vkey, Some("notary-before-commit:9"), end).await;
    assert!(!status.success(), "the fault did not fire ({status})");
    let status = run_notary(&app, &path, &vkey, Some("notary-before-publish:20"), end).await;
    assert!(!status.success(), "the fault did not fire ({status})");
    let left = unpublished().await;
    assert_eq!(left.len(), 1, "the checkpoint signed before the crash: {left:?}");
    let status = run_notary(&app, &path, &vkey, None, end).await;
    assert!(status.success() || status.code().is_none(), "{status}");
    let all = checkpoints(&app, &vkey).await;
    assert_eq!(all.last().unwrap().size, end, "{all:?}");
    let sizes: Vec<u64> = all.iter().map(|c| c.size).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "each checkpoint published once: {sizes:?}");
    // The one signed before the second crash was published after it, and every table row is in the stream.
    assert!(unpublished().await.is_empty());
    assert!(sizes.contains(&left[0]), "{sizes:?}");
    let rows: Vec<i64> = client
        .query("SELECT size FROM audit.checkpoints ORDER BY size", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows.iter().map(|s| *s as u64).collect::<Vec<_>>(), sizes);
    let leaves = leaves(&mut app).await;
    check(&app, &all, &leaves).await;
}

#[tokio::test]
async fn the_notary_runs_as_the_projectors_postgres_role_and_the_query_role_cannot_change_its_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (path, vkey) = key(&dir);
    let mut app = TestApp::spawn_with_separate_roles(|s| {
        s.notary.notary_key = Some(path);
        s.notary.checkpoint_every_events = 3;
    })
    .await;
    let end = seed(&mut app, 4).await;
    let all = covered(&app, &vkey, end).await;
    let leaves = leaves(&mut app).await;
    check(&app, &all, &leaves).await;
    // The query role reads the tree but cannot write it.
    let query = app.db.client_as("ledger_query").await;
    let n: i64 = query.query_one("SELECT count(*) FROM audit.checkpoints", &[]).await.unwrap().get(0);
    assert_eq!(n as usize, all.len());
    let err = query.execute("INSERT INTO audit.nodes VALUES (40, 0, sha256(''))", &[]).await.unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("permission denied"), "{err:?}");
}
