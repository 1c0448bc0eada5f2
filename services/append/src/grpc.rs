//! The `coalition.ledger.v1.LedgerAppend` gRPC service: request -> command, outcome/error -> reply/status.
//!
//! Status codes (the one mapping from [`AppendError`]):
//! - `UNAUTHENTICATED`: no valid credentials (answered by the auth layer before this service is reached).
//! - `PERMISSION_DENIED`: the caller lacks the grant; the message names it (`missing grant writer:se: ...`). Decided
//!   on the request alone, or, for events that do not name their coalition, once the aggregate is known to belong
//!   to another coalition or not to exist (one message for both).
//! - `INVALID_ARGUMENT`: malformed request; the message starts with the field path (or says that the body is not
//!   the request message at all: `ledger_proto::codec`, for every service). Also an event id already used:
//!   by another aggregate's event, or by another event of this aggregate (its digest differs: type, payload or the
//!   client's metadata, `ledger_proto::stored::digest`), naming the id and the position it is recorded at. A true
//!   retry (the same events, unchanged) is not an error: it answers the original positions, `deduplicated`.
//! - `FAILED_PRECONDITION`: a domain rule is broken; the message names the rule (`rule \`...\` broken: ...`). Also
//!   `aggregate.history_readable`: an event of the aggregate's scope (or of an aggregate whose facts its rules need)
//!   cannot be read by this code; the message names the aggregate and the position, and says whether a newer
//!   version wrote it (upgrade this service) or it is corrupt (README, "An unreadable event in the log"). Not
//!   `INTERNAL`: nothing is broken in the service, and retrying changes nothing until the operator acts.
//! - `ABORTED`: revision conflict; the message carries the current revision, also in the `ledger-current-revision`
//!   metadata entry.
//! - `UNAVAILABLE`: the log cannot be reached or the outcome is unknown; retry with the same event ids.
//! - `INTERNAL`: a bug (an append without an authenticated principal, a stream the log refuses to write to).
use futures::StreamExt;
use ledger_domain::access::{AppendAccess, Principal, authorize_append};
use ledger_domain::{DomainError, ExpectedRevision, Token};
use ledger_proto::convert::{
    aggregate_to_domain, new_id_to_domain, optional_new_id_to_domain, payload_to_domain, source_to_domain,
    timestamp_to_domain,
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
            AppendError::Denied(d) => Status::permission_denied(d.to_string()),
            AppendError::Rule(d) => Status::failed_precondition(d.to_string()),
            AppendError::Unreadable { .. } => Status::failed_precondition(e.to_string()),
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

/// Turns a wire request into a validated command; errors name the field. Authorisation is still to be done
/// ([`authorize`]).
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
            let occurred_at = timestamp_to_domain(&at("occurred_at"), e.occurred_at.as_ref())?;
            ledger_domain::event::business_date(&at("occurred_at"), occurred_at.date())?;
            Ok(NewEvent {
                event_id: new_id_to_domain(&at("event_id"), &e.event_id)?,
                occurred_at,
                actor: e.actor.clone(),
                source: source_to_domain(&at("source"), e.source)?,
                correlation_id: optional_new_id_to_domain(&at("correlation_id"), &e.correlation_id)?,
                causation_id: optional_new_id_to_domain(&at("causation_id"), &e.causation_id)?,
                kind: payload_to_domain(e.payload.as_ref()).map_err(|d| d.in_field(&format!("events[{i}].")))?,
            })
        })
        .collect::<Result<Vec<_>, DomainError>>()?;
    Ok(AppendCommand { aggregate, expected, events, principal: String::new(), access: AppendAccess { owner: None } })
}

/// Decides whether `principal` may append `cmd` (before any state is loaded) and stamps the command with the
/// principal to record.
pub fn authorize(principal: &Principal, req: &v1::AppendRequest, cmd: &mut AppendCommand) -> Result<(), Status> {
    let declared = match req.coalition_id.as_str() {
        "" => None,
        c => Some(Token::parse("coalition_id", c).map_err(|e| Status::invalid_argument(e.to_string()))?),
    };
    let kinds: Vec<&ledger_domain::EventKind> = cmd.events.iter().map(|e| &e.kind).collect();
    cmd.access = authorize_append(principal, &cmd.aggregate, &kinds, declared.as_ref())
        .map_err(|d| ledger_auth::deny(principal, d))?;
    cmd.principal = principal.subject.clone();
    Ok(())
}

