//! Bearer tokens: EdDSA-signed JWTs with issuer, audience, subject, expiry, key id and the principal's grants.
//!
//! ```json
//! {"iss": "coalition-ledger", "aud": "coalition-ledger", "sub": "se-membership-service",
//!  "iat": 1764633600, "exp": 1764637200,
//!  "grants": [{"role": "writer", "coalitions": ["se"]}]}
//! ```
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Header, Validation};
use ledger_domain::access::{ANONYMOUS_PRINCIPAL, Grant, Principal, UNKNOWN_PRINCIPAL};
use serde::{Deserialize, Serialize};

use crate::AuthError;
use crate::keys::{KeySet, SigningKey};

/// One grant as a token carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaim {
    pub role: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coalitions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub grants: Vec<GrantClaim>,
}

/// Clock skew tolerated between the issuer and the servers, in seconds.
const LEEWAY: u64 = 30;

/// Longest-lived token `ledger auth token` issues (and the servers accept).
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses `90s`, `15m`, `12h`, `30d`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: expected a number and a unit (s, m, h, d), e.g. 12h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: the unit is one of s, m, h, d")),
    };
    let ttl = Duration::from_secs(secs);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(format!("{s:?}: between 1s and 366d"));
    }
    Ok(ttl)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Signs a token for `subject` with `grants`, valid for `ttl` from now.
pub fn mint(
    key: &SigningKey,
    issuer: &str,
    audience: &str,
    subject: &str,
    grants: Vec<GrantClaim>,
    ttl: Duration,
) -> Result<String, String> {
    check_subject(subject).map_err(|e| e.to_string())?;
    for g in &grants {
        Grant::parse(&g.role, &g.coalitions)?;
    }
    let iat = now();
    let claims =
        Claims { iss: issuer.into(), aud: audience.into(), sub: subject.into(), iat, exp: iat + ttl.as_secs(), grants };
    mint_claims(key, &claims)
}

/// Signs the given claims as they are (tests use it for expired tokens and wrong audiences).
pub fn mint_claims(key: &SigningKey, claims: &Claims) -> Result<String, String> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let encoding = key.encoding_key().map_err(|e| format!("signing key: {e}"))?;
    jsonwebtoken::encode(&header, claims, &encoding).map_err(|e| format!("signing: {e}"))
}

/// A principal's name: 1 to 200 printable characters, not one the ledger records for itself.
pub fn check_subject(sub: &str) -> Result<(), AuthError> {
    if sub.is_empty() || sub.len() > 200 || sub.chars().any(char::is_control) {
        return Err(AuthError::BadClaims("sub: 1 to 200 printable characters".into()));
    }
    if sub == UNKNOWN_PRINCIPAL || sub == ANONYMOUS_PRINCIPAL {
        return Err(AuthError::BadClaims(format!("sub: {sub:?} is reserved")));
    }
    Ok(())
}

