//! `dcpue report` (CONTRACT §7): the compliance report a regulator files, from dcpue's stored
//! history: per facility the period's PUE against its ceiling, how complete the data was, the
//! GB 40879 grade, renewable share, a row per calendar month and the alerts of the period; a
//! summary per tier. CSV and JSON for machines, Markdown for e-mail, HTML for print (A4).
//!
//! Reproducible: the same history and config give byte-identical output but for the one
//! `generated_at` line or field.

pub mod alerts;
pub mod compute;
pub mod render;
pub mod targets;
pub mod time;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use clap::{Args, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::engine::Engine;
use crate::store::StoreError;

pub use alerts::{AlertRecord, AlertRow, AlertsReadError, ALERTS_FILE};
pub use compute::{
    build_report, build_report_with_progress, FacilityReport, Gap, Measured, MonthRow, Period,
    Report, TierSummary,
};
pub use render::{render, render_csv, render_html, render_json, render_markdown, CSV_HEADER};
pub use time::month_bounds;

/// Errors of `dcpue report`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no stored history in {dir}: {file} does not exist (run `dcpue serve --config …` with this storage.dir first, or pass --url of a running instance)")]
    NoState { dir: String, file: String },
    #[error("stored history: {0}")]
    Store(#[from] StoreError),
    #[error("--{arg} {value:?}: {source}")]
    Time {
        arg: &'static str,
        value: String,
        source: TimeError,
    },
    #[error("the period is empty: --from {from} is not before --to {to}")]
    EmptyPeriod { from: String, to: String },
    #[error("--facility {0:?}: no such facility in the config (known: {1})")]
    UnknownFacility(String, String),
    #[error("alert history {path}: {source}")]
    Alerts {
        path: String,
        source: AlertsReadError,
    },
    #[error("{url}: {source}")]
    Http { url: String, source: HttpError },
    #[error("{path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Why a period bound does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("use YYYY, YYYY-MM, YYYY-MM-DD or RFC 3339 (2025-01-01T00:00:00+08:00)")]
    Format,
    #[error("no such date")]
    NoSuchDate,
    #[error("no such time")]
    NoSuchTime,
    #[error("local midnight does not exist in {0}")]
    NoLocalMidnight(&'static str),
}

/// Why reading a running instance (`--url`) failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("HTTP {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not the records asked for (a field missing or of another type).
    #[error("unexpected answer: {0}")]
    Unexpected(serde_json::Error),
    #[error("the instance answered: {0}")]
    Remote(String),
    #[error("no point in the answer")]
    NoPoint,
    #[error("{0}")]
    Runtime(std::io::Error),
    #[error("the HTTP reader panicked")]
    Panicked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Md,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Chinese with English alongside.
    Zh,
    /// English only.
    En,
}

/// `dcpue report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Config file (TOML): facilities, timezone, storage.dir holding the history.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Start of the period: YYYY, YYYY-MM, YYYY-MM-DD (calendar, in engine.timezone) or RFC 3339.
    #[arg(long)]
    pub from: String,
    /// End of the period. YYYY, YYYY-MM and YYYY-MM-DD are inclusive (`--from 2025-01 --to
    /// 2025-12` is the year 2025); an RFC 3339 time is the exclusive end.
    #[arg(long)]
    pub to: String,
    /// Only these facilities (repeatable; default: all, in config order).
    #[arg(long = "facility")]
    pub facilities: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Labels of HTML and Markdown: zh (Chinese with English alongside) or en.
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    pub lang: Lang,
    /// Read the history from a running instance's HTTP API instead of storage.dir.
    #[arg(long)]
    pub url: Option<String>,
    /// Write to this file (default: stdout).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// Parses a period bound: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` (local calendar in `tz`; as an end,
/// the end of that year, month or day) or RFC 3339.
pub fn parse_bound(s: &str, tz: Tz, end: bool) -> Result<i64, TimeError> {
    parse_edge(s, tz, if end { Edge::End } else { Edge::Start })
}

fn parse_edge(s: &str, tz: Tz, edge: Edge) -> Result<i64, TimeError> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, len: usize| -> Result<u32, TimeError> {
        if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TimeError::Format);
        }
        p.parse::<u32>().map_err(|_| TimeError::Format)
    };
    let (date, next) = match parts.as_slice() {
        [y] => {
            let y = num(y, 4)? as i32;
            (
                NaiveDate::from_ymd_opt(y, 1, 1),
                NaiveDate::from_ymd_opt(y + 1, 1, 1),
            )
        }
        [y, m] => {
            let (y, m) = (num(y, 4)? as i32, num(m, 2)?);
            let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (
                NaiveDate::from_ymd_opt(y, m, 1),
                NaiveDate::from_ymd_opt(next.0, next.1, 1),
            )
        }
        [y, m, d] => {
            let day = NaiveDate::from_ymd_opt(num(y, 4)? as i32, num(m, 2)?, num(d, 2)?);
            (day, day.and_then(|d| d.succ_opt()))
        }
        _ => return Err(TimeError::Format),
    };
    let day = match edge {
        Edge::Start => date,
        Edge::End => date.and(next),
    }
    .ok_or(TimeError::NoSuchDate)?;
    let local = day.and_hms_opt(0, 0, 0).ok_or(TimeError::NoSuchTime)?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| TimeError::NoLocalMidnight(tz.name()))
}

