//! The write-ahead log of MQTT messages the engine took: each message is appended here and the
//! log is fsync'd (one fsync for every batch waiting: group commit, off the ingest thread) before
//! the batch is acknowledged to the broker. After a crash, the messages after the last checkpoint are replayed.
//!
//! Record: `len: u32 LE | crc32(body): u32 LE | body` ([`frame::WAL`]), body = postcard of
//! [`WalRecord`] (records
//! written before [`WalRecord::too_large`] existed lack that last field and are still read). A
//! payload over 64 KiB is logged as its size alone.
//! A torn record at the end (a crash mid-write) is cut off with a warning; damage before the
//! end is refused with the exact command that cuts the log at the last good record.
//!
//! Segments: `ingest.wal` is the active one. At a checkpoint it is closed (renamed to
//! `ingest.wal.<seq of its last record, 20 digits>`) and a new empty one takes its place, so the
//! records since the *previous* checkpoint (`engine.state.prev`) stay on disk: if the newest
//! checkpoint is damaged, the previous one plus these records give the same state. A closed
//! segment is deleted once no kept checkpoint needs it (every record in it is at or below the
//! mark of the checkpoint now in `engine.state.prev`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::frame::{self, Damage, Frame, FrameWriter, SegmentNames};
use super::StoreError;

pub const WAL_FILE: &str = "ingest.wal";
/// The next active segment while a rotation is under way (an empty file; left over only by a
/// crash mid-rotation, and removed at start).
pub const NEXT_FILE: &str = "ingest.wal.next";
/// Closed segments: `ingest.wal.<seq of its last record, 20 digits>`.
const SEGMENTS: SegmentNames = SegmentNames {
    prefix: "ingest.wal.",
    suffix: "",
    exact_width: true,
};
/// The write buffer of the active segment.
const BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalRecord {
    /// Increasing sequence number; a checkpoint records the last one it includes.
    pub seq: u64,
    /// Wall clock when the message was taken (replay judges `future_timestamp` with it).
    pub wall_ms: i64,
    pub topic: String,
    pub payload: Vec<u8>,
    /// A payload over the 64 KiB limit (`too_large`): its size. Its bytes are never logged
    /// (`payload` is empty); taken again, it is counted `too_large` again.
    pub too_large: Option<u64>,
}

/// A record as written before `too_large` existed (read, never written).
#[derive(Deserialize)]
struct WalRecordV1 {
    seq: u64,
    wall_ms: i64,
    topic: String,
    payload: Vec<u8>,
}

/// A record's body: the current layout, else the one before it (one field fewer at the end, so
/// a body of that layout never decodes as the current one).
fn decode(body: &[u8]) -> Result<WalRecord, postcard::Error> {
    postcard::from_bytes::<WalRecord>(body).or_else(|e| {
        postcard::from_bytes::<WalRecordV1>(body)
            .map(|r| WalRecord {
                seq: r.seq,
                wall_ms: r.wall_ms,
                topic: r.topic,
                payload: r.payload,
                too_large: None,
            })
            .map_err(|_| e)
    })
}

pub struct Wal {
    dir: PathBuf,
    path: PathBuf,
    out: FrameWriter,
    /// The same open file, for fsyncs off the ingest thread.
    syncer: WalSyncer,
    next_seq: u64,
    /// The mark of the checkpoint now in `engine.state` (0: none).
    checkpointed: u64,
    /// Set when a rotation failed half-way: appends would go to the wrong file, so they fail.
    broken: Option<String>,
    /// A checkpoint being written by another thread: its mark, and the thread.
    pending: Option<(u64, std::thread::JoinHandle<Result<(), StoreError>>)>,
}

/// The path of the closed segment whose last record is `last`.
pub fn segment_path(dir: &Path, last: u64) -> PathBuf {
    dir.join(SEGMENTS.name(last))
}

/// The closed segments in `dir`, oldest first: (seq of the last record, path).
pub fn closed_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    SEGMENTS.list(dir).map_err(io(dir))
}

/// A segment read without changing it: its valid records, where they end, and why they end
/// there (None: at the end of the file). A missing file reads as empty.
pub fn read_segment(path: &Path) -> Result<(Vec<WalRecord>, usize, Option<String>), StoreError> {
    frame::read_segment(path)
        .map(|bytes| parse(&bytes))
        .map_err(io(path))
}

