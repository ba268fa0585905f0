//! `[http]`: the API, metrics and page server, and who may read which facility.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checks::ValueError;
use super::error::Ctx;
use super::locate::Seg;
use super::ConfigError;
use crate::duration::Span;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "d_listen")]
    pub listen: String,
    /// A Prometheus web configuration file (TLS, basic-auth users), as node_exporter reads.
    #[serde(default)]
    pub web_config_file: Option<PathBuf>,
    /// Users who see only some facilities: user → facility ids (CONTRACT §11).
    #[serde(default)]
    pub access: std::collections::BTreeMap<String, Vec<String>>,
    /// A client that has not sent its request headers by then is dropped (also an idle
    /// keep-alive connection between requests).
    #[serde(default = "d_header_timeout")]
    pub header_timeout: Span,
    /// Connections served at once; beyond it new ones wait in the listen backlog.
    #[serde(default = "d_max_connections")]
    pub max_connections: usize,
}
fn d_listen() -> String {
    "127.0.0.1:9184".into()
}
fn d_header_timeout() -> Span {
    Span(10_000)
}
fn d_max_connections() -> usize {
    512
}
/// Upper bound of `http.max_connections` (each connection is a file descriptor).
pub const MAX_HTTP_CONNECTIONS: usize = 65_536;
impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: d_listen(),
            web_config_file: None,
            access: Default::default(),
            header_timeout: d_header_timeout(),
            max_connections: d_max_connections(),
        }
    }
}

/// `http.header_timeout`: more than zero, at most an hour.
pub(super) fn check_header_timeout(span: Span) -> Result<(), ValueError> {
    if span <= Span(0) || span > Span::HOUR {
        return Err(ValueError::HeaderTimeout(span));
    }
    Ok(())
}

/// `http.max_connections`: at least 1, at most [`MAX_HTTP_CONNECTIONS`].
pub(super) fn check_max_connections(n: usize) -> Result<(), ValueError> {
    if !(1..=MAX_HTTP_CONNECTIONS).contains(&n) {
        return Err(ValueError::MaxConnections(n));
    }
    Ok(())
}

impl HttpConfig {
    /// The server's own keys.
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::Key;
        check_header_timeout(self.header_timeout)
            .map_err(|e| cx.value(&[Key("http"), Key("header_timeout")], e))?;
        check_max_connections(self.max_connections)
            .map_err(|e| cx.value(&[Key("http"), Key("max_connections")], e))?;
        check_listen(&self.listen).map_err(|e| cx.value(&[Key("http"), Key("listen")], e))?;
        Ok(())
    }

    /// `[http.access]`: every facility named is one of `fids`.
    pub(super) fn validate_access(
        &self,
        fids: &HashSet<String>,
        cx: &Ctx,
    ) -> Result<(), ConfigError> {
        use Seg::Key;
        for (user, ids) in &self.access {
            let user_key = [Key("http"), Key("access"), Key(user.as_str())];
            if self.web_config_file.is_none() {
                return Err(cx.at(
                    &user_key,
                    "[http.access] needs [http] web_config_file with basic_auth_users (without \
                     users every request sees every facility)"
                        .into(),
                ));
            }
            for id in ids {
                if !fids.contains(id) {
                    return Err(cx.at(
                        &user_key,
                        format!("[http.access] {user:?}: unknown facility {id:?}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `http.listen`: `IP:port`, `[IPv6]:port` or `hostname:port`.
pub(super) fn check_listen(addr: &str) -> Result<(), ValueError> {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let ok = match addr.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok()
                && !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
        None => false,
    };
    if !ok {
        return Err(ValueError::Listen(addr.to_string()));
    }
    Ok(())
}
