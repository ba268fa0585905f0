//! One framed, segmented log on disk, shared by the write-ahead log ([`super::wal`]) and the
//! InfluxDB spool (`sinks::spool`): records framed with their length and a CRC32, appended
//! through a buffer to numbered segment files, read back whole, a damaged record found by its
//! frame, and `fsync` of the directory after a rename or a new file.
//!
//! The two logs keep their own on-disk formats (files written by earlier versions still read,
//! byte for byte), described by a [`Framing`]:
//! - [`WAL`]: `len: u32 LE | crc32(body): u32 LE | body`;
//! - [`SPOOL`]: `magic 0xD5 0xC7 | len: u32 LE | crc32(len bytes, body): u32 LE | body`, a body
//!   at most 1 MiB.
//!
//! What a log does with a damaged record is its own policy (the write-ahead log refuses damage
//! before its end, the spool skips it): this module only says where and what the damage is.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How records are framed in one log's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Bytes every frame starts with (lets a reader find the next frame after damage).
    magic: Option<[u8; 2]>,
    /// Whether the CRC covers the length bytes too (else the body only).
    crc_covers_len: bool,
    /// The longest body accepted when reading.
    max_body: usize,
}

/// The write-ahead log's frames (`store::wal`).
pub const WAL: Framing = Framing {
    magic: None,
    crc_covers_len: false,
    max_body: u32::MAX as usize,
};

/// The InfluxDB spool's frames (`sinks::spool`).
pub const SPOOL: Framing = Framing {
    magic: Some([0xD5, 0xC7]),
    crc_covers_len: true,
    max_body: 1 << 20,
};

/// One frame read at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole, checksum-valid record: its body and the offset just after it.
    Record(&'a [u8], usize),
    /// The offset is at (or past) the end of the bytes.
    End,
    /// No valid record starts at the offset.
    Bad(Damage),
}

/// Why no valid record starts at an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Fewer bytes left than a header.
    HeaderCut,
    /// The header does not start with the magic bytes.
    NoMagic,
    /// The length is over the framing's limit.
    TooLong,
    /// The body runs past the end of the bytes.
    BodyCut,
    /// The CRC does not match.
    Checksum,
}

impl Framing {
    /// Bytes before the body.
    pub const fn header_len(&self) -> usize {
        match self.magic {
            Some(_) => 10,
            None => 8,
        }
    }

    /// The longest body accepted when reading.
    pub const fn max_body(&self) -> usize {
        self.max_body
    }

    fn crc(&self, len: [u8; 4], body: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        if self.crc_covers_len {
            h.update(&len);
        }
        h.update(body);
        h.finalize()
    }

    /// The header of a frame holding `body`, and how many of its bytes are used.
    fn header(&self, body: &[u8]) -> ([u8; 10], usize) {
        let len = (body.len() as u32).to_le_bytes();
        let crc = self.crc(len, body).to_le_bytes();
        let mut h = [0u8; 10];
        let mut at = 0;
        if let Some(m) = self.magic {
            h[..2].copy_from_slice(&m);
            at = 2;
        }
        h[at..at + 4].copy_from_slice(&len);
        h[at + 4..at + 8].copy_from_slice(&crc);
        (h, at + 8)
    }

    /// Writes the frame of `body` (header, then body) to `out`; returns its length in bytes.
    pub fn write_to(&self, body: &[u8], out: &mut impl Write) -> io::Result<u64> {
        let (h, n) = self.header(body);
        out.write_all(&h[..n])?;
        out.write_all(body)?;
        Ok((n + body.len()) as u64)
    }

    /// Appends the frame of `body` to `out`.
    pub fn encode(&self, body: &[u8], out: &mut Vec<u8>) {
        let (h, n) = self.header(body);
        out.extend_from_slice(&h[..n]);
        out.extend_from_slice(body);
    }

