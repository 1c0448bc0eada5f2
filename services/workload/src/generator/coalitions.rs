//! The coalitions: the EU-level one and the 25 national ones, each established on its launch date, and the
//! websites connected to the platform after its launch.
use ledger_proto::v1::{self, event_payload::Event as P};

use super::builder::Builder;
use super::calendar::{d, eu_launch, platform_launch, wire_date};

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

/// The EU coalition, then each national one with, if connected, its website (on a random day up to mid-2023).
pub(super) fn coalitions(b: &mut Builder) {
    use v1::AggregateType as A;
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
            let on = b.day_between(platform_launch(), d(2023, 6, 30));
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
}
