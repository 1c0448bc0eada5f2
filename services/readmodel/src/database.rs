//! The database itself: created if the URL names one that does not exist yet, then migrated. Start-up and the
//! benchmark prepare their databases through here.
use thiserror::Error;
use tokio_postgres::error::SqlState;

use crate::{MigrationError, connect, migrate};

/// Why a database could not be created or migrated. The messages name the step; the source says what failed.
#[derive(Debug, Error)]
pub enum DatabaseError {
    #[error("parsing the database URL")]
    Url(#[source] tokio_postgres::Error),
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
pub async fn migrate_database(database_url: &str) -> Result<Vec<i32>, DatabaseError> {
    let mut client = match connect(database_url).await {
        Ok(c) => c,
        Err(e) if e.as_db_error().map(|d| d.code()) == Some(&SqlState::INVALID_CATALOG_NAME) => {
            create_database(database_url).await?;
            connect(database_url).await.map_err(DatabaseError::Connect)?
        }
        Err(e) => return Err(DatabaseError::Connect(e)),
    };
    migrate(&mut client).await.map_err(DatabaseError::Migrate)
}

/// Creates the database the URL names (nothing if another process created it first), through the `postgres` one.
pub async fn create_database(database_url: &str) -> Result<(), DatabaseError> {
    let config: tokio_postgres::Config = database_url.parse().map_err(DatabaseError::Url)?;
    let name = config.get_dbname().ok_or(DatabaseError::NoName)?.to_owned();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DatabaseError::UnsafeName(name));
    }
    let mut admin = config.clone();
    admin.dbname("postgres");
    let (client, connection) = admin.connect(tokio_postgres::NoTls).await.map_err(DatabaseError::ConnectAdmin)?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(&format!("CREATE DATABASE {name}")).await;
    drop(client);
    if let Ok(Err(e)) = driver.await {
        tracing::debug!(error = %e, "admin connection ended");
    }
    match result {
        Ok(()) => tracing::info!(database = %name, "created database"),
        // Another process created it meanwhile.
        Err(e) if e.as_db_error().map(|d| d.code()) == Some(&SqlState::DUPLICATE_DATABASE) => {}
        Err(e) => return Err(DatabaseError::Create(e)),
    }
    Ok(())
}
