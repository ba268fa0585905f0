//! A crash-safe on-disk queue of line-protocol lines.
//!
//! Layout of the spool directory:
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: append-only segment files, numbered in order. Each record is
//!   `magic (2 bytes) | length (u32 LE) | CRC32 of length and payload (u32 LE) | payload`
//!   ([`frame::SPOOL`]: the framing, segment names and writer are the ones the write-ahead log
//!   uses, `store::frame`).
//! - `position`: the committed read position (`segment offset`), written to a temporary file,
//!   fsync'd and renamed over the old one (then the directory is fsync'd) after each commit.
//!
//! At open, the records after the committed position are scanned: a torn record at the end of
//! the last segment (a crash in the middle of a write) is truncated with a warning; a corrupt
//! record elsewhere is counted and skipped (the reader finds the next valid record by its magic
//! and CRC). Segments entirely before the committed position are deleted.
//!
//! Durability: [`Spool::append`] writes through a buffer; [`Spool::sync`] makes every appended
//! record durable (flush + fdatasync). A commit first makes the records it passes durable, so
//! the committed position never points beyond data that a power loss could take back.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::store::frame::{self, Frame, FrameWriter, SegmentNames};

/// Segment size after which appends go to a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 8 << 20;
/// The longest record accepted (a line-protocol point is a few hundred bytes).
pub const MAX_RECORD: usize = frame::SPOOL.max_body();

const HEADER: usize = frame::SPOOL.header_len();
const SEGMENTS: SegmentNames = SegmentNames {
    prefix: "",
    suffix: ".seg",
    exact_width: false,
};
/// The write buffer of the active segment.
const BUFFER: usize = 64 << 10;
const POSITION: &str = "position";
const POSITION_TMP: &str = "position.tmp";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A place in the spool: segment id and byte offset of a record boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    seg: u64,
    off: u64,
}

/// The record at `off` of a segment's bytes.
fn parse_at(buf: &[u8], off: usize) -> Frame<'_> {
    frame::SPOOL.parse_at(buf, off)
}

/// The offset of the next valid record after a bad one at `off`, if any.
fn resync(buf: &[u8], off: usize) -> Option<usize> {
    frame::SPOOL.next_valid(buf, off, |_| true)
}

fn seg_name(id: u64) -> String {
    SEGMENTS.name(id)
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    frame::sync_dir(dir).map_err(io_err(dir))
}

