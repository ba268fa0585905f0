//! `dcpue import` (CONTRACT §13): an offline backfill of one facility's history from a CSV file,
//! like Prometheus's `promtool tsdb create-blocks-from`.
//!
//! The storage directory's writer lock is taken first (a running `serve` holds it: refused).
//! The state is opened as `serve` opens it; each meter's readings older than its first stored
//! reading go through the engine's rules ([`crate::engine::history`]) into its history, and a
//! checkpoint is written through the store's atomic protocol, so the next `serve` and `report`
//! see them.
//!
//! Output (stdout): one line per rejected CSV line (`line N: reason: what`, the first
//! `--max-printed` of them; after that only the counts), then one summary line. Exit status 0
//! once the file was read and its readings judged (rejected lines included), 1 when nothing was
//! imported because the import could not run: the config, the facility, the file (unreadable,
//! too large, wrong header), the storage directory, or the lock held by a running `serve`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::config::{Config, ConfigError};
use crate::engine::history::{Junction, Outcome};
use crate::engine::reading::MIN_TS_MS;
use crate::engine::{Quality, Reading, Reason};
use crate::store::{self, IngestMark, StoreError};

/// `dcpue import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Config file (TOML): the facility's meters and rules, storage.dir holding the state.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The facility whose meters the file's readings belong to.
    #[arg(long)]
    pub facility: String,
    /// CSV file with the header `ts,meter,power_kw,energy_kwh` or
    /// `ts,meter,power_kw,energy_kwh,quality`.
    pub file: PathBuf,
    /// Largest file taken, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub max_bytes: u64,
    /// Rejected lines printed one by one; beyond that, only counted.
    #[arg(long, default_value_t = 1000)]
    pub max_printed: u64,
}

pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;
/// A longer CSV line is `malformed` (a reading's fields take well under 200 bytes).
pub const MAX_LINE_BYTES: usize = 1024;
/// Lines numbered beyond this are not read (line numbers are kept as u32).
const MAX_LINES: u64 = u32::MAX as u64;

const HEADER: [&str; 4] = ["ts", "meter", "power_kw", "energy_kwh"];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("facility {0:?} is not in the config (known: {1})")]
    UnknownFacility(String, String),
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {size} bytes, more than --max-bytes {max}")]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("{path}: line 1: the header must be `ts,meter,power_kw,energy_kwh` or `ts,meter,power_kw,energy_kwh,quality`, found {found:?}")]
    Header { path: String, found: String },
    #[error("{path}: more than {MAX_LINES} lines")]
    TooManyLines { path: String },
    #[error("cannot create the storage directory {path}: {source}")]
    StorageDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
    #[error("{0}: {1} messages were logged after the last checkpoint (serve did not stop cleanly): start `dcpue serve` on it and stop it (it takes them and writes a checkpoint), then import")]
    Unsaved(String, usize),
    #[error("writing the output: {0}")]
    Output(std::io::Error),
}

/// What an import did, as the summary line says it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub rows: u64,
    pub imported: u64,
    pub skipped_stored: u64,
    pub skipped_too_old: u64,
    pub rejected: [u64; Reason::ALL.len()],
    /// Imported readings the register rules then dropped as glitches (counted in `imported`).
    pub glitches: u64,
    /// Meters with readings imported, in config order.
    pub meters: Vec<String>,
    /// First and last imported reading (epoch ms).
    pub period: Option<(i64, i64)>,
    /// Intervals between a meter's last imported and first stored reading: counted, rejected
    /// (by the rules), unknown (a state saved before first readings were kept).
    pub junctions_counted: u64,
    pub junctions_rejected: u64,
    pub junctions_unknown: u64,
}

impl Summary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// The summary line (the last line of the output).
    pub fn line(&self, facility: &str, tz: &chrono_tz::Tz) -> String {
        let fmt = |ms: i64| {
            use chrono::TimeZone;
            tz.timestamp_millis_opt(ms)
                .single()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
                .unwrap_or_else(|| ms.to_string())
        };
        let reasons: Vec<String> = Reason::ALL
            .iter()
            .filter(|r| self.rejected[r.index()] > 0)
            .map(|r| format!("{}={}", r.as_str(), self.rejected[r.index()]))
            .collect();
        format!(
            "summary: facility={facility} rows={} imported={} skipped_already_stored={} skipped_too_old={} rejected={}{} glitch={} meters={} period={} junctions_counted={} junctions_rejected={} junctions_unknown={}",
            self.rows,
            self.imported,
            self.skipped_stored,
            self.skipped_too_old,
            self.rejected_total(),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(" "))
            },
            self.glitches,
            if self.meters.is_empty() {
                "-".into()
            } else {
                self.meters.join(",")
            },
            self.period
                .map_or("-".into(), |(a, b)| format!("{}/{}", fmt(a), fmt(b))),
            self.junctions_counted,
            self.junctions_rejected,
            self.junctions_unknown,
        )
    }
}

