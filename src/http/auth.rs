//! HTTP Basic authentication against the web config's bcrypt `basic_auth_users`, and facility
//! scopes from `[http.access]` (CONTRACT §11).
//!
//! bcrypt is slow on purpose, so a verified (user, password) is remembered by a SHA-256 of user,
//! hash and password (never the password itself) in a small bounded set, as Prometheus'
//! exporter-toolkit does: a scrape every 15 s or a page polling every 5 s costs one bcrypt, not
//! one per request. Failed logins are never cached, run at most [`MAX_BCRYPT_AT_ONCE`] at a time
//! off the async threads, and an unknown user costs the same bcrypt as a wrong password.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Verified logins remembered; beyond it the set starts over.
const CACHE_MAX: usize = 1024;
/// bcrypt checks running at once (each takes a core for tens of milliseconds or more).
pub const MAX_BCRYPT_AT_ONCE: usize = 2;
/// Checked for an unknown user, so that it takes as long as a known one (a valid cost-10 hash).
const DUMMY_HASH: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

/// Paths served without credentials (liveness and readiness probes).
pub const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// `dcpue_http_auth_failures_total`: requests refused for a wrong user or password.
pub fn failures_counter() -> prometheus::IntCounter {
    prometheus::IntCounter::new(
        "dcpue_http_auth_failures_total",
        "HTTP requests refused for a wrong user or password since start.",
    )
    .expect("valid metric definition")
}

/// Which facilities a request may see.
#[derive(Debug, Clone, Default)]
pub enum Access {
    /// No users configured, or a user not in `[http.access]` (a regulator).
    #[default]
    All,
    /// A scoped user.
    Only(Arc<BTreeSet<String>>),
}

impl Access {
    pub fn sees(&self, facility: &str) -> bool {
        match self {
            Access::All => true,
            Access::Only(ids) => ids.contains(facility),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Access::All)
    }

    /// Keeps the alerts (a JSON array) whose facility (`labels.facility`, else `facility`) this
    /// access sees; an alert of no facility is for users who see everything.
    pub fn filter_json(&self, v: serde_json::Value) -> serde_json::Value {
        match (self, v) {
            (Access::All, v) => v,
            (Access::Only(_), serde_json::Value::Array(items)) => items
                .into_iter()
                .filter(|item| {
                    let fid = item
                        .get("labels")
                        .and_then(|l| l.get("facility"))
                        .or_else(|| item.get("facility"))
                        .and_then(|f| f.as_str());
                    fid.is_some_and(|f| self.sees(f))
                })
                .collect(),
            (Access::Only(_), _) => serde_json::Value::Array(Vec::new()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Access, Infallible> {
        Ok(parts
            .extensions
            .get::<Access>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The users and their scopes.
pub struct Auth {
    users: HashMap<String, String>,
    scopes: HashMap<String, Access>,
    verified: Mutex<HashSet<[u8; 32]>>,
    bcrypt_slots: Arc<Semaphore>,
    failures: prometheus::IntCounter,
}

impl Auth {
    /// `users`: name → bcrypt hash (already checked); `access`: `[http.access]`.
    pub fn new(
        users: BTreeMap<String, String>,
        access: &BTreeMap<String, Vec<String>>,
        failures: prometheus::IntCounter,
    ) -> Auth {
        let scopes = access
            .iter()
            .map(|(u, ids)| {
                (
                    u.clone(),
                    Access::Only(Arc::new(ids.iter().cloned().collect())),
                )
            })
            .collect();
        Auth {
            users: users.into_iter().collect(),
            scopes,
            verified: Mutex::new(HashSet::new()),
            bcrypt_slots: Arc::new(Semaphore::new(MAX_BCRYPT_AT_ONCE)),
            failures,
        }
    }

    fn cache_key(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [user.as_bytes(), hash.as_bytes(), password] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    /// Whether `password` is `user`'s.
    pub async fn verify(&self, user: &str, password: &[u8]) -> bool {
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.clone(), true),
            None => (DUMMY_HASH.to_string(), false),
        };
        let key = Auth::cache_key(user, &hash, password);
        if known && self.verified.lock().is_ok_and(|v| v.contains(&key)) {
            return true;
        }
        let Ok(_slot) = self.bcrypt_slots.clone().acquire_owned().await else {
            return false;
        };
        let pw = password.to_vec();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok && known {
            if let Ok(mut v) = self.verified.lock() {
                if v.len() >= CACHE_MAX {
                    v.clear();
                }
                v.insert(key);
            }
        }
        ok && known
    }

    pub fn access_of(&self, user: &str) -> Access {
        self.scopes.get(user).cloned().unwrap_or_default()
    }
}

/// `Authorization: Basic base64(user:password)` → (user, password).
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, Vec<u8>), ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parse = || {
        let v = value.to_str().map_err(|_| ())?;
        let (scheme, rest) = v.trim().split_once(' ').ok_or(())?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(());
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| ())?;
        let colon = raw.iter().position(|&b| b == b':').ok_or(())?;
        let user = String::from_utf8(raw[..colon].to_vec()).map_err(|_| ())?;
        Ok((user, raw[colon + 1..].to_vec()))
    };
    Some(parse())
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"dcpue\""),
        )],
        "401 Unauthorized\n",
    )
        .into_response()
}

