//! `GET /metrics` in the Prometheus text format: what operators watch — appends by outcome, events written,
//! projection position, lag and quarantined messages, projector restarts.
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ledger_append::AppendMetrics;
use ledger_log::Log;
use ledger_projector::ProjectorMetrics;

/// What the endpoint reads from.
#[derive(Clone)]
pub struct Sources {
    pub log: Log,
    pub append: Option<Arc<AppendMetrics>>,
    pub projections: Vec<(&'static str, Arc<ProjectorMetrics>)>,
}

/// Renders the current values.
pub async fn render(s: &Sources) -> String {
    let mut out = Exposition::default();
    log_metrics(&mut out, s).await;
    if let Some(a) = &s.append {
        append_metrics(&mut out, a, &s.log);
    }
    auth_metrics(&mut out);
    if !s.projections.is_empty() {
        projection_metrics(&mut out, &s.projections);
    }
    out.0
}

/// The text being rendered.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    /// One metric: its help and type lines, then one line per sample (labels, value).
    fn metric(&mut self, name: &str, help: &str, kind: &str, samples: &[(String, u64)]) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(self.0, "{name}{labels} {v}");
        }
    }
}

/// The log's end and whether it answered, and each projection's lag behind it.
async fn log_metrics(out: &mut Exposition, s: &Sources) {
    match s.log.end().await {
        Ok(end) => {
            out.metric(
                "ledger_log_end_position",
                "Position of the last event in the log.",
                "gauge",
                &[(String::new(), end)],
            );
            let lag: Vec<(String, u64)> = s
                .projections
                .iter()
                .map(|(n, m)| {
                    (format!("{{projection=\"{n}\"}}"), end.saturating_sub(m.position.load(Ordering::Relaxed)))
                })
                .collect();
            out.metric(
                "ledger_projection_lag_events",
                "Events in the log not yet applied by the projection.",
                "gauge",
                &lag,
            );
            out.metric("ledger_log_up", "1 if the log answered this scrape.", "gauge", &[(String::new(), 1)]);
        }
        Err(_) => out.metric("ledger_log_up", "1 if the log answered this scrape.", "gauge", &[(String::new(), 0)]),
    }
}

/// Appends by outcome, events written, and the group commit's batches.
fn append_metrics(out: &mut Exposition, a: &AppendMetrics, log: &Log) {
    let outcomes = [
        ("written", &a.written),
        ("deduplicated", &a.deduplicated),
        ("invalid", &a.invalid),
        ("denied", &a.denied),
        ("rule", &a.rule),
        ("conflict", &a.conflict),
        ("unavailable", &a.unavailable),
        ("internal", &a.internal),
    ];
    let samples: Vec<(String, u64)> =
        outcomes.iter().map(|(o, c)| (format!("{{outcome=\"{o}\"}}"), c.load(Ordering::Relaxed))).collect();
    out.metric("ledger_appends_total", "Append requests by outcome.", "counter", &samples);
    out.metric(
        "ledger_events_written_total",
        "Events written to the log.",
        "counter",
        &[(String::new(), a.events_written.load(Ordering::Relaxed))],
    );
    let g = log.group_stats();
    let one = |c: &std::sync::atomic::AtomicU64| [(String::new(), c.load(Ordering::Relaxed))];
    out.metric(
        "ledger_group_commits_total",
        "Atomic batches that carried several appends.",
        "counter",
        &one(&g.groups),
    );
    out.metric(
        "ledger_group_commit_appends_total",
        "Appends written in those batches.",
        "counter",
        &one(&g.grouped_appends),
    );
    out.metric(
        "ledger_group_commits_refused_total",
        "Groups the server refused (their appends were then written one by one).",
        "counter",
        &one(&g.refused_groups),
    );
}

/// Authentication failures by reason, refusals by missing grant, failed key reloads.
fn auth_metrics(out: &mut Exposition) {
    let labelled = |label: &str, v: Vec<(String, u64)>| -> Vec<(String, u64)> {
        v.into_iter().map(|(k, n)| (format!("{{{label}=\"{k}\"}}"), n)).collect()
    };
    out.metric(
        "ledger_auth_failures_total",
        "Calls refused as UNAUTHENTICATED, by reason (missing, expired, wrong_audience, bad_signature, unknown_key, ...).",
        "counter",
        &labelled("reason", ledger_auth::metrics::failures()),
    );
    out.metric(
        "ledger_auth_denied_total",
        "Calls refused as PERMISSION_DENIED, by the role of the missing grant.",
        "counter",
        &labelled("grant", ledger_auth::metrics::refusals()),
    );
    out.metric(
        "ledger_auth_key_reload_failures_total",
        "Checks that found the public key file changed but unreadable (the previous keys stayed in use).",
        "counter",
        &[(String::new(), ledger_auth::metrics::key_reload_failures())],
    );
}

/// Each projection's position, events, batches, quarantined messages and restarts.
fn projection_metrics(out: &mut Exposition, projections: &[(&'static str, Arc<ProjectorMetrics>)]) {
    let per = |f: fn(&ProjectorMetrics) -> u64| -> Vec<(String, u64)> {
        projections.iter().map(|(n, m)| (format!("{{projection=\"{n}\"}}"), f(m))).collect()
    };
    out.metric(
        "ledger_projection_position",
        "Last log position applied.",
        "gauge",
        &per(|m| m.position.load(Ordering::Relaxed)),
    );
    out.metric(
        "ledger_projection_events_applied_total",
        "Events applied.",
        "counter",
        &per(|m| m.events_applied.load(Ordering::Relaxed)),
    );
    out.metric(
        "ledger_projection_batches_total",
        "Batches committed.",
        "counter",
        &per(|m| m.batches.load(Ordering::Relaxed)),
    );
    out.metric(
        "ledger_projection_quarantined_total",
        "Messages quarantined.",
        "counter",
        &per(|m| m.quarantined.load(Ordering::Relaxed)),
    );
    out.metric(
        "ledger_projection_restarts_total",
        "Restarts after failures.",
        "counter",
        &per(|m| m.restarts.load(Ordering::Relaxed)),
    );
}

/// The axum router serving `/metrics`; with `auth`, only to callers with a valid token (any principal).
pub fn router(sources: Sources, auth: Option<ledger_auth::Authenticator>) -> axum::Router {
    use axum::response::IntoResponse as _;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let s = sources.clone();
            let auth = auth.clone();
            async move {
                if let Some(auth) = auth
                    && let Err(e) = auth.authenticate(&headers, None)
                {
                    return (axum::http::StatusCode::UNAUTHORIZED, e.to_string()).into_response();
                }
                ([("content-type", "text/plain; version=0.0.4")], render(&s).await).into_response()
            }
        }),
    )
}