/// One rejected line.
struct Rejection {
    line: u32,
    reason: Reason,
    what: String,
}

/// Prints rejections, the first `max` of them; counts all.
struct Rejections<'a> {
    out: &'a mut dyn Write,
    printed: u64,
    max: u64,
}

impl Rejections<'_> {
    fn report(&mut self, r: &Rejection) -> Result<(), ImportError> {
        self.printed += 1;
        if self.printed <= self.max {
            writeln!(self.out, "line {}: {}: {}", r.line, r.reason, r.what)
                .map_err(ImportError::Output)?;
        } else if self.printed == self.max + 1 {
            writeln!(
                self.out,
                "(more rejected lines: only counted from here on, see the summary)"
            )
            .map_err(ImportError::Output)?;
        }
        Ok(())
    }
}

/// Runs `dcpue import`, printing to stdout.
pub fn run_import(args: &ImportArgs) -> Result<Summary, ImportError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let s = import(args, &mut out, crate::serve::now_ms())?;
    out.flush().map_err(ImportError::Output)?;
    Ok(s)
}

/// The import, writing its report to `out`; `wall_now_ms` decides `future_timestamp`.
pub fn import(
    args: &ImportArgs,
    out: &mut dyn Write,
    wall_now_ms: i64,
) -> Result<Summary, ImportError> {
    let cfg = Config::load(&args.config)?;
    let Some(fi) = cfg.facilities.iter().position(|f| f.id() == args.facility) else {
        let known: Vec<&str> = cfg.facilities.iter().map(|f| f.id()).collect();
        return Err(ImportError::UnknownFacility(
            args.facility.clone(),
            known.join(", "),
        ));
    };
    let path = args.file.display().to_string();
    let read_err = |source| ImportError::Read {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&args.file).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size > args.max_bytes {
        return Err(ImportError::TooLarge {
            path,
            size,
            max: args.max_bytes,
        });
    }
    // Writers of the directory take its lock first: not while a `serve` runs on it.
    let dir = &cfg.storage.dir;
    std::fs::create_dir_all(dir).map_err(|source| ImportError::StorageDir {
        path: dir.display().to_string(),
        source,
    })?;
    let _lock = store::lock::lock_dir(dir, "import")?;

    // The whole file is read before the state is opened: a file that cannot be read changes
    // nothing on disk.
    let mut rejections = Rejections {
        out,
        printed: 0,
        max: args.max_printed,
    };
    let mut summary = Summary::default();
    let per_meter = read_csv(
        file,
        &path,
        &cfg.facilities[fi],
        &mut summary,
        &mut rejections,
    )?;

    // The alert history first, as `serve` opens it at start: created in a directory that holds
    // no state yet (an import before the first `serve`, which would otherwise refuse a state
    // without its history), refused with the repair where it is missing from one that does.
    drop(crate::alerts::history::AlertHistory::open_at_start(dir)?);
    let store::Opened {
        mut engine,
        mark,
        mut wal,
        replay,
        fell_back,
    } = store::open(&cfg)?;
    if !replay.is_empty() {
        return Err(ImportError::Unsaved(
            dir.display().to_string(),
            replay.len(),
        ));
    }

    // Judged and taken, meter by meter, in time order.
    let mut readings: Vec<Vec<Reading>> = Vec::with_capacity(per_meter.len());
    let mut lines: Vec<Vec<u32>> = Vec::with_capacity(per_meter.len());
    for mut rows in per_meter {
        rows.sort_by_key(|(r, _)| r.ts);
        let (r, l): (Vec<Reading>, Vec<u32>) = rows.into_iter().unzip();
        readings.push(r);
        lines.push(l);
    }
    let results = engine.import_history(fi, &readings, wall_now_ms);
    let mut late = Vec::new();
    let fcfg = &cfg.facilities[fi];
    for (mi, res) in results.iter().enumerate() {
        let mut any = false;
        for (k, o) in res.outcomes.iter().enumerate() {
            let r = &readings[mi][k];
            match o {
                Outcome::Imported => {
                    any = true;
                    summary.imported += 1;
                    summary.period = Some(match summary.period {
                        None => (r.ts, r.ts),
                        Some((a, b)) => (a.min(r.ts), b.max(r.ts)),
                    });
                }
                Outcome::AlreadyStored => summary.skipped_stored += 1,
                Outcome::TooOld => summary.skipped_too_old += 1,
                Outcome::Rejected(reason) => {
                    summary.rejected[reason.index()] += 1;
                    late.push(Rejection {
                        line: lines[mi][k],
                        reason: *reason,
                        what: format!(
                            "meter {} at {}",
                            fcfg.meters[mi].id(),
                            chrono::DateTime::from_timestamp_millis(r.ts).map_or_else(
                                || r.ts.to_string(),
                                |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                            )
                        ),
                    });
                }
            }
        }
        summary.glitches += res.glitches;
        match res.junction {
            Junction::None => {}
            Junction::Counted => summary.junctions_counted += 1,
            Junction::Rejected(_) => summary.junctions_rejected += 1,
            Junction::Unknown => summary.junctions_unknown += 1,
        }
        if any {
            summary.meters.push(fcfg.meters[mi].id().to_string());
        }
    }
    late.sort_by_key(|r| r.line);
    for r in &late {
        rejections.report(r)?;
    }

    // Durable before the summary says so: the checkpoint, as `serve` writes it at a clean stop
    // (also when the previous checkpoint stood in for a damaged one, as `serve` does at start).
    if summary.imported > 0 || fell_back {
        wal.sync()?;
        let mark = IngestMark {
            wal_seq: wal.last_seq(),
            ..mark
        };
        wal.rotate()?;
        store::checkpoint(dir, &engine, &mark)?;
        wal.checkpointed_at(mark.wal_seq)?;
    }
    store::stopped_cleanly(dir, wal.last_seq())?;
    let line = summary.line(fcfg.id(), &cfg.timezone());
    writeln!(rejections.out, "{line}").map_err(ImportError::Output)?;
    Ok(summary)
}

