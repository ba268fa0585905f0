//! Durable engine state in `storage.dir` (CONTRACT §2, §4, §6): a checksummed checkpoint of
//! the engine (buckets, history, counters, the config it was built with), written atomically,
//! and the write-ahead log of the messages taken since (see [`wal`]).
//!
//! Layout: `engine.state` (the newest checkpoint), `engine.state.prev` (the one before it),
//! `ingest.wal` (the active log segment) and `ingest.wal.<seq>` (closed segments, kept while
//! `engine.state.prev` needs them). A checkpoint goes: log synced → active segment closed → new
//! checkpoint written to `engine.state.tmp` and fsync'd → `engine.state` renamed to
//! `engine.state.prev` → `engine.state.tmp` renamed to `engine.state` → directory fsync'd →
//! closed segments no kept checkpoint needs deleted. A crash between any two steps leaves a
//! directory [`open`] restores with nothing lost or taken twice: the records are found by their
//! sequence numbers, whichever segment holds them.
//!
//! At start, a damaged or missing `engine.state` falls back to `engine.state.prev` plus the
//! logged records after its mark when they are all there (no gap in the sequence numbers): the
//! same records taken again give the same state. Otherwise dcpue refuses to start, says what it
//! found, and prints a command that moves the damaged checkpoints aside.
//!
//! Records the log should hold but does not are refused the same way, never started over:
//! `ingest.wal` missing while a checkpoint or closed segment is there (nothing on disk says how
//! many acknowledged messages it held; the one legitimate absence, a crash mid-rotation, leaves
//! `ingest.wal.next`), and sequence numbers missing between segments after the checkpoint's
//! mark (a deleted closed segment). The repair that accepts the loss is `touch` of the missing
//! file: an empty active segment, or an empty closed segment named for the last missing record,
//! which then reads as a segment cut short. One absence is known to lose nothing: after a clean
//! stop, `serve` leaves `ingest.wal.stopped` holding the mark of its final checkpoint, and the
//! next start removes it before logging anything; while it is there and matches
//! `engine.state`, nothing was logged after the checkpoint, and a missing `ingest.wal` is created
//! anew.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod frame;
pub mod lock;
pub mod wal;

use crate::config::Config;
use crate::engine::{Engine, SavedState};
use wal::{Wal, WalRecord};

const MAGIC: &[u8; 8] = b"DCPUE\x00S1";
pub const STATE_FILE: &str = "engine.state";
/// The checkpoint before `engine.state`.
pub const PREV_FILE: &str = "engine.state.prev";
/// A checkpoint being written (complete only once renamed to `engine.state`).
pub const TMP_FILE: &str = "engine.state.tmp";
/// Left by a clean stop: the mark of the final checkpoint, after which nothing was logged.
pub const STOPPED_FILE: &str = "ingest.wal.stopped";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A damaged file; `msg` says what is wrong and, where dcpue refuses to start over it, the
    /// command that repairs it.
    #[error("{path}: {msg}")]
    Corrupt { path: String, msg: String },
    /// Nothing lossless to start from: what was found, and the repair.
    #[error("{0}")]
    Refused(String),
    #[error("{path}: cannot encode state: {msg}")]
    Encode { path: String, msg: String },
    #[error("{0}")]
    Incompatible(String),
    /// The directory's writer lock ([`lock`]) is held by another process.
    #[error("storage directory {dir} is in use: {holder} holds its lock and writes to it. Stop it first (a `dcpue serve` is running on it, or an import is)")]
    Locked { dir: String, holder: String },
}

/// The checkpoint's format version written now (1: without [`IngestMark::last_heard`]; 1 and 2:
/// without the `gateway_error` reason; 1 to 3: without each meter's first reading and without
/// reading `quality`, all metered).
const VERSION: u32 = 4;

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    /// The config the state was built with, as TOML.
    config: String,
    state: SavedState,
    ingest: IngestMark,
}

/// A checkpoint of a format before 4 (read, never written): its state `S` and mark `I` as
/// that format holds them.
#[derive(Deserialize)]
struct StoredBeforeV4<S, I = IngestMark> {
    _version: u32,
    config: String,
    state: S,
    ingest: I,
}

