//! Alert history and the persisted alert states, in `<storage.dir>/alerts.redb`: resolved alerts
//! in order of resolution (so `/api/v1/alerts/history` survives a restart), and the active
//! states (so a restart neither re-fires nor loses pending `for` progress). Both are written in
//! one transaction by [`AlertHistory::commit`].

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Deserialize;

use super::state::{AlertChange, PersistedState, ResolvedAlert};
use super::AlertError;

const RESOLVED: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts_resolved");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("alerts_state");
const STATE_KEY: &str = "active";

/// Resolved alerts kept; the oldest are dropped beyond it.
pub const MAX_RESOLVED: u64 = 200_000;

/// Filters of `/api/v1/alerts/history`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HistoryFilter {
    pub facility: Option<String>,
    pub name: Option<String>,
    /// Only alerts resolved at or after this time (epoch ms; event time, as `resolved_at`).
    pub since_ms: Option<i64>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

impl HistoryFilter {
    /// `since` as the HTTP query gives it: RFC 3339 (`2026-11-28T03:00:00+08:00`) or epoch ms.
    pub fn parse_since(s: &str) -> Option<i64> {
        let s = s.trim();
        if let Ok(ms) = s.parse::<i64>() {
            return Some(ms);
        }
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    fn matches(&self, r: &ResolvedAlert) -> bool {
        self.facility
            .as_ref()
            .is_none_or(|f| r.labels.get("facility") == Some(f))
            && self.name.as_ref().is_none_or(|n| &r.name == n)
            && self.since_ms.is_none_or(|s| r.resolved_ms >= s)
    }
}

pub struct AlertHistory {
    db: Database,
    path: PathBuf,
}

/// The alert history's file in `storage.dir`.
pub const FILE: &str = "alerts.redb";
/// Put there by the operator to start with an empty alert history when [`FILE`] is missing
/// (after moving a damaged one aside): consumed by the start that creates the new history.
pub const START_EMPTY_FILE: &str = "alerts.redb.start-empty";

impl AlertHistory {
    /// Opens (creating) `<dir>/alerts.redb` for readers and tools. A damaged file (redb
    /// reports corruption, or panics reading it) is an error with the command that moves it
    /// aside, never a panic.
    pub fn open(dir: &Path) -> Result<AlertHistory, AlertError> {
        Self::open_checked(dir, false)
    }

    /// Opens `<dir>/alerts.redb` at the start of `serve`: as [`AlertHistory::open`], and a
    /// missing or empty file is created only in a directory that holds no other state yet (no
    /// checkpoint, no logged message), or when the operator asked for an empty history
    /// ([`START_EMPTY_FILE`]); otherwise the history it held would be silently lost, and the
    /// start is refused with the command that accepts that loss.
    pub fn open_at_start(dir: &Path) -> Result<AlertHistory, AlertError> {
        Self::open_checked(dir, true)
    }