/// Reads the CSV: per meter of the facility, its readings with their line numbers. Lines
/// rejected before the engine (malformed, unknown meter) are reported and counted here.
#[allow(clippy::type_complexity)]
fn read_csv(
    file: std::fs::File,
    path: &str,
    facility: &crate::config::FacilityConfig,
    summary: &mut Summary,
    rejections: &mut Rejections<'_>,
) -> Result<Vec<Vec<(Reading, u32)>>, ImportError> {
    // Meters in config order: the engine's order.
    let meters: rustc_hash::FxHashMap<&str, usize> = facility
        .meters
        .iter()
        .enumerate()
        .map(|(k, m)| (m.id(), k))
        .collect();
    let mut per_meter: Vec<Vec<(Reading, u32)>> = vec![Vec::new(); meters.len()];
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let mut rec = csv::ByteRecord::new();
    let read_err = |e: csv::Error| ImportError::Read {
        path: path.to_string(),
        source: match e.into_kind() {
            csv::ErrorKind::Io(e) => e,
            other => std::io::Error::other(format!("{other:?}")),
        },
    };
    // The header.
    let found = match rdr.read_byte_record(&mut rec) {
        Ok(true) => rec
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect::<Vec<_>>(),
        Ok(false) => Vec::new(),
        Err(e) => return Err(read_err(e)),
    };
    let with_quality = match found.len() {
        4 => false,
        5 if found[4] == "quality" => true,
        _ => {
            return Err(ImportError::Header {
                path: path.to_string(),
                found: found.join(",").chars().take(200).collect(),
            })
        }
    };
    if found[..4] != HEADER {
        return Err(ImportError::Header {
            path: path.to_string(),
            found: found.join(",").chars().take(200).collect(),
        });
    }
    let fields = found.len();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(read_err(e)),
        }
        let line_no = rec.position().map_or(0, |p| p.line());
        if line_no > MAX_LINES {
            return Err(ImportError::TooManyLines {
                path: path.to_string(),
            });
        }
        let line = line_no as u32;
        summary.rows += 1;
        match parse_row(&rec, fields, with_quality, &meters, facility.id()) {
            Ok((mi, r)) => per_meter[mi].push((r, line)),
            Err((reason, what)) => {
                summary.rejected[reason.index()] += 1;
                rejections.report(&Rejection { line, reason, what })?;
            }
        }
    }
    Ok(per_meter)
}

