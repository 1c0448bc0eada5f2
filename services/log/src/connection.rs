//! The connection to NATS as the log sees it: each loss and each reconnection logged at WARN and counted, quick
//! reconnection attempts, and a way for a write waiting for its acknowledgement to learn at once that the
//! connection it went out on is gone (its reply is lost with it), instead of waiting for the request timeout.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Longest pause between two reconnection attempts: a restarted server is reached within this of being ready.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// What operators watch of the connection.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Times the connection was lost.
    pub disconnects: AtomicU64,
    /// Times it was established again after a loss.
    pub reconnects: AtomicU64,
    /// Whether it is up now.
    pub connected: AtomicBool,
}

/// The connection's losses, as a counter that waiting writes watch.
#[derive(Debug, Clone)]
pub struct Connection {
    losses: Arc<watch::Sender<u64>>,
    pub stats: Arc<ConnectionStats>,
}

impl Default for Connection {
    /// A connection whose losses nobody reports (for a client not made by [`Connection::options`]).
    fn default() -> Self {
        let stats = ConnectionStats { connected: AtomicBool::new(true), ..ConnectionStats::default() };
        Self { losses: Arc::new(watch::channel(0).0), stats: Arc::new(stats) }
    }
}

impl Connection {
    /// `options` with this connection's event handling and reconnection delays.
    pub fn options(&self, options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        let this = self.clone();
        options
            .event_callback(move |event| {
                let this = this.clone();
                async move { this.on_event(event) }
            })
            .reconnect_delay_callback(|attempts| {
                // 0, 50, 100, ... ms, then every MAX_RECONNECT_DELAY.
                let ms = 50 * u64::try_from(attempts.saturating_sub(1)).unwrap_or(u64::MAX);
                Duration::from_millis(ms).min(MAX_RECONNECT_DELAY)
            })
    }

    fn on_event(&self, event: async_nats::Event) {
        match event {
            async_nats::Event::Disconnected => {
                self.stats.connected.store(false, Ordering::Relaxed);
                let n = self.stats.disconnects.fetch_add(1, Ordering::Relaxed) + 1;
                self.losses.send_modify(|losses| *losses += 1);
                tracing::warn!(
                    disconnects = n,
                    "lost the connection to NATS: writes waiting for an acknowledgement are answered UNAVAILABLE \
                     (outcome unknown), new writes are refused until it is back"
                );
            }
            async_nats::Event::Connected => {
                // The first connection is made before this handler sees events; any later one is a reconnection.
                if !self.stats.connected.swap(true, Ordering::Relaxed) {
                    let n = self.stats.reconnects.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(reconnects = n, "connected to NATS again");
                }
            }
            other => tracing::debug!(event = %other, "NATS connection event"),
        }
    }

    /// Runs `write` (a write or a read) on `client` if its connection is up (else answers `not_connected()`: a write sent while it is
    /// down would wait in a buffer, unanswered), and answers `lost()` at once if the connection is lost before
    /// `write` ends. Losses are watched from before the check, so one between the check and the send is seen too.
    pub async fn call<T, E>(
        &self,
        client: &async_nats::Client,
        write: impl Future<Output = Result<T, E>>,
        not_connected: impl FnOnce() -> E,
        lost: impl FnOnce() -> E,
    ) -> Result<T, E> {
        let losses = self.watch_losses();
        if client.connection_state() != async_nats::connection::State::Connected {
            return Err(not_connected());
        }
        until_lost(losses, write, lost).await
    }

    /// The losses from now on.
    fn watch_losses(&self) -> watch::Receiver<u64> {
        let mut losses = self.losses.subscribe();
        losses.borrow_and_update();
        losses
    }
}

/// `write`'s result, or `lost()` as soon as `losses` sees a loss.
async fn until_lost<T, E>(
    mut losses: watch::Receiver<u64>,
    write: impl Future<Output = Result<T, E>>,
    lost: impl FnOnce() -> E,
) -> Result<T, E> {
    tokio::select! {
        result = write => result,
        _ = losses.changed() => Err(lost()),
    }
}

/// What a write whose acknowledgement was lost with the connection is answered.
pub const OUTCOME_UNKNOWN: &str = "the connection to NATS was lost before the write was acknowledged: its outcome is unknown; retry with the same \
     event ids (a write that landed is then answered as deduplicated)";

/// What a read interrupted by the loss of the connection is answered.
pub const OUTCOME_UNKNOWN_READ: &str = "the connection to NATS was lost during the read; retry";

/// What a write refused because the connection is down is answered (nothing was sent).
pub const NOT_CONNECTED: &str = "NATS is not reachable: nothing was written; retry later";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_waiting_when_the_connection_is_lost_is_answered_at_once() {
        let connection = Connection::default();
        let losses = connection.watch_losses();
        let waiting =
            tokio::spawn(
                async move { until_lost(losses, std::future::pending::<Result<(), &str>>(), || "lost").await },
            );
        connection.on_event(async_nats::Event::Disconnected);
        let answered = tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
        assert_eq!(answered, Err("lost"));
        assert!(!connection.stats.connected.load(Ordering::Relaxed));
        connection.on_event(async_nats::Event::Connected);
        assert!(connection.stats.connected.load(Ordering::Relaxed));
        assert_eq!(connection.stats.disconnects.load(Ordering::Relaxed), 1);
        assert_eq!(connection.stats.reconnects.load(Ordering::Relaxed), 1);
        // A write that finishes is answered with its result.
        assert_eq!(until_lost(connection.watch_losses(), async { Ok::<_, &str>(7) }, || "lost").await, Ok(7));
    }
}
