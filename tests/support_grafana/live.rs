//! A realistic running dcpue for the live dashboard and browser tests: a real Mosquitto and
//! `dcpue serve` on the shipped Jiangxi layout (config/jiangxi.toml), fed by `dcpue simulate`
//! with a past period — 40 days of 15-minute readings in day-long gateway batches up to about two
//! hours ago, then 1-minute readings up to the previous minute — and then left quiet (no live
//! simulator), so what the API says stays what the page and the scrapes show.
//!
//! Two departures from the shipped file, both to keep the test fast and steady on a loaded CI
//! machine: the compliance window is `30d` (a 365-day backfill costs ~45 s of ingest in a debug
//! build; with 40 days every window, the compliance one included, is fully covered), and a meter
//! is stale after 30 minutes of silence rather than 5 (the scenario is quiet while the tests
//! look at it). Yingtan is simulated at an annual PUE of 1.45 (`--target-pue`) so that its 30-day
//! PUE is above its 1.3 ceiling in every season (the model's 30-day PUE for it runs from 1.34 in
//! winter to 1.63 in summer): a breach with its PueAboveCeiling alert whatever the date. In
//! summer other sites may breach on 30 days too; the tests need one breach, not exactly one.
//!
//! Use from a test file that also declares the shared helpers:
//! ```ignore
//! mod support;
//! #[path = "support_grafana/live.rs"]
//! mod live;
//! ```
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{dcpue_bin, eventually, http_get, Dcpue, Mosquitto};

const M: i64 = 60_000;
const H: i64 = 60 * M;
const D: i64 = 24 * H;

/// Where dcpue's InfluxDB sink writes (CONTRACT §8).
pub struct InfluxTarget<'a> {
    pub url: &'a str,
    pub org: &'a str,
    pub bucket: &'a str,
}

