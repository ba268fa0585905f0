//! Durable engine state in `storage.dir` (CONTRACT §2, §4, §6): a checksummed checkpoint of
//! the engine (buckets, history, counters, the config it was built with), written atomically.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod wal;

use crate::config::Config;
use crate::engine::{Engine, SavedState};

const MAGIC: &[u8; 8] = b"DCPUE\x00S1";
pub const STATE_FILE: &str = "engine.state";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {msg}. dcpue will not start from zero over it: move the file away (or restore a backup) to start empty, e.g. `mv {path} {path}.bad`")]
    Corrupt { path: String, msg: String },
    #[error("{path}: cannot encode state: {msg}")]
    Encode { path: String, msg: String },
    #[error("{0}")]
    Incompatible(String),
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    /// The config the state was built with, as TOML.
    config: String,
    state: SavedState,
    ingest: IngestMark,
}

/// Where ingest stood at a checkpoint: the last write-ahead-log record it includes, and the
/// hashes of recent messages (to recognise broker redeliveries).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestMark {
    pub wal_seq: u64,
    pub recent_messages: Vec<u64>,
}

/// A checkpoint as read back.
pub struct Loaded {
    pub config_toml: String,
    pub state: SavedState,
    pub ingest: IngestMark,
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Writes the engine's state: temp file, fsync, rename, fsync of the directory.
pub fn checkpoint(dir: &Path, engine: &Engine, ingest: &IngestMark) -> Result<(), StoreError> {
    let path = state_path(dir);
    let p = path.display().to_string();
    let io = |source| StoreError::Io {
        path: p.clone(),
        source,
    };
    let config = toml::to_string(engine.config()).unwrap_or_default();
    let body = postcard::to_stdvec(&Stored {
        version: 1,
        config,
        state: engine.saved_state(),
        ingest: ingest.clone(),
    })
    .map_err(|e| StoreError::Encode {
        path: p.clone(),
        msg: e.to_string(),
    })?;
    let crc = crc32fast::hash(&body);
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    {
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(MAGIC).map_err(io)?;
        f.write_all(&(body.len() as u64).to_le_bytes())
            .map_err(io)?;
        f.write_all(&crc.to_le_bytes()).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, &path).map_err(io)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a checkpoint; None when there is none. A torn or corrupt file is an error.
pub fn load(dir: &Path) -> Result<Option<Loaded>, StoreError> {
    let path = state_path(dir);
    let p = path.display().to_string();
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Io { path: p, source }),
    };
    let corrupt = |msg: String| StoreError::Corrupt {
        path: p.clone(),
        msg,
    };
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(corrupt("not a dcpue state file (bad header)".into()));
    }
    let len = u64::from_le_bytes(
        bytes[8..16]
            .try_into()
            .map_err(|_| corrupt("bad length".into()))?,
    ) as usize;
    let crc = u32::from_le_bytes(
        bytes[16..20]
            .try_into()
            .map_err(|_| corrupt("bad checksum field".into()))?,
    );
    let body = &bytes[20..];
    if body.len() != len {
        return Err(corrupt(format!("truncated: {} of {len} bytes", body.len())));
    }
    if crc32fast::hash(body) != crc {
        return Err(corrupt(
            "checksum mismatch (torn or corrupted write)".into(),
        ));
    }
    let stored: Stored =
        postcard::from_bytes(body).map_err(|e| corrupt(format!("cannot decode: {e}")))?;
    Ok(Some(Loaded {
        config_toml: stored.config,
        state: stored.state,
        ingest: stored.ingest,
    }))
}

/// An engine built from a checkpoint with the config it was saved with (for reports).
pub fn load_engine(dir: &Path) -> Result<Option<Engine>, StoreError> {
    let Some(loaded) = load(dir)? else {
        return Ok(None);
    };
    let path = state_path(dir).display().to_string();
    let cfg =
        Config::parse(&loaded.config_toml, &format!("{path} (saved config)")).map_err(|e| {
            StoreError::Corrupt {
                path: path.clone(),
                msg: e.to_string(),
            }
        })?;
    Engine::restore_from(&cfg, loaded.state)
        .map(|(e, _)| Some(e))
        .map_err(StoreError::Incompatible)
}

/// The engine for `cfg`: restored from `storage.dir` when a checkpoint exists.
pub fn restore(cfg: &Config) -> Result<(Engine, IngestMark), StoreError> {
    match load(&cfg.storage.dir)? {
        None => {
            tracing::info!(dir = %cfg.storage.dir.display(), "no saved state: starting empty");
            Ok((Engine::new(cfg), IngestMark::default()))
        }
        Some(old) => {
            let (engine, notes) =
                Engine::restore_from(cfg, old.state).map_err(StoreError::Incompatible)?;
            for n in notes {
                tracing::warn!("state: {n}");
            }
            tracing::info!(dir = %cfg.storage.dir.display(), "state restored");
            Ok((engine, old.ingest))
        }
    }
}

/// The engine as a reader should see it: the checkpoint with the messages logged after it taken
/// again (without changing anything on disk). None when there is no checkpoint and no log.
pub fn load_for_reading(cfg: &Config) -> Result<Option<Engine>, StoreError> {
    let dir = &cfg.storage.dir;
    let (mut engine, mark) = match load(dir)? {
        Some(loaded) => (
            Engine::restore_from(cfg, loaded.state)
                .map_err(StoreError::Incompatible)?
                .0,
            loaded.ingest,
        ),
        None => (Engine::new(cfg), IngestMark::default()),
    };
    let records: Vec<_> = wal::read_records(dir)?
        .into_iter()
        .filter(|r| r.seq > mark.wal_seq)
        .collect();
    if records.is_empty() && !state_path(dir).exists() {
        return Ok(None);
    }
    for r in &records {
        crate::ingest::take::take_message(
            &mut engine,
            &cfg.mqtt.topic_prefix,
            &r.topic,
            &r.payload,
            r.wall_ms,
            &mut |_| {},
        );
    }
    engine.advance(&mut |_| {});
    Ok(Some(engine))
}
