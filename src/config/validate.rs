//! The checks of a parsed config, section by section (each section's checks live next to its
//! type), in a fixed order: the first error found is the one reported.

use std::ops::Range;

use super::locate::{Located, Seg};
use super::{alerting, facility, source, Config, ConfigError, ValueError};

/// Where an error points: the file, and the line of a key path or of a span in its text.
pub(super) struct Ctx<'a> {
    loc: &'a Located<'a>,
    file: &'a str,
}

impl Ctx<'_> {
    fn invalid(&self, line: usize, msg: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            line,
            msg,
        }
    }

    /// An error on the line of `span` (line 1 for the empty span `0..0`: no place in the text).
    pub(super) fn err(&self, span: Range<usize>, msg: String) -> ConfigError {
        self.invalid(
            if span.is_empty() && span.start == 0 {
                1
            } else {
                self.loc.line_at(span.start)
            },
            msg,
        )
    }

    /// An error on the line of the key at `path`.
    pub(super) fn at(&self, path: &[Seg], msg: String) -> ConfigError {
        self.invalid(self.loc.line(path), msg)
    }

    /// A check's error about the value of the key at `path`, on the key's line.
    pub(super) fn value(&self, path: &[Seg], source: ValueError) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_string(),
            line: self.loc.line(path),
            source,
        }
    }
}

impl Config {
    pub(super) fn validate(&self, loc: &Located, file: &str) -> Result<(), ConfigError> {
        let cx = Ctx { loc, file };
        self.mqtt.validate(&cx)?;
        self.engine.validate_max_power(&cx)?;
        self.http.validate(&cx)?;
        self.storage.validate(&cx)?;
        self.engine.validate(&cx)?;
        self.policy.validate(&cx)?;
        let windows = self.engine.validate_windows(&cx)?;
        let fids = facility::validate(&self.facilities, &cx)?;
        self.http.validate_access(&fids, &cx)?;
        alerting::validate_alerts(&self.alerts, &windows, &cx)?;
        self.alerting.validate(&cx)?;
        if let Some(ix) = &self.influxdb {
            ix.validate(&cx)?;
        }
        source::validate(self, &cx)?;
        Ok(())
    }
}
