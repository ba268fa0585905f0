//! The MQTT collector against a real Mosquitto (persistence on), publishing with mosquitto_pub.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dcpue::config::MqttConfig;
use dcpue::ingest::{self, AckToken, Incoming, MqttStatus};
use support::{which, Mosquitto};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Collector {
    status: Arc<MqttStatus>,
    rx: mpsc::Receiver<Incoming>,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Collector {
    fn start(cfg: &MqttConfig, capacity: usize) -> Collector {
        let status = Arc::new(MqttStatus::new());
        let (tx, rx) = mpsc::channel(capacity);
        let shutdown = CancellationToken::new();
        let handle =
            ingest::spawn(cfg, status.clone(), tx, shutdown.clone()).expect("collector starts");
        Collector {
            status,
            rx,
            shutdown,
            handle,
        }
    }

    async fn wait_subscribed(&self) {
        let end = Instant::now() + Duration::from_secs(15);
        while !self.status.subscribed() {
            assert!(Instant::now() < end, "collector did not subscribe");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn recv(&mut self, timeout: Duration) -> Option<Incoming> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Receives `n` messages (panics after `timeout`).
    async fn recv_n(&mut self, n: usize, timeout: Duration) -> Vec<Incoming> {
        let end = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let left = end.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Some(m) => out.push(m),
                None => panic!(
                    "received {} of {n} messages: {:?}",
                    out.len(),
                    payloads(&out)
                ),
            }
        }
        out
    }

    /// Clean shutdown: DISCONNECT, the broker keeps the session.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("collector stops")
            .expect("no panic");
        assert!(!self.status.connected());
    }
}

/// A Mosquitto with persistence (support::Mosquitto runs it as the current user, so its
/// persistence works in the test's private temp dir).
fn broker() -> Mosquitto {
    Mosquitto::start()
}

fn config(broker: &Mosquitto, client_id: &str) -> MqttConfig {
    MqttConfig {
        url: broker.url(),
        client_id: client_id.into(),
        topic_prefix: "dc".into(),
        qos: 1,
        ..Default::default()
    }
}

