//! Keys and tokens for the tests that run the ledger with authentication on.
use std::path::PathBuf;
use std::time::Duration;

use coalition_ledger::startup::Roles;
use ledger_auth::keys::{self, SigningKey};
use ledger_auth::token::{self, Claims, GrantClaim};

use futures::TryStreamExt;
use ledger_proto::v1;

use super::TestApp;

pub const ISS: &str = ledger_auth::DEFAULT_ISSUER;
pub const AUD: &str = ledger_auth::DEFAULT_AUDIENCE;
pub const HOUR: Duration = Duration::from_secs(3600);

/// A key pair in a directory of its own, and tokens signed with it.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub key: SigningKey,
}

impl Keys {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let g = keys::generate(dir.path(), "signing").unwrap();
        Self { key: SigningKey::read(&g.private_key).unwrap(), dir }
    }

    pub fn public_keys(&self) -> PathBuf {
        self.dir.path().join("public-keys.json")
    }

    pub fn token(&self, subject: &str, role: &str, coalitions: &[&str]) -> String {
        let grants =
            vec![GrantClaim { role: role.into(), coalitions: coalitions.iter().map(|c| c.to_string()).collect() }];
        token::mint(&self.key, ISS, AUD, subject, grants, HOUR).unwrap()
    }

    pub fn claims(&self, claims: Claims) -> String {
        token::mint_claims(&self.key, &claims).unwrap()
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub fn writer_claims(sub: &str) -> Claims {
    Claims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: sub.into(),
        iat: now(),
        exp: now() + 3600,
        grants: vec![GrantClaim { role: "writer".into(), coalitions: vec!["a".into()] }],
    }
}

/// A request carrying `token` (none if empty).
pub fn with<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    if !token.is_empty() {
        r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    r
}

/// The whole ledger with authentication on, trusting `keys`.
pub async fn secured(keys: &Keys) -> TestApp {
    let path = keys.public_keys();
    TestApp::spawn_with(Roles::ALL, move |s| {
        s.auth.insecure_no_auth = false;
        s.auth.auth_public_keys = Some(path);
    })
    .await
}

/// The events a replay with `token` returns, all of them.
pub async fn replay_with(app: &mut TestApp, token: &str, request: v1::ReplayRequest) -> Vec<v1::RecordedEvent> {
    app.replay.replay(with(token, request)).await.unwrap().into_inner().try_collect().await.unwrap()
}
