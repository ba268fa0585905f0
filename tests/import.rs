//! `dcpue import` (CONTRACT §13): a state directory with a day of live data (taken by `serve`
//! from a real Mosquitto), then 30 days before it imported from CSV; the report over the
//! imported month gives the PUE computed here from the CSV's own values, the windows of the
//! next `serve` cover it, a second import changes nothing, bad lines are named with their line
//! number and reason, and an import is refused while `serve` runs on the directory.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::*;

const M5: i64 = 5 * 60_000;
const H: i64 = 3_600_000;
const D: i64 = 24 * H;
/// Readings imported per meter: 30 days of 5-minute readings.
const IMPORTED: i64 = 30 * D / M5;
/// Live readings per meter: one day.
const LIVE: i64 = D / M5;

const ENGINE: &str = r#"
[engine]
timezone = "Asia/Shanghai"
max_gap = "10m"
"#;

/// The layout: one core facility with a grid meter (2 MW at most) and an IT meter.
fn facilities() -> String {
    let f1 = facility("f1")
        .name("测试一")
        .meter_with("grid", "total", "max_power_kw = 2000")
        .meter("it", "it");
    format!("{ENGINE}{f1}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The 5-minute intervals' energies: IT about 50 kWh, grid IT × a PUE that moves with the day
/// and the hour (so the month's PUE is not any one reading's).
fn energies(k: i64) -> (f64, f64) {
    let it = 50.0 + 5.0 * ((k % 288) as f64 / 288.0 * std::f64::consts::TAU).sin();
    let pue = 1.22 + 0.06 * ((k / 288) as f64 / 7.0).sin() + 0.01 * ((k % 12) as f64 / 12.0);
    (it * pue, it)
}

/// Register values (grid, it) at reading k (k = 0: the first imported reading).
fn registers(n: i64) -> Vec<(f64, f64)> {
    let (mut g, mut i) = (120_000.0, 80_000.0);
    let mut out = vec![(g, i)];
    for k in 0..n {
        let (eg, ei) = energies(k);
        g += eg;
        i += ei;
        out.push((g, i));
    }
    out
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn dcpue(args: &[&str]) -> Output {
    Command::new(dcpue_bin())
        .args(args)
        .output()
        .expect("run dcpue")
}

fn import(config: &Path, csv: &Path) -> Output {
    import_with(config, &[], csv)
}

/// `dcpue import` of `csv` into f1 with the options `opts`.
fn import_with(config: &Path, opts: &[&str], csv: &Path) -> Output {
    let (config, csv) = (config.display().to_string(), csv.display().to_string());
    let mut args = vec!["import", "--config", &config, "--facility", "f1"];
    args.extend_from_slice(opts);
    args.push(&csv);
    dcpue(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value of `key=` in the summary line (the last line of the output).
fn summary(out: &str, key: &str) -> String {
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("summary: "), "no summary line last: {out}");
    last.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {last}"))
        .to_string()
}

/// The report's `period` row as (column → value).
fn report_period(config: &Path, from: i64, to: i64) -> (String, Vec<(String, String)>) {
    let o = dcpue(&[
        "report",
        "--config",
        &config.display().to_string(),
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "report failed: {o:?}");
    let text = stdout(&o);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let row = lines
        .find(|l| l.split(',').nth(3) == Some("period"))
        .unwrap_or_else(|| panic!("no period row: {text}"));
    let cols = header
        .iter()
        .zip(row.split(','))
        .map(|(h, v)| (h.to_string(), v.to_string()))
        .collect();
    (text, cols)
}

fn col(cols: &[(String, String)], name: &str) -> f64 {
    cols.iter()
        .find(|(h, _)| h == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in column {name}: {cols:?}"))
}

/// A live day for f1 taken by `serve` from Mosquitto, stopped cleanly; returns the instance
/// (stopped), the first live reading's time and the registers of all readings.
fn live_day(mosq: &Mosquitto) -> (Dcpue, i64, Vec<(f64, f64)>) {
    // The live day ends two hours ago; the import's month ends where it begins.
    let d0 = (now_ms() / H) * H - 26 * H;
    let regs = registers(IMPORTED + LIVE);
    let mut d = Dcpue::start(&mosq.url(), &facilities());
    for (meter, pick) in [("grid", 0), ("it", 1)] {
        // One gateway batch per meter: a JSON array of the day's readings, in order.
        let batch: Vec<String> = (0..LIVE)
            .map(|j| {
                let r = regs[(IMPORTED + j) as usize];
                let v = if pick == 0 { r.0 } else { r.1 };
                format!("{{\"ts\":{},\"energy_kwh\":{v}}}", d0 + j * M5)
            })
            .collect();
        mosq.publish(
            &format!("dc/f1/{meter}"),
            &format!("[{}]", batch.join(",")),
            1,
        );
    }
    let series = "dcpue_readings_accepted_total{facility=\"f1\"}";
    assert!(
        eventually(Duration::from_secs(20), || (d.metric(series)
            == Some(2.0 * LIVE as f64))
        .then_some(()))
        .is_some(),
        "the live day was not taken: {:?}\n{}",
        d.metric(series),
        d.log()
    );
    assert_eq!(d.stop(), Some(0), "serve did not stop cleanly: {}", d.log());
    (d, d0, regs)
}

/// The CSV of the 30 days before `d0`: both meters, 5-minute readings, epoch ms and RFC 3339
/// `ts` alternating (both are §3 forms), in meter blocks (the file need not be sorted).
fn month_csv(path: &Path, d0: i64, regs: &[(f64, f64)]) {
    let start = d0 - 30 * D;
    let mut text = String::from("ts,meter,power_kw,energy_kwh\n");
    for (meter, pick) in [("it", 1), ("grid", 0)] {
        for k in (0..IMPORTED).rev() {
            let r = regs[k as usize];
            let v = if pick == 0 { r.0 } else { r.1 };
            let t = start + k * M5;
            let ts = if k % 2 == 0 {
                t.to_string()
            } else {
                rfc3339(t)
            };
            text.push_str(&format!("{ts},{meter},,{v}\n"));
        }
    }
    std::fs::write(path, text).expect("write csv");
}

#[test]
fn a_month_imported_before_a_live_day_is_in_the_report_and_the_windows_and_twice_is_once() {
    let mosq = Mosquitto::start();
    let (mut d, d0, regs) = live_day(&mosq);
    let csv = d.dir.path().join("month.csv");
    month_csv(&csv, d0, &regs);
    let start = d0 - 30 * D;

    let o = import(&d.config, &csv);
    let out = stdout(&o);
    assert!(o.status.success(), "import failed: {o:?}");
    assert_eq!(summary(&out, "rows"), (2 * IMPORTED).to_string(), "{out}");
    assert_eq!(summary(&out, "imported"), (2 * IMPORTED).to_string());
    assert_eq!(summary(&out, "rejected"), "0");
    assert_eq!(summary(&out, "skipped_already_stored"), "0");
    assert_eq!(summary(&out, "junctions_counted"), "2", "{out}");
    assert_eq!(summary(&out, "meters"), "grid,it");

    // The month's PUE from the CSV's own values: register differences over [start, d0), the
    // last interval reaching the first live reading at d0 (it counts like any other).
    let (grid_e, it_e) = (
        regs[IMPORTED as usize].0 - regs[0].0,
        regs[IMPORTED as usize].1 - regs[0].1,
    );
    let (report1, cols) = report_period(&d.config, start, d0);
    let rel = |a: f64, b: f64| ((a - b) / b).abs();
    assert!(
        rel(col(&cols, "energy_total_kwh"), grid_e) < 1e-6,
        "total {} vs the CSV's {grid_e}: {report1}",
        col(&cols, "energy_total_kwh")
    );
    assert!(
        rel(col(&cols, "energy_it_kwh"), it_e) < 1e-6,
        "it {} vs the CSV's {it_e}: {report1}",
        col(&cols, "energy_it_kwh")
    );
    assert!(
        (col(&cols, "pue") - grid_e / it_e).abs() < 1e-6,
        "PUE {} vs the CSV's {}: {report1}",
        col(&cols, "pue"),
        grid_e / it_e
    );
    assert_eq!(col(&cols, "coverage"), 1.0, "{report1}");
    assert_eq!(col(&cols, "missing_hours"), 0.0, "{report1}");

    // A second import of the same file: nothing imported, every reading already stored, and
    // not one byte of the state or the report changes.
    let state = d.dir.path().join("state/engine.state");
    let before = std::fs::read(&state).expect("engine.state");
    let o = import(&d.config, &csv);
    let out = stdout(&o);
    assert!(o.status.success(), "second import failed: {o:?}");
    assert_eq!(summary(&out, "imported"), "0", "{out}");
    assert_eq!(
        summary(&out, "skipped_already_stored"),
        (2 * IMPORTED).to_string()
    );
    assert_eq!(summary(&out, "junctions_counted"), "0");
    assert_eq!(std::fs::read(&state).expect("engine.state"), before);
    let (report2, _) = report_period(&d.config, start, d0);
    assert_eq!(report2, report1);

    // The next serve's windows cover the imported month: the 30d window's energies are the
    // CSV's and the live day's over its hours.
    d.restart();
    let f = d.get_json("/api/v1/facilities/f1");
    let w = &f["windows"]["30d"];
    let coverage = w["coverage"].as_f64().unwrap_or(0.0);
    assert!(coverage > 0.99, "30d coverage {coverage}: {f}");
    let wm_hour = (d0 + (LIVE - 1) * M5) / H * H;
    let from_k = ((wm_hour - 30 * D - start) / M5) as usize;
    let to_k = ((wm_hour - start) / M5) as usize;
    let want_total = regs[to_k].0 - regs[from_k].0;
    let got_total = w["energy_kwh"]["total"].as_f64().unwrap_or(0.0);
    assert!(
        rel(got_total, want_total) < 1e-3,
        "30d total {got_total} vs {want_total}: {f}"
    );
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn bad_lines_are_reported_with_their_number_and_reason_and_the_rest_is_imported() {
    // Not started: `import` serves nothing and connects to no broker.
    let d = Dcpue::configured("mqtt://127.0.0.1:1", &facilities());
    let (dir, config) = (&d.dir, &d.config);
    let t0 = now_ms() / H * H - 10 * D;
    let ts = |k: i64| (t0 + k * M5).to_string();
    let future = (now_ms() + H).to_string();
    let lines = [
        "ts,meter,power_kw,energy_kwh,quality".to_string(),
        format!("{},grid,,1000,metered", ts(0)),   // 2
        format!("{},grid,,1100,estimated", ts(1)), // 3
        format!("{},grid,,1100,estimated", ts(1)), // 4 duplicate of 3
        format!("{},grid,,1101,", ts(1)),          // 5 conflict with 3
        "yesterday,grid,,1200,".to_string(),       // 6 malformed ts
        format!("{},chiller,5,,", ts(2)),          // 7 unknown meter
        format!("{},grid,,-3,", ts(2)),            // 8 invalid value
        format!("{},grid,,,", ts(2)),              // 9 no value
        format!("{},grid,,1200,guessed", ts(2)),   // 10 bad quality
        format!("{},grid,,1200", ts(2)),           // 11 4 fields of 5
        format!("{},grid,,1200,manual", ts(2)),    // 12 fine
        format!("{},grid,,9999,", ts(3)),          // 13 implausible: 8799 kWh in 5 min
        format!("{future},it,10,,"),               // 14 future
        "946684799999,it,10,,".to_string(),        // 15 before 2000: malformed
        format!("{},it,ten,,", ts(0)),             // 16 not a number
        format!("{},it,10,,", ts(0)),              // 17 fine
        format!("{},it,10,,", ts(1)),              // 18 fine
    ];
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, lines.join("\n") + "\n").expect("csv");
    let o = import(config, &csv);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "rejected lines are not a failure: {o:?}"
    );
    for (line, reason) in [
        (4, "duplicate"),
        (5, "conflict"),
        (6, "malformed"),
        (7, "unknown_meter"),
        (8, "invalid_value"),
        (9, "malformed"),
        (10, "malformed"),
        (11, "malformed"),
        (13, "implausible"),
        (14, "future_timestamp"),
        (15, "malformed"),
        (16, "malformed"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("line {line}: {reason}: "))),
            "line {line} not reported as {reason}:\n{out}"
        );
    }
    let reported = out.lines().filter(|l| l.starts_with("line ")).count();
    assert_eq!(reported, 12, "{out}");
    assert_eq!(summary(&out, "rows"), "17");
    assert_eq!(summary(&out, "imported"), "5");
    assert_eq!(summary(&out, "rejected"), "12");
    assert!(
        out.lines().last().unwrap_or_default().contains(
            "(malformed=6 unknown_meter=1 invalid_value=1 future_timestamp=1 duplicate=1 conflict=1 implausible=1)"
        ),
        "{out}"
    );

    // Printing is bounded: after --max-printed lines only the counts.
    let o = import_with(config, &["--max-printed", "2"], &csv);
    let out = stdout(&o);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("line ")).count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("(more rejected lines: only counted from here on"),
        "{out}"
    );
    // The lines the engine judged are at or after each meter's first stored reading now:
    // skipped; the lines rejected before it are rejected again.
    assert_eq!(summary(&out, "rejected"), "8", "{out}");
    assert_eq!(summary(&out, "skipped_already_stored"), "9", "{out}");

    // A file that is not this CSV at all: nothing imported, exit status 1, the header named.
    let wrong = dir.path().join("wrong.csv");
    std::fs::write(&wrong, "time,device,kw\n1,2,3\n").expect("csv");
    let o = import(config, &wrong);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 1: the header must be"), "{err}");
}

#[test]
fn import_is_refused_while_serve_runs_on_the_storage_dir() {
    let mosq = Mosquitto::start();
    let mut d = Dcpue::start(&mosq.url(), &facilities());
    let csv = d.dir.path().join("one.csv");
    let t = now_ms() / H * H - 2 * D;
    std::fs::write(&csv, format!("ts,meter,power_kw,energy_kwh\n{t},grid,5,\n")).expect("csv");
    let o = import(&d.config, &csv);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "import while serve runs: {o:?}");
    let state = d.dir.path().join("state");
    assert!(
        err.contains(&format!("storage directory {} is in use", state.display()))
            && err.contains("`dcpue serve (pid ")
            && err.contains("a `dcpue serve` is running on it"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "nothing imported: {}", stdout(&o));
    // Once serve has stopped, the same import goes through.
    assert_eq!(d.stop(), Some(0));
    let o = import(&d.config, &csv);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(summary(&stdout(&o), "imported"), "1");
}

#[test]
fn import_is_refused_after_serve_was_killed_until_serve_has_taken_its_log() {
    let mosq = Mosquitto::start();
    let mut d = Dcpue::start(&mosq.url(), &facilities());
    let t = now_ms() / H * H - D;
    mosq.publish(
        "dc/f1/grid",
        &format!("{{\"ts\":{t},\"energy_kwh\":10}}"),
        1,
    );
    let series = "dcpue_readings_accepted_total{facility=\"f1\"}";
    assert!(
        eventually(Duration::from_secs(20), || (d.metric(series) == Some(1.0))
            .then_some(()))
        .is_some(),
        "{}",
        d.log()
    );
    d.kill(); // the reading is in the write-ahead log only
    let csv = d.dir.path().join("one.csv");
    std::fs::write(
        &csv,
        format!("ts,meter,power_kw,energy_kwh\n{},grid,,5\n", t - H),
    )
    .expect("csv");
    let o = import(&d.config, &csv);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(err.contains("serve did not stop cleanly"), "{err}");
    // serve takes its log again and stops cleanly: then the import goes through.
    d.restart();
    assert_eq!(d.stop(), Some(0));
    let o = import(&d.config, &csv);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(summary(&stdout(&o), "imported"), "1");
    assert_eq!(summary(&stdout(&o), "junctions_counted"), "1");
}

/// An operator's first step can be the backfill: a month imported into a new storage directory,
/// then the first `serve` starts on it (the import created the empty alert history it needs) and
/// its 30d window holds the month.
#[test]
fn a_month_imported_before_the_first_serve_is_what_serve_starts_with() {
    let mosq = Mosquitto::start();
    let mut d = Dcpue::configured(&mosq.url(), &facilities());
    let d0 = (now_ms() / H) * H - H;
    let regs = registers(IMPORTED + 1);
    let csv = d.dir.path().join("month.csv");
    month_csv(&csv, d0, &regs);
    let o = import(&d.config, &csv);
    assert!(o.status.success(), "import failed: {o:?}");
    assert_eq!(summary(&stdout(&o), "imported"), (2 * IMPORTED).to_string());
    assert!(d.dir.path().join("state/alerts.redb").exists());

    d.restart();
    let f = d.get_json("/api/v1/facilities/f1");
    let w = &f["windows"]["30d"];
    // The whole month minus at most its first and last interval lies in the window.
    let month = regs[IMPORTED as usize - 1].0 - regs[0].0;
    let got = w["energy_kwh"]["total"].as_f64().unwrap_or(0.0);
    assert!(
        got <= month * (1.0 + 1e-9) && got >= month * 0.99,
        "30d total {got} vs the month's {month}: {f}"
    );
    assert!(w["pue"].is_number(), "{f}");
    assert_eq!(d.stop(), Some(0), "{}", d.log());
}

/// The bounds on what an import reads: a file over `--max-bytes` is refused before anything is
/// read or written, and a line over 1 KiB is `malformed` with its number while the rest goes in.
#[test]
fn a_file_over_max_bytes_is_refused_and_an_overlong_line_is_malformed() {
    // Not started: `import` serves nothing and connects to no broker.
    let d = Dcpue::configured("mqtt://127.0.0.1:1", &facilities());
    let (dir, config) = (&d.dir, &d.config);
    let t0 = now_ms() / H * H - 2 * D;
    let lines = [
        "ts,meter,power_kw,energy_kwh".to_string(),
        format!("{t0},grid,,1000"),
        format!("{},grid,,1010{}", t0 + M5, " ".repeat(1100)),
        format!("{},grid,,1020", t0 + 2 * M5),
    ];
    let csv = dir.path().join("h.csv");
    std::fs::write(&csv, lines.join("\n") + "\n").expect("csv");
    let size = std::fs::metadata(&csv).expect("csv").len();

    let small = (size - 1).to_string();
    let o = import_with(config, &["--max-bytes", &small], &csv);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        err.contains(&format!("{size} bytes, more than --max-bytes {small}")),
        "{err}"
    );
    assert!(!dir.path().join("state/engine.state").exists());

    let o = import(config, &csv);
    let out = stdout(&o);
    assert!(o.status.success(), "{o:?}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("line 3: malformed: ") && l.contains("longer than 1024 bytes")),
        "{out}"
    );
    assert_eq!(summary(&out, "imported"), "2", "{out}");
}
