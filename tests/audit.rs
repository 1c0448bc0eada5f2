//! Verifying the log as a stranger would, with the notary's public key only: `ledger audit verify` through the
//! public API and from an export, keeping the last trusted checkpoint in a state file; and tampering (a changed
//! byte, an event removed, two swapped, the log cut short, a forked or rolled-back checkpoint, history rewritten by
//! an admin in the stream itself), each refused naming the first bad position.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::path::Path;
use std::time::Duration;

use coalition_ledger::startup::Roles;
use common::notary::*;
use common::*;
use ledger_audit::{Checkpoint, Signer, Verifier};
use ledger_proto::v1;
use ledger_verifier::export::ExportFile;
use ledger_verifier::remote::{Remote, RemoteConfig};
use ledger_verifier::{Failure, verify};
use prost::Message;

/// The ledger with its notary signing every 5 events (or 200 ms), and `n` organisations seeded; waits until a
/// checkpoint covers the whole log.
async fn notarised(dir: &tempfile::TempDir, n: usize) -> (TestApp, Signer, u64) {
    let (path, signer) = signer(dir);
    let mut app = TestApp::spawn_with(Roles::ALL, |s| {
        s.notary.notary_key = Some(path);
        s.notary.checkpoint_every_events = 5;
        s.notary.checkpoint_every_ms = 200;
    })
    .await;
    let end = seed(&mut app, n).await;
    covered(&app, end).await;
    (app, signer, end)
}

/// Waits until the latest checkpoint covers `size`.
async fn covered(app: &TestApp, size: u64) -> v1::SignedCheckpoint {
    let mut audit = audit_client(app).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(c) = audit.latest_checkpoint(v1::LatestCheckpointRequest {}).await {
            let c = c.into_inner();
            if c.size >= size {
                return c;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no checkpoint covers {size}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn remote(app: &TestApp) -> RemoteConfig {
    RemoteConfig { url: format!("http://{}", app.query_addr), ..Default::default() }
}

/// Runs `ledger audit ARGS`; its exit success, stdout and stderr.
async fn ledger_audit(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("audit")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn a_stranger_verifies_the_log_through_the_api_and_from_an_export_and_the_next_run_proves_it_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, signer, end) = notarised(&dir, 6).await;
    let vkey = dir.path().join("notary.vkey");
    std::fs::write(&vkey, format!("{}\n", signer.verifier().to_vkey())).unwrap();
    let (vkey, state) = (vkey.to_str().unwrap(), dir.path().join("state/ledger.checkpoint"));
    let (url, state) = (format!("http://{}", app.query_addr), state.to_str().unwrap());
    let verify_api = ["verify", "--vkey", vkey, "--replay-url", &url, "--state", state];

    let (ok, out, err) = ledger_audit(&verify_api).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("verified: {end} events, position 1 to {end}")), "{out}");
    assert!(out.contains(&format!("trusted from now on: the checkpoint of size {end}")), "{out}");
    assert!(err.contains(&format!("verify: {end} of {end} events (100%)")), "progress on stderr: {err}");
    let trusted = std::fs::read_to_string(state).unwrap();
    assert_eq!(Checkpoint::verify(&trusted, &signer.verifier()).unwrap().size, end);

    // More history: the next run starts from the checkpoint trusted and proves the new one consistent with it.
    let later = app.append.append(organisation("late")).await.unwrap().into_inner().revision;
    covered(&app, later).await;
    let (ok, out, err) = ledger_audit(&[&verify_api[..], &["--check-view"]].concat()).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("trusted before: the checkpoint of size {end}")), "{out}");
    assert!(out.contains(&format!("consistent with the checkpoint of size {end} trusted before")), "{out}");
    assert!(out.contains(&format!("verified: {later} events")), "{out}");

    // The export verifies offline, with nothing but the file and the key.
    let export = dir.path().join("ledger.export");
    let (ok, out, err) = ledger_audit(&["export", "--replay-url", &url, "--out", export.to_str().unwrap()]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("exported {later} events")), "{out}");
    drop(app.stop().await);
    let (ok, out, err) =
        ledger_audit(&["verify", "--vkey", vkey, "--from-export", export.to_str().unwrap(), "--state", state]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("verified: {later} events")), "{out}");

    // Another key: nothing verifies.
    let other = dir.path().join("other.vkey");
    let stranger = Signer::from_seed(ORIGIN, [3; 32]).unwrap().verifier().to_vkey();
    std::fs::write(&other, stranger).unwrap();
    let args = ["verify", "--vkey", other.to_str().unwrap(), "--from-export", export.to_str().unwrap(), "--no-state"];
    let (ok, out, err) = ledger_audit(&args).await;
    assert!(!ok, "{out}");
    assert!(err.contains("verification failed: checkpoint #0 does not verify with the key of"), "{err}");
}