/// fsync of a directory (makes renames and new files in it durable).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    frame::sync_dir(dir).map_err(io(dir))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Wal {
    /// Opens (creating) the log and returns the valid records in it.
    pub fn open(dir: &Path) -> Result<(Wal, Vec<WalRecord>), StoreError> {
        let path = dir.join(WAL_FILE);
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io(&path))?;
        let (records, pos, bad) = parse(&bytes);
        if let Some(why) = bad {
            // Only the last record may be torn by a crash; anything valid after damage means
            // the damage is not a torn write.
            if has_valid_record_after(&bytes, pos) {
                return Err(StoreError::Corrupt {
                    path: path.display().to_string(),
                    msg: format!(
                        "{why}, with valid records after it. To keep the {} records before it and drop the rest, run: `truncate -s {pos} {}`",
                        records.len(),
                        path.display()
                    ),
                });
            }
            tracing::warn!(path = %path.display(), "write-ahead log: {why} (a write torn by a crash): cut off; {} records kept", records.len());
            f.set_len(pos as u64).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        f.seek(SeekFrom::End(0)).map_err(io(&path))?;
        let next_seq = records.last().map_or(1, |r| r.seq + 1);
        let syncer = WalSyncer {
            file: Arc::new(f.try_clone().map_err(io(&path))?),
            path: path.display().to_string(),
        };
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                syncer,
                path,
                out: FrameWriter::new(frame::WAL, f, pos as u64, BUFFER),
                next_seq,
                checkpointed: 0,
                broken: None,
                pending: None,
            },
            records,
        ))
    }

    /// Continues numbering after `seq` (the checkpoint's, or the last record of a closed
    /// segment) when the log holds nothing later.
    pub fn continue_after(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq + 1);
    }

    /// Appends one message (buffered); returns its sequence number.
    pub fn append(&mut self, wall_ms: i64, topic: &str, payload: &[u8]) -> Result<u64, StoreError> {
        self.append_record(wall_ms, topic, payload, None)
    }

    /// Appends a message whose payload of `size` bytes is over the limit: its topic and size
    /// only, never the payload.
    pub fn append_too_large(
        &mut self,
        wall_ms: i64,
        topic: &str,
        size: usize,
    ) -> Result<u64, StoreError> {
        self.append_record(wall_ms, topic, &[], Some(size as u64))
    }

    fn append_record(
        &mut self,
        wall_ms: i64,
        topic: &str,
        payload: &[u8],
        too_large: Option<u64>,
    ) -> Result<u64, StoreError> {
        if let Some(why) = &self.broken {
            return Err(StoreError::Io {
                path: self.path.display().to_string(),
                source: std::io::Error::other(why.clone()),
            });
        }
        let seq = self.next_seq;
        let body = postcard::to_stdvec(&WalRecord {
            seq,
            wall_ms,
            topic: topic.to_string(),
            payload: payload.to_vec(),
            too_large,
        })
        .map_err(|e| StoreError::Encode {
            path: self.path.display().to_string(),
            msg: e.to_string(),
        })?;
        self.out.append(&body).map_err(io(&self.path))?;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.out.sync_data().map_err(io(&self.path))
    }

    /// Hands everything appended so far to the file (not yet durable) and returns what makes it
    /// durable, so the fsync can run off the ingest thread while the next batch is taken.
    pub fn flushed(&mut self) -> Result<WalSyncer, StoreError> {
        self.out.flush().map_err(io(&self.path))?;
        Ok(self.syncer.clone())
    }

    /// The last sequence number handed out.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    pub fn bytes(&self) -> u64 {
        self.out.bytes()
    }

    /// The mark of the checkpoint now in `engine.state` (0: none).
    pub fn checkpointed(&self) -> u64 {
        self.checkpointed
    }

    /// Whether records were appended since the checkpoint in `engine.state`.
    pub fn has_unsaved(&self) -> bool {
        self.last_seq() > self.checkpointed
    }

    /// Says which checkpoint is in `engine.state` at start (its mark).
    pub fn set_checkpointed(&mut self, mark: u64) {
        self.checkpointed = mark;
    }

    /// Closes the active segment (after [`Wal::sync`]): it becomes
    /// `ingest.wal.<last seq>` and a new empty `ingest.wal` takes its place. Nothing to do
    /// when the active segment is empty. Every step is crash-safe: a crash leaves either the
    /// old active segment, or the closed one with no active one (created at start), and the
    /// records are read from whichever holds them.
    pub fn rotate(&mut self) -> Result<(), StoreError> {
        self.sync()?;
        if self.out.bytes() == 0 {
            return Ok(());
        }
        let closed = segment_path(&self.dir, self.last_seq());
        let next = self.dir.join(NEXT_FILE);
        let f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(&next)
            .map_err(io(&next))?;
        f.set_len(0).map_err(io(&next))?;
        std::fs::rename(&self.path, &closed).map_err(io(&closed))?;
        // From here on the open file is the closed segment: appending to it would put records
        // in a segment named for an earlier seq, so any failure stops appends.
        if let Err(e) = std::fs::rename(&next, &self.path) {
            let e = io(&self.path)(e);
            self.broken = Some(format!("log rotation failed: {e}"));
            return Err(e);
        }
        if let Err(e) = sync_dir(&self.dir) {
            self.broken = Some(format!("log rotation failed: {e}"));
            return Err(e);
        }
        let syncer = match f.try_clone() {
            Ok(c) => WalSyncer {
                file: Arc::new(c),
                path: self.path.display().to_string(),
            },
            Err(e) => {
                let e = io(&self.path)(e);
                self.broken = Some(format!("log rotation failed: {e}"));
                return Err(e);
            }
        };
        self.out = FrameWriter::new(frame::WAL, f, 0, BUFFER);
        self.syncer = syncer;
        Ok(())
    }

    /// Notes a checkpoint with mark `mark` being written by `writer` (its segment already
    /// closed by [`Wal::rotate`]); [`Wal::poll_checkpoint`] or [`Wal::finish_checkpoint`] take
    /// its result.
    pub fn checkpoint_started(
        &mut self,
        mark: u64,
        writer: std::thread::JoinHandle<Result<(), StoreError>>,
    ) {
        self.pending = Some((mark, writer));
    }

    /// Whether a checkpoint is being written by another thread.
    pub fn checkpoint_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The result of the checkpoint being written, once it is done (None while it runs or when
    /// there is none); a durable one lets the segments only older checkpoints needed go.
    pub fn poll_checkpoint(&mut self) -> Option<Result<(), StoreError>> {
        if self.pending.as_ref()?.1.is_finished() {
            Some(self.finish_checkpoint())
        } else {
            None
        }
    }

    /// Waits for the checkpoint being written, if any, and takes its result.
    pub fn finish_checkpoint(&mut self) -> Result<(), StoreError> {
        let Some((mark, writer)) = self.pending.take() else {
            return Ok(());
        };
        let written = writer.join().unwrap_or_else(|_| {
            Err(StoreError::Io {
                path: self.dir.display().to_string(),
                source: std::io::Error::other("the checkpoint writer panicked"),
            })
        });
        written?;
        self.checkpointed_at(mark)
    }

    /// After a checkpoint with mark `mark` is durable in `engine.state` (the one before it now
    /// in `engine.state.prev`): deletes the closed segments only older checkpoints needed.
    pub fn checkpointed_at(&mut self, mark: u64) -> Result<(), StoreError> {
        let keep_after = self.checkpointed;
        for (last, path) in closed_segments(&self.dir)? {
            if last <= keep_after {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path)(e)),
                }
            }
        }
        self.checkpointed = mark;
        Ok(())
    }
}

