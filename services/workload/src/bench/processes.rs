//! The ledger as separate processes, as in production: each role and each rebuild started from the `ledger`
//! executable on the benchmark's own stream and database, their memory read from `/proc`, and all of them
//! stopped at the end (killed if the benchmark fails).
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Config, Instance};

/// A free TCP port on the loopback interface (for the benchmark's own append and query servers).
pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Kilobytes of a process's `VmHWM` (peak resident) or `VmRSS` (now).
pub(super) fn memory_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(&format!("{field}:")))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The ledger's roles, each a process of its own, and the projector's memory after each measurement.
pub(super) struct Processes {
    /// (role, process), in the order they were started.
    children: Vec<(&'static str, Child)>,
    /// The projector's resident memory after each measurement, for the report.
    pub(super) projector_rss: Vec<Value>,
    /// The verifier key of the notary's throwaway key.
    pub(super) notary_vkey: String,
}

/// The benchmark's notary signs a checkpoint every this many events, or once an event has waited this long.
pub(super) const CHECKPOINT_EVERY_EVENTS: u64 = 1000;
pub(super) const CHECKPOINT_EVERY_MS: u64 = 250;

impl Processes {
    /// Starts the append API, the projector and the query API of `ledger`, with the benchmark's public keys or,
    /// if `open`, without authentication.
    pub(super) fn start(
        config: &Config,
        ledger: &Instance,
        keys_dir: &std::path::Path,
        open: bool,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        // A notary key of the benchmark's own, in its private directory.
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let signer = ledger_audit::Signer::from_seed("bench.invalid/ledger", seed).map_err(anyhow::Error::msg)?;
        let notary_key = keys_dir.join("notary.key");
        std::fs::write(&notary_key, signer.to_skey()).with_context(|| format!("writing {}", notary_key.display()))?;
        let notary_vkey = signer.verifier().to_vkey();
        let mut procs = Processes { children: Vec::new(), projector_rss: Vec::new(), notary_vkey };
        // The roles do not create the stream (the append API alone never does): the benchmark, with the operator's
        // credentials, creates it as an operator would.
        let created = ledger_command(config, ledger, "nats").arg("create-stream").stdout(Stdio::null()).status()?;
        anyhow::ensure!(created.success(), "`ledger nats create-stream` failed for {}", ledger.stream);
        for role in ["append-api", "projector", "query-api"] {
            let mut cmd = ledger_command(config, ledger, role);
            if open {
                cmd.env("LEDGER_INSECURE_NO_AUTH", "true");
            } else {
                cmd.env("LEDGER_AUTH_PUBLIC_KEYS", keys_dir.join("public-keys.json"));
            }
            procs.children.push((role, cmd.spawn().with_context(|| format!("starting {role}"))?));
        }
        let mut notary = ledger_command(config, ledger, "notary");
        notary
            .env("LEDGER_NOTARY_KEY", &notary_key)
            .env("LEDGER_CHECKPOINT_EVERY_EVENTS", CHECKPOINT_EVERY_EVENTS.to_string())
            .env("LEDGER_CHECKPOINT_EVERY_MS", CHECKPOINT_EVERY_MS.to_string());
        procs.children.push(("notary", notary.spawn().context("starting the notary")?));
        Ok(procs)
    }

    fn pid(&self, role: &str) -> u32 {
        self.children.iter().find(|(r, _)| *r == role).map_or(0, |(_, c)| c.id())
    }

    /// Records the projector's resident memory now, after `what`.
    pub(super) fn sample(&mut self, what: &str) {
        let rss_mb = memory_kb(self.pid("projector"), "VmRSS") / 1024;
        self.projector_rss.push(json!({"after": what, "rss_mb": rss_mb}));
    }

    /// Each role's peak resident memory in MB.
    pub(super) fn peaks(&self) -> Vec<(&'static str, u64)> {
        self.children.iter().map(|(r, c)| (*r, memory_kb(c.id(), "VmHWM") / 1024)).collect()
    }

    /// Stops every role with SIGTERM and waits for it; a role that ends badly is logged.
    pub(super) fn stop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        }
        for (role, c) in &mut self.children {
            match c.wait() {
                Ok(s) if s.success() => {}
                other => tracing::warn!(role, ?other, "benchmark process ended badly"),
            }
        }
        self.children.clear();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The command that starts `role` of `ledger` from the ledger executable. Its environment names the instance's
/// stream, database and addresses, serves no dashboard or metrics, and leaves authentication to the caller; the
/// rest of the benchmark's environment is inherited.
fn ledger_command(config: &Config, ledger: &Instance, role: &str) -> Command {
    let mut cmd = Command::new(&config.ledger_executable);
    cmd.arg(role)
        .env("LEDGER_NATS_URL", &config.nats_url)
        .env("LEDGER_DATABASE_URL", &ledger.database_url)
        .env("LEDGER_STREAM", &ledger.stream)
        .env("LEDGER_SUBJECT_PREFIX", &ledger.subject_prefix)
        .env("LEDGER_APPEND_ADDR", ledger.append_addr.to_string())
        .env("LEDGER_QUERY_ADDR", ledger.query_addr.to_string())
        .env("LEDGER_NO_DASHBOARD", "true")
        .env_remove("LEDGER_METRICS_ADDR")
        .env_remove("LEDGER_INSECURE_NO_AUTH")
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null());
    cmd
}

/// Per projection (name, events, seconds), the wall time and the peak RSS in kB.
pub(super) type RebuildRun = (Vec<(String, u64, f64)>, Duration, u64);

/// Runs `ledger rebuild` as a process on the rebuild stream, sampling its memory; returns (per projection
/// (name, events, seconds), wall time, peak RSS kB).
pub(super) fn rebuild_process(config: &Config, rebuild: &Instance) -> anyhow::Result<RebuildRun> {
    let started = Instant::now();
    let mut child = ledger_command(config, rebuild, "rebuild").stdout(Stdio::piped()).spawn()?;
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait()?.is_none() {
        peak = peak.max(memory_kb(pid, "VmRSS"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "ledger rebuild failed: {}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    // "rebuilt <name> from <n> events in <s>s (...)"
    let per = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("rebuilt ")?;
            let mut w = rest.split_whitespace();
            let name = w.next()?.to_owned();
            let n = w.nth(1)?.parse().ok()?;
            let secs = w.nth(2)?.trim_end_matches('s').parse().ok()?;
            Some((name, n, secs))
        })
        .collect();
    Ok((per, started.elapsed(), peak))
}