/// The queue. Single owner: appends and reads happen on the same object (the sink keeps it on
/// one thread).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    seg_max: u64,
    segments: BTreeSet<u64>,
    active: u64,
    /// The active segment; its length is the write offset.
    writer: FrameWriter,
    unflushed: bool,
    dirty: bool,
    read: Pos,
    cache: Option<(u64, Vec<u8>)>,
    peeked: Vec<Pos>,
    pending: u64,
    corrupt: u64,
    truncated: u64,
    corrupt_seen: Pos,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Spool, SpoolError> {
        Spool::open_with(dir, DEFAULT_SEGMENT_BYTES)
    }

    /// Opens with a given segment size (small ones exercise rotation in tests).
    pub fn open_with(dir: impl AsRef<Path>, segment_bytes: u64) -> Result<Spool, SpoolError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let _ = fs::remove_file(dir.join(POSITION_TMP));
        let mut segments: BTreeSet<u64> = SEGMENTS
            .list(&dir)
            .map_err(io_err(&dir))?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let first = segments.first().copied();
        let mut read = match fs::read_to_string(dir.join(POSITION)) {
            Ok(text) => match parse_position(&text) {
                Some(p) => p,
                None => {
                    tracing::warn!(dir = %dir.display(), "spool position file unreadable: re-sending from the oldest segment");
                    Pos {
                        seg: first.unwrap_or(1),
                        off: 0,
                    }
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Pos {
                seg: first.unwrap_or(1),
                off: 0,
            },
            Err(e) => {
                return Err(SpoolError::Io {
                    path: dir.join(POSITION),
                    source: e,
                })
            }
        };
        // Segments wholly before the committed position were written already.
        for id in segments
            .iter()
            .copied()
            .filter(|&id| id < read.seg)
            .collect::<Vec<_>>()
        {
            let p = dir.join(seg_name(id));
            fs::remove_file(&p).map_err(io_err(&p))?;
            segments.remove(&id);
        }
        if !segments.contains(&read.seg) {
            read = match segments.first() {
                Some(&id) => Pos { seg: id, off: 0 },
                None => {
                    let id = read.seg.max(1);
                    let p = dir.join(seg_name(id));
                    File::create(&p).map_err(io_err(&p))?;
                    sync_dir(&dir)?;
                    segments.insert(id);
                    Pos { seg: id, off: 0 }
                }
            };
        }
        let active = segments.last().copied().unwrap_or(read.seg);
        let active_path = dir.join(seg_name(active));
        let file = OpenOptions::new()
            .append(true)
            .open(&active_path)
            .map_err(io_err(&active_path))?;
        let write_off = file.metadata().map_err(io_err(&active_path))?.len();
        let mut spool = Spool {
            dir,
            seg_max: segment_bytes.max(HEADER as u64 + 1),
            segments,
            active,
            writer: FrameWriter::new(frame::SPOOL, file, write_off, BUFFER),
            unflushed: false,
            dirty: false,
            read,
            cache: None,
            peeked: Vec::new(),
            pending: 0,
            corrupt: 0,
            truncated: 0,
            corrupt_seen: read,
        };
        spool.scan()?;
        Ok(spool)
    }

    /// Counts the pending records, truncates a torn tail of the last segment, counts corrupt
    /// regions.
    fn scan(&mut self) -> Result<(), SpoolError> {
        let ids: Vec<u64> = self.segments.range(self.read.seg..).copied().collect();
        for id in ids {
            let path = self.dir.join(seg_name(id));
            let buf = fs::read(&path).map_err(io_err(&path))?;
            let mut off = 0;
            if id == self.read.seg {
                if self.read.off as usize > buf.len() {
                    tracing::warn!(segment = %path.display(), position = self.read.off, len = buf.len(), "spool: committed position beyond the segment's end");
                    self.read.off = buf.len() as u64;
                }
                off = self.read.off as usize;
            }
            let mut valid_end = off;
            loop {
                match parse_at(&buf, off) {
                    Frame::Record(_, next) => {
                        self.pending += 1;
                        off = next;
                        valid_end = next;
                    }
                    Frame::End => break,
                    Frame::Bad(_) => match resync(&buf, off) {
                        Some(next) => {
                            tracing::warn!(segment = %path.display(), offset = off, bytes = next - off, "spool: corrupt record skipped");
                            self.corrupt += 1;
                            off = next;
                        }
                        None if id == self.active => {
                            tracing::warn!(segment = %path.display(), offset = valid_end, bytes = buf.len() - valid_end, "spool: torn record at the end (a crash while writing) truncated");
                            self.truncated += 1;
                            self.writer
                                .truncate(valid_end as u64)
                                .map_err(io_err(&path))?;
                            break;
                        }
                        None => {
                            tracing::warn!(segment = %path.display(), offset = off, bytes = buf.len() - off, "spool: corrupt end of segment skipped");
                            self.corrupt += 1;
                            break;
                        }
                    },
                }
            }
        }
        self.corrupt_seen = Pos {
            seg: self.active,
            off: self.writer.bytes(),
        };
        Ok(())
    }

    /// Appends lines (buffered: durable after [`Spool::sync`]). A line longer than
    /// [`MAX_RECORD`] is left out with a warning.
    pub fn append(&mut self, lines: &[String]) -> Result<(), SpoolError> {
        for line in lines {
            if line.len() > MAX_RECORD {
                tracing::warn!(bytes = line.len(), "spool: line too long, left out");
                continue;
            }
            if self.writer.bytes() >= self.seg_max {
                self.rotate()?;
            }
            let path = self.dir.join(seg_name(self.active));
            self.writer.append(line.as_bytes()).map_err(io_err(&path))?;
            self.unflushed = true;
            self.dirty = true;
            self.pending += 1;
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        // A cached copy of the segment being closed may miss its last records: reload it.
        if self.cache.as_ref().is_some_and(|(c, _)| *c == self.active) {
            self.cache = None;
        }
        let id = self.active + 1;
        let path = self.dir.join(seg_name(id));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.segments.insert(id);
        self.active = id;
        self.writer = FrameWriter::new(frame::SPOOL, file, 0, BUFFER);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SpoolError> {
        if self.unflushed {
            let path = self.dir.join(seg_name(self.active));
            self.writer.flush().map_err(io_err(&path))?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// Makes every appended record durable (flush and fdatasync).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.flush()?;
        if self.dirty {
            let path = self.dir.join(seg_name(self.active));
            self.writer.sync_data().map_err(io_err(&path))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// True when records were appended since the last [`Spool::sync`].
    pub fn needs_sync(&self) -> bool {
        self.dirty
    }

    /// Content of segment `id`, read once and extended as the active segment grows.
    fn segment(&mut self, id: u64) -> Result<&[u8], SpoolError> {
        if id == self.active {
            self.flush()?;
        }
        let path = self.dir.join(seg_name(id));
        let stale = match &self.cache {
            Some((cid, buf)) => {
                *cid != id || (id == self.active && (buf.len() as u64) < self.writer.bytes())
            }
            None => true,
        };
        if stale {
            match self.cache.take() {
                Some((cid, mut buf)) if cid == id => {
                    let mut f = File::open(&path).map_err(io_err(&path))?;
                    f.seek(SeekFrom::Start(buf.len() as u64))
                        .map_err(io_err(&path))?;
                    f.read_to_end(&mut buf).map_err(io_err(&path))?;
                    self.cache = Some((id, buf));
                }
                _ => {
                    let buf = match fs::read(&path) {
                        Ok(b) => b,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                        Err(e) => return Err(SpoolError::Io { path, source: e }),
                    };
                    self.cache = Some((id, buf));
                }
            }
        }
        Ok(self
            .cache
            .as_ref()
            .map(|(_, b)| b.as_slice())
            .unwrap_or(&[]))
    }

    /// Up to `max` lines from the committed position, oldest first, without removing them;
    /// [`Spool::commit`] or [`Spool::commit_batch`] removes them once written.
    pub fn peek_batch(&mut self, max: usize) -> Result<Vec<String>, SpoolError> {
        self.peeked.clear();
        let mut out = Vec::new();
        let mut pos = self.read;
        while out.len() < max {
            let active = self.active;
            let next_seg = self.segments.range(pos.seg + 1..).next().copied();
            let buf = self.segment(pos.seg)?;
            match parse_at(buf, pos.off as usize) {
                Frame::Record(payload, next) => {
                    out.push(String::from_utf8_lossy(payload).into_owned());
                    pos.off = next as u64;
                    self.peeked.push(pos);
                }
                Frame::End => match next_seg {
                    Some(s) if pos.seg != active => pos = Pos { seg: s, off: 0 },
                    _ => break,
                },
                Frame::Bad(_) => {
                    let found = resync(buf, pos.off as usize);
                    if pos > self.corrupt_seen {
                        tracing::warn!(
                            segment = pos.seg,
                            offset = pos.off,
                            "spool: corrupt record skipped"
                        );
                        self.corrupt += 1;
                        self.corrupt_seen = pos;
                    }
                    match (found, next_seg) {
                        (Some(off), _) => pos.off = off as u64,
                        (None, Some(s)) if pos.seg != active => pos = Pos { seg: s, off: 0 },
                        // Garbage at the end of the active segment: wait for records after it.
                        (None, _) => break,
                    }
                }
            }
        }
        if out.len() < max {
            // The whole queue was seen: correct the count (corrupt records are not pending).
            self.pending = out.len() as u64;
        }
        Ok(out)
    }

    /// Removes the first `n` lines of the last [`Spool::peek_batch`] (after they were written)
    /// and persists the position (fsync'd, atomic rename).
    pub fn commit(&mut self, n: usize) -> Result<(), SpoolError> {
        let n = n.min(self.peeked.len());
        if n == 0 {
            return Ok(());
        }
        let to = self.peeked[n - 1];
        self.peeked.clear();
        if to.seg == self.active && self.dirty {
            self.sync()?;
        }
        let tmp = self.dir.join(POSITION_TMP);
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(format!("{} {}\n", to.seg, to.off).as_bytes())
            .map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        let dst = self.dir.join(POSITION);
        fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        sync_dir(&self.dir)?;
        self.read = to;
        self.pending = self.pending.saturating_sub(n as u64);
        let done: Vec<u64> = self.segments.range(..to.seg).copied().collect();
        for id in done {
            let p = self.dir.join(seg_name(id));
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::Io { path: p, source: e }),
            }
            self.segments.remove(&id);
            if self.cache.as_ref().is_some_and(|(c, _)| *c == id) {
                self.cache = None;
            }
        }
        Ok(())
    }

    /// Removes every line of the last [`Spool::peek_batch`].
    pub fn commit_batch(&mut self) -> Result<(), SpoolError> {
        self.commit(self.peeked.len())
    }

    /// Lines waiting to be written.
    pub fn len(&self) -> u64 {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Corrupt regions found and skipped so far (each counted once).
    pub fn corrupt_records(&self) -> u64 {
        self.corrupt
    }

    /// Torn records truncated at open.
    pub fn truncated_records(&self) -> u64 {
        self.truncated
    }

    /// Number of segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

fn parse_position(text: &str) -> Option<Pos> {
    let mut it = text.split_whitespace();
    let seg = it.next()?.parse().ok()?;
    let off = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some(Pos { seg, off })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("m,t=x v={i} {i}")).collect()
    }

    fn drain(s: &mut Spool) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let b = s.peek_batch(7).expect("peek");
            if b.is_empty() {
                return out;
            }
            s.commit_batch().expect("commit");
            out.extend(b);
        }
    }

    fn seg_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn append_peek_commit_in_order_and_reopen_resumes() {
        let t = tempfile::tempdir().expect("tmp");
        let mut s = Spool::open_with(t.path(), 200).expect("open");
        s.append(&lines(0..50)).expect("append");
        assert_eq!(s.len(), 50);
        assert!(s.segment_count() > 3, "rotated: {}", s.segment_count());
        let b = s.peek_batch(10).expect("peek");
        assert_eq!(b, lines(0..10));
        // Peeking again without commit gives the same lines.
        assert_eq!(s.peek_batch(10).expect("peek"), lines(0..10));
        s.commit(4).expect("commit");
        assert_eq!(s.len(), 46);
        s.sync().expect("sync");
        drop(s);
        let mut s = Spool::open_with(t.path(), 200).expect("reopen");
        assert_eq!(s.len(), 46);
        assert_eq!(drain(&mut s), lines(4..50));
        assert_eq!(s.len(), 0);
        // Old segments are deleted once written.
        assert_eq!(seg_files(t.path()).len(), 1);
        drop(s);
        let mut s = Spool::open_with(t.path(), 200).expect("reopen");
        assert!(s.is_empty());
        assert!(s.peek_batch(10).expect("peek").is_empty());
        s.append(&lines(50..52)).expect("append");
        assert_eq!(drain(&mut s), lines(50..52));
    }

    #[test]
    fn interleaved_appends_reads_and_rotations_keep_every_line_in_order() {
        let t = tempfile::tempdir().expect("tmp");
        let mut s = Spool::open_with(t.path(), 300).expect("open");
        let mut got = Vec::new();
        for i in 0..200 {
            s.append(&lines(i * 3..i * 3 + 3)).expect("append");
            // First lagging behind the appends, then caught up with them.
            let max = if i < 100 { 4 } else { 100 };
            if i % 2 == 0 {
                let b = s.peek_batch(max).expect("peek");
                let n = b.len().min(2 + i % 3).max(b.len().min(max / 2));
                s.commit(n).expect("commit");
                got.extend(b.into_iter().take(n));
            }
            if i == 120 {
                s.sync().expect("sync");
                drop(s);
                s = Spool::open_with(t.path(), 300).expect("reopen");
            }
        }
        got.extend(drain(&mut s));
        assert_eq!(got, lines(0..600));
        assert!(s.segment_count() <= 2, "{}", s.segment_count());
    }

    #[test]
    fn a_segment_read_while_active_is_read_whole_after_rotation() {
        let t = tempfile::tempdir().expect("tmp");
        let l = |i: usize| format!("m,t=x v={i} {i}");
        let mut s = Spool::open_with(t.path(), 60).expect("open");
        s.append(&[l(0), l(1)]).expect("append");
        assert_eq!(s.peek_batch(10).expect("peek"), vec![l(0), l(1)]);
        s.commit_batch().expect("commit");
        s.append(&[l(2)]).expect("append"); // still in the first segment
        s.append(&[l(3)]).expect("append"); // in a new one
        assert_eq!(s.segment_count(), 2);
        assert_eq!(s.peek_batch(10).expect("peek"), vec![l(2), l(3)]);
    }

    #[test]
    fn unsynced_buffer_is_readable_and_survives_drop_after_sync() {
        let t = tempfile::tempdir().expect("tmp");
        let mut s = Spool::open(t.path()).expect("open");
        s.append(&lines(0..3)).expect("append");
        assert!(s.needs_sync());
        assert_eq!(s.peek_batch(100).expect("peek"), lines(0..3));
        s.append(&lines(3..5)).expect("append");
        s.sync().expect("sync");
        assert!(!s.needs_sync());
        std::mem::forget(s); // a crash: no destructor, no flush
        let mut s = Spool::open(t.path()).expect("reopen");
        assert_eq!(drain(&mut s), lines(0..5));
    }

    #[test]
    fn torn_tail_is_truncated_at_open() {
        let t = tempfile::tempdir().expect("tmp");
        let mut s = Spool::open(t.path()).expect("open");
        s.append(&lines(0..5)).expect("append");
        s.sync().expect("sync");
        drop(s);
        let seg = seg_files(t.path()).pop().expect("segment");
        let full = fs::metadata(&seg).expect("meta").len();
        // Half of the last record is missing, as after a crash in the middle of write(2).
        let f = OpenOptions::new().write(true).open(&seg).expect("open seg");
        f.set_len(full - 5).expect("truncate");
        drop(f);
        let mut s = Spool::open(t.path()).expect("reopen");
        assert_eq!(s.truncated_records(), 1);
        assert_eq!(s.corrupt_records(), 0);
        assert_eq!(s.len(), 4);
        // Appends go on after the valid records.
        s.append(&lines(10..11)).expect("append");
        let mut want = lines(0..4);
        want.extend(lines(10..11));
        assert_eq!(drain(&mut s), want);
    }

    #[test]
    fn corrupt_record_in_the_middle_is_counted_and_skipped() {
        let t = tempfile::tempdir().expect("tmp");
        let mut s = Spool::open_with(t.path(), 150).expect("open");
        s.append(&lines(0..20)).expect("append");
        s.sync().expect("sync");
        drop(s);
        let segs = seg_files(t.path());
        assert!(segs.len() >= 3);
        // Flip a payload byte of the first record of the second segment.
        let mut b = fs::read(&segs[1]).expect("read");
        b[HEADER + 3] ^= 0xff;
        fs::write(&segs[1], &b).expect("write");
        // And overwrite the header of a record in the middle of the first segment.
        let mut a = fs::read(&segs[0]).expect("read");
        let rec = HEADER + lines(0..1)[0].len();
        a[rec] = 0;
        fs::write(&segs[0], &a).expect("write");
        let mut s = Spool::open_with(t.path(), 150).expect("reopen");
        assert_eq!(s.corrupt_records(), 2);
        let got = drain(&mut s);
        assert_eq!(got.len(), 18, "{got:?}");
        assert_eq!(got[0], lines(0..1)[0]);
        assert!(!got.contains(&lines(1..2)[0]));
        assert_eq!(got.last(), lines(19..20).last());
        // Counted once, not again on reading.
        assert_eq!(s.corrupt_records(), 2);
    }

    #[test]
    fn a_spool_written_by_hand_in_the_documented_format_reads() {
        // Segments and a position as earlier versions wrote them, byte by byte (no code of
        // this module): magic, length, CRC32 of length and payload, payload.
        let t = tempfile::tempdir().expect("tmp");
        let record = |payload: &str| {
            let len = (payload.len() as u32).to_le_bytes();
            let mut h = crc32fast::Hasher::new();
            h.update(&len);
            h.update(payload.as_bytes());
            let mut r = vec![0xD5, 0xC7];
            r.extend(len);
            r.extend(h.finalize().to_le_bytes());
            r.extend(payload.as_bytes());
            r
        };
        let first: Vec<u8> = ["m v=0 0", "m v=1 1"]
            .iter()
            .flat_map(|p| record(p))
            .collect();
        fs::write(t.path().join("00000000000000000001.seg"), &first).expect("w");
        fs::write(t.path().join("00000000000000000002.seg"), record("m v=2 2")).expect("w");
        // The first record was written already.
        fs::write(
            t.path().join("position"),
            format!("1 {}\n", record("m v=0 0").len()),
        )
        .expect("w");
        let mut s = Spool::open(t.path()).expect("open");
        assert_eq!(s.len(), 2);
        assert_eq!(s.corrupt_records() + s.truncated_records(), 0);
        assert_eq!(drain(&mut s), ["m v=1 1", "m v=2 2"]);
        // What it appends now is in the same format.
        s.append(&["m v=3 3".to_string()]).expect("append");
        s.sync().expect("sync");
        let last = seg_files(t.path()).pop().expect("segment");
        let bytes = fs::read(&last).expect("read");
        assert!(bytes.ends_with(&record("m v=3 3")), "{bytes:?}");
    }

    #[test]
    fn garbage_files_never_panic() {
        let t = tempfile::tempdir().expect("tmp");
        fs::write(
            t.path().join(seg_name(1)),
            b"\xd5\xc7\xff\xff\xff\xffgarbage",
        )
        .expect("w");
        fs::write(t.path().join(seg_name(2)), [0xd5u8; 4000]).expect("w");
        fs::write(t.path().join(POSITION), "not a position").expect("w");
        let mut s = Spool::open(t.path()).expect("open");
        assert_eq!(s.len(), 0);
        assert!(drain(&mut s).is_empty());
        s.append(&lines(0..2)).expect("append");
        assert_eq!(drain(&mut s), lines(0..2));
    }
}
