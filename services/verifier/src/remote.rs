//! A running ledger as a [`Source`]: its query API's `LedgerAudit` (checkpoints, leaf hashes, consistency proofs)
//! and `LedgerReplay` (the stored envelopes), with a bearer token of an auditor or platform admin.
use ledger_audit::Hash;
use ledger_proto::v1;
use ledger_proto::v1::ledger_audit_client::LedgerAuditClient;
use ledger_proto::v1::ledger_replay_client::LedgerReplayClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::source::{Leaf, Source, SourceError, View, hashes};

/// Leaf hashes asked for in one call (the server's most).
const LEAF_HASHES_PER_CALL: u64 = 10_000;

/// How to reach the query API.
#[derive(Clone, Default)]
pub struct RemoteConfig {
    /// `http://host:port` or `https://host:port`.
    pub url: String,
    /// An auditor's or platform admin's token (`ledger auth token --role auditor`); never logged.
    pub token: Option<String>,
    /// PEM CA certificate to verify an `https` server with (else the system's roots).
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and key, for a server that authenticates by mutual TLS.
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// Also ask for the replay's decoded view of each event and check it against the envelope (slower to serve);
    /// without it, the replay sends the stored bytes only (`stored_only`), which the verifier decodes itself.
    pub check_view: bool,
}

/// The token and the client key never show.
impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.is_some())
            .field("identity_pem", &self.identity_pem.as_ref().map(|_| "<redacted>"))
            .field("check_view", &self.check_view)
            .finish()
    }
}

impl std::fmt::Display for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

pub struct Remote {
    audit: LedgerAuditClient<Channel>,
    replay: LedgerReplayClient<Channel>,
    token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    events: Option<tonic::Streaming<v1::RecordedEvent>>,
    url: String,
    check_view: bool,
}

fn status(call: &str, url: &str, s: &tonic::Status) -> SourceError {
    SourceError(format!("{call} at {url}: {:?}: {}", s.code(), s.message()))
}

impl Remote {
    pub async fn connect(config: &RemoteConfig) -> Result<Self, SourceError> {
        let url = config.url.clone();
        let bad = |why: String| SourceError(format!("{url}: {why}"));
        let mut endpoint = Endpoint::from_shared(url.clone()).map_err(|e| bad(e.to_string()))?;
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(ca) = &config.ca_pem {
                tls = tls.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &config.identity_pem {
                tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            endpoint = endpoint.tls_config(tls).map_err(|e| bad(format!("TLS: {e}")))?;
        }
        let channel = endpoint.connect().await.map_err(|e| bad(format!("cannot connect: {e}")))?;
        let token = match &config.token {
            Some(t) => Some(format!("Bearer {}", t.trim()).parse().map_err(|_| bad("the token is not ASCII".into()))?),
            None => None,
        };
        // Replays of large logs: messages up to the server's event size, streams as long as the log.
        let limit = 16 * 1024 * 1024;
        Ok(Self {
            audit: LedgerAuditClient::new(channel.clone()).max_decoding_message_size(limit),
            replay: LedgerReplayClient::new(channel).max_decoding_message_size(limit),
            token,
            events: None,
            url,
            check_view: config.check_view,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        if let Some(t) = &self.token {
            r.metadata_mut().insert("authorization", t.clone());
        }
        r
    }

    /// The latest checkpoint the ledger's notary signed.
    pub async fn latest_checkpoint(&mut self) -> Result<v1::SignedCheckpoint, SourceError> {
        let req = self.request(v1::LatestCheckpointRequest {});
        let r = self.audit.latest_checkpoint(req).await;
        r.map(tonic::Response::into_inner).map_err(|s| status("LedgerAudit.LatestCheckpoint", &self.url, &s))
    }

    /// The checkpoints of sizes up to `up_to`, in order.
    pub async fn checkpoints_up_to(&mut self, up_to: u64) -> Result<Vec<String>, SourceError> {
        let mut notes = Vec::new();
        let mut from_size = 1;
        loop {
            let req = self.request(v1::ListCheckpointsRequest { from_size, limit: 0 });
            let page = self
                .audit
                .list_checkpoints(req)
                .await
                .map_err(|s| status("LedgerAudit.ListCheckpoints", &self.url, &s))?
                .into_inner();
            if page.checkpoints.is_empty() {
                return Ok(notes);
            }
            for c in page.checkpoints {
                if c.size > up_to {
                    return Ok(notes);
                }
                notes.push(c.note);
            }
            if page.next_from_size == 0 || page.next_from_size <= from_size {
                return Ok(notes);
            }
            from_size = page.next_from_size;
        }
    }
}

impl Source for Remote {
    async fn checkpoints(&mut self) -> Result<Vec<String>, SourceError> {
        self.checkpoints_up_to(u64::MAX).await
    }

    async fn start(&mut self, size: u64) -> Result<(), SourceError> {
        let req = self.request(v1::ReplayRequest {
            start: Some(v1::replay_request::Start::FromPosition(1)),
            limit: size,
            stored_only: !self.check_view,
            ..Default::default()
        });
        let stream = self.replay.replay(req).await.map_err(|s| status("LedgerReplay.Replay", &self.url, &s))?;
        self.events = Some(stream.into_inner());
        Ok(())
    }

    async fn next_leaf(&mut self) -> Result<Option<Leaf>, SourceError> {
        let Some(events) = &mut self.events else { return Ok(None) };
        let Some(e) = events.message().await.map_err(|s| status("LedgerReplay.Replay", &self.url, &s))? else {
            return Ok(None);
        };
        let view = self.check_view.then(|| View {
            event_id: e.event_id,
            event_type: e.event_type,
            aggregate_id: e.aggregate.map(|a| a.id).unwrap_or_default(),
            principal: e.principal,
        });
        Ok(Some(Leaf { position: e.position, stored: e.stored, view }))
    }

    async fn leaf_hashes(&mut self, from_position: u64, count: u64) -> Result<Option<Vec<Hash>>, SourceError> {
        let mut all = Vec::new();
        while (all.len() as u64) < count {
            let from = from_position + all.len() as u64;
            let n = (count - all.len() as u64).min(LEAF_HASHES_PER_CALL);
            let req = self.request(v1::LeafHashesRequest { from_position: from, count: n as u32 });
            let page = self
                .audit
                .leaf_hashes(req)
                .await
                .map_err(|s| status("LedgerAudit.LeafHashes", &self.url, &s))?
                .into_inner();
            if page.hashes.is_empty() {
                break;
            }
            all.extend(hashes("LeafHashes.hashes", page.hashes)?);
        }
        Ok(Some(all))
    }

    async fn consistency_proof(&mut self, from: u64, to: u64) -> Result<Option<Vec<Hash>>, SourceError> {
        let req = self.request(v1::ConsistencyProofRequest { from_size: from, to_size: to });
        let proof = self
            .audit
            .consistency_proof(req)
            .await
            .map_err(|s| status("LedgerAudit.ConsistencyProof", &self.url, &s))?
            .into_inner();
        Ok(Some(hashes("ConsistencyProof.hashes", proof.hashes)?))
    }
}