/// Makes what was written to the log durable: [`Wal::flushed`], from any thread.
#[derive(Clone)]
pub struct WalSyncer {
    file: Arc<File>,
    path: String,
}

impl WalSyncer {
    /// fdatasync of the log file.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|source| StoreError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Whether two syncers sync the same file (one fsync covers both).
    pub fn same_file(&self, other: &WalSyncer) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }
}

/// The valid records at the start of `bytes`, where they end, and why they end there (None at
/// the end of the file).
fn parse(bytes: &[u8]) -> (Vec<WalRecord>, usize, Option<String>) {
    let mut records = Vec::new();
    let mut pos = 0usize;
    let mut bad: Option<String> = None;
    loop {
        match frame::WAL.parse_at(bytes, pos) {
            Frame::End => break,
            Frame::Record(body, end) => match decode(body) {
                Ok(r) => {
                    records.push(r);
                    pos = end;
                }
                Err(e) => {
                    bad = Some(format!("an undecodable record at byte {pos}: {e}"));
                    break;
                }
            },
            Frame::Bad(damage) => {
                bad = Some(match damage {
                    Damage::HeaderCut => format!("a record header cut short at byte {pos}"),
                    Damage::Checksum => format!("a checksum mismatch at byte {pos}"),
                    // The log's frames have no magic and no length limit.
                    Damage::BodyCut | Damage::NoMagic | Damage::TooLong => {
                        format!("a record cut short at byte {pos}")
                    }
                });
                break;
            }
        }
    }
    (records, pos, bad)
}