/// The engine as stored in `storage.dir`, with `cfg`'s roles and weights applied (CONTRACT §4).
pub fn load_engine(cfg: &Config) -> Result<Engine, ReportError> {
    let dir = &cfg.storage.dir;
    let Some(recovered) = crate::store::recover_for_reading(cfg)? else {
        return Err(ReportError::NoState {
            dir: dir.display().to_string(),
            file: crate::store::state_path(dir).display().to_string(),
        });
    };
    // The messages logged after the checkpoint, taken again as `serve` takes them at start.
    let mut engine = recovered.engine;
    let routes = crate::ingest::gateway::Routes::new(cfg);
    for rec in &recovered.replay {
        crate::ingest::take::take_record(&mut engine, &routes, rec, &mut |_| {});
    }
    engine.advance(&mut |_| {});
    Ok(engine)
}

/// The alerts kept in `<storage.dir>/alerts.redb` by the alerts module (see [`alerts::load`]).
pub fn load_alert_history(cfg: &Config) -> Result<Vec<AlertRecord>, ReportError> {
    alerts::load(cfg).map_err(|source| ReportError::Alerts {
        path: cfg.storage.dir.join(ALERTS_FILE).display().to_string(),
        source,
    })
}

fn progress_bar(len: u64, what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    Some(pb)
}

/// `dcpue report`: reads the history, builds the report, writes it.
pub fn run_report(args: &ReportArgs) -> Result<(), ReportError> {
    let cfg = Config::load(&args.config)?;
    let tz = cfg.timezone();
    let from = parse_edge(&args.from, tz, Edge::Start).map_err(|source| ReportError::Time {
        arg: "from",
        value: args.from.clone(),
        source,
    })?;
    let to = parse_edge(&args.to, tz, Edge::End).map_err(|source| ReportError::Time {
        arg: "to",
        value: args.to.clone(),
        source,
    })?;
    if from >= to {
        return Err(ReportError::EmptyPeriod {
            from: time::fmt_time(tz, from),
            to: time::fmt_time(tz, to),
        });
    }
    for id in &args.facilities {
        if cfg.facility(id).is_none() {
            let known: Vec<&str> = cfg.facilities.iter().map(|f| f.id()).collect();
            return Err(ReportError::UnknownFacility(id.clone(), known.join(", ")));
        }
    }
    let only = (!args.facilities.is_empty()).then_some(args.facilities.as_slice());
    let mut report = match &args.url {
        Some(url) => remote::build(&cfg, url, from, to, only)?,
        None => {
            let spinner = std::io::stderr().is_terminal().then(|| {
                let pb = indicatif::ProgressBar::new_spinner();
                pb.set_message(format!(
                    "reading history from {}",
                    crate::store::state_path(&cfg.storage.dir).display()
                ));
                pb.enable_steady_tick(std::time::Duration::from_millis(120));
                pb
            });
            let engine = load_engine(&cfg)?;
            let alerts = load_alert_history(&cfg)?;
            if let Some(pb) = &spinner {
                pb.finish_and_clear();
            }
            let pb = progress_bar(
                only.map_or(cfg.facilities.len(), <[String]>::len) as u64,
                "computing",
            );
            let r = build_report_with_progress(&engine, from, to, only, &alerts, &mut |d, _| {
                if let Some(pb) = &pb {
                    pb.set_position(d as u64);
                }
            });
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            r
        }
    };
    report.config_path = Some(args.config.display().to_string());
    report.generated_at = Some(time::fmt_time(tz, chrono::Utc::now().timestamp_millis()));
    let text = render(&report, args.format, args.lang);
    match &args.out {
        Some(path) => std::fs::write(path, text.as_bytes()).map_err(|source| ReportError::Write {
            path: path.display().to_string(),
            source,
        }),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|source| ReportError::Write {
                    path: "stdout".into(),
                    source,
                })
        }
    }
}