/// An export's header and events, to tamper with.
fn read_export(path: &Path) -> (v1::ExportHeader, Vec<v1::ExportedEvent>) {
    let bytes = std::fs::read(path).unwrap();
    let mut buf = bytes.as_slice();
    let header = v1::ExportHeader::decode_length_delimited(&mut buf).unwrap();
    let mut events = Vec::new();
    while !buf.is_empty() {
        events.push(v1::ExportedEvent::decode_length_delimited(&mut buf).unwrap());
    }
    (header, events)
}

fn write_export(path: &Path, header: &v1::ExportHeader, events: &[v1::ExportedEvent]) {
    let mut bytes = header.encode_length_delimited_to_vec();
    for e in events {
        bytes.extend(e.encode_length_delimited_to_vec());
    }
    std::fs::write(path, bytes).unwrap();
}

async fn verify_export(path: &Path, verifier: &Verifier, trusted: Option<&Checkpoint>) -> Result<u64, Failure> {
    let mut file = ExportFile::open(path).unwrap();
    verify(&mut file, verifier, trusted, &mut |_, _| {}).await.map(|o| o.leaves)
}

#[tokio::test]
async fn a_tampered_export_is_refused_naming_the_first_bad_position_and_a_fork_or_rollback_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (app, signer, end) = notarised(&dir, 8).await;
    let verifier = signer.verifier();
    let path = dir.path().join("good.export");
    let mut source = Remote::connect(&remote(&app)).await.unwrap();
    ledger_verifier::export::write(&mut source, &path, &mut |_, _| {}).await.unwrap();
    assert_eq!(verify_export(&path, &verifier, None).await.unwrap(), end);
    let (header, events) = read_export(&path);
    assert_eq!(events.len() as u64, end);
    let tampered = dir.path().join("tampered.export");
    let check = async |header: &v1::ExportHeader, events: &[v1::ExportedEvent], trusted: Option<&Checkpoint>| {
        write_export(&tampered, header, events);
        verify_export(&tampered, &verifier, trusted).await.unwrap_err()
    };

    // One byte of one stored event.
    let mut changed = events.clone();
    let last = changed[6].stored.len() - 1;
    changed[6].stored[last] ^= 1;
    let f = check(&header, &changed, None).await;
    assert!(matches!(f, Failure::Changed { position: 7, .. }), "{f}");
    assert!(f.to_string().starts_with("position 7 was changed"), "{f}");
    // An event removed.
    let mut removed = events.clone();
    removed.remove(6);
    let f = check(&header, &removed, None).await;
    assert!(matches!(f, Failure::Missing { position: 7, next: 8 }), "{f}");
    // Two events swapped (their positions kept).
    let mut swapped = events.clone();
    let (a, b) = (swapped[6].stored.clone(), swapped[8].stored.clone());
    (swapped[6].stored, swapped[8].stored) = (b, a);
    let f = check(&header, &swapped, None).await;
    assert!(matches!(f, Failure::Swapped { first: 7, second: 9, .. }), "{f}");
    // Cut short.
    let f = check(&header, &events[..10], None).await;
    assert!(matches!(f, Failure::CutShort { end: 10, .. }), "{f}");
    assert_eq!(f.position(), Some(11));
    // The notary's hashes in the file changed too (to hide the change): the range is still named, and nothing passes.
    let mut hidden = changed.clone();
    hidden[6].notary_leaf_hash = ledger_audit::merkle::leaf_hash(&hidden[6].stored).to_vec();
    let f = check(&header, &hidden, None).await;
    assert!(matches!(f, Failure::RootDiffers { .. }), "{f}");

    // A forked checkpoint: a second root signed for a size the log has.
    let first = Checkpoint::verify(&header.checkpoints[0], &verifier).unwrap();
    let fork = Checkpoint { root: [7; 32], ..first.clone() };
    let mut forked = header.clone();
    forked.checkpoints.insert(1, fork.sign(&signer).unwrap());
    let f = check(&forked, &events, None).await;
    assert!(matches!(f, Failure::Fork { size, .. } if size == first.size), "{f}");
    // The same fork against the checkpoint trusted before, and a log that went back.
    let f = check(&header, &events, Some(&fork)).await;
    assert!(matches!(f, Failure::Fork { size, .. } if size == first.size), "{f}");
    let ahead = Checkpoint { size: end + 10, ..first };
    let f = check(&header, &events, Some(&ahead)).await;
    assert!(matches!(f, Failure::Rollback { .. }), "{f}");
}