/// The valid records of the active segment in `dir`, read without changing it (for readers
/// such as the report while or after `serve` runs). Damage ends the read with a warning.
pub fn read_records(dir: &Path) -> Result<Vec<WalRecord>, StoreError> {
    let path = dir.join(WAL_FILE);
    let (records, _, bad) = read_segment(&path)?;
    if let Some(why) = bad {
        tracing::warn!(path = %path.display(), "write-ahead log: {why}; read up to there");
    }
    Ok(records)
}

/// Whether a whole, checksum-valid record starts anywhere after `pos`.
fn has_valid_record_after(bytes: &[u8], pos: usize) -> bool {
    frame::WAL
        .next_valid(bytes, pos, |body| !body.is_empty() && decode(body).is_ok())
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(dir: &Path, n: u64) {
        let (mut w, _) = Wal::open(dir).unwrap();
        for i in 0..n {
            w.append(
                1000 + i as i64,
                "dc/f/m",
                format!("{{\"ts\":{i}}}").as_bytes(),
            )
            .unwrap();
        }
        w.sync().unwrap();
    }

    #[test]
    fn records_survive_reopen_in_order() {
        let d = tempfile::tempdir().unwrap();
        fill(d.path(), 5);
        let (w, recs) = Wal::open(d.path()).unwrap();
        assert_eq!(recs.len(), 5);
        assert_eq!(
            recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(recs[2].payload, b"{\"ts\":2}");
        assert_eq!(w.last_seq(), 5);
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_rest_kept() {
        let d = tempfile::tempdir().unwrap();
        fill(d.path(), 5);
        let p = d.path().join(WAL_FILE);
        let len = std::fs::metadata(&p).unwrap().len();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 3).unwrap();
        let (mut w, recs) = Wal::open(d.path()).unwrap();
        assert_eq!(recs.len(), 4);
        w.append(1, "t", b"x").unwrap();
        w.sync().unwrap();
        let (_, recs) = Wal::open(d.path()).unwrap();
        assert_eq!(recs.len(), 5, "appends continue after the cut");
        assert_eq!(recs[4].seq, 5);
    }

    #[test]
    fn a_too_large_message_is_logged_as_its_size_and_old_records_still_read() {
        let d = tempfile::tempdir().unwrap();
        // A record as written before `too_large` existed.
        #[derive(Serialize)]
        struct V1<'a> {
            seq: u64,
            wall_ms: i64,
            topic: &'a str,
            payload: &'a [u8],
        }
        let body = postcard::to_stdvec(&V1 {
            seq: 1,
            wall_ms: 5,
            topic: "dc/f/m",
            payload: b"{}",
        })
        .unwrap();
        let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
        bytes.extend(crc32fast::hash(&body).to_le_bytes());
        bytes.extend(&body);
        std::fs::write(d.path().join(WAL_FILE), bytes).unwrap();
        let (mut w, recs) = Wal::open(d.path()).unwrap();
        assert_eq!(recs[0].payload, b"{}");
        assert_eq!(recs[0].too_large, None);
        w.append_too_large(6, "dc/f/m", 100 << 20).unwrap();
        w.sync().unwrap();
        assert!(w.bytes() < 100, "the size, not the payload: {}", w.bytes());
        let (_, recs) = Wal::open(d.path()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].too_large, Some(100 << 20));
        assert!(recs[1].payload.is_empty());
    }

    #[test]
    fn damage_before_the_end_is_refused_with_the_repair_command() {
        let d = tempfile::tempdir().unwrap();
        fill(d.path(), 5);
        let p = d.path().join(WAL_FILE);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[12] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
        let e = Wal::open(d.path()).err().expect("refused").to_string();
        assert!(e.contains("truncate -s 0"), "{e}");
    }
}