/// One CSV record as a reading of one of the facility's meters, or why not.
fn parse_row(
    rec: &csv::ByteRecord,
    fields: usize,
    with_quality: bool,
    meters: &rustc_hash::FxHashMap<&str, usize>,
    facility: &str,
) -> Result<(usize, Reading), (Reason, String)> {
    let malformed = |what: String| (Reason::Malformed, what);
    if rec.as_slice().len() > MAX_LINE_BYTES {
        return Err(malformed(format!("longer than {MAX_LINE_BYTES} bytes")));
    }
    if rec.len() != fields {
        return Err(malformed(format!(
            "{} fields, the header has {fields}",
            rec.len()
        )));
    }
    let text = |i: usize| std::str::from_utf8(&rec[i]).map(str::trim);
    let meter = text(1).map_err(|_| malformed("meter: not UTF-8".into()))?;
    let Some(&mi) = meters.get(meter) else {
        return Err((
            Reason::UnknownMeter,
            format!(
                "meter {:?} is not a meter of facility {facility}",
                meter.chars().take(64).collect::<String>()
            ),
        ));
    };
    let ts_text = text(0).map_err(|_| malformed("ts: not UTF-8".into()))?;
    let ts = parse_ts(ts_text).map_err(|why| {
        malformed(format!(
            "ts {:?}: {why}",
            ts_text.chars().take(64).collect::<String>()
        ))
    })?;
    let value = |i: usize, name: &str| -> Result<Option<f64>, (Reason, String)> {
        let t = text(i).map_err(|_| malformed(format!("{name}: not UTF-8")))?;
        if t.is_empty() {
            return Ok(None);
        }
        t.parse::<f64>().map(Some).map_err(|_| {
            malformed(format!(
                "{name} {:?} is not a number",
                t.chars().take(64).collect::<String>()
            ))
        })
    };
    let power_kw = value(2, "power_kw")?;
    let energy_kwh = value(3, "energy_kwh")?;
    if power_kw.is_none() && energy_kwh.is_none() {
        return Err(malformed("neither power_kw nor energy_kwh".into()));
    }
    if [power_kw, energy_kwh]
        .iter()
        .flatten()
        .any(|v| !v.is_finite() || *v < 0.0)
    {
        return Err((
            Reason::InvalidValue,
            "a value is negative or not finite".into(),
        ));
    }
    let quality = if with_quality {
        match text(4).map_err(|_| malformed("quality: not UTF-8".into()))? {
            "" | "metered" => Quality::Metered,
            "estimated" => Quality::Estimated,
            "manual" => Quality::Manual,
            other => {
                return Err(malformed(format!(
                    "quality {:?}: not metered, estimated or manual",
                    other.chars().take(64).collect::<String>()
                )))
            }
        }
    } else {
        Quality::Metered
    };
    Ok((
        mi,
        Reading {
            ts,
            power_kw,
            energy_kwh,
            quality,
        },
    ))
}

/// `ts` as CONTRACT §3 takes it: RFC 3339 with an offset, or integer epoch milliseconds, not
/// before 2000-01-01 (else `malformed`, as live).
pub fn parse_ts(s: &str) -> Result<i64, &'static str> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let ms = s
            .parse::<i64>()
            .ok()
            .filter(|ms| *ms <= MAX_TS_MS)
            .ok_or("epoch milliseconds out of range")?;
        return before_2000(ms);
    }
    let ms = chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| "neither RFC 3339 with an offset nor integer epoch milliseconds")?;
    before_2000(ms)
}

fn before_2000(ms: i64) -> Result<i64, &'static str> {
    if ms < MIN_TS_MS {
        return Err("before 2000-01-01 (epoch seconds sent as milliseconds?)");
    }
    Ok(ms)
}

/// 9999-12-31T23:59:59.999Z, the last time RFC 3339 writes.
const MAX_TS_MS: i64 = 253_402_300_799_999;
