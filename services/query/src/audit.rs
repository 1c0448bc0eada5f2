//! `coalition.ledger.v1.LedgerAudit`: the notary's Merkle tree of the log and its signed checkpoints, for auditors:
//! checkpoints, inclusion and consistency proofs and leaf hashes, read from the `audit` schema the notary writes.
//!
//! Auditors and platform admins only. A proof reads only the O(log n) complete-subtree nodes it needs: which ones
//! depends on the sizes alone, so they are named first ([`NodeRecorder`]) and fetched in one query. The nodes and
//! checkpoints are append-only, and the tree's size moves in the transaction that stores its nodes, so every node
//! under the size read first is there. Status codes: see [`QueryError`]'s mapping and `ledger.proto`.
use ledger_audit::merkle::{self, NodeSource};
use ledger_audit::{Hash, NodeMap, NodeRecorder, ProofError};
use ledger_domain::access::authorize_replay;
use ledger_proto::convert::timestamp_from_domain;
use ledger_proto::v1;
use ledger_proto::v1::ledger_audit_server::LedgerAudit;
use tonic::{Request, Response, Status};

use crate::Pool;
use crate::query::{QueryError, invalid};

/// Most leaf hashes in one answer.
pub const MAX_LEAF_HASHES: u32 = 10_000;
/// Checkpoints in one page of `ListCheckpoints`: by default, and at most.
pub const DEFAULT_CHECKPOINTS: u32 = 1_000;
pub const MAX_CHECKPOINTS: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct AuditService {
    pool: Pool,
}

impl AuditService {
    /// The audit service over the `audit` schema of the database `pool` connects to (as the query role).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The number of leaves the notary has hashed and committed.
    async fn tree_size(&self, client: &tokio_postgres::Client) -> Result<u64, QueryError> {
        let row = client.query_opt("SELECT size FROM audit.tree", &[]).await?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0).unsigned_abs()))
    }

    /// `size`, or the latest checkpoint's size for 0, checked against the hashed tree.
    async fn size_or_latest(
        &self,
        client: &tokio_postgres::Client,
        field: &'static str,
        size: u64,
    ) -> Result<u64, QueryError> {
        let size = if size == 0 { latest(client).await?.size } else { size };
        let hashed = self.tree_size(client).await?;
        if size > hashed {
            return Err(QueryError::OutOfRange(format!(
                "{field} {size} is beyond the tree the notary has hashed, of {hashed} leaves"
            )));
        }
        Ok(size)
    }
}

/// A checkpoint row as the API answers it.
fn signed(row: &tokio_postgres::Row) -> v1::SignedCheckpoint {
    let note: String = row.get("note");
    v1::SignedCheckpoint {
        size: row.get::<_, i64>("size").unsigned_abs(),
        root_hash: row.get("root"),
        origin: note.split('\n').next().unwrap_or_default().to_owned(),
        note,
        signed_at: Some(timestamp_from_domain(row.get("signed_at"))),
    }
}

const CHECKPOINT_COLUMNS: &str = "size, root, note, signed_at";

async fn latest(client: &tokio_postgres::Client) -> Result<v1::SignedCheckpoint, QueryError> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit.checkpoints ORDER BY size DESC LIMIT 1");
    let row = client.query_opt(&sql, &[]).await?;
    row.map(|r| signed(&r)).ok_or_else(|| QueryError::NotFound("the notary has signed no checkpoint yet".into()))
}

/// The first checkpoint whose tree size is at least `size`: the one covering log position `size` (also for an
/// as-of answer).
pub(crate) async fn covering(
    client: &impl tokio_postgres::GenericClient,
    size: u64,
) -> Result<Option<v1::SignedCheckpoint>, QueryError> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit.checkpoints WHERE size >= $1 ORDER BY size LIMIT 1");
    Ok(client.query_opt(&sql, &[&sql_int(size)]).await?.map(|r| signed(&r)))
}

fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Runs `compute` against the stored nodes it needs, fetched in one query.
async fn with_nodes<T>(
    client: &tokio_postgres::Client,
    compute: impl Fn(&dyn NodeSource) -> Result<T, ProofError>,
) -> Result<T, QueryError> {
    let recorder = NodeRecorder::default();
    let _ = compute(&recorder);
    let needed = recorder.needed();
    let levels: Vec<i16> = needed.iter().map(|&(l, _)| i16::from(l)).collect();
    let indexes: Vec<i64> = needed.iter().map(|&(_, i)| sql_int(i)).collect();
    let rows = client
        .query(
            "SELECT n.level, n.index, n.hash FROM audit.nodes n
               JOIN unnest($1::smallint[], $2::bigint[]) AS want(level, index) USING (level, index)",
            &[&levels, &indexes],
        )
        .await?;
    let nodes: NodeMap = rows
        .iter()
        .filter_map(|r| {
            let level = u8::try_from(r.get::<_, i16>(0)).ok()?;
            let hash = Hash::try_from(r.get::<_, Vec<u8>>(2)).ok()?;
            Some(((level, r.get::<_, i64>(1).unsigned_abs()), hash))
        })
        .collect();
    compute(&nodes).map_err(|e| QueryError::Unavailable(format!("the notary's stored tree is incomplete: {e}")))
}

fn hashes(proof: Vec<Hash>) -> Vec<Vec<u8>> {
    proof.into_iter().map(|h| h.to_vec()).collect()
}

/// Authorises the call (auditors and platform admins) and takes a connection.
macro_rules! auditor_connection {
    ($self:ident, $request:ident) => {{
        let principal = ledger_auth::principal(&$request)?;
        authorize_replay(&principal).map_err(|d| ledger_auth::deny(&principal, d))?;
        $self.pool.get().await.map_err(QueryError::from)?
    }};
}

#[tonic::async_trait]
impl LedgerAudit for AuditService {
    #[tracing::instrument(skip_all)]
    async fn latest_checkpoint(
        &self,
        request: Request<v1::LatestCheckpointRequest>,
    ) -> Result<Response<v1::SignedCheckpoint>, Status> {
        let mut conn = auditor_connection!(self, request);
        let client = conn.client();
        Ok(Response::new(latest(client).await?))
    }

    #[tracing::instrument(skip_all, fields(size = request.get_ref().size))]
    async fn get_checkpoint(
        &self,
        request: Request<v1::GetCheckpointRequest>,
    ) -> Result<Response<v1::SignedCheckpoint>, Status> {
        let mut conn = auditor_connection!(self, request);
        let client = conn.client();
        let v1::GetCheckpointRequest { size, at_least } = request.into_inner();
        if size == 0 {
            return Err(invalid("size", "must be 1 or more (a tree of 0 leaves has no checkpoint)").into());
        }
        let found = if at_least {
            covering(client, size).await?
        } else {
            let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit.checkpoints WHERE size = $1");
            client.query_opt(&sql, &[&sql_int(size)]).await.map_err(QueryError::from)?.map(|r| signed(&r))
        };
        match found {
            Some(checkpoint) => Ok(Response::new(checkpoint)),
            None => {
                let latest = latest(client).await.map(|c| c.size).unwrap_or(0);
                let what = if at_least { "at or above" } else { "of" };
                Err(QueryError::NotFound(format!(
                    "no checkpoint {what} size {size}: the latest is of size {latest}{}",
                    if at_least { "" } else { " (ask with at_least for the first one covering it)" }
                ))
                .into())
            }
        }
    }

    #[tracing::instrument(skip_all, fields(from_size = request.get_ref().from_size))]
    async fn list_checkpoints(
        &self,
        request: Request<v1::ListCheckpointsRequest>,
    ) -> Result<Response<v1::ListCheckpointsResponse>, Status> {
        let mut conn = auditor_connection!(self, request);
        let client = conn.client();
        let v1::ListCheckpointsRequest { from_size, limit } = request.into_inner();
        let limit = match limit {
            0 => DEFAULT_CHECKPOINTS,
            n if n > MAX_CHECKPOINTS => {
                return Err(invalid("limit", format!("{n} is above the most, {MAX_CHECKPOINTS}")).into());
            }
            n => n,
        };
        let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit.checkpoints WHERE size >= $1 ORDER BY size LIMIT $2");
        let rows =
            client.query(&sql, &[&sql_int(from_size), &(i64::from(limit) + 1)]).await.map_err(QueryError::from)?;
        let mut checkpoints: Vec<v1::SignedCheckpoint> = rows.iter().map(signed).collect();
        let next_from_size = match checkpoints.len() > limit as usize {
            true => checkpoints.pop().map_or(0, |c| c.size),
            false => 0,
        };
        Ok(Response::new(v1::ListCheckpointsResponse { checkpoints, next_from_size }))
    }

