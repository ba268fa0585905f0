//! `[http] header_timeout` and `max_connections`: defaults, bounds, environment overrides, and
//! the cap that keeps file descriptors for storage.

use super::*;
use crate::config::fixture::facility;
use crate::config::Config;

fn parse(http: &str) -> Result<Config, String> {
    let f = facility("f").grid_and_it();
    Config::parse(&format!("[http]\n{http}\n{f}"), "t.toml").map_err(|e| e.to_string())
}

#[test]
fn defaults_are_ten_seconds_and_512_connections() {
    let c = parse("").unwrap();
    assert_eq!(c.http.header_timeout.as_std(), Duration::from_secs(10));
    assert_eq!(c.http.max_connections, 512);
    let o = ServerOptions::new(&c.http, Some(1_048_576));
    assert_eq!(
        (o.header_timeout, o.max_connections),
        (Duration::from_secs(10), 512)
    );
}

#[test]
fn bad_values_are_refused_with_the_line() {
    for (text, key) in [
        ("header_timeout = \"0s\"", "header_timeout"),
        ("header_timeout = \"2h\"", "header_timeout"),
        ("header_timeout = \"ten\"", "ten"),
        ("max_connections = 0", "max_connections"),
        ("max_connections = 10000000", "max_connections"),
        ("max_connections = -1", "-1"),
    ] {
        let e = parse(text).expect_err(text);
        assert!(e.starts_with("t.toml:2:"), "{text}: {e}");
        assert!(e.contains(key), "{text}: {e}");
    }
    let c = parse("header_timeout = \"250ms\"\nmax_connections = 3").unwrap();
    assert_eq!(c.http.header_timeout.as_std(), Duration::from_millis(250));
    assert_eq!(c.http.max_connections, 3);
}

#[test]
fn environment_overrides_are_checked_too() {
    let mut c = parse("").unwrap();
    c.apply_env(|k| match k {
        "DCPUE_HTTP_HEADER_TIMEOUT" => Some("3s".into()),
        "DCPUE_HTTP_MAX_CONNECTIONS" => Some("64".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.http.header_timeout.as_std(), Duration::from_secs(3));
    assert_eq!(c.http.max_connections, 64);
    for (var, v) in [
        ("DCPUE_HTTP_HEADER_TIMEOUT", "0ms"),
        ("DCPUE_HTTP_MAX_CONNECTIONS", "0"),
        ("DCPUE_HTTP_MAX_CONNECTIONS", "lots"),
    ] {
        let e = c
            .clone()
            .apply_env(|k| (k == var).then(|| v.to_string()))
            .expect_err(v)
            .to_string();
        assert!(e.contains(var), "{e}");
    }
}

#[test]
fn a_low_open_file_limit_leaves_room_for_storage() {
    let c = parse("").unwrap();
    let o = ServerOptions::new(&c.http, Some(256));
    assert_eq!(o.max_connections, 256 - RESERVED_FDS as usize);
    assert_eq!(ServerOptions::new(&c.http, Some(10)).max_connections, 1);
    assert_eq!(ServerOptions::new(&c.http, None).max_connections, 512);
}
