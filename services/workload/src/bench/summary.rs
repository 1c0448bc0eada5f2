//! The summary of a run: the ratios the targets are stated in, computed from the report.
use serde_json::{Value, json};

/// The ratios the targets are stated in, printed and added to the report.
pub(super) fn summarise(report: &mut Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let ratio = |a: f64, b: f64| if b > 0.0 { (a / b * 100.0).round() / 100.0 } else { 0.0 };
    let at64 = report["grpc_append"]
        .as_array()
        .and_then(|a| a.iter().max_by_key(|x| x["clients"].as_u64()))
        .map_or(0.0, |x| f(&x["events_per_s"]));
    let batch = f(&report["raw"]["jetstream_atomic_batch_1000_events_per_s"]);
    let one = f(&report["raw"]["jetstream_pipelined_events_per_s"]);
    let rebuilds = report["rebuilds"].as_array().cloned().unwrap_or_default();
    let growth = |r: &Value| {
        r["projections"]
            .as_array()
            .and_then(|p| p.iter().find(|x| x["name"] == "coalition_growth"))
            .map_or(0.0, |x| f(&x["events_per_s"]))
    };
    let mut ratios = json!({
        "append_most_clients_vs_atomic_batch_limit": ratio(at64, batch),
        "append_most_clients_vs_one_message_per_event": ratio(at64, one),
        "bulk_vs_atomic_batch_limit": ratio(f(&report["bulk_append_events_per_s"]), batch),
    });
    if let (Some(small), Some(big)) = (rebuilds.first(), rebuilds.last()) {
        ratios["rebuild_growth_vs_raw_fetch_copy_largest"] =
            json!(ratio(growth(big), f(&big["raw_fetch_copy_events_per_s"])));
        ratios["rebuild_time_largest_vs_smallest"] = json!(ratio(f(&big["wall_s"]), f(&small["wall_s"])));
        ratios["rebuild_size_largest_vs_smallest"] = json!(ratio(f(&big["events"]), f(&small["events"])));
    }
    if let Some(peer) = report["peer"].as_array() {
        for p in peer {
            let ours = report["grpc_append"]
                .as_array()
                .and_then(|a| a.iter().find(|g| g["clients"] == p["clients"]))
                .map_or(0.0, |g| f(&g["events_per_s"]));
            ratios[format!("append_{}_clients_vs_peer", p["clients"])] = json!(ratio(ours, f(&p["events_per_s"])));
        }
    }
    println!("\nratios: {}", serde_json::to_string_pretty(&ratios).unwrap_or_default());
    report["ratios"] = ratios;
}
