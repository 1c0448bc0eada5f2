//! Coalitions and organisations: established or registered once, and only then changed.
use time::Date;

use super::{AggregateState, Context, FactsNeeded, Rule};
use crate::event::{
    CoalitionCoordinatorChanged, CoalitionDeactivated, CoalitionEstablished, CoalitionKind, CoalitionWebsiteConnected,
    OrganisationRegistered, OrganisationRenamed, business_date, reason, text, web_url,
};
use crate::{Aggregate, CountryCode, DomainError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalitionFacts {
    /// `None` for the EU-level coalition.
    pub country: Option<CountryCode>,
    pub launched_on: Date,
    pub open_pledging: bool,
    pub website_connected: bool,
    pub deactivated: bool,
}

impl From<&CoalitionEstablished> for CoalitionFacts {
    fn from(e: &CoalitionEstablished) -> Self {
        Self {
            country: e.country.clone(),
            launched_on: e.launched_on,
            open_pledging: e.open_pledging,
            website_connected: false,
            deactivated: false,
        }
    }
}

/// Every coalition event but its establishment needs the coalition established.
fn coalition_exists(state: &AggregateState, aggregate: &Aggregate) -> Result<(), DomainError> {
    match state {
        AggregateState::Coalition(None) => {
            Err(DomainError::rule("coalition.exists", format!("{aggregate} has not been established")))
        }
        _ => Ok(()),
    }
}

impl Rule for CoalitionEstablished {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 200)?;
        business_date("payload.launched_on", self.launched_on)?;
        if let Some(c) = &self.country {
            c.assigned("payload.country")?;
        }
        match (self.kind, &self.country) {
            (CoalitionKind::National, None) => {
                Err(DomainError::invalid("payload.country", "a national coalition needs a country"))
            }
            (CoalitionKind::Eu, Some(c)) => Err(DomainError::invalid(
                "payload.country",
                format!("the EU-level coalition has no country, got {:?}", c.as_str()),
            )),
            _ => Ok(()),
        }
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Coalition(Some(_)) => {
                Err(DomainError::rule("coalition.established_once", format!("{aggregate} is already established")))
            }
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Coalition(c) = state {
            *c = Some(self.into());
        }
    }
}

/// An event that happens to an established coalition at most once: refused as `rule` ("already `what`") when
/// `done` says it has happened.
fn once(
    state: &AggregateState,
    aggregate: &Aggregate,
    done: fn(&CoalitionFacts) -> bool,
    rule: &'static str,
    what: &str,
) -> Result<(), DomainError> {
    coalition_exists(state, aggregate)?;
    match state {
        AggregateState::Coalition(Some(c)) if done(c) => {
            Err(DomainError::rule(rule, format!("{aggregate} is already {what}")))
        }
        _ => Ok(()),
    }
}

/// Changes an established coalition's facts.
fn change(state: &mut AggregateState, f: fn(&mut CoalitionFacts)) {
    if let AggregateState::Coalition(Some(c)) = state {
        f(c);
    }
}

impl Rule for CoalitionWebsiteConnected {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.connected_on", self.connected_on)?;
        web_url("payload.url", &self.url)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        once(state, aggregate, |c| c.website_connected, "coalition.website_connected_once", "connected")
    }

    fn apply(&self, state: &mut AggregateState) {
        change(state, |c| c.website_connected = true);
    }
}

impl Rule for CoalitionCoordinatorChanged {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.changed_on", self.changed_on)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        coalition_exists(state, aggregate)
    }

    fn apply(&self, _: &mut AggregateState) {}
}

impl Rule for CoalitionDeactivated {
    fn validate(&self) -> Result<(), DomainError> {
        business_date("payload.deactivated_on", self.deactivated_on)?;
        reason(&self.reason)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        once(state, aggregate, |c| c.deactivated, "coalition.deactivated_once", "deactivated")
    }

    fn apply(&self, state: &mut AggregateState) {
        change(state, |c| c.deactivated = true);
    }
}

impl Rule for OrganisationRegistered {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 300)?;
        self.country.assigned("payload.country")
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Organisation { registered: true } => {
                Err(DomainError::rule("organisation.registered_once", format!("{aggregate} is already registered")))
            }
            _ => Ok(()),
        }
    }

    fn apply(&self, state: &mut AggregateState) {
        if let AggregateState::Organisation { registered } = state {
            *registered = true;
        }
    }
}

impl Rule for OrganisationRenamed {
    fn validate(&self) -> Result<(), DomainError> {
        text("payload.name", &self.name, 300)
    }

    fn facts_needed(&self) -> FactsNeeded {
        FactsNeeded::NONE
    }

