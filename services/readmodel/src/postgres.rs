//! Where a Postgres server is and how to reach it: a connection string (URL or key=value), a password given apart
//! from it (from a file or the environment, never logged), and TLS as libpq understands `sslmode` and
//! `sslrootcert`: `disable`, `prefer` (the default), `require`, `verify-ca` and `verify-full`, on rustls.
//!
//! As with libpq, `prefer` and `require` encrypt without checking the server's certificate unless a CA is given
//! (then they check it as `verify-ca` does); `verify-ca` checks that a trusted CA signed it; `verify-full` also
//! checks that it names the host connected to. `sslrootcert=system` trusts the system's CAs.
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use thiserror::Error;
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

/// `sslmode`, with libpq's five values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, PostgresError> {
        Ok(match value {
            "disable" => Self::Disable,
            // libpq's `allow` tries without TLS first; the closest safe reading is to prefer TLS.
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => return Err(PostgresError::SslMode(other.to_owned())),
        })
    }
}

/// Why a connection string or its TLS settings cannot be used.
#[derive(Debug, Error)]
pub enum PostgresError {
    #[error("the Postgres connection string: {0}")]
    Parse(#[source] tokio_postgres::Error),
    #[error("sslmode={0:?}: use disable, prefer, require, verify-ca or verify-full")]
    SslMode(String),
    #[error("sslmode={0}: give the CA of the server's certificate (sslrootcert=FILE or --database-ca)")]
    NoCa(&'static str),
    #[error("reading the Postgres CA file {path}: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("the Postgres TLS configuration: {0}")]
    Tls(String),
}

/// A Postgres server to connect to, as one role: cheap to clone, shown with its password hidden.
#[derive(Clone)]
pub struct Postgres {
    config: tokio_postgres::Config,
    mode: SslMode,
    ca: Option<PathBuf>,
    tls: Tls,
    /// User, hosts, database and sslmode, for messages (never a password).
    shown: Arc<str>,
}

#[derive(Clone)]
enum Tls {
    None,
    Rustls(MakeRustlsConnect),
    /// Set up failed: every connection fails with this message (for [`crate::connect`], which cannot refuse a
    /// string up front).
    Broken(Arc<str>),
}

impl Postgres {
    /// Parses a connection string: a URL (`postgres://user@host:port/db?sslmode=verify-full&sslrootcert=ca.pem`)
    /// or key=value pairs (`host=h dbname=d sslmode=require`). A CA file named in it is read now.
    pub fn parse(text: &str) -> Result<Self, PostgresError> {
        Self::parse_with_ca(text, None)
    }

    /// As [`Self::parse`], trusting the CA certificates in `default_ca` if the string names no `sslrootcert`.
    pub fn parse_with_ca(text: &str, default_ca: Option<&Path>) -> Result<Self, PostgresError> {
        let (rest, sslmode, rootcert) = take_tls_options(text);
        let rootcert = rootcert.map(PathBuf::from).or_else(|| default_ca.map(Path::to_owned));
        let config: tokio_postgres::Config = rest.parse().map_err(PostgresError::Parse)?;
        let mode = sslmode.as_deref().map_or(Ok(SslMode::default()), SslMode::parse)?;
        let shown = describe(&config, mode).into();
        let mut postgres = Self { config, mode, ca: rootcert, tls: Tls::None, shown };
        postgres.configure_tls()?;
        Ok(postgres)
    }

    /// As [`Self::parse`], but a string whose TLS settings cannot be used gives a server whose every connection
    /// fails saying why.
    pub(crate) fn parse_or_broken(text: &str) -> Result<Self, tokio_postgres::Error> {
        match Self::parse(text) {
            Ok(p) => Ok(p),
            Err(PostgresError::Parse(e)) => Err(e),
            Err(e) => {
                let (rest, _, _) = take_tls_options(text);
                let mut config: tokio_postgres::Config = rest.parse()?;
                config.ssl_mode(DriverSslMode::Require);
                let (tls, shown) = (Tls::Broken(e.to_string().into()), describe(&config, SslMode::Require).into());
                Ok(Self { config, mode: SslMode::Require, ca: None, tls, shown })
            }
        }
    }

    /// The same server with `password` (from a file or the environment; it replaces one in the string).
    pub fn with_password(mut self, password: &str) -> Self {
        self.config.password(password);
        self
    }

    /// The same server and credentials, another database.
    pub fn with_dbname(&self, name: &str) -> Self {
        let mut other = self.clone();
        other.config.dbname(name);
        other.shown = describe(&other.config, other.mode).into();
        other
    }

    pub fn dbname(&self) -> Option<&str> {
        self.config.get_dbname()
    }

    pub fn user(&self) -> Option<&str> {
        self.config.get_user()
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.mode
    }

    fn configure_tls(&mut self) -> Result<(), PostgresError> {
        let driver_mode = match self.mode {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        };
        self.config.ssl_mode(driver_mode);
        self.tls = match self.mode {
            SslMode::Disable => Tls::None,
            mode => Tls::Rustls(MakeRustlsConnect::new(client_config(mode, self.ca.as_deref())?)),
        };
        Ok(())
    }

    /// Opens a connection; its driver task logs when it ends (it ends when the client is dropped).
    pub async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        match &self.tls {
            Tls::None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(drive(connection));
                Ok(client)
            }
            Tls::Rustls(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                tokio::spawn(drive(connection));
                Ok(client)
            }
            Tls::Broken(message) => {
                let (client, connection) = self.config.connect(Refuse(message.clone())).await?;
                tokio::spawn(drive(connection));
                Ok(client)
            }
        }
    }
}

