//! The simulator: a deterministic, realistic model (annual PUE on target, seasons, sun,
//! registers), published to a real Mosquitto without loss, and the demo's embedded broker.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use dcpue::config::Config;
use dcpue::sim::{self, Outage, SimMessage, SimModel, SimOptions, SimulateArgs};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use support::{free_port, unique, Mosquitto};
use tokio::sync::mpsc;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn jiangxi() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jiangxi.toml");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Local midnight (Beijing) of a date, epoch ms.
fn day(s: &str) -> i64 {
    sim::parse_time(s).unwrap_or_else(|e| panic!("{e}"))
}

/// One reading of a payload, checked against CONTRACT §3.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    ts: i64,
    power_kw: Option<f64>,
    energy_kwh: Option<f64>,
    /// A water meter's register (CONTRACT §14).
    volume_m3: Option<f64>,
}

fn parse_payload(payload: &str) -> Vec<Parsed> {
    let v: Value =
        serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON: {e}: {payload}"));
    let items = match v {
        Value::Array(a) => a,
        o => vec![o],
    };
    assert!(payload.len() <= 64 * 1024);
    items
        .into_iter()
        .map(|o| {
            let ts = match &o["ts"] {
                Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                    .unwrap_or_else(|e| panic!("ts {s}: {e}"))
                    .timestamp_millis(),
                Value::Number(n) => n.as_i64().expect("integer epoch ms"),
                other => panic!("ts missing or wrong type: {other}"),
            };
            assert!(ts >= 946_684_800_000, "ts before 2000: {payload}");
            let num = |k: &str| {
                o.get(k)
                    .map(|x| x.as_f64().unwrap_or_else(|| panic!("{k} not a number")))
            };
            let p = Parsed {
                ts,
                power_kw: num("power_kw"),
                energy_kwh: num("energy_kwh"),
                volume_m3: num("volume_m3"),
            };
            assert!(
                p.power_kw.is_some() || p.energy_kwh.is_some() || p.volume_m3.is_some(),
                "no value: {payload}"
            );
            for x in [p.power_kw, p.energy_kwh, p.volume_m3]
                .into_iter()
                .flatten()
            {
                assert!(x.is_finite() && x >= 0.0, "bad value in {payload}");
            }
            p
        })
        .collect()
}

fn all(model: &mut SimModel, from: i64, to: i64, step: i64) -> Vec<SimMessage> {
    model.readings_between(from, to, step).collect()
}

#[test]
fn same_seed_same_payloads_and_registers_continue_across_runs() {
    let cfg = jiangxi();
    let from = day("2026-07-01");
    let a = all(
        &mut SimModel::new(&cfg, 7, SimOptions::default()),
        from,
        from + 3 * HOUR,
        60_000,
    );
    let b = all(
        &mut SimModel::new(&cfg, 7, SimOptions::default()),
        from,
        from + 3 * HOUR,
        60_000,
    );
    let c = all(
        &mut SimModel::new(&cfg, 8, SimOptions::default()),
        from,
        from + 3 * HOUR,
        60_000,
    );
    assert!(a.len() > 1000);
    assert_eq!(a, b, "same seed, same messages");
    assert_ne!(a, c, "another seed, other readings");
    // Every meter of the config publishes on <prefix>/<facility>/<meter>.
    let topics: std::collections::BTreeSet<_> = a.iter().map(|m| m.topic.clone()).collect();
    let expected: std::collections::BTreeSet<_> = cfg
        .facilities
        .iter()
        .flat_map(|f| {
            f.meters
                .iter()
                .map(move |m| format!("dc/{}/{}", f.id(), m.id()))
        })
        .collect();
    assert_eq!(topics, expected);

    // A register is a function of time: a second run starting later continues it exactly.
    let mut later = SimModel::new(&cfg, 7, SimOptions::default());
    let tail = all(&mut later, from + 2 * HOUR, from + 3 * HOUR, 60_000);
    let reg = |msgs: &[SimMessage], ts: i64| {
        msgs.iter()
            .filter(|m| m.topic == "dc/jiujiang-1/grid-in")
            .flat_map(|m| parse_payload(&m.payload))
            .find(|p| p.ts == ts)
            .and_then(|p| p.energy_kwh)
    };
    let t = from + 2 * HOUR + 30 * 60_000;
    assert!(reg(&a, t).is_some());
    assert_eq!(reg(&a, t), reg(&tail, t));
}

