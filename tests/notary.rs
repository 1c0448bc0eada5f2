//! The notary: signed checkpoints whose roots are those of the replayed log, consistent with each other, none
//! while idle, and the same roots after the notary is killed at any point and restarted.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use coalition_ledger::startup::Roles;
use common::notary::*;
use common::*;
use ledger_audit::merkle::{self, Hash};
use ledger_audit::{Checkpoint, Verifier};
use ledger_proto::v1;

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

/// Every checkpoint's root is the root of the replayed log's first `size` leaves, and the audit API proves each
/// one consistent with every later one and each leaf included, and serves the leaf hashes.
async fn check(app: &TestApp, all: &[Checkpoint], leaves: &[Hash]) {
    let mut audit = audit_client(app).await;
    for c in all {
        assert_eq!(c.origin, ORIGIN);
        assert_eq!(c.root, merkle::root_of(&leaves[..c.size as usize]), "the root of size {}", c.size);
    }
    for (i, a) in all.iter().enumerate() {
        for b in &all[i..] {
            let req = v1::ConsistencyProofRequest { from_size: a.size, to_size: b.size };
            let proof = audit.consistency_proof(req).await.unwrap().into_inner();
            merkle::verify_consistency(a.size, b.size, &hashes(proof.hashes), &a.root, &b.root).unwrap();
        }
    }
    let last = all.last().unwrap();
    for position in 1..=last.size {
        let req = v1::InclusionProofRequest { position, tree_size: last.size };
        let proof = audit.inclusion_proof(req).await.unwrap().into_inner();
        let leaf = &leaves[position as usize - 1];
        assert_eq!(proof.leaf_hash, leaf.to_vec(), "the leaf hash of position {position}");
        merkle::verify_inclusion(position - 1, last.size, leaf, &hashes(proof.hashes), &last.root).unwrap();
    }
    let req = v1::LeafHashesRequest { from_position: 1, count: last.size as u32 };
    let served = audit.leaf_hashes(req).await.unwrap().into_inner().hashes;
    assert_eq!(hashes(served), leaves[..last.size as usize]);
}

fn hashes(raw: Vec<Vec<u8>>) -> Vec<Hash> {
    raw.into_iter().map(|h| Hash::try_from(h).unwrap()).collect()
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
