//! `dcpue demo`: everything on one machine with nothing installed — an embedded MQTT broker,
//! `serve` on the shipped Jiangxi layout, and the simulator (a year of back-fill, then live).

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The shipped layout, built into the binary so the demo runs from any directory.
pub const JIANGXI_TOML: &str = include_str!("../config/jiangxi.toml");

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// HTTP port of the dashboard, API and metrics.
    #[arg(long, default_value_t = 9184)]
    pub http_port: u16,
    /// Port of the embedded MQTT broker.
    #[arg(long, default_value_t = 1883)]
    pub mqtt_port: u16,
    /// A config other than the shipped config/jiangxi.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the demo keeps its state (default: a fresh temporary directory).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Seed of the simulator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Config(String),
    #[error("port {port} is taken ({what}); choose another with {flag} PORT")]
    PortTaken {
        port: u16,
        what: &'static str,
        flag: &'static str,
    },
    #[error("embedded broker: {0}")]
    Broker(#[from] crate::sim::BrokerError),
    #[error("serve: {0}")]
    Serve(#[from] crate::serve::ServeError),
    #[error("simulator: {0}")]
    Sim(#[from] crate::sim::SimError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

pub async fn run_demo(args: DemoArgs, shutdown: CancellationToken) -> Result<(), DemoError> {
    if !port_free(args.http_port) {
        return Err(DemoError::PortTaken {
            port: args.http_port,
            what: "dashboard/API",
            flag: "--http-port",
        });
    }
    if !port_free(args.mqtt_port) {
        return Err(DemoError::PortTaken {
            port: args.mqtt_port,
            what: "MQTT broker",
            flag: "--mqtt-port",
        });
    }
    let mut cfg = match &args.config {
        Some(p) => Config::load(p).map_err(|e| DemoError::Config(e.to_string()))?,
        None => Config::parse(JIANGXI_TOML, "config/jiangxi.toml (built in)")
            .map_err(|e| DemoError::Config(e.to_string()))?,
    };
    let _tmp;
    cfg.storage.dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => {
            let t = tempfile::Builder::new().prefix("dcpue-demo-").tempdir()?;
            let p = t.path().to_path_buf();
            _tmp = t;
            p
        }
    };
    cfg.http.listen = format!("127.0.0.1:{}", args.http_port);
    cfg.mqtt.url = format!("mqtt://127.0.0.1:{}", args.mqtt_port);
    cfg.mqtt.client_id = "dcpue-demo".into();
    cfg.influxdb = None;
    cfg.alerting = Default::default();

    let broker = crate::sim::start_embedded_broker(args.mqtt_port)?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let serve_stop = CancellationToken::new();
    let serve = tokio::spawn(crate::serve::serve(
        cfg.clone(),
        serve_stop.clone(),
        Some(ready_tx),
    ));
    let addr = match ready_rx.await {
        Ok(a) => a,
        Err(_) => {
            return match serve.await {
                Ok(Err(e)) => Err(e.into()),
                _ => Err(DemoError::Config(
                    "serve stopped before it was ready".into(),
                )),
            }
        }
    };
    let base = format!("http://{addr}");
    println!(
        "dcpue demo — Jiangxi 一核四副两备, {} facilities simulated",
        cfg.facilities.len()
    );
    println!("  dashboard      {base}/");
    println!("  API            {base}/api/v1/facilities");
    println!("  alerts         {base}/api/v1/alerts");
    println!("  metrics        {base}/metrics");
    println!(
        "  MQTT broker    {} (topics {}/<facility>/<meter>)",
        broker.url(),
        cfg.mqtt.topic_prefix
    );
    println!("  state          {}", cfg.storage.dir.display());
    println!("Back-filling a year of meter data, then live. Ctrl-C stops.");

    let feed_stop = shutdown.child_token();
    let feed_cfg = cfg.clone();
    let url = broker.url();
    let seed = args.seed;
    let feed = tokio::spawn(async move {
        crate::sim::demo_feed(&feed_cfg, &url, seed, feed_stop, |phase| {
            tracing::info!(phase, "simulator");
            if phase != "backfill" {
                println!("Back-fill published; now {phase}.");
            }
        })
        .await
    });
    shutdown.cancelled().await;
    let fed = feed.await;
    serve_stop.cancel();
    let served = serve.await;
    if let Ok(Err(e)) = fed {
        tracing::warn!("simulator: {e}");
    }
    match served {
        Ok(r) => r?,
        Err(e) => return Err(DemoError::Config(format!("serve task: {e}"))),
    }
    println!("dcpue demo stopped.");
    Ok(())
}