#[test]
fn a_year_of_readings_hits_each_target_pue_with_seasons_sun_and_registers() {
    let cfg = jiangxi();
    let mut model = SimModel::new(&cfg, 42, SimOptions::default());
    let from = day("2025-06-01");
    let to = from + 365 * DAY;
    let step = 15 * 60_000;
    let mut last_reg: HashMap<String, f64> = HashMap::new();
    let mut rollovers = Vec::new();
    let mut reg_prev: HashMap<String, (i64, f64)> = HashMap::new();
    let mut implausible = Vec::new();
    let max_power: HashMap<String, (f64, Option<f64>)> = cfg
        .facilities
        .iter()
        .flat_map(|f| {
            f.meters.iter().filter_map(move |m| {
                m.max_power_kw
                    .map(|p| (format!("dc/{}/{}", f.id(), m.id()), (p, m.register_max)))
            })
        })
        .collect();
    let mut pv_night_max: f64 = 0.0;
    let mut pv_noon_max: f64 = 0.0;
    let mut count = 0usize;
    let started = std::time::Instant::now();
    for m in model.readings_between(from, to, step) {
        for r in parse_payload(&m.payload) {
            count += 1;
            if let (Some(e), Some((max_kw, reg_max))) = (r.energy_kwh, max_power.get(&m.topic)) {
                if let Some((t0, e0)) = reg_prev.insert(m.topic.clone(), (r.ts, e)) {
                    let d = if e >= e0 {
                        e - e0
                    } else {
                        reg_max.unwrap_or(0.0) - e0 + e
                    };
                    let kw = d / ((r.ts - t0) as f64 / HOUR as f64);
                    if kw > *max_kw {
                        implausible.push((m.topic.clone(), r.ts, kw));
                    }
                }
            }
            if let Some(e) = r.energy_kwh {
                if let Some(prev) = last_reg.insert(m.topic.clone(), e) {
                    if e < prev {
                        rollovers.push((m.topic.clone(), prev, e));
                    }
                }
            }
            if m.topic == "dc/nanchang-1/pv-roof" {
                let hour = ((r.ts + 8 * HOUR).rem_euclid(DAY)) / HOUR;
                let p = r.power_kw.unwrap_or(0.0);
                if !(4..21).contains(&hour) {
                    pv_night_max = pv_night_max.max(p);
                }
                if (11..14).contains(&hour) {
                    pv_noon_max = pv_noon_max.max(p);
                }
            }
        }
    }
    eprintln!(
        "a year of 15-minute readings: {count} readings in {:?}",
        started.elapsed()
    );
    assert!(count > 1_000_000, "{count} readings");
    // Registers only go up, except the one with register_max, which wraps once near it.
    assert_eq!(rollovers.len(), 1, "{rollovers:?}");
    let (topic, before, after) = &rollovers[0];
    assert_eq!(topic, "dc/nanchang-1/grid-in-a");
    assert!(
        *before > 99_990_000.0 && *after < 10_000.0,
        "{before} → {after}"
    );
    // No interval implies more than a meter's max_power_kw (the engine would call it implausible).
    assert!(
        implausible.is_empty(),
        "{:?}",
        &implausible[..implausible.len().min(5)]
    );
    // PV: dark at night, producing at noon.
    assert_eq!(pv_night_max, 0.0);
    assert!(pv_noon_max > 500.0, "{pv_noon_max}");

    for f in &cfg.facilities {
        let id = f.id();
        let year = model.totals(id, from, to).expect("facility");
        let pue = year.pue().expect("IT energy");
        let target = f.sim_target_pue.expect("target");
        assert!(
            (pue - target).abs() <= 0.02,
            "{id}: annual PUE {pue:.4}, target {target}"
        );
        let ceiling = cfg.ceiling(f);
        assert_eq!(
            pue > ceiling,
            id == "yingtan-1",
            "{id}: PUE {pue:.3} vs ceiling {ceiling}"
        );
        // Hot humid summer costs more cooling than the mild winter.
        let july = model
            .totals(id, day("2025-07-01"), day("2025-08-01"))
            .and_then(|t| t.pue())
            .expect("july");
        let january = model
            .totals(id, day("2026-01-01"), day("2026-02-01"))
            .and_then(|t| t.pue())
            .expect("jan");
        eprintln!(
            "{id}: annual PUE {pue:.4} (target {target}), July {july:.3}, January {january:.3}"
        );
        assert!(
            july > january + 0.05,
            "{id}: July {july:.3}, January {january:.3}"
        );
        // IT energy matches the configured mean load.
        let it_kw = year.it / (365.0 * 24.0);
        let want = f.sim_it_kw.expect("it kw");
        assert!(
            (it_kw / want - 1.0).abs() < 0.03,
            "{id}: mean IT {it_kw:.0} kW vs {want}"
        );
        if let Some(target) = f.renewable_target {
            let share = year.renewable / year.total;
            assert!(
                share >= target,
                "{id}: renewable share {share:.3} below its target {target}"
            );
        }
    }
}