/// Verifies a token against the key set and turns it into a principal.
pub fn verify(token: &str, keys: &KeySet, issuer: &str, audience: &str) -> Result<Principal, AuthError> {
    use jsonwebtoken::errors::ErrorKind as E;
    let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
    if header.alg != Algorithm::EdDSA {
        return Err(AuthError::Malformed(format!("algorithm {:?}; only EdDSA is accepted", header.alg)));
    }
    let kid = header.kid.ok_or(AuthError::NoKeyId)?;
    let key = keys.get(&kid).ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY;
    validation.validate_nbf = true;
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
        E::ExpiredSignature => AuthError::Expired,
        E::ImmatureSignature => AuthError::NotYetValid,
        E::InvalidAudience => AuthError::WrongAudience(audience.to_owned()),
        E::InvalidIssuer => AuthError::WrongIssuer(issuer.to_owned()),
        E::InvalidSignature => AuthError::BadSignature,
        E::MissingRequiredClaim(c) => AuthError::BadClaims(format!("{c} is required")),
        E::Json(j) => AuthError::BadClaims(j.to_string()),
        _ => AuthError::Malformed(e.to_string()),
    })?;
    let c = data.claims;
    check_subject(&c.sub)?;
    // Whoever holds a key may sign anything: the server still refuses tokens issued in the future or living longer
    // than any `ledger auth token` issues.
    if c.iat > now() + LEEWAY {
        return Err(AuthError::BadClaims("iat is in the future".into()));
    }
    if c.exp.saturating_sub(c.iat) > MAX_TTL.as_secs() {
        return Err(AuthError::BadClaims(format!("the token lives longer than {} days", MAX_TTL.as_secs() / 86_400)));
    }
    let grants = c
        .grants
        .iter()
        .enumerate()
        .map(|(i, g)| {
            Grant::parse(&g.role, &g.coalitions).map_err(|e| AuthError::BadClaims(format!("grants[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Principal { subject: c.sub, grants })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keys::generate;

    fn writer() -> Vec<GrantClaim> {
        vec![GrantClaim { role: "writer".into(), coalitions: vec!["se".into()] }]
    }

    #[test]
    fn a_minted_token_verifies_and_every_bad_one_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate(dir.path(), "k").unwrap();
        let key = SigningKey::read(&g.private_key).unwrap();
        let keys = KeySet::read(&g.public_keys).unwrap();
        let hour = Duration::from_secs(3600);
        let ok = mint(&key, "iss", "aud", "svc-se", writer(), hour).unwrap();
        let p = verify(&ok, &keys, "iss", "aud").unwrap();
        assert_eq!(p.subject, "svc-se");
        assert_eq!(p.grants.len(), 1);

        let wrong_aud = mint(&key, "iss", "other", "svc-se", writer(), hour).unwrap();
        assert!(matches!(verify(&wrong_aud, &keys, "iss", "aud"), Err(AuthError::WrongAudience(_))));
        let wrong_iss = mint(&key, "someone", "aud", "svc-se", writer(), hour).unwrap();
        assert!(matches!(verify(&wrong_iss, &keys, "iss", "aud"), Err(AuthError::WrongIssuer(_))));
        let t = now() - 7200;
        let claims =
            Claims { iss: "iss".into(), aud: "aud".into(), sub: "svc".into(), iat: t, exp: t + 60, grants: writer() };
        let expired = mint_claims(&key, &claims).unwrap();
        assert!(matches!(verify(&expired, &keys, "iss", "aud"), Err(AuthError::Expired)));

        let other = generate(dir.path(), "other").unwrap();
        let other_key = SigningKey::read(&other.private_key).unwrap();
        let unknown = mint(&other_key, "iss", "aud", "svc", writer(), hour).unwrap();
        assert!(matches!(verify(&unknown, &keys, "iss", "aud"), Err(AuthError::UnknownKey(_))));
        // Signed by another key but claiming the known key's id.
        let mut forged = other_key;
        forged.kid = key.kid.clone();
        let forged = mint(&forged, "iss", "aud", "svc", writer(), hour).unwrap();
        assert!(matches!(verify(&forged, &keys, "iss", "aud"), Err(AuthError::BadSignature)));
        assert!(matches!(verify("not.a.token", &keys, "iss", "aud"), Err(AuthError::Malformed(_))));

        assert!(mint(&key, "iss", "aud", "unknown", writer(), hour).is_err(), "reserved subject");
        let forever = Claims { iat: now(), exp: now() + 400 * 86_400, ..claims.clone() };
        assert!(matches!(
            verify(&mint_claims(&key, &forever).unwrap(), &keys, "iss", "aud"),
            Err(AuthError::BadClaims(_))
        ));
        let future = Claims { iat: now() + 3600, exp: now() + 7200, ..claims };
        assert!(matches!(
            verify(&mint_claims(&key, &future).unwrap(), &keys, "iss", "aud"),
            Err(AuthError::BadClaims(_))
        ));
        let bad_grant = vec![GrantClaim { role: "writer".into(), coalitions: vec![] }];
        assert!(mint(&key, "iss", "aud", "svc", bad_grant, hour).is_err());
    }

    #[test]
    fn ttls_are_parsed_with_their_unit() {
        assert_eq!(parse_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_ttl("30d").unwrap(), Duration::from_secs(2_592_000));
        assert!(parse_ttl("12").is_err());
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("400d").is_err());
    }
}
