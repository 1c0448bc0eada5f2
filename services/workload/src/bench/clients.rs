//! The benchmark's gRPC clients: a channel that sends the benchmark's bearer token with every call, connected
//! once the ledger's process listens, and the key pair and token the benchmark makes for itself.
use std::time::{Duration, Instant};

use anyhow::Context;
use tonic::transport::Channel;

/// The channel every benchmark client uses: a gRPC channel that sends the benchmark's bearer token with every
/// call, since the ledger's processes run with authentication on, as in production.
#[derive(Clone)]
pub(super) struct Authed {
    inner: Channel,
    /// `None` when the benchmark runs the ledger with `--insecure-no-auth` (to compare).
    header: Option<http::HeaderValue>,
}

impl tower::Service<http::Request<tonic::body::Body>> for Authed {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as tower::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(h) = &self.header {
            req.headers_mut().insert(http::header::AUTHORIZATION, h.clone());
        }
        tower::Service::call(&mut self.inner, req)
    }
}

/// A channel to `addr` sending `token`, once the server there accepts connections (for up to a minute).
pub(super) async fn connect(addr: std::net::SocketAddr, token: Option<&str>) -> anyhow::Result<Authed> {
    let header = token.map(|t| format!("Bearer {t}").parse()).transpose().context("the token is not a header value")?;
    Ok(Authed { inner: connect_plain(addr).await?, header })
}

async fn connect_plain(addr: std::net::SocketAddr) -> anyhow::Result<Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Channel::from_shared(format!("http://{addr}"))?.connect().await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(e).context("the ledger did not start"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Makes the benchmark's key pair and a platform admin's token; returns the token and the time one verification
/// of it takes in process (what authentication adds to each call's CPU).
pub(super) fn bench_auth(dir: &std::path::Path, config: &super::Config) -> anyhow::Result<(String, f64)> {
    let g = ledger_auth::keys::generate(dir, "bench")?;
    let key = ledger_auth::keys::SigningKey::read(&g.private_key)?;
    let grants = vec![ledger_auth::token::GrantClaim { role: "platform-admin".into(), coalitions: vec![] }];
    let token = ledger_auth::token::mint(
        &key,
        &config.auth_issuer,
        &config.auth_audience,
        "bench",
        grants,
        Duration::from_secs(24 * 3600),
    )
    .map_err(anyhow::Error::msg)?;
    let authenticator = ledger_auth::Authenticator::new(&ledger_auth::AuthConfig {
        public_keys: Some(g.public_keys),
        clients: None,
        issuer: config.auth_issuer.clone(),
        audience: config.auth_audience.clone(),
    })
    .map_err(anyhow::Error::msg)?;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    let n = 2000;
    let started = Instant::now();
    for _ in 0..n {
        authenticator.authenticate(&headers, None).map_err(|e| anyhow::anyhow!("the benchmark's token: {e}"))?;
    }
    Ok((token, started.elapsed().as_secs_f64() * 1e6 / f64::from(n)))
}