/// Aggregates of one `AppendMany` call appended concurrently: enough to fill a group commit (up to 1,000
/// messages per atomic batch).
const MAX_GROUP_LANES: usize = 1000;

/// Most appends in one `AppendMany` call.
pub const MAX_APPENDS_PER_CALL: usize = 10_000;

impl AppendService {
    /// One append of any call: validate, append, count, and log what went wrong.
    async fn append_request(
        &self,
        principal: &Principal,
        req: &v1::AppendRequest,
    ) -> Result<v1::AppendResponse, Status> {
        let mut cmd = command_from_request(req).map_err(|e| {
            self.metrics.invalid.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Status::from(AppendError::from(e))
        })?;
        authorize(principal, req, &mut cmd).inspect_err(|_| {
            self.metrics.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })?;
        tracing::Span::current().record("aggregate", tracing::field::display(&cmd.aggregate));
        match AppendService::append(self, cmd).await {
            Ok(o) => {
                Ok(v1::AppendResponse { positions: o.positions, revision: o.revision, deduplicated: o.deduplicated })
            }
            Err(AppendError::Denied(d)) => Err(ledger_auth::deny(principal, d)),
            Err(e) => {
                match &e {
                    AppendError::Unavailable(_) | AppendError::Internal(_) | AppendError::Unreadable { .. } => {
                        tracing::warn!(error = %e, "append failed")
                    }
                    _ => tracing::debug!(error = %e, "append refused"),
                }
                Err(e.into())
            }
        }
    }
}

fn failure(status: &Status) -> v1::AppendFailure {
    v1::AppendFailure {
        code: status.code() as i32,
        message: status.message().to_owned(),
        current_revision: status
            .metadata()
            .get(CURRENT_REVISION_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    }
}

#[tonic::async_trait]
impl LedgerAppend for AppendService {
    #[tracing::instrument(skip_all, fields(principal, aggregate, events = request.get_ref().events.len()))]
    async fn append(&self, request: Request<v1::AppendRequest>) -> Result<Response<v1::AppendResponse>, Status> {
        let principal = ledger_auth::principal(&request)?;
        tracing::Span::current().record("principal", principal.subject.as_str());
        self.append_request(&principal, request.get_ref()).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(principal, appends = request.get_ref().appends.len()))]
    async fn append_many(
        &self,
        request: Request<v1::AppendManyRequest>,
    ) -> Result<Response<v1::AppendManyResponse>, Status> {
        let principal = ledger_auth::principal(&request)?;
        tracing::Span::current().record("principal", principal.subject.as_str());
        let principal = &principal;
        let appends = request.into_inner().appends;
        if appends.len() > MAX_APPENDS_PER_CALL {
            return Err(Status::invalid_argument(format!(
                "appends: {} appends, at most {MAX_APPENDS_PER_CALL} per call",
                appends.len()
            )));
        }
        // Per aggregate, in the order given; aggregates concurrently (their appends meet in the group commit).
        let mut lanes: std::collections::HashMap<(i32, String), Vec<usize>> = std::collections::HashMap::new();
        for (i, a) in appends.iter().enumerate() {
            let key = a.aggregate.as_ref().map(|g| (g.r#type, g.id.clone())).unwrap_or((0, String::new()));
            lanes.entry(key).or_default().push(i);
        }
        let appends = &appends;
        let lanes = lanes.into_values().map(|lane| async move {
            let mut out = Vec::with_capacity(lane.len());
            let mut unknown = false;
            for i in lane {
                let result = if unknown {
                    // An earlier append to this aggregate may or may not have been written: going on could put
                    // this one before it once the client retries.
                    let s = Status::unavailable(
                        "not attempted: an earlier append to the same aggregate in this call had an unknown \
                         outcome; retry both in order",
                    );
                    v1::append_result::Result::Failed(failure(&s))
                } else {
                    match self.append_request(principal, &appends[i]).await {
                        Ok(ok) => v1::append_result::Result::Ok(ok),
                        Err(status) => {
                            unknown = matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Internal);
                            v1::append_result::Result::Failed(failure(&status))
                        }
                    }
                };
                out.push((i, result));
            }
            out
        });
        let mut results = vec![v1::AppendResult { result: None }; appends.len()];
        for lane in futures::stream::iter(lanes).buffer_unordered(MAX_GROUP_LANES).collect::<Vec<_>>().await {
            for (i, r) in lane {
                results[i].result = Some(r);
            }
        }
        Ok(Response::new(v1::AppendManyResponse { results }))
    }
}