    fn check(&self, state: &AggregateState, aggregate: &Aggregate, _: &Context) -> Result<(), DomainError> {
        match state {
            AggregateState::Organisation { registered: false } => {
                Err(DomainError::rule("organisation.exists", format!("{aggregate} is not registered")))
            }
            _ => Ok(()),
        }
    }

    fn apply(&self, _: &mut AggregateState) {}
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // `&[e.clone()]` reads as "given this one event"
mod tests {
    use time::macros::date;

    use super::super::testing::{given_one as given_when, rule_of, tok};
    use super::*;
    use crate::CountryCode;
    use crate::event::*;

    fn se() -> Aggregate {
        Aggregate::coalition(&tok("se"))
    }

    fn established() -> EventKind {
        EventKind::CoalitionEstablished(CoalitionEstablished {
            name: "Sweden".into(),
            kind: CoalitionKind::National,
            country: Some(CountryCode::parse("c", "SE").unwrap()),
            launched_on: date!(2018 - 05 - 03),
            open_pledging: false,
        })
    }

    fn connected() -> EventKind {
        EventKind::CoalitionWebsiteConnected(CoalitionWebsiteConnected {
            connected_on: date!(2021 - 06 - 01),
            url: "https://example.org".into(),
        })
    }

    fn deactivated() -> EventKind {
        EventKind::CoalitionDeactivated(CoalitionDeactivated {
            deactivated_on: date!(2025 - 1 - 1),
            reason: "x".into(),
        })
    }

    #[test]
    fn coalition_events_need_the_coalition_and_happen_once() {
        let none = Context::default();
        assert_eq!(given_when(se(), &[], established(), &none), Ok(()));
        assert_eq!(rule_of(given_when(se(), &[established()], established(), &none)), "coalition.established_once");
        assert_eq!(rule_of(given_when(se(), &[], connected(), &none)), "coalition.exists");
        assert_eq!(given_when(se(), &[established()], connected(), &none), Ok(()));
        assert_eq!(
            rule_of(given_when(se(), &[established(), connected()], connected(), &none)),
            "coalition.website_connected_once"
        );
        assert_eq!(given_when(se(), &[established()], deactivated(), &none), Ok(()));
        assert_eq!(
            rule_of(given_when(se(), &[established(), deactivated()], deactivated(), &none)),
            "coalition.deactivated_once"
        );
    }

    #[test]
    fn organisations_register_once_and_only_registered_ones_are_renamed() {
        let org = Aggregate::organisation(&tok("acme"));
        let registered = EventKind::OrganisationRegistered(OrganisationRegistered {
            name: "Acme".into(),
            country: CountryCode::parse("c", "SE").unwrap(),
            organisation_type: OrganisationType::IctCompany,
            size: OrganisationSize::Sme,
        });
        let renamed = EventKind::OrganisationRenamed(OrganisationRenamed { name: "Acme AB".into() });
        let none = Context::default();
        assert_eq!(given_when(org.clone(), &[registered.clone()], renamed.clone(), &none), Ok(()));
        assert_eq!(rule_of(given_when(org.clone(), &[], renamed, &none)), "organisation.exists");
        assert_eq!(rule_of(given_when(org, &[registered.clone()], registered, &none)), "organisation.registered_once");
    }

    #[test]
    fn hostile_input_is_refused_with_a_named_field_not_a_panic() {
        let mut nul = established();
        if let EventKind::CoalitionEstablished(e) = &mut nul {
            e.name = "Swe\u{0}den".into();
        }
        let err = given_when(se(), &[], nul, &Context::default()).unwrap_err();
        assert!(err.to_string().contains("payload.name"), "{err}");
        let overflow = Progress {
            cumulative: vec![],
            people: 1,
            women: 0,
            per_country: vec![
                (CountryCode::parse("c", "SE").unwrap(), i64::MAX),
                (CountryCode::parse("c", "DK").unwrap(), i64::MAX),
                (CountryCode::parse("c", "FI").unwrap(), 3),
            ],
        };
        assert!(overflow.validate("p").unwrap_err().to_string().contains("per_country"));
    }

