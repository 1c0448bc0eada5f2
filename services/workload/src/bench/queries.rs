//! The dashboard's queries over the demo history: the history appended through the API first, then each query
//! timed.
use std::collections::BTreeMap;
use std::time::Instant;

use ledger_proto::v1;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use serde_json::{Value, json};

use super::clients::Authed;
use super::stats::{ms, percentile};

/// Appends the first `history` requests of the demo history (0: all of it), waits until the slowest projections
/// show them, then times the dashboard's queries `repeats` times each; prints and returns p50 and p99 per query.
pub(super) async fn over_the_demo_history(
    append: &Authed,
    query: &Authed,
    history: usize,
    repeats: usize,
) -> anyhow::Result<Value> {
    let mut client = LedgerAppendClient::new(append.clone());
    let items = crate::generator::generate(2013);
    let take = if history == 0 { items.len() } else { history.min(items.len()) };
    let started = Instant::now();
    let mut last = 0;
    for item in items.into_iter().take(take) {
        last = client.append(item.request).await?.into_inner().revision.max(last);
    }
    println!("\ndemo history: {take} requests appended in {:.1}s", started.elapsed().as_secs_f64());
    let mut q = LedgerQueryClient::new(query.clone());
    q.projection_status(v1::ProjectionStatusRequest {}).await?;
    let wait = v1::ReportRequest {
        consistency: Some(v1::Consistency { min_position: last, max_wait_ms: 10_000 }),
        ..Default::default()
    };
    for _ in 0..30 {
        if q.outcomes(wait.clone()).await.is_ok() && q.dormant_members(wait.clone()).await.is_ok() {
            break;
        }
    }
    let queries = time_queries(query, repeats).await?;
    println!("dashboard queries over it ({repeats} times each):");
    for (name, (p50, p99)) in &queries {
        println!("  {name:<24} p50 {p50:>7} ms  p99 {p99:>7} ms");
    }
    Ok(json!(
        queries
            .iter()
            .map(|(k, (a, b))| (k.to_string(), json!({"p50_ms": a, "p99_ms": b})))
            .collect::<serde_json::Map<_, _>>()
    ))
}

/// p50 and p99 in ms of each query, run `repeats` times, by its gRPC method's name.
async fn time_queries(query: &Authed, repeats: usize) -> anyhow::Result<BTreeMap<&'static str, (f64, f64)>> {
    let mut q = LedgerQueryClient::new(query.clone());
    let page = |n| v1::ReportRequest { page: Some(v1::Page { page_size: n, offset: 0 }), ..Default::default() };
    let mut out = BTreeMap::new();
    macro_rules! measure {
        ($name:literal, $call:ident, $req:expr) => {{
            let mut t = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                let started = Instant::now();
                q.$call($req).await?;
                t.push(started.elapsed());
            }
            t.sort();
            out.insert($name, (ms(percentile(&t, 0.5)), ms(percentile(&t, 0.99))));
        }};
    }
    measure!("CurrentMembers", current_members, page(1000));
    measure!("CoalitionGrowth", coalition_growth, page(1000));
    measure!("MembersByType", members_by_type, page(1000));
    measure!("NationalCoalitions", national_coalitions, page(1000));
    measure!("PledgePipeline", pledge_pipeline, page(1000));
    measure!("PledgeScoreboard", pledge_scoreboard, page(100));
    measure!("OrganisationScoreboard", organisation_scoreboard, page(100));
    measure!("Outcomes", outcomes, page(100));
    measure!("Participation", participation, page(100));
    measure!("ContentShared", content_shared, page(100));
    measure!("DormantMembers", dormant_members, page(100));
    measure!("DigitalDecadeTargets", digital_decade_targets, page(100));
    measure!("ProjectionStatus", projection_status, v1::ProjectionStatusRequest {});
    Ok(out)
}
