//! The NATS permissions each ledger role needs, and nothing more: the nats-server `authorization` block that the
//! demo, the test harness and docker-compose run with (`ledger nats authorization` prints it for a stream).
//!
//! - the operator manages the stream (create, update, delete) and may do anything;
//! - the append role publishes to the stream's subjects and reads the stream (info, direct gets);
//! - the projector and query roles only read: stream info, direct gets, and ordered (ephemeral) consumers of their
//!   own. None but the operator may update, purge or delete the stream or delete a consumer.
//! - the notary reads like them and publishes to the checkpoint stream's one subject, nothing else;
//! - every reader may read the checkpoint stream (info, direct gets);
//! - a process running several roles at once (`ledger all`) needs their union: the `ledger` user.

/// What a NATS user of the ledger may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsRole {
    /// Manages the stream; the only user that may change or remove it.
    Operator,
    /// `ledger append-api`: writes to the stream's subjects, reads the stream.
    Append,
    /// `ledger projector` and `ledger query-api`: read only.
    Read,
    /// `ledger notary`: reads the log, publishes checkpoints.
    Notary,
    /// `ledger all`: the append role, the readers and the notary in one process.
    AllRoles,
}

impl NatsRole {
    /// The subjects this role may publish to (JetStream's API is requests published to `$JS.API.…`).
    pub fn publish(self, stream: &str, prefix: &str) -> Vec<String> {
        let read = vec![
            "$JS.API.INFO".to_owned(),
            format!("$JS.API.STREAM.INFO.{stream}"),
            format!("$JS.API.DIRECT.GET.{stream}"),
            format!("$JS.API.DIRECT.GET.{stream}.>"),
            format!("$JS.API.CONSUMER.CREATE.{stream}"),
            format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
            format!("$JS.API.CONSUMER.INFO.{stream}.*"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"),
            format!("$JS.API.STREAM.INFO.{}", crate::checkpoint_stream(stream)),
            format!("$JS.API.DIRECT.GET.{}", crate::checkpoint_stream(stream)),
            format!("$JS.API.DIRECT.GET.{}.>", crate::checkpoint_stream(stream)),
        ];
        let mut p = read;
        match self {
            Self::Operator => return vec![">".to_owned()],
            Self::Read => {}
            Self::Append => p.push(format!("{prefix}.>")),
            Self::Notary => p.push(crate::checkpoint_subject(prefix)),
            Self::AllRoles => {
                p.push(format!("{prefix}.>"));
                p.push(crate::checkpoint_subject(prefix));
            }
        }
        p
    }

    /// The user's permissions as a nats-server configuration value.
    pub fn permissions(self, stream: &str, prefix: &str) -> String {
        let publish = self.publish(stream, prefix).iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        match self {
            Self::Operator => "{ publish: \">\", subscribe: \">\" }".to_owned(),
            _ => format!("{{ publish: {{ allow: [{publish}] }}, subscribe: {{ allow: [\"_INBOX.>\"] }} }}"),
        }
    }
}

/// A user of the `authorization` block: its name, how its password is written in the server's configuration (a
/// quoted literal, a bcrypt hash, or `$VARIABLE` read from the server's environment) and its role.
#[derive(Debug, Clone)]
pub struct NatsUser {
    pub name: String,
    pub password: String,
    pub role: NatsRole,
}

/// The nats-server `authorization { users: [...] }` block for these users of the ledger's stream. A server with
/// this block accepts no anonymous client.
pub fn authorization(stream: &str, prefix: &str, users: &[NatsUser]) -> String {
    let mut out = String::from("authorization {\n  users: [\n");
    for u in users {
        out.push_str(&format!(
            "    {{ user: {:?}, password: {}, permissions: {} }}\n",
            u.name,
            u.password,
            u.role.permissions(stream, prefix)
        ));
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_operator_may_manage_the_stream_and_readers_may_not_publish_into_it() {
        for role in [NatsRole::Append, NatsRole::Read, NatsRole::Notary, NatsRole::AllRoles] {
            let p = role.publish("LEDGER", "ledger");
            assert!(p.iter().all(|s| !s.contains("STREAM.UPDATE") && !s.contains("DELETE") && !s.contains("PURGE")));
            assert!(p.iter().all(|s| s != ">" && s != "$JS.API.>"), "{role:?}: {p:?}");
        }
        assert!(!NatsRole::Read.publish("LEDGER", "ledger").iter().any(|s| s.starts_with("ledger")));
        assert!(NatsRole::Append.publish("LEDGER", "ledger").contains(&"ledger.>".to_owned()));
        let notary = NatsRole::Notary.publish("LEDGER", "ledger");
        assert!(notary.contains(&"ledger-checkpoints".to_owned()) && !notary.contains(&"ledger.>".to_owned()));
        assert!(!NatsRole::Append.publish("LEDGER", "ledger").contains(&"ledger-checkpoints".to_owned()));
        let block = authorization(
            "LEDGER",
            "ledger",
            &[NatsUser { name: "reader".into(), password: "$READER_PASSWORD".into(), role: NatsRole::Read }],
        );
        assert!(block.contains("password: $READER_PASSWORD"), "{block}");
    }
}