mod remote;

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tz = chrono_tz::Asia::Shanghai;

    fn utc(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .unwrap_or(i64::MIN)
    }

    #[test]
    fn calendar_bounds_are_local_midnights_and_ends_are_inclusive() {
        assert_eq!(
            parse_bound("2026-01", SH, false),
            Ok(utc("2025-12-31T16:00:00Z"))
        );
        assert_eq!(
            parse_bound("2025-12", SH, true),
            Ok(utc("2025-12-31T16:00:00Z"))
        );
        assert_eq!(
            parse_bound("2025-02-28", SH, true),
            Ok(utc("2025-02-28T16:00:00Z"))
        );
        assert_eq!(
            parse_bound("2025", SH, false),
            Ok(utc("2024-12-31T16:00:00Z"))
        );
        assert_eq!(
            parse_bound("2025", SH, true),
            Ok(utc("2025-12-31T16:00:00Z"))
        );
        // RFC 3339 is exact, also as an end.
        assert_eq!(
            parse_bound("2025-03-01T12:30:00+08:00", SH, true),
            Ok(utc("2025-03-01T04:30:00Z"))
        );
        for bad in [
            "2025-13",
            "2025-02-30",
            "25-01",
            "yesterday",
            "2025/01/01",
            "",
        ] {
            assert!(parse_bound(bad, SH, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_split_at_local_month_starts() {
        let m = month_bounds(
            SH,
            utc("2025-01-15T00:00:00+08:00"),
            utc("2025-03-10T00:00:00+08:00"),
        );
        let labels: Vec<&str> = m.iter().map(|(l, _, _)| l.as_str()).collect();
        assert_eq!(labels, ["2025-01", "2025-02", "2025-03"]);
        assert_eq!(m[0].1, utc("2025-01-15T00:00:00+08:00"));
        assert_eq!(m[1].1, utc("2025-01-31T16:00:00Z"));
        assert_eq!(m[1].2, utc("2025-02-28T16:00:00Z"));
        assert_eq!(m[2].2, utc("2025-03-10T00:00:00+08:00"));
        // Every bound is a whole UTC hour: the engine's hourly buckets.
        assert!(m
            .iter()
            .all(|(_, a, b)| a % 3_600_000 == 0 && b % 3_600_000 == 0));
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        report: ReportArgs,
    }

    #[test]
    fn arguments_parse_as_documented() {
        use clap::Parser;
        let c = Cli::try_parse_from([
            "report",
            "--config",
            "c.toml",
            "--from",
            "2025-01",
            "--to",
            "2025-12",
            "--facility",
            "a",
            "--facility",
            "b",
            "--format",
            "html",
            "--lang",
            "en",
        ])
        .map_err(|e| e.to_string());
        let Ok(Cli { report: r }) = c else {
            panic!("{c:?}", c = c.err());
        };
        assert_eq!(r.facilities, ["a", "b"]);
        assert_eq!((r.format, r.lang), (Format::Html, Lang::En));
        assert!(r.url.is_none() && r.out.is_none());
        let d = Cli::try_parse_from(["report", "-c", "c.toml", "--from", "2025", "--to", "2025"]);
        assert!(d.is_ok_and(|c| c.report.format == Format::Md && c.report.lang == Lang::Zh));
        assert!(Cli::try_parse_from(["report", "-c", "c.toml", "--from", "2025"]).is_err());
        assert!(Cli::try_parse_from([
            "report", "-c", "c.toml", "--from", "2025", "--to", "2025", "--format", "pdf"
        ])
        .is_err());
    }

    #[test]
    fn csv_header_names_every_column_once() {
        let cols: Vec<&str> = CSV_HEADER.split(',').collect();
        let mut sorted = cols.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), cols.len());
    }
}
