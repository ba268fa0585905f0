//! CONTRACT §10 on the HTTP side, against a real `dcpue serve` and Mosquitto: no series request
//! bends or stalls anything (absurd ones are 400s naming the parameter, the heaviest allowed
//! ones leave ingest running), idle clients are dropped after `[http] header_timeout`, beyond
//! `[http] max_connections` new connections wait instead of exhausting the process, a stop ends
//! in-flight work, and every response says `X-Content-Type-Options: nosniff`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const M: i64 = 60_000;

/// `dcpue serve` on [`TEST_FACILITIES`], configured but not started: its config text as
/// `edit` makes it.
fn configured(broker: &Mosquitto, edit: impl FnOnce(String) -> String) -> Dcpue {
    let d = Dcpue::configured(&broker.url(), TEST_FACILITIES);
    let text = std::fs::read_to_string(&d.config).expect("read config");
    std::fs::write(&d.config, edit(text)).expect("write config");
    d
}

/// `dcpue serve` with `http_extra` added to its `[http]` section.
fn start(broker: &Mosquitto, http_extra: &str) -> Dcpue {
    let mut d = configured(broker, |text| {
        text.replacen("[http]\n", &format!("[http]\n{http_extra}\n"), 1)
    });
    d.restart();
    d
}

/// One HTTP/1.1 GET on its own connection: (status, head, body).
fn get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

fn accepted(d: &Dcpue) -> f64 {
    d.metric("dcpue_readings_accepted_total{facility=\"f1\"}")
        .unwrap_or(0.0)
}

/// Publishes one minute-by-minute power reading per meter of f1 at `ts`.
fn publish_minute(broker: &Mosquitto, ts: i64) {
    for (meter, kw) in [
        ("grid", 1300.0),
        ("it-a", 500.0),
        ("it-b", 500.0),
        ("pv", 50.0),
    ] {
        broker.publish(
            &format!("dc/f1/{meter}"),
            &format!(r#"{{"ts": {ts}, "power_kw": {kw}}}"#),
            1,
        );
    }
}

#[test]
fn absurd_series_requests_are_400s_naming_the_parameter_and_the_heaviest_allowed_leave_ingest_running(
) {
    let broker = Mosquitto::start();
    let d = start(&broker, "");
    let t0 = (now_ms() - 3 * 3_600_000) / M * M;
    publish_minute(&broker, t0);
    let series = |q: &str| format!("/api/v1/facilities/f1/series?{q}");
    // Each answered at once (a client timeout of 10 s: the old code held the engine for
    // minutes on the first), as a 400 whose error names the parameter.
    for (q, param) in [
        ("window=99999999999d", "window"),
        ("window=100000d", "window"),
        ("window=398d", "window"),
        ("to=9223372036854775807&step=9223372036854775807ms", "to"),
        ("window=1h&step=9223372036854775807ms", "step"),
        ("from=-9223372036854775808", "from"),
        ("window=397d&step=1m", "step"),
    ] {
        let (status, _, body) = get(d.http_port, &series(q), Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{q}: no answer within 10 s"));
        assert_eq!(status, 400, "{q}: {body}");
        let v: Value = serde_json::from_str(&body).expect("JSON error");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.starts_with(param), "{q}: {msg}");
    }

    // Eight clients loop on the heaviest allowed request while readings keep coming.
    let stop = Arc::new(AtomicBool::new(false));
    let port = d.http_port;
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = get(
                        port,
                        "/api/v1/facilities/f1/series?window=397d&step=286m",
                        Duration::from_secs(60),
                    );
                    answers.push(r.map(|(s, _, b)| {
                        let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
                        (s, v["points"].as_array().map_or(0, Vec::len))
                    }));
                }
                answers
            })
        })
        .collect();
    for k in 1..=10 {
        publish_minute(&broker, t0 + k * M);
    }
    let after = eventually(Duration::from_secs(30), || {
        Some(accepted(&d)).filter(|n| *n >= 44.0)
    });
    let ready = get(d.http_port, "/readyz", Duration::from_secs(10)).map(|r| r.0);
    stop.store(true, Ordering::Relaxed);
    let answers: Vec<_> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client thread"))
        .collect();
    assert_eq!(
        after,
        Some(44.0),
        "readings taken while series requests ran; log:\n{}",
        d.log()
    );
    assert_eq!(ready, Some(200));
    assert!(answers.len() >= 8, "{} answers", answers.len());
    for a in &answers {
        // 397d / 286m = 1998.9 steps: 1999 or 2000 points, depending on where `from` falls.
        assert!(
            matches!(a, Some((200, 1999..=2000))),
            "a 397d series at a 286m step: {a:?}"
        );
    }
}

