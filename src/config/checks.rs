//! Checks shared by the sections: bounded text, durations, URL length, quoted values.

use super::{limits, HISTORY_DAYS, MAX_HTTP_CONNECTIONS};
use crate::duration::Span;

/// What is wrong with one value, as the checks of the sections and of the environment overrides
/// find it; [`ConfigError`](super::ConfigError) adds where the value came from (the file and line
/// of its key, or the environment variable).
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("{key} is longer than {max} characters")]
    TooLong { key: String, max: usize },
    #[error("{key} must not contain control characters")]
    ControlCharacters { key: String },
    #[error("{key} must be longer than 0")]
    NotPositive { key: String },
    #[error("{key} {span} is longer than {HISTORY_DAYS}d")]
    BeyondHistory { key: String, span: Span },
    /// A duration that does not parse.
    #[error(transparent)]
    Duration(#[from] crate::duration::SpanError),
    #[error("url is longer than {} characters", limits::URL_LEN)]
    UrlTooLong,
    /// `mqtt.url` or the InfluxDB url, as the collector or the sink parses it.
    #[error(transparent)]
    Url(Box<dyn std::error::Error + Send + Sync>),
    #[error("alerting url {:?} must be http://host[:port]/… or https://…", truncated(.0))]
    ReceiverUrl(String),
    #[error("mqtt.client_id must not be empty (the persistent session is keyed on it)")]
    EmptyClientId,
    #[error("mqtt.topic_prefix {:?} must not contain the wildcards + or # (it is a topic, dcpue subscribes to <topic_prefix>/+/+)", truncated(.0))]
    TopicPrefixWildcard(String),
    #[error("mqtt.topic_prefix {:?} must not be empty or have an empty level (no leading, trailing or double /)", truncated(.0))]
    TopicPrefixEmptyLevel(String),
    #[error(
        "mqtt.topic_prefix must be at most {} bytes without control characters",
        limits::TOPIC_PREFIX_LEN
    )]
    TopicPrefixBytes,
    #[error("http.listen {:?} is not an address: IP:port, [IPv6]:port or hostname:port", truncated(.0))]
    Listen(String),
    #[error("header_timeout {0} must be more than 0 and at most 1h")]
    HeaderTimeout(Span),
    #[error("max_connections {0} must be between 1 and {MAX_HTTP_CONNECTIONS}")]
    MaxConnections(usize),
    #[error("max_connections {0:?} is not a whole number")]
    NotWholeNumber(String),
    #[error("checkpoint_every {0} is shorter than 1s (each checkpoint rewrites the whole state)")]
    CheckpointEvery(Span),
}

/// The longest duration any key takes: the history kept.
pub(super) const MAX_SPAN: Span = Span(HISTORY_DAYS * Span::DAY.0);

pub(super) fn check_url_len(url: &str) -> Result<(), ValueError> {
    if url.chars().count() > limits::URL_LEN {
        return Err(ValueError::UrlTooLong);
    }
    Ok(())
}

/// A value quoted in an error: at most 80 characters of it.
pub(super) fn truncated(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Text shown on the page, in metrics and logs: bounded, no control characters.
pub(super) fn check_text(key: &str, s: &str, max: usize) -> Result<(), ValueError> {
    if s.chars().count() > max {
        return Err(ValueError::TooLong {
            key: key.to_string(),
            max,
        });
    }
    if s.contains(char::is_control) {
        return Err(ValueError::ControlCharacters {
            key: key.to_string(),
        });
    }
    Ok(())
}

/// A duration key: longer than 0 (or 0 where `zero_ok`), at most the history kept.
pub(super) fn check_span(key: &str, s: Span, zero_ok: bool) -> Result<(), ValueError> {
    if s.ms() < 0 || (s.ms() == 0 && !zero_ok) {
        return Err(ValueError::NotPositive {
            key: key.to_string(),
        });
    }
    if s > MAX_SPAN {
        return Err(ValueError::BeyondHistory {
            key: key.to_string(),
            span: s,
        });
    }
    Ok(())
}
