//! Durations as written in the config: "30s", "5m", "1h", "24h", "30d", "365d".

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A span of time in whole milliseconds, written with one unit (`ms`, `s`, `m`, `h`, `d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

impl Span {
    pub const MINUTE: Span = Span(60_000);
    pub const HOUR: Span = Span(3_600_000);
    pub const DAY: Span = Span(86_400_000);

    pub fn ms(self) -> i64 {
        self.0
    }
    pub fn from_secs(s: i64) -> Span {
        Span(s * 1000)
    }
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }
}

/// Why a duration does not parse; each message quotes the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    #[error("duration {0:?} has no unit (use ms, s, m, h or d)")]
    NoUnit(String),
    #[error("duration {0:?} does not start with a number")]
    NoNumber(String),
    #[error("duration {0:?}: number out of range")]
    OutOfRange(String),
    #[error("duration {text:?}: unknown unit {unit:?} (use ms, s, m, h or d)")]
    UnknownUnit { text: String, unit: String },
    #[error("duration {0:?} is too long")]
    TooLong(String),
}

/// Parses "15m", "1h", "365d", "500ms", "90s". One number and one unit; no sign, no spaces.
pub fn parse_span(s: &str) -> Result<Span, SpanError> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| SpanError::NoUnit(s.to_string()))?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return Err(SpanError::NoNumber(s.to_string()));
    }
    let n: i64 = num
        .parse()
        .map_err(|_| SpanError::OutOfRange(s.to_string()))?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(SpanError::UnknownUnit {
                text: s.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    n.checked_mul(mult)
        .map(Span)
        .ok_or_else(|| SpanError::TooLong(s.to_string()))
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (unit, m) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms != 0 && ms % m == 0 {
                return write!(f, "{}{}", ms / m, unit);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_span(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_config_durations() {
        for (s, ms) in [
            ("15m", 900_000),
            ("1h", 3_600_000),
            ("365d", 31_536_000_000),
            ("500ms", 500),
            ("90s", 90_000),
        ] {
            let span = parse_span(s).unwrap();
            assert_eq!(span.ms(), ms, "{s}");
            assert_eq!(parse_span(&span.to_string()).unwrap(), span);
        }
        assert_eq!(parse_span("24h").unwrap().to_string(), "1d");
    }

    #[test]
    fn rejects_bad_durations() {
        for s in [
            "",
            "5",
            "m",
            "5 minutes",
            "-5m",
            "5y",
            "99999999999999999999d",
        ] {
            assert!(parse_span(s).is_err(), "{s} should be rejected");
        }
    }
}
