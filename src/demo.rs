//! `ledger demo`: a small, real history (the Swedish coalition's launch and growth, a few other national
//! coalitions) appended through the public append API like any client's, then the resulting report.
//!
//! Event ids are derived from the content, so running the demo twice writes nothing the second time.
use std::time::Duration;

use anyhow::Context;
use ledger_proto::v1::ledger_append_client::LedgerAppendClient;
use ledger_proto::v1::ledger_query_client::LedgerQueryClient;
use ledger_proto::v1::{self, event_payload::Event as P};
use tonic::transport::Channel;
use uuid::Uuid;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Append API endpoint.
    #[arg(long, env = "LEDGER_APPEND_URL", default_value = "http://127.0.0.1:50051")]
    pub append_url: String,
    /// Query API endpoint.
    #[arg(long, env = "LEDGER_QUERY_URL", default_value = "http://127.0.0.1:50052")]
    pub query_url: String,
}

const NAMESPACE: Uuid = Uuid::from_u128(0x6c65_6467_6572_2d64_656d_6f2d_7631_0000);

fn date(y: i32, m: u32, d: u32) -> Option<v1::Date> {
    Some(v1::Date { year: y, month: m, day: d })
}

fn ts(d: &Option<v1::Date>) -> Option<prost_types::Timestamp> {
    let d = d.as_ref()?;
    let month = time::Month::try_from(u8::try_from(d.month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(d.year, month, u8::try_from(d.day).ok()?).ok()?;
    let t = date.midnight().assume_utc();
    Some(prost_types::Timestamp { seconds: t.unix_timestamp(), nanos: 0 })
}

/// One append request of one event, with a content-derived id.
fn request(agg_type: v1::AggregateType, id: &str, on: &Option<v1::Date>, event: P) -> v1::AppendRequest {
    let key = format!("{}/{id}/{event:?}", agg_type.as_str_name());
    v1::AppendRequest {
        aggregate: Some(v1::AggregateRef { r#type: agg_type.into(), id: id.to_owned() }),
        expected_revision: None,
        events: vec![v1::EventData {
            event_id: Uuid::new_v5(&NAMESPACE, key.as_bytes()).to_string(),
            occurred_at: ts(on),
            actor: "ledger-demo".into(),
            source: v1::Source::Import.into(),
            payload: Some(v1::EventPayload { event: Some(event) }),
            ..Default::default()
        }],
    }
}

/// The demo history, in order.
pub fn history() -> Vec<v1::AppendRequest> {
    use v1::AggregateType as A;
    let mut out = Vec::new();
    let coalitions = [
        ("eu", "EU Digital Skills and Jobs Coalition", "", date(2016, 12, 1)),
        ("lt", "Lithuanian Digital Coalition", "LT", date(2013, 11, 7)),
        ("ie", "Irish Digital Skills and Jobs Coalition", "IE", date(2017, 4, 27)),
        ("lu", "Luxembourg Digital Skills Bridge", "LU", date(2017, 5, 29)),
        ("se", "Swedish Digital Skills and Jobs Coalition", "SE", date(2018, 5, 3)),
        ("dk", "Danish Digital Skills and Jobs Coalition", "DK", date(2019, 2, 1)),
    ];
    for (id, name, country, launched) in &coalitions {
        let kind = if country.is_empty() { v1::CoalitionKind::Eu } else { v1::CoalitionKind::National };
        out.push(request(
            A::Coalition,
            id,
            launched,
            P::CoalitionEstablished(v1::CoalitionEstablished {
                name: (*name).into(),
                kind: kind.into(),
                country: (*country).into(),
                launched_on: *launched,
                open_pledging: *id == "eu",
            }),
        ));
    }
    // Sweden: launched by seven organisations on 3 May 2018, 20 members in March 2019, 24 later in 2019.
    use v1::OrganisationType as T;
    let founders = [
        ("digitaliseringsradet", "Digitaliseringsrådet", T::PublicAuthority),
        ("swedsoft", "Swedsoft", T::Association),
        ("skolverket", "Skolverket", T::PublicAuthority),
        ("skl", "Sveriges kommuner och landsting", T::PublicAuthority),
        ("teknikforetagen", "Teknikföretagen", T::SocialPartner),
        ("internetstiftelsen", "Internetstiftelsen", T::NonProfit),
        ("itot", "IT&Telekomföretagen", T::Association),
    ];
    let mut members: Vec<(String, String, T, Option<v1::Date>)> =
        founders.iter().map(|(id, n, t)| ((*id).into(), (*n).into(), *t, date(2018, 5, 3))).collect();
    for i in 1..=17u32 {
        let on = if i <= 13 { date(2018, 5 + (i % 8), 1 + i) } else { date(2019, 4 + (i - 13), 10) };
        let ty = [T::IctCompany, T::EducationProvider, T::NonProfit, T::EmploymentService][(i % 4) as usize];
        members.push((format!("se-member-{i:02}"), format!("Svensk medlem {i}"), ty, on));
    }
    for (id, name, ty, on) in &members {
        let size = if matches!(ty, T::IctCompany) { v1::OrganisationSize::Sme } else { v1::OrganisationSize::Large };
        out.push(request(
            A::Organisation,
            id,
            on,
            P::OrganisationRegistered(v1::OrganisationRegistered {
                name: name.clone(),
                country: "SE".into(),
                organisation_type: (*ty).into(),
                size: size.into(),
            }),
        ));
        out.push(request(
            A::Membership,
            &format!("se.{id}"),
            on,
            P::MembershipApproved(v1::MembershipApproved {
                coalition_id: "se".into(),
                organisation_id: id.clone(),
                joined_on: *on,
            }),
        ));
    }
    let left = date(2020, 1, 31);
    out.push(request(
        A::Membership,
        "se.se-member-03",
        &left,
        P::MembershipLeft(v1::MembershipLeft {
            coalition_id: "se".into(),
            organisation_id: "se-member-03".into(),
            left_on: left,
            reason: "organisation merged".into(),
        }),
    ));
    out
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

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut append = LedgerAppendClient::new(connect(&args.append_url).await?);
    let mut query = LedgerQueryClient::new(connect(&args.query_url).await?);
    let history = history();
    let (mut written, mut already, mut last) = (0usize, 0usize, 0u64);
    for (i, req) in history.into_iter().enumerate() {
        let reply = append.append(req).await.with_context(|| format!("append #{i}"))?.into_inner();
        if reply.deduplicated {
            already += 1
        } else {
            written += 1
        }
        last = last.max(reply.revision);
    }
    println!("appended {written} events ({already} were already in the log), last position {last}");
    let consistency = Some(v1::Consistency { min_position: last, max_wait_ms: 10_000 });
    let members = query.current_members(v1::CurrentMembersRequest { consistency }).await?.into_inner();
    println!("\nCurrent members (as of log position {}):", members.position);
    for c in &members.coalitions {
        println!("  {:<4} {:<45} {:>4}", c.coalition_id, c.name, c.members);
    }
    let growth = query
        .coalition_growth(v1::CoalitionGrowthRequest { coalition_id: "se".into(), consistency })
        .await?
        .into_inner();
    println!("\nSweden, members per month:\n  month     joins leaves  net cumulative");
    for m in &growth.months {
        println!("  {}  {:>5} {:>6} {:>4} {:>10}", m.month, m.joins, m.leaves, m.net, m.cumulative);
    }
    Ok(())
}
