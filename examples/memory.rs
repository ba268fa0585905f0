//! Memory per meter with every window up to 365d full (issue 2; target ≤ 100 KB per meter,
//! history included).
//!
//! `cargo run --release --example memory -- [FACILITIES] [--no-advance]`: FACILITIES facilities
//! of 8 meters (default 125, i.e. 1,000 meters) get a year of 15-minute register readings, then a
//! day of 1-minute readings (registers and power meters), in time order; the windows are moved
//! (`Engine::advance`) every simulated hour unless `--no-advance`. Prints the resident memory
//! (VmRSS of /proc/self/status) per meter and `Engine::heap_bytes()` per meter.

use std::time::Instant;

use dcpue::config::Config;
use dcpue::engine::{Engine, MeterRef, Reading, Verdict};

/// 2025-03-01T00:00:00Z.
const T0: i64 = 1_740_787_200_000;
const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// id, role, mean kW.
const METERS: [(&str, &str, f64); 8] = [
    ("grid-in", "\"total\"", 2600.0),
    ("office", "\"total\"", 40.0),
    ("pv-roof", "[\"total\", \"renewable\"]", 150.0),
    ("it-a", "\"it\"", 500.0),
    ("it-b", "\"it\"", 500.0),
    ("it-c", "\"it\"", 500.0),
    ("it-d", "\"it\"", 500.0),
    ("green-ppa", "\"renewable\"", 600.0),
];

fn vm_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn config(facilities: usize) -> Config {
    let mut t = String::from(
        "[engine]\nmax_gap = \"20m\"\nwindows = [\"15m\", \"1h\", \"24h\", \"30d\", \"365d\"]\ncompliance_window = \"365d\"\n",
    );
    for f in 0..facilities {
        t.push_str(&format!(
            "[[facility]]\nid = \"dc-{f}\"\nname = \"DC {f}\"\ncity = \"X\"\ntier = \"backup\"\nclass = \"large\"\ncommissioned = \"2023-06-01\"\n"
        ));
        for (id, role, _) in METERS {
            let w = if id == "office" { -1.0 } else { 1.0 };
            t.push_str(&format!(
                "  [[facility.meter]]\n  id = \"{id}\"\n  role = {role}\n  weight = {w:.1}\n"
            ));
        }
    }
    Config::parse(&t, "memory.toml").unwrap_or_else(|e| panic!("config: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let facilities: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(125);
    let advance = !args.iter().any(|a| a == "--no-advance");
    let meters = facilities * METERS.len();
    let cfg = config(facilities);

    let rss0 = vm_rss_kb();
    let started = Instant::now();
    let mut e = Engine::new(&cfg);
    let refs: Vec<(MeterRef, f64)> = (0..facilities)
        .flat_map(|f| METERS.iter().map(move |m| (f, m)))
        .map(|(f, (id, _, kw))| {
            let r = e
                .lookup(&format!("dc-{f}"), id)
                .unwrap_or_else(|| panic!("meter dc-{f}/{id}"));
            (r, *kw)
        })
        .collect();
    let mut register = vec![0.0f64; refs.len()];
    let wall = T0 + 400 * DAY;
    let mut readings = 0u64;
    let mut steps = 0u64;
    let mut feed = |e: &mut Engine, ts: i64, every: i64, as_power: bool| {
        for (k, (m, kw)) in refs.iter().enumerate() {
            let p = kw * (1.0 + 0.1 * ((ts / every + k as i64) % 7) as f64 / 7.0);
            register[k] += p * every as f64 / 3_600_000.0;
            let r = if as_power && k % 2 == 1 {
                Reading {
                    ts,
                    power_kw: Some(p),
                    energy_kwh: None,
                    quality: Default::default(),
                }
            } else {
                Reading {
                    ts,
                    power_kw: None,
                    energy_kwh: Some(register[k]),
                    quality: Default::default(),
                }
            };
            let v = e.ingest(*m, r, wall);
            assert_eq!(v, Verdict::Accepted, "meter {k} at {ts}");
            readings += 1;
        }
    };
    // A year of 15-minute register readings.
    let year_end = T0 + 365 * DAY;
    let mut ts = T0;
    while ts < year_end {
        feed(&mut e, ts, 15 * MIN, false);
        if advance && ts % 3_600_000 == 0 {
            e.advance(&mut |_| steps += 1);
        }
        ts += 15 * MIN;
    }
    // Then a day of 1-minute readings (half the meters switch to power samples).
    let day_end = year_end + DAY;
    while ts <= day_end {
        feed(&mut e, ts, MIN, true);
        if advance && ts % 3_600_000 == 0 {
            e.advance(&mut |_| steps += 1);
        }
        ts += MIN;
    }
    e.advance(&mut |_| steps += 1);
    let snap = e.snapshot(day_end);
    let rss1 = vm_rss_kb();
    let secs = started.elapsed().as_secs_f64();

    let f0 = &snap.facilities[0];
    let year = f0.windows.get("365d");
    println!(
        "{facilities} facilities x {} meters = {meters} meters; {readings} readings, {steps} facility steps, {secs:.1} s{}",
        METERS.len(),
        if advance { "" } else { " (no advance)" }
    );
    if let Some(y) = year {
        println!(
            "365d window of {}: coverage {:.4}, PUE {:?}, energy total {:.0} kWh",
            f0.id, y.coverage, y.pue, y.energy_kwh.total
        );
    }
    let history = e.meter_history(refs[0].0).len();
    println!("hourly history of one meter: {history} hours");
    let rss_per = (rss1.saturating_sub(rss0)) as f64 * 1024.0 / meters as f64;
    let heap_per = e.heap_bytes() as f64 / meters as f64;
    println!("FIGURE rss_bytes_per_meter {rss_per:.0}");
    println!("FIGURE heap_bytes_per_meter {heap_per:.0}");
    println!(
        "RSS before {rss0} kB, after {rss1} kB; target <= 100 KB per meter: {}",
        if rss_per <= 100.0 * 1024.0 {
            "met"
        } else {
            "MISSED"
        }
    );
}
