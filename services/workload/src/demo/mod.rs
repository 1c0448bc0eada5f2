//! `ledger demo`: the generated coalition history (2013-2026, fixed seed) appended through the public append API
//! like any client's, with progress; then a set of invalid commands, each refused with nothing written; then the
//! resulting report from the query API. Event ids derive from the seed, so a second run writes nothing new.
mod invalid;
mod tokens;

use std::time::{Duration, Instant};

use anyhow::Context;
use ledger_proto::v1;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use tonic::transport::Channel;

use crate::generator::{self, Item};
use tokens::{Tokens, authorized};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Append API endpoint.
    #[arg(long, env = "LEDGER_APPEND_URL", default_value = "http://127.0.0.1:50051")]
    pub append_url: String,
    /// Query API endpoint.
    #[arg(long, env = "LEDGER_QUERY_URL", default_value = "http://127.0.0.1:50052")]
    pub query_url: String,
    /// Seed of the generated history.
    #[arg(long, default_value_t = 2013)]
    pub seed: u64,
    /// Directory of tokens (`ledger auth token` output) named `writer-<coalition>.jwt`,
    /// `coalition-admin-<coalition>.jwt`, `platform-admin.jwt`, `reader-<coalition>.jwt` and `auditor.jwt`: each
    /// append is sent with the token of the role it needs. Without it, no token is sent (a server run with
    /// --insecure-no-auth).
    #[arg(long, env = "LEDGER_DEMO_TOKENS")]
    pub tokens: Option<std::path::PathBuf>,
}

/// Runs the demo against the servers `args` names; fails if any of the history is refused, an invalid command is
/// accepted, or the log grows while they are sent.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut append = LedgerAppendClient::new(connect(&args.append_url).await?);
    let mut query = LedgerQueryClient::new(connect(&args.query_url).await?);
    let tokens = Tokens(args.tokens.clone());
    let history = generator::generate(args.seed);
    let last = append_history(&mut append, &tokens, &history, args.seed).await?;
    refuse_invalid_commands(&mut append, &query, &tokens, &history).await?;
    print_report(&mut query, &tokens, last).await
}

async fn connect(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Channel::from_shared(url.to_owned()).with_context(|| format!("endpoint {url}"))?;
    let mut last = None;
    for _ in 0..50 {
        match endpoint.connect().await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no attempt"), anyhow::Error::from))
        .with_context(|| format!("connecting to {url}"))
}

/// Appends the history in order, printing progress every two seconds; returns the last position written.
async fn append_history(
    append: &mut LedgerAppendClient<Channel>,
    tokens: &Tokens,
    history: &[Item],
    seed: u64,
) -> anyhow::Result<u64> {
    println!("appending {} events of the generated history (seed {seed}) through the append API", history.len());
    let started = Instant::now();
    let (mut written, mut already, mut last) = (0usize, 0usize, 0u64);
    let mut last_report = Instant::now();
    for (i, item) in history.iter().enumerate() {
        let reply = append
            .append(authorized(tokens.for_append(&item.request)?, item.request.clone())?)
            .await
            .with_context(|| format!("append #{i} ({}) was refused", item.on))?
            .into_inner();
        if reply.deduplicated {
            already += 1;
        } else {
            written += 1;
        }
        last = last.max(reply.revision);
        if last_report.elapsed() > Duration::from_secs(2) || i + 1 == history.len() {
            let rate = (i + 1) as f64 / started.elapsed().as_secs_f64();
            println!("  [{:>6}/{}] up to {}  {rate:>6.0} events/s", i + 1, history.len(), item.on);
            last_report = Instant::now();
        }
    }
    println!(
        "appended {written} new events ({already} were already in the log) in {:.1}s; last position {last}",
        started.elapsed().as_secs_f64()
    );
    Ok(last)
}

/// Sends each invalid command (and, with tokens, the unauthorised ones), printing how it was refused; fails if
/// one is accepted or the log's end moved.
async fn refuse_invalid_commands(
    append: &mut LedgerAppendClient<Channel>,
    query: &LedgerQueryClient<Channel>,
    tokens: &Tokens,
    history: &[Item],
) -> anyhow::Result<()> {
    println!("\ninvalid commands (each must be refused and write nothing):");
    let auditor = tokens.read("auditor")?;
    let status = || {
        let mut q = query.clone();
        let req = authorized(auditor.clone(), v1::ProjectionStatusRequest {});
        async move { q.projection_status(req?).await.map(|r| r.into_inner().log_end).map_err(anyhow::Error::from) }
    };
    let before = status().await?;
    let mut refused = invalid::invalid_commands(history)
        .into_iter()
        .map(|(what, code, req)| Ok((what, code, tokens.for_append(&req)?, req)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if tokens.0.is_some() {
        refused.extend(invalid::unauthorised_commands(tokens)?);
    }
    for (what, expected, token, req) in refused {
        match append.append(authorized(token, req)?).await {
            Ok(r) => anyhow::bail!("accepted an invalid command ({what}): {r:?}"),
            Err(e) => {
                let ok = if e.code() == expected { "refused" } else { "REFUSED WITH AN UNEXPECTED CODE" };
                println!("  - {what}\n      {ok}: {:?}: {}", e.code(), e.message());
            }
        }
    }
    let after = status().await?;
    anyhow::ensure!(before == after, "the log grew from {before} to {after} during the invalid commands");
    println!("  log end before and after: {before} = {after}: nothing was written");
    Ok(())
}

/// Prints the members per coalition and Sweden's growth per month as of `last` and, with tokens, what Sweden's
/// reader is shown of the members.
async fn print_report(query: &mut LedgerQueryClient<Channel>, tokens: &Tokens, last: u64) -> anyhow::Result<()> {
    let auditor = tokens.read("auditor")?;
    let consistency = Some(v1::Consistency { min_position: last, max_wait_ms: 10_000 });
    let all =
        v1::ReportRequest { consistency, page: Some(v1::Page { page_size: 1000, offset: 0 }), ..Default::default() };
    let members = query.current_members(authorized(auditor.clone(), all.clone())?).await?.into_inner();
    println!("\ncurrent members per coalition (as of log position {}):", members.position);
    for c in &members.coalitions {
        println!("  {:<4} {:<42} {:>5}", c.coalition_id, c.name, c.members);
    }
    let growth = query
        .coalition_growth(authorized(
            auditor.clone(),
            v1::ReportRequest {
                filter: Some(v1::ReportFilter { coalition_id: "se".into(), ..Default::default() }),
                ..all.clone()
            },
        )?)
        .await?
        .into_inner();
    println!("\nSweden, members per month:\n  month     joins leaves  net cumulative");
    for m in &growth.months {
        println!("  {}  {:>5} {:>6} {:>4} {:>10}", m.month, m.joins, m.leaves, m.net, m.cumulative);
    }
    if let Some(reader) = tokens.read("reader-se")? {
        let seen = query.current_members(authorized(Some(reader), all)?).await?.into_inner();
        let ids: Vec<&str> = seen.coalitions.iter().map(|c| c.coalition_id.as_str()).collect();
        println!("\nthe same CurrentMembers call with the reader token of Sweden's coalition answers: {ids:?}");
    }
    Ok(())
}
