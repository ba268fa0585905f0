//! `dcpue simulate` into `dcpue serve` through a real Mosquitto: after a simulated past week,
//! each facility's 24h PUE agrees with the simulator's own energy totals.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dcpue::config::Config;
use dcpue::sim::{SimModel, SimOptions};
use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

#[test]
fn a_simulated_week_gives_each_facility_the_24h_pue_of_the_model() {
    let broker = Mosquitto::start();
    let jiangxi =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jiangxi.toml"))
            .unwrap();
    // The shipped layout with this test's broker, port and state.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::parse(&jiangxi, "jiangxi.toml").unwrap();
    cfg.mqtt.url = broker.url();
    cfg.mqtt.client_id = format!("dcpue-sim-test-{}", support::unique());
    // Port 0: the port it bound is read from its log.
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.storage.dir = dir.path().join("state");
    let text = toml::to_string(&cfg).unwrap();
    let config_path = dir.path().join("dcpue.toml");
    std::fs::write(&config_path, &text).unwrap();
    let mut d = Dcpue {
        proc: None,
        http_port: 0,
        dir,
        config: config_path.clone(),
    };
    d.restart();

    let now = chrono::Utc::now().timestamp_millis();
    let end = (now - 2 * H) / H * H; // the last reading's time, a whole hour
    let from = end - 7 * 24 * H;
    let seed = 7;
    let out = Command::new(dcpue_bin())
        .args(["simulate", "--config"])
        .arg(&config_path)
        .args([
            "--broker",
            &broker.url(),
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(end + M),
            "--seed",
            &seed.to_string(),
            "--batch",
            "60",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dcpue simulate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Everything published reaches the watermark of every facility.
    let reached = eventually(Duration::from_secs(120), || {
        let all = d.get_json("/api/v1/facilities");
        let ok = all.as_array()?.iter().all(|f| {
            f["watermark"]
                .as_str()
                .and_then(|w| chrono::DateTime::parse_from_rfc3339(w).ok())
                .map(|w| w.timestamp_millis())
                == Some(end)
        });
        ok.then_some(all)
    })
    .unwrap_or_else(|| panic!("watermarks reach the end of the week; log:\n{}", d.log()));

    let mut model = SimModel::new(&cfg, seed, SimOptions::default());
    let _ = model.readings_between(from, end + M, M).count();
    for f in reached.as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        let t = model.totals(id, end - 24 * H, end).unwrap();
        let expected = t.pue().unwrap();
        let got = f["windows"]["24h"]["pue"]
            .as_f64()
            .unwrap_or_else(|| panic!("{id}: no 24h PUE: {f}"));
        assert!(
            (got / expected - 1.0).abs() < 0.01,
            "{id}: dcpue 24h PUE {got:.4}, model {expected:.4}"
        );
        assert!(
            (f["windows"]["24h"]["coverage"].as_f64().unwrap() - 1.0).abs() < 1e-9,
            "{id}: full coverage"
        );
        let it = f["windows"]["24h"]["energy_kwh"]["it"].as_f64().unwrap();
        assert!(
            (it / t.it - 1.0).abs() < 0.01,
            "{id}: IT energy {it} vs model {}",
            t.it
        );
    }
    let rejected: f64 = d
        .metrics()
        .lines()
        .filter(|l| l.starts_with("dcpue_readings_rejected_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(rejected, 0.0, "a clean simulated week has no rejections");
}
