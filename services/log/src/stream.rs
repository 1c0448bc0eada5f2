//! Creating the log's stream, or checking that an existing one keeps history immutable.
use async_nats::jetstream::{self, stream};

use crate::{LogConfig, LogError, ServerVersion};

/// The configuration the ledger creates its stream with: file storage, no limits, nothing can be removed.
pub fn desired(config: &LogConfig, version: ServerVersion) -> stream::Config {
    stream::Config {
        allow_atomic_publish: version.has_atomic_batches(),
        ..immutable(
            &config.stream,
            "Coalition Ledger: the immutable event log",
            format!("{}.>", config.subject_prefix),
            config.duplicate_window,
        )
    }
}

/// A stream that keeps everything and lets nothing be removed: file storage, no limits, discard new, deny delete
/// and purge, no rollups; direct gets allowed.
pub(crate) fn immutable(
    name: &str,
    description: &str,
    subject: String,
    duplicate_window: std::time::Duration,
) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        subjects: vec![subject],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::New,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_age: std::time::Duration::ZERO,
        deny_delete: true,
        deny_purge: true,
        allow_rollup: false,
        allow_direct: true,
        duplicate_window,
        num_replicas: 1,
        ..Default::default()
    }
}

/// The configuration the ledger creates its stream with on a server with atomic batches (nats-server >= 2.12).
pub fn stream_config(config: &LogConfig) -> stream::Config {
    desired(config, ServerVersion { major: 2, minor: 12, patch: 0 })
}

/// Finds every setting of `c` that lets history be evicted, deleted or rewritten.
pub fn immutability_violations(c: &stream::Config, prefix: &str) -> Vec<(&'static str, String, &'static str)> {
    immutability_violations_of(c, &format!("{prefix}.>"))
}

/// As [`immutability_violations`], for a stream that must hold `want` among its subjects.
pub(crate) fn immutability_violations_of(c: &stream::Config, want: &str) -> Vec<(&'static str, String, &'static str)> {
    let mut v = Vec::new();
    let mut check = |ok: bool, setting: &'static str, found: String, required: &'static str| {
        if !ok {
            v.push((setting, found, required));
        }
    };
    check(c.storage == stream::StorageType::File, "storage", format!("{:?}", c.storage), "file");
    check(c.retention == stream::RetentionPolicy::Limits, "retention", format!("{:?}", c.retention), "limits");
    check(c.discard == stream::DiscardPolicy::New, "discard", format!("{:?}", c.discard), "new");
    check(c.deny_delete, "deny_delete", "false".into(), "true");
    check(c.deny_purge, "deny_purge", "false".into(), "true");
    check(!c.allow_rollup, "allow_rollup_hdrs", "true".into(), "false");
    check(c.max_messages <= 0, "max_msgs", c.max_messages.to_string(), "unlimited (-1)");
    check(c.max_bytes <= 0, "max_bytes", c.max_bytes.to_string(), "unlimited (-1)");
    check(
        c.max_messages_per_subject <= 0,
        "max_msgs_per_subject",
        c.max_messages_per_subject.to_string(),
        "unlimited (-1)",
    );
    check(c.max_age.is_zero(), "max_age", format!("{:?}", c.max_age), "0 (forever)");
    check(!c.allow_message_ttl, "allow_msg_ttl", "true".into(), "false");
    check(
        c.subjects.iter().any(|s| s == want),
        "subjects",
        format!("{:?}", c.subjects),
        "to contain the ledger's subjects",
    );
    v
}

pub async fn ensure(
    js: &jetstream::Context,
    config: &LogConfig,
    version: ServerVersion,
) -> Result<(jetstream::stream::Stream, bool), LogError> {
    let unavailable = |e: &dyn std::fmt::Display| LogError::Unavailable(format!("stream {}: {e}", config.stream));
    match js.get_stream(&config.stream).await {
        Ok(mut existing) => {
            let info = existing.info().await.map_err(|e| unavailable(&e))?.clone();
            if let Some((setting, found, required)) =
                immutability_violations(&info.config, &config.subject_prefix).into_iter().next()
            {
                return Err(LogError::MutableStream { stream: config.stream.clone(), setting, found, required });
            }
            if version.has_atomic_batches() && !info.config.allow_atomic_publish {
                // Turning on atomic batches changes no stored data and no guarantee; it only adds a way to write.
                let mut c = info.config.clone();
                c.allow_atomic_publish = true;
                js.update_stream(&c).await.map_err(|e| unavailable(&e))?;
                tracing::info!(stream = %config.stream, "enabled allow_atomic on the existing stream");
            }
            let stream = js.get_stream(&config.stream).await.map_err(|e| unavailable(&e))?;
            let atomic = stream.cached_info().config.allow_atomic_publish;
            Ok((stream, atomic))
        }
        Err(e) if not_found(&e) && config.known_position > 0 => {
            Err(LogError::StreamMissing { stream: config.stream.clone(), position: config.known_position })
        }
        Err(e) if not_found(&e) && !config.create_missing => Err(LogError::NoStream(config.stream.clone())),
        Err(e) if not_found(&e) => {
            let stream = js.create_stream(desired(config, version)).await.map_err(|e| {
                LogError::Unavailable(format!(
                    "creating stream {}: {e} (only the NATS operator may create the stream: run `ledger nats \
                         create-stream` with the operator's credentials)",
                    config.stream
                ))
            })?;
            let atomic = stream.cached_info().config.allow_atomic_publish;
            tracing::info!(stream = %config.stream, "created the log stream");
            Ok((stream, atomic))
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// Whether the server said that the stream does not exist.
pub fn not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(ref j)
        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desired_stream_is_immutable_and_each_loosening_is_named() {
        let cfg = LogConfig::new("nats://x");
        let v = ServerVersion { major: 2, minor: 15, patch: 0 };
        let good = desired(&cfg, v);
        assert!(immutability_violations(&good, "ledger").is_empty());
        let mut bad = good.clone();
        bad.deny_purge = false;
        assert_eq!(immutability_violations(&bad, "ledger")[0].0, "deny_purge");
        let mut bad = good.clone();
        bad.max_age = std::time::Duration::from_secs(60);
        assert_eq!(immutability_violations(&bad, "ledger")[0].0, "max_age");
        let mut bad = good;
        bad.discard = stream::DiscardPolicy::Old;
        assert_eq!(immutability_violations(&bad, "ledger")[0].0, "discard");
    }
}