    /// The frame starting at `off` in `buf`.
    pub fn parse_at<'a>(&self, buf: &'a [u8], off: usize) -> Frame<'a> {
        let Some(rest) = buf.get(off..) else {
            return Frame::End;
        };
        if rest.is_empty() {
            return Frame::End;
        }
        let header = self.header_len();
        if rest.len() < header {
            return Frame::Bad(Damage::HeaderCut);
        }
        let at = match self.magic {
            Some(m) if rest[..2] != m => return Frame::Bad(Damage::NoMagic),
            Some(_) => 2,
            None => 0,
        };
        let len_bytes = [rest[at], rest[at + 1], rest[at + 2], rest[at + 3]];
        let len = u32::from_le_bytes(len_bytes) as usize;
        let crc = u32::from_le_bytes([rest[at + 4], rest[at + 5], rest[at + 6], rest[at + 7]]);
        if len > self.max_body {
            return Frame::Bad(Damage::TooLong);
        }
        if rest.len() - header < len {
            return Frame::Bad(Damage::BodyCut);
        }
        let body = &rest[header..header + len];
        if self.crc(len_bytes, body) != crc {
            return Frame::Bad(Damage::Checksum);
        }
        Frame::Record(body, off + header + len)
    }

    /// The offset of the first whole, checksum-valid record after `off` whose body `accept`s,
    /// if any (how a reader tells damage in the middle from a torn end, or skips damage).
    pub fn next_valid(
        &self,
        buf: &[u8],
        off: usize,
        accept: impl Fn(&[u8]) -> bool,
    ) -> Option<usize> {
        let header = self.header_len();
        let mut i = off + 1;
        while i + header <= buf.len() {
            let starts = match self.magic {
                Some(m) => buf[i] == m[0] && buf[i + 1] == m[1],
                None => true,
            };
            if starts {
                if let Frame::Record(body, _) = self.parse_at(buf, i) {
                    if accept(body) {
                        return Some(i);
                    }
                }
            }
            i += 1;
        }
        None
    }
}

/// How one log names its numbered segment files: `<prefix><id, 20 digits><suffix>`.
#[derive(Debug, Clone, Copy)]
pub struct SegmentNames {
    pub prefix: &'static str,
    pub suffix: &'static str,
    /// Whether a name must carry exactly 20 digits to count (else any number does, as the spool
    /// always read them).
    pub exact_width: bool,
}

impl SegmentNames {
    /// The file name of segment `id`.
    pub fn name(&self, id: u64) -> String {
        format!("{}{id:020}{}", self.prefix, self.suffix)
    }

