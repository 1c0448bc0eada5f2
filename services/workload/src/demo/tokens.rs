//! The demo's tokens: one per role and coalition, read from a directory as needed, and sent as bearer tokens.
use anyhow::Context;
use ledger_proto::v1::{self, event_payload::Event as P};

/// The directory of tokens (`ledger auth token` output), or none: then no call carries a token.
pub(super) struct Tokens(pub(super) Option<std::path::PathBuf>);

impl Tokens {
    /// The token in `<name>.jwt`, if there is a directory.
    pub(super) fn read(&self, name: &str) -> anyhow::Result<Option<String>> {
        let Some(dir) = &self.0 else { return Ok(None) };
        let path = dir.join(format!("{name}.jwt"));
        let t = std::fs::read_to_string(&path).with_context(|| format!("reading the token {}", path.display()))?;
        Ok(Some(t.trim().to_owned()))
    }

    /// The token of the role an append needs: the coalition admin's for a coalition's lifecycle, the platform
    /// admin's for a rename and a national coordinator, else the writer's of the coalition it is for (any writer's to register an organisation).
    pub(super) fn for_append(&self, req: &v1::AppendRequest) -> anyhow::Result<Option<String>> {
        let agg = req.aggregate.clone().unwrap_or_default();
        let first = req.events.first().and_then(|e| e.payload.as_ref()).and_then(|p| p.event.as_ref());
        let named = ledger_proto::convert::payload_to_domain(req.events.first().and_then(|e| e.payload.as_ref()))
            .ok()
            .and_then(|k| k.coalition_id().map(ToString::to_string));
        let name = if agg.r#type == i32::from(v1::AggregateType::Coalition) {
            format!("coalition-admin-{}", agg.id)
        } else if matches!(
            first,
            Some(P::OrganisationRenamed(_) | P::NationalCoordinatorNominated(_) | P::NationalCoordinatorReplaced(_))
        ) {
            "platform-admin".to_owned()
        } else if !req.coalition_id.is_empty() {
            format!("writer-{}", req.coalition_id)
        } else {
            format!("writer-{}", named.unwrap_or_else(|| "eu".into()))
        };
        self.read(&name)
    }
}

/// `message` with `authorization: Bearer <token>` if there is a token.
pub(super) fn authorized<T>(token: Option<String>, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(message);
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().context("token is not ASCII")?);
    }
    Ok(r)
}