    fn open_checked(dir: &Path, at_start: bool) -> Result<AlertHistory, AlertError> {
        let path = dir.join(FILE);
        let err = |e: redb::Error| AlertError::History {
            path: path.display().to_string(),
            source: Box::new(e),
        };
        std::fs::create_dir_all(dir).map_err(|e| err(redb::Error::Io(e)))?;
        let start_empty = dir.join(START_EMPTY_FILE);
        let asked_empty = start_empty.exists();
        let len = match std::fs::metadata(&path) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(redb::Error::Io(e))),
        };
        let accept = format!("touch {}", start_empty.display());
        let aside = format!("mv {p} {p}.bad && {accept}", p = path.display());
        match len {
            Some(0) if at_start && holds_state(dir) => {
                return Err(AlertError::Refused(format!(
                    "{}: the alert history is an empty file, but this directory holds state (checkpoints or logged messages) that was built with a history: dcpue will not start over it with none. Restore it from a backup or, to start with an empty alert history (resolved alerts and the active alerts' progress are lost), run: `{aside}`",
                    path.display()
                )))
            }
            Some(0) => {
                // A first start that stopped while creating it: nothing in it.
                std::fs::remove_file(&path).map_err(|e| err(redb::Error::Io(e)))?;
            }
            None if at_start && !asked_empty && holds_state(dir) => {
                return Err(AlertError::Refused(format!(
                    "{}: the alert history is missing, but this directory holds state (checkpoints or logged messages) that was built with one: dcpue will not start over it with none. Restore it from a backup or, to start with an empty alert history (resolved alerts and the active alerts' progress are lost), run: `{accept}`",
                    path.display()
                )))
            }
            _ => {}
        }
        let created = len.is_none_or(|l| l == 0);
        let db = match open_quietly(&path) {
            Ok(db) => db,
            Err(why) => {
                return Err(match why {
                    Opening::Damaged(why) => AlertError::Refused(format!(
                        "{}: the alert history is damaged ({why}): dcpue will not start over it. Restore it from a backup or, to start with an empty alert history (resolved alerts and the active alerts' progress are lost), run: `{aside}`",
                        path.display()
                    )),
                    Opening::Failed(e) => err(*e),
                })
            }
        };
        let h = AlertHistory { db, path };
        if at_start && created && asked_empty {
            tracing::warn!(path = %h.path.display(), "started a new, empty alert history as asked by {}", start_empty.display());
        }
        if at_start && asked_empty {
            match std::fs::remove_file(&start_empty) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(h.err(redb::Error::Io(e))),
            }
            if let Ok(d) = std::fs::File::open(dir) {
                d.sync_all().map_err(|e| h.err(redb::Error::Io(e)))?;
            }
        }
        Ok(h)
    }

    fn err(&self, e: impl Into<redb::Error>) -> AlertError {
        AlertError::History {
            path: self.path.display().to_string(),
            source: Box::new(e.into()),
        }
    }

    /// Records the resolved alerts among `changes` and the current active `state`, atomically.
    pub fn commit(
        &self,
        changes: &[AlertChange],
        state: &PersistedState,
    ) -> Result<(), AlertError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(RESOLVED).map_err(|e| self.err(e))?;
            let mut next = t
                .last()
                .map_err(|e| self.err(e))?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(0);
            for c in changes {
                if let AlertChange::Resolved(r) = c {
                    let bytes = serde_json::to_vec(r)?;
                    t.insert(next, bytes.as_slice()).map_err(|e| self.err(e))?;
                    next += 1;
                }
            }
            while t.len().map_err(|e| self.err(e))? > MAX_RESOLVED {
                t.pop_first().map_err(|e| self.err(e))?;
            }
            let mut s = tx.open_table(STATE).map_err(|e| self.err(e))?;
            let bytes = serde_json::to_vec(state)?;
            s.insert(STATE_KEY, bytes.as_slice())
                .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The persisted active states, if any.
    pub fn load_state(&self) -> Result<Option<PersistedState>, AlertError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(STATE).map_err(|e| self.err(e))?;
        match t.get(STATE_KEY).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    /// Resolved alerts matching `filter`, newest first. A record that cannot be decoded is
    /// skipped (and logged), not fatal.
    pub fn history(&self, filter: &HistoryFilter) -> Result<Vec<ResolvedAlert>, AlertError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(RESOLVED).map_err(|e| self.err(e))?;
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))?.rev() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            match serde_json::from_slice::<ResolvedAlert>(v.value()) {
                Ok(r) if filter.matches(&r) => out.push(r),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(record = k.value(), error = %e, "skipping an undecodable alert history record")
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

/// Whether `dir` holds engine state that was built alongside an alert history: a checkpoint, a
/// closed log segment, or a non-empty active log.
fn holds_state(dir: &Path) -> bool {
    use crate::store::{self, wal};
    store::state_path(dir).exists()
        || store::prev_path(dir).exists()
        || wal::closed_segments(dir).is_ok_and(|s| !s.is_empty())
        || std::fs::metadata(dir.join(wal::WAL_FILE)).is_ok_and(|m| m.len() > 0)
}

/// Why the history file could not be opened.
enum Opening {
    /// The file is damaged: what redb said (or where it panicked).
    Damaged(String),
    /// Anything else (already open, permissions): reported as it is.
    Failed(Box<redb::Error>),
}

thread_local! {
    /// Set while this thread opens a history file whose damage may make redb panic: the panic is
    /// caught and reported as damage, so its message is not printed.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Opens (creating) the redb file at `path`, creates both tables (so readers never meet a
/// missing one) and reads everything in it once, so damage anywhere is found now rather than by
/// a request later. redb asserts on some damaged files (a truncated one panics): the panic is
/// caught here and reported as damage.
fn open_quietly(path: &Path) -> Result<Database, Opening> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(|q| q.get()) {
                prev(info)
            }
        }));
    });
    QUIET_PANICS.with(|q| q.set(true));
    let opened = std::panic::catch_unwind(|| -> Result<Database, Opening> {
        let db = Database::create(path).map_err(|e| damage(e.into()))?;
        let tx = db.begin_write().map_err(|e| damage(e.into()))?;
        {
            tx.open_table(RESOLVED).map_err(|e| damage(e.into()))?;
            tx.open_table(STATE).map_err(|e| damage(e.into()))?;
        }
        tx.commit().map_err(|e| damage(e.into()))?;
        read_all(&db)?;
        Ok(db)
    });
    QUIET_PANICS.with(|q| q.set(false));
    match opened {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unreadable".into());
            Err(Opening::Damaged(format!("redb could not read it: {why}")))
        }
    }
}

