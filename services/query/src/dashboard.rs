//! The web dashboard: a page, its script and style (all compiled into the binary, nothing from elsewhere), and
//! JSON made of the query API's own answers, served over HTTP next to the gRPC query service.
//!
//! `GET /` the page; `GET /api/status` projection status (polled by the page every 2 s); `GET /api/dashboard`
//! every read model the page shows, fetched again when the status changes. Errors are JSON `{"error": "..."}`:
//! `401` without a valid token, `403` without a read grant, `503` naming what is unreachable.
//!
//! The page and its assets are served to anyone; the data needs `authorization: Bearer <token>` (the page asks
//! for the token and keeps it in memory only). Each answer is the query service's own, made for the caller's
//! principal, so a reader of one coalition sees that coalition's rows only; the sections whose rows sum over
//! every coalition are `null` for it.
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ledger_auth::Authenticator;
use ledger_domain::access::{Principal, ReadScope, authorize_read};
use ledger_proto::v1;
use ledger_proto::v1::ledger_query_server::LedgerQuery;
use serde_json::{Value, json};
use tonic::Request;

use crate::QueryService;

const INDEX: &str = include_str!("../assets/dashboard/index.html");
const SCRIPT: &str = include_str!("../assets/dashboard/app.js");
const STYLE: &str = include_str!("../assets/dashboard/style.css");
const ICON: &str = include_str!("../assets/dashboard/favicon.svg");
/// Pages fetched per list at most (the page size is 1000 rows).
const MAX_PAGES: usize = 100;

#[derive(Clone)]
struct Dashboard {
    service: QueryService,
    auth: Authenticator,
}

/// The dashboard's routes over `service`, its data authenticated by `auth`.
pub fn router(service: QueryService, auth: Authenticator) -> Router {
    let asset = |mime: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache")], body) })
    };
    Router::new()
        .route("/", asset("text/html; charset=utf-8", INDEX))
        .route("/app.js", asset("text/javascript; charset=utf-8", SCRIPT))
        .route("/style.css", asset("text/css; charset=utf-8", STYLE))
        .route("/favicon.svg", asset("image/svg+xml", ICON))
        .route("/favicon.ico", asset("image/svg+xml", ICON))
        .route("/api/status", get(status))
        .route("/api/dashboard", get(dashboard))
        .with_state(Dashboard { service, auth })
}

/// Authenticates the caller from its `authorization` header.
fn caller(d: &Dashboard, headers: &HeaderMap) -> Result<Principal, ApiError> {
    d.auth.authenticate(headers, None).map_err(|e| ApiError(tonic::Status::unauthenticated(e.to_string())))
}

/// A request to the query service on behalf of `principal`.
fn as_caller<T>(principal: &Principal, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.extensions_mut().insert(principal.clone());
    r
}

struct ApiError(tonic::Status);

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        Self(s)
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        Self(tonic::Status::internal(e.to_string()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = match self.0.code() {
            tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
            tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
            tonic::Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (code, axum::Json(json!({ "error": self.0.message() }))).into_response()
    }
}

fn json_response(v: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response()
}

async fn status(State(d): State<Dashboard>, headers: HeaderMap) -> Result<Response, ApiError> {
    let p = caller(&d, &headers)?;
    let s = d.service.projection_status(as_caller(&p, v1::ProjectionStatusRequest {})).await?.into_inner();
    Ok(json_response(serde_json::to_value(s)?))
}

fn page(offset: u64) -> v1::ReportRequest {
    v1::ReportRequest { page: Some(v1::Page { page_size: 1000, offset }), ..Default::default() }
}

/// Calls a paginated query until its last page and returns the first answer with every page's rows in it.
/// Every page of a report. A section the caller may not read (its rows sum over every coalition, and it reads
/// some coalitions only: `$open` is false) is `null`, without asking (a refusal on every refresh would be noise).
macro_rules! all_pages {
    ($service:expr, $p:expr, $call:ident, $rows:ident) => {
        all_pages!($service, $p, $call, $rows, true)
    };
    ($service:expr, $p:expr, $call:ident, $rows:ident, $open:expr) => {{
        if $open {
            let mut first = $service.$call(as_caller($p, page(0))).await?.into_inner();
            let mut next = first.next_offset;
            for _ in 1..MAX_PAGES {
                if next == 0 {
                    break;
                }
                let more = $service.$call(as_caller($p, page(next))).await?.into_inner();
                first.$rows.extend(more.$rows);
                next = more.next_offset;
            }
            first.next_offset = next;
            serde_json::to_value(first)?
        } else {
            Value::Null
        }
    }};
}

async fn dashboard(State(d): State<Dashboard>, headers: HeaderMap) -> Result<Response, ApiError> {
    let p = &caller(&d, &headers)?;
    let scope = authorize_read(p).map_err(|e| ApiError(ledger_auth::deny(p, e)))?;
    let s = &d.service;
    // Readers of some coalitions: the sections whose rows sum over every coalition are not theirs to see.
    let every = scope == ReadScope::All;
    let status = s.projection_status(as_caller(p, v1::ProjectionStatusRequest {})).await?.into_inner();
    let mut dormant_req = page(0);
    if let Some(p) = dormant_req.page.as_mut() {
        p.page_size = 100;
    }
    let dormant = s.dormant_members(as_caller(p, dormant_req)).await?.into_inner();
    let coalitions = match &scope {
        ReadScope::All => json!("*"),
        ReadScope::Coalitions(c) => json!(c.iter().map(ToString::to_string).collect::<Vec<_>>()),
    };
    Ok(json_response(json!({
        "principal": { "subject": p.subject, "coalitions": coalitions },
        "status": serde_json::to_value(status)?,
        "members": all_pages!(s, p, current_members, coalitions),
        "national": all_pages!(s, p, national_coalitions, months, every),
        "growth": all_pages!(s, p, coalition_growth, months),
        "by_type": all_pages!(s, p, members_by_type, rows),
        "pipeline": all_pages!(s, p, pledge_pipeline, rows),
        "scoreboard": all_pages!(s, p, pledge_scoreboard, rows),
        "outcomes": all_pages!(s, p, outcomes, rows),
        "participation": all_pages!(s, p, participation, rows),
        "content": all_pages!(s, p, content_shared, rows),
        "dormant": serde_json::to_value(dormant)?,
        "targets": all_pages!(s, p, digital_decade_targets, targets),
        "programmes": all_pages!(s, p, programme_overview, rows),
        "sectors": all_pages!(s, p, programme_members_by_sector, rows),
        "working_groups": all_pages!(s, p, working_groups_quarterly, rows),
        "partnership": all_pages!(s, p, partnership_group, rows),
        "coordinators": all_pages!(s, p, national_coordinators, rows),
    })))
}