/// The running scenario: broker, dcpue, and what was published.
pub struct LiveDcpue {
    pub broker: Mosquitto,
    pub dcpue: Dcpue,
    /// Time of the last reading published (every facility's watermark), ms.
    pub last_reading_ms: i64,
    /// Start of the simulated period, ms.
    pub from_ms: i64,
    /// `/api/v1/facilities` once everything published was taken in.
    pub facilities: Value,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

fn simulate(config: &Path, broker: &str, args: &[&str]) {
    let started = Instant::now();
    let out = Command::new(dcpue_bin())
        .args(["simulate", "--config"])
        .arg(config)
        .args(["--broker", broker, "--seed", "7", "--quiet"])
        .args(["--target-pue", "yingtan-1=1.45"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dcpue simulate: {e}"));
    assert!(
        out.status.success(),
        "dcpue simulate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "dcpue simulate {args:?}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The Jiangxi layout as this scenario runs it (see the module comment), against `broker_url`,
/// with `[influxdb]` when given.
fn config_text(
    broker_url: &str,
    http_port: u16,
    dir: &Path,
    influx: Option<&InfluxTarget>,
) -> String {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jiangxi.toml"))
            .expect("read config/jiangxi.toml");
    let needle = "compliance_window = \"365d\"";
    assert!(
        shipped.contains(needle),
        "config/jiangxi.toml changed its compliance window"
    );
    let text = shipped.replace(needle, "compliance_window = \"30d\"\nstale_after = \"30m\"");
    let mut cfg = dcpue::config::Config::parse(&text, "jiangxi.toml").expect("jiangxi variant");
    cfg.mqtt.url = broker_url.to_string();
    cfg.mqtt.client_id = format!("dcpue-live-{}", crate::support::unique());
    cfg.http.listen = format!("127.0.0.1:{http_port}");
    cfg.storage.dir = dir.join("state");
    let mut out = toml::to_string(&cfg).expect("config to TOML");
    if let Some(i) = influx {
        let token = dir.join("influx.token");
        std::fs::write(&token, "live-test-token\n").expect("write token");
        // Appended as text: a table after the facility arrays. A window point every 5 minutes
        // of event time (the default 1m makes 2 million points of the 40 days, which a debug
        // build takes about a minute to write).
        out.push_str(&format!(
            "\n[influxdb]\nurl = \"{}\"\norg = \"{}\"\nbucket = \"{}\"\ntoken_file = \"{}\"\nwindow_every = \"5m\"\n",
            i.url,
            i.org,
            i.bucket,
            token.display()
        ));
        dcpue::config::Config::parse(&out, "live.toml").expect("variant with [influxdb]");
    }
    out
}

impl LiveDcpue {
    /// Starts the broker and dcpue, publishes the scenario and waits until dcpue has taken all
    /// of it in (every watermark at the last reading, yingtan-1 in breach with its alert firing).
    pub fn start(influx: Option<InfluxTarget>) -> LiveDcpue {
        let t0 = Instant::now();
        let broker = Mosquitto::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("dcpue.toml");
        // Port 0: the port it bound is read from its log.
        std::fs::write(
            &config,
            config_text(&broker.url(), 0, dir.path(), influx.as_ref()),
        )
        .expect("write config");
        let mut dcpue = Dcpue {
            proc: None,
            http_port: 0,
            dir,
            config: config.clone(),
        };
        dcpue.restart();

        let now = chrono::Utc::now().timestamp_millis();
        let now_min = now - now.rem_euclid(M);
        let from = now_min - 40 * D - now_min.rem_euclid(D);
        let switch = (now_min - 2 * H) - (now_min - 2 * H).rem_euclid(15 * M);
        simulate(
            &config,
            &broker.url(),
            &[
                "--from",
                &rfc3339(from),
                "--to",
                &rfc3339(switch),
                "--step",
                "15m",
                "--batch",
                "96",
                "--inflight",
                "500",
            ],
        );
        // Up to the minute before the current one: --to is exclusive, and a --to in the future
        // would make the simulator wait for the wall clock (live phase).
        simulate(
            &config,
            &broker.url(),
            &[
                "--from",
                &rfc3339(switch),
                "--to",
                &rfc3339(now_min),
                "--step",
                "1m",
                "--batch",
                "10",
            ],
        );
        let last = now_min - M;
        let d = &dcpue;
        let facilities = eventually(Duration::from_secs(150), || {
            let (status, body) = http_get(&d.url("/api/v1/facilities"))?;
            if status != 200 {
                return None;
            }
            let all: Value = serde_json::from_str(&body).ok()?;
            let arr = all.as_array()?;
            let caught_up = arr.len() == 7
                && arr.iter().all(|f| {
                    f["watermark"]
                        .as_str()
                        .and_then(|w| chrono::DateTime::parse_from_rfc3339(w).ok())
                        .map(|w| w.timestamp_millis())
                        == Some(last)
                });
            caught_up.then_some(all)
        })
        .unwrap_or_else(|| {
            panic!(
                "dcpue did not take in the scenario (watermarks at {}): {}\nlog:\n{}",
                rfc3339(last),
                http_get(&d.url("/api/v1/facilities"))
                    .map(|r| r.1)
                    .unwrap_or_default(),
                d.log()
            )
        });
        let alert = eventually(Duration::from_secs(30), || {
            let (_, body) = http_get(&d.url("/api/v1/alerts"))?;
            let v: Value = serde_json::from_str(&body).ok()?;
            v.as_array()?
                .iter()
                .any(|a| {
                    a["name"] == "PueAboveCeiling"
                        && a["labels"]["facility"] == "yingtan-1"
                        && a["labels"]["window"] == "30d"
                        && a["state"] == "firing"
                })
                .then_some(())
        });
        assert!(
            alert.is_some(),
            "yingtan-1's PueAboveCeiling/30d fires: {}",
            http_get(&d.url("/api/v1/alerts"))
                .map(|r| r.1)
                .unwrap_or_default()
        );
        eprintln!("live scenario ready in {:.1} s", t0.elapsed().as_secs_f64());
        LiveDcpue {
            broker,
            dcpue,
            last_reading_ms: last,
            from_ms: from,
            facilities,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.dcpue.http_port)
    }
}