/// A version 1 checkpoint: the reasons before `gateway_error`, and no
/// [`IngestMark::last_heard`].
type StoredV1 = StoredBeforeV4<crate::engine::SavedStateV1, IngestMarkV1>;

/// A version 2 checkpoint: the reasons before `gateway_error`.
type StoredV2 = StoredBeforeV4<crate::engine::SavedStateV1>;

/// A version 3 checkpoint: readings without `quality`, and without each meter's first reading
/// (an import into it bounds a meter's readings by its stored buckets).
type StoredV3 = StoredBeforeV4<crate::engine::SavedStateV3>;

impl<S: Into<SavedState>, I: Into<IngestMark>> StoredBeforeV4<S, I> {
    /// The checkpoint as this version holds it (`version`, the one read).
    fn upgrade(self, version: u32) -> Stored {
        Stored {
            version,
            config: self.config,
            state: self.state.into(),
            ingest: self.ingest.into(),
        }
    }
}

#[derive(Deserialize)]
struct IngestMarkV1 {
    wal_seq: u64,
    recent_messages: Vec<u64>,
}

impl From<IngestMarkV1> for IngestMark {
    fn from(m: IngestMarkV1) -> IngestMark {
        IngestMark {
            wal_seq: m.wal_seq,
            recent_messages: m.recent_messages,
            last_heard: Vec::new(),
        }
    }
}

/// The first field of every version.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// Where ingest stood at a checkpoint: the last write-ahead-log record it includes, the
/// hashes of recent messages (to recognise broker redeliveries), and when each meter was last
/// heard from (wall clock: `MeterStale` goes on from it after a restart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestMark {
    pub wal_seq: u64,
    pub recent_messages: Vec<u64>,
    pub last_heard: Vec<MeterHeard>,
}

/// The wall clock (epoch ms) at which a meter's newest message was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterHeard {
    pub facility: String,
    pub meter: String,
    pub wall_ms: i64,
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

pub fn prev_path(dir: &Path) -> PathBuf {
    dir.join(PREV_FILE)
}

/// Writes the engine's state: temp file, fsync, `engine.state` (if any) renamed to
/// `engine.state.prev`, temp file renamed to `engine.state`, fsync of the directory.
pub fn checkpoint(dir: &Path, engine: &Engine, ingest: &IngestMark) -> Result<(), StoreError> {
    let config = toml::to_string(engine.config()).unwrap_or_default();
    write_checkpoint(dir, config, engine.saved_state(), ingest.clone())
}

/// Starts a checkpoint of `engine` (the caller holds it still, e.g. under its lock) that
/// another thread writes, so ingest goes on meanwhile: the log is synced, the segment up to
/// `ingest.wal_seq` (the last record) closed, and the state copied; the thread then encodes and
/// writes it as [`checkpoint`] does. The segments only the older checkpoints needed go once it
/// is durable ([`Wal::poll_checkpoint`], [`Wal::finish_checkpoint`]). A checkpoint still being
/// written is waited for first.
pub fn checkpoint_in_background(
    dir: &Path,
    engine: &Engine,
    ingest: IngestMark,
    wal: &mut Wal,
) -> Result<(), StoreError> {
    wal.finish_checkpoint()?;
    let started = std::time::Instant::now();
    wal.rotate()?;
    let config = toml::to_string(engine.config()).unwrap_or_default();
    let state = engine.saved_state();
    let (dir, mark) = (dir.to_path_buf(), ingest.wal_seq);
    tracing::info!(
        wal_seq = mark,
        copy_ms = started.elapsed().as_millis() as u64,
        "checkpoint started: the state is written in the background"
    );
    let writer = std::thread::Builder::new()
        .name("dcpue-checkpoint".into())
        .spawn(move || write_checkpoint(&dir, config, state, ingest))
        .map_err(|source| StoreError::Io {
            path: "checkpoint writer thread".into(),
            source,
        })?;
    wal.checkpoint_started(mark, writer);
    Ok(())
}