/// The middleware: every path but [`OPEN_PATHS`] needs valid credentials; the request then
/// carries the user's [`Access`].
pub async fn require(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    if OPEN_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match basic_credentials(req.headers()) {
        // A browser's first request carries none: not a failed login.
        None => unauthorized(),
        Some(Ok((user, password))) if auth.verify(&user, &password).await => {
            req.extensions_mut().insert(auth.access_of(&user));
            next.run(req).await
        }
        Some(_) => {
            auth.failures.inc();
            unauthorized()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(users: &[(&str, &str)], access: &[(&str, &[&str])]) -> Auth {
        let users = users
            .iter()
            .map(|(u, p)| (u.to_string(), bcrypt::hash(p, 4).unwrap()))
            .collect();
        let access = access
            .iter()
            .map(|(u, ids)| (u.to_string(), ids.iter().map(|s| s.to_string()).collect()))
            .collect();
        Auth::new(
            users,
            &access,
            prometheus::IntCounter::new("f", "f").unwrap(),
        )
    }

    #[tokio::test]
    async fn right_password_only_and_cached_only_when_right() {
        let a = auth(&[("reg", "s3cret")], &[]);
        assert!(!a.verify("reg", b"wrong").await);
        assert!(a.verified.lock().unwrap().is_empty());
        assert!(!a.verify("nobody", b"s3cret").await);
        assert!(a.verify("reg", b"s3cret").await);
        assert_eq!(a.verified.lock().unwrap().len(), 1);
        assert!(a.verify("reg", b"s3cret").await);
        assert!(!a.verify("reg", b"s3cret ").await);
    }

    #[test]
    fn dummy_hash_is_bcrypt() {
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
    }

    #[test]
    fn scoped_user_sees_only_its_facilities() {
        let a = auth(&[("op", "x"), ("reg", "y")], &[("op", &["f1"])]);
        let op = a.access_of("op");
        assert!(op.sees("f1") && !op.sees("f2") && !op.is_all());
        assert!(a.access_of("reg").is_all());
        let v = serde_json::json!([
            {"id": "f1"}, {"id": "f2"},
            {"labels": {"facility": "f2"}}, {"labels": {"facility": "f1"}},
            {"facility": "f1"}, {"name": "no facility"}
        ]);
        let kept = op.filter_json(v.clone());
        assert_eq!(
            kept,
            serde_json::json!([{"labels": {"facility": "f1"}}, {"facility": "f1"}])
        );
        assert_eq!(Access::All.filter_json(v.clone()), v);
    }

    #[test]
    fn basic_header_parsing() {
        let mut h = HeaderMap::new();
        assert!(basic_credentials(&h).is_none());
        h.insert(
            header::AUTHORIZATION,
            "Basic cmVnOnM6M2NyZXQ=".parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&h).unwrap().unwrap(),
            ("reg".to_string(), b"s:3cret".to_vec())
        );
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(basic_credentials(&h).unwrap().is_err());
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(basic_credentials(&h).unwrap().is_err());
    }
}
