//! `ledger bench --smoke`: every measurement of the benchmark runs (with small counts) against a real nats-server
//! and Postgres, writes its JSON, and cleans up after itself. CI runs only this short mode; the figures in
//! docs/benchmarks.md come from full runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn the_benchmark_smoke_run_measures_everything_writes_json_and_cleans_up() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["bench", "--smoke", "--json"])
        .arg(&json)
        .env("LEDGER_NATS_URL", &nats.url)
        .env("LEDGER_DATABASE_URL", admin_url())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let positive = |v: &Value| v.as_f64().is_some_and(|x| x > 0.0);

    for k in [
        "jetstream_pipelined_events_per_s",
        "jetstream_atomic_batch_100_events_per_s",
        "jetstream_atomic_batch_1000_events_per_s",
        "postgres_copy_rows_per_s",
    ] {
        assert!(positive(&r["raw"][k]), "raw.{k}: {}", r["raw"]);
    }
    let grpc = r["grpc_append"].as_array().unwrap();
    assert_eq!(grpc.len(), 2);
    assert!(grpc.iter().all(|g| positive(&g["events_per_s"]) && positive(&g["p99_ms"])), "{grpc:?}");
    assert!(positive(&r["bulk_append_events_per_s"]));
    let rebuilds = r["rebuilds"].as_array().unwrap();
    assert_eq!(rebuilds.len(), 2);
    for rb in rebuilds {
        assert_eq!(rb["projections"].as_array().unwrap().len(), TestApp::PROJECTIONS, "{rb}");
        assert!(positive(&rb["raw_fetch_copy_events_per_s"]) && positive(&rb["peak_rss_mb"]), "{rb}");
    }
    let lag = &r["e2e_lag"][0];
    assert_eq!(lag["seen"], lag["events"], "every append became visible: {lag}");
    assert_eq!(r["queries"].as_object().unwrap().len(), 13, "{}", r["queries"]);
    let cp = &r["checkpoint_lag"];
    assert_eq!(cp["covered"], cp["events"], "every append was covered by a signed checkpoint: {cp}");
    assert!(positive(&cp["p99_ms"]), "{cp}");
    let v = &r["verify_export"];
    assert_eq!(v["leaves"], 20_000, "{v}");
    assert!(positive(&v["leaves_per_s"]) && positive(&v["sha256_leaves_per_s"]), "{v}");
    assert!(positive(&r["verify_api"]["leaves"]) && positive(&r["verify_api"]["leaves_per_s"]), "{}", r["verify_api"]);
    for role in ["append-api", "projector", "query-api", "notary"] {
        assert!(positive(&r["peak_rss_mb"][role]), "{role}: {}", r["peak_rss_mb"]);
    }
    assert!(r["ratios"].as_object().is_some_and(|o| !o.is_empty()));
    assert!(stdout.contains("ratios"), "the table is printed:\n{stdout}");

    // Nothing left behind: its streams are deleted, and so are its databases.
    let tag = r["tag"].as_str().unwrap();
    let js = async_nats::jetstream::new(nats_client(&nats.url).await.unwrap());
    for s in ["BENCH", "BENCHRB", "BENCHRAW"] {
        assert!(js.get_stream(format!("{s}_{tag}")).await.is_err(), "stream {s}_{tag} left behind");
        assert!(
            js.get_stream(format!("{s}_{tag}_CHECKPOINTS")).await.is_err(),
            "stream {s}_{tag}_CHECKPOINTS left behind"
        );
    }
    let pg = ledger_readmodel::connect(&admin_url()).await.unwrap();
    let left: i64 =
        pg.query_one("SELECT count(*) FROM pg_database WHERE datname LIKE '%' || $1", &[&tag]).await.unwrap().get(0);
    assert_eq!(left, 0, "databases of run {tag} left behind");
}
