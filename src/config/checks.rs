//! Checks shared by the sections: bounded text, durations, URL length, quoted values.

use super::{limits, HISTORY_DAYS};
use crate::duration::Span;

/// The longest duration any key takes: the history kept.
pub(super) const MAX_SPAN: Span = Span(HISTORY_DAYS * Span::DAY.0);

pub(super) fn check_url_len(url: &str) -> Result<(), String> {
    if url.chars().count() > limits::URL_LEN {
        return Err(format!("url is longer than {} characters", limits::URL_LEN));
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
pub(super) fn check_text(key: &str, s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("{key} is longer than {max} characters"));
    }
    if s.contains(char::is_control) {
        return Err(format!("{key} must not contain control characters"));
    }
    Ok(())
}

/// A duration key: longer than 0 (or 0 where `zero_ok`), at most the history kept.
pub(super) fn check_span(key: &str, s: Span, zero_ok: bool) -> Result<(), String> {
    if s.ms() < 0 || (s.ms() == 0 && !zero_ok) {
        return Err(format!("{key} must be longer than 0"));
    }
    if s > MAX_SPAN {
        return Err(format!("{key} {s} is longer than {HISTORY_DAYS}d"));
    }
    Ok(())
}