#[test]
fn batches_late_readings_and_outages_as_asked() {
    let cfg = jiangxi();
    let from = day("2026-03-10");
    let to = from + 6 * HOUR;
    let mut plain = SimModel::new(&cfg, 3, SimOptions::default());
    let plain_msgs = all(&mut plain, from, to, 60_000);
    let outage = Outage {
        facility: "ganzhou-1".into(),
        meter: Some("it-b".into()),
        from_ms: from + HOUR,
        to_ms: from + 2 * HOUR,
    };
    let opts = SimOptions {
        batch: 5,
        late: 0.1,
        outages: vec![outage],
        target_pue: HashMap::new(),
    };
    let mut model = SimModel::new(&cfg, 3, opts);
    let msgs = all(&mut model, from, to, 60_000);

    // Gateway batches: JSON arrays of 5 readings (the 15-minute contract meters fewer).
    assert!(msgs.iter().all(|m| m.payload.starts_with('[')));
    assert!(msgs
        .iter()
        .filter(|m| m.topic.ends_with("/it-a"))
        .all(|m| parse_payload(&m.payload).len() == 5));

    // Late: some messages arrive after a newer one of the same meter, never beyond the lateness.
    let lateness = cfg.engine.allowed_lateness.ms();
    let mut newest: HashMap<&str, i64> = HashMap::new();
    let mut late = 0;
    let mut readings: BTreeMap<(String, i64), Parsed> = BTreeMap::new();
    for m in &msgs {
        for r in parse_payload(&m.payload) {
            let n = newest.entry(m.topic.as_str()).or_insert(i64::MIN);
            if r.ts < *n {
                late += 1;
                assert!(
                    *n - r.ts <= lateness,
                    "{} late by {} ms",
                    m.topic,
                    *n - r.ts
                );
            }
            *n = (*n).max(r.ts);
            readings.insert((m.topic.clone(), r.ts), r);
        }
    }
    assert!(late > 0, "no late readings with late = 0.1");

    // Outage: nothing from that meter during it, everything else as without options.
    let outage_readings = readings
        .keys()
        .filter(|(t, ts)| t == "dc/ganzhou-1/it-b" && (from + HOUR..from + 2 * HOUR).contains(ts))
        .count();
    assert_eq!(outage_readings, 0);
    let plain_readings: usize = plain_msgs
        .iter()
        .map(|m| parse_payload(&m.payload).len())
        .sum();
    assert_eq!(readings.len(), plain_readings - 60);
    // The model's totals follow its readings: the IT meter's silence (longer than max_gap) is
    // missing energy, the other meter's is not.
    let e = |mo: &SimModel, meter: &str| {
        mo.meter_energy("ganzhou-1", meter, from, to)
            .expect("meter")
    };
    let (gap, full) = (e(&model, "it-b"), e(&plain, "it-b"));
    assert!(gap < full * 0.85 && gap > full * 0.7, "{gap} vs {full}");
    assert!((e(&model, "it-a") - e(&plain, "it-a")).abs() / e(&plain, "it-a") < 0.01);
}

#[test]
fn target_pue_override_moves_a_facility() {
    let cfg = jiangxi();
    let from = day("2026-04-01");
    let to = from + 7 * DAY;
    let mut base = SimModel::new(&cfg, 5, SimOptions::default());
    for _ in base.readings_between(from, to, 300_000) {}
    let opts = SimOptions {
        target_pue: HashMap::from([("shangrao-1".to_string(), 1.45)]),
        ..Default::default()
    };
    let mut hot = SimModel::new(&cfg, 5, opts);
    for _ in hot.readings_between(from, to, 300_000) {}
    let pue = |m: &SimModel, f: &str| m.totals(f, from, to).and_then(|t| t.pue()).expect("pue");
    assert!(pue(&hot, "shangrao-1") > pue(&base, "shangrao-1") + 0.15);
    assert!(
        (pue(&hot, "ganzhou-1") - pue(&base, "ganzhou-1")).abs() < 1e-9,
        "others unchanged"
    );
}

