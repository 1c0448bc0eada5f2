//! The tower layer in front of every gRPC service of a server: authenticates each call before any service sees
//! it, so a service added later is covered without doing anything. Health checks stay open (load balancers call
//! them without credentials). The principal is put into the request's extensions for the handlers' authorisation,
//! and its call is admitted by the [`Limiter`] (per-principal and server-wide caps, a per-principal rate) or
//! answered `RESOURCE_EXHAUSTED`.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::Authenticator;
use crate::limits::Limiter;

/// Paths served without credentials.
const OPEN_PREFIXES: [&str; 1] = ["/grpc.health.v1.Health/"];

#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Authenticator,
    limiter: Limiter,
}

impl AuthLayer {
    pub fn new(auth: Authenticator, limiter: Limiter) -> Self {
        Self { auth, limiter }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, auth: self.auth.clone(), limiter: self.limiter.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Authenticator,
    limiter: Limiter,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The service that was polled ready is the one to call; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if OPEN_PREFIXES.iter().any(|p| req.uri().path().starts_with(p)) {
            return Box::pin(inner.call(req));
        }
        let certs: Option<Vec<Vec<u8>>> = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|i| i.peer_certs())
            .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect());
        match self.auth.authenticate(req.headers(), certs.as_deref()) {
            Ok(principal) => match self.limiter.admit(&principal.subject) {
                Ok(admitted) => {
                    req.extensions_mut().insert(principal);
                    // Held until the handler has answered (a stream's later messages are not counted).
                    let call = inner.call(req);
                    Box::pin(async move {
                        let response = call.await;
                        drop(admitted);
                        response
                    })
                }
                Err(refused) => {
                    tracing::debug!(principal = %principal.subject, %refused, "call refused by a limit");
                    let response = tonic::Status::resource_exhausted(refused.to_string()).into_http::<R>();
                    Box::pin(async move { Ok(response) })
                }
            },
            Err(e) => {
                let response = tonic::Status::unauthenticated(e.to_string()).into_http::<R>();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
