//! The InfluxDB sink end to end: readings through a real Mosquitto into `dcpue serve`, points in
//! a real InfluxDB v2 write-API server (VictoriaMetrics), also across a server outage and a
//! dcpue crash while the server is down.

mod support;

use std::time::Duration;

use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;

fn lines(from: i64, minutes: i64, kw: f64) -> Vec<String> {
    (0..minutes)
        .map(|k| format!(r#"{{"ts": {}, "power_kw": {kw}}}"#, from + k * M))
        .collect()
}

fn config(vm: &VictoriaMetrics, token: &std::path::Path) -> String {
    format!(
        r#"
[engine]
windows = ["15m", "1h"]
compliance_window = "1h"

[influxdb]
url = "{}"
org = "jiangxi"
bucket = "dcpue"
token_file = "{}"
window_every = "5m"

{TEST_FACILITIES}
"#,
        vm.url(),
        token.display()
    )
}

/// Points of one measurement field for facility f2 (VictoriaMetrics names them
/// `<measurement>_<field>`).
fn series(vm: &VictoriaMetrics, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    vm.export(&format!("{{__name__=\"{name}\",facility=\"f2\"}}"))
        .into_iter()
        .map(|((_, l), v)| (l, v))
        .collect()
}

#[test]
fn readings_and_window_points_arrive_across_an_outage_and_a_crash() {
    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("influx.token");
    std::fs::write(&token, "secret-token\n").unwrap();
    let mut vm = VictoriaMetrics::start();
    let broker = Mosquitto::start();
    let mut d = Dcpue::start(&broker.url(), &config(&vm, &token));
    let t0 = (chrono::Utc::now().timestamp_millis() - 5 * H) / H * H;

    // Part 1: 30 minutes with the server up.
    broker.publish_lines("dc/f2/grid", &lines(t0, 30, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &lines(t0, 30, 1000.0), 1);
    let got = eventually(Duration::from_secs(30), || {
        let s = series(&vm, "dcpue_reading_power_kw");
        (s.iter().map(|(_, v)| v.len()).sum::<usize>() == 60).then_some(s)
    })
    .unwrap_or_else(|| panic!("60 reading points; log:\n{}", d.log()));
    let grid = got
        .iter()
        .find(|(l, _)| l.contains("meter=grid"))
        .expect("grid series");
    assert!(grid.0.contains("role=total"), "{}", grid.0);
    assert_eq!(
        grid.1[0],
        (t0, 1300.0),
        "value at the reading's ts, to the millisecond"
    );

    // Part 2: the server goes away for the next 30 minutes of readings, then comes back.
    vm.stop();
    broker.publish_lines("dc/f2/grid", &lines(t0 + 30 * M, 30, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &lines(t0 + 30 * M, 30, 1000.0), 1);
    let accepted = eventually(Duration::from_secs(30), || {
        (d.metric(r#"dcpue_readings_accepted_total{facility="f2"}"#) == Some(120.0)).then_some(())
    });
    assert!(
        accepted.is_some(),
        "ingest goes on while the sink's server is down"
    );
    std::thread::sleep(Duration::from_secs(1));
    vm.restart();
    let all = eventually(Duration::from_secs(60), || {
        let s = series(&vm, "dcpue_reading_power_kw");
        (s.iter().map(|(_, v)| v.len()).sum::<usize>() == 120).then_some(s)
    });
    assert!(
        all.is_some(),
        "every reading point after the outage; log:\n{}",
        d.log()
    );

    // Part 3: the server goes away again and dcpue crashes (SIGKILL) with points spooled.
    vm.stop();
    broker.publish_lines("dc/f2/grid", &lines(t0 + H, 30, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &lines(t0 + H, 30, 1000.0), 1);
    let accepted = eventually(Duration::from_secs(30), || {
        (d.metric(r#"dcpue_readings_accepted_total{facility="f2"}"#) == Some(180.0)).then_some(())
    });
    assert!(accepted.is_some());
    d.kill();
    vm.restart();
    d.restart();
    let all = eventually(Duration::from_secs(60), || {
        let s = series(&vm, "dcpue_reading_power_kw");
        (s.iter().map(|(_, v)| v.len()).sum::<usize>() == 180).then_some(s)
    })
    .unwrap_or_else(|| {
        panic!(
            "the spooled points arrive after the crash; log:\n{}",
            d.log()
        )
    });
    for (labels, points) in &all {
        let mut ts: Vec<i64> = points.iter().map(|p| p.0).collect();
        ts.dedup();
        assert_eq!(ts.len(), 90, "one point per series and timestamp: {labels}");
    }

    // Window points: every 5 minutes of event time, with the window's values.
    let pue = series(&vm, "dcpue_window_pue");
    let h1 = pue
        .iter()
        .find(|(l, _)| l.contains("window=1h"))
        .unwrap_or_else(|| panic!("1h window PUE points: {pue:?}"));
    assert!(h1.0.contains("tier=backup"), "{}", h1.0);
    assert!(h1.1.iter().all(|p| (p.1 - 1.3).abs() < 1e-9), "{:?}", h1.1);
    assert!(
        h1.1.windows(2).all(|w| w[1].0 - w[0].0 >= 5 * M),
        "at most one point per window_every"
    );
    let last = h1.1.last().unwrap().0;
    assert_eq!(
        last,
        t0 + H + 29 * M - (t0 + H + 29 * M) % (5 * M),
        "points follow the watermark"
    );
    let cov = series(&vm, "dcpue_window_coverage");
    assert!(!cov.is_empty());
    assert!(
        !d.log().contains("secret-token"),
        "the token is never logged"
    );
}
