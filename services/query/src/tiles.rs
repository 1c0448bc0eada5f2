//! The log in the C2SP `tlog-tiles` layout, over HTTP beside the dashboard, so that any static tile client can
//! verify it: `GET /tlog/checkpoint` (the latest signed checkpoint), `GET /tlog/tile/<L>/<N>[.p/<W>]` (hash tiles:
//! 256 hashes, or W of a partial tile, of the tree's level 8·L from node 256·N on, concatenated) and
//! `GET /tlog/tile/entries/<N>[.p/<W>]` (entry bundles: the stored envelopes of positions 256·N + 1 on, each
//! as a big-endian 16-bit length and its bytes). `N` is written in groups of three digits, all but the last with
//! an `x` (`x001/x234/067`).
//!
//! The hashes are the notary's stored nodes (`audit.nodes`), the entries the stream's messages: a tile is served
//! only once every hash or entry in it exists. Auditors and platform admins only, as the replay: `401` without a
//! valid token, `403` without the grant, `404` for a tile that does not exist (yet), `400` for a malformed path.
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::TryStreamExt;
use ledger_auth::Authenticator;
use ledger_domain::access::authorize_replay;
use ledger_log::{Log, ReadFrom};

use crate::Pool;

/// Hashes or entries in a full tile.
pub const TILE_WIDTH: u64 = 256;

/// A tile named by a request path (after `/tlog/tile/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tile {
    /// Hashes of level `8 * level`, nodes `256 * index ..` (`width` of them).
    Hashes { level: u8, index: u64, width: u64 },
    /// The entries of positions `256 * index + 1 ..` (`width` of them).
    Entries { index: u64, width: u64 },
}

/// Parses `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, refusing any form but the canonical one.
pub fn parse_tile(path: &str) -> Result<Tile, String> {
    let (kind, rest) = path.split_once('/').ok_or("a tile path is <L>/<N> or entries/<N>")?;
    let (n, width) = match rest.split_once(".p/") {
        Some((n, w)) => {
            let w: u64 = digits(w).ok_or_else(|| format!("partial width {w:?} is not a number"))?;
            if !(1..TILE_WIDTH).contains(&w) {
                return Err(format!("partial width {w}: from 1 to 255"));
            }
            (n, w)
        }
        None => (rest, TILE_WIDTH),
    };
    let index = tile_index(n)?;
    match kind {
        "entries" => Ok(Tile::Entries { index, width }),
        l => {
            let level: u8 = digits(l)
                .and_then(|l| u8::try_from(l).ok())
                .filter(|l| *l <= 7)
                .ok_or_else(|| format!("tile level {l:?}: from 0 to 7 (level 8·L of a tree of at most 2^63 leaves)"))?;
            Ok(Tile::Hashes { level, index, width })
        }
    }
}

/// A decimal without sign or leading zeroes (but "0").
fn digits(s: &str) -> Option<u64> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// `x001/x234/067` → 1234067.
fn tile_index(path: &str) -> Result<u64, String> {
    let bad = || format!("tile index {path:?}: groups of three digits, all but the last prefixed with x");
    let groups: Vec<&str> = path.split('/').collect();
    let mut n: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let g = if last { *g } else { g.strip_prefix('x').ok_or_else(bad)? };
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        n = n.checked_mul(1000).and_then(|n| n.checked_add(g.parse().ok()?)).ok_or_else(bad)?;
    }
    if groups.len() > 1 && groups[0] == "x000" {
        return Err(bad()); // not the shortest form
    }
    Ok(n)
}

#[derive(Clone)]
struct Tiles {
    pool: Pool,
    log: Log,
    auth: Authenticator,
}

/// The `/tlog/…` routes.
pub fn router(pool: Pool, log: Log, auth: Authenticator) -> Router {
    Router::new().route("/tlog/checkpoint", get(checkpoint)).route("/tlog/tile/{*path}", get(tile)).with_state(Tiles {
        pool,
        log,
        auth,
    })
}

/// A refusal: its status and the plain-text reason.
#[derive(Debug)]
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", self.1)).into_response()
    }
}

fn text(code: StatusCode, message: impl Into<String>) -> Refused {
    Refused(code, message.into())
}