async fn drive<T>(connection: tokio_postgres::Connection<Socket, T>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match connection.await {
        Ok(()) => tracing::trace!("postgres connection closed"),
        Err(e) => tracing::warn!(error = %e, "postgres connection ended with an error"),
    }
}

impl fmt::Display for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("connection", &self.shown)
            .field("sslmode", &self.mode)
            .field("ca", &self.ca)
            .field("password_given", &self.config.get_password().is_some())
            .finish()
    }
}

/// The rustls client configuration for `mode`, trusting the CAs in `ca` (`system`: the system's).
fn client_config(mode: SslMode, ca: Option<&Path>) -> Result<rustls::ClientConfig, PostgresError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PostgresError::Tls(e.to_string()))?;
    let chain = match (mode, ca) {
        (SslMode::VerifyCa, None) => return Err(PostgresError::NoCa("verify-ca")),
        (SslMode::VerifyFull, None) => return Err(PostgresError::NoCa("verify-full")),
        // libpq: without a CA, prefer and require encrypt but do not authenticate the server.
        (_, None) => None,
        (_, Some(path)) => Some(
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(root_store(path)?), provider.clone())
                .build()
                .map_err(|e| PostgresError::Tls(e.to_string()))?,
        ),
    };
    let verifier = Verifier { provider, chain, check_name: mode == SslMode::VerifyFull };
    Ok(builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth())
}

fn root_store(path: &Path) -> Result<rustls::RootCertStore, PostgresError> {
    let ca_error = |message: String| PostgresError::Ca { path: path.to_owned(), message };
    let mut roots = rustls::RootCertStore::empty();
    if path == Path::new("system") {
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(ca_error("no system CA certificate could be loaded".into()));
        }
        return Ok(roots);
    }
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_error("it holds no PEM certificate".into()));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
    }
    Ok(roots)
}

