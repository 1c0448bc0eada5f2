//! Connections to Postgres: one opened from a connection string, and a small pool of them for servers.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::Client;

use crate::Postgres;

/// Connects to Postgres with a connection string (URL or key=value; `sslmode` and `sslrootcert` as libpq reads
/// them, see [`Postgres`]). The connection's driver task logs when it ends (it ends when the client is dropped).
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    Postgres::parse_or_broken(url)?.connect().await
}

/// A few connections, each used by one query at a time, reopened when closed.
#[derive(Debug, Clone)]
pub struct Pool {
    database: Postgres,
    slots: Arc<Vec<Mutex<Option<Client>>>>,
    next: Arc<AtomicUsize>,
}

/// A connection borrowed from the pool.
pub struct Conn<'a>(MutexGuard<'a, Option<Client>>);

impl Conn<'_> {
    pub fn client(&mut self) -> &mut Client {
        // Invariant: `Pool::get` only hands out a slot it has filled.
        self.0.as_mut().unwrap_or_else(|| unreachable!("pool slot is filled before it is handed out"))
    }
}

impl Pool {
    pub fn new(database: Postgres, size: usize) -> Self {
        Self { database, slots: Arc::new((0..size.max(1)).map(|_| Mutex::new(None)).collect()), next: Arc::default() }
    }

    pub async fn get(&self) -> Result<Conn<'_>, tokio_postgres::Error> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A free slot if there is one, else wait for the next in turn.
        let mut guard = match (0..n).find_map(|i| self.slots[(start + i) % n].try_lock().ok()) {
            Some(g) => g,
            None => self.slots[start % n].lock().await,
        };
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.database.connect().await?);
        }
        Ok(Conn(guard))
    }
}
