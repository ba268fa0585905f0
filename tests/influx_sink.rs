//! The InfluxDB sink (CONTRACT §8) against a real server of the InfluxDB v2 write API:
//! VictoriaMetrics, started on a free loopback port with its data in a temp dir and
//! `-dedup.minScrapeInterval=1ms` (one point per series and millisecond, as InfluxDB keeps).
//! Points are read back with `/api/v1/export`, where a field becomes the metric
//! `<measurement>_<field>` and the tags become labels.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use dcpue::config::InfluxConfig;
use dcpue::duration::Span;
use dcpue::engine::{Energies, Reading, WindowValues};
use dcpue::sinks::influx::InfluxHandle;
use dcpue::sinks::line::{reading_line, window_line};
use dcpue::sinks::spool::Spool;
use support::{eventually, http_get, metric_value, Proc, VictoriaMetrics};

/// A series as VictoriaMetrics names it: metric name plus sorted labels.
type SeriesKey = String;
/// Every stored point: series → timestamp (ms) → values stored at that timestamp.
type Stored = BTreeMap<SeriesKey, BTreeMap<i64, Vec<f64>>>;
/// One expected point: (series, timestamp) and value.
type Point = ((SeriesKey, i64), f64);

/// Every dcpue point `vm` stored, read back with /api/v1/export.
fn stored(vm: &VictoriaMetrics) -> Stored {
    let (s, _) = http_get(&format!("{}/internal/force_flush", vm.url())).expect("force_flush");
    assert_eq!(s, 200);
    let (s, body) = http_get(&format!(
        "{}/api/v1/export?match[]=%7B__name__%3D~%22dcpue_.*%22%7D",
        vm.url()
    ))
    .expect("export");
    assert_eq!(s, 200, "{body}");
    let mut out = Stored::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("export line is JSON");
        let labels: BTreeMap<String, String> = v["metric"]
            .as_object()
            .expect("metric")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let key = series_key(&labels);
        let ts = v["timestamps"].as_array().expect("timestamps");
        let vals = v["values"].as_array().expect("values");
        assert_eq!(ts.len(), vals.len());
        let e = out.entry(key).or_default();
        for (t, x) in ts.iter().zip(vals) {
            e.entry(t.as_i64().expect("ts"))
                .or_default()
                .push(x.as_f64().expect("value"));
        }
    }
    out
}

/// A counter of `vm`'s own /metrics (0 when absent).
fn self_metric(vm: &VictoriaMetrics, name_and_labels: &str) -> f64 {
    let (_, body) = http_get(&format!("{}/metrics", vm.url())).expect("metrics");
    metric_value(&body, name_and_labels).unwrap_or(0.0)
}