/// Checks the server's certificate as `mode` asks. Without a CA (`prefer`, `require`) only the handshake's
/// signatures are checked, not the certificate; `verify-ca` checks that the chain leads to a trusted CA but not the
/// name in it; `verify-full` checks both.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// `None`: the certificate is not checked.
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        // The name is checked after the chain: this error means that the chain was trusted.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. }))
                if !self.check_name =>
            {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connector whose every use fails with the message (a TLS setup that could not be made).
#[derive(Clone)]
struct Refuse(Arc<str>);

impl<S> MakeTlsConnect<S> for Refuse
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = std::io::Error;

    fn make_tls_connect(&mut self, _domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        Err(std::io::Error::other(self.0.to_string()))
    }
}

/// Splits `sslmode` and `sslrootcert` (which the driver does not take as libpq does) out of a connection string;
/// returns the rest, the mode and the CA path.
fn take_tls_options(text: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut rootcert) = (None, None);
    let text = text.trim();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let Some((base, query)) = text.split_once('?') else { return (text.to_owned(), None, None) };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                match key {
                    "sslmode" => mode = Some(percent_decode(value)),
                    "sslrootcert" => rootcert = Some(percent_decode(value)),
                    _ => return true,
                }
                false
            })
            .collect();
        let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        return (rest, mode, rootcert);
    }
    let mut rest = Vec::new();
    for (key, value) in key_values(text) {
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => rootcert = Some(value),
            _ => rest.push(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))),
        }
    }
    (rest.join(" "), mode, rootcert)
}

/// The pairs of a key=value connection string, values unquoted (libpq's rules: `key = value`, a value in single
/// quotes may hold spaces, `\'` and `\\` are escapes).
fn key_values(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=');
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What messages say of a connection: built from the parsed settings, so that no password can be in it.
fn describe(config: &tokio_postgres::Config, mode: SslMode) -> String {
    use tokio_postgres::config::Host;
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let dbname = config.get_dbname().unwrap_or_default();
    let mode = match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    };
    format!("postgres://{user}{}/{dbname}?sslmode={mode}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_out_of_urls_and_key_values() {
        let (rest, mode, ca) =
            take_tls_options("postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), ca.as_deref()),
            ("postgres://u@h/db?application_name=x", Some("verify-full"), Some("/tmp/ca.pem"))
        );
        let (rest, mode, ca) = take_tls_options("host=h password='a b\\'c' sslmode = require sslrootcert=/x");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), ca.as_deref()),
            ("host='h' password='a b\\'c'", Some("require"), Some("/x"))
        );
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"a b'c"[..]));
    }

    #[test]
    fn modes_need_what_they_check_with() {
        assert!(matches!(Postgres::parse("postgres://h/db?sslmode=verify-full"), Err(PostgresError::NoCa(_))));
        assert!(matches!(Postgres::parse("host=h sslmode=bogus"), Err(PostgresError::SslMode(_))));
        assert!(matches!(Postgres::parse("host=h sslrootcert=/nonexistent"), Err(PostgresError::Ca { .. })));
        assert_eq!(Postgres::parse("postgres://h/db").unwrap().ssl_mode(), SslMode::Prefer);
        assert_eq!(Postgres::parse("host=h sslmode=disable").unwrap().ssl_mode(), SslMode::Disable);
    }

    #[tokio::test]
    async fn a_string_whose_tls_cannot_be_set_up_connects_nowhere_and_says_why() {
        // A listener that never answers: the TLS set-up is refused right after the TCP connection.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("host=127.0.0.1 port={port} user=u sslmode=require sslrootcert=/nonexistent/ca.pem");
        let error = crate::connect(&url).await.err().unwrap();
        let text = format!("{error} {:?}", std::error::Error::source(&error));
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    }

    #[test]
    fn what_is_shown_hides_the_password() {
        for text in
            ["postgres://u:s3cret@h/db?password=s3cret", "host=h password='s3cret pw' user=u", "password=s3cret"]
        {
            let p = Postgres::parse(text).unwrap().with_password("other");
            assert!(!p.to_string().contains("s3cret") && !format!("{p:?}").contains("s3cret"), "{p} {p:?}");
            assert!(!format!("{p:?}").contains("other"));
        }
    }
}
