//! Publishes N meter readings (one per message) on the topics of a config's electricity meters, as fast as
//! the broker takes them, on one connection with a large inflight window. Used by
//! `scripts/bench_mqtt.sh`. Readings go round-robin over the meters, a minute apart per meter,
//! ending in the past, so every one is acceptable (`dcpue_readings_accepted_total` reaches N).
//!
//! `cargo run --release --example mqtt_load -- <config.toml> <host:port> <N> <qos 0|1>`

use std::time::{Duration, Instant};

use dcpue::config::Role;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err("usage: mqtt_load <config.toml> <host:port> <N> <qos>".into());
    }
    let cfg = dcpue::config::Config::load(std::path::Path::new(&args[1]))?;
    let (host, port) = args[2].rsplit_once(':').ok_or("host:port")?;
    let n: u64 = args[3].parse()?;
    let qos = match args[4].as_str() {
        "0" => QoS::AtMostOnce,
        "1" => QoS::AtLeastOnce,
        _ => return Err("qos must be 0 or 1".into()),
    };
    let prefix = &cfg.mqtt.topic_prefix;
    let topics: Vec<String> = cfg
        .facilities
        .iter()
        .flat_map(|f| {
            // The electricity meters (water and reused-heat meters read other registers).
            f.meters
                .iter()
                .filter(|m| !m.has_role(Role::Water) && !m.has_role(Role::ReusedHeat))
                .map(move |m| format!("{prefix}/{}/{}", f.id(), m.id()))
        })
        .collect();
    let m = topics.len() as u64;
    let minute = 60_000i64;
    let now = chrono::Utc::now().timestamp_millis();
    let start = (now / minute - (n / m) as i64 - 10) * minute;

    let mut opts = MqttOptions::new(
        format!("mqtt-load-{}", std::process::id()),
        host,
        port.parse()?,
    );
    opts.set_keep_alive(Duration::from_secs(60));
    opts.set_inflight(u16::MAX);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 100_000);
    let t = Instant::now();
    let publisher = tokio::spawn(async move {
        for j in 0..n {
            let topic = &topics[(j % m) as usize];
            let ts = start + (j / m) as i64 * minute;
            let kw = 100.0 + (j % 97) as f64;
            let payload = format!(r#"{{"ts":{ts},"power_kw":{kw}}}"#);
            if client.publish(topic, qos, false, payload).await.is_err() {
                return client;
            }
        }
        client
    });
    let (mut sent, mut acked) = (0u64, 0u64);
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(_))) => sent += 1,
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => return Err(format!("connection: {e}").into()),
        }
        let done = match qos {
            QoS::AtMostOnce => sent >= n,
            _ => acked >= n,
        };
        if done {
            break;
        }
    }
    let client = publisher.await?;
    let _ = client.disconnect().await;
    // Let the DISCONNECT go out.
    let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "mqtt_load: published {n} readings on {m} topics at QoS {} in {secs:.2} s ({:.0}/s)",
        args[4],
        n as f64 / secs
    );
    Ok(())
}
