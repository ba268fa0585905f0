//! `[storage]`: where the durable state lives and how often it is checkpointed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checks::{check_span, ValueError};
use super::error::Ctx;
use super::locate::Seg;
use super::ConfigError;
use crate::duration::Span;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default = "d_dir")]
    pub dir: PathBuf,
    /// How often the engine's state is checkpointed (also when the log passes 64 MiB, and at
    /// shutdown).
    #[serde(default = "d_checkpoint_every")]
    pub checkpoint_every: Span,
}
fn d_dir() -> PathBuf {
    PathBuf::from("data")
}
fn d_checkpoint_every() -> Span {
    Span(10 * Span::MINUTE.0)
}
impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            dir: d_dir(),
            checkpoint_every: d_checkpoint_every(),
        }
    }
}

impl StorageConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::Key;
        let checkpoint = [Key("storage"), Key("checkpoint_every")];
        check_checkpoint_every(self.checkpoint_every)
            .and_then(|()| check_span("storage.checkpoint_every", self.checkpoint_every, false))
            .map_err(|e| cx.value(&checkpoint, e))?;
        Ok(())
    }
}

/// `storage.checkpoint_every`: at least a second.
pub(super) fn check_checkpoint_every(span: Span) -> Result<(), ValueError> {
    if span < Span(1000) {
        return Err(ValueError::CheckpointEvery(span));
    }
    Ok(())
}