fn unavailable(e: impl std::fmt::Display) -> Refused {
    text(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// Authenticates and authorises the caller as an auditor.
fn auditor(t: &Tiles, headers: &HeaderMap) -> Result<(), Refused> {
    let principal = t.auth.authenticate(headers, None).map_err(|e| text(StatusCode::UNAUTHORIZED, e.to_string()))?;
    authorize_replay(&principal).map_err(|d| text(StatusCode::FORBIDDEN, ledger_auth::deny(&principal, d).message()))
}

async fn checkpoint(State(t): State<Tiles>, headers: HeaderMap) -> Result<Response, Refused> {
    auditor(&t, &headers)?;
    let mut conn = t.pool.get().await.map_err(unavailable)?;
    let sql = "SELECT note FROM audit.checkpoints ORDER BY size DESC LIMIT 1";
    let row = conn.client().query_opt(sql, &[]).await.map_err(unavailable)?;
    let note: String =
        row.ok_or_else(|| text(StatusCode::NOT_FOUND, "the notary has signed no checkpoint yet"))?.get(0);
    let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")];
    Ok((headers, note).into_response())
}

async fn tile(State(t): State<Tiles>, headers: HeaderMap, Path(path): Path<String>) -> Result<Response, Refused> {
    auditor(&t, &headers)?;
    let bytes = match parse_tile(&path).map_err(|e| text(StatusCode::BAD_REQUEST, e))? {
        Tile::Hashes { level, index, width } => hashes(&t, level, index, width).await?,
        Tile::Entries { index, width } => entries(&t, index, width).await?,
    };
    // Tiles never change once they exist (a partial tile is a different path).
    let headers =
        [(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, "max-age=31536000, immutable")];
    Ok((headers, bytes).into_response())
}

async fn hashes(t: &Tiles, level: u8, index: u64, width: u64) -> Result<Vec<u8>, Refused> {
    let mut conn = t.pool.get().await.map_err(unavailable)?;
    let first = index.checked_mul(TILE_WIDTH).and_then(|f| i64::try_from(f).ok());
    let first = first.ok_or_else(|| text(StatusCode::NOT_FOUND, "no such tile"))?;
    let rows = conn
        .client()
        .query(
            "SELECT hash FROM audit.nodes WHERE level = $1 AND index >= $2 AND index < $2 + $3 ORDER BY index",
            &[&(i16::from(level) * 8), &first, &(width as i64)],
        )
        .await
        .map_err(unavailable)?;
    if rows.len() as u64 != width {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!("tile {level}/{index} has {} of {width} hashes yet", rows.len()),
        ));
    }
    Ok(rows.iter().flat_map(|r| r.get::<_, Vec<u8>>(0)).collect())
}

async fn entries(t: &Tiles, index: u64, width: u64) -> Result<Vec<u8>, Refused> {
    let first = index.checked_mul(TILE_WIDTH).and_then(|f| f.checked_add(1));
    let first = first.ok_or_else(|| text(StatusCode::NOT_FOUND, "no such tile"))?;
    let last = first + width - 1;
    let end = t.log.end().await.map_err(unavailable)?;
    if last > end {
        return Err(text(StatusCode::NOT_FOUND, format!("the log ends at position {end}, before {last}")));
    }
    let messages: Vec<ledger_log::LogMessage> = t
        .log
        .read(ReadFrom::Position(first), None, last)
        .await
        .map_err(unavailable)?
        .try_collect()
        .await
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let want = first + i as u64;
        if m.position != want {
            return Err(unavailable(format!("position {want} is missing from the log")));
        }
        let len = u16::try_from(m.body.len()).map_err(|_| {
            let n = m.body.len();
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("position {want} is {n} bytes, more than an entry bundle holds (65,535)"),
            )
        })?;
        out.extend(len.to_be_bytes());
        out.extend_from_slice(&m.body);
    }
    if messages.len() as u64 != width {
        return Err(unavailable(format!("the log returned {} of positions {first} to {last}", messages.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_parse_in_their_canonical_form_only() {
        assert_eq!(parse_tile("0/000"), Ok(Tile::Hashes { level: 0, index: 0, width: 256 }));
        assert_eq!(parse_tile("1/x001/x234/067.p/8"), Ok(Tile::Hashes { level: 1, index: 1_234_067, width: 8 }));
        assert_eq!(parse_tile("entries/x001/000"), Ok(Tile::Entries { index: 1000, width: 256 }));
        assert_eq!(parse_tile("entries/005.p/255"), Ok(Tile::Entries { index: 5, width: 255 }));
        for bad in [
            "0/5",
            "0/0005",
            "0/x000/005",
            "0/001/002",
            "0/x1/002",
            "8/000",
            "01/000",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/08",
            "entries",
            "0",
            "x/000",
            "0/-01",
        ] {
            assert!(parse_tile(bad).is_err(), "{bad} should be refused");
        }
    }
}