#[tokio::test]
async fn history_rewritten_in_the_stream_by_an_admin_is_found_through_the_api_naming_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let (app, signer, end) = notarised(&dir, 6).await;
    let verifier = signer.verifier();
    let mut source = Remote::connect(&remote(&app)).await.unwrap();
    let trusted = verify(&mut source, &verifier, None, &mut |_, _| {}).await.unwrap().checkpoint;
    let (nats, db, settings, r) = app.stop().await;
    r.unwrap();

    // The operator copies the stream, deletes it and writes it again with one actor's name changed: the same
    // positions, settings and length, so the stream's guard sees nothing.
    let js = async_nats::jetstream::new(nats_client(&nats.url).await.unwrap());
    let mut stream = js.get_stream(ledger_log::DEFAULT_STREAM).await.unwrap();
    let config = stream.info().await.unwrap().config.clone();
    let mut messages = Vec::new();
    for seq in 1..=end {
        messages.push(stream.direct_get(seq).await.unwrap());
    }
    js.delete_stream(ledger_log::DEFAULT_STREAM).await.unwrap();
    js.create_stream(config).await.unwrap();
    for (i, m) in messages.into_iter().enumerate() {
        let mut body = m.payload.to_vec();
        if i == 4 {
            let stored = v1::StoredEvent::decode(body.as_slice()).unwrap();
            body = v1::StoredEvent { actor: format!("{}!", stored.actor), ..stored }.encode_to_vec();
        }
        let mut headers = async_nats::HeaderMap::new();
        for (name, values) in m.headers.iter() {
            for v in values {
                headers.append(name.as_ref(), v.as_str());
            }
        }
        js.publish_with_headers(m.subject.to_string(), headers, body.into()).await.unwrap().await.unwrap();
    }

    let app = TestApp::start(nats, db, settings, Roles::ALL).await;
    let mut source = Remote::connect(&remote(&app)).await.unwrap();
    let f = verify(&mut source, &verifier, Some(&trusted), &mut |_, _| {}).await.unwrap_err();
    assert!(matches!(f, Failure::Changed { position: 5, .. }), "{f}");
}

