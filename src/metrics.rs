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
    pub notary: Option<Arc<ledger_projector::notary::NotaryMetrics>>,
    pub as_of: Option<Arc<ledger_query::AsOfMetrics>>,
}

/// The text being written: one metric family after another.
#[derive(Default)]
struct Exposition(String);

/// A family's samples: labels (`{k="v"}` or empty) and value.
type Samples = Vec<(String, u64)>;

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str, samples: &[(String, u64)]) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(self.0, "{name}{labels} {v}");
        }
    }
}

/// A metric family read from a value of type `T`: name, help, kind and how to read it.
type Family<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

/// One unlabelled sample.
fn single(v: u64) -> Samples {
    vec![(String::new(), v)]
}

/// Samples labelled `label="key"`.
fn labelled(label: &str, v: Vec<(String, u64)>) -> Samples {
    v.into_iter().map(|(k, n)| (format!("{{{label}=\"{k}\"}}"), n)).collect()
}

/// Renders the current values.
pub async fn render(s: &Sources) -> String {
    let mut out = Exposition::default();
    log_families(&mut out, s).await;
    if let Some(a) = &s.append {
        append_families(&mut out, a, &s.log);
    }
    auth_families(&mut out);
    if !s.projections.is_empty() {
        projection_families(&mut out, &s.projections);
    }
    if let Some(n) = &s.notary {
        let read = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        out.family(
            "ledger_notary_tree_size",
            "Leaves in the notary's Merkle tree.",
            "gauge",
            &single(read(&n.tree_size)),
        );
        out.family(
            "ledger_notary_checkpoint_size",
            "Tree size of the latest signed checkpoint.",
            "gauge",
            &single(read(&n.checkpoint_size)),
        );
        out.family("ledger_notary_checkpoints_total", "Checkpoints signed.", "counter", &single(read(&n.checkpoints)));
        out.family(
            "ledger_notary_restarts_total",
            "Times the notary restarted after a failure.",
            "counter",
            &single(read(&n.restarts)),
        );
    }
    if let Some(a) = &s.as_of {
        as_of_families(&mut out, a);
    }
    out.0
}

/// The query role's as-of builds.
fn as_of_families(out: &mut Exposition, a: &ledger_query::AsOfMetrics) {
    let families: [Family<ledger_query::AsOfMetrics>; 7] = [
        ("ledger_as_of_builds_total", "As-of builds completed.", "counter", |a| a.builds.load(Ordering::Relaxed)),
        ("ledger_as_of_build_failures_total", "As-of builds that failed.", "counter", |a| {
            a.failures.load(Ordering::Relaxed)
        }),
        ("ledger_as_of_reused_total", "As-of answers from a build kept or already in progress.", "counter", |a| {
            a.reused.load(Ordering::Relaxed)
        }),
        ("ledger_as_of_build_milliseconds_total", "Time spent in completed as-of builds.", "counter", |a| {
            a.build_ms.load(Ordering::Relaxed)
        }),
        ("ledger_as_of_build_events_total", "Log events read by completed as-of builds.", "counter", |a| {
            a.events.load(Ordering::Relaxed)
        }),
        ("ledger_as_of_builds_kept", "As-of builds kept now (each holds a Postgres connection).", "gauge", |a| {
            a.kept.load(Ordering::Relaxed)
        }),
        ("ledger_as_of_builds_in_progress", "As-of builds running or waiting to run now.", "gauge", |a| {
            a.building.load(Ordering::Relaxed)
        }),
    ];
    for (name, help, kind, read) in families {
        out.family(name, help, kind, &single(read(a)));
    }
}

/// The log's end, whether it answered, and each projection's lag behind it.
async fn log_families(out: &mut Exposition, s: &Sources) {
    match s.log.end().await {
        Ok(end) => {
            out.family("ledger_log_end_position", "Position of the last event in the log.", "gauge", &single(end));
            let lag: Samples = s
                .projections
                .iter()
                .map(|(n, m)| (n.to_string(), end.saturating_sub(m.position.load(Ordering::Relaxed))))
                .collect();
            out.family(
                "ledger_projection_lag_events",
                "Events in the log not yet applied by the projection.",
                "gauge",
                &labelled("projection", lag),
            );
            if let Some(n) = &s.notary {
                let covered = n.checkpoint_size.load(Ordering::Relaxed);
                out.family(
                    "ledger_notary_checkpoint_lag_events",
                    "Events in the log not yet covered by a signed checkpoint.",
                    "gauge",
                    &single(end.saturating_sub(covered)),
                );
            }
            out.family("ledger_log_up", "1 if the log answered this scrape.", "gauge", &single(1));
        }
        Err(_) => out.family("ledger_log_up", "1 if the log answered this scrape.", "gauge", &single(0)),
    }
    let c = s.log.connection_stats();
    let connected = u64::from(c.connected.load(Ordering::Relaxed));
    out.family("ledger_nats_connected", "1 while the connection to NATS is up.", "gauge", &single(connected));
    let lost = c.disconnects.load(Ordering::Relaxed);
    out.family("ledger_nats_disconnects_total", "Times the connection to NATS was lost.", "counter", &single(lost));
    let back = c.reconnects.load(Ordering::Relaxed);
    out.family("ledger_nats_reconnects_total", "Times it was established again.", "counter", &single(back));
    let intact = u64::from(s.log.stream_fault().is_none());
    out.family(
        "ledger_stream_intact",
        "1 while the stream passes its checks (settings, first sequence 1, nothing lost); 0: appends are refused.",
        "gauge",
        &single(intact),
    );
    let (checks, violations) = s.log.stream_checks();
    out.family("ledger_stream_checks_total", "Checks of the stream's settings and range.", "counter", &single(checks));
    out.family("ledger_stream_violations_total", "Checks that found a violation.", "counter", &single(violations));
    let seen = s.log.highest_seen();
    out.family(
        "ledger_log_highest_seen",
        "The highest position this process knows the log held.",
        "gauge",
        &single(seen),
    );
}

