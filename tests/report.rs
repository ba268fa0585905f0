//! `dcpue report` on a history built by replaying a simulated year through the real engine:
//! two facilities, 15-minute energy-register readings with seasonal cooling, one IT meter
//! silent for 84 hours in July. The report is read back from a real checkpoint in storage.dir,
//! rendered in every format, and the HTML printed to PDF by headless Chromium.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dcpue::alerts::state::Entry;
use dcpue::alerts::{AlertChange, AlertEngine, AlertHistory, AlertState, ResolvedAlert};
use dcpue::config::Config;
use dcpue::engine::{Engine, Quality, Reading, Snapshot, Status, Verdict};
use dcpue::report::{self, build_report, Format, Lang, Report, ReportArgs, CSV_HEADER};

mod support;
use support::facility;

const HOUR: i64 = 3_600_000;
const STEP: i64 = 15 * 60_000;
/// 2025-01-01T00:00:00+08:00 and 2026-01-01T00:00:00+08:00.
const YEAR_START: i64 = 1_735_660_800_000;
const YEAR_END: i64 = 1_767_196_800_000;
/// The IT meter of nanchang-1 is silent from 2025-07-10 08:00 to 2025-07-13 20:00 (+08:00).
const OUTAGE_FROM: i64 = 1_752_105_600_000;
const OUTAGE_TO: i64 = OUTAGE_FROM + 84 * HOUR;
/// 2025-06-01T00:00:00+08:00.
const JUNE_1: i64 = YEAR_START + (31 + 28 + 31 + 30 + 31) * 24 * HOUR;

const ENGINE: &str = r#"
[engine]
timezone = "Asia/Shanghai"
max_gap = "20m"
windows = ["15m", "24h", "365d"]
compliance_window = "365d"
"#;

/// Engine settings and facilities (the `[storage]` table is added per test).
fn layout() -> String {
    let nanchang = facility("nanchang-1")
        .name("南昌核心数据中心")
        .key("name_en = \"Nanchang Core Data Centre\"")
        .key("renewable_target = 0.05")
        .meter("grid-in", "total")
        .meter("it-a", "it")
        .meter("pv", "renewable");
    let jiujiang = facility("jiujiang-1")
        .name("九江数据中心")
        .key("name_en = \"Jiujiang Data Centre\"")
        .city("Jiujiang")
        .tier("supplementary")
        .commissioned("2024-03-01")
        .meter("grid-in", "total")
        .meter("it-a", "it");
    format!("{ENGINE}{nanchang}{jiujiang}")
}

fn config_text(state_dir: &Path) -> String {
    format!("[storage]\ndir = \"{}\"\n{}", state_dir.display(), layout())
}

/// Deterministic noise in [-1, 1).
fn noise(k: i64, salt: u64) -> f64 {
    let mut x = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// IT power (kW) and PUE of a facility at time t: cooling follows the season (peak late July)
/// and the time of day.
fn power(fac: usize, t: i64) -> (f64, f64) {
    let day = (t - YEAR_START) as f64 / 86_400_000.0;
    let hour_of_day = ((t - YEAR_START) % 86_400_000) as f64 / HOUR as f64;
    let season = (std::f64::consts::TAU * (day - 205.0) / 365.0).cos(); // 1 in summer
    let diurnal = (std::f64::consts::TAU * (hour_of_day - 15.0) / 24.0).cos();
    let k = t / STEP;
    let (it_kw, base, swing) = if fac == 0 {
        (1800.0, 1.20, 0.07)
    } else {
        (950.0, 1.31, 0.08)
    };
    let it = it_kw * (1.0 + 0.03 * diurnal + 0.01 * noise(k, fac as u64));
    let pue = base + swing * season + 0.015 * diurnal + 0.004 * noise(k, 7 + fac as u64);
    (it, pue)
}

fn pv_kw(t: i64) -> f64 {
    let hour_of_day = ((t - YEAR_START) % 86_400_000) as f64 / HOUR as f64;
    if (6.0..18.0).contains(&hour_of_day) {
        400.0 * (std::f64::consts::PI * (hour_of_day - 6.0) / 12.0).sin()
    } else {
        0.0
    }
}

struct Replayed {
    engine: Engine,
    snapshot: Snapshot,
}

/// The simulated year, replayed once per test binary.
fn replayed() -> &'static Replayed {
    static R: OnceLock<Replayed> = OnceLock::new();
    R.get_or_init(|| {
        let cfg = Config::parse(&config_text(Path::new("/nonexistent")), "test.toml")
            .expect("test config");
        let mut engine = Engine::new(&cfg);
        let meters = [
            ("nanchang-1", "grid-in"),
            ("nanchang-1", "it-a"),
            ("nanchang-1", "pv"),
            ("jiujiang-1", "grid-in"),
            ("jiujiang-1", "it-a"),
        ]
        .map(|(f, m)| engine.lookup(f, m).expect("configured meter"));
        let mut reg = [0.0f64; 5];
        let mut t = YEAR_START;
        while t <= YEAR_END {
            for fac in 0..2 {
                let (it, pue) = power(fac, t);
                let (ti, ii) = if fac == 0 { (0, 1) } else { (3, 4) };
                let silent = fac == 0 && t > OUTAGE_FROM && t < OUTAGE_TO;
                for (idx, kw) in [(ti, it * pue), (ii, it)] {
                    if t > YEAR_START {
                        reg[idx] += kw * 0.25;
                    }
                    if idx == ii && silent {
                        continue;
                    }
                    let r = Reading {
                        ts: t,
                        power_kw: Some(kw),
                        energy_kwh: Some(reg[idx]),
                        quality: Default::default(),
                    };
                    assert_eq!(engine.ingest(meters[idx], r, t), Verdict::Accepted);
                }
            }
            if t > YEAR_START {
                reg[2] += pv_kw(t) * 0.25;
            }
            let r = Reading {
                ts: t,
                power_kw: Some(pv_kw(t)),
                energy_kwh: Some(reg[2]),
                quality: Default::default(),
            };
            assert_eq!(engine.ingest(meters[2], r, t), Verdict::Accepted);
            if (t - YEAR_START) % (6 * HOUR) == 0 {
                engine.advance(&mut |_| {});
            }
            t += STEP;
        }
        engine.advance(&mut |_| {});
        let snapshot = engine.snapshot(YEAR_END);
        Replayed { engine, snapshot }
    })
}

