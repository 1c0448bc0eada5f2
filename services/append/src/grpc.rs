//! The `coalition.ledger.v1.LedgerAppend` gRPC service: request -> command, outcome/error -> reply/status.
//!
//! Status codes (the one mapping from [`AppendError`]):
//! - `INVALID_ARGUMENT`: malformed request; the message starts with the field path.
//! - `FAILED_PRECONDITION`: a domain rule is broken; the message names the rule (`rule \`...\` broken: ...`).
//! - `ABORTED`: revision conflict; the message carries the current revision, also in the `ledger-current-revision`
//!   metadata entry.
//! - `UNAVAILABLE`: the log cannot be reached or the outcome is unknown; retry with the same event ids.
//! - `INTERNAL`: the aggregate's history cannot be read by this code.
use ledger_domain::{DomainError, ExpectedRevision};
use ledger_proto::convert::{
    aggregate_to_domain, optional_uuid_to_domain, payload_to_domain, source_to_domain, timestamp_to_domain,
    uuid_to_domain,
};
use ledger_proto::v1;
use ledger_proto::v1::ledger_append_server::LedgerAppend;
use tonic::{Request, Response, Status};

use crate::{AppendCommand, AppendError, AppendService, NewEvent};

/// Metadata key carrying the current revision on an `ABORTED` reply.
pub const CURRENT_REVISION_METADATA: &str = "ledger-current-revision";

impl From<AppendError> for Status {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Invalid(d) => Status::invalid_argument(d.to_string()),
            AppendError::Rule(d) => Status::failed_precondition(d.to_string()),
            AppendError::Conflict { current, .. } => {
                let mut s = Status::aborted(e.to_string());
                if let Ok(v) = current.to_string().parse() {
                    s.metadata_mut().insert(CURRENT_REVISION_METADATA, v);
                }
                s
            }
            AppendError::Unavailable(m) => Status::unavailable(m),
            AppendError::Internal(m) => Status::internal(m),
        }
    }
}

/// Turns a wire request into a validated command; errors name the field.
pub fn command_from_request(req: &v1::AppendRequest) -> Result<AppendCommand, DomainError> {
    let aggregate = aggregate_to_domain(req.aggregate.as_ref())?;
    use v1::expected_revision::Expected;
    let expected = match req.expected_revision.as_ref().and_then(|e| e.expected) {
        None | Some(Expected::Any(_)) => ExpectedRevision::Any,
        Some(Expected::NoStream(_)) | Some(Expected::Exact(0)) => ExpectedRevision::NoStream,
        Some(Expected::Exact(n)) => ExpectedRevision::Exact(n),
    };
    let events = req
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let at = |f: &str| format!("events[{i}].{f}");
            Ok(NewEvent {
                event_id: uuid_to_domain(&at("event_id"), &e.event_id)?,
                occurred_at: timestamp_to_domain(&at("occurred_at"), e.occurred_at.as_ref())?,
                actor: e.actor.clone(),
                source: source_to_domain(&at("source"), e.source)?,
                correlation_id: optional_uuid_to_domain(&at("correlation_id"), &e.correlation_id)?,
                causation_id: optional_uuid_to_domain(&at("causation_id"), &e.causation_id)?,
                kind: payload_to_domain(e.payload.as_ref()).map_err(|d| d.in_field(&format!("events[{i}].")))?,
            })
        })
        .collect::<Result<Vec<_>, DomainError>>()?;
    Ok(AppendCommand { aggregate, expected, events })
}

#[tonic::async_trait]
impl LedgerAppend for AppendService {
    #[tracing::instrument(skip_all, fields(aggregate, events = request.get_ref().events.len()))]
    async fn append(&self, request: Request<v1::AppendRequest>) -> Result<Response<v1::AppendResponse>, Status> {
        let cmd = command_from_request(request.get_ref()).map_err(|e| {
            self.metrics.invalid.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Status::from(AppendError::from(e))
        })?;
        tracing::Span::current().record("aggregate", tracing::field::display(&cmd.aggregate));
        match AppendService::append(self, cmd).await {
            Ok(o) => Ok(Response::new(v1::AppendResponse {
                positions: o.positions,
                revision: o.revision,
                deduplicated: o.deduplicated,
            })),
            Err(e) => {
                match &e {
                    AppendError::Unavailable(_) | AppendError::Internal(_) => {
                        tracing::warn!(error = %e, "append failed")
                    }
                    _ => tracing::debug!(error = %e, "append refused"),
                }
                Err(e.into())
            }
        }
    }
}
