//! `[influxdb]`: the optional InfluxDB sink.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checks::{check_span, check_text, check_url_len, ValueError};
use super::error::Ctx;
use super::locate::Seg;
use super::{limits, ConfigError};
use crate::duration::Span;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    pub url: String,
    pub org: String,
    pub bucket: String,
    pub token_file: Option<PathBuf>,
    #[serde(default = "d_window_every")]
    pub window_every: Span,
    /// Points per write request.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Longest a point waits for its batch to fill.
    #[serde(default = "d_flush")]
    pub flush_every: Span,
    /// Points kept in memory before the sink spools to disk.
    #[serde(default = "d_mem")]
    pub memory_points: usize,
}
fn d_window_every() -> Span {
    Span::MINUTE
}
fn d_batch() -> usize {
    5000
}
fn d_flush() -> Span {
    Span(1000)
}
fn d_mem() -> usize {
    100_000
}

impl InfluxConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::Key;
        let ix = self;
        let ikey = |key: &'static str| [Key("influxdb"), Key(key)];
        check_influx_url(&ix.url).map_err(|e| cx.value(&ikey("url"), e))?;
        for (key, v) in [("org", &ix.org), ("bucket", &ix.bucket)] {
            if v.is_empty() {
                return Err(cx.at(&ikey(key), format!("influxdb.{key} must not be empty")));
            }
            check_text(&format!("influxdb.{key}"), v, limits::TEXT_LEN)
                .map_err(|e| cx.value(&ikey(key), e))?;
        }
        for (key, span) in [
            ("window_every", ix.window_every),
            ("flush_every", ix.flush_every),
        ] {
            check_span(&format!("influxdb.{key}"), span, false)
                .map_err(|e| cx.value(&ikey(key), e))?;
        }
        for (key, n, max) in [
            ("batch_size", ix.batch_size, limits::INFLUX_BATCH),
            (
                "memory_points",
                ix.memory_points,
                limits::INFLUX_MEMORY_POINTS,
            ),
        ] {
            if !(1..=max).contains(&n) {
                return Err(cx.at(
                    &ikey(key),
                    format!("influxdb.{key} must be between 1 and {max}"),
                ));
            }
        }
        Ok(())
    }
}

/// `influxdb.url` as the sink takes it: the length, then [`InfluxConfig::check_url`].
pub(super) fn check_influx_url(url: &str) -> Result<(), ValueError> {
    check_url_len(url)?;
    InfluxConfig::check_url(url).map_err(|e| ValueError::Url(e.into()))
}

/// An InfluxDB url the sink cannot write to.
#[derive(Debug, thiserror::Error)]
#[error("influxdb url {url:?}: {msg}")]
pub struct InfluxUrlError {
    pub url: String,
    pub msg: String,
}

impl InfluxConfig {
    /// The server url: `http://host[:port]` or `https://…`.
    pub fn check_url(url: &str) -> Result<(), InfluxUrlError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| InfluxUrlError {
            url: url.to_string(),
            msg: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(InfluxUrlError {
                url: url.to_string(),
                msg: "expected http://host[:port] or https://…".into(),
            });
        }
        Ok(())
    }
}