#[tokio::test]
async fn one_byte_changed_in_the_streams_files_with_the_server_stopped_is_refused_at_start_naming_where_history_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _, end) = notarised(&dir, 6).await;
    let events: Vec<v1::RecordedEvent> = {
        use futures::TryStreamExt;
        app.replay.replay(v1::ReplayRequest::default()).await.unwrap().into_inner().try_collect().await.unwrap()
    };
    assert_eq!(events.len() as u64, end);
    let body = events[4].stored.clone();
    let (mut nats, db, settings, r) = app.stop().await;
    r.unwrap();
    nats.kill();
    // The message's body in the stream's block files: its last byte flipped.
    let mut found = 0;
    for entry in walk(&nats.store_dir()) {
        let mut bytes = std::fs::read(&entry).unwrap();
        if let Some(at) = bytes.windows(body.len()).position(|w| w == body.as_slice()) {
            bytes[at + body.len() - 1] ^= 1;
            std::fs::write(&entry, bytes).unwrap();
            found += 1;
        }
    }
    assert_eq!(found, 1, "the body is in one block file");
    // nats-server checks each message's checksum as it recovers the stream: it drops the altered message and
    // every one after it. The ledger then refuses to start, naming where history now ends (an auditor's export made
    // before still verifies; a forger who rewrites the messages through the server is the next test's case).
    nats.restart();
    let e = coalition_ledger::startup::Application::build(settings, Roles::ALL).await.err().unwrap();
    let e = format!("{e:#}");
    assert!(e.contains(&format!("its last sequence is 4, below position {end}")), "{e}");
    drop(db);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn the_audit_api_answers_what_it_cannot_prove_with_a_code_that_names_the_field_or_the_trees_size() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, end) = notarised(&dir, 3).await;
    let mut audit = audit_client(&app).await;
    let latest = audit.latest_checkpoint(v1::LatestCheckpointRequest {}).await.unwrap().into_inner();
    assert_eq!((latest.size, latest.origin.as_str()), (end, ORIGIN));
    assert!(latest.note.starts_with(&format!("{ORIGIN}\n{end}\n")), "{}", latest.note);
    let first = audit.get_checkpoint(v1::GetCheckpointRequest { size: 1, at_least: true }).await.unwrap().into_inner();
    assert_eq!(first.size, 5, "the first checkpoint covering position 1 is of size 5 (one every 5 events)");
    let page =
        audit.list_checkpoints(v1::ListCheckpointsRequest { from_size: 0, limit: 1 }).await.unwrap().into_inner();
    let all = audit.list_checkpoints(v1::ListCheckpointsRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.next_from_size, 0, "one page holds them all");
    assert_eq!(page.checkpoints[..], all.checkpoints[..1]);
    assert_eq!(page.next_from_size, all.checkpoints[1].size, "the next page starts at the second checkpoint");
    let code = |r: Result<(), tonic::Status>| r.map_err(|s| (s.code(), s.message().to_owned())).unwrap_err();
    use tonic::Code::*;
    let (c, m) = code(audit.get_checkpoint(v1::GetCheckpointRequest { size: 2, at_least: false }).await.map(drop));
    assert_eq!(c, NotFound, "{m}");
    assert!(m.contains("no checkpoint of size 2"), "{m}");
    let (c, m) = code(audit.get_checkpoint(v1::GetCheckpointRequest { size: 0, at_least: false }).await.map(drop));
    assert!(c == InvalidArgument && m.contains("size"), "{c:?} {m}");
    let (c, m) = code(audit.inclusion_proof(v1::InclusionProofRequest { position: 0, tree_size: 0 }).await.map(drop));
    assert!(c == InvalidArgument && m.contains("position"), "{c:?} {m}");
    let req = v1::InclusionProofRequest { position: 1, tree_size: end + 1 };
    let (c, m) = code(audit.inclusion_proof(req).await.map(drop));
    assert!(c == OutOfRange && m.contains(&format!("of {end} leaves")), "{c:?} {m}");
    let req = v1::ConsistencyProofRequest { from_size: 4, to_size: 3 };
    let (c, m) = code(audit.consistency_proof(req).await.map(drop));
    assert!(c == InvalidArgument && m.contains("from_size"), "{c:?} {m}");
    let (c, m) = code(audit.leaf_hashes(v1::LeafHashesRequest { from_position: 1, count: 10_001 }).await.map(drop));
    assert!(c == InvalidArgument && m.contains("count"), "{c:?} {m}");
    // A verifier's replay: the stored bytes only, the same as in the full one.
    let mut replay = app.replay.clone();
    let full: Vec<v1::RecordedEvent> = {
        use futures::TryStreamExt;
        let req = v1::ReplayRequest { stored_only: true, ..Default::default() };
        let bare: Vec<v1::RecordedEvent> = replay.replay(req).await.unwrap().into_inner().try_collect().await.unwrap();
        let full: Vec<v1::RecordedEvent> =
            replay.replay(v1::ReplayRequest::default()).await.unwrap().into_inner().try_collect().await.unwrap();
        let only = |e: &v1::RecordedEvent| v1::RecordedEvent {
            position: e.position,
            stored: e.stored.clone(),
            ..Default::default()
        };
        assert_eq!(bare, full.iter().map(only).collect::<Vec<_>>());
        full
    };
    assert_eq!(full.len() as u64, end);
    let req = v1::LeafHashesRequest { from_position: end + 1, count: 1 };
    let (c, m) = code(audit.leaf_hashes(req).await.map(drop));
    assert!(c == OutOfRange, "{c:?} {m}");
}

