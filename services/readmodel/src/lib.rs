//! The read models' catalogue and their home in Postgres: which projections exist (name, version, tables, views),
//! which reports read them (view, columns, filters), where each projection stands (its bookkeeping row), and the
//! connection, pool, migrations and database creation every Postgres user of the ledger shares.
//!
//! This crate depends on no other crate of the ledger. The projector (which writes read models), the query service
//! (which reads them), rebuilds, start-up and the tests all iterate over [`ReadModel::ALL`] and [`REPORTS`]
//! instead of keeping lists of their own.
//!
//! Adding a read model: a variant of [`ReadModel`] with its [`Spec`], its reports in [`reports`], a projection
//! file in `ledger-projector` (the compiler then asks for its arm in `ledger_projector::with_projection`), and one
//! handler per report in the query service.
mod bookkeeping;
mod catalogue;
mod database;
mod migrate;
mod pool;
mod postgres;
pub mod reports;
mod roles;

pub use bookkeeping::{
    ProjectionStatus, highest_position, installed_views, lock_views, position, set_state, state, status,
};
pub use catalogue::{ReadModel, Spec};
pub use database::{DatabaseError, create_database, migrate_database};
pub use migrate::{MIGRATIONS, MigrationError, migrate, pending_migrations};
pub use pool::{Conn, DEFAULT_ACQUIRE_TIMEOUT, Pool, PoolError, connect};
pub use postgres::{Postgres, PostgresError, SslMode};
pub use reports::{REPORTS, Report};
pub use roles::{
    OWNER_ROLE, PROJECTOR_ROLE, QUERY_ROLE, REPORTING_ROLE, RolePasswords, RolesError, RolesReport, setup_roles,
};