    /// The field a validation error names, or a panic saying what came instead.
    fn invalid_field(r: Result<(), DomainError>) -> String {
        match r {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn established_with(f: impl FnOnce(&mut CoalitionEstablished)) -> EventKind {
        let EventKind::CoalitionEstablished(mut e) = established() else { unreachable!() };
        f(&mut e);
        EventKind::CoalitionEstablished(e)
    }

    #[test]
    fn a_coalition_country_is_an_assigned_code_and_greece_is_el_or_gr() {
        let none = Context::default();
        for ok in ["EL", "GR", "SE", "DE"] {
            let e = established_with(|e| e.country = Some(CountryCode::parse("c", ok).unwrap()));
            assert_eq!(given_when(se(), &[], e, &none), Ok(()), "{ok}");
        }
        for bad in ["ZZ", "UK", "EU"] {
            let e = established_with(|e| e.country = Some(CountryCode::parse("c", bad).unwrap()));
            assert_eq!(invalid_field(given_when(se(), &[], e, &none)), "events[0].payload.country", "{bad}");
        }
        let org = Aggregate::organisation(&tok("acme"));
        let zz = EventKind::OrganisationRegistered(OrganisationRegistered {
            name: "Acme".into(),
            country: CountryCode::parse("c", "ZZ").unwrap(),
            organisation_type: OrganisationType::IctCompany,
            size: OrganisationSize::Sme,
        });
        assert_eq!(invalid_field(given_when(org, &[], zz, &none)), "events[0].payload.country");
    }

    #[test]
    fn a_website_is_an_http_or_https_address_with_a_host() {
        let given = [established()];
        let when = |url: &str| {
            let e = EventKind::CoalitionWebsiteConnected(CoalitionWebsiteConnected {
                connected_on: date!(2021 - 06 - 01),
                url: url.into(),
            });
            given_when(se(), &given, e, &Context::default())
        };
        for ok in [
            "https://example.org",
            "http://example.org/",
            "HTTPS://Example.ORG:8443/path?q=1#top",
            "https://digital-skills-jobs.europa.eu/en/national-coalition/se",
            "https://[2001:db8::1]/",
            "https://bücher.example/",
            "https://example.org./",
        ] {
            assert_eq!(when(ok), Ok(()), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript://example.org/%0Aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://example.org",
            "//example.org",
            "example.org",
            "https://",
            "https:///path",
            "https://user:secret@example.org",
            "https://exa mple.org",
            "https://example.org:0/",
            "https://example.org:99999/",
            "https://-bad-.org/",
            "https://example..org/",
            "https://[not-v6]/",
            "https://example.org/\u{202E}gro",
        ] {
            assert_eq!(invalid_field(when(bad)), "events[0].payload.url", "{bad}");
        }
    }

    #[test]
    fn names_refuse_invisible_format_characters_and_control_characters() {
        let none = Context::default();
        for ok in ["Sverige", "Ελλάδα", "Teknikföretagen & IT&Telekomföretagen", "Česko"] {
            let e = established_with(|e| e.name = ok.into());
            assert_eq!(given_when(se(), &[], e, &none), Ok(()), "{ok}");
        }
        for bad in [
            "Swe\u{202E}nedeS",
            "Swe\u{200B}den",
            "Swe\u{200D}den",
            "\u{FEFF}Sweden",
            "Swe\u{00AD}den",
            "Swe\u{2066}den\u{2069}",
            "Swe\u{2060}den",
            "Swe\nden",
            "Swe\u{7}den",
        ] {
            let e = established_with(|e| e.name = bad.into());
            assert_eq!(invalid_field(given_when(se(), &[], e, &none)), "events[0].payload.name", "{bad:?}");
        }
        // A reason may have line breaks, but no format characters either.
        let with_reason = |reason: &str| {
            let e = EventKind::CoalitionDeactivated(CoalitionDeactivated {
                deactivated_on: date!(2025 - 1 - 1),
                reason: reason.into(),
            });
            given_when(se(), &[established()], e, &none)
        };
        assert_eq!(with_reason("merged\nwith another"), Ok(()));
        assert_eq!(invalid_field(with_reason("merged\u{202E}")), "events[0].payload.reason");
    }

    #[test]
    fn business_dates_are_within_the_documented_bounds() {
        let none = Context::default();
        let on = |d: Date| given_when(se(), &[], established_with(|e| e.launched_on = d), &none);
        assert_eq!(on(crate::event::EARLIEST_BUSINESS_DATE), Ok(()));
        assert_eq!(on(crate::event::LATEST_BUSINESS_DATE), Ok(()));
        for bad in [date!(9999 - 12 - 31), date!(-9999 - 01 - 01), date!(1999 - 12 - 31), date!(2101 - 01 - 01)] {
            assert_eq!(invalid_field(on(bad)), "events[0].payload.launched_on", "{bad}");
        }
        let connected = EventKind::CoalitionWebsiteConnected(CoalitionWebsiteConnected {
            connected_on: date!(9999 - 01 - 01),
            url: "https://example.org".into(),
        });
        assert_eq!(
            invalid_field(given_when(se(), &[established()], connected, &none)),
            "events[0].payload.connected_on"
        );
    }
}
