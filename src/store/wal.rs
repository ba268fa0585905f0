//! The write-ahead log of MQTT messages the engine took: each message is appended here and the
//! log is fsync'd (one fsync for every batch waiting: group commit, off the ingest thread) before
//! the batch is acknowledged to the broker. After a crash, the messages after the last checkpoint are replayed.
//!
//! Record: `len: u32 LE | crc32(body): u32 LE | body`, body = postcard of [`WalRecord`].
//! A torn record at the end (a crash mid-write) is cut off with a warning; damage before the
//! end is refused with the exact command that cuts the log at the last good record.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::StoreError;

pub const WAL_FILE: &str = "ingest.wal";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalRecord {
    /// Increasing sequence number; a checkpoint records the last one it includes.
    pub seq: u64,
    /// Wall clock when the message was taken (replay judges `future_timestamp` with it).
    pub wall_ms: i64,
    pub topic: String,
    pub payload: Vec<u8>,
}

pub struct Wal {
    path: PathBuf,
    out: BufWriter<File>,
    /// The same open file, for fsyncs off the ingest thread.
    syncer: WalSyncer,
    next_seq: u64,
    bytes: u64,
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
                syncer,
                path,
                out: BufWriter::with_capacity(1 << 20, f),
                next_seq,
                bytes: pos as u64,
            },
            records,
        ))
    }

    /// Continues numbering after `seq` (the checkpoint's) when the log is empty.
    pub fn continue_after(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq + 1);
    }

    /// Appends one message (buffered); returns its sequence number.
    pub fn append(&mut self, wall_ms: i64, topic: &str, payload: &[u8]) -> Result<u64, StoreError> {
        let seq = self.next_seq;
        let body = postcard::to_stdvec(&WalRecord {
            seq,
            wall_ms,
            topic: topic.to_string(),
            payload: payload.to_vec(),
        })
        .map_err(|e| StoreError::Encode {
            path: self.path.display().to_string(),
            msg: e.to_string(),
        })?;
        let p = self.path.clone();
        self.out
            .write_all(&(body.len() as u32).to_le_bytes())
            .map_err(io(&p))?;
        self.out
            .write_all(&crc32fast::hash(&body).to_le_bytes())
            .map_err(io(&p))?;
        self.out.write_all(&body).map_err(io(&p))?;
        self.next_seq += 1;
        self.bytes += 8 + body.len() as u64;
        Ok(seq)
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let p = self.path.clone();
        self.out.flush().map_err(io(&p))?;
        self.out.get_ref().sync_data().map_err(io(&p))
    }

    /// Hands everything appended so far to the file (not yet durable) and returns what makes it
    /// durable, so the fsync can run off the ingest thread while the next batch is taken.
    pub fn flushed(&mut self) -> Result<WalSyncer, StoreError> {
        let p = self.path.clone();
        self.out.flush().map_err(io(&p))?;
        Ok(self.syncer.clone())
    }

    /// The last sequence number handed out.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Empties the log (after a checkpoint that includes everything in it made it durable).
    pub fn reset(&mut self) -> Result<(), StoreError> {
        let p = self.path.clone();
        self.out.flush().map_err(io(&p))?;
        self.out.get_ref().set_len(0).map_err(io(&p))?;
        self.out.get_ref().sync_all().map_err(io(&p))?;
        self.bytes = 0;
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
    while pos < bytes.len() {
        if bytes.len() - pos < 8 {
            bad = Some(format!("a record header cut short at byte {pos}"));
            break;
        }
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        let end = pos + 8 + len;
        if end > bytes.len() {
            bad = Some(format!("a record cut short at byte {pos}"));
            break;
        }
        let body = &bytes[pos + 8..end];
        if crc32fast::hash(body) != crc {
            bad = Some(format!("a checksum mismatch at byte {pos}"));
            break;
        }
        match postcard::from_bytes::<WalRecord>(body) {
            Ok(r) => records.push(r),
            Err(e) => {
                bad = Some(format!("an undecodable record at byte {pos}: {e}"));
                break;
            }
        }
        pos = end;
    }
    (records, pos, bad)
}

/// The valid records of the log in `dir`, read without changing it (for readers such as the
/// report while or after `serve` runs). Damage ends the read with a warning.
pub fn read_records(dir: &Path) -> Result<Vec<WalRecord>, StoreError> {
    let path = dir.join(WAL_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let (records, _, bad) = parse(&bytes);
    if let Some(why) = bad {
        tracing::warn!(path = %path.display(), "write-ahead log: {why}; read up to there");
    }
    Ok(records)
}

/// Whether a whole, checksum-valid record starts anywhere after `pos`.
fn has_valid_record_after(bytes: &[u8], pos: usize) -> bool {
    (pos + 1..bytes.len().saturating_sub(8)).any(|p| {
        let len = u32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[p + 4], bytes[p + 5], bytes[p + 6], bytes[p + 7]]);
        len > 0
            && p + 8 + len <= bytes.len()
            && crc32fast::hash(&bytes[p + 8..p + 8 + len]) == crc
            && postcard::from_bytes::<WalRecord>(&bytes[p + 8..p + 8 + len]).is_ok()
    })
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