fn series_key(labels: &BTreeMap<String, String>) -> SeriesKey {
    let name = labels.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

/// The points one line should become: (series, ts, value) per field.
#[derive(Default)]
struct Expected {
    points: BTreeMap<(SeriesKey, i64), f64>,
    /// Each line with the points it carries.
    lines: Vec<(String, Vec<Point>)>,
}

impl Expected {
    fn add(
        &mut self,
        measurement: &str,
        tags: &[(&str, &str)],
        fields: &[(&str, Option<f64>)],
        ts: i64,
        line: String,
    ) {
        let mut pts = Vec::new();
        for (f, v) in fields {
            if let Some(v) = v {
                let mut labels: BTreeMap<String, String> = tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                labels.insert("__name__".into(), format!("{measurement}_{f}"));
                self.points.insert((series_key(&labels), ts), *v);
                pts.push(((series_key(&labels), ts), *v));
            }
        }
        self.lines.push((line, pts));
    }

    fn reading(&mut self, facility: &str, meter: &str, role: &str, r: Reading) -> String {
        let line = reading_line(facility, meter, role, &r).expect("a reading line");
        self.add(
            "dcpue_reading",
            &[("facility", facility), ("meter", meter), ("role", role)],
            &[("power_kw", r.power_kw), ("energy_kwh", r.energy_kwh)],
            r.ts,
            line.clone(),
        );
        line
    }

    fn window(
        &mut self,
        facility: &str,
        tier: &str,
        window: &str,
        ts: i64,
        v: &WindowValues,
    ) -> String {
        let line = window_line(facility, tier, window, ts, v).expect("a window line");
        self.add(
            "dcpue_window",
            &[("facility", facility), ("tier", tier), ("window", window)],
            &[
                ("pue", v.pue),
                ("coverage", Some(v.coverage)),
                ("renewable_share", v.renewable_share),
                ("energy_total_kwh", Some(v.energy_kwh.total)),
                ("energy_it_kwh", Some(v.energy_kwh.it)),
                ("energy_renewable_kwh", Some(v.energy_kwh.renewable)),
                ("estimated_share", v.estimated_share),
            ],
            ts,
            line.clone(),
        );
        line
    }

    /// Checks `stored` holds every expected point exactly once with its value. Err(why) while not.
    fn check(&self, stored: &Stored) -> Result<(), String> {
        let mut missing = 0;
        for ((key, ts), want) in &self.points {
            match stored.get(key).and_then(|s| s.get(ts)) {
                None => missing += 1,
                Some(vals) if vals.len() != 1 => {
                    return Err(format!("{key} @{ts}: {} values {vals:?}", vals.len()))
                }
                Some(vals) if vals[0] != *want => {
                    return Err(format!("{key} @{ts}: stored {} want {want}", vals[0]))
                }
                Some(_) => {}
            }
        }
        if missing > 0 {
            return Err(format!("{missing} of {} points missing", self.points.len()));
        }
        let stored_n: usize = stored.values().map(|s| s.len()).sum();
        if stored_n != self.points.len() {
            let want: BTreeSet<_> = self.points.keys().collect();
            let extra: Vec<_> = stored
                .iter()
                .flat_map(|(k, s)| s.keys().map(move |t| (k.clone(), *t)))
                .filter(|p| !want.contains(p))
                .take(5)
                .collect();
            return Err(format!(
                "{stored_n} points stored, {} expected; extra: {extra:?}",
                self.points.len()
            ));
        }
        Ok(())
    }
}

const T0: i64 = 1_764_270_000_000; // 2025-11-27T19:00:00Z

/// A scenario of `n` steps: two facilities, a grid meter with two roles, an IT meter, and a window
/// point per step (every other one without PUE or renewable share, the others without estimated
/// share). Values have few decimal digits (VictoriaMetrics keeps 12 significant digits),
/// timestamps odd milliseconds.
fn scenario(exp: &mut Expected, from: usize, to: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for i in from..to {
        let ts = T0 + i as i64 * 60_001 + 7;
        let k = i as f64;
        for (f, tier) in [("nanchang-1", "core"), ("yingtan-1", "backup")] {
            lines.push(exp.reading(
                f,
                "grid-in",
                "total+renewable",
                Reading {
                    ts,
                    power_kw: Some(1200.25 + k),
                    energy_kwh: Some(500_000.5 + k * 20.125),
                    quality: Default::default(),
                },
            ));
            lines.push(exp.reading(
                f,
                "it-a",
                "it",
                Reading {
                    ts: ts + 3,
                    power_kw: Some(900.5 + k / 4.0),
                    energy_kwh: None,
                    quality: Default::default(),
                },
            ));
            let v = WindowValues {
                pue: (i % 2 == 0).then_some((1250 + i) as f64 / 1000.0),
                coverage: if i % 3 == 0 { 1.0 } else { 0.875 },
                renewable_share: (i % 2 == 0).then_some(0.3125),
                energy_kwh: Energies {
                    total: 20.125 * k,
                    it: 16.0 * k,
                    renewable: 0.5,
                },
                covered_energy_kwh: None,
                kpi: Default::default(),
                start_ms: 0,
                end_ms: ts,
                estimated_share: (i % 2 == 1).then_some(0.0625 * (i % 5) as f64),
            };
            lines.push(exp.window(f, tier, "24h", ts, &v));
        }
    }
    lines
}

fn cfg(url: &str) -> InfluxConfig {
    InfluxConfig {
        url: url.to_string(),
        org: "jiangxi".into(),
        bucket: "dcpue".into(),
        token_file: None,
        window_every: Span::MINUTE,
        batch_size: 50,
        flush_every: Span(200),
        memory_points: 1000,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn metrics_text(reg: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&reg.gather(), &mut buf)
        .expect("encode");
    String::from_utf8(buf).expect("utf8")
}

/// The sink's metrics once its queue is empty (the gauge follows the commit of a write).
fn drained(reg: &prometheus::Registry) -> String {
    eventually(Duration::from_secs(10), || {
        let t = metrics_text(reg);
        (metric_value(&t, "dcpue_influx_queue_points") == Some(0.0)).then_some(t)
    })
    .unwrap_or_else(|| panic!("queue not drained: {}", metrics_text(reg)))
}

fn wait_all(vm: &VictoriaMetrics, exp: &Expected, timeout: Duration) {
    let mut last = String::new();
    let ok = eventually(timeout, || match exp.check(&stored(vm)) {
        Ok(()) => Some(()),
        Err(e) => {
            last = e;
            None
        }
    });
    assert!(ok.is_some(), "points not all stored exactly once: {last}");
}

#[test]
fn points_arrive_with_exact_values_and_millisecond_timestamps() {
    let vm = VictoriaMetrics::start();
    let rt = runtime();
    let _g = rt.enter();
    let spool = tempfile::tempdir().expect("tmp");
    let reg = prometheus::Registry::new();
    let h = InfluxHandle::start(&cfg(&vm.url()), spool.path().join("spool"), &reg).expect("start");
    let mut exp = Expected::default();
    // Pushed in small chunks, as the app does per message.
    for chunk in scenario(&mut exp, 0, 40).chunks(7) {
        h.push(chunk.to_vec());
    }
    rt.block_on(h.sync()).expect("sync");
    wait_all(&vm, &exp, Duration::from_secs(30));

    let text = drained(&reg);
    let lines = exp.lines.len() as f64;
    assert_eq!(
        metric_value(&text, "dcpue_influx_points_written_total"),
        Some(lines),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "dcpue_influx_queue_points"),
        Some(0.0),
        "{text}"
    );
    for kind in ["connect", "http_4xx", "http_5xx", "other"] {
        let m = format!("dcpue_influx_write_errors_total{{kind=\"{kind}\"}}");
        assert_eq!(metric_value(&text, &m), Some(0.0), "{text}");
    }
    // No point sent twice in normal operation: the server received each row once.
    assert_eq!(
        self_metric(&vm, "vm_rows_inserted_total{type=\"influx\"}"),
        exp.points.len() as f64
    );
    // The spool is empty and its old segments gone after a clean shutdown.
    rt.block_on(h.shutdown());
    let reopened = Spool::open(spool.path().join("spool")).expect("reopen spool");
    assert_eq!(reopened.len(), 0);
}

#[test]
fn server_stopped_mid_stream_every_point_arrives_once() {
    let mut vm = VictoriaMetrics::start();
    let rt = runtime();
    let _g = rt.enter();
    let spool = tempfile::tempdir().expect("tmp");
    let reg = prometheus::Registry::new();
    let h = InfluxHandle::start(&cfg(&vm.url()), spool.path().join("spool"), &reg).expect("start");
    let mut exp = Expected::default();
    let mut step = 0;
    let mut push_steps = |n: usize, exp: &mut Expected| {
        for _ in 0..n {
            h.push(scenario(exp, step, step + 1));
            step += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    push_steps(30, &mut exp);
    assert!(
        vm.stop().is_some(),
        "victoria-metrics did not stop on SIGTERM"
    );
    push_steps(60, &mut exp);
    // While it is down: write errors counted, points queued.
    let text = eventually(Duration::from_secs(20), || {
        let t = metrics_text(&reg);
        (metric_value(&t, "dcpue_influx_write_errors_total{kind=\"connect\"}").unwrap_or(0.0)
            >= 2.0
            && metric_value(&t, "dcpue_influx_queue_points").unwrap_or(0.0) > 0.0)
            .then_some(t)
    });
    assert!(
        text.is_some(),
        "no connect errors / queue while the server was down: {}",
        metrics_text(&reg)
    );
    push_steps(30, &mut exp);
    vm.restart();
    push_steps(30, &mut exp);
    rt.block_on(h.sync()).expect("sync");
    wait_all(&vm, &exp, Duration::from_secs(60));
    let text = drained(&reg);
    assert_eq!(
        metric_value(&text, "dcpue_influx_queue_points"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "dcpue_influx_points_written_total"),
        Some(exp.lines.len() as f64),
        "{text}"
    );
    rt.block_on(h.shutdown());
}

const CHILD_ENV: &str = "DCPUE_INFLUX_TEST_CHILD";
const SYNCED: &str = "CHILD-SYNCED";

/// The child half of the crash test: spools points for a server that is down, syncs, says so,
/// pushes more without sync and waits to be killed.
fn crash_child(url: &str, spool_dir: &Path) {
    let rt = runtime();
    let _g = rt.enter();
    let reg = prometheus::Registry::new();
    let h = InfluxHandle::start(&cfg(url), spool_dir.to_path_buf(), &reg).expect("child start");
    let mut exp = Expected::default();
    for chunk in scenario(&mut exp, 0, 40).chunks(5) {
        h.push(chunk.to_vec());
    }
    rt.block_on(h.sync()).expect("child sync");
    // Pushed right after a sync, these would still sit in the spool's write buffer if the next
    // sync did not flush them.
    for chunk in scenario(&mut exp, 40, 50).chunks(5) {
        h.push(chunk.to_vec());
    }
    rt.block_on(h.sync()).expect("child sync");
    println!("{SYNCED}");
    let mut more = Expected::default();
    h.push(scenario(&mut more, 50, 60));
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn killed_while_server_down_spooled_points_arrive_after_restart() {
    if let Ok(args) = std::env::var(CHILD_ENV) {
        let (url, dir) = args.split_once('|').expect("child args");
        crash_child(url, &PathBuf::from(dir));
        return;
    }
    let mut vm = VictoriaMetrics::start();
    let spool = tempfile::tempdir().expect("tmp");
    let spool_dir = spool.path().join("spool");
    // Points of a first run arrive while the server is up.
    let mut exp_before = Expected::default();
    {
        let rt = runtime();
        let _g = rt.enter();
        let h = InfluxHandle::start(
            &cfg(&vm.url()),
            spool_dir.clone(),
            &prometheus::Registry::new(),
        )
        .expect("start");
        h.push(scenario(&mut exp_before, 100, 110));
        rt.block_on(h.sync()).expect("sync");
        wait_all(&vm, &exp_before, Duration::from_secs(30));
        rt.block_on(h.shutdown());
    }
    assert!(
        vm.stop().is_some(),
        "victoria-metrics did not stop on SIGTERM"
    );
    // dcpue (here: this test binary, re-run as a child) spools while the server is down and is
    // killed with SIGKILL after its sync.
    let mut child = Proc::spawn(
        "sink child",
        Command::new(std::env::current_exe().expect("exe"))
            .args([
                "--exact",
                "killed_while_server_down_spooled_points_arrive_after_restart",
                "--nocapture",
            ])
            .env(CHILD_ENV, format!("{}|{}", vm.url(), spool_dir.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let out = child.child.stdout.take().expect("child stdout");
    let mut synced = false;
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        if line.contains(SYNCED) {
            synced = true;
            break;
        }
    }
    assert!(synced, "the child did not report its sync");
    child.kill();
    let mut exp = Expected::default();
    let synced_lines = scenario(&mut exp, 0, 50);
    let mut unsynced = Expected::default();
    scenario(&mut unsynced, 50, 60);

    vm.restart();
    let rt = runtime();
    let _g = rt.enter();
    let reg = prometheus::Registry::new();
    let h = InfluxHandle::start(&cfg(&vm.url()), spool_dir.clone(), &reg).expect("restart");
    // Everything synced before the kill arrives, once; the first run's points are still there.
    // Points pushed after the sync may or may not have reached the disk before the kill: any
    // other point stored must be one of those, with its value.
    let ok = eventually(Duration::from_secs(60), || {
        let stored = stored(&vm);
        let all_synced = exp
            .points
            .iter()
            .all(|((k, t), v)| stored.get(k).and_then(|s| s.get(t)) == Some(&vec![*v]));
        (all_synced && h.queued() == 0).then_some(stored)
    });
    let stored = ok.expect("the synced points did not all arrive");
    let mut all = Expected::default();
    scenario(&mut all, 100, 110);
    scenario(&mut all, 0, 50);
    let extra: Vec<_> = stored
        .iter()
        .flat_map(|(k, s)| s.iter().map(move |(t, v)| (k.clone(), *t, v.clone())))
        .filter(|(k, t, _)| !all.points.contains_key(&(k.clone(), *t)))
        .collect();
    for (k, t, v) in &extra {
        assert_eq!(
            unsynced.points.get(&(k.clone(), *t)).map(|x| vec![*x]),
            Some(v.clone()),
            "unexpected point {k} @{t}"
        );
    }
    assert!(
        all.check(&strip(&stored, &extra)).is_ok(),
        "{:?}",
        all.check(&strip(&stored, &extra))
    );
    let text = drained(&reg);
    assert!(
        metric_value(&text, "dcpue_influx_points_written_total").unwrap_or(0.0)
            >= synced_lines.len() as f64,
        "{text}"
    );
    rt.block_on(h.shutdown());
}

fn strip(stored: &Stored, extra: &[(SeriesKey, i64, Vec<f64>)]) -> Stored {
    let mut s = stored.clone();
    for (k, t, _) in extra {
        if let Some(series) = s.get_mut(k) {
            series.remove(t);
            if series.is_empty() {
                s.remove(k);
            }
        }
    }
    s
}

#[test]
fn corrupt_and_torn_spool_records_are_skipped_and_the_rest_arrives() {
    let spool = tempfile::tempdir().expect("tmp");
    let dir = spool.path().join("spool");
    let mut exp = Expected::default();
    let lines = scenario(&mut exp, 0, 20);
    {
        let mut s = Spool::open(&dir).expect("spool");
        s.append(&lines).expect("append");
        s.sync().expect("sync");
    }
    let seg = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment");
    let mut bytes = std::fs::read(&seg).expect("read");
    // Flip a byte inside the 10th line's record (bit rot), and cut the last record in half (a
    // crash in the middle of a write).
    let victim = &lines[9];
    let at = bytes
        .windows(victim.len())
        .position(|w| w == victim.as_bytes())
        .expect("victim in segment");
    bytes[at + victim.len() / 2] ^= 0x55;
    let torn = lines.last().expect("lines").len() / 2;
    bytes.truncate(bytes.len() - torn);
    std::fs::write(&seg, &bytes).expect("write");

    // Expected: every line but the two damaged ones.
    let n = lines.len();
    let mut want = Expected::default();
    for (i, (_, pts)) in exp.lines.iter().enumerate() {
        if i != 9 && i != n - 1 {
            want.points.extend(pts.iter().cloned());
        }
    }

    let vm = VictoriaMetrics::start();
    let rt = runtime();
    let _g = rt.enter();
    let reg = prometheus::Registry::new();
    let h = InfluxHandle::start(&cfg(&vm.url()), dir.clone(), &reg)
        .expect("start on the damaged spool");
    wait_all(&vm, &want, Duration::from_secs(30));
    let text = drained(&reg);
    assert_eq!(
        metric_value(&text, "dcpue_influx_spool_corrupt_records_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "dcpue_influx_points_written_total"),
        Some((n - 2) as f64),
        "{text}"
    );
    // The spool goes on working after the damage.
    let mut more = Expected::default();
    h.push(scenario(&mut more, 30, 31));
    want.points.extend(more.points);
    wait_all(&vm, &want, Duration::from_secs(30));
    rt.block_on(h.shutdown());
}

#[test]
fn a_point_the_server_rejects_is_dropped_alone_and_does_not_block_the_queue() {
    // This server answers 400 to a whole request holding a line far longer than 1000 bytes.
    let vm = VictoriaMetrics::start_with(&["-influx.maxLineSize=1000"]);
    let rt = runtime();
    let _g = rt.enter();
    let spool = tempfile::tempdir().expect("tmp");
    let reg = prometheus::Registry::new();
    let h = InfluxHandle::start(&cfg(&vm.url()), spool.path().join("spool"), &reg).expect("start");
    let mut exp = Expected::default();
    let mut lines = scenario(&mut exp, 0, 6);
    let long_meter = "m".repeat(100_000);
    let bad = reading_line(
        "nanchang-1",
        &long_meter,
        "it",
        &Reading {
            ts: T0,
            power_kw: Some(1.0),
            energy_kwh: None,
            quality: Default::default(),
        },
    )
    .expect("line");
    lines.insert(17, bad);
    h.push(lines);
    h.push(scenario(&mut exp, 6, 10));
    wait_all(&vm, &exp, Duration::from_secs(30));
    let text = eventually(Duration::from_secs(10), || {
        let t = metrics_text(&reg);
        (metric_value(&t, "dcpue_influx_queue_points") == Some(0.0)).then_some(t)
    })
    .expect("queue drained");
    assert_eq!(
        metric_value(&text, "dcpue_influx_points_dropped_total"),
        Some(1.0),
        "{text}"
    );
    assert!(
        metric_value(&text, "dcpue_influx_write_errors_total{kind=\"http_4xx\"}").unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "dcpue_influx_points_written_total"),
        Some(exp.lines.len() as f64),
        "{text}"
    );
    rt.block_on(h.shutdown());
}
