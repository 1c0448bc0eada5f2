//! The fixed sets the history draws from, and the women's share of participants it draws per pillar.
use ledger_proto::v1;

use super::rng::Rng;

pub(super) const ORG_TYPES: [v1::OrganisationType; 7] = [
    v1::OrganisationType::IctCompany,
    v1::OrganisationType::EducationProvider,
    v1::OrganisationType::PublicAuthority,
    v1::OrganisationType::EmploymentService,
    v1::OrganisationType::Association,
    v1::OrganisationType::NonProfit,
    v1::OrganisationType::SocialPartner,
];

pub(super) const PILLARS: [v1::Pillar; 4] =
    [v1::Pillar::All, v1::Pillar::LabourForce, v1::Pillar::IctProfessionals, v1::Pillar::Education];

pub(super) const EU_COUNTRIES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE", "IT", "LT", "LU", "LV",
    "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// Women's share of participants by pillar (docs/domain.md: 45-55% in `all` and `education`, 20-30% for ICT).
pub(super) fn women_share(rng: &mut Rng, pillar: v1::Pillar) -> f64 {
    match pillar {
        v1::Pillar::IctProfessionals => 0.20 + 0.10 * rng.f64(),
        v1::Pillar::LabourForce => 0.35 + 0.15 * rng.f64(),
        _ => 0.45 + 0.10 * rng.f64(),
    }
}
