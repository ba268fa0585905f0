//! The feeds downstream of the engine: alerts (rules, history, delivery, the active list HTTP
//! serves) and the InfluxDB sink (reading and window points). They read what the engine
//! produced; nothing here calls back into it.

use std::sync::Arc;

use crate::alerts::{ActiveAlertMetric, AlertDelivery, AlertEngine, AlertHistory};
use crate::config::Config;
use crate::engine::{FacilityStep, MeterRef, Reading, Step};
use crate::http::alerts_view::AlertsHttp;
use crate::sinks::influx::InfluxHandle;
use crate::sinks::line::{reading_line, role_tags, window_line, WindowGrid};

/// Feeds the steps the engine passed (in order) to the alert rules and, as window points, to
/// the sink. `now` is the wall clock of the evaluation.
pub fn run_steps(
    alerting: &mut Alerting,
    sink: &mut SinkFeed,
    cfg: &Config,
    steps: &[Step],
    now: i64,
) {
    for s in steps {
        let step = s.view(cfg.facilities[s.facility].id());
        alerting.engine.on_step(&step, now);
        sink.step(cfg, &step);
    }
}

/// The alerting parts the ingest loop drives.
pub struct Alerting {
    pub engine: AlertEngine,
    pub history: Arc<AlertHistory>,
    pub delivery: AlertDelivery,
    pub metric: ActiveAlertMetric,
    pub http: Arc<AlertsHttp>,
}

impl Alerting {
    /// Records and sends what changed, and republishes the active list.
    pub fn flush(&mut self) {
        let changes = self.engine.drain_changes();
        if !changes.is_empty() {
            if let Err(e) = self.history.commit(&changes, &self.engine.export_state()) {
                tracing::error!("alert history: {e}");
            }
        }
        self.delivery.publish(&self.engine, &changes);
        let active = self.engine.active();
        self.metric.update(&active);
        if let Ok(mut a) = self.http.active.write() {
            *a = Arc::new(active);
        }
    }
}

/// The InfluxDB sink, when `[influxdb]` is configured, and the points waiting for it.
pub struct SinkFeed {
    pub influx: Option<InfluxHandle>,
    /// Lines for the sink, pushed once per batch.
    pending_lines: Vec<String>,
    /// Role tag of each meter (`total+renewable` for two roles), by facility and meter.
    role_tags: Vec<Vec<String>>,
    /// The event-time steps that get window points.
    window_grid: WindowGrid,
}

impl SinkFeed {
    pub fn new(cfg: &Config, influx: Option<InfluxHandle>) -> SinkFeed {
        SinkFeed {
            influx,
            pending_lines: Vec::new(),
            role_tags: role_tags(cfg),
            window_grid: WindowGrid::new(
                cfg.influxdb
                    .as_ref()
                    .map_or(crate::duration::Span::MINUTE, |i| i.window_every),
            ),
        }
    }

    /// Queues the point of a reading the engine accepted.
    pub fn reading(&mut self, cfg: &Config, m: MeterRef, reading: &Reading) {
        if self.influx.is_none() {
            return;
        }
        let (f, mc) = (
            &cfg.facilities[m.facility],
            &cfg.facilities[m.facility].meters[m.meter],
        );
        if let Some(l) = reading_line(
            f.id(),
            mc.id(),
            &self.role_tags[m.facility][m.meter],
            reading,
        ) {
            self.pending_lines.push(l);
        }
    }

    /// Queues the window points of a step, at the watermark's steps on the `window_every` grid
    /// of event time.
    pub fn step(&mut self, cfg: &Config, step: &FacilityStep<'_>) {
        if self.influx.is_some() && self.window_grid.on_grid(step.step_ms) {
            let tier = cfg.facilities[step.facility].tier.as_str();
            for (w, v) in &step.windows.0 {
                if let Some(l) = window_line(step.facility_id, tier, w, step.step_ms, v) {
                    self.pending_lines.push(l);
                }
            }
        }
    }

    /// Hands the queued points to the sink.
    pub fn flush(&mut self) {
        if let Some(i) = &self.influx {
            if !self.pending_lines.is_empty() {
                i.push(std::mem::take(&mut self.pending_lines));
            }
        }
    }
}