/// Reads every record once (the active states decoded too).
fn read_all(db: &Database) -> Result<(), Opening> {
    fn d(e: impl Into<redb::Error>) -> Opening {
        damage(e.into())
    }
    let tx = db.begin_read().map_err(d)?;
    let t = tx.open_table(RESOLVED).map_err(d)?;
    for item in t.iter().map_err(d)? {
        item.map_err(d)?;
    }
    let t = tx.open_table(STATE).map_err(d)?;
    if let Some(v) = t.get(STATE_KEY).map_err(d)? {
        serde_json::from_slice::<PersistedState>(v.value()).map_err(|e| {
            Opening::Damaged(format!("the active alerts' state cannot be decoded: {e}"))
        })?;
    }
    Ok(())
}

/// What a redb error opening the file means: damage (corrupt, cut short, unreadable), or
/// something else (already open, permissions, an old file format).
fn damage(e: redb::Error) -> Opening {
    match e {
        redb::Error::Corrupted(why) => Opening::Damaged(why),
        redb::Error::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            Opening::Damaged(format!("unreadable: {e}"))
        }
        e => Opening::Failed(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::alerts::state::{AlertState, Entry};

    fn resolved(name: &str, facility: &str, resolved_ms: i64) -> ResolvedAlert {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".to_string(), name.to_string());
        labels.insert("facility".to_string(), facility.to_string());
        ResolvedAlert {
            name: name.to_string(),
            labels,
            annotations: BTreeMap::new(),
            since: String::new(),
            fired_at: None,
            resolved_at: String::new(),
            value: 1.2,
            worst: 1.4,
            key: format!("{name}/{facility}/365d"),
            since_ms: resolved_ms - 60_000,
            fired_ms: Some(resolved_ms - 60_000),
            resolved_ms,
            started_wall_ms: 5,
            resolved_wall_ms: 6,
        }
    }

    #[test]
    fn history_and_active_state_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let state = PersistedState {
            version: 1,
            last_steps: vec![("a".to_string(), 99)],
            entries: vec![(
                "PueAboveCeiling/a/24h".to_string(),
                Entry {
                    state: AlertState::Pending,
                    since_ms: 42,
                    fired_ms: None,
                    started_wall_ms: 7,
                    value: 1.35,
                    worst: 1.35,
                    last_eval_ms: 99,
                },
            )],
        };
        {
            let h = AlertHistory::open(dir.path()).unwrap();
            assert!(h.load_state().unwrap().is_none());
            let changes = vec![
                AlertChange::Resolved(resolved("PueAboveCeiling", "a", 1_000)),
                AlertChange::Resolved(resolved("CoverageBelowMinimum", "a", 2_000)),
            ];
            h.commit(&changes, &state).unwrap();
            h.commit(
                &[AlertChange::Resolved(resolved(
                    "PueAboveCeiling",
                    "b",
                    3_000,
                ))],
                &state,
            )
            .unwrap();
        }
        let h = AlertHistory::open(dir.path()).unwrap();
        assert_eq!(h.load_state().unwrap(), Some(state));
        let all = h.history(&HistoryFilter::default()).unwrap();
        let order: Vec<i64> = all.iter().map(|r| r.resolved_ms).collect();
        assert_eq!(order, [3_000, 2_000, 1_000], "newest first");
        let f = |facility: Option<&str>, name: Option<&str>, since_ms: Option<i64>| HistoryFilter {
            facility: facility.map(str::to_string),
            name: name.map(str::to_string),
            since_ms,
            limit: None,
        };
        assert_eq!(h.history(&f(Some("a"), None, None)).unwrap().len(), 2);
        assert_eq!(
            h.history(&f(None, Some("PueAboveCeiling"), None))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            h.history(&f(Some("a"), Some("PueAboveCeiling"), None))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(h.history(&f(None, None, Some(2_000))).unwrap().len(), 2);
        assert_eq!(
            HistoryFilter::parse_since("2026-11-28T03:00:00+08:00"),
            Some(1_795_806_000_000)
        );
        assert_eq!(
            HistoryFilter::parse_since("1795806000000"),
            Some(1_795_806_000_000)
        );
        assert_eq!(HistoryFilter::parse_since("yesterday"), None);
        let lim = HistoryFilter {
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(h.history(&lim).unwrap()[0].resolved_ms, 3_000);
    }

    #[test]
    fn damage_anywhere_is_reported_with_the_repair_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        {
            let h = AlertHistory::open(dir.path()).unwrap();
            let changes = [AlertChange::Resolved(resolved(
                "PueAboveCeiling",
                "a",
                1_000,
            ))];
            h.commit(&changes, &PersistedState::default()).unwrap();
        }
        let orig = std::fs::read(dir.path().join(FILE)).unwrap();
        let len = orig.len();
        // Flipped bytes: in the header (magic, layout, commit slots), in the first pages, and
        // every 1/24 of the file; and the file cut short at several points.
        let flips = [0, 8, 16, 32, 64, 200, 4096, 4200]
            .into_iter()
            .chain((0..len).step_by(len / 24));
        let mut damaged = Vec::new();
        for (i, at) in flips.enumerate() {
            let d = tempfile::tempdir().unwrap();
            let mut b = orig.clone();
            b[at] ^= 0xff;
            std::fs::write(d.path().join(FILE), b).unwrap();
            match AlertHistory::open(d.path()) {
                Ok(h) => {
                    h.load_state().unwrap();
                    h.history(&HistoryFilter::default()).unwrap();
                }
                Err(AlertError::Refused(msg)) => {
                    assert!(
                        msg.contains("damaged") && msg.contains(".bad && touch"),
                        "{msg}"
                    );
                    damaged.push(at);
                }
                Err(e) => panic!("flip {i} at {at}: {e}"),
            }
        }
        assert!(
            [0, 16, 200].iter().all(|at| damaged.contains(at)),
            "the header and the first pages: {damaged:?}"
        );
        for cut in [len / 2, 4096, 100, 10] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join(FILE), &orig[..cut]).unwrap();
            match AlertHistory::open(d.path()) {
                Err(AlertError::Refused(msg)) => assert!(msg.contains("damaged"), "{msg}"),
                Err(e) => panic!("cut at {cut}: {e}"),
                Ok(_) => panic!("cut at {cut}: opened"),
            }
        }
    }
}
