//! A deterministic (fixed-seed) history of the coalitions from 2013 to 2026, calibrated to the published figures
//! in `docs/domain.md`: 26 coalitions, ~1,200 organisations, ~370 pledges with ~900 initiatives and their reports
//! (corrections, late reports, withdrawals), course runs, activities, and content shared from May 2021 by the
//! connected coalitions. Every item is an append request for the public API; ids derive from the seed, so
//! sending the history twice writes it once.
use ledger_proto::v1::{self, event_payload::Event as P};
use time::{Date, Duration, Month};
use uuid::Uuid;

/// One request with the business date it happened on (the history is sorted by it).
#[derive(Debug, Clone)]
pub struct Item {
    pub on: Date,
    pub request: v1::AppendRequest,
}

/// splitmix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn d(y: i32, m: u8, day: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).unwrap_or(Month::January), day).unwrap_or(Date::MIN)
}

fn wire_date(x: Date) -> Option<v1::Date> {
    Some(v1::Date { year: x.year(), month: u8::from(x.month()).into(), day: x.day().into() })
}

/// The last day of the generated history.
pub fn end_of_history() -> Date {
    d(2026, 10, 31)
}

/// A national coalition: id, country, launch date (y, m, d), website connected to the platform.
pub type National = (&'static str, &'static str, (i32, u8, u8), bool);

/// The national coalitions.
pub const NATIONAL: [National; 25] = [
    ("lt", "LT", (2013, 11, 7), true),
    ("nl", "NL", (2014, 3, 12), false),
    ("be", "BE", (2014, 6, 20), false),
    ("pt", "PT", (2014, 10, 2), true),
    ("es", "ES", (2014, 12, 1), true),
    ("bg", "BG", (2015, 2, 16), false),
    ("cy", "CY", (2015, 4, 23), false),
    ("mt", "MT", (2015, 5, 28), false),
    ("ee", "EE", (2015, 7, 9), false),
    ("sk", "SK", (2015, 9, 17), true),
    ("cz", "CZ", (2015, 11, 5), true),
    ("pl", "PL", (2015, 12, 3), true),
    ("at", "AT", (2016, 3, 15), true),
    ("si", "SI", (2016, 10, 5), true),
    ("lv", "LV", (2017, 3, 8), true),
    ("ro", "RO", (2017, 3, 22), true),
    ("ie", "IE", (2017, 4, 27), true),
    ("lu", "LU", (2017, 5, 29), false),
    ("se", "SE", (2018, 5, 3), true),
    ("gr", "EL", (2018, 6, 12), true),
    ("hr", "HR", (2018, 6, 26), true),
    ("hu", "HU", (2018, 7, 4), false),
    ("fr", "FR", (2018, 7, 19), false),
    ("dk", "DK", (2019, 2, 7), true),
    ("it", "IT", (2020, 3, 2), false),
];

/// The EU-level coalition's launch.
pub fn eu_launch() -> Date {
    d(2016, 12, 1)
}

struct Builder {
    rng: Rng,
    seed: u64,
    counter: u64,
    items: Vec<Item>,
    /// The coalition each aggregate belongs to, as its first event naming one says.
    owners: std::collections::HashMap<String, String>,
}

impl Builder {
    fn id(&mut self) -> String {
        self.counter += 1;
        Uuid::new_v5(&Uuid::from_u128(u128::from(self.seed)), &self.counter.to_be_bytes()).to_string()
    }