/// A storage dir holding the replayed engine's checkpoint, and a config pointing at it.
fn stored() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    dcpue::store::checkpoint(&state, &replayed().engine, &Default::default()).expect("checkpoint");
    let cfg = dir.path().join("dcpue.toml");
    std::fs::write(&cfg, config_text(&state)).expect("config");
    (dir, cfg)
}

fn args(cfg: &Path, format: Format, out: &Path) -> ReportArgs {
    ReportArgs {
        config: cfg.to_path_buf(),
        from: "2025-01".into(),
        to: "2025-12".into(),
        facilities: Vec::new(),
        format,
        lang: Lang::Zh,
        url: None,
        out: Some(out.to_path_buf()),
    }
}

fn year_report() -> Report {
    build_report(&replayed().engine, YEAR_START, YEAR_END, None, &[])
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn annual_pue_equals_the_engines_365d_window_at_the_years_end() {
    let r = year_report();
    let snap = &replayed().snapshot;
    assert!(r.period.full_compliance_period);
    assert_eq!(r.period.hours, 8760);
    for f in &r.facilities {
        let s = snap.facility(&f.id).expect("facility in snapshot");
        let w = s.windows.get("365d").expect("365d window");
        assert_eq!((w.start_ms, w.end_ms), (YEAR_START, YEAR_END), "{}", f.id);
        let (rp, wp) = (
            f.measured.pue.expect("report PUE"),
            w.pue.expect("window PUE"),
        );
        assert!(
            close(rp, wp, 1e-9),
            "{}: report {rp} vs 365d window {wp}",
            f.id
        );
        assert!(close(f.measured.coverage, w.coverage, 1e-12), "{}", f.id);
        assert!(close(f.measured.energy_kwh.total, w.energy_kwh.total, 1e-9));
        assert!(close(f.measured.energy_kwh.it, w.energy_kwh.it, 1e-9));
        assert_eq!(f.verdict, s.status, "{}", f.id);
        assert_eq!(f.grade, s.grade, "{}", f.id);
    }
    // The simulated PUEs: nanchang-1 about 1.20 (compliant), jiujiang-1 about 1.27.
    let n = &r.facilities[0];
    assert!(
        n.measured.pue.is_some_and(|p| (1.17..1.23).contains(&p)),
        "{:?}",
        n.measured.pue
    );
    assert_eq!(n.verdict, Status::Compliant);
    // Renewable share: PV energy over total energy, against the 5 % target.
    let share = n.renewable_share.expect("PV covers the year");
    assert!(close(
        share,
        n.measured.energy_kwh.renewable / n.measured.energy_kwh.total,
        1e-12
    ));
    assert_eq!(n.renewable_target_met, Some(share >= 0.05));
}

#[test]
fn monthly_energies_add_up_and_the_outage_month_shows_its_missing_hours() {
    let r = year_report();
    for f in &r.facilities {
        let months: Vec<&str> = f.months.iter().map(|m| m.month.as_str()).collect();
        assert_eq!(months.len(), 12);
        assert_eq!((months[0], months[11]), ("2025-01", "2025-12"));
        assert_eq!(f.months.iter().map(|m| m.hours).sum::<i64>(), 8760);
        let sum = |g: &dyn Fn(&report::MonthRow) -> f64| f.months.iter().map(g).sum::<f64>();
        let period = &f.measured;
        assert!(close(
            sum(&|m| m.energy_kwh.total),
            period.energy_kwh.total,
            1e-9
        ));
        assert!(close(sum(&|m| m.energy_kwh.it), period.energy_kwh.it, 1e-9));
        assert!(close(
            sum(&|m| m.energy_kwh.renewable),
            period.energy_kwh.renewable,
            1e-9
        ));
        assert!(close(
            sum(&|m| m.covered_energy_kwh.it),
            period.covered_energy_kwh.it,
            1e-9
        ));
        assert_eq!(
            f.months.iter().map(|m| m.missing_hours).sum::<i64>(),
            period.missing_hours
        );
    }
    let n = &r.facilities[0];
    let july = n
        .months
        .iter()
        .find(|m| m.month == "2025-07")
        .expect("July");
    assert_eq!(july.missing_hours, 84);
    assert!(
        close(july.coverage, (744.0 - 84.0) / 744.0, 1e-12),
        "{}",
        july.coverage
    );
    for m in n.months.iter().filter(|m| m.month != "2025-07") {
        assert_eq!(m.missing_hours, 0, "{}", m.month);
        assert!(m.coverage > july.coverage);
    }
    assert_eq!(n.measured.missing_hours, 84);
    assert_eq!(n.measured.gaps.len(), 1);
    assert_eq!(n.measured.gaps[0].from, "2025-07-10T08:00:00+08:00");
    assert_eq!(n.measured.gaps[0].to, "2025-07-13T20:00:00+08:00");
    // The energy of the silence was measured (the register ran on) and is in July's total.
    let j = &r.facilities[1];
    assert_eq!(j.measured.missing_hours, 0);
    assert!(j.months.iter().all(|m| m.coverage > 0.9999));
    // July alone: below min_coverage, so no verdict on it.
    let july_only = build_report(
        &replayed().engine,
        YEAR_START + (31 + 28 + 31 + 30 + 31 + 30) * 24 * HOUR,
        YEAR_START + (31 + 28 + 31 + 30 + 31 + 30 + 31) * 24 * HOUR,
        Some(&["nanchang-1".to_string()]),
        &[],
    );
    assert_eq!(july_only.facilities.len(), 1);
    assert_eq!(july_only.facilities[0].verdict, Status::InsufficientData);
    assert_eq!(july_only.facilities[0].grade, None);
    assert!(!july_only.period.full_compliance_period);
}

#[test]
fn province_summary_is_energy_weighted_by_tier() {
    let r = year_report();
    let tiers: Vec<&str> = r.summary.iter().map(|t| t.tier.as_str()).collect();
    assert_eq!(tiers, ["core", "supplementary", "province"]);
    let p = &r.summary[2];
    let (tot, it): (f64, f64) = r.facilities.iter().fold((0.0, 0.0), |(a, b), f| {
        (
            a + f.measured.covered_energy_kwh.total,
            b + f.measured.covered_energy_kwh.it,
        )
    });
    assert!(close(p.pue.expect("province PUE"), tot / it, 1e-12));
    let (lo, hi) = (
        r.facilities
            .iter()
            .filter_map(|f| f.measured.pue)
            .fold(f64::MAX, f64::min),
        r.facilities
            .iter()
            .filter_map(|f| f.measured.pue)
            .fold(f64::MIN, f64::max),
    );
    assert!(p.pue.is_some_and(|x| x > lo && x < hi));
    assert_eq!(p.facilities, 2);
    assert_eq!(p.compliant + p.breach + p.insufficient_data, 2);
}

fn strip_generated(s: &str) -> String {
    s.lines()
        .filter(|l| {
            !l.contains("generated_at") && !l.contains("生成时间") && !l.contains("Generated at")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_report_from_storage_is_reproducible_and_parses_back() {
    let (dir, cfg) = stored();
    let out = |name: &str| dir.path().join(name);
    for (fmt, ext) in [
        (Format::Csv, "csv"),
        (Format::Json, "json"),
        (Format::Md, "md"),
        (Format::Html, "html"),
    ] {
        let (a, b) = (out(&format!("a.{ext}")), out(&format!("b.{ext}")));
        report::run_report(&args(&cfg, fmt, &a)).expect("report");
        report::run_report(&args(&cfg, fmt, &b)).expect("report");
        let (ta, tb) = (
            std::fs::read_to_string(&a).expect("read"),
            std::fs::read_to_string(&b).expect("read"),
        );
        assert!(
            ta.contains("nanchang-1") && ta.contains("jiujiang-1"),
            "{ext}"
        );
        assert_eq!(
            strip_generated(&ta),
            strip_generated(&tb),
            "{ext} differs between runs"
        );
    }
    // JSON: the same figures as computed in-process, plus provenance.
    let text = std::fs::read_to_string(out("a.json")).expect("json");
    let parsed: Report = serde_json::from_str(&text).expect("JSON parses back");
    assert!(parsed.generated_at.is_some());
    assert_eq!(
        parsed.config_path.as_deref(),
        Some(cfg.to_str().expect("utf-8"))
    );
    assert_eq!(parsed.dcpue_version, env!("CARGO_PKG_VERSION"));
    assert!(parsed.config_fingerprint.starts_with("crc32:"));
    let mut expected = year_report();
    expected.generated_at = parsed.generated_at.clone();
    expected.config_path = parsed.config_path.clone();
    // Built from the config file (storage.dir differs from the in-process one).
    expected.config_fingerprint = parsed.config_fingerprint.clone();
    assert_eq!(parsed, expected);
    // CSV: one row per facility per month and a period row, matching the JSON.
    let csv = std::fs::read_to_string(out("a.csv")).expect("csv");
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let cols: Vec<&str> = CSV_HEADER.split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 13);
    let col = |row: &Vec<&str>, name: &str| -> String {
        let k = cols.iter().position(|c| *c == name).expect("column");
        row[k].to_string()
    };
    for f in &parsed.facilities {
        let fr: Vec<&Vec<&str>> = rows.iter().filter(|r| col(r, "facility") == f.id).collect();
        assert_eq!(fr.len(), 13);
        let period = fr
            .iter()
            .find(|r| col(r, "row") == "period")
            .expect("period row");
        let pue: f64 = col(period, "pue").parse().expect("pue");
        assert!((pue - f.measured.pue.expect("pue")).abs() < 1e-6);
        assert_eq!(
            col(period, "missing_hours"),
            f.measured.missing_hours.to_string()
        );
        assert_eq!(col(period, "verdict"), f.verdict.as_str());
        let monthly: f64 = fr
            .iter()
            .filter(|r| col(r, "row") == "month")
            .map(|r| col(r, "energy_total_kwh").parse::<f64>().expect("energy"))
            .sum();
        assert!((monthly - f.measured.energy_kwh.total).abs() < 0.01 * 12.0);
    }
}

#[test]
fn a_missing_state_dir_is_a_clear_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("never-written");
    let cfg = dir.path().join("dcpue.toml");
    std::fs::write(&cfg, config_text(&state)).expect("config");
    let err = report::run_report(&args(&cfg, Format::Md, &dir.path().join("r.md")))
        .expect_err("no history");
    let msg = err.to_string();
    assert!(msg.contains(&state.display().to_string()), "{msg}");
    assert!(msg.contains("engine.state"), "{msg}");
    assert!(!dir.path().join("r.md").exists());
}

#[test]
fn resolved_alerts_in_the_period_are_listed_with_durations() {
    let (dir, cfg) = stored();
    // Resolved alerts recorded by the alerts module in <storage.dir>/alerts.redb.
    let cfg_parsed = Config::load(&cfg).expect("config");
    let resolved = |name: &str, facility: &str, since: i64, fired: i64, end: i64, worst: f64| {
        let labels: BTreeMap<String, String> = [
            ("alertname", name),
            ("facility", facility),
            ("window", "24h"),
            ("severity", "warning"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        AlertChange::Resolved(ResolvedAlert {
            name: name.to_string(),
            labels,
            annotations: BTreeMap::new(),
            since: String::new(),
            fired_at: None,
            resolved_at: String::new(),
            value: 0.95,
            worst,
            key: format!("{name}/{facility}/24h"),
            since_ms: since,
            fired_ms: Some(fired),
            resolved_ms: end,
            started_wall_ms: since,
            resolved_wall_ms: end,
        })
    };
    let fired = OUTAGE_FROM + 2 * HOUR;
    {
        let history = AlertHistory::open(&cfg_parsed.storage.dir).expect("alert history");
        let changes = [
            resolved(
                "CoverageBelowMinimum",
                "nanchang-1",
                fired - HOUR,
                fired,
                fired + 90 * HOUR + 30 * 60_000,
                0.0,
            ),
            // After the period: not in this report.
            resolved(
                "PueAboveCeiling",
                "jiujiang-1",
                YEAR_END + HOUR,
                YEAR_END + 2 * HOUR,
                YEAR_END + 5 * HOUR,
                1.41,
            ),
        ];
        // Still firing at the last checkpoint of the alert states: jiujiang-1 over its ceiling
        // on the compliance window since 2025-06-01 (evaluated up to the year's end and beyond).
        let mut state = AlertEngine::new(&cfg_parsed).export_state();
        state.entries.push((
            "PueAboveCeiling/jiujiang-1/365d".to_string(),
            Entry {
                state: AlertState::Firing,
                since_ms: JUNE_1,
                fired_ms: Some(JUNE_1),
                started_wall_ms: JUNE_1,
                value: 1.31,
                worst: 1.32,
                last_eval_ms: YEAR_END + 24 * HOUR,
            },
        ));
        history.commit(&changes, &state).expect("commit");
    }
    let out = dir.path().join("r.json");
    report::run_report(&args(&cfg, Format::Json, &out)).expect("report");
    let r: Report =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
    let n = &r.facilities[0];
    assert_eq!(n.alerts.len(), 1);
    let a = &n.alerts[0];
    assert_eq!(a.name, "CoverageBelowMinimum");
    assert_eq!(a.scope, "24h");
    assert_eq!(a.started, "2025-07-10T10:00:00+08:00");
    assert_eq!(a.duration_s, 90 * 3600 + 30 * 60);
    // jiujiang-1: the one resolved after the period is left out; the firing one is listed,
    // active up to the period's end.
    let j = &r.facilities[1].alerts;
    assert_eq!(j.len(), 1, "{j:?}");
    assert_eq!(j[0].name, "PueAboveCeiling");
    assert_eq!(
        (j[0].scope.as_str(), j[0].severity.as_str()),
        ("365d", "critical")
    );
    assert_eq!(j[0].resolved, None);
    assert_eq!(j[0].duration_s, (YEAR_END - JUNE_1) / 1000);
    let md = dir.path().join("r.md");
    report::run_report(&args(&cfg, Format::Md, &md)).expect("report");
    let text = std::fs::read_to_string(&md).expect("md");
    assert!(
        text.contains("CoverageBelowMinimum") && text.contains("3d 18h 30m"),
        "{text}"
    );
    assert!(text.contains("仍在告警 still firing"), "{text}");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_prints_to_a_multi_page_a4_pdf() {
    let (dir, cfg) = stored();
    let html = dir.path().join("report.html");
    report::run_report(&args(&cfg, Format::Html, &html)).expect("report");
    let text = std::fs::read_to_string(&html).expect("html");
    assert!(
        !text.contains("http://") && !text.contains("https://"),
        "self-contained"
    );
    assert!(text.contains("@page { size: A4; margin: 15mm }"));
    assert!(text.matches("<svg").count() == 2, "one chart per facility");

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    std::fs::copy(&html, artifacts.join("report.html")).expect("keep the HTML");
    let en_path = dir.path().join("report-en.html");
    let mut en = args(&cfg, Format::Html, &en_path);
    en.lang = Lang::En;
    report::run_report(&en).expect("English report");
    let en_text = std::fs::read_to_string(&en_path).expect("html");
    assert!(en_text.contains("Reporting period") && en_text.contains("Data gaps"));
    assert!(!en_text.contains("报告期") && !en_text.contains("数据缺失"));
    let mut md = args(&cfg, Format::Md, &artifacts.join("report.md"));
    md.lang = Lang::Zh;
    report::run_report(&md).expect("markdown");
    let pdf = artifacts.join("report.pdf");
    let _ = std::fs::remove_file(&pdf);
    let profile = dir.path().join("chromium-profile");
    run(Command::new("/usr/bin/chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display())));
    assert!(pdf.exists(), "chromium wrote no PDF");

    let info = run(Command::new("pdfinfo").arg(&pdf));
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in {info}"));
    assert!(pages >= 3, "cover + a page per facility, got {pages}");
    let size = info
        .lines()
        .find(|l| l.starts_with("Page size:"))
        .unwrap_or_default()
        .to_string();
    assert!(size.contains("(A4)"), "A4: {size}");

    let pdf_text = run(Command::new("pdftotext").arg("-layout").arg(&pdf).arg("-"));
    let r = year_report();
    for f in &r.facilities {
        assert!(
            pdf_text.contains(&f.name),
            "{} missing from the PDF",
            f.name
        );
        let pue = format!("{:.3}", f.measured.pue.expect("pue"));
        assert!(
            pdf_text.contains(&pue),
            "annual PUE {pue} of {} missing",
            f.id
        );
    }
    assert!(pdf_text.contains("PUE"));
    assert!(pdf_text.contains("2025-07"));
    // Facilities start on their own pages: each name heads a page after the first.
    let per_page: Vec<&str> = pdf_text.split('\u{c}').collect();
    for f in &r.facilities {
        assert!(
            per_page
                .iter()
                .skip(1)
                .any(|p| p.trim_start().starts_with(&f.name)),
            "{} does not begin a page",
            f.name
        );
    }
}

#[test]
fn url_reads_the_same_figures_from_a_running_instance() {
    // A real `dcpue serve` restored from the replayed year's checkpoint.
    let broker = support::Mosquitto::start();
    // HTTP on port 0: `restart` reads the port it bound from its log.
    let mut serve = support::Dcpue::configured(&broker.url(), &layout());
    let state = serve.dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    dcpue::store::checkpoint(&state, &replayed().engine, &Default::default()).expect("checkpoint");
    // A whole state directory, as `serve` leaves one: an empty log after the checkpoint and an
    // empty alert history (`serve` refuses a checkpoint without them: they would be lost).
    std::fs::write(state.join("ingest.wal"), b"").expect("log");
    drop(dcpue::alerts::AlertHistory::open(&state).expect("alert history"));
    serve.restart();
    let config = serve.config.clone();

    let out = serve.dir.path().join("remote.json");
    let mut a = args(&config, Format::Json, &out);
    a.url = Some(serve.url(""));
    report::run_report(&a).unwrap_or_else(|e| panic!("{e}\n{}", serve.log()));
    let remote: Report =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
    let local = year_report();
    assert_eq!(remote.facilities.len(), local.facilities.len());
    for (r, l) in remote.facilities.iter().zip(&local.facilities) {
        assert_eq!(r.id, l.id);
        let (rp, lp) = (
            r.measured.pue.expect("remote PUE"),
            l.measured.pue.expect("local PUE"),
        );
        assert!(close(rp, lp, 1e-12), "{}: {rp} vs {lp}", r.id);
        assert!(close(r.measured.coverage, l.measured.coverage, 1e-12));
        assert!(close(
            r.measured.energy_kwh.total,
            l.measured.energy_kwh.total,
            1e-12
        ));
        assert_eq!(
            r.measured.missing_hours, l.measured.missing_hours,
            "{}",
            r.id
        );
        assert_eq!((r.verdict, r.grade), (l.verdict, l.grade));
        assert_eq!(r.months.len(), 12);
        for (rm, lm) in r.months.iter().zip(&l.months) {
            assert_eq!(rm.month, lm.month);
            assert_eq!(rm.missing_hours, lm.missing_hours, "{} {}", r.id, rm.month);
            assert_eq!(rm.pue.map(f64::to_bits), lm.pue.map(f64::to_bits));
        }
    }
    let (rs, ls) = (&remote.summary[2], &local.summary[2]);
    assert!(close(rs.pue.expect("pue"), ls.pue.expect("pue"), 1e-3));
    serve.stop();
}

/// A stand-in for a running instance: answers the four paths `--url` reads, with `history` as
/// `/api/v1/alerts/history`. The listener stays bound for the test's life.
fn fake_instance(history: String) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("");
            let body = if path.starts_with("/api/v1/alerts/history") {
                history.clone()
            } else if path.starts_with("/api/v1/alerts") {
                "[]".to_string()
            } else if path.contains("/series") {
                r#"{"points":[{"pue":1.25,"coverage":1.0,"renewable_share":null,"energy_kwh":{"total":125.0,"it":100.0,"renewable":0.0},"covered_energy_kwh":{"total":125.0,"it":100.0,"renewable":0.0}}]}"#.to_string()
            } else {
                r#"[{"id":"nanchang-1","watermark":null},{"id":"jiujiang-1","watermark":null}]"#
                    .to_string()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn url_reports_an_alert_record_with_a_renamed_field_instead_of_leaving_the_alert_out() {
    let (dir, cfg) = stored();
    let labels: BTreeMap<String, String> = [
        ("alertname", "PueAboveCeiling"),
        ("facility", "nanchang-1"),
        ("window", "24h"),
        ("severity", "warning"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let record = ResolvedAlert {
        name: "PueAboveCeiling".into(),
        labels,
        annotations: BTreeMap::new(),
        since: String::new(),
        fired_at: None,
        resolved_at: String::new(),
        value: 1.2,
        worst: 1.35,
        key: "PueAboveCeiling/nanchang-1/24h".into(),
        since_ms: JUNE_1,
        fired_ms: Some(JUNE_1),
        resolved_ms: JUNE_1 + 5 * HOUR,
        started_wall_ms: JUNE_1,
        resolved_wall_ms: JUNE_1 + 5 * HOUR,
    };
    // The record as the alert history serves it: listed in the report.
    let served = serde_json::to_value([&record]).expect("json");
    let out = dir.path().join("r.json");
    let mut a = args(&cfg, Format::Json, &out);
    a.url = Some(fake_instance(served.to_string()));
    report::run_report(&a).expect("report");
    let r: Report =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
    assert_eq!(
        r.facilities[0].alerts.len(),
        1,
        "{:?}",
        r.facilities[0].alerts
    );
    assert_eq!(r.facilities[0].alerts[0].duration_s, 5 * 3600);
    // The same record with `labels` renamed (as a change on one side only would leave it): an
    // error naming the field and the answer, not a report without the alert.
    let mut renamed = served.clone();
    let labels = renamed[0]["labels"].take();
    renamed[0]["alert_labels"] = labels;
    if let Some(o) = renamed[0].as_object_mut() {
        o.remove("labels");
    }
    let out = dir.path().join("renamed.json");
    let mut a = args(&cfg, Format::Json, &out);
    a.url = Some(fake_instance(renamed.to_string()));
    let err = report::run_report(&a).expect_err("a record the report cannot read");
    let msg = err.to_string();
    assert!(
        msg.contains("/api/v1/alerts/history") && msg.contains("labels"),
        "{msg}"
    );
    assert!(!out.exists());
}

// ------------------------------------------------------------------ CONTRACT §14 in the report

const KPI_ENGINE: &str = r#"
[engine]
timezone = "Asia/Shanghai"
max_gap = "20m"
windows = ["15m", "24h"]
compliance_window = "24h"

[policy]
grid_emission_factor = 0.6
"#;

/// One facility with every KPI input (grid, IT, on-site PV, cooling water, reused heat, a green
/// certificate) and one with total and IT meters only.
fn kpi_layout() -> String {
    let green = facility("green-1")
        .name("绿色数据中心")
        .key("wue_target = 1.2")
        .key("ref_target = 0.5")
        .raw("  [[facility.certificate]]\n  month = \"2025-03\"\n  mwh = 30")
        .grid_and_it()
        .meter("pv", "renewable")
        .meter("water", "water")
        .meter("heat", "reused_heat");
    let plain = facility("plain-1")
        .name("普通数据中心")
        .city("Jiujiang")
        .tier("supplementary")
        .grid_and_it();
    format!("{KPI_ENGINE}{green}{plain}")
}

/// 2025-03-10T00:00:00+08:00 and 2025-03-12T00:00:00+08:00: the report's period.
const KPI_FROM: i64 = 1_741_536_000_000;
const KPI_TO: i64 = KPI_FROM + 48 * HOUR;

/// What each meter's register grows by in 15-minute step k (kWh, or m³ for water).
fn kpi_step(meter: &str, k: i64) -> f64 {
    let wobble = (k % 7) as f64;
    match meter {
        "grid" => 320.0 + 2.0 * wobble,
        "it" => 250.0 + wobble,
        "pv" => 25.0 + 0.5 * (k % 3) as f64,
        "water" => 0.12 + 0.01 * (k % 4) as f64,
        "heat" => 8.0 + (k % 2) as f64,
        _ => 0.0,
    }
}

/// The engine after two days' readings on each side of the period, every 15 minutes.
fn kpi_engine() -> Engine {
    kpi_engine_with(|_, _, _| Quality::Metered)
}

/// As [`kpi_engine`], each reading with `quality(facility, meter, k)` at step k.
fn kpi_engine_with(quality: impl Fn(&str, &str, i64) -> Quality) -> Engine {
    let cfg = Config::parse(&kpi_layout(), "kpi.toml").expect("KPI config");
    let mut engine = Engine::new(&cfg);
    let meters = [
        ("green-1", "grid"),
        ("green-1", "it"),
        ("green-1", "pv"),
        ("green-1", "water"),
        ("green-1", "heat"),
        ("plain-1", "grid"),
        ("plain-1", "it"),
    ];
    let mut reg = [1000.0f64; 7];
    let (start, end) = (KPI_FROM - 24 * HOUR, KPI_TO + 24 * HOUR);
    let mut t = start;
    while t <= end {
        let k = (t - start) / STEP;
        for (i, (f, m)) in meters.iter().enumerate() {
            if t > start {
                reg[i] += kpi_step(m, k);
            }
            let r = Reading {
                ts: t,
                power_kw: None,
                energy_kwh: Some(reg[i]),
                quality: quality(f, m, k),
            };
            let mr = engine.lookup(f, m).expect("configured meter");
            assert_eq!(engine.ingest(mr, r, t), Verdict::Accepted, "{f}/{m}");
        }
        t += STEP;
    }
    engine.advance(&mut |_| {});
    engine
}

/// Σ of a meter's steps over the period: the readings fall on its bounds, so this is the
/// energy (or volume) measured inside it.
fn kpi_sum(meter: &str) -> f64 {
    let start = KPI_FROM - 24 * HOUR;
    let (k0, k1) = ((KPI_FROM - start) / STEP, (KPI_TO - start) / STEP);
    ((k0 + 1)..=k1).map(|k| kpi_step(meter, k)).sum()
}

#[test]
fn the_report_gives_the_eu_2024_1364_figures_computed_by_hand_and_shows_the_targets() {
    let engine = kpi_engine();
    let r = build_report(&engine, KPI_FROM, KPI_TO, None, &[]);
    let (edc, eit) = (kpi_sum("grid"), kpi_sum("it"));
    let (pv, win, ereuse) = (kpi_sum("pv"), kpi_sum("water"), kpi_sum("heat"));
    // 30 MWh over March (31 days), 48 hours of it in the period.
    let cert = 30_000.0 * 48.0 / (31.0 * 24.0);
    let eres_tot = pv + cert;
    let want = [
        ("EDC", edc),
        ("EIT", eit),
        ("WIN", win),
        ("EREUSE", ereuse),
        ("ERES_TOT", eres_tot),
        ("PUE", edc / eit),
        ("WUE", 1000.0 * win / eit),
        ("ERF", ereuse / edc),
        ("REF", (eres_tot / edc).min(1.0)),
    ];
    let json: serde_json::Value =
        serde_json::from_str(&report::render_json(&r)).expect("report JSON");
    let green = &json["facilities"][0];
    assert_eq!(green["id"], "green-1");
    for (name, v) in want {
        let got = green["eu_2024_1364"][name].as_f64();
        assert!(
            got.is_some_and(|g| close(g, v, 1e-6)),
            "{name}: {got:?}, by hand {v}"
        );
    }
    let cue = (edc - pv - cert).max(0.0) * 0.6 / eit;
    assert!(green["cue"].as_f64().is_some_and(|c| close(c, cue, 1e-6)));
    // The fields scripts already read are still there.
    for key in [
        "pue",
        "coverage",
        "verdict",
        "grade",
        "energy_kwh",
        "renewable_share",
    ] {
        assert!(green.get(key).is_some(), "{key} kept");
    }
    assert!(close(green["pue"].as_f64().expect("pue"), edc / eit, 1e-6));
    assert_eq!(green["input_coverage"]["water"], 1.0);
    // Without water, heat or renewable meters: null, never zero.
    let plain = &json["facilities"][1];
    for name in ["WIN", "EREUSE", "ERES_TOT", "WUE", "ERF", "REF"] {
        assert!(plain["eu_2024_1364"][name].is_null(), "plain-1 {name}");
    }
    assert!(plain["eu_2024_1364"]["EDC"]
        .as_f64()
        .is_some_and(|e| e > 0.0));

    // Each KPI against its targets: met, not met, or no data.
    let (pue, wue, ref_) = (edc / eit, 1000.0 * win / eit, eres_tot / edc);
    assert!(
        pue > 1.25 && pue < 1.3 && wue < 1.2 && ref_ < 0.3,
        "{pue} {wue} {ref_}"
    );
    let met = |f: &serde_json::Value, target: &str| {
        f["targets"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["target"] == target).cloned())
            .map(|c| c["met"].clone())
            .unwrap_or_else(|| panic!("no {target} check in {f}"))
    };
    assert_eq!(met(green, "pue_ceiling"), true);
    assert_eq!(met(green, "pue_national_hub"), false);
    assert_eq!(met(green, "wue_green_procurement"), true);
    assert_eq!(met(green, "wue_target"), true);
    assert_eq!(met(green, "renewable_min_share"), false);
    assert_eq!(met(green, "ref_target"), false);
    assert!(met(plain, "wue_green_procurement").is_null());
    assert!(met(plain, "renewable_min_share").is_null());

    for lang in [Lang::Zh, Lang::En] {
        let md = report::render_markdown(&r, lang);
        let html = report::render_html(&r, lang);
        for doc in [&md, &html] {
            for s in ["EDC", "EIT", "WIN", "EREUSE", "ERES_TOT", "CUE"] {
                assert!(doc.contains(s), "{s} in the report");
            }
        }
        // In Markdown, each target's line shows the value, the target and the result.
        let line = |needle: &str, nth: usize| -> &str {
            md.lines()
                .filter(|l| l.contains(needle))
                .nth(nth)
                .unwrap_or_else(|| panic!("a line with {needle:?} in\n{md}"))
        };
        let pue_s = format!("{pue:.3}");
        let hub = line("≤ 1.25", 0);
        assert!(hub.contains(&pue_s) && hub.contains("not met"), "{hub}");
        let ceiling = line("| ≤ 1.3 |", 0);
        assert!(
            ceiling.contains(" met") && !ceiling.contains("not met"),
            "{ceiling}"
        );
        let procurement = line("≤ 2.5 L/kWh", 0);
        assert!(procurement.contains(&format!("{wue:.2}")) && !procurement.contains("not met"));
        assert!(line("≤ 1.2 L/kWh", 0).contains(" met"));
        let share = line("≥ 30.0% (2025)", 0);
        assert!(share.contains(&format!("{:.1}%", ref_ * 100.0)) && share.contains("not met"));
        assert!(line("≥ 50.0%", 0).contains("not met"));
        // plain-1 has no water meter: no data, not a failure.
        assert!(line("≤ 2.5 L/kWh", 1).contains("no data"), "{md}");
        if lang == Lang::Zh {
            assert!(md.contains("未达标") && md.contains("无数据"));
            assert!(html.contains("绿色数据中心政府采购需求标准"));
            assert!(html.contains("国家枢纽节点"));
        }
        assert!(html.contains("≤ 2.5 L/kWh") && html.contains("≥ 30.0% (2025)"));
    }
}

// ------------------------------------------------------------------ CONTRACT §13 in the report

#[test]
fn the_report_gives_the_estimated_share_computed_by_hand() {
    // green-1: grid readings estimated at steps 120..=130 and at 289 (after the period's last
    // reading, 288), IT readings entered by hand at 96 (the period's first reading) and 200; the
    // PV meter estimated throughout (renewable: not part of the share). plain-1 all metered.
    let quality = |f: &str, m: &str, k: i64| match (f, m) {
        ("green-1", "grid") if (120..=130).contains(&k) || k == 289 => Quality::Estimated,
        ("green-1", "it") if k == 96 || k == 200 => Quality::Manual,
        ("green-1", "pv") => Quality::Estimated,
        _ => Quality::Metered,
    };
    let engine = kpi_engine_with(quality);
    let r = build_report(&engine, KPI_FROM, KPI_TO, None, &[]);

    // By hand: step k's energy lies between the readings k - 1 and k; it is non-metered when
    // either is. The period holds steps k0 + 1 ..= k1.
    let start = KPI_FROM - 24 * HOUR;
    let (k0, k1) = ((KPI_FROM - start) / STEP, (KPI_TO - start) / STEP);
    let share = |f: &str| -> f64 {
        let (mut est, mut all) = (0.0, 0.0);
        for m in ["grid", "it"] {
            for k in (k0 + 1)..=k1 {
                let e = kpi_step(m, k);
                all += e;
                if quality(f, m, k - 1) != Quality::Metered || quality(f, m, k) != Quality::Metered
                {
                    est += e;
                }
            }
        }
        est / all
    };
    let want = [("green-1", share("green-1")), ("plain-1", 0.0)];
    // 12 grid steps (120..=131) and 3 IT steps (97, 200, 201): about 4 %.
    assert!(want[0].1 > 0.03 && want[0].1 < 0.05, "{want:?}");

    let json: serde_json::Value =
        serde_json::from_str(&report::render_json(&r)).expect("report JSON");
    for (i, (id, v)) in want.iter().enumerate() {
        let f = &json["facilities"][i];
        assert_eq!(f["id"], *id);
        let got = f["estimated_share"].as_f64();
        assert!(
            got.is_some_and(|g| close(g, *v, 1e-9)),
            "{id}: estimated_share {got:?}, by hand {v}"
        );
    }
    for lang in [Lang::Zh, Lang::En] {
        let md = report::render_markdown(&r, lang);
        let html = report::render_html(&r, lang);
        let label = if lang == Lang::Zh {
            "非计量能耗占比（估算或人工读数）"
        } else {
            "Estimated share (energy from estimated or manual readings)"
        };
        let md_lines: Vec<&str> = md.lines().filter(|l| l.contains(label)).collect();
        let html_lines: Vec<&str> = html
            .lines()
            .filter(|l| l.contains("<p class=\"est\">"))
            .collect();
        assert_eq!(md_lines.len(), 2, "{md}");
        assert_eq!(html_lines.len(), 2, "{html}");
        for (i, (id, v)) in want.iter().enumerate() {
            let pct = format!("{:.1}%", v * 100.0);
            assert!(
                md_lines[i].starts_with("- ") && md_lines[i].ends_with(&format!(": {pct}")),
                "{id}: {}",
                md_lines[i]
            );
            assert!(
                html_lines[i].ends_with(&format!(": {pct}</p>")),
                "{id}: {}",
                html_lines[i]
            );
        }
    }
}
