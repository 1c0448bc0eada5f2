//! Authentication at the edge: every gRPC call (but health checks) and the dashboard's data carry a bearer token
//! or come over mutual TLS, and end up as a [`Principal`] in the request; what it may do is decided by
//! `ledger_domain::access`.
//!
//! - [`keys`]: Ed25519 key pairs, the public key file (JWKS) and its reloading.
//! - [`token`]: minting and verifying the JWTs.
//! - [`clients`]: the principals of client certificates.
//! - [`layer`]: the tower layer in front of every gRPC service.
//! - [`limits`]: what each principal may have in flight and start per second, admitted in that layer.
//!
//! Tokens are never logged; failures and refusals are counted by reason ([`metrics`]).
pub mod clients;
pub mod keys;
pub mod layer;
pub mod limits;
pub mod metrics;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use ledger_domain::access::{Denied, Principal};
use thiserror::Error;

pub use layer::AuthLayer;

/// The issuer and audience tokens must name, unless configured otherwise.
pub const DEFAULT_ISSUER: &str = "coalition-ledger";
pub const DEFAULT_AUDIENCE: &str = "coalition-ledger";

/// Why a caller is not authenticated. Each is answered `UNAUTHENTICATED` with this message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("no credentials: send `authorization: Bearer <token>` (see `ledger auth token`)")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another audience (this server accepts {0:?})")]
    WrongAudience(String),
    #[error("the token is from another issuer (this server accepts {0:?})")]
    WrongIssuer(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's header names no key id (kid)")]
    NoKeyId,
    #[error("the token is signed by unknown key {0:?}")]
    UnknownKey(String),
    #[error("the token's claims are invalid: {0}")]
    BadClaims(String),
    #[error("the client certificate is not mapped to a principal: {0}")]
    UnknownCertificate(String),
}

impl AuthError {
    /// The label counted in `ledger_auth_failures_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAudience(_) => "wrong_audience",
            Self::WrongIssuer(_) => "wrong_issuer",
            Self::BadSignature => "bad_signature",
            Self::NoKeyId => "no_key_id",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadClaims(_) => "bad_claims",
            Self::UnknownCertificate(_) => "unknown_certificate",
        }
    }
}

/// How the servers authenticate.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The public key file (JWKS); `None`: no tokens accepted.
    pub public_keys: Option<std::path::PathBuf>,
    /// The principals of client certificates; `None`: certificates give no principal.
    pub clients: Option<std::path::PathBuf>,
    pub issuer: String,
    pub audience: String,
}

/// Turns a request's credentials into a principal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    /// `--insecure-no-auth`: every caller is [`Principal::anonymous`].
    Insecure,
    Enforced {
        keys: Option<keys::KeyStore>,
        clients: Option<clients::ClientMap>,
        issuer: String,
        audience: String,
    },
}

impl Authenticator {
    /// An authenticator that lets everyone in as `anonymous`. Only for `--insecure-no-auth`.
    pub fn insecure() -> Self {
        Self { inner: Arc::new(Inner::Insecure) }
    }

    /// Reads the key file and the client map. Neither configured is an error: nothing is anonymous by default.
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let keys = config
            .public_keys
            .as_deref()
            .map(keys::KeyStore::open)
            .transpose()
            .map_err(|e| format!("public keys: {e}"))?;
        let clients = config
            .clients
            .as_deref()
            .map(clients::ClientMap::read)
            .transpose()
            .map_err(|e| format!("client certificate principals: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner::Enforced {
                keys,
                clients,
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
            }),
        })
    }

    pub fn is_insecure(&self) -> bool {
        matches!(*self.inner, Inner::Insecure)
    }

    /// The key store to watch for changes, if tokens are accepted.
    pub fn key_store(&self) -> Option<keys::KeyStore> {
        match &*self.inner {
            Inner::Enforced { keys, .. } => keys.clone(),
            Inner::Insecure => None,
        }
    }

    /// Authenticates a call from its headers and, over mutual TLS, the client's certificate chain (leaf first).
    /// A bearer token, when sent, decides; otherwise the certificate does.
    pub fn authenticate(
        &self,
        headers: &http::HeaderMap,
        peer_certs: Option<&[Vec<u8>]>,
    ) -> Result<Principal, AuthError> {
        let (keys, clients, issuer, audience) = match &*self.inner {
            Inner::Insecure => return Ok(Principal::anonymous()),
            Inner::Enforced { keys, clients, issuer, audience } => (keys, clients, issuer, audience),
        };
        let result = match bearer(headers) {
            Some(Ok(token)) => match keys {
                Some(keys) => token::verify(token, &keys.current(), issuer, audience),
                None => Err(AuthError::UnknownKey("(this server accepts no tokens, only client certificates)".into())),
            },
            Some(Err(e)) => Err(e),
            None => match (peer_certs.and_then(|c| c.first()), clients) {
                (Some(leaf), Some(map)) => map.principal(leaf),
                _ => Err(AuthError::Missing),
            },
        };
        if let Err(e) = &result {
            metrics::failure(e.reason());
            tracing::debug!(reason = e.reason(), error = %e, "unauthenticated call");
        }
        result
    }
}

/// The bearer token of an `authorization` header, if there is one.
fn bearer(headers: &http::HeaderMap) -> Option<Result<&str, AuthError>> {
    let value = headers.get(http::header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")).map(|(_, t)| t))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AuthError::Malformed("the authorization header is not `Bearer <token>`".into()));
    Some(parsed)
}

/// The principal the auth layer put in the request. Its absence (a service served without the layer) is refused,
/// never taken as anonymous.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated(AuthError::Missing.to_string()))
}

/// A refusal as the `PERMISSION_DENIED` status naming the missing grant; counted and logged (without any token).
pub fn deny(principal: &Principal, d: Denied) -> tonic::Status {
    metrics::count_denied(&d.missing);
    tracing::info!(principal = %principal.subject, missing = %d.missing, "permission denied");
    tonic::Status::permission_denied(d.to_string())
}

/// How often the key file is checked for changes.
pub const KEY_FILE_POLL: Duration = Duration::from_secs(1);
