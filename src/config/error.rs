//! What a config error says and where it points: the file, and the line of the key it is about.

use std::ops::Range;

use super::checks::ValueError;
use super::locate::{Located, Seg};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {msg}")]
    Invalid {
        file: String,
        line: usize,
        msg: String,
    },
    /// A value the config's text holds is wrong (a check shared with the environment overrides).
    #[error("{file}:{line}: {source}")]
    Value {
        file: String,
        line: usize,
        source: ValueError,
    },
    #[error("environment variable {var}: {source}")]
    Env { var: String, source: ValueError },
}

/// Where an error points: the file, and the line of a key path or of a span in its text.
pub(super) struct Ctx<'a> {
    loc: &'a Located<'a>,
    file: &'a str,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(loc: &'a Located<'a>, file: &'a str) -> Ctx<'a> {
        Ctx { loc, file }
    }

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
