//! `dcpue demo` as a newcomer runs it: one command, the Jiangxi layout, a year of history,
//! one facility in breach with its alert firing, a clean stop on Ctrl-C.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

#[test]
fn demo_shows_seven_facilities_one_breaching_with_its_alert() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::fs::File::create(dir.path().join("demo.out")).unwrap();
    let err = std::fs::File::create(dir.path().join("demo.err")).unwrap();
    let mut demo = Proc::spawn(
        "dcpue demo",
        Command::new(dcpue_bin())
            .args([
                "demo",
                "--http-port",
                "0",
                "--mqtt-port",
                "0",
                "--state-dir",
            ])
            .arg(dir.path().join("state"))
            .stdout(out)
            .stderr(err),
    );
    let log = || std::fs::read_to_string(dir.path().join("demo.err")).unwrap_or_default();
    // Port 0: the addresses the demo bound, from the lines it prints once serving.
    let printed = |label: &str| {
        let out = std::fs::read_to_string(dir.path().join("demo.out")).unwrap_or_default();
        out.lines()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .map(|url| url.trim_end_matches('/').to_string())
    };
    let base = eventually(Duration::from_secs(60), || printed("dashboard"))
        .unwrap_or_else(|| panic!("the demo prints its dashboard address; log:\n{}", log()));
    let mqtt_url = printed("MQTT broker").expect("the demo prints its broker address");
    let mqtt: u16 = mqtt_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a port in {mqtt_url}"));
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0") && mqtt != 0,
        "{base} {mqtt_url}"
    );
    let http: u16 = base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    assert!(
        listens(demo.pid(), http) && listens(demo.pid(), mqtt),
        "the demo itself listens on the printed ports {http} and {mqtt}"
    );
    // The year's backfill takes ~40 s on a quiet 2-core machine; the limit is a bound on a
    // hang, not a speed target (that is scripts/bench_startup.sh's), so a loaded machine passes.
    let facilities = eventually(Duration::from_secs(180), || {
        let (s, body) = http_get(&format!("{base}/api/v1/facilities"))?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let all = v.as_array()?;
        let ready = s == 200
            && all.len() == 7
            && all.iter().all(|f| {
                f["windows"]["365d"]["pue"].is_number()
                    && f["status"] != "insufficient_data"
                    // the backfill has reached the present: every window has a PUE
                    && ["15m", "1h", "24h", "30d"]
                        .iter()
                        .all(|w| f["windows"][*w]["pue"].is_number())
            });
        ready.then_some(v)
    })
    .unwrap_or_else(|| {
        panic!(
            "within 3 minutes all seven facilities have a PUE in every window; log:\n{}",
            log()
        )
    });
    let by_id = |id: &str| {
        facilities
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .unwrap()
    };
    let ids: Vec<&str> = facilities
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for id in [
        "nanchang-1",
        "jiujiang-1",
        "shangrao-1",
        "ganzhou-1",
        "yichun-1",
        "fuzhou-1",
        "yingtan-1",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert_eq!(by_id("nanchang-1")["tier"], "core");
    assert_eq!(by_id("fuzhou-1")["tier"], "backup");
    let breaching: Vec<&str> = facilities
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "breach")
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        breaching.len(),
        1,
        "exactly one facility breaches: {breaching:?}"
    );
    let b = by_id(breaching[0]);
    assert!(b["windows"]["365d"]["pue"].as_f64().unwrap() > b["pue_ceiling"].as_f64().unwrap());
    for f in facilities.as_array().unwrap() {
        if f["id"] != breaching[0] {
            assert_eq!(f["status"], "compliant", "{}", f["id"]);
            assert!(f["windows"]["365d"]["coverage"].as_f64().unwrap() >= 0.9);
            for w in ["15m", "1h", "24h", "30d"] {
                assert!(f["windows"][w]["pue"].is_number(), "{} {w}", f["id"]);
            }
        }
    }
    // CONTRACT §14 (30d windows): the sites with cooling-water meters show WUE, those with renewables or
    // certificates REF, the heat-reuse site ERF, every site CUE (the layout sets the factor).
    for id in ["nanchang-1", "jiujiang-1", "ganzhou-1", "yingtan-1"] {
        // 30d: a day's water coverage can dip below min_coverage while the backfill's last
        // hours arrive; a month's cannot.
        let wue = by_id(id)["windows"]["30d"]["wue"].as_f64();
        assert!(
            wue.is_some_and(|w| (0.1..=2.5).contains(&w)),
            "{id}: 30d WUE {wue:?}"
        );
    }
    for id in ["shangrao-1", "yichun-1", "fuzhou-1"] {
        assert!(
            by_id(id)["windows"]["30d"]["wue"].is_null(),
            "{id} has no water meter"
        );
    }
    for id in ["nanchang-1", "shangrao-1", "ganzhou-1", "fuzhou-1"] {
        let r = by_id(id)["windows"]["30d"]["ref"].as_f64();
        assert!(
            r.is_some_and(|r| r > 0.0 && r <= 1.0),
            "{id}: 30d REF {r:?}"
        );
    }
    let erf = by_id("nanchang-1")["windows"]["365d"]["erf"].as_f64();
    assert!(erf.is_some_and(|e| e > 0.0 && e < 0.3), "ERF {erf:?}");
    for f in facilities.as_array().unwrap() {
        let cue = f["windows"]["30d"]["cue"].as_f64();
        assert!(
            cue.is_some_and(|c| c > 0.0 && c < 1.0),
            "{}: CUE {cue:?}",
            f["id"]
        );
    }
    let alert = eventually(Duration::from_secs(30), || {
        let (_, body) = http_get(&format!("{base}/api/v1/alerts"))?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v.as_array()?
            .iter()
            .find(|a| {
                a["name"] == "PueAboveCeiling"
                    && a["labels"]["facility"] == breaching[0]
                    && a["labels"]["window"] == "365d"
            })
            .cloned()
    })
    .expect("the breaching facility's compliance alert");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["labels"]["severity"], "critical");
    let (_, alerts) = http_get(&format!("{base}/api/v1/alerts")).unwrap();
    let alerts: Value = serde_json::from_str(&alerts).unwrap();
    assert!(
        !alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "PueAboveCeiling"
                && a["labels"]["window"] == "365d"
                && a["labels"]["facility"] != breaching[0]),
        "no compliant facility has a compliance alert: {alerts}"
    );
    // A newcomer's first screen holds no false alarm: no ERROR line from start-up through the
    // back-fill (the embedded broker's readiness probe and clients coming and going included).
    let errors: Vec<String> = log()
        .lines()
        .filter(|l| l.contains("ERROR"))
        .map(str::to_string)
        .collect();
    assert!(
        errors.is_empty(),
        "ERROR lines in the demo's log: {errors:#?}"
    );
    let (s, page) = http_get(&format!("{base}/")).unwrap();
    assert_eq!(s, 200);
    assert!(page.contains("<html"), "the dashboard page is served");
    let out = std::fs::read_to_string(dir.path().join("demo.out")).unwrap();
    assert!(
        out.contains(&format!("{base}/")),
        "prints where to look: {out}"
    );
    // Ctrl-C stops it cleanly.
    let _ = Command::new("kill")
        .args(["-INT", &demo.pid().to_string()])
        .status();
    let code = eventually(Duration::from_secs(20), || {
        demo.child.try_wait().ok().flatten()
    })
    .map(|s| s.code());
    assert_eq!(code, Some(Some(0)), "clean exit on Ctrl-C: {}", log());
}

#[test]
fn demo_reports_a_taken_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(dcpue_bin())
        .args(["demo", "--http-port", &port.to_string(), "--mqtt-port", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("port {port} is taken")) && err.contains("--http-port"),
        "{err}"
    );
}
