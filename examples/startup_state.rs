//! Builds a large state directory for the start-up benchmark (`scripts/bench_startup.sh`):
//! `F` facilities of 4 meters each with `DAYS` days of hourly energy-register readings, fed
//! straight into the engine in-process and written as a checkpoint, plus the config to serve it.
//!
//! `cargo run --release --example startup_state -- <dir> <broker_url> <http_port> [F] [DAYS]`

use std::time::Instant;

use dcpue::config::Config;
use dcpue::engine::{Engine, Reading};
use dcpue::store::{checkpoint, IngestMark};

const H: i64 = 3_600_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err(
            "usage: startup_state <dir> <broker_url> <http_port> [facilities] [days]".into(),
        );
    }
    let dir = std::path::PathBuf::from(&args[1]);
    let facilities: usize = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    let days: i64 = args.get(5).map_or(Ok(365), |s| s.parse())?;
    let state = dir.join("state");
    std::fs::create_dir_all(&state)?;
    let mut text = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"bench-startup-{}\"\ntopic_prefix = \"dc\"\nqos = 1\n\n\
         [http]\nlisten = \"127.0.0.1:{}\"\n\n[storage]\ndir = \"{}\"\n\n\
         [engine]\nmax_gap = \"2h\"\nwindows = [\"1h\", \"24h\", \"30d\", \"365d\"]\ncompliance_window = \"365d\"\n",
        args[2],
        args[3],
        args[3],
        state.display()
    );
    for f in 0..facilities {
        text.push_str(&format!(
            "\n[[facility]]\nid = \"f{f:04}\"\nname = \"Facility {f}\"\ncity = \"Nanchang\"\ntier = \"{}\"\nclass = \"large\"\ncommissioned = \"2020-01-01\"\n  [[facility.meter]]\n  id = \"grid\"\n  role = \"total\"\n  [[facility.meter]]\n  id = \"it-a\"\n  role = \"it\"\n  [[facility.meter]]\n  id = \"it-b\"\n  role = \"it\"\n  [[facility.meter]]\n  id = \"pv\"\n  role = [\"total\", \"renewable\"]\n",
            if f == 0 { "core" } else { "supplementary" }
        ));
    }
    let config_path = dir.join("dcpue.toml");
    std::fs::write(&config_path, &text)?;
    let cfg = Config::load(&config_path)?;
    let mut engine = Engine::new(&cfg);
    let now = chrono::Utc::now().timestamp_millis();
    let start = (now - days * 24 * H) / H * H;
    let hours = days * 24;
    let kw = [1300.0, 500.0, 480.0, 60.0];
    let meters: Vec<_> = (0..facilities)
        .flat_map(|f| {
            let fid = format!("f{f:04}");
            ["grid", "it-a", "it-b", "pv"]
                .into_iter()
                .enumerate()
                .filter_map(|(i, m)| engine.lookup(&fid, m).map(|r| (r, kw[i])))
                .collect::<Vec<_>>()
        })
        .collect();
    let t = Instant::now();
    let mut taken = 0u64;
    for h in 0..hours {
        let ts = start + h * H;
        for (k, (m, kw)) in meters.iter().enumerate() {
            let wobble = 1.0 + 0.05 * (((h as usize + k) % 7) as f64 / 7.0);
            let r = Reading {
                ts,
                power_kw: None,
                energy_kwh: Some(1000.0 + kw * h as f64 * wobble.min(1.0) + (k % 3) as f64),
                quality: Default::default(),
            };
            engine.ingest(*m, r, now);
            taken += 1;
        }
        if h % 24 == 23 {
            engine.advance(&mut |_| {});
        }
    }
    engine.advance(&mut |_| {});
    eprintln!(
        "fed {taken} readings ({} meters x {hours} h) in {:.1} s; engine heap ~{} MiB",
        meters.len(),
        t.elapsed().as_secs_f64(),
        engine.heap_bytes() >> 20
    );
    let t = Instant::now();
    checkpoint(&state, &engine, &IngestMark::default())?;
    // What a clean stop leaves beside it: the note that nothing was logged after the
    // checkpoint, and an (empty) alert history; without them `serve` refuses the directory.
    dcpue::store::stopped_cleanly(&state, 0)?;
    drop(dcpue::alerts::history::AlertHistory::open(&state)?);
    let size = std::fs::metadata(dcpue::store::state_path(&state))?.len();
    eprintln!(
        "checkpoint written in {:.1} s: {} ({:.1} MiB)",
        t.elapsed().as_secs_f64(),
        dcpue::store::state_path(&state).display(),
        size as f64 / (1 << 20) as f64
    );
    println!("{}", config_path.display());
    Ok(())
}