/// A QoS 1 subscriber on `dc/#` (or `filter`); returns once the subscription is acknowledged.
async fn subscriber(
    port: u16,
    filter: &str,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let mut mo = MqttOptions::new(format!("test-sub-{}", unique()), "127.0.0.1", port);
    mo.set_max_packet_size(1 << 20, 1 << 20)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut ev) = AsyncClient::new(mo, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (sub_tx, sub_rx) = tokio::sync::oneshot::channel();
    client
        .subscribe(filter, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    tokio::spawn(async move {
        let mut sub_tx = Some(sub_tx);
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(s) = sub_tx.take() {
                        let _ = s.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), sub_rx)
        .await
        .expect("suback in time")
        .expect("suback");
    (client, rx)
}

async fn receive(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    n: usize,
    timeout: Duration,
) -> Vec<(String, String)> {
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + timeout;
    while got.len() < n {
        match tokio::time::timeout_at(end, rx.recv()).await {
            Ok(Some((t, p))) => got.push((t, String::from_utf8(p).expect("utf-8"))),
            _ => break,
        }
    }
    // Nothing beyond what was expected.
    if let Ok(Some((t, _))) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        panic!("unexpected extra message on {t}");
    }
    got
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339()
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_a_past_two_hours_into_a_real_mosquitto_loses_nothing() {
    let broker = Mosquitto::start();
    let cfg = jiangxi();
    let (_sub, mut rx) = subscriber(broker.port, "dc/#").await;
    let now = chrono::Utc::now().timestamp_millis();
    let from = now - 3 * HOUR - now.rem_euclid(60_000);
    let to = from + 2 * HOUR;
    let args = SimulateArgs {
        from: Some(rfc3339(from)),
        to: Some(rfc3339(to)),
        seed: 11,
        quiet: true,
        ..Default::default()
    };
    let summary = sim::run_simulate(&cfg, &broker.url(), args)
        .await
        .expect("simulate");
    // What the model says it sent, computed independently with the same seed.
    let mut model = SimModel::new(&cfg, 11, SimOptions::default());
    let expected: Vec<(String, String)> = model
        .readings_between(from, to, 60_000)
        .map(|m| (m.topic, m.payload))
        .collect();
    assert_eq!(summary.messages as usize, expected.len());
    assert_eq!(summary.acked, summary.messages);
    let got = receive(&mut rx, expected.len(), Duration::from_secs(60)).await;
    assert_eq!(got.len(), expected.len(), "every message arrives");
    for (_, p) in &got {
        for r in parse_payload(p) {
            assert!(r.ts >= from && r.ts < to);
        }
    }
    assert_eq!(sorted(got), sorted(expected));
    // The summary carries the model's own totals for the period.
    let nanchang = summary
        .totals
        .iter()
        .find(|(f, _)| f == "nanchang-1")
        .map(|t| t.1)
        .expect("totals");
    let pue = nanchang.pue().expect("pue");
    assert!(pue > 1.05 && pue < 1.6, "{pue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_catches_up_at_the_rate_then_follows_the_clock() {
    let broker = Mosquitto::start();
    let cfg = jiangxi();
    let (_sub, mut rx) = subscriber(broker.port, "dc/nanchang-1/it-hall-1").await;
    let started = chrono::Utc::now().timestamp_millis();
    let args = SimulateArgs {
        from: Some("-10m".into()),
        rate: Some(120.0),
        quiet: true,
        ..Default::default()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let run = {
        let (cfg, url, stop) = (cfg.clone(), broker.url(), stop.clone());
        tokio::spawn(async move { sim::run_simulate_until(&cfg, &url, args, stop).await })
    };
    // 10 minutes at 120× take 5 s; then one reading a minute, as the clock goes.
    let first = receive_for(&mut rx, Duration::from_secs(4)).await;
    let caught_up = receive_for(&mut rx, Duration::from_secs(6)).await;
    stop.cancel();
    let summary = run.await.expect("join").expect("simulate");
    let ts = |v: &[(String, String)]| {
        v.iter()
            .flat_map(|(_, p)| parse_payload(p))
            .map(|r| r.ts)
            .collect::<Vec<_>>()
    };
    let (a, b) = (ts(&first), ts(&caught_up));
    assert!((4..=9).contains(&a.len()), "paced: {a:?}");
    assert!(
        a.windows(2).all(|w| w[1] - w[0] == 60_000),
        "one a minute: {a:?}"
    );
    assert!(a[0] >= started - 10 * 60_000);
    let newest = b.iter().chain(&a).max().copied().expect("readings");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        newest <= now && newest > now - 2 * 60_000,
        "caught up with the clock: {newest} vs {now}"
    );
    assert!(a.len() + b.len() <= 11, "never ahead of the clock");
    assert!(summary.messages >= summary.acked && summary.acked > 0);
}

async fn receive_for(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    d: Duration,
) -> Vec<(String, String)> {
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + d;
    while let Ok(Some((t, p))) = tokio::time::timeout_at(end, rx.recv()).await {
        got.push((t, String::from_utf8(p).expect("utf-8")));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_keeps_a_persistent_session_queue_while_the_collector_is_away() {
    // Port 0: the port it bound.
    let broker = sim::start_embedded_broker(0).expect("broker");
    let port = broker.port;
    let cfg = jiangxi();
    let session = |clean: bool| {
        let mut mo = MqttOptions::new("collector-1", "127.0.0.1", port);
        mo.set_clean_session(clean)
            .set_max_packet_size(1 << 20, 1 << 20);
        mo
    };
    // The collector subscribes with a persistent session, then goes away.
    {
        let (c, mut ev) = AsyncClient::new(session(false), 10);
        c.subscribe("dc/#", QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ev.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                other => panic!("no suback: {other:?}"),
            }
        }
        c.disconnect().await.expect("disconnect");
        while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_secs(5), ev.poll()).await {
            if ev == Event::Outgoing(rumqttc::Outgoing::Disconnect) {
                break;
            }
        }
    }
    // An hour of readings published while it is away...
    let from = day("2026-09-01");
    let args = SimulateArgs {
        from: Some(rfc3339(from)),
        to: Some(rfc3339(from + HOUR)),
        seed: 4,
        quiet: true,
        ..Default::default()
    };
    let summary = sim::run_simulate(&cfg, &broker.url(), args)
        .await
        .expect("simulate");
    // ...all arrive when it comes back on the same session.
    let (_c, mut ev) = AsyncClient::new(session(false), 10);
    let mut got = 0u64;
    while got < summary.messages {
        match tokio::time::timeout(Duration::from_secs(15), ev.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(_)))) => got += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => break,
        }
    }
    assert_eq!(
        got, summary.messages,
        "queued messages delivered after reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_refuses_an_unreachable_broker_clearly() {
    let cfg = jiangxi();
    // A port nothing listens on, on purpose.
    let port = free_port();
    let args = SimulateArgs {
        from: Some("-2h".into()),
        to: Some("-1h".into()),
        quiet: true,
        ..Default::default()
    };
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        sim::run_simulate(&cfg, &format!("mqtt://127.0.0.1:{port}"), args),
    )
    .await
    .expect("gives up in time");
    let e = r.expect_err("no broker");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_takes_60_kib_and_a_fast_backfill_without_loss() {
    // Port 0: the port it bound, where it listens itself.
    let broker = sim::start_embedded_broker(0).expect("broker");
    let port = broker.port;
    assert_ne!(port, 0);
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{port}"));
    assert!(support::listens(std::process::id(), port));
    // A taken port is a clear error.
    match sim::start_embedded_broker(port) {
        Err(e @ sim::BrokerError::PortInUse { .. }) => {
            assert!(e.to_string().contains(&port.to_string()))
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }

    let (_sub, mut rx) = subscriber(port, "big/#").await;
    let mut mo = MqttOptions::new("test-pub-big", "127.0.0.1", port);
    mo.set_max_packet_size(1 << 20, 1 << 20);
    let (publisher, mut ev) = AsyncClient::new(mo, 10);
    tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    let big: String = (0..60 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    publisher
        .publish("big/one", QoS::AtLeastOnce, false, big.clone().into_bytes())
        .await
        .expect("publish");
    let got = receive(&mut rx, 1, Duration::from_secs(10)).await;
    assert_eq!(got, vec![("big/one".to_string(), big)]);

    // The demo's path: a batched backfill as fast as the broker takes it, every message delivered.
    let cfg = jiangxi();
    let (_sub2, mut rx2) = subscriber(port, "dc/#").await;
    let from = day("2026-10-01");
    let args = SimulateArgs {
        from: Some(rfc3339(from)),
        to: Some(rfc3339(from + 2 * DAY)),
        step: "5m".into(),
        batch: 12,
        late: 0.05,
        seed: 2,
        quiet: true,
        ..Default::default()
    };
    let summary = sim::run_simulate(&cfg, &broker.url(), args)
        .await
        .expect("simulate");
    assert!(summary.messages > 1000);
    let got = receive(&mut rx2, summary.messages as usize, Duration::from_secs(60)).await;
    assert_eq!(got.len() as u64, summary.messages);
    let readings: usize = got.iter().map(|(_, p)| parse_payload(p).len()).sum();
    assert_eq!(readings as u64, summary.readings);
}
