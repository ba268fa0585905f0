//! The simulator of `dcpue simulate` and `dcpue demo`: a deterministic meter-data model
//! ([`model`]), an MQTT publisher with honest backpressure ([`publish`]) and an embedded broker
//! for the demo ([`broker`]).

pub mod broker;
pub mod model;
pub mod publish;

use std::collections::HashMap;

pub use broker::{start_embedded_broker, BrokerError, EmbeddedBroker};
pub use model::{MeterKind, Outage, SimMessage, SimModel, SimOptions, Totals};
pub use publish::{
    demo_feed, parse_time, parse_time_at, run_simulate, run_simulate_until, SimSummary,
};

/// Errors of the simulator layer.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid time {0:?}: use RFC 3339 (2026-11-28T03:00:00+08:00), a date (2026-11-28, midnight Beijing time), \"now\" or \"-7d\"")]
    Time(String),
    #[error("invalid argument: {0}")]
    Args(String),
    /// `--step` does not parse.
    #[error("invalid argument: {0}")]
    Step(#[from] crate::duration::SpanError),
    #[error(transparent)]
    BrokerUrl(#[from] crate::config::broker_url::UrlError),
    #[error("broker TLS: {0}")]
    Tls(#[from] crate::ingest::MqttError),
    #[error("cannot connect to the MQTT broker at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("MQTT: {0}")]
    Mqtt(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// The options of `dcpue simulate` (flattened into the subcommand next to `--config` and
/// `--broker`).
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Live pace × N: event time advances N times as fast as the wall clock from --from (default
    /// now), never ahead of the wall clock. Without --rate, a --from period is published as fast
    /// as the broker takes it.
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Start of the simulated period: RFC 3339, YYYY-MM-DD (midnight Beijing time), "now" or
    /// relative like "-7d", "-2h".
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End of the simulated period (exclusive); without it the simulator catches up with now and
    /// then continues live until Ctrl-C.
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Seed of the deterministic model: the same seed gives the same readings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Time between two readings of a meter ("1m"; "15m" for old history).
    #[arg(long, default_value = "1m", value_name = "SPAN")]
    pub step: String,
    /// Readings per message: above 1, gateways send JSON arrays of that many readings.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch: usize,
    /// Fraction (0..1) of messages sent late, out of order within allowed_lateness.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub late: f64,
    /// A period with no readings: FACILITY[/METER]@FROM..TO (repeatable).
    #[arg(long, value_name = "SPEC", allow_hyphen_values = true)]
    pub outage: Vec<String>,
    /// Aim a facility at another annual PUE: FACILITY=PUE (repeatable).
    #[arg(long = "target-pue", value_name = "FACILITY=PUE")]
    pub target_pue: Vec<String>,
    /// MQTT client id of the simulator (default: dcpue-sim-<pid>).
    #[arg(long)]
    pub client_id: Option<String>,
    /// QoS 1 messages in flight before waiting for acknowledgements.
    #[arg(long, default_value_t = 100)]
    pub inflight: u16,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for SimulateArgs {
    fn default() -> Self {
        SimulateArgs {
            rate: None,
            from: None,
            to: None,
            seed: 1,
            step: "1m".into(),
            batch: 1,
            late: 0.0,
            outage: Vec::new(),
            target_pue: Vec::new(),
            client_id: None,
            inflight: 100,
            quiet: false,
        }
    }
}

impl SimulateArgs {
    /// The model options these arguments ask for; `now_ms` resolves relative times.
    pub fn sim_options(&self, now_ms: i64) -> Result<SimOptions, SimError> {
        if self.batch == 0 || self.batch > model::MAX_BATCH {
            return Err(SimError::Args(format!(
                "--batch must be 1..={}",
                model::MAX_BATCH
            )));
        }
        if !(0.0..=1.0).contains(&self.late) {
            return Err(SimError::Args("--late must be between 0 and 1".into()));
        }
        let mut target_pue = HashMap::new();
        for spec in &self.target_pue {
            let (f, v) = spec.split_once('=').ok_or_else(|| {
                SimError::Args(format!("--target-pue {spec:?}: expected FACILITY=PUE"))
            })?;
            let v: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 1.0)
                .ok_or_else(|| {
                    SimError::Args(format!("--target-pue {spec:?}: PUE must be a number ≥ 1.0"))
                })?;
            target_pue.insert(f.trim().to_string(), v);
        }
        let mut outages = Vec::new();
        for spec in &self.outage {
            outages.push(parse_outage(spec, now_ms)?);
        }
        Ok(SimOptions {
            batch: self.batch,
            late: self.late,
            outages,
            target_pue,
        })
    }
}

/// `FACILITY[/METER]@FROM..TO`.
pub fn parse_outage(spec: &str, now_ms: i64) -> Result<Outage, SimError> {
    let bad = || {
        SimError::Args(format!(
            "--outage {spec:?}: expected FACILITY[/METER]@FROM..TO"
        ))
    };
    let (who, period) = spec.split_once('@').ok_or_else(bad)?;
    let (from, to) = period.split_once("..").ok_or_else(bad)?;
    let (facility, meter) = match who.split_once('/') {
        Some((f, m)) => (f.to_string(), Some(m.to_string())),
        None => (who.to_string(), None),
    };
    if facility.is_empty() || meter.as_deref() == Some("") {
        return Err(bad());
    }
    let tz = chrono_tz::Asia::Shanghai;
    let from_ms = parse_time_at(from, now_ms, tz)?;
    let to_ms = parse_time_at(to, now_ms, tz)?;
    if to_ms <= from_ms {
        return Err(SimError::Args(format!(
            "--outage {spec:?}: the period ends before it starts"
        )));
    }
    Ok(Outage {
        facility,
        meter,
        from_ms,
        to_ms,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Class, Config, Role, Tier};

    fn jiangxi() -> Config {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jiangxi.toml");
        match Config::load(&path) {
            Ok(c) => c,
            Err(e) => panic!("config/jiangxi.toml does not load: {e}"),
        }
    }

    #[test]
    fn jiangxi_layout_is_one_core_four_supplementary_two_backup() {
        let c = jiangxi();
        let ids: Vec<&str> = c.facilities.iter().map(|f| f.id()).collect();
        assert_eq!(
            ids,
            [
                "nanchang-1",
                "jiujiang-1",
                "shangrao-1",
                "ganzhou-1",
                "yichun-1",
                "fuzhou-1",
                "yingtan-1"
            ]
        );
        let tier = |id: &str| c.facility(id).map(|f| f.tier);
        assert_eq!(tier("nanchang-1"), Some(Tier::Core));
        for id in ["jiujiang-1", "shangrao-1", "ganzhou-1", "yichun-1"] {
            assert_eq!(tier(id), Some(Tier::Supplementary), "{id}");
        }
        for id in ["fuzhou-1", "yingtan-1"] {
            assert_eq!(tier(id), Some(Tier::Backup), "{id}");
        }
        for f in &c.facilities {
            assert!(
                f.name
                    .chars()
                    .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
                "{} has a Chinese name",
                f.id()
            );
            assert!(
                f.name_en
                    .as_deref()
                    .is_some_and(|n| n.is_ascii() && !n.is_empty()),
                "{} has an English name",
                f.id()
            );
        }
    }

    #[test]
    fn jiangxi_ceilings_follow_policy() {
        let c = jiangxi();
        let ceilings: Vec<(String, f64)> = c
            .facilities
            .iter()
            .map(|f| (f.id().to_string(), c.ceiling(f)))
            .collect();
        let not_13: Vec<_> = ceilings.iter().filter(|(_, x)| *x != 1.3).collect();
        assert!(
            !not_13.is_empty(),
            "at least one facility is not held to 1.3: {ceilings:?}"
        );
        // An existing (pre-policy) facility is held to the grade-3 bound.
        let old = c
            .facilities
            .iter()
            .find(|f| f.commissioned < c.policy.new_since);
        let old = old.map(|f| (f.id().to_string(), c.ceiling(f)));
        assert_eq!(old.as_ref().map(|o| o.1), Some(1.5), "{old:?}");
        assert_eq!(c.ceiling(c.facility("nanchang-1").expect("nanchang")), 1.3);
        assert_eq!(
            c.facility("nanchang-1").map(|f| f.class),
            Some(Class::UltraLarge)
        );
    }

    #[test]
    fn jiangxi_meters_are_realistic() {
        let c = jiangxi();
        let all: Vec<_> = c
            .facilities
            .iter()
            .flat_map(|f| f.meters.iter().map(move |m| (f, m)))
            .collect();
        assert!(all
            .iter()
            .any(|(_, m)| m.register_max.is_some() && m.max_power_kw.is_some()));
        assert!(
            all.iter()
                .any(|(_, m)| m.has_role(Role::Total) && m.has_role(Role::Renewable)),
            "on-site PV"
        );
        assert!(
            all.iter().any(|(_, m)| m.roles() == [Role::Renewable]),
            "green-power contract meter"
        );
        assert!(
            all.iter()
                .any(|(_, m)| m.weight == -1.0 && m.has_role(Role::Total)),
            "a -1 sub-meter"
        );
        assert!(c.facilities.iter().any(|f| f.renewable_target.is_some()));
        for f in &c.facilities {
            let its = f.meters.iter().filter(|m| m.has_role(Role::It)).count();
            assert!(its >= 2, "{} has several IT meters", f.id());
        }
        // Exactly one facility is simulated above its ceiling; the others aim at 1.18–1.28.
        let breaching: Vec<_> = c
            .facilities
            .iter()
            .filter(|f| f.sim_target_pue.is_some_and(|p| p > c.ceiling(f)))
            .map(|f| f.id())
            .collect();
        assert_eq!(breaching, ["yingtan-1"]);
        for f in c.facilities.iter().filter(|f| f.id() != "yingtan-1") {
            let p = f.sim_target_pue.unwrap_or(0.0);
            assert!((1.18..=1.28).contains(&p), "{} aims at {p}", f.id());
            assert!(f.sim_it_kw.is_some_and(|kw| kw > 0.0));
        }
    }

    #[test]
    fn water_follows_the_season_and_heat_is_reused_in_winter_only() {
        use crate::sim::model::{SimModel, SimOptions};
        let c = jiangxi();
        let water_sites: Vec<_> = c
            .facilities
            .iter()
            .filter(|f| f.meters.iter().any(|m| m.has_role(Role::Water)))
            .map(|f| f.id().to_string())
            .collect();
        assert!(water_sites.len() >= 3, "{water_sites:?}");
        assert!(c.policy.grid_emission_factor.is_some());
        let mut model = SimModel::new(&c, 3, SimOptions::default());
        let day = 86_400_000i64;
        let jan = 1_767_196_800_000i64; // 2026-01-01T00:00:00+08:00
        let jul = jan + 181 * day; // 2026-07-01
                                   // 15-minute readings (power meters are only counted across gaps up to max_gap) over
                                   // January and July.
        for from in [jan, jul] {
            for _ in model.readings_between(from, from + 31 * day, 900_000) {}
        }
        let wue = |m: &SimModel, f: &str, from: i64| {
            let it = m
                .totals(f, from, from + 31 * day)
                .map(|t| t.it)
                .unwrap_or(0.0);
            let water = m
                .meter_energy(f, "cooling-water", from, from + 31 * day)
                .unwrap_or(0.0);
            1000.0 * water / it
        };
        for f in &water_sites {
            let (w_jan, w_jul) = (wue(&model, f, jan), wue(&model, f, jul));
            assert!((0.2..=0.8).contains(&w_jan), "{f}: January WUE {w_jan}");
            assert!((1.0..=2.0).contains(&w_jul), "{f}: July WUE {w_jul}");
        }
        let heat = |from: i64| {
            model
                .meter_energy("nanchang-1", "heat-export", from, from + 31 * day)
                .unwrap_or(-1.0)
        };
        let it_jan = model
            .totals("nanchang-1", jan, jan + 31 * day)
            .map(|t| t.it)
            .unwrap_or(0.0);
        assert_eq!(heat(jul), 0.0, "no heat reuse in summer");
        let erf_jan = heat(jan) / it_jan;
        assert!((0.03..=0.25).contains(&erf_jan), "January reuse {erf_jan}");
    }

    #[test]
    fn simulate_args_flatten_into_a_command_line() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cmd {
            #[command(flatten)]
            sim: super::SimulateArgs,
        }
        let c = Cmd::try_parse_from([
            "simulate",
            "--from",
            "-7d",
            "--to",
            "now",
            "--rate",
            "60",
            "--seed",
            "9",
            "--batch",
            "10",
            "--late",
            "0.02",
            "--target-pue",
            "shangrao-1=1.4",
            "--outage",
            "ganzhou-1/it-a@-2h..-1h",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.sim.from.as_deref(), Some("-7d"));
        assert_eq!(c.sim.rate, Some(60.0));
        assert_eq!(
            (c.sim.seed, c.sim.batch, c.sim.step.as_str()),
            (9, 10, "1m")
        );
        assert_eq!(c.sim.outage.len(), 1);
        assert!(c.sim.sim_options(0).is_ok());
    }

    #[test]
    fn simulate_args_parse_options() {
        let args = super::SimulateArgs {
            target_pue: vec!["shangrao-1=1.4".into()],
            outage: vec![
                "ganzhou-1/it-a@2026-11-01..2026-11-02".into(),
                "yichun-1@-2h..-1h".into(),
            ],
            batch: 10,
            ..Default::default()
        };
        let now = 1_764_288_000_000; // 2025-11-28T00:00:00Z
        let o = args.sim_options(now).expect("options");
        assert_eq!(o.target_pue.get("shangrao-1"), Some(&1.4));
        assert_eq!(o.outages[0].meter.as_deref(), Some("it-a"));
        assert_eq!(o.outages[0].to_ms - o.outages[0].from_ms, 86_400_000);
        assert_eq!(o.outages[1].from_ms, now - 7_200_000);
        assert!(super::SimulateArgs {
            batch: 0,
            ..Default::default()
        }
        .sim_options(now)
        .is_err());
        assert!(super::SimulateArgs {
            target_pue: vec!["x=0.5".into()],
            ..Default::default()
        }
        .sim_options(now)
        .is_err());
        assert!(super::parse_outage("x@2026-01-02..2026-01-01", now).is_err());
    }
}
