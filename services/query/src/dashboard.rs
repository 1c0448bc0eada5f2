//! The web dashboard: a page, its script and style (all compiled into the binary, nothing from elsewhere), and
//! JSON made of the query API's own answers, served over HTTP next to the gRPC query service.
//!
//! `GET /` the page; `GET /api/status` projection status (polled by the page every 2 s); `GET /api/dashboard`
//! every read model the page shows, fetched again when the status changes. Errors are `503` with a JSON body
//! `{"error": "..."}` naming what is unreachable.
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

/// The dashboard's routes over `service`.
pub fn router(service: QueryService) -> Router {
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
        .with_state(service)
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
            tonic::Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (code, axum::Json(json!({ "error": self.0.message() }))).into_response()
    }
}

fn json_response(v: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response()
}

async fn status(State(service): State<QueryService>) -> Result<Response, ApiError> {
    let s = service.projection_status(Request::new(v1::ProjectionStatusRequest {})).await?.into_inner();
    Ok(json_response(serde_json::to_value(s)?))
}

fn page(offset: u64) -> v1::ReportRequest {
    v1::ReportRequest { page: Some(v1::Page { page_size: 1000, offset }), ..Default::default() }
}

/// Calls a paginated query until its last page and returns the first answer with every page's rows in it.
macro_rules! all_pages {
    ($service:expr, $call:ident, $rows:ident) => {{
        let mut first = $service.$call(Request::new(page(0))).await?.into_inner();
        let mut next = first.next_offset;
        for _ in 1..MAX_PAGES {
            if next == 0 {
                break;
            }
            let more = $service.$call(Request::new(page(next))).await?.into_inner();
            first.$rows.extend(more.$rows);
            next = more.next_offset;
        }
        first.next_offset = next;
        serde_json::to_value(first)?
    }};
}

async fn dashboard(State(s): State<QueryService>) -> Result<Response, ApiError> {
    let status = s.projection_status(Request::new(v1::ProjectionStatusRequest {})).await?.into_inner();
    let mut dormant_req = page(0);
    if let Some(p) = dormant_req.page.as_mut() {
        p.page_size = 100;
    }
    let dormant = s.dormant_members(Request::new(dormant_req)).await?.into_inner();
    Ok(json_response(json!({
        "status": serde_json::to_value(status)?,
        "members": all_pages!(s, current_members, coalitions),
        "national": all_pages!(s, national_coalitions, months),
        "growth": all_pages!(s, coalition_growth, months),
        "by_type": all_pages!(s, members_by_type, rows),
        "pipeline": all_pages!(s, pledge_pipeline, rows),
        "scoreboard": all_pages!(s, pledge_scoreboard, rows),
        "outcomes": all_pages!(s, outcomes, rows),
        "participation": all_pages!(s, participation, rows),
        "content": all_pages!(s, content_shared, rows),
        "dormant": serde_json::to_value(dormant)?,
        "targets": all_pages!(s, digital_decade_targets, targets),
    })))
}
