//! Gateway payload formats end to end (CONTRACT §12): a real Mosquitto, `dcpue serve` with a
//! `[[source]]` for one format feeding facility `gw`, and the same readings in dcpue's own format
//! feeding facility `nat` (same meters). Each format's captured-shape payloads, with W and Wh
//! values, an unmapped value and a gateway error, give the same windows as the native readings,
//! and the counters match.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;
/// Readings per meter: two hours and one minute, a minute apart.
const STEPS: i64 = 121;
/// The minute at which the gateway reports an error for UPS B's energy register.
const ERR_AT: i64 = 30;

/// A whole hour at least 3 hours in the past.
fn base() -> i64 {
    (now_ms() - 4 * H) / H * H
}

/// (meter, power W, energy Wh register) at minute k: grid 1200 kW, UPS A 480 kW, UPS B 420 kW.
fn meters(k: i64) -> [(&'static str, f64, f64); 3] {
    [
        ("grid", 1_200_000.0, (5_000_000 + 20_000 * k) as f64),
        ("ups-a", 480_000.0, (2_000_000 + 8_000 * k) as f64),
        ("ups-b", 420_000.0, (1_000_000 + 7_000 * k) as f64),
    ]
}

/// Facility `id` (named `id`) with the meters of [`meters`]: `grid` (total), `ups-a` and
/// `ups-b` (IT).
fn gateway_facility(id: &str) -> FacilityToml {
    facility(id)
        .name(id)
        .meter("grid", "total")
        .meter("ups-a", "it")
        .meter("ups-b", "it")
}

/// `[[source]]` for facility `gw`: each meter's W and Wh under `key(meter, "w" | "wh")`, with
/// `extra(meter)` in each map entry.
fn source(
    name: &str,
    format: &str,
    topic: &str,
    key: impl Fn(&str, &str) -> String,
    extra: impl Fn(&str) -> String,
) -> String {
    let mut s = format!(
        "[[source]]\nname = \"{name}\"\nformat = \"{format}\"\ntopic = \"{topic}\"\n\
         facility = \"gw\"\n"
    );
    for (meter, _, _) in meters(0) {
        for (unit, field) in [("w", "power_kw"), ("wh", "energy_kwh")] {
            s.push_str(&format!(
                "  [[source.map]]\n  key = {:?}\n  meter = \"{meter}\"\n  field = \"{field}\"\n  \
                 scale = 0.001\n{}",
                key(meter, unit),
                extra(meter)
            ));
        }
    }
    s
}

/// The native readings equal to the gateway's: W and Wh scaled by 0.001 as dcpue scales them.
/// `errored`: at ERR_AT, UPS B's energy is left out (the gateway's error), or the whole
/// reading carries a non-number (a value the gateway could not read).
fn native_lines(t0: i64, meter: &str, errored: Errored) -> Vec<String> {
    (0..STEPS)
        .map(|k| {
            let (_, w, wh) = meters(k)
                .into_iter()
                .find(|m| m.0 == meter)
                .unwrap_or(meters(k)[0]);
            let (kw, kwh) = (w * 0.001, wh * 0.001);
            let ts = t0 + k * M;
            match errored {
                _ if meter != "ups-b" || k != ERR_AT => {
                    format!(r#"{{"ts":{ts},"power_kw":{kw},"energy_kwh":{kwh}}}"#)
                }
                Errored::Missing => format!(r#"{{"ts":{ts},"power_kw":{kw}}}"#),
                Errored::NotANumber => {
                    format!(r#"{{"ts":{ts},"power_kw":{kw},"energy_kwh":"ERR"}}"#)
                }
            }
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Errored {
    Missing,
    NotANumber,
}

fn counter(d: &Dcpue, name: &str, labels: &str) -> f64 {
    d.metric(&format!("{name}{{{labels}}}")).unwrap_or(0.0)
}

/// Publishes the native readings, waits until both facilities took everything, and checks that
/// their windows and counters agree; returns the gateway facility's JSON.
fn compare(broker: &Mosquitto, d: &Dcpue, t0: i64, errored: Errored, accepted: f64) -> Value {
    for (meter, _, _) in meters(0) {
        broker.publish_lines(
            &format!("dc/nat/{meter}"),
            &native_lines(t0, meter, errored),
            1,
        );
    }
    for f in ["gw", "nat"] {
        let series = format!("dcpue_readings_accepted_total{{facility=\"{f}\"}}");
        let got = eventually(Duration::from_secs(30), || {
            d.metric(&series).filter(|v| *v >= accepted)
        });
        assert_eq!(got, Some(accepted), "accepted of {f}; log:\n{}", d.log());
    }
    let (gw, nat) = eventually(Duration::from_secs(10), || {
        let gw = d.get_json("/api/v1/facilities/gw");
        let nat = d.get_json("/api/v1/facilities/nat");
        let done = |f: &Value| f["watermark"].is_string() && f["windows"]["1h"]["pue"].is_number();
        (done(&gw) && done(&nat) && gw["windows"] == nat["windows"]).then_some((gw, nat))
    })
    .unwrap_or_else(|| {
        panic!(
            "gw and nat windows differ:\n{}\n{}",
            d.get_json("/api/v1/facilities/gw")["windows"],
            d.get_json("/api/v1/facilities/nat")["windows"]
        )
    });
    assert_eq!(gw["watermark"], nat["watermark"]);
    let h1 = &gw["windows"]["1h"];
    let pue = h1["pue"].as_f64().unwrap_or(0.0);
    assert!(
        (pue - 1200.0 / 900.0).abs() < 1e-9,
        "1200 kW / (480 + 420) kW: {h1}"
    );
    assert!(
        (h1["energy_kwh"]["total"].as_f64().unwrap_or(0.0) - 1200.0).abs() < 1e-6,
        "{h1}"
    );
    assert_eq!(h1["coverage"], 1.0, "{h1}");
    // every reason but gateway_error counted alike
    let text = d.metrics();
    assert_eq!(promtool_check_metrics(&text), Ok(()));
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("dcpue_readings_rejected_total{facility=\"gw\",") else {
            continue;
        };
        if rest.starts_with("reason=\"gateway_error\"") {
            continue;
        }
        let (labels, v) = rest.split_once(' ').unwrap_or((rest, ""));
        let nat_series = format!("dcpue_readings_rejected_total{{facility=\"nat\",{labels}");
        assert_eq!(
            metric_value(&text, &nat_series).map(|n| n.to_string()),
            Some(v.to_string()),
            "{line}"
        );
    }
    gw
}

fn start(source: &str) -> (Mosquitto, Dcpue) {
    let broker = Mosquitto::start();
    // Laid out as ever: no blank line before the first table, one after the last.
    let facilities = format!("{}{}\n", gateway_facility("gw"), gateway_facility("nat"));
    let rest = format!("{}{source}", facilities.trim_start_matches('\n'));
    let d = Dcpue::start(&broker.url(), &rest);
    (broker, d)
}

#[test]
fn neuron_values_and_tags_forms_match_native_readings() {
    let (broker, d) = start(&source(
        "nc-neuron",
        "neuron",
        "/neuron/dcpue/+/+",
        |m, u| format!("dlt645/meters/{}_{u}", m.replace('-', "_")),
        |_| String::new(),
    ));
    let t0 = base();
    // EMQX Neuron's upload, values form on even minutes, tags form on odd ones; a voltage tag
    // nobody maps; at ERR_AT the DL/T 645 read of UPS B's energy failed (error code 3002).
    let payloads: Vec<String> = (0..STEPS)
        .map(|k| {
            let ts = t0 + k * M;
            let mut vals = vec![("voltage_a".to_string(), "229.8".to_string())];
            let mut errs = vec![];
            for (m, w, wh) in meters(k) {
                let tag = m.replace('-', "_");
                vals.push((format!("{tag}_w"), w.to_string()));
                if m == "ups-b" && k == ERR_AT {
                    errs.push((format!("{tag}_wh"), "3002".to_string()));
                } else {
                    vals.push((format!("{tag}_wh"), wh.to_string()));
                }
            }
            if k % 2 == 0 {
                let obj = |v: &[(String, String)]| {
                    v.iter()
                        .map(|(k, v)| format!("{k:?}:{v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!(
                    r#"{{"timestamp":{ts},"node":"dlt645","group":"meters","values":{{{}}},"errors":{{{}}}}}"#,
                    obj(&vals),
                    obj(&errs)
                )
            } else {
                let tags: Vec<String> = vals
                    .iter()
                    .map(|(k, v)| format!(r#"{{"name":{k:?},"value":{v}}}"#))
                    .chain(
                        errs.iter()
                            .map(|(k, e)| format!(r#"{{"name":{k:?},"error":{e}}}"#)),
                    )
                    .collect();
                format!(
                    r#"{{"timestamp":{ts},"node":"dlt645","group":"meters","tags":[{}]}}"#,
                    tags.join(",")
                )
            }
        })
        .collect();
    broker.publish_lines("/neuron/dcpue/dlt645/meters", &payloads, 1);
    compare(&broker, &d, t0, Errored::Missing, 3.0 * STEPS as f64);
    let reason = |f: &str, r: &str| {
        counter(
            &d,
            "dcpue_readings_rejected_total",
            &format!("facility=\"{f}\",reason=\"{r}\""),
        )
    };
    assert_eq!(reason("gw", "gateway_error"), 1.0);
    assert_eq!(reason("nat", "gateway_error"), 0.0);
    assert_eq!(
        counter(&d, "dcpue_source_unmapped_total", "source=\"nc-neuron\""),
        STEPS as f64,
        "one voltage tag per message"
    );
}

#[test]
fn thingsboard_gateway_telemetry_matches_native_readings() {
    let name = |m: &str| match m {
        "grid" => "Grid Meter",
        "ups-a" => "UPS A",
        _ => "UPS B",
    };
    let (broker, d) = start(&source(
        "tb",
        "thingsboard",
        "v1/gateway/telemetry",
        |m, u| {
            format!(
                "{}/active_{}",
                name(m),
                if u == "w" { "power_w" } else { "energy_wh" }
            )
        },
        |_| String::new(),
    ));
    let t0 = base();
    // The gateway's telemetry: every device, one entry per poll; a frequency value nobody maps;
    // at ERR_AT the connector passed UPS B's energy on as the text "ERR".
    let payloads: Vec<String> = (0..STEPS)
        .map(|k| {
            let ts = t0 + k * M;
            let devices: Vec<String> = meters(k)
                .iter()
                .map(|(m, w, wh)| {
                    let wh = if *m == "ups-b" && k == ERR_AT {
                        "\"ERR\"".to_string()
                    } else {
                        wh.to_string()
                    };
                    format!(
                        r#"{:?}:[{{"ts":{ts},"values":{{"active_power_w":{w},"active_energy_wh":{wh},"frequency":50.0}}}}]"#,
                        name(m)
                    )
                })
                .collect();
            format!("{{{}}}", devices.join(","))
        })
        .collect();
    broker.publish_lines("v1/gateway/telemetry", &payloads, 1);
    compare(
        &broker,
        &d,
        t0,
        Errored::NotANumber,
        3.0 * STEPS as f64 - 1.0,
    );
    assert_eq!(
        counter(&d, "dcpue_source_unmapped_total", "source=\"tb\""),
        3.0 * STEPS as f64,
        "one frequency per device and poll"
    );
}

#[test]
fn telegraf_single_and_batch_match_native_readings() {
    let slave = |m: &str| match m {
        "grid" => "1",
        "ups-a" => "2",
        _ => "3",
    };
    // the same field names for every meter: each meter's entries match its Modbus slave id
    let (broker, d) = start(&source(
        "tg",
        "telegraf",
        "telegraf/#",
        |_, u| format!("modbus/{}", if u == "w" { "power_w" } else { "energy_wh" }),
        |m| format!("  tags = {{ slave_id = \"{}\" }}\n", slave(m)),
    ));
    let t0 = base();
    // Telegraf's JSON serializer: batches on even minutes, one metric per message on odd ones;
    // seconds timestamps; a `voltage` field nobody maps; at ERR_AT UPS B's energy is a string.
    let mut payloads = Vec::new();
    for k in 0..STEPS {
        let ts = (t0 + k * M) / 1000;
        let metrics: Vec<String> = meters(k)
            .iter()
            .map(|(m, w, wh)| {
                let wh = if *m == "ups-b" && k == ERR_AT {
                    "\"ERR\"".to_string()
                } else {
                    wh.to_string()
                };
                format!(
                    r#"{{"fields":{{"power_w":{w},"energy_wh":{wh},"voltage":230.1}},"name":"modbus","tags":{{"host":"gw1","slave_id":"{}"}},"timestamp":{ts}}}"#,
                    slave(m)
                )
            })
            .collect();
        if k % 2 == 0 {
            payloads.push(format!(r#"{{"metrics":[{}]}}"#, metrics.join(",")));
        } else {
            payloads.extend(metrics);
        }
    }
    broker.publish_lines("telegraf/gw1/modbus", &payloads, 1);
    compare(
        &broker,
        &d,
        t0,
        Errored::NotANumber,
        3.0 * STEPS as f64 - 1.0,
    );
    assert_eq!(
        counter(&d, "dcpue_source_unmapped_total", "source=\"tg\""),
        3.0 * STEPS as f64,
        "one voltage per metric"
    );
}

/// A source's subscription is part of dcpue's persistent session at the configured QoS: what the
/// gateway publishes while dcpue is stopped is delivered when it returns, and taken once.
#[test]
fn gateway_messages_sent_while_dcpue_is_down_arrive_after_restart() {
    let (broker, mut d) = start(&source(
        "tb",
        "thingsboard",
        "v1/gateway/telemetry",
        |m, u| format!("{m}/{u}"),
        |_| String::new(),
    ));
    let t0 = base();
    let payload = |k: i64| {
        let devices: Vec<String> = meters(k)
            .iter()
            .map(|(m, w, wh)| {
                format!(
                    r#""{m}":[{{"ts":{},"values":{{"w":{w},"wh":{wh}}}}}]"#,
                    t0 + k * M
                )
            })
            .collect();
        format!("{{{}}}", devices.join(","))
    };
    broker.publish_lines("v1/gateway/telemetry", &[payload(0)], 1);
    let accepted = |d: &Dcpue, n: f64| {
        eventually(Duration::from_secs(30), || {
            d.metric("dcpue_readings_accepted_total{facility=\"gw\"}")
                .filter(|v| *v >= n)
        })
    };
    assert_eq!(accepted(&d, 3.0), Some(3.0), "{}", d.log());
    assert_eq!(d.stop(), Some(0), "clean stop");
    let later: Vec<String> = (1..STEPS).map(payload).collect();
    broker.publish_lines("v1/gateway/telemetry", &later, 1);
    d.restart();
    assert_eq!(
        accepted(&d, 3.0 * STEPS as f64),
        Some(3.0 * STEPS as f64),
        "queued by the broker for the session; log:\n{}",
        d.log()
    );
    let dup = d.metric("dcpue_readings_rejected_total{facility=\"gw\",reason=\"duplicate\"}");
    assert_eq!(dup, Some(0.0));
}
