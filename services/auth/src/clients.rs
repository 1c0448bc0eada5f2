//! Principals of client certificates (mutual TLS): a file maps a certificate's subject common name to a principal
//! and its grants.
//!
//! ```json
//! {"clients": [{"common_name": "se-gateway.internal", "principal": "se-gateway",
//!               "grants": [{"role": "writer", "coalitions": ["se"]}]}]}
//! ```
//! The TLS handshake has already checked the certificate against the configured client CA; this only names it.
use std::collections::BTreeMap;
use std::path::Path;

use ledger_domain::access::{Grant, Principal};
use serde::Deserialize;

use crate::AuthError;
use crate::token::GrantClaim;

#[derive(Debug, Deserialize)]
struct File {
    clients: Vec<Client>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Client {
    common_name: String,
    principal: String,
    grants: Vec<GrantClaim>,
}

#[derive(Debug, Clone)]
pub struct ClientMap {
    by_common_name: BTreeMap<String, Principal>,
}

impl ClientMap {
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: File = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut by_common_name = BTreeMap::new();
        for (i, c) in file.clients.into_iter().enumerate() {
            let grants = c
                .grants
                .iter()
                .map(|g| Grant::parse(&g.role, &g.coalitions))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: clients[{i}]: {e}", path.display()))?;
            crate::token::check_subject(&c.principal)
                .map_err(|e| format!("{}: clients[{i}].principal: {e}", path.display()))?;
            let p = Principal { subject: c.principal, grants };
            if by_common_name.insert(c.common_name.clone(), p).is_some() {
                return Err(format!("{}: clients[{i}]: common name {:?} appears twice", path.display(), c.common_name));
            }
        }
        Ok(Self { by_common_name })
    }

    /// The principal of a client's leaf certificate (DER).
    pub fn principal(&self, leaf: &[u8]) -> Result<Principal, AuthError> {
        let (_, cert) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| AuthError::UnknownCertificate(format!("unreadable: {e}")))?;
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .ok_or_else(|| AuthError::UnknownCertificate("no subject common name".into()))?;
        self.by_common_name.get(cn).cloned().ok_or_else(|| AuthError::UnknownCertificate(format!("common name {cn:?}")))
    }
}
