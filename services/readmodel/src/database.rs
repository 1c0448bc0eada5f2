//! The database itself: created if the URL names one that does not exist yet, then migrated. Start-up and the
//! benchmark prepare their databases through here.
use thiserror::Error;
use tokio_postgres::error::SqlState;

use crate::{MigrationError, Postgres, migrate};

/// Why a database could not be created or migrated. The messages name the step; the source says what failed.
#[derive(Debug, Error)]
pub enum DatabaseError {
    #[error("the database URL")]
    Url(#[source] crate::PostgresError),
    #[error("the database URL names no database")]
    NoName,
    #[error("database name {0:?}: create it yourself or use letters, digits and _")]
    UnsafeName(String),
    #[error("connecting to create the database")]
    ConnectAdmin(#[source] tokio_postgres::Error),
    #[error("creating the database")]
    Create(#[source] tokio_postgres::Error),
    #[error("connecting to Postgres")]
    Connect(#[source] tokio_postgres::Error),
    #[error("applying migrations")]
    Migrate(#[source] MigrationError),
}

/// Creates the database if it does not exist, then applies the migrations; returns the versions it applied.
pub async fn migrate_database(database: &Postgres) -> Result<Vec<i32>, DatabaseError> {
    let mut client = match database.connect().await {
        Ok(c) => c,
        Err(e) if e.as_db_error().map(|d| d.code()) == Some(&SqlState::INVALID_CATALOG_NAME) => {
            create_database(database).await?;
            database.connect().await.map_err(DatabaseError::Connect)?
        }
        Err(e) => return Err(DatabaseError::Connect(e)),
    };
    migrate(&mut client).await.map_err(DatabaseError::Migrate)
}

/// The database a connection names, if its name needs no quoting (letters, digits and _).
pub(crate) fn safe_dbname(database: &Postgres) -> Result<String, DatabaseError> {
    let name = database.dbname().ok_or(DatabaseError::NoName)?.to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DatabaseError::UnsafeName(name));
    }
    Ok(name)
}

/// Creates the database the connection names (nothing if another process created it first), through the
/// `postgres` one, with the same credentials and TLS.
pub async fn create_database(database: &Postgres) -> Result<(), DatabaseError> {
    let name = safe_dbname(database)?;
    let client = database.with_dbname("postgres").connect().await.map_err(DatabaseError::ConnectAdmin)?;
    let result = client.batch_execute(&format!("CREATE DATABASE {name}")).await;
    match result {
        Ok(()) => tracing::info!(database = %name, "created database"),
        // Another process created it meanwhile.
        Err(e) if e.as_db_error().map(|d| d.code()) == Some(&SqlState::DUPLICATE_DATABASE) => {}
        Err(e) => return Err(DatabaseError::Create(e)),
    }
    Ok(())
}