    /// The segment id a file name stands for, if it is one of this log's segments.
    pub fn parse(&self, name: &str) -> Option<u64> {
        let num = name.strip_prefix(self.prefix)?.strip_suffix(self.suffix)?;
        if self.exact_width && !(num.len() == 20 && num.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        num.parse::<u64>().ok()
    }

    /// The segments in `dir`, in order: (id, path). A missing directory holds none.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = self.parse(name) {
                out.push((id, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A segment's bytes; a missing file reads as empty.
pub fn read_segment(path: &Path) -> io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// fsync of a directory (makes renames and new files in it durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// The active segment, appended to through a buffer: [`FrameWriter::flush`] hands what was
/// appended to the file, [`FrameWriter::sync_data`] makes it durable.
#[derive(Debug)]
pub struct FrameWriter {
    framing: Framing,
    out: BufWriter<File>,
    /// The segment's length, appends included.
    bytes: u64,
}

impl FrameWriter {
    /// Appends to `file` (opened for append, `bytes` long) through a buffer of `capacity`.
    pub fn new(framing: Framing, file: File, bytes: u64, capacity: usize) -> FrameWriter {
        FrameWriter {
            framing,
            out: BufWriter::with_capacity(capacity, file),
            bytes,
        }
    }

    /// Appends one record (buffered); returns the frame's length in bytes.
    pub fn append(&mut self, body: &[u8]) -> io::Result<u64> {
        let n = self.framing.write_to(body, &mut self.out)?;
        self.bytes += n;
        Ok(n)
    }

    /// Hands everything appended to the file (not yet durable).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes, then fdatasync of the segment.
    pub fn sync_data(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// The open segment file.
    pub fn file(&self) -> &File {
        self.out.get_ref()
    }

    /// The segment's length, appends included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Cuts the segment (nothing buffered) to `len` bytes, durably (a torn end found at open).
    pub fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().set_len(len)?;
        self.out.get_ref().sync_all()?;
        self.bytes = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_the_formats_the_logs_always_wrote() {
        let body = b"hello";
        let crc_body = crc32fast::hash(body).to_le_bytes();
        // Write-ahead log: len | crc32(body) | body.
        let mut want = 5u32.to_le_bytes().to_vec();
        want.extend(crc_body);
        want.extend(body);
        let mut got = Vec::new();
        WAL.encode(body, &mut got);
        assert_eq!(got, want);
        // Spool: magic | len | crc32(len, body) | body.
        let mut h = crc32fast::Hasher::new();
        h.update(&5u32.to_le_bytes());
        h.update(body);
        let mut want = vec![0xD5, 0xC7];
        want.extend(5u32.to_le_bytes());
        want.extend(h.finalize().to_le_bytes());
        want.extend(body);
        let mut got = Vec::new();
        SPOOL.encode(body, &mut got);
        assert_eq!(got, want);
        let mut written = Vec::new();
        assert_eq!(SPOOL.write_to(body, &mut written).unwrap(), 15);
        assert_eq!(written, want);
    }

    #[test]
    fn damage_is_named() {
        for f in [WAL, SPOOL] {
            let mut buf = Vec::new();
            f.encode(b"one", &mut buf);
            let second = buf.len();
            f.encode(b"two", &mut buf);
            assert_eq!(f.parse_at(&buf, 0), Frame::Record(b"one", second));
            assert_eq!(f.parse_at(&buf, buf.len()), Frame::End);
            assert_eq!(
                f.parse_at(&buf[..second + 3], second),
                Frame::Bad(Damage::HeaderCut)
            );
            assert_eq!(
                f.parse_at(&buf[..buf.len() - 1], second),
                Frame::Bad(Damage::BodyCut)
            );
            let mut flipped = buf.clone();
            *flipped.last_mut().unwrap() ^= 1;
            assert_eq!(f.parse_at(&flipped, second), Frame::Bad(Damage::Checksum));
            assert_eq!(f.next_valid(&flipped, 0, |_| true), None);
            let mut first_bad = buf.clone();
            first_bad[f.header_len()] ^= 1;
            assert_eq!(f.next_valid(&first_bad, 0, |_| true), Some(second));
            assert_eq!(f.next_valid(&first_bad, 0, |b| b != b"two"), None);
        }
        assert_eq!(
            SPOOL.parse_at(b"xx_________", 0),
            Frame::Bad(Damage::NoMagic)
        );
        let mut long = vec![0xD5, 0xC7];
        long.extend(((1u32 << 20) + 1).to_le_bytes());
        long.extend([0; 4]);
        assert_eq!(SPOOL.parse_at(&long, 0), Frame::Bad(Damage::TooLong));
    }

    #[test]
    fn segment_names() {
        let wal = SegmentNames {
            prefix: "ingest.wal.",
            suffix: "",
            exact_width: true,
        };
        assert_eq!(wal.name(7), "ingest.wal.00000000000000000007");
        assert_eq!(wal.parse("ingest.wal.00000000000000000007"), Some(7));
        assert_eq!(wal.parse("ingest.wal.7"), None);
        assert_eq!(wal.parse("ingest.wal.next"), None);
        assert_eq!(wal.parse("ingest.wal"), None);
        let spool = SegmentNames {
            prefix: "",
            suffix: ".seg",
            exact_width: false,
        };
        assert_eq!(spool.name(3), "00000000000000000003.seg");
        assert_eq!(spool.parse("00000000000000000003.seg"), Some(3));
        assert_eq!(spool.parse("3.seg"), Some(3));
        assert_eq!(spool.parse("position"), None);
    }
}
