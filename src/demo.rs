//! `ledger demo`: the generated coalition history (2013-2026, fixed seed) appended through the public append API
//! like any client's, with progress; then a set of invalid commands, each refused with nothing written; then the
//! resulting report from the query API. Event ids derive from the seed, so a second run writes nothing new.
use std::time::{Duration, Instant};

use anyhow::Context;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use ledger_proto::v1::{self, event_payload::Event as P};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::generator::{self, Item};

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

/// The demo's tokens, read from their directory as needed.
struct Tokens(Option<std::path::PathBuf>);

impl Tokens {
    fn read(&self, name: &str) -> anyhow::Result<Option<String>> {
        let Some(dir) = &self.0 else { return Ok(None) };
        let path = dir.join(format!("{name}.jwt"));
        let t = std::fs::read_to_string(&path).with_context(|| format!("reading the token {}", path.display()))?;
        Ok(Some(t.trim().to_owned()))
    }

    /// The token of the role an append needs: the coalition admin's for a coalition's lifecycle, the platform
    /// admin's for a rename, else the writer's of the coalition it is for (any writer's to register an organisation).
    fn for_append(&self, req: &v1::AppendRequest) -> anyhow::Result<Option<String>> {
        let agg = req.aggregate.clone().unwrap_or_default();
        let first = req.events.first().and_then(|e| e.payload.as_ref()).and_then(|p| p.event.as_ref());
        let named = ledger_proto::convert::payload_to_domain(req.events.first().and_then(|e| e.payload.as_ref()))
            .ok()
            .and_then(|k| k.coalition_id().map(ToString::to_string));
        let name = if agg.r#type == i32::from(v1::AggregateType::Coalition) {
            format!("coalition-admin-{}", agg.id)
        } else if matches!(first, Some(P::OrganisationRenamed(_))) {
            "platform-admin".to_owned()
        } else if !req.coalition_id.is_empty() {
            format!("writer-{}", req.coalition_id)
        } else {
            format!("writer-{}", named.unwrap_or_else(|| "eu".into()))
        };
        self.read(&name)
    }
}

/// `message` with `authorization: Bearer <token>` if there is a token.
fn authorized<T>(token: Option<String>, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(message);
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().context("token is not ASCII")?);
    }
    Ok(r)
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

fn date(y: i32, m: u32, d: u32) -> Option<v1::Date> {
    Some(v1::Date { year: y, month: m, day: d })
}

