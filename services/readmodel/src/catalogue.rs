//! Every read model the ledger builds: its name, version, tables and `reporting` views, in one list.

/// What the catalogue records of one read model.
#[derive(Debug, PartialEq, Eq)]
pub struct Spec {
    /// Stable name: the row in `ledger.projections`, the description of its consumer, the metrics label.
    pub name: &'static str,
    /// Bumped whenever the tables or what is computed change: a new version is rebuilt from the log.
    pub version: i32,
    /// Tables in the projection's schema, compared row by row when a rebuild meets a live build.
    pub tables: &'static [&'static str],
    /// Its views in the `reporting` schema, in the order the projection creates them (readers lock them in this
    /// order too, so that a rebuild's switch and a query never wait for each other in a cycle).
    pub views: &'static [&'static str],
}

/// Defines [`ReadModel`] (one variant per line), [`ReadModel::ALL`] in the same order and [`ReadModel::spec`],
/// from one table: there is no other list of read models to keep in step.
macro_rules! catalogue {
    ($($variant:ident => $spec:ident),+ $(,)?) => {
        /// A read model (a projection of the log into Postgres). The variants are the whole catalogue: code that
        /// must handle every read model matches on this enum or iterates over [`ReadModel::ALL`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ReadModel {
            $($variant),+
        }

        impl ReadModel {
            /// Every read model, in the order start-up, rebuilds and status listings use.
            pub const ALL: &'static [ReadModel] = &[$(Self::$variant),+];

            pub const fn spec(self) -> &'static Spec {
                match self {
                    $(Self::$variant => &$spec),+
                }
            }
        }
    };
}

catalogue! {
    CoalitionGrowth => COALITION_GROWTH,
    Pledges => PLEDGES,
    Outcomes => OUTCOMES,
    Participation => PARTICIPATION,
    Engagement => ENGAGEMENT,
    Programmes => PROGRAMMES,
}

const COALITION_GROWTH: Spec = Spec {
    name: "coalition_growth",
    // v2: joins/leaves by organisation type and size; website connections and deactivations.
    version: 2,
    tables: &["coalitions", "organisations", "members", "membership_months"],
    views: &[
        "coalition_growth_monthly",
        "coalition_growth_by_type",
        "coalition_members_current",
        "national_coalitions_monthly",
    ],
};

const PLEDGES: Spec = Spec {
    name: "pledges",
    // v2: initiative pillars, organisations (name, country) and the per-organisation scoreboard.
    version: 2,
    tables: &["organisations", "coalitions", "pledges", "targets", "reports", "progress"],
    views: &["pledge_pipeline", "pledge_scoreboard", "organisation_scoreboard"],
};

const OUTCOMES: Spec = Spec {
    name: "outcomes",
    version: 1,
    tables: &["organisations", "pledges", "initiatives", "reports", "report_values"],
    views: &["outcomes_yearly"],
};

const PARTICIPATION: Spec = Spec {
    name: "participation",
    version: 1,
    tables: &["coalitions", "courses", "course_quarters", "activity_quarters", "content"],
    views: &["participation_quarterly", "content_shared_quarterly"],
};

const ENGAGEMENT: Spec = Spec {
    name: "engagement",
    // v2: engagement per coalition (an organisation active in one coalition is not active in another).
    version: 2,
    tables: &["organisations", "members", "courses", "pledges", "engaged"],
    views: &["organisation_engagement_days", "member_engagement"],
};

const PROGRAMMES: Spec = Spec {
    name: "programmes",
    version: 1,
    tables: &[
        "coalitions",
        "programmes",
        "areas",
        "members",
        "groups",
        "participants",
        "meetings",
        "deliverables",
        "coordinators",
    ],
    views: &[
        "programme_overview",
        "programme_members_by_sector",
        "working_groups_quarterly",
        "partnership_members",
        "national_coordinators",
    ],
};

impl ReadModel {
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    pub const fn version(self) -> i32 {
        self.spec().version
    }

    /// The read model called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Its views as qualified names (`reporting.<view>`), in creation order.
    pub fn qualified_views(self) -> Vec<String> {
        self.spec().views.iter().map(|v| format!("reporting.{v}")).collect()
    }
}

impl std::fmt::Display for ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_views_are_unique_and_found_by_name() {
        let mut views: Vec<&str> = ReadModel::ALL.iter().flat_map(|m| m.spec().views.iter().copied()).collect();
        let total = views.len();
        views.sort_unstable();
        views.dedup();
        assert_eq!(views.len(), total, "a view belongs to one read model");
        for &m in ReadModel::ALL {
            assert_eq!(ReadModel::from_name(m.name()), Some(m));
            assert!(!m.spec().tables.is_empty() && !m.spec().views.is_empty(), "{m}");
        }
        assert_eq!(ReadModel::from_name("nope"), None);
    }
}