fn payloads(msgs: &[Incoming]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

/// Acks the messages together, as the group commit does (one wake-up, one flush).
async fn ack_all(msgs: Vec<Incoming>) {
    let n = msgs.len();
    let tokens: Vec<AckToken> = msgs
        .into_iter()
        .map(|m| m.ack.expect("QoS 1 carries an ack token"))
        .collect();
    assert_eq!(AckToken::ack_all(tokens), n, "every ack taken");
}

/// Publishes `<name>-0` … `<name>-4` at `qos` and receives them, in order.
async fn five_in_order(
    broker: &Mosquitto,
    c: &mut Collector,
    name: &str,
    qos: u8,
) -> Vec<Incoming> {
    let sent: Vec<String> = (0..5).map(|i| format!("{name}-{i}")).collect();
    for p in &sent {
        tokio::task::block_in_place(|| broker.publish("dc/f/m", p, qos));
    }
    let msgs = c.recv_n(5, Duration::from_secs(10)).await;
    assert_eq!(payloads(&msgs), sent);
    msgs
}

/// A new run of the collector on `cfg`'s session gets nothing: every message of the runs before
/// was acknowledged to the broker.
async fn assert_nothing_redelivered(cfg: &MqttConfig) {
    let mut c = Collector::start(cfg, 64);
    c.wait_subscribed().await;
    assert!(
        c.recv(Duration::from_secs(2)).await.is_none(),
        "acked messages redelivered to the next run"
    );
    c.stop().await;
}

/// mosquitto_pub of one message; true when the broker acknowledged it (QoS 1), false when it
/// failed (broker down) or hung for 5 s.
fn try_publish(port: u16, topic: &str, payload: &str, qos: u8) -> bool {
    let child = Mosquitto::publish_command(port, topic, payload, qos)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.success(),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

fn publish(broker: &Mosquitto, topic: &str, payload: &str) {
    tokio::task::block_in_place(|| broker.publish(topic, payload, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn qos1_messages_arrive_with_topic_and_payload_including_large_ones() {
    let broker = broker();
    let mut c = Collector::start(&config(&broker, "dcpue-a"), 64);
    c.wait_subscribed().await;
    assert!(c.status.connected());
    assert_eq!(c.status.last_message_wall_ms(), None);

    let before = chrono::Utc::now().timestamp_millis();
    let reading = r#"{"ts":"2026-11-28T03:00:00+08:00","power_kw":1200.5}"#;
    publish(&broker, "dc/nanchang-1/grid-in", reading);
    let m = c.recv_n(1, Duration::from_secs(10)).await.pop().unwrap();
    assert_eq!(m.topic, "dc/nanchang-1/grid-in");
    assert_eq!(&m.payload[..], reading.as_bytes());
    let at = c
        .status
        .last_message_wall_ms()
        .expect("newest message time");
    assert!(at >= before && at <= chrono::Utc::now().timestamp_millis());
    ack_all(vec![m]).await;

    // A 60 KiB batch (over rumqttc's default 10 KiB packet limit) and a 100 KiB payload (over
    // the 64 KiB contract limit: the app sees its topic and size to count it too_large, never
    // its bytes).
    let big: String = format!(
        "[{}]",
        vec![r#"{"ts":1795806000000,"energy_kwh":12345.678}"#; 60 * 1024 / 44].join(",")
    );
    assert!(big.len() > 60 * 1024 - 100 && big.len() <= ingest::MAX_PAYLOAD);
    let huge = "x".repeat(100 * 1024);
    publish(&broker, "dc/jiujiang-1/it-a", &big);
    publish(&broker, "dc/jiujiang-1/it-b", &huge);
    // Not matching `dc/+/+`: never delivered.
    publish(&broker, "dc/jiujiang-1", "two levels");
    publish(&broker, "dc/jiujiang-1/it-a/extra", "four levels");
    publish(&broker, "other/jiujiang-1/it-a", "other prefix");
    publish(&broker, "dc/yingtan-1/pv", "last");

    let msgs = c.recv_n(3, Duration::from_secs(10)).await;
    assert_eq!(msgs[0].topic, "dc/jiujiang-1/it-a");
    assert_eq!(msgs[0].payload.len(), big.len());
    assert_eq!(&msgs[0].payload[..], big.as_bytes());
    let decoded = ingest::decode_payload(&msgs[0].payload).expect("decodes");
    assert_eq!(decoded.len(), 60 * 1024 / 44);
    assert!(decoded.iter().all(|r| r.is_ok()));
    assert_eq!(msgs[1].topic, "dc/jiujiang-1/it-b");
    assert_eq!(msgs[1].too_large, Some(100 * 1024));
    assert!(
        msgs[1].payload.is_empty(),
        "the oversized payload is dropped"
    );
    assert_eq!(msgs[0].too_large, None);
    assert_eq!(msgs[2].topic, "dc/yingtan-1/pv");
    assert_eq!(&msgs[2].payload[..], b"last");
    ack_all(msgs).await;
    assert!(
        c.recv(Duration::from_millis(500)).await.is_none(),
        "nothing else arrives"
    );
    // still connected: the large packets did not break the connection
    assert!(c.status.connected());
    assert_eq!(c.status.connects(), 1);
    assert_eq!(c.status.messages_received(), 4);

    // QoS 0 messages carry no ack token
    tokio::task::block_in_place(|| broker.publish("dc/fuzhou-1/grid-in", "q0", 0));
    let m = c.recv_n(1, Duration::from_secs(10)).await.pop().unwrap();
    assert_eq!(&m.payload[..], b"q0");
    assert!(m.ack.is_none());
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_packet_over_the_limit_is_read_once_counted_and_acked_not_looped_on() {
    let broker = broker();
    let cfg = config(&broker, "dcpue-oversize");
    let mut c = Collector::start(&cfg, 64);
    c.wait_subscribed().await;
    // 3 MB: far over the client's packet limit, so rumqttc refuses it before reading it.
    let size = 3 << 20;
    assert!(size > ingest::mqtt::MAX_PACKET);
    tokio::task::block_in_place(|| broker.publish_big("dc/f/m", size));
    publish(&broker, "dc/f/m", "after");
    let msgs = c.recv_n(2, Duration::from_secs(15)).await;
    assert_eq!(msgs[0].topic, "dc/f/m");
    assert_eq!(msgs[0].too_large, Some(size), "its size reaches the app");
    assert!(msgs[0].payload.is_empty(), "its bytes do not");
    assert_eq!(&msgs[1].payload[..], b"after", "the next message is taken");
    ack_all(msgs).await;
    // The connection broke once, on the oversized packet; the next one took it.
    assert_eq!(c.status.connects(), 2);
    // The connection after that is bounded again, and still works.
    let again = five_in_order(&broker, &mut c, "again", 1).await;
    ack_all(again).await;
    assert!(c.recv(Duration::from_millis(500)).await.is_none());
    assert_eq!(c.status.connects(), 2, "no reconnect loop");
    c.stop().await;
    // Acknowledged: not sent again to the next run.
    assert_nothing_redelivered(&cfg).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn qos2_messages_are_acked_with_pubrec_and_completed() {
    let broker = broker();
    let cfg = MqttConfig {
        qos: 2,
        ..config(&broker, "dcpue-q2")
    };
    let mut c = Collector::start(&cfg, 64);
    c.wait_subscribed().await;
    let msgs = five_in_order(&broker, &mut c, "q2", 2).await;
    // PUBREC from the collector, PUBREL from the broker, PUBCOMP back
    ack_all(msgs).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c.recv(Duration::from_millis(500)).await.is_none());
    c.stop().await;
    // the flows completed
    assert_nothing_redelivered(&cfg).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_session_keeps_messages_published_while_away() {
    let broker = broker();
    let cfg = config(&broker, "dcpue-b");
    let mut c = Collector::start(&cfg, 64);
    c.wait_subscribed().await;
    let msgs = five_in_order(&broker, &mut c, "before", 1).await;
    ack_all(msgs).await;
    // give the acks time to reach the broker before leaving
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.stop().await;

    for i in 0..5 {
        publish(&broker, "dc/f/m", &format!("away-{i}"));
    }

    let mut c = Collector::start(&cfg, 64);
    let msgs = c.recv_n(5, Duration::from_secs(15)).await;
    assert_eq!(
        payloads(&msgs),
        (0..5).map(|i| format!("away-{i}")).collect::<Vec<_>>(),
        "queued by the broker, in order"
    );
    ack_all(msgs).await;
    // the acknowledged ones do not come again
    assert!(c.recv(Duration::from_secs(1)).await.is_none());
    c.wait_subscribed().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_killed_and_restarted_mid_stream_loses_nothing() {
    const N: usize = 300;
    let mut broker = broker();
    let port = broker.port;
    let c = Collector::start(&config(&broker, "dcpue-c"), 256);
    c.wait_subscribed().await;
    // let the broker's autosave (every second) record the session and its subscription
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let Collector {
        status,
        mut rx,
        shutdown,
        handle,
    } = c;
    // The app: takes every message and acks it, as the engine would.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&m.payload).into_owned());
                if let Some(a) = m.ack {
                    a.ack().await;
                }
            }
        })
    };
    // The publisher: every message until the broker acknowledges it (QoS 1), in order.
    let publisher = std::thread::spawn(move || {
        let mut retries = 0;
        for i in 0..N {
            while !try_publish(
                port,
                "dc/nanchang-1/grid-in",
                &format!(
                    r#"{{"ts":{},"power_kw":{i}}}"#,
                    1795806000000i64 + i as i64 * 1000
                ),
                1,
            ) {
                retries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        retries
    });

    let distinct =
        |seen: &Arc<Mutex<Vec<String>>>| seen.lock().unwrap().iter().collect::<BTreeSet<_>>().len();
    let end = Instant::now() + Duration::from_secs(60);
    while distinct(&seen) < N / 4 {
        assert!(Instant::now() < end, "stream did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(status.connected());
    tokio::task::block_in_place(|| broker.proc.as_mut().expect("running").kill()); // SIGKILL
    let end = Instant::now() + Duration::from_secs(10);
    while status.connected() {
        assert!(Instant::now() < end, "connected flag did not drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!status.subscribed());
    tokio::time::sleep(Duration::from_secs(1)).await; // the publisher fails and retries meanwhile
    assert!(!status.connected());
    let during = distinct(&seen);
    assert!(during < N, "the outage happened mid-stream");
    tokio::task::block_in_place(|| broker.restart());
    let end = Instant::now() + Duration::from_secs(20);
    while !(status.connected() && status.subscribed()) {
        assert!(Instant::now() < end, "collector did not reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(status.connects() >= 2);
    assert!(status.disconnects() >= 1);

    let retries = tokio::task::block_in_place(|| publisher.join().expect("publisher"));
    assert!(retries > 0, "the publisher met the outage");
    let end = Instant::now() + Duration::from_secs(30);
    while distinct(&seen) < N {
        if Instant::now() > end {
            let got = seen
                .lock()
                .unwrap()
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>();
            let missing: Vec<usize> = (0..N)
                .filter(|i| {
                    !got.contains(&format!(
                        r#"{{"ts":{},"power_kw":{i}}}"#,
                        1795806000000i64 + *i as i64 * 1000
                    ))
                })
                .collect();
            panic!("{} of {N} received; missing {missing:?}", got.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    handle.await.expect("collector task");
    app.await.expect("app task");
    let all = seen.lock().unwrap();
    let expected: BTreeSet<String> = (0..N)
        .map(|i| {
            format!(
                r#"{{"ts":{},"power_kw":{i}}}"#,
                1795806000000i64 + i as i64 * 1000
            )
        })
        .collect();
    assert_eq!(all.iter().cloned().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn unacked_messages_are_redelivered_after_reconnect() {
    let mut broker = broker();
    let cfg = config(&broker, "dcpue-d");
    let mut c = Collector::start(&cfg, 64);
    c.wait_subscribed().await;
    for i in 0..10 {
        publish(&broker, "dc/f/m", &format!("m{i}"));
    }
    let mut msgs = c.recv_n(10, Duration::from_secs(10)).await;
    assert_eq!(
        payloads(&msgs),
        (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let rest = msgs.split_off(4);
    ack_all(msgs).await; // m0..m3 taken
    let mut rest = rest.into_iter();
    let kept = rest.next().unwrap(); // m4: its token outlives the connection
    drop(rest); // m5..m9: dropped without ack (as if the engine never took them)
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        c.recv(Duration::from_millis(500)).await.is_none(),
        "no redelivery while the connection lasts"
    );

    // The connection breaks (broker stopped and started; its session is saved on a clean stop).
    let connects = c.status.connects();
    tokio::task::block_in_place(|| {
        broker.stop();
        broker.restart();
    });
    let again = c.recv_n(6, Duration::from_secs(20)).await;
    assert!(c.status.connects() > connects);
    assert_eq!(
        payloads(&again),
        (4..10).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "the un-acked ones, in order"
    );
    // A token from the lost connection is not sent on the new one.
    assert!(!kept.ack.expect("token").ack().await);

    // Ack m4..m6 now; leave m7..m9 un-acked and restart the collector itself.
    let mut again = again;
    let rest = again.split_off(3);
    ack_all(again).await;
    drop(rest);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.stop().await;

    let mut c = Collector::start(&cfg, 64);
    let last = c.recv_n(3, Duration::from_secs(15)).await;
    assert_eq!(payloads(&last), vec!["m7", "m8", "m9"]);
    ack_all(last).await;
    assert!(
        c.recv(Duration::from_secs(1)).await.is_none(),
        "acked messages are not redelivered"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_app_gets_every_message_in_order_and_every_ack_reaches_the_broker() {
    const N: usize = 3000;
    let broker = broker();
    let cfg = config(&broker, "dcpue-slow");
    let mut c = Collector::start(&cfg, 1);
    c.wait_subscribed().await;
    let lines: Vec<String> = (0..N).map(|i| format!("r{i}")).collect();
    tokio::task::block_in_place(|| broker.publish_lines("dc/f/m", &lines, 1));
    // the app is busy for a while: the collector must wait, not drop
    tokio::time::sleep(Duration::from_secs(2)).await;
    // then it takes and acks one at a time while the broker floods (no in-flight limit)
    let mut got = Vec::with_capacity(N);
    while got.len() < N {
        let m = c
            .recv(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("received {} of {N}", got.len()));
        got.push(String::from_utf8_lossy(&m.payload).into_owned());
        assert!(m.ack.expect("token").ack().await);
    }
    assert_eq!(got, lines);
    assert!(c.recv(Duration::from_millis(500)).await.is_none());
    assert!(c.status.connected());
    assert_eq!(c.status.connects(), 1);
    c.stop().await;
    // every ack reached the broker
    assert_nothing_redelivered(&cfg).await;
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
fn make_certs(dir: &std::path::Path) {
    support::make_certs(
        dir,
        &[
            (
                "server",
                "dcpue-server",
                "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            ),
            (
                "client",
                "dcpue-client",
                "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
            ),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_client_certificate_and_password() {
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    tokio::task::block_in_place(|| make_certs(d));
    let pwfile = d.join("broker.passwd");
    let st = Command::new(which("mosquitto_passwd"))
        .arg("-b")
        .arg("-c")
        .arg(&pwfile)
        .args(["meter-reader", "s3cret pass"])
        .status()
        .unwrap();
    assert!(st.success());
    let broker = Mosquitto::start_with(&format!(
        "allow_anonymous false\npassword_file {}\ncafile {p}/ca.crt\ncertfile {p}/server.crt\nkeyfile {p}/server.key\nrequire_certificate true\n",
        pwfile.display(),
        p = d.display()
    ));
    std::fs::write(d.join("dcpue.pw"), "s3cret pass\n").unwrap();
    let cfg = MqttConfig {
        url: format!("mqtts://127.0.0.1:{}", broker.port),
        client_id: "dcpue-tls".into(),
        topic_prefix: "dc".into(),
        qos: 1,
        username: Some("meter-reader".into()),
        password_file: Some(d.join("dcpue.pw")),
        ca_file: Some(d.join("ca.crt")),
        client_cert_file: Some(d.join("client.crt")),
        client_key_file: Some(d.join("client.key")),
    };
    let mut c = Collector::start(&cfg, 16);
    c.wait_subscribed().await;
    let port = broker.port.to_string();
    let ca = d.join("ca.crt");
    let (cert, key) = (d.join("client.crt"), d.join("client.key"));
    let st = tokio::task::block_in_place(|| {
        Command::new(which("mosquitto_pub"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-q",
                "1",
                "-t",
                "dc/ganzhou-1/it-a",
                "-m",
                "over tls",
            ])
            .arg("--cafile")
            .arg(&ca)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["-u", "meter-reader", "-P", "s3cret pass"])
            .status()
            .unwrap()
    });
    assert!(st.success());
    let m = c.recv_n(1, Duration::from_secs(10)).await.pop().unwrap();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("dc/ganzhou-1/it-a", &b"over tls"[..])
    );
    ack_all(vec![m]).await;
    c.stop().await;

    // A wrong password, or no client certificate: never connected, retried, no panic.
    std::fs::write(d.join("wrong.pw"), "nope").unwrap();
    let wrong_pw = MqttConfig {
        client_id: "dcpue-tls-2".into(),
        password_file: Some(d.join("wrong.pw")),
        ..cfg.clone()
    };
    let no_cert = MqttConfig {
        client_id: "dcpue-tls-3".into(),
        client_cert_file: None,
        client_key_file: None,
        ..cfg.clone()
    };
    let plain = MqttConfig {
        client_id: "dcpue-tls-4".into(),
        url: broker.url(),
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
        ..cfg.clone()
    };
    for bad in [wrong_pw, no_cert, plain] {
        let c = Collector::start(&bad, 16);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !c.status.connected() && !c.status.subscribed(),
            "{} must not connect",
            bad.client_id
        );
        assert_eq!(c.status.connects(), 0);
        assert!(!c.handle.is_finished(), "keeps retrying");
        c.stop().await;
    }
}

#[tokio::test]
async fn start_errors_are_reported_not_retried() {
    let (tx, _rx) = mpsc::channel(1);
    let st = Arc::new(MqttStatus::new());
    let bad_url = MqttConfig {
        url: "http://127.0.0.1:1883".into(),
        ..Default::default()
    };
    assert!(matches!(
        ingest::spawn(&bad_url, st.clone(), tx.clone(), CancellationToken::new()),
        Err(ingest::MqttError::Url { .. })
    ));
    let missing = MqttConfig {
        url: "mqtts://127.0.0.1:8883".into(),
        ca_file: Some("/nonexistent/ca.crt".into()),
        ..Default::default()
    };
    let err = ingest::spawn(&missing, st, tx, CancellationToken::new()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.crt"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn resubscribes_when_the_broker_lost_the_session() {
    let mut broker = broker();
    let mut c = Collector::start(&config(&broker, "dcpue-lost"), 16);
    c.wait_subscribed().await;
    publish(&broker, "dc/f/m", "one");
    ack_all(c.recv_n(1, Duration::from_secs(10)).await).await;
    tokio::task::block_in_place(|| {
        broker.stop();
        std::fs::remove_file(broker.dir.path().join("mosquitto.db"))
            .expect("the broker saved its state");
        broker.restart();
    });
    // a fresh broker knows nothing of the client: only a new SUBSCRIBE brings messages
    let end = Instant::now() + Duration::from_secs(20);
    while !(c.status.connected() && c.status.subscribed()) {
        assert!(Instant::now() < end, "no reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.status.connects(), 2);
    publish(&broker, "dc/f/m", "two");
    let m = c.recv_n(1, Duration::from_secs(10)).await;
    assert_eq!(payloads(&m), vec!["two"]);
    ack_all(m).await;
    c.stop().await;
}
