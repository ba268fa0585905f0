//! The test servers' ports: a server counts as started only when its own process listens on
//! the port (not because something answers there), an external server whose port was taken is
//! started again elsewhere, and `dcpue serve` on port 0 is found at the port it bound.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use support::*;

#[test]
fn a_server_that_could_not_bind_its_port_is_not_taken_for_started() {
    // Another process holds the port (here: this test), and answers on it.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start_on_port(
        "mosquitto",
        port,
        &mut |p| Mosquitto::command(dir.path(), p, ""),
        Duration::from_secs(10),
    );
    assert!(started.is_none(), "mosquitto cannot have bound {port}");
    // Started on a free port, its own process listens there (and not on the held port).
    let m = Mosquitto::start();
    let pid = m.proc.as_ref().expect("running").pid();
    assert!(listens(pid, m.port));
    assert!(!listens(pid, port));
    assert_ne!(m.port, port);
}

#[test]
fn dcpue_on_port_0_is_found_where_it_listens_across_restarts() {
    let broker = Mosquitto::start();
    let mut d = Dcpue::start(&broker.url(), F1_GRID_IT);
    assert!(std::fs::read_to_string(&d.config)
        .expect("config")
        .contains("listen = \"127.0.0.1:0\""));
    let pid = d.proc.as_ref().expect("running").pid();
    assert!(listens(pid, d.http_port), "port {}", d.http_port);
    assert_eq!(http_get(&d.url("/readyz")).map(|r| r.0), Some(200));
    d.stop();
    d.restart();
    let pid = d.proc.as_ref().expect("running").pid();
    assert!(listens(pid, d.http_port), "port {}", d.http_port);
    assert_eq!(http_get(&d.url("/readyz")).map(|r| r.0), Some(200));
}

#[test]
fn the_serving_line_gives_the_port_with_or_without_colours() {
    let plain = "2026-11-30T09:00:00Z  INFO dcpue::app: dcpue serving addr=127.0.0.1:41234 broker=mqtt://127.0.0.1:1883 facilities=2";
    assert_eq!(serving_port(plain), Some(41234));
    let coloured = "\u{1b}[2m2026-11-30T09:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mdcpue::app\u{1b}[0m\u{1b}[2m:\u{1b}[0m dcpue serving \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:5000 \u{1b}[3mbroker\u{1b}[0m\u{1b}[2m=\u{1b}[0mmqtt://127.0.0.1:1883";
    assert_eq!(serving_port(coloured), Some(5000));
    assert_eq!(serving_port("mqtt connected"), None);
}