    #[tracing::instrument(skip_all, fields(position = request.get_ref().position, tree_size = request.get_ref().tree_size))]
    async fn inclusion_proof(
        &self,
        request: Request<v1::InclusionProofRequest>,
    ) -> Result<Response<v1::InclusionProofResponse>, Status> {
        let mut conn = auditor_connection!(self, request);
        let client = conn.client();
        let v1::InclusionProofRequest { position, tree_size } = request.into_inner();
        if position == 0 {
            return Err(invalid("position", "log positions start at 1").into());
        }
        let size = self.size_or_latest(client, "tree_size", tree_size).await?;
        if position > size {
            return Err(invalid("position", format!("{position} is not in a tree of {size} leaves")).into());
        }
        let index = position - 1;
        let (leaf, proof) = with_nodes(client, |nodes| {
            let leaf = nodes.node(0, index).ok_or(ProofError::MissingNode { level: 0, index })?;
            Ok((leaf, merkle::inclusion_proof(nodes, index, size)?))
        })
        .await?;
        Ok(Response::new(v1::InclusionProofResponse {
            leaf_index: index,
            tree_size: size,
            leaf_hash: leaf.to_vec(),
            hashes: hashes(proof),
        }))
    }

    #[tracing::instrument(skip_all, fields(from_size = request.get_ref().from_size, to_size = request.get_ref().to_size))]
    async fn consistency_proof(
        &self,
        request: Request<v1::ConsistencyProofRequest>,
    ) -> Result<Response<v1::ConsistencyProofResponse>, Status> {
        let mut conn = auditor_connection!(self, request);
        let client = conn.client();
        let v1::ConsistencyProofRequest { from_size, to_size } = request.into_inner();
        if from_size == 0 {
            return Err(invalid("from_size", "must be 1 or more (every tree is consistent with the empty one)").into());
        }
        let to_size = self.size_or_latest(client, "to_size", to_size).await?;
        if from_size > to_size {
            return Err(invalid("from_size", format!("{from_size} is above to_size {to_size}")).into());
        }
        let proof = with_nodes(client, |nodes| merkle::consistency_proof(nodes, from_size, to_size)).await?;
        Ok(Response::new(v1::ConsistencyProofResponse { from_size, to_size, hashes: hashes(proof) }))
    }

    #[tracing::instrument(skip_all, fields(from_position = request.get_ref().from_position, count = request.get_ref().count))]
    async fn leaf_hashes(
        &self,
        request: Request<v1::LeafHashesRequest>,
    ) -> Result<Response<v1::LeafHashesResponse>, Status> {
        let mut conn = auditor_connection!(self, request);
        let client = conn.client();
        let v1::LeafHashesRequest { from_position, count } = request.into_inner();
        if from_position == 0 {
            return Err(invalid("from_position", "log positions start at 1").into());
        }
        if count == 0 || count > MAX_LEAF_HASHES {
            return Err(invalid("count", format!("{count}: from 1 to {MAX_LEAF_HASHES}")).into());
        }
        let hashed = self.tree_size(client).await?;
        if from_position > hashed {
            return Err(QueryError::OutOfRange(format!(
                "from_position {from_position} is beyond the tree the notary has hashed, of {hashed} leaves"
            ))
            .into());
        }
        let end = (from_position - 1 + u64::from(count)).min(hashed);
        let rows = client
            .query(
                "SELECT hash FROM audit.nodes WHERE level = 0 AND index >= $1 AND index < $2 ORDER BY index",
                &[&sql_int(from_position - 1), &sql_int(end)],
            )
            .await
            .map_err(QueryError::from)?;
        let hashes: Vec<Vec<u8>> = rows.iter().map(|r| r.get(0)).collect();
        if hashes.len() as u64 != end - (from_position - 1) {
            return Err(QueryError::Unavailable(format!(
                "the notary's stored tree is incomplete: {} leaf hashes stored for positions {from_position} to {end}",
                hashes.len()
            ))
            .into());
        }
        Ok(Response::new(v1::LeafHashesResponse { from_position, hashes }))
    }
}
