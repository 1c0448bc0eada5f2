//! Connections to Postgres: one opened from a connection string, and a small pool of them for servers.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit};
use tokio_postgres::Client;

use crate::Postgres;

/// Connects to Postgres with a connection string (URL or key=value; `sslmode` and `sslrootcert` as libpq reads
/// them, see [`Postgres`]). The connection's driver task logs when it ends (it ends when the client is dropped).
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    Postgres::parse_or_broken(url)?.connect().await
}

/// A few connections, each used by one query at a time, reopened when closed. A query waits at most the acquire
/// timeout for one to be free, then gets [`PoolError::Busy`]: a burst of slow queries never queues the others
/// forever.
#[derive(Debug, Clone)]
pub struct Pool {
    database: Postgres,
    slots: Arc<Vec<Mutex<Option<Client>>>>,
    /// One permit per slot: a holder is guaranteed a free slot.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    next: Arc<AtomicUsize>,
}

/// Why no connection was handed out.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every connection stayed busy for the whole acquire timeout.
    #[error("all {size} connections to Postgres stayed busy for {waited:?}; retry later")]
    Busy { size: usize, waited: Duration },
    /// A closed connection could not be reopened.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// How long a query waits for a pooled connection unless configured otherwise.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection borrowed from the pool; dropping it gives it back.
pub struct Conn<'a> {
    guard: MutexGuard<'a, Option<Client>>,
    _permit: SemaphorePermit<'a>,
}

impl Conn<'_> {
    pub fn client(&mut self) -> &mut Client {
        // Invariant: `Pool::get` only hands out a slot it has filled.
        self.guard.as_mut().unwrap_or_else(|| unreachable!("pool slot is filled before it is handed out"))
    }
}

impl Pool {
    /// `size` connections (at least 1) to `database`, opened when first needed, handed out within
    /// `acquire_timeout`.
    pub fn new(database: Postgres, size: usize, acquire_timeout: Duration) -> Self {
        let size = size.max(1);
        Self {
            database,
            slots: Arc::new((0..size).map(|_| Mutex::new(None)).collect()),
            permits: Arc::new(Semaphore::new(size)),
            acquire_timeout,
            next: Arc::default(),
        }
    }

    pub async fn get(&self) -> Result<Conn<'_>, PoolError> {
        let n = self.slots.len();
        let busy = || PoolError::Busy { size: n, waited: self.acquire_timeout };
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        // A permit means a slot is free (or about to be: its holder dropped the permit before the lock).
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut guard = loop {
            if let Some(g) = (0..n).find_map(|i| self.slots[(start + i) % n].try_lock().ok()) {
                break g;
            }
            tokio::task::yield_now().await;
        };
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.database.connect().await?);
        }
        Ok(Conn { guard, _permit: permit })
    }
}