    fn push(&mut self, on: Date, kind: v1::AggregateType, id: &str, event: P) {
        let ts = on.midnight().assume_utc() + Duration::hours(9);
        let data = v1::EventData {
            event_id: self.id(),
            occurred_at: Some(prost_types::Timestamp { seconds: ts.unix_timestamp(), nanos: 0 }),
            actor: "demo-generator".into(),
            source: v1::Source::Import.into(),
            payload: Some(v1::EventPayload { event: Some(event) }),
            ..Default::default()
        };
        // The coalition the append is for, so that a writer of several coalitions is never asked which.
        let named = match kind {
            v1::AggregateType::Coalition => Some(id.to_owned()),
            v1::AggregateType::Membership => id.split('.').next().map(str::to_owned),
            _ => ledger_proto::convert::payload_to_domain(data.payload.as_ref())
                .ok()
                .and_then(|k| k.coalition_id().map(ToString::to_string)),
        };
        let coalition = match named {
            Some(c) => self.owners.entry(format!("{}/{id}", kind.as_str_name())).or_insert(c).clone(),
            None => self.owners.get(&format!("{}/{id}", kind.as_str_name())).cloned().unwrap_or_default(),
        };
        let request = v1::AppendRequest {
            aggregate: Some(v1::AggregateRef { r#type: kind.into(), id: id.to_owned() }),
            expected_revision: None,
            events: vec![data],
            coalition_id: coalition,
        };
        self.items.push(Item { on, request });
    }

    /// A day uniformly between `a` and `b` (inclusive).
    fn day_between(&mut self, a: Date, b: Date) -> Date {
        let span = (b - a).whole_days().max(0) as u64;
        a + Duration::days(self.rng.below(span + 1) as i64)
    }
}

/// Target number of EU-level members at a date: a piecewise-linear curve through the published points.
fn eu_members_at(t: Date) -> f64 {
    let points = [(eu_launch(), 0.0), (d(2018, 7, 1), 400.0), (d(2021, 10, 1), 620.0), (end_of_history(), 700.0)];
    curve(&points, t)
}

/// Target number of pledges submitted by a date.
fn pledges_at(t: Date) -> f64 {
    let points = [
        (eu_launch(), 0.0),
        (d(2018, 4, 1), 100.0),
        (d(2018, 7, 1), 110.0),
        (d(2020, 6, 1), 190.0),
        (d(2021, 10, 1), 210.0),
        (d(2023, 1, 1), 231.0),
        (d(2024, 12, 31), 370.0),
        (end_of_history(), 372.0),
    ];
    curve(&points, t)
}

fn curve(points: &[(Date, f64)], t: Date) -> f64 {
    if t <= points[0].0 {
        return points[0].1;
    }
    for w in points.windows(2) {
        let ((a, va), (b, vb)) = (w[0], w[1]);
        if t <= b {
            let f = (t - a).whole_days() as f64 / (b - a).whole_days().max(1) as f64;
            return va + (vb - va) * f;
        }
    }
    points[points.len() - 1].1
}

/// Inverts a curve: the dates at which the 1st, 2nd, ... n-th item is reached.
fn schedule(f: impl Fn(Date) -> f64, from: Date, to: Date, n: usize) -> Vec<Date> {
    let mut out = Vec::with_capacity(n);
    let mut day = from;
    while day <= to && out.len() < n {
        while out.len() < n && f(day) >= (out.len() + 1) as f64 {
            out.push(day);
        }
        day += Duration::days(1);
    }
    while out.len() < n {
        out.push(to);
    }
    out
}

const ORG_TYPES: [v1::OrganisationType; 7] = [
    v1::OrganisationType::IctCompany,
    v1::OrganisationType::EducationProvider,
    v1::OrganisationType::PublicAuthority,
    v1::OrganisationType::EmploymentService,
    v1::OrganisationType::Association,
    v1::OrganisationType::NonProfit,
    v1::OrganisationType::SocialPartner,
];
const PILLARS: [v1::Pillar; 4] =
    [v1::Pillar::All, v1::Pillar::LabourForce, v1::Pillar::IctProfessionals, v1::Pillar::Education];
const EU_COUNTRIES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE", "IT", "LT", "LU", "LV",
    "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// Women's share of participants by pillar (docs/domain.md: 45-55% in `all` and `education`, 20-30% for ICT).
fn women_share(rng: &mut Rng, pillar: v1::Pillar) -> f64 {
    match pillar {
        v1::Pillar::IctProfessionals => 0.20 + 0.10 * rng.f64(),
        v1::Pillar::LabourForce => 0.35 + 0.15 * rng.f64(),
        _ => 0.45 + 0.10 * rng.f64(),
    }
}

/// Generates the history with `seed`, sorted by business date (creation order within a day).
pub fn generate(seed: u64) -> Vec<Item> {
    use v1::AggregateType as A;
    let mut b = Builder { rng: Rng(seed), seed, counter: 0, items: Vec::new(), owners: Default::default() };
    let end = end_of_history();

    // Coalitions.
    b.push(
        eu_launch(),
        A::Coalition,
        "eu",
        P::CoalitionEstablished(v1::CoalitionEstablished {
            name: "EU Digital Skills and Jobs Coalition".into(),
            kind: v1::CoalitionKind::Eu.into(),
            country: String::new(),
            launched_on: wire_date(eu_launch()),
            open_pledging: true,
        }),
    );
    let platform_launch = d(2021, 5, 20);
    for (id, country, (y, m, day), connected) in NATIONAL {
        let launched = d(y, m, day);
        b.push(
            launched,
            A::Coalition,
            id,
            P::CoalitionEstablished(v1::CoalitionEstablished {
                name: format!("{country} Digital Skills and Jobs Coalition"),
                kind: v1::CoalitionKind::National.into(),
                country: country.into(),
                launched_on: wire_date(launched),
                open_pledging: false,
            }),
        );
        if connected {
            let on = b.day_between(platform_launch, d(2023, 6, 30));
            b.push(
                on,
                A::Coalition,
                id,
                P::CoalitionWebsiteConnected(v1::CoalitionWebsiteConnected {
                    connected_on: wire_date(on),
                    url: format!("https://digital-skills-jobs.europa.eu/en/national-coalition/{id}"),
                }),
            );
        }
    }

    // Organisations and memberships. EU-level members follow the published curve; national coalitions grow
    // from a founding group at launch (Sweden: 7 founders, 20 by March 2019, 24 later in 2019).
    let mut members: Vec<(String, String, Date, v1::Pillar)> = Vec::new(); // (org, coalition, joined, pillar)
    let mut org_n = 0usize;
    let mut new_org = |b: &mut Builder, on: Date, country: &str| -> String {
        org_n += 1;
        let id = format!("org-{org_n:04}");
        let ty = b.rng.pick(&ORG_TYPES);
        let size = if matches!(ty, v1::OrganisationType::IctCompany) && b.rng.chance(0.6) {
            v1::OrganisationSize::Sme
        } else if b.rng.chance(0.5) {
            v1::OrganisationSize::Large
        } else {
            v1::OrganisationSize::Sme
        };
        b.push(
            on,
            A::Organisation,
            &id,
            P::OrganisationRegistered(v1::OrganisationRegistered {
                name: format!("Organisation {org_n} ({country})"),
                country: country.into(),
                organisation_type: ty.into(),
                size: size.into(),
            }),
        );
        id
    };
    let eu_members = 700;
    for joined in schedule(eu_members_at, eu_launch(), end, eu_members) {
        let country = b.rng.pick(&EU_COUNTRIES);
        let org = new_org(&mut b, joined, country);
        let pillar = b.rng.pick(&PILLARS);
        members.push((org, "eu".into(), joined, pillar));
    }
    for (id, country, (y, m, day), _) in NATIONAL {
        let launched = d(y, m, day);
        let (founders, total) =
            if id == "se" { (7, 24) } else { (5 + b.rng.below(4) as usize, 14 + b.rng.below(16) as usize) };
        for i in 0..total {
            let joined = if i < founders {
                launched
            } else if id == "se" && i < 20 {
                b.day_between(launched + Duration::days(30), d(2019, 3, 15))
            } else if id == "se" {
                b.day_between(d(2019, 4, 1), d(2019, 11, 30))
            } else {
                b.day_between(launched + Duration::days(20), end.min(launched + Duration::days(365 * 6)))
            };
            let org = new_org(&mut b, joined, country);
            let pillar = b.rng.pick(&PILLARS);
            members.push((org, id.into(), joined, pillar));
        }
    }
    // Joins, a few roles and leaves.
    for (org, coalition, joined, _) in &members {
        let agg = format!("{coalition}.{org}");
        b.push(
            *joined,
            A::Membership,
            &agg,
            P::MembershipApproved(v1::MembershipApproved {
                coalition_id: coalition.clone(),
                organisation_id: org.clone(),
                joined_on: wire_date(*joined),
            }),
        );
        if b.rng.chance(0.06) && *joined < end - Duration::days(400) {
            let on = b.day_between(*joined + Duration::days(180), end);
            b.push(
                on,
                A::Membership,
                &agg,
                P::MembershipLeft(v1::MembershipLeft {
                    coalition_id: coalition.clone(),
                    organisation_id: org.clone(),
                    left_on: wire_date(on),
                    reason: "no longer active in digital skills".into(),
                }),
            );
        }
    }

    // Pledges (to the EU coalition, which takes pledges from anyone; made by its members here), 2.5 initiatives
    // each, ~4 reports per initiative; 3% corrections, 8% late reports, 5% withdrawn.
    let eu: Vec<&(String, String, Date, v1::Pillar)> = members.iter().filter(|m| m.1 == "eu").collect();
    let heavy = [eu[3].0.clone(), eu[11].0.clone()];
    let n_pledges = 372;
    for (i, submitted) in schedule(pledges_at, eu_launch() + Duration::days(30), end, n_pledges).into_iter().enumerate()
    {
        // ~170 organisations made the first 200+ pledges: some pledge more than once.
        let (org, joined, pillar) = if i < 2 {
            let m = eu.iter().find(|m| m.0 == heavy[i]).map_or(eu[0], |m| m);
            (m.0.clone(), m.2, m.3)
        } else {
            // A member that had joined by then.
            let joined_by = eu.partition_point(|m| m.2 <= submitted).max(1);
            let m = eu[b.rng.below(joined_by as u64) as usize];
            (m.0.clone(), m.2, m.3)
        };
        let submitted = submitted.max(joined);
        let pledge_id = format!("p{:03}", i + 1);
        let agg = format!("{org}.{pledge_id}");
        let starts = submitted;
        let ends = starts + Duration::days(365 * 2 + b.rng.below(365 * 2) as i64);
        let second = b.rng.pick(&PILLARS);
        let mut pillars = vec![pillar];
        if second != pillar && b.rng.chance(0.4) {
            pillars.push(second);
        }
        let country = b.rng.pick(&EU_COUNTRIES);
        b.push(
            submitted,
            A::Pledge,
            &agg,
            P::PledgeSubmitted(v1::PledgeSubmitted {
                organisation_id: org.clone(),
                coalition_id: "eu".into(),
                title: format!("Pledge {} by {org}", i + 1),
                pillars: pillars.iter().map(|p| (*p).into()).collect(),
                countries: vec![country.into()],
                starts_on: wire_date(starts),
                ends_on: wire_date(ends),
            }),
        );
        let approved = submitted + Duration::days(7 + b.rng.below(30) as i64);
        b.push(approved, A::Pledge, &agg, P::PledgeApproved(v1::PledgeApproved { approved_on: wire_date(approved) }));
        let withdrawn = b.rng.chance(0.05);
        let initiatives = 1 + b.rng.below(4) as usize; // 1..=4, mean 2.5
        // Scale: the two heavy-tail firms deliver most trainings (5.5M of 7.4M by mid-2018).
        // Pledges made after mid-2018 are larger but place fewer people (calibrated to the 2018 and 2021 totals).
        let after_2018 = submitted >= d(2018, 7, 1);
        let size = if after_2018 { 1.0 } else { 0.5 };
        let scale = if i < 2 { 2_750_000.0 } else { size * (9_000.0 + 66_000.0 * b.rng.f64().powi(3)) };
        let (placement_mean, jobs_mean) = if after_2018 { (117.0, 200.0) } else { (180.0, 250.0) };
        // Early pledges certified a quarter of their trainings, later ones most of them (4.5M of 11.2M by 2021).
        let cert_ratio = if i < 2 {
            0.26
        } else if submitted < d(2018, 7, 1) {
            0.3
        } else {
            0.75
        };
        let mut last_day = approved;
        for k in 0..initiatives {
            let ini = format!("i{}", k + 1);
            let pillar = pillars[k % pillars.len()];
            let share = 1.0 / initiatives as f64;
            let online = (scale * share * (0.5 + 0.3 * b.rng.f64())) as i64;
            let f2f = (scale * share * (0.45 + 0.25 * b.rng.f64())) as i64;
            let certs = ((online + f2f) as f64 * cert_ratio * (0.9 + 0.2 * b.rng.f64())) as i64;
            let reached = ((online + f2f) as f64 * (1.3 + 0.4 * b.rng.f64())) as i64;
            let placements = (placement_mean * share * b.rng.f64() * 2.0) as i64;
            let jobs = (jobs_mean * share * b.rng.f64() * 2.0) as i64;
            let courses = (scale * share / 1_400.0) as i64 + b.rng.below(2) as i64;
            let targets = [
                (v1::Indicator::TrainingsOnline, online),
                (v1::Indicator::TrainingsFaceToFace, f2f),
                (v1::Indicator::Certifications, certs),
                (v1::Indicator::PeopleReached, reached),
                (v1::Indicator::Placements, placements),
                (v1::Indicator::JobsMatched, jobs),
                (v1::Indicator::NewCourses, courses),
                (v1::Indicator::Beneficiaries, reached),
            ];
            let on = approved + Duration::days(k as i64);
            b.push(
                on,
                A::Pledge,
                &agg,
                P::InitiativeAdded(v1::InitiativeAdded {
                    initiative_id: ini.clone(),
                    title: format!("Initiative {} of pledge {}", k + 1, i + 1),
                    pillar: pillar.into(),
                    targets: targets
                        .iter()
                        .map(|(ind, n)| v1::IndicatorAmount { indicator: (*ind).into(), amount: *n })
                        .collect(),
                }),
            );
            if b.rng.chance(0.02) {
                let rev_on = on + Duration::days(90);
                b.push(
                    rev_on,
                    A::Pledge,
                    &agg,
                    P::TargetRevised(v1::TargetRevised {
                        initiative_id: ini.clone(),
                        indicator: v1::Indicator::TrainingsOnline.into(),
                        old_target: online,
                        new_target: online * 10,
                        reason: "demand for online training during COVID-19".into(),
                    }),
                );
            }
            // Four reports at 40/75/95/100% of target, each ~4 months apart (8% arrive late).
            let reports = 4;
            for r in 0..reports {
                let period_end = on + Duration::days(120 * (r as i64 + 1));
                if period_end > end || (withdrawn && r >= 1) {
                    break;
                }
                let late = if b.rng.chance(0.08) { 120 + b.rng.below(200) as i64 } else { 0 };
                let filed = (period_end + Duration::days(20 + late)).min(end);
                let frac = [0.4, 0.75, 0.95, 1.0][r];
                let people = ((reached as f64) * frac) as i64;
                let women = (people as f64 * women_share(&mut b.rng, pillar)) as i64;
                let c1 = b.rng.pick(&EU_COUNTRIES);
                let in_c1 = people * 7 / 10;
                let progress = v1::Progress {
                    cumulative: targets
                        .iter()
                        .map(|(ind, n)| v1::IndicatorAmount {
                            indicator: (*ind).into(),
                            amount: (*n as f64 * frac) as i64,
                        })
                        .collect(),
                    people,
                    women,
                    per_country: if c1 == "SE" {
                        vec![v1::CountryAmount { country: c1.into(), amount: people }]
                    } else {
                        vec![
                            v1::CountryAmount { country: c1.into(), amount: in_c1 },
                            v1::CountryAmount { country: "SE".into(), amount: people - in_c1 },
                        ]
                    },
                };
                let report_id = format!("{ini}-r{}", r + 1);
                b.push(
                    filed,
                    A::Pledge,
                    &agg,
                    P::ProgressReported(v1::ProgressReported {
                        report_id: report_id.clone(),
                        initiative_id: ini.clone(),
                        period_end: wire_date(period_end),
                        progress: Some(progress.clone()),
                    }),
                );
                last_day = last_day.max(filed);
                if b.rng.chance(0.03) {
                    // A correction lowers an over-reported figure by 5%.
                    let mut fixed = progress;
                    for a in &mut fixed.cumulative {
                        a.amount = a.amount * 95 / 100;
                    }
                    b.push(
                        (filed + Duration::days(30)).min(end),
                        A::Pledge,
                        &agg,
                        P::ProgressCorrected(v1::ProgressCorrected {
                            report_id,
                            progress: Some(fixed),
                            reason: "double-counted participants".into(),
                        }),
                    );
                }
            }
        }
        if withdrawn {
            let on = (last_day + Duration::days(60)).min(end);
            b.push(
                on,
                A::Pledge,
                &agg,
                P::PledgeWithdrawn(v1::PledgeWithdrawn {
                    withdrawn_on: wire_date(on),
                    reason: "lack of resources".into(),
                }),
            );
        } else if ends < end - Duration::days(30) && last_day < end - Duration::days(30) {
            let on = ends.max(last_day) + Duration::days(10);
            b.push(on, A::Pledge, &agg, P::PledgeCompleted(v1::PledgeCompleted { completed_on: wire_date(on) }));
        }
    }

    // Courses (~620 listed, ~2,500 runs) and activities (~4,000) by national members.
    let national: Vec<&(String, String, Date, v1::Pillar)> = members.iter().filter(|m| m.1 != "eu").collect();
    for c in 0..620 {
        let m = national[b.rng.below(national.len() as u64) as usize];
        let listed = b.day_between(m.2, end - Duration::days(200));
        let id = format!("course-{c:04}");
        let skill = b.rng.pick(&[v1::SkillLevel::Basic, v1::SkillLevel::Intermediate, v1::SkillLevel::Advanced]);
        let format = b.rng.pick(&[v1::CourseFormat::Online, v1::CourseFormat::FaceToFace, v1::CourseFormat::Blended]);
        let hours = 4 + b.rng.below(60) as u32;
        b.push(
            listed,
            A::Course,
            &id,
            P::CourseListed(v1::CourseListed {
                provider_id: m.0.clone(),
                coalition_id: m.1.clone(),
                title: format!("Course {c}"),
                pillar: m.3.into(),
                skill_level: skill.into(),
                format: format.into(),
                hours,
            }),
        );
        for r in 0..(2 + b.rng.below(5)) {
            let ended = listed + Duration::days(40 * (r as i64 + 1) + b.rng.below(30) as i64);
            if ended > end {
                break;
            }
            let enrolled = 10 + b.rng.below(60) as i64;
            let completed = enrolled * (55 + b.rng.below(40) as i64) / 100;
            let certified = completed * (30 + b.rng.below(60) as i64) / 100;
            let share = women_share(&mut b.rng, m.3);
            let women_enrolled = (enrolled as f64 * share) as i64;
            let women_completed = ((completed as f64 * share) as i64).min(women_enrolled);
            b.push(
                ended,
                A::Course,
                &id,
                P::CourseRunCompleted(v1::CourseRunCompleted {
                    run_id: format!("run-{}", r + 1),
                    ended_on: wire_date(ended),
                    enrolled,
                    completed,
                    certified,
                    women_enrolled,
                    women_completed,
                }),
            );
        }
    }
    for a in 0..4000 {
        let m = national[b.rng.below(national.len() as u64) as usize];
        let held = b.day_between(m.2, end);
        let participants = 5 + b.rng.below(200) as i64;
        let women = (participants as f64 * women_share(&mut b.rng, m.3)) as i64;
        let kind = b.rng.pick(&[v1::ActivityKind::Event, v1::ActivityKind::Class, v1::ActivityKind::Campaign]);
        b.push(
            held,
            A::Activity,
            &format!("activity-{a:04}"),
            P::ActivityReported(v1::ActivityReported {
                organisation_id: m.0.clone(),
                coalition_id: m.1.clone(),
                kind: kind.into(),
                pillar: m.3.into(),
                held_on: wire_date(held),
                participants,
                women,
                per_country: vec![],
            }),
        );
    }

    // Content shared to the platform by connected coalitions, after they connected (May 2021 onwards).
    let connected: Vec<(String, Date)> = b
        .items
        .iter()
        .filter_map(|it| match it.request.events[0].payload.as_ref()?.event.as_ref()? {
            P::CoalitionWebsiteConnected(_) => Some((it.request.aggregate.as_ref()?.id.clone(), it.on)),
            _ => None,
        })
        .collect();
    for n in 0..2000 {
        let (coalition, from) = connected[b.rng.below(connected.len() as u64) as usize].clone();
        let on = b.day_between(from, end);
        let id = format!("content-{n:04}");
        let content_type = b.rng.pick(&[
            v1::ContentType::News,
            v1::ContentType::Event,
            v1::ContentType::GoodPractice,
            v1::ContentType::TrainingOpportunity,
        ]);
        b.push(
            on,
            A::Content,
            &id,
            P::ContentShared(v1::ContentShared {
                coalition_id: coalition,
                content_type: content_type.into(),
                title: format!("Shared item {n}"),
                shared_on: wire_date(on),
            }),
        );
        if b.rng.chance(0.02) {
            let w = (on + Duration::days(14)).min(end);
            b.push(
                w,
                A::Content,
                &id,
                P::ContentWithdrawn(v1::ContentWithdrawn { withdrawn_on: wire_date(w), reason: "outdated".into() }),
            );
        }
    }

    // Chronological order; creation order breaks ties (so a registration precedes a join on the same day).
    let mut items = b.items;
    items.sort_by_key(|it| it.on);
    items
}

/// Figures computed from a generated history, for calibration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub national_coalitions: i64,
    pub eu_members: i64,
    pub organisations: i64,
    pub pledges: i64,
    pub initiatives: i64,
    pub reports: i64,
    pub corrections: i64,
    pub withdrawn: i64,
    pub trainings: i64,
    pub trainings_online: i64,
    pub certifications: i64,
    pub placements: i64,
    pub jobs_matched: i64,
    pub course_runs: i64,
    pub activities: i64,
    pub content: i64,
}

/// The figures as known on `at` (events up to and including that business date).
pub fn figures_at(items: &[Item], at: Date) -> Figures {
    use std::collections::HashMap;
    let mut f = Figures::default();
    // Per initiative: the figures of the report covering the latest period (late reports do not move it back).
    type PeriodFigures = (Option<v1::Date>, HashMap<i32, i64>);
    let mut latest: HashMap<(String, String), PeriodFigures> = HashMap::new();
    let mut report_of: HashMap<(String, String), (String, Option<v1::Date>)> = HashMap::new();
    let key_of = |d: &Option<v1::Date>| d.map(|d| (d.year, d.month, d.day));
    for it in items.iter().take_while(|it| it.on <= at) {
        let agg = it.request.aggregate.as_ref().map(|a| a.id.clone()).unwrap_or_default();
        let Some(event) = it.request.events[0].payload.as_ref().and_then(|p| p.event.as_ref()) else { continue };
        match event {
            P::CoalitionEstablished(c) if c.kind == v1::CoalitionKind::National as i32 => f.national_coalitions += 1,
            P::OrganisationRegistered(_) => f.organisations += 1,
            P::MembershipApproved(m) if m.coalition_id == "eu" => f.eu_members += 1,
            P::MembershipLeft(m) if m.coalition_id == "eu" => f.eu_members -= 1,
            P::PledgeSubmitted(_) => f.pledges += 1,
            P::InitiativeAdded(_) => f.initiatives += 1,
            P::ProgressReported(r) => {
                f.reports += 1;
                let key = (agg.clone(), r.initiative_id.clone());
                report_of.insert((agg.clone(), r.report_id.clone()), (r.initiative_id.clone(), r.period_end));
                let p = r.progress.as_ref().map(|p| p.cumulative.clone()).unwrap_or_default();
                if latest.get(&key).is_none_or(|(d, _)| key_of(d) <= key_of(&r.period_end)) {
                    latest.insert(key, (r.period_end, p.iter().map(|a| (a.indicator, a.amount)).collect()));
                }
            }
            P::ProgressCorrected(c) => {
                f.corrections += 1;
                if let Some((ini, period)) = report_of.get(&(agg.clone(), c.report_id.clone())) {
                    let key = (agg.clone(), ini.clone());
                    let p = c.progress.as_ref().map(|p| p.cumulative.clone()).unwrap_or_default();
                    if latest.get(&key).is_some_and(|(d, _)| key_of(d) == key_of(period)) {
                        latest.insert(key, (*period, p.iter().map(|a| (a.indicator, a.amount)).collect()));
                    }
                }
            }
            P::PledgeWithdrawn(_) => f.withdrawn += 1,
            P::CourseRunCompleted(_) => f.course_runs += 1,
            P::ActivityReported(_) => f.activities += 1,
            P::ContentShared(_) => f.content += 1,
            _ => {}
        }
    }
    for (_, amounts) in latest.values() {
        let get = |i: v1::Indicator| amounts.get(&(i as i32)).copied().unwrap_or(0);
        f.trainings_online += get(v1::Indicator::TrainingsOnline);
        f.trainings += get(v1::Indicator::TrainingsOnline) + get(v1::Indicator::TrainingsFaceToFace);
        f.certifications += get(v1::Indicator::Certifications);
        f.placements += get(v1::Indicator::Placements);
        f.jobs_matched += get(v1::Indicator::JobsMatched);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(actual: i64, published: f64) -> bool {
        (actual as f64 - published).abs() <= published * 0.10
    }

    #[test]
    fn the_history_is_deterministic() {
        let (a, b) = (generate(7), generate(7));
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.request == y.request));
    }

