//! The one parser of MQTT broker URLs: `[mqtt] url` (`serve`, `check-config`) and `--broker`
//! (`simulate`, `demo`) go through it, so a URL means the same everywhere.
//!
//! `mqtt://HOST[:PORT]` (port 1883 by default) or `mqtts://HOST[:PORT]` (8883); an IPv6 host in
//! brackets (`mqtt://[::1]:1883`); one trailing `/` is allowed. Anything else (a path, a query,
//! credentials, another scheme, port 0 or over 65535, no host) is an error naming the URL.

/// A broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// `mqtts://`: TLS.
    pub tls: bool,
    /// Without brackets for IPv6 (`::1`).
    pub host: String,
    pub port: u16,
}

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mqtt url {url:?}: {why}")]
pub struct UrlError {
    pub url: String,
    pub why: &'static str,
}

/// Parses a broker URL (see the module).
pub fn parse(url: &str) -> Result<BrokerUrl, UrlError> {
    let bad = |why: &'static str| UrlError {
        url: url.to_string(),
        why,
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err(bad("must start with mqtt:// or mqtts://"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad(
            "only mqtt[s]://host:port is supported (credentials go in username/password_file)",
        ));
    }
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(bad("unexpected text after ]")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(bad("an IPv6 host goes in brackets: mqtt://[::1]:1883"))
            }
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("port must be 1-65535"))?,
        None => default_port,
    };
    Ok(BrokerUrl {
        tls,
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> (bool, String, u16) {
        let u = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (u.tls, u.host, u.port)
    }

    #[test]
    fn good_urls() {
        assert_eq!(ok("mqtt://host"), (false, "host".into(), 1883));
        assert_eq!(ok("mqtts://host:8883"), (true, "host".into(), 8883));
        assert_eq!(ok("mqtts://host"), (true, "host".into(), 8883));
        assert_eq!(ok("mqtt://[::1]:1883"), (false, "::1".into(), 1883));
        assert_eq!(ok("mqtt://[::1]"), (false, "::1".into(), 1883));
        assert_eq!(ok("mqtts://[::1]:9000"), (true, "::1".into(), 9000));
        assert_eq!(
            ok("mqtt://127.0.0.1:1884"),
            (false, "127.0.0.1".into(), 1884)
        );
        assert_eq!(
            ok("mqtts://broker.example/"),
            (true, "broker.example".into(), 8883)
        );
    }

    #[test]
    fn bad_urls_are_errors_naming_the_url() {
        for (url, why) in [
            ("mqtt://host/path", "only mqtt[s]://host:port"),
            ("mqtt://host:1883/dc", "only mqtt[s]://host:port"),
            ("mqtt://host?x=1", "only mqtt[s]://host:port"),
            ("mqtt://u:p@host", "only mqtt[s]://host:port"),
            ("http://host", "must start with mqtt:// or mqtts://"),
            ("tcp://host:1883", "must start with mqtt:// or mqtts://"),
            ("host:1883", "must start with mqtt:// or mqtts://"),
            ("mqtt://host:0", "port must be 1-65535"),
            ("mqtt://host:65536", "port must be 1-65535"),
            ("mqtt://host:x", "port must be 1-65535"),
            ("mqtt://host:", "port must be 1-65535"),
            ("mqtt://", "no host"),
            ("mqtt://:1883", "no host"),
            ("mqtt://[]:1883", "no host"),
            ("mqtt://[::1", "unclosed ["),
            ("mqtt://[::1]x", "unexpected text after ]"),
            ("mqtt://::1", "an IPv6 host goes in brackets"),
        ] {
            let e = parse(url).expect_err(url);
            assert_eq!(e.url, url);
            assert!(e.why.starts_with(why), "{url}: {e}");
            assert!(e.to_string().contains(&format!("{url:?}")), "{e}");
        }
    }
}