/// GET over HTTP/1.0: the status code and the body's bytes.
async fn get_bytes(addr: std::net::SocketAddr, path: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, out[head_end + 4..].to_vec())
}

#[tokio::test]
async fn the_log_in_the_tlog_tiles_layout_gives_a_tile_client_the_signed_root_and_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, signer, _) = notarised(&dir, 130).await;
    let addr = app.dashboard_addr.unwrap();
    let (code, note) = get_bytes(addr, "/tlog/checkpoint").await;
    assert_eq!(code, 200);
    let c = Checkpoint::verify(std::str::from_utf8(&note).unwrap(), &signer.verifier()).unwrap();
    let n = c.size;
    assert!(n > 256 && n < 512, "{n}: one full tile and a partial one");
    // A tile client: the level-0 tiles up to the checkpoint's size give every leaf hash, and so the root.
    let (code, full) = get_bytes(addr, "/tlog/tile/0/000").await;
    assert_eq!((code, full.len()), (200, 256 * 32));
    let (code, partial) = get_bytes(addr, &format!("/tlog/tile/0/001.p/{}", n - 256)).await;
    assert_eq!((code, partial.len() as u64), (200, (n - 256) * 32));
    let tiles: Vec<ledger_audit::Hash> =
        full.chunks(32).chain(partial.chunks(32)).map(|h| ledger_audit::Hash::try_from(h).unwrap()).collect();
    assert_eq!(ledger_audit::merkle::root_of(&tiles), c.root, "the tiles' root is the signed one");
    assert_eq!(tiles, leaves(&mut app).await[..n as usize]);
    let (code, level1) = get_bytes(addr, "/tlog/tile/1/000.p/1").await;
    assert_eq!((code, level1), (200, ledger_audit::merkle::root_of(&tiles[..256]).to_vec()));
    // The entry bundles hold the stored envelopes, each after its big-endian 16-bit length.
    let (code, bundle) = get_bytes(addr, &format!("/tlog/tile/entries/001.p/{}", n - 256)).await;
    assert_eq!(code, 200);
    let mut entries = Vec::new();
    let mut rest = bundle.as_slice();
    while !rest.is_empty() {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        entries.push(ledger_audit::merkle::leaf_hash(&rest[2..2 + len]));
        rest = &rest[2 + len..];
    }
    assert_eq!(entries, tiles[256..]);
    // What does not exist yet is 404, a malformed path 400.
    assert_eq!(get_bytes(addr, "/tlog/tile/0/001").await.0, 404, "the second tile is not full");
    assert_eq!(get_bytes(addr, "/tlog/tile/entries/009").await.0, 404);
    assert_eq!(get_bytes(addr, "/tlog/tile/0/1").await.0, 400);
}