    #[test]
    fn the_history_hits_the_published_figures_within_ten_percent() {
        let h = generate(2013);
        let national = |y, m, day| figures_at(&h, d(y, m, day)).national_coalitions;
        for (at, published) in [
            ((2015, 12, 31), 12.0),
            ((2017, 2, 28), 15.0),
            ((2017, 6, 30), 17.0),
            ((2018, 5, 31), 19.0),
            ((2018, 7, 31), 23.0),
            ((2026, 10, 31), 25.0),
        ] {
            let n = national(at.0, at.1, at.2);
            assert!(within(n, published), "national coalitions at {at:?}: {n}, published {published}");
        }
        let jul18 = figures_at(&h, d(2018, 7, 31));
        assert!(within(jul18.eu_members, 400.0), "EU members Jul 2018: {}", jul18.eu_members);
        assert!(within(jul18.trainings, 7_400_000.0), "trainings Jul 2018: {}", jul18.trainings);
        assert!(within(jul18.certifications, 1_900_000.0), "certifications Jul 2018: {}", jul18.certifications);
        let apr18 = figures_at(&h, d(2018, 4, 30));
        assert!(within(apr18.pledges, 100.0), "pledges Apr 2018: {}", apr18.pledges);
        let y2020 = figures_at(&h, d(2020, 6, 30));
        assert!(within(y2020.pledges, 190.0), "pledges 2020: {}", y2020.pledges);
        let oct21 = figures_at(&h, d(2021, 10, 31));
        assert!(within(oct21.eu_members, 620.0), "EU members Oct 2021: {}", oct21.eu_members);
        assert!(within(oct21.pledges, 210.0), "pledges Oct 2021: {}", oct21.pledges);
        assert!(within(oct21.trainings, 11_200_000.0), "trainings Oct 2021: {}", oct21.trainings);
        assert!(within(oct21.certifications, 4_500_000.0), "certifications Oct 2021: {}", oct21.certifications);
        assert!(within(oct21.placements, 26_600.0), "placements Oct 2021: {}", oct21.placements);
        assert!(within(oct21.jobs_matched, 40_000.0), "jobs matched Oct 2021: {}", oct21.jobs_matched);

        let all = figures_at(&h, end_of_history());
        assert!(within(all.organisations, 1_200.0), "organisations: {}", all.organisations);
        assert!(within(all.pledges, 370.0), "pledges: {}", all.pledges);
        assert!(within(all.initiatives, 900.0), "initiatives: {}", all.initiatives);
        assert!(within(all.course_runs, 2_500.0), "course runs: {}", all.course_runs);
        assert!(within(all.activities, 4_000.0), "activities: {}", all.activities);
        let first_content = h.iter().find(|it| {
            matches!(it.request.events[0].payload.as_ref().and_then(|p| p.event.as_ref()), Some(P::ContentShared(_)))
        });
        assert!(first_content.is_some_and(|it| it.on >= d(2021, 5, 20)), "content only from May 2021");
    }
}