#[test]
fn idle_clients_are_dropped_after_header_timeout_and_health_checks_wait_for_a_free_slot() {
    let broker = Mosquitto::start();
    let d = start(&broker, "header_timeout = \"1s\"\nmax_connections = 4");
    // Four clients take every slot: two send nothing, one half a request, one a whole request
    // and then stays, idle, on its keep-alive connection.
    let opened = Instant::now();
    let mut idle = Vec::new();
    for k in 0..4 {
        let mut s = TcpStream::connect(("127.0.0.1", d.http_port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        match k {
            2 => s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .expect("write"),
            3 => s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("write"),
            _ => {}
        }
        idle.push(s);
    }
    // Served only once a slot is free: after an idle client was dropped.
    let probe = std::thread::spawn({
        let port = d.http_port;
        move || {
            let r = get(port, "/healthz", Duration::from_secs(20));
            (r.map(|(s, _, b)| (s, b)), Instant::now())
        }
    });
    let dropped: Vec<String> = idle
        .into_iter()
        .map(|mut s| {
            let mut buf = Vec::new();
            let r = s.read_to_end(&mut buf);
            format!("{r:?} {}", String::from_utf8_lossy(&buf))
        })
        .collect();
    let (health, answered_at) = probe.join().expect("probe");
    for (k, how) in dropped.iter().enumerate() {
        // Closed by the server (EOF), not left until our 10 s read timeout.
        assert!(how.starts_with("Ok("), "client {k}: {how}");
    }
    assert!(dropped[3].contains("200 OK"), "{}", dropped[3]);
    assert_eq!(health, Some((200, "ok\n".to_string())), "{}", d.log());
    // No slot is free before an idle client's header_timeout (1 s from its accept) ran out.
    assert!(
        answered_at.duration_since(opened) >= Duration::from_secs(1),
        "/healthz was served while every slot was taken"
    );
}

#[test]
fn a_stop_ends_in_flight_requests_and_half_sent_ones() {
    let broker = Mosquitto::start();
    // Only the shutdown's grace period can end the half-sent request below.
    let mut d = start(&broker, "header_timeout = \"1h\"");
    publish_minute(&broker, (now_ms() - 3_600_000) / M * M);
    // A client that sends half a request and waits, and series requests in flight.
    let mut half = TcpStream::connect(("127.0.0.1", d.http_port)).expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("write");
    let port = d.http_port;
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                while get(
                    port,
                    "/api/v1/facilities/f1/series?window=397d&step=286m",
                    Duration::from_secs(30),
                )
                .is_some()
                {}
            })
        })
        .collect();
    // Requests in flight: the first answers are in.
    let series = d.url("/api/v1/facilities/f1/series?window=397d&step=286m");
    assert_eq!(http_get(&series).map(|r| r.0), Some(200));
    // SIGTERM, then up to 20 s for a clean exit.
    let code = d.stop();
    for c in clients {
        c.join().expect("client thread");
    }
    assert_eq!(code, Some(0), "clean exit on SIGTERM; log:\n{}", d.log());
    assert!(d.log().contains("state saved"), "{}", d.log());
}

#[test]
fn every_response_says_nosniff() {
    let broker = Mosquitto::start();
    let d = start(&broker, "");
    for path in [
        "/api/v1/facilities",
        "/api/v1/facilities/nope",
        "/api/v1/facilities/f1/series?window=1y",
        "/metrics",
        "/healthz",
        "/",
        "/no/such/path",
    ] {
        let (status, head, _) = get(d.http_port, path, Duration::from_secs(10)).expect("answer");
        assert!(
            head.lines()
                .any(|l| l.eq_ignore_ascii_case("x-content-type-options: nosniff")),
            "{path} ({status}): {head}"
        );
    }
}

/// The reported exhaustion: more idle connections than the process may open files. dcpue runs
/// under a hard limit of 256 open files (so it cannot raise it), with the default
/// max_connections (512, capped so storage keeps its descriptors).
#[test]
fn idle_connections_beyond_the_open_file_limit_leave_health_ingest_and_checkpoints_working() {
    let broker = Mosquitto::start();
    let d = configured(&broker, |text| {
        text.replacen("[http]\n", "[http]\nheader_timeout = \"1s\"\n", 1)
            .replacen("[storage]\n", "[storage]\ncheckpoint_every = \"1s\"\n", 1)
    });
    let dir = &d.dir;
    let log_path = dir.path().join("dcpue.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut p = Proc::spawn(
        "dcpue",
        std::process::Command::new("bash")
            .arg("-c")
            .arg("ulimit -n 256 && exec \"$0\" serve --config \"$1\"")
            .arg(dcpue_bin())
            .arg(&d.config)
            .stdout(std::process::Stdio::null())
            .stderr(log),
    );
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // Port 0: the port it bound, from its log.
    let http_port = eventually(Duration::from_secs(20), || serving_port(&read_log()))
        .unwrap_or_else(|| panic!("dcpue did not serve: {}", read_log()));
    let url = |path: &str| format!("http://127.0.0.1:{http_port}{path}");
    assert!(
        eventually(Duration::from_secs(20), || http_get(&url("/readyz"))
            .filter(|(s, _)| *s == 200))
        .is_some(),
        "dcpue not ready: {}",
        read_log()
    );
    // 300 clients that connect and send nothing: more than the process may open.
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", http_port)).expect("connect"))
        .collect();
    let health = get(http_port, "/healthz", Duration::from_secs(20)).map(|r| r.0);
    let t = (now_ms() - 3_600_000) / M * M;
    for k in 0..3 {
        broker.publish(
            "dc/f1/grid",
            &format!(r#"{{"ts": {}, "power_kw": 1300}}"#, t + k * M),
            1,
        );
    }
    let accepted = eventually(Duration::from_secs(20), || {
        http_get(&url("/metrics"))
            .and_then(|(_, m)| metric_value(&m, "dcpue_readings_accepted_total{facility=\"f1\"}"))
            .filter(|n| *n >= 3.0)
    });
    // A checkpoint of those readings is written while the connections are held.
    let state = dir.path().join("state").join("engine.state");
    let since = std::time::SystemTime::now();
    let checkpointed = eventually(Duration::from_secs(20), || {
        std::fs::metadata(&state)
            .and_then(|m| m.modified())
            .ok()
            .filter(|t| *t > since)
    });
    drop(idle);
    let code = p.terminate(Duration::from_secs(20));
    let log = read_log();
    assert_eq!(health, Some(200), "{log}");
    assert_eq!(accepted, Some(3.0), "{log}");
    assert!(checkpointed.is_some(), "no checkpoint: {log}");
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("serving at most 128"), "{log}");
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("state saved"), "{log}");
}