/// Appends by outcome, events written, and the group committer's batches.
fn append_families(out: &mut Exposition, a: &AppendMetrics, log: &Log) {
    let outcomes = [
        ("written", &a.written),
        ("deduplicated", &a.deduplicated),
        ("invalid", &a.invalid),
        ("denied", &a.denied),
        ("rule", &a.rule),
        ("conflict", &a.conflict),
        ("unavailable", &a.unavailable),
        ("unreadable", &a.unreadable),
        ("internal", &a.internal),
    ];
    let samples: Samples = outcomes.iter().map(|(o, c)| ((*o).to_owned(), c.load(Ordering::Relaxed))).collect();
    out.family("ledger_appends_total", "Append requests by outcome.", "counter", &labelled("outcome", samples));
    let written = a.events_written.load(Ordering::Relaxed);
    out.family("ledger_events_written_total", "Events written to the log.", "counter", &single(written));
    let g = log.group_stats();
    let one = |c: &std::sync::atomic::AtomicU64| single(c.load(Ordering::Relaxed));
    out.family(
        "ledger_group_commits_total",
        "Atomic batches that carried several appends.",
        "counter",
        &one(&g.groups),
    );
    out.family(
        "ledger_group_commit_appends_total",
        "Appends written in those batches.",
        "counter",
        &one(&g.grouped_appends),
    );
    out.family(
        "ledger_group_commits_refused_total",
        "Groups the server refused (their appends were then written one by one).",
        "counter",
        &one(&g.refused_groups),
    );
}

/// Refused calls and key reload failures.
fn auth_families(out: &mut Exposition) {
    out.family(
        "ledger_auth_failures_total",
        "Calls refused as UNAUTHENTICATED, by reason (missing, expired, wrong_audience, bad_signature, unknown_key, ...).",
        "counter",
        &labelled("reason", ledger_auth::metrics::failures()),
    );
    out.family(
        "ledger_auth_denied_total",
        "Calls refused as PERMISSION_DENIED, by the role of the missing grant.",
        "counter",
        &labelled("grant", ledger_auth::metrics::refusals()),
    );
    out.family(
        "ledger_limit_refusals_total",
        "Calls refused as RESOURCE_EXHAUSTED by the auth layer's limits: principal_in_flight, server_in_flight, rate.",
        "counter",
        &labelled("limit", ledger_auth::metrics::limit_refusals()),
    );
    out.family(
        "ledger_auth_key_reload_failures_total",
        "Checks that found the public key file changed but unreadable (the previous keys stayed in use).",
        "counter",
        &single(ledger_auth::metrics::key_reload_failures()),
    );
}

/// Each projector's position, work done, quarantined messages and restarts.
fn projection_families(out: &mut Exposition, projections: &[(&'static str, Arc<ProjectorMetrics>)]) {
    let per = |f: fn(&ProjectorMetrics) -> u64| -> Samples {
        labelled("projection", projections.iter().map(|(n, m)| (n.to_string(), f(m))).collect())
    };
    let families: [Family<ProjectorMetrics>; 5] = [
        ("ledger_projection_position", "Last log position applied.", "gauge", |m| m.position.load(Ordering::Relaxed)),
        ("ledger_projection_events_applied_total", "Events applied.", "counter", |m| {
            m.events_applied.load(Ordering::Relaxed)
        }),
        ("ledger_projection_batches_total", "Batches committed.", "counter", |m| m.batches.load(Ordering::Relaxed)),
        ("ledger_projection_quarantined_total", "Messages quarantined.", "counter", |m| {
            m.quarantined.load(Ordering::Relaxed)
        }),
        ("ledger_projection_restarts_total", "Restarts after failures.", "counter", |m| {
            m.restarts.load(Ordering::Relaxed)
        }),
    ];
    for (name, help, kind, value) in families {
        out.family(name, help, kind, &per(value));
    }
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
