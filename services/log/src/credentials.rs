//! How the ledger proves who it is to NATS (user and password, token, nkey seed or creds file) and secures the
//! connection (TLS): the one place these become connect options. Secrets never reach a log line: the URL given to
//! the NATS client holds no credentials (its debug logs print the server address), and [`Secret`] prints `***`.
use std::path::PathBuf;

use crate::LogError;

/// A secret value (password, token, nkey seed); its `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How the ledger authenticates to NATS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials: only for a server that accepts anonymous clients.
    #[default]
    Anonymous,
    UserPassword {
        user: String,
        password: Secret,
    },
    Token(Secret),
    /// An nkey seed (`SU...`): the server knows the public key; the seed never leaves this process.
    NkeySeed(Secret),
    /// A NATS `.creds` file (user JWT and nkey seed; decentralized authentication).
    CredsFile(PathBuf),
}

impl NatsAuth {
    /// The kind of credential, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::UserPassword { .. } => "user and password",
            Self::Token(_) => "token",
            Self::NkeySeed(_) => "nkey",
            Self::CredsFile(_) => "creds file",
        }
    }
}

/// TLS to NATS: a private CA, a client certificate (mutual TLS), or just "TLS required".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// CA certificates (PEM) that sign the server's certificate.
    pub ca: Option<PathBuf>,
    /// Client certificate chain and key (PEM), for servers that verify clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Refuse a server that does not offer TLS.
    pub required: bool,
}

impl NatsTls {
    pub fn enabled(&self) -> bool {
        self.required || self.ca.is_some() || self.client_cert.is_some()
    }
}

/// Credentials and TLS of a NATS connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsCredentials {
    pub auth: NatsAuth,
    pub tls: NatsTls,
}

/// Splits the credentials out of a NATS URL: `nats://user:password@host` or `nats://token@host` gives the URL
/// without them and what they were. They are then passed as options, never inside the URL the client logs.
pub fn split_url(url: &str) -> (String, Option<NatsAuth>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return (url.to_owned(), None) };
    let authority_end = url[scheme_end..].find('/').map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else {
        return (url.to_owned(), None);
    };
    let decode = |s: &str| percent_decode(s);
    let userinfo = &url[scheme_end..at];
    let auth = match userinfo.split_once(':') {
        Some((user, password)) => {
            NatsAuth::UserPassword { user: decode(user), password: Secret::new(decode(password)) }
        }
        None => NatsAuth::Token(Secret::new(decode(userinfo))),
    };
    (format!("{}{}", &url[..scheme_end], &url[at + 1..]), Some(auth))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl NatsCredentials {
    /// Connect options carrying these credentials and TLS settings. A creds file that cannot be read is an error
    /// naming the file (not its content).
    pub async fn options(&self) -> Result<async_nats::ConnectOptions, LogError> {
        let mut options = match &self.auth {
            NatsAuth::Anonymous => async_nats::ConnectOptions::new(),
            NatsAuth::UserPassword { user, password } => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.expose().to_owned())
            }
            NatsAuth::Token(t) => async_nats::ConnectOptions::with_token(t.expose().to_owned()),
            NatsAuth::NkeySeed(seed) => {
                // Checked here so that a wrong seed is named at start, not as an opaque handshake failure.
                nkeys::KeyPair::from_seed(seed.expose().trim())
                    .map_err(|e| LogError::Credentials(format!("the NATS nkey seed is not valid: {e}")))?;
                async_nats::ConnectOptions::with_nkey(seed.expose().trim().to_owned())
            }
            NatsAuth::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| LogError::Credentials(format!("NATS creds file {}: {e}", path.display())))?,
        };
        if let Some(ca) = &self.tls.ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls.client_cert {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls.enabled() {
            options = options.require_tls(true);
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_taken_out_of_it() {
        let (url, auth) = split_url("nats://ledger:p%40ss@127.0.0.1:4222");
        assert_eq!(url, "nats://127.0.0.1:4222");
        assert_eq!(auth, Some(NatsAuth::UserPassword { user: "ledger".into(), password: Secret::new("p@ss") }));
        let (url, auth) = split_url("tls://s3cr3t@h:4222,nats://h2:4222");
        assert_eq!(url, "tls://h:4222,nats://h2:4222");
        assert_eq!(auth, Some(NatsAuth::Token(Secret::new("s3cr3t"))));
        assert_eq!(split_url("nats://h:4222"), ("nats://h:4222".into(), None));
    }

    #[test]
    fn a_secret_never_prints() {
        let auth = NatsAuth::UserPassword { user: "u".into(), password: Secret::new("hunter2") };
        let printed = format!("{auth:?} {}", Secret::new("hunter2"));
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
