//! `dcpue demo`: everything on one machine with nothing installed — an embedded MQTT broker,
//! `serve` on the shipped Jiangxi layout, and the simulator (a year of back-fill, then live).

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The shipped layout, built into the binary so the demo runs from any directory.
pub const JIANGXI_TOML: &str = include_str!("../config/jiangxi.toml");

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// HTTP port of the dashboard, API and metrics (0: one the system chooses, printed).
    #[arg(long, default_value_t = 9184)]
    pub http_port: u16,
    /// Port of the embedded MQTT broker (0: one the system chooses, printed).
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
    cfg.mqtt.client_id = "dcpue-demo".into();
    cfg.influxdb = None;
    cfg.alerting = Default::default();
    redate_certificates(&mut cfg, chrono::Utc::now().timestamp_millis());

    // The port it bound (with --mqtt-port 0, one the system chose).
    let broker = crate::sim::start_embedded_broker(args.mqtt_port)?;
    cfg.mqtt.url = broker.url();
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

/// `"YYYY-MM"` as a month count (year × 12 + month − 1).
fn month_index(month: &str) -> Option<i64> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some(y * 12 + m - 1)
}

/// The demo simulates the year before now, while a layout's green certificates cover the fixed
/// months they were retired for. Moves every certificate of `cfg` forward by the same whole
/// number of months, so the newest falls in the current month (in `engine.timezone`): the
/// simulated year keeps the certificates the layout shows whenever the demo runs. Never moves
/// them back. Only the demo does this; `serve` counts certificates for their own months.
pub fn redate_certificates(cfg: &mut Config, now_ms: i64) {
    use chrono::{Datelike, TimeZone};
    let Some(now) = cfg.timezone().timestamp_millis_opt(now_ms).single() else {
        return;
    };
    let current = i64::from(now.year()) * 12 + i64::from(now.month0());
    let newest = cfg
        .facilities
        .iter()
        .flat_map(|f| &f.certificates)
        .filter_map(|c| month_index(&c.month))
        .max();
    let Some(shift) = newest.map(|n| current - n).filter(|s| *s > 0) else {
        return;
    };
    for c in cfg.facilities.iter_mut().flat_map(|f| &mut f.certificates) {
        if let Some(i) = month_index(&c.month) {
            let j = i + shift;
            c.month = format!("{:04}-{:02}", j.div_euclid(12), j.rem_euclid(12) + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months(cfg: &Config, id: &str) -> Vec<String> {
        cfg.facility(id)
            .map(|f| f.certificates.iter().map(|c| c.month.clone()).collect())
            .unwrap_or_default()
    }

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0)
    }

    #[test]
    fn the_demo_moves_the_layouts_certificates_into_its_simulated_year() {
        let layout = Config::parse(JIANGXI_TOML, "jiangxi.toml").expect("shipped layout");
        let newest = months(&layout, "ganzhou-1")
            .into_iter()
            .max()
            .expect("certificates");
        // Any month after the layout's newest certificate: Ganzhou's monthly certificates cover
        // the 13 months up to it, so the simulated last year has them all; the totals stay.
        for now in ["2027-03-15T12:00:00+08:00", "2031-01-01T00:30:00+08:00"] {
            let mut cfg = layout.clone();
            redate_certificates(&mut cfg, ms(now));
            let g = months(&cfg, "ganzhou-1");
            assert_eq!(g.iter().max().map(|m| &m[..]), Some(&now[..7]), "{now}");
            let idx: Vec<i64> = g.iter().filter_map(|m| month_index(m)).collect();
            assert_eq!(idx.len(), 13);
            assert!(idx.windows(2).all(|w| w[1] == w[0] + 1), "{g:?}");
            let n = months(&cfg, "nanchang-1");
            let n0 = months(&layout, "nanchang-1");
            let shift = month_index(&g[12]).unwrap_or(0) - month_index(&newest).unwrap_or(0);
            for (a, b) in n0.iter().zip(&n) {
                assert_eq!(month_index(b), month_index(a).map(|i| i + shift), "{now}");
            }
            let mwh = |c: &Config| -> f64 {
                c.facilities
                    .iter()
                    .flat_map(|f| &f.certificates)
                    .map(|c| c.mwh)
                    .sum()
            };
            assert_eq!(mwh(&cfg), mwh(&layout));
        }
        // Before the newest certificate's month: unchanged.
        let mut cfg = layout.clone();
        redate_certificates(&mut cfg, ms("2026-06-01T00:00:00+08:00"));
        assert_eq!(months(&cfg, "ganzhou-1"), months(&layout, "ganzhou-1"));
        // Beijing time decides the month: 2027-01-31T20:00Z is February 1st there.
        let mut cfg = layout.clone();
        redate_certificates(&mut cfg, ms("2027-01-31T20:00:00Z"));
        assert_eq!(
            months(&cfg, "ganzhou-1").iter().max().map(|m| &m[..]),
            Some("2027-02")
        );
    }
}