fn one(kind: v1::AggregateType, id: &str, event: P) -> v1::AppendRequest {
    v1::AppendRequest {
        aggregate: Some(v1::AggregateRef { r#type: kind.into(), id: id.into() }),
        coalition_id: String::new(),
        expected_revision: None,
        events: vec![v1::EventData {
            event_id: Uuid::new_v4().to_string(),
            occurred_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            actor: "ledger-demo".into(),
            source: v1::Source::Api.into(),
            payload: Some(v1::EventPayload { event: Some(event) }),
            ..Default::default()
        }],
    }
}

/// Commands that break a rule or are malformed, with what each should be refused as.
fn invalid_commands(history: &[Item]) -> Vec<(&'static str, tonic::Code, v1::AppendRequest)> {
    use tonic::Code;
    use v1::AggregateType as A;
    let mut out = vec![
        (
            "an organisation joins Sweden's coalition before its launch (3 May 2018)",
            Code::FailedPrecondition,
            one(
                A::Membership,
                "se.org-0001",
                P::MembershipApproved(v1::MembershipApproved {
                    coalition_id: "se".into(),
                    organisation_id: "org-0001".into(),
                    joined_on: date(2018, 1, 15),
                }),
            ),
        ),
        (
            "a non-member pledges to a national coalition that only takes members' pledges",
            Code::FailedPrecondition,
            one(
                A::Pledge,
                "org-0001.p-invalid",
                P::PledgeSubmitted(v1::PledgeSubmitted {
                    organisation_id: "org-0001".into(),
                    coalition_id: "se".into(),
                    title: "Pledge without membership".into(),
                    pillars: vec![v1::Pillar::All.into()],
                    countries: vec!["SE".into()],
                    starts_on: date(2024, 1, 1),
                    ends_on: date(2025, 1, 1),
                }),
            ),
        ),
        (
            "a coalition without a connected website shares content to the platform",
            Code::FailedPrecondition,
            one(
                A::Content,
                "content-invalid",
                P::ContentShared(v1::ContentShared {
                    coalition_id: "nl".into(),
                    content_type: v1::ContentType::News.into(),
                    title: "News".into(),
                    shared_on: date(2024, 3, 1),
                }),
            ),
        ),
        (
            "a course run with more certified than completed participants",
            Code::InvalidArgument,
            one(
                A::Course,
                "course-0000",
                P::CourseRunCompleted(v1::CourseRunCompleted {
                    run_id: "run-invalid".into(),
                    ended_on: date(2024, 6, 1),
                    enrolled: 20,
                    completed: 10,
                    certified: 12,
                    women_enrolled: 9,
                    women_completed: 5,
                }),
            ),
        ),
        (
            "an activity reporting more women than participants",
            Code::InvalidArgument,
            one(
                A::Activity,
                "activity-invalid",
                P::ActivityReported(v1::ActivityReported {
                    organisation_id: "org-0001".into(),
                    coalition_id: "eu".into(),
                    kind: v1::ActivityKind::Event.into(),
                    pillar: v1::Pillar::All.into(),
                    held_on: date(2024, 2, 2),
                    participants: 10,
                    women: 11,
                    per_country: vec![],
                }),
            ),
        ),
    ];
    // The course run above is sent for the coalition that lists the course (a writer of another is refused first).
    let course_coalition = history
        .iter()
        .find(|it| it.request.aggregate.as_ref().is_some_and(|a| a.id == "course-0000"))
        .map(|it| it.request.coalition_id.clone())
        .unwrap_or_default();
    for (_, _, req) in out.iter_mut() {
        if req.aggregate.as_ref().is_some_and(|a| a.id == "course-0000") {
            req.coalition_id = course_coalition.clone();
        }
    }
    // A progress report lower than the one before it, without a correction.
    if let Some((agg, coalition, r)) =
        history.iter().rev().find_map(|it| match it.request.events[0].payload.as_ref()?.event.as_ref()? {
            P::ProgressReported(r) => {
                Some((it.request.aggregate.clone()?.id, it.request.coalition_id.clone(), r.clone()))
            }
            _ => None,
        })
    {
        let mut lower = r.clone();
        lower.report_id = "r-invalid".into();
        if let Some(p) = lower.progress.as_mut() {
            p.cumulative.iter_mut().for_each(|a| a.amount /= 2);
        }
        out.push((
            "a progress report whose cumulative figures go down without a correction",
            Code::FailedPrecondition,
            v1::AppendRequest { coalition_id: coalition, ..one(A::Pledge, &agg, P::ProgressReported(lower)) },
        ));
    }
    // A stale expected revision.
    let mut stale = one(
        A::Organisation,
        "org-0001",
        P::OrganisationRenamed(v1::OrganisationRenamed { name: "Renamed with a stale revision".into() }),
    );
    stale.expected_revision = Some(v1::ExpectedRevision { expected: Some(v1::expected_revision::Expected::Exact(1)) });
    out.push(("a rename that expects an outdated revision", Code::Aborted, stale));
    out
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut append = LedgerAppendClient::new(connect(&args.append_url).await?);
    let mut query = LedgerQueryClient::new(connect(&args.query_url).await?);
    let tokens = Tokens(args.tokens.clone());
    let history = generator::generate(args.seed);
    println!("appending {} events of the generated history (seed {}) through the append API", history.len(), args.seed);
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

    println!("\ninvalid commands (each must be refused and write nothing):");
    let auditor = tokens.read("auditor")?;
    let status = |q: &mut LedgerQueryClient<Channel>| {
        let mut q = q.clone();
        let req = authorized(auditor.clone(), v1::ProjectionStatusRequest {});
        async move { q.projection_status(req?).await.map(|r| r.into_inner().log_end).map_err(anyhow::Error::from) }
    };
    let before = status(&mut query).await?;
    let mut refused = invalid_commands(&history)
        .into_iter()
        .map(|(what, code, req)| Ok((what, code, tokens.for_append(&req)?, req)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.tokens.is_some() {
        let deactivate = one(
            v1::AggregateType::Coalition,
            "dk",
            P::CoalitionDeactivated(v1::CoalitionDeactivated { deactivated_on: date(2024, 1, 1), reason: "x".into() }),
        );
        refused.push((
            "an anonymous client deactivates Denmark's coalition",
            tonic::Code::Unauthenticated,
            None,
            deactivate.clone(),
        ));
        refused.push((
            "Sweden's writer deactivates Denmark's coalition",
            tonic::Code::PermissionDenied,
            tokens.read("writer-se")?,
            deactivate,
        ));
        let rename = one(
            v1::AggregateType::Organisation,
            "org-0001",
            P::OrganisationRenamed(v1::OrganisationRenamed { name: "Renamed by a coalition's writer".into() }),
        );
        refused.push((
            "Sweden's writer renames an organisation (shared by every coalition)",
            tonic::Code::PermissionDenied,
            tokens.read("writer-se")?,
            rename,
        ));
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
    let after = status(&mut query).await?;
    anyhow::ensure!(before == after, "the log grew from {before} to {after} during the invalid commands");
    println!("  log end before and after: {before} = {after}: nothing was written");

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