fn write_checkpoint(
    dir: &Path,
    config: String,
    state: SavedState,
    ingest: IngestMark,
) -> Result<(), StoreError> {
    let path = state_path(dir);
    let p = path.display().to_string();
    let io = |source| StoreError::Io {
        path: p.clone(),
        source,
    };
    let started = std::time::Instant::now();
    let body = postcard::to_stdvec(&Stored {
        version: VERSION,
        config,
        state,
        ingest: ingest.clone(),
    })
    .map_err(|e| StoreError::Encode {
        path: p.clone(),
        msg: e.to_string(),
    })?;
    let encode_ms = started.elapsed().as_millis() as u64;
    let started = std::time::Instant::now();
    let crc = crc32fast::hash(&body);
    let tmp = dir.join(TMP_FILE);
    {
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(MAGIC).map_err(io)?;
        f.write_all(&(body.len() as u64).to_le_bytes())
            .map_err(io)?;
        f.write_all(&crc.to_le_bytes()).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    // Keep the checkpoint being replaced: with the log segments since its mark it stands in
    // for the new one should that be damaged.
    match fs::rename(&path, prev_path(dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    fs::rename(&tmp, &path).map_err(io)?;
    wal::sync_dir(dir)?;
    tracing::info!(
        wal_seq = ingest.wal_seq,
        bytes = body.len() + 20,
        encode_ms,
        write_ms = started.elapsed().as_millis() as u64,
        "checkpoint written"
    );
    Ok(())
}

/// Reads the checkpoint `engine.state`; None when there is none. A torn or corrupt file is an
/// error.
pub fn load(dir: &Path) -> Result<Option<Loaded>, StoreError> {
    load_file(&state_path(dir))
}

/// Reads the checkpoint at `path`; None when there is none. A torn or corrupt file is an error.
pub fn load_file(path: &Path) -> Result<Option<Loaded>, StoreError> {
    let p = path.display().to_string();
    let bytes = match fs::read(path) {
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
    let cannot = |e: postcard::Error| corrupt(format!("cannot decode: {e}"));
    let version = postcard::from_bytes::<VersionOnly>(body)
        .map_err(cannot)?
        .version;
    let stored: Stored = match version {
        1 => postcard::from_bytes::<StoredV1>(body)
            .map_err(cannot)?
            .upgrade(version),
        2 => postcard::from_bytes::<StoredV2>(body)
            .map_err(cannot)?
            .upgrade(version),
        3 => postcard::from_bytes::<StoredV3>(body)
            .map_err(cannot)?
            .upgrade(version),
        VERSION => postcard::from_bytes(body).map_err(cannot)?,
        v => {
            return Err(corrupt(format!(
                "format version {v}, newer than this dcpue reads ({VERSION})"
            )))
        }
    };
    Ok(Some(Loaded {
        config_toml: stored.config,
        state: stored.state,
        ingest: stored.ingest,
    }))
}

/// Which checkpoint a start-up state was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `engine.state`, the newest checkpoint.
    State,
    /// `engine.state.prev`, standing in for a damaged or missing `engine.state`.
    Prev,
    /// No checkpoint: an empty engine and the whole log.
    Empty,
}

/// The state to start from: a checkpoint and the logged records after its mark.
pub struct Recovered {
    pub engine: Engine,
    pub mark: IngestMark,
    /// The records after the mark, in sequence order: to be taken again, exactly once.
    pub replay: Vec<WalRecord>,
    pub source: Source,
    /// The highest sequence number in the log (numbering continues after it).
    pub log_last: u64,
    /// Checkpoint files found damaged (`serve` moves them aside).
    pub damaged: Vec<PathBuf>,
}

/// The logged records after a mark, as the segments hold them.
struct After {
    records: Vec<WalRecord>,
    /// Sequence numbers missing after the mark (no record for them in any segment).
    gaps: Vec<Gap>,
    /// A damaged closed segment holding records after the mark: (path, valid bytes, valid
    /// records, what is wrong).
    damage: Option<(PathBuf, usize, usize, String)>,
}

impl After {
    fn lossless(&self) -> bool {
        self.gaps.is_empty() && self.damage.is_none()
    }
    fn problem(&self) -> String {
        match &self.damage {
            Some((p, _, _, why)) => format!("{}: {why}", p.display()),
            None => self
                .gaps
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
    /// The refusal for records missing from the log (a deleted segment), other than those
    /// before `from` (records the caller accepts as gone): the command accepts their loss with an
    /// empty segment named for the last of them, which reads as a segment cut short.
    fn missing_refusal(&self, dir: &Path, from: u64) -> Option<StoreError> {
        let (a, b) = self.gaps.iter().find_map(|g| match g {
            Gap::Missing { from: a, to: b } if *a >= from => Some((*a, *b)),
            _ => None,
        })?;
        let seg = wal::segment_path(dir, b);
        Some(StoreError::Refused(format!(
            "{}: records {a}–{b} of the write-ahead log are missing (a deleted log segment?): messages already acknowledged to the broker would be lost. dcpue will not start without them. Restore the segment from a backup or, to accept their loss, run: `touch {}`",
            dir.display(),
            seg.display()
        )))
    }
    /// The refusal for a damaged segment the newest checkpoint needs: the command keeps the
    /// records before the damage.
    fn refusal(&self) -> Option<StoreError> {
        let (p, pos, n, why) = self.damage.as_ref()?;
        Some(StoreError::Corrupt {
            path: p.display().to_string(),
            msg: format!(
                "{why}, in records the checkpoint does not include. To keep the {n} records before it and drop the rest, run: `truncate -s {pos} {}`",
                p.display()
            ),
        })
    }
    fn range(&self) -> String {
        match (self.records.first(), self.records.last()) {
            (Some(a), Some(b)) => format!("records {}–{}", a.seq, b.seq),
            _ => "none".into(),
        }
    }
}

/// A hole in the log's sequence numbers.
#[derive(Debug)]
enum Gap {
    /// No segment holds records `from..=to`.
    Missing { from: u64, to: u64 },
    /// A closed segment ends before the record it is named for (cut by the operator's repair).
    Cut { path: PathBuf, last: u64 },
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gap::Missing { from, to } if from == to => write!(f, "record {from} is missing"),
            Gap::Missing { from, to } => write!(f, "records {from}–{to} are missing"),
            Gap::Cut { path, last } => {
                write!(f, "{} ends before its record {last}", path.display())
            }
        }
    }
}

/// The records after `mark`: from the closed segments that hold any (by their names), then
/// the active one. Each sequence number is taken once, in order.
fn records_after(
    segs: &[(u64, PathBuf)],
    active: &[WalRecord],
    mark: u64,
) -> Result<After, StoreError> {
    let mut out = After {
        records: Vec::new(),
        gaps: Vec::new(),
        damage: None,
    };
    let mut expect = mark + 1;
    for (last, path) in segs.iter().filter(|(last, _)| *last > mark) {
        let (recs, pos, bad) = wal::read_segment(path)?;
        let damaged = bad.is_some();
        if let Some(why) = bad {
            if out.damage.is_none() {
                out.damage = Some((path.clone(), pos, recs.len(), why));
            }
        }
        let ends = recs.last().map(|r| r.seq);
        for r in recs {
            take(r, &mut expect, &mut out);
        }
        // A segment is named for its last record: fewer in it means records are missing.
        if !damaged && ends.is_none_or(|e| e < *last) {
            out.gaps.push(Gap::Cut {
                path: path.clone(),
                last: *last,
            });
            expect = expect.max(last + 1);
        }
    }
    for r in active {
        take(r.clone(), &mut expect, &mut out);
    }
    Ok(out)
}

/// Takes `r` into `out` unless an earlier segment had it; notes a gap before it.
fn take(r: WalRecord, expect: &mut u64, out: &mut After) {
    if r.seq < *expect {
        return;
    }
    if r.seq > *expect {
        out.gaps.push(Gap::Missing {
            from: *expect,
            to: r.seq - 1,
        });
    }
    *expect = r.seq + 1;
    out.records.push(r);
}

fn from_loaded(cfg: &Config, loaded: Loaded) -> Result<(Engine, IngestMark), StoreError> {
    let (engine, notes) =
        Engine::restore_from(cfg, loaded.state).map_err(StoreError::Incompatible)?;
    for n in notes {
        tracing::warn!("state: {n}");
    }
    Ok((engine, loaded.ingest))
}

/// What a checkpoint file holds: None when it is missing, Err(what is wrong) when damaged.
fn try_load(path: &Path) -> Result<Result<Option<Loaded>, String>, StoreError> {
    match load_file(path) {
        Ok(l) => Ok(Ok(l)),
        Err(StoreError::Corrupt { msg, .. }) => Ok(Err(msg)),
        Err(e) => Err(e),
    }
}

/// Decides what to start from (see the module doc), given the active segment's records. Changes
/// nothing on disk.
pub fn recover(cfg: &Config, active: &[WalRecord]) -> Result<Recovered, StoreError> {
    let dir = &cfg.storage.dir;
    let segs = wal::closed_segments(dir)?;
    let log_last = segs
        .iter()
        .map(|s| s.0)
        .chain(active.last().map(|r| r.seq))
        .max()
        .unwrap_or(0);
    let (sp, pp) = (state_path(dir), prev_path(dir));
    let recovered = |engine, mark, after: After, source, damaged| Recovered {
        engine,
        mark,
        replay: after.records,
        source,
        log_last,
        damaged,
    };

    // The newest checkpoint, and the records after it.
    let state_problem = match try_load(&sp)? {
        Ok(Some(st)) => {
            let after = records_after(&segs, active, st.ingest.wal_seq)?;
            if let Some(e) = after.refusal() {
                return Err(e);
            }
            if let Some(e) = after.missing_refusal(dir, 0) {
                return Err(e);
            }
            for g in &after.gaps {
                tracing::warn!(dir = %dir.display(), "write-ahead log after the checkpoint: {g}");
            }
            let (engine, mark) = from_loaded(cfg, st)?;
            tracing::info!(dir = %dir.display(), "state restored");
            return Ok(recovered(engine, mark, after, Source::State, Vec::new()));
        }
        Ok(None) => "is missing".to_string(),
        Err(msg) => msg,
    };
    let state_exists = sp.exists();
    let prev = try_load(&pp)?;

    // No checkpoint at all: a new directory, or checkpoints moved aside by the operator.
    if !state_exists && matches!(prev, Ok(None)) {
        let after = records_after(&segs, active, 0)?;
        if let Some(e) = after.refusal() {
            return Err(e);
        }
        // Records before the first one logged went with the checkpoints moved aside (said
        // below); a hole after it is a deleted segment.
        if let Some(e) = after.missing_refusal(dir, 2) {
            return Err(e);
        }
        match after.records.first() {
            None => tracing::info!(dir = %dir.display(), "no saved state: starting empty"),
            Some(r) if r.seq == 1 => tracing::info!(
                dir = %dir.display(),
                "no saved state: starting empty and taking the {} logged records",
                after.records.len()
            ),
            Some(r) => tracing::warn!(
                dir = %dir.display(),
                "no saved state: neither {STATE_FILE} nor {PREV_FILE} is here, but the write-ahead log begins at record {}: the readings of records 1–{} are not in this state (were the checkpoints moved aside?). Starting from the {} logged records alone",
                r.seq,
                r.seq - 1,
                after.records.len()
            ),
        }
        for g in &after.gaps {
            tracing::warn!(dir = %dir.display(), "write-ahead log: {g}");
        }
        return Ok(recovered(
            Engine::new(cfg),
            IngestMark::default(),
            after,
            Source::Empty,
            Vec::new(),
        ));
    }

    // The newest checkpoint is damaged or missing: an older start that the log completes.
    let mut damaged = Vec::new();
    if state_exists {
        damaged.push(sp.clone());
    }
    let mut tried = Vec::new();
    match prev {
        Ok(Some(p)) => {
            let m = p.ingest.wal_seq;
            let after = records_after(&segs, active, m)?;
            if after.lossless() {
                tracing::warn!(
                    "{}: {state_problem}. Restored from the previous checkpoint {} (it includes the log up to record {m}) and the {} logged records after it ({}): the same records taken again give the state the damaged checkpoint held",
                    sp.display(),
                    pp.display(),
                    after.records.len(),
                    after.range()
                );
                let (engine, mark) = from_loaded(cfg, p)?;
                return Ok(recovered(engine, mark, after, Source::Prev, damaged));
            }
            tried.push(format!(
                "{} needs the log after record {m}, and it is incomplete ({})",
                pp.display(),
                after.problem()
            ));
        }
        Ok(None) => tried.push(format!("{} is missing", pp.display())),
        Err(msg) => {
            tried.push(format!("{}: {msg}", pp.display()));
            damaged.push(pp.clone());
        }
    }
    let after = records_after(&segs, active, 0)?;
    let first = after.records.first().map(|r| r.seq);
    if after.lossless() && first == Some(1) {
        tracing::warn!(
            "{}: {state_problem}. The write-ahead log holds every record since the first ({}): starting empty and taking them all again gives the state the damaged checkpoint held",
            sp.display(),
            after.range()
        );
        return Ok(recovered(
            Engine::new(cfg),
            IngestMark::default(),
            after,
            Source::Empty,
            damaged,
        ));
    }
    tried.push(match first {
        Some(n) if n > 1 => format!("the write-ahead log begins at record {n}, not 1"),
        Some(_) => format!("the write-ahead log is incomplete ({})", after.problem()),
        None => "the write-ahead log is empty".into(),
    });

    let aside: Vec<String> = [&sp, &pp]
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| format!("mv {} {}.bad", p.display(), p.display()))
        .collect();
    let lost = match first {
        Some(n) => format!("the readings before record {n} are lost"),
        None => "every reading they hold is lost".into(),
    };
    Err(StoreError::Refused(format!(
        "{}: {state_problem}. Nothing lossless to start from: {}. dcpue will not start from zero over it. Restore the checkpoints from a backup or, to start from what the write-ahead log still holds ({lost}), move them aside: `{}`",
        sp.display(),
        tried.join("; "),
        aside.join(" && ")
    )))
}

/// Refuses a directory whose active log segment `ingest.wal` is missing while it holds other
/// state (a checkpoint or a closed segment): the messages logged after the last checkpoint, all
/// acknowledged to the broker, would be lost without a word, and nothing on disk says whether
/// there were any. The one state where the file is legitimately absent is a crash in the middle
/// of a log rotation (the old segment already renamed to its closed name, `ingest.wal.next` not
/// yet renamed to `ingest.wal`): the closed segment holds every record then.
fn check_active_segment(dir: &Path) -> Result<(), StoreError> {
    let Some(after) = missing_active_segment(dir)? else {
        return Ok(());
    };
    let active = dir.join(wal::WAL_FILE);
    Err(StoreError::Refused(format!(
        "{}: the active write-ahead log segment is missing. The messages logged {after} were acknowledged to the broker and are only there: dcpue will not start without them. Restore it from a backup or, to accept their loss (nothing is lost if dcpue stopped cleanly and logged nothing since), run: `touch {}`",
        active.display(),
        active.display()
    )))
}

/// Whether the active log segment is missing where it should be (see
/// [`check_active_segment`]): which messages it held.
fn missing_active_segment(dir: &Path) -> Result<Option<String>, StoreError> {
    let active = dir.join(wal::WAL_FILE);
    if active.exists() || dir.join(wal::NEXT_FILE).exists() {
        return Ok(None);
    }
    let (state, prev) = (state_path(dir), prev_path(dir));
    let segs = wal::closed_segments(dir)?;
    if !state.exists() && !prev.exists() && segs.is_empty() {
        return Ok(None); // a new directory
    }
    let loaded = load_file(&state);
    let mark = loaded
        .as_ref()
        .ok()
        .and_then(|l| l.as_ref())
        .map(|l| l.ingest.wal_seq);
    if let (Some(m), Some(stopped)) = (mark, stopped_at(dir)?) {
        if m == stopped {
            tracing::warn!(
                path = %active.display(),
                "the active write-ahead log segment is missing; dcpue had stopped cleanly after its checkpoint (record {m}) and logged nothing since: nothing is lost, it is created anew"
            );
            return Ok(None);
        }
    }
    Ok(Some(match (mark, segs.last()) {
        (Some(m), _) => format!("after record {m} (the checkpoint's mark)"),
        (None, Some((last, _))) => format!("after record {last}"),
        (None, None) => "since the last checkpoint".into(),
    }))
}

/// Notes a clean stop: the final checkpoint's mark is `mark` and nothing is logged after it
/// (until the next start, which removes the note before logging anything).
pub fn stopped_cleanly(dir: &Path, mark: u64) -> Result<(), StoreError> {
    let path = dir.join(STOPPED_FILE);
    let io = |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = fs::File::create(&path).map_err(io)?;
    f.write_all(format!("{mark}\n").as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    wal::sync_dir(dir)
}

/// The mark a clean stop noted, if any (an unreadable note counts as none).
fn stopped_at(dir: &Path) -> Result<Option<u64>, StoreError> {
    let path = dir.join(STOPPED_FILE);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim().parse().ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// What `serve` starts from: the engine, the mark it includes, the open log, the records to
/// take again, and whether a checkpoint stood in for a damaged one (then `serve` writes a new
/// checkpoint at once).
pub struct Opened {
    pub engine: Engine,
    pub mark: IngestMark,
    pub wal: Wal,
    pub replay: Vec<WalRecord>,
    pub fell_back: bool,
}

/// Opens `storage.dir` for `serve`: removes what a crash mid-checkpoint left, opens the log
/// (cutting a torn tail), decides what to start from ([`recover`]) and moves damaged
/// checkpoints aside (to `<file>.bad-<unix seconds>`), so the next checkpoint does not keep
/// them as `engine.state.prev`.
pub fn open(cfg: &Config) -> Result<Opened, StoreError> {
    let dir = &cfg.storage.dir;
    check_active_segment(dir)?;
    for leftover in [TMP_FILE, wal::NEXT_FILE] {
        let p = dir.join(leftover);
        match fs::remove_file(&p) {
            Ok(()) => {
                tracing::info!(path = %p.display(), "removed what a crash during a checkpoint left")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    path: p.display().to_string(),
                    source,
                })
            }
        }
    }
    let (mut wal, active) = Wal::open(dir)?;
    // From here on this run may log: the note of the last clean stop no longer holds (removed
    // once `ingest.wal` exists, and made durable with it).
    let stopped = dir.join(STOPPED_FILE);
    match fs::remove_file(&stopped) {
        Ok(()) => wal::sync_dir(dir)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Io {
                path: stopped.display().to_string(),
                source,
            })
        }
    }
    let r = recover(cfg, &active)?;
    let secs = chrono::Utc::now().timestamp();
    for p in &r.damaged {
        let mut to = p.clone().into_os_string();
        to.push(format!(".bad-{secs}"));
        let to = PathBuf::from(to);
        fs::rename(p, &to).map_err(|source| StoreError::Io {
            path: p.display().to_string(),
            source,
        })?;
        tracing::warn!(from = %p.display(), to = %to.display(), "moved the damaged checkpoint aside");
    }
    if !r.damaged.is_empty() {
        wal::sync_dir(dir)?;
    }
    wal.continue_after(r.mark.wal_seq.max(r.log_last));
    wal.set_checkpointed(r.mark.wal_seq);
    Ok(Opened {
        engine: r.engine,
        mark: r.mark,
        wal,
        replay: r.replay,
        fell_back: r.source != Source::State || !r.damaged.is_empty(),
    })
}

/// What a reader (`dcpue report`) starts from: the checkpoint and the messages logged after it,
/// still to be taken (`Recovered::replay`), decided as `serve` would decide, without changing
/// anything on disk. None when there is no checkpoint and no log.
pub fn recover_for_reading(cfg: &Config) -> Result<Option<Recovered>, StoreError> {
    let dir = &cfg.storage.dir;
    if let Some(after) = missing_active_segment(dir)? {
        tracing::warn!(
            dir = %dir.display(),
            "the active write-ahead log segment {} is missing: the messages logged {after} are not in what is read (`serve` refuses to start over it)",
            wal::WAL_FILE
        );
    }
    let active = wal::read_records(dir)?;
    if active.is_empty()
        && !state_path(dir).exists()
        && !prev_path(dir).exists()
        && wal::closed_segments(dir)?.is_empty()
    {
        return Ok(None);
    }
    recover(cfg, &active).map(Some)
}

#[cfg(test)]
mod tests;
