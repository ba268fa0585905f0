//! The pure, deterministic PUE engine: readings in, window results out. No clocks (the wall
//! clock is passed in where a rule needs it), no I/O.

pub mod reading;
pub mod snapshot;

pub use reading::{Reading, Reason, Verdict};
pub use snapshot::{Counters, Energies, FacilitySnapshot, MeterSnapshot, Snapshot, Status, WindowValues, Windows};

use crate::config::Config;
use crate::duration::Span;

/// A configured meter, resolved once from its topic: indices into the engine's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeterRef {
    pub facility: usize,
    pub meter: usize,
}

/// The results of one facility at one 1-minute step of event time that its watermark passed
/// (CONTRACT §5): every configured window ending at that step.
#[derive(Debug, Clone)]
pub struct FacilityStep<'a> {
    pub facility: usize,
    pub facility_id: &'a str,
    /// The step, epoch ms, a whole minute.
    pub step_ms: i64,
    /// Each configured window ending at this step (long windows end at the step's hour).
    pub windows: &'a Windows,
}

/// One hour of one meter's history (CONTRACT §4): unweighted energy and covered seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HourRecord {
    pub hour_start_ms: i64,
    pub energy_kwh: f64,
    pub covered_s: u32,
}

use serde::{Deserialize, Serialize};

/// The engine. See the module docs; construction from a validated [`Config`].
pub struct Engine {
    _cfg: Config,
}

impl Engine {
    pub fn new(cfg: &Config) -> Engine {
        Engine { _cfg: cfg.clone() }
    }
    pub fn config(&self) -> &Config {
        &self._cfg
    }
    /// Resolves `<prefix>/<facility>/<meter>`'s ids.
    pub fn lookup(&self, _facility: &str, _meter: &str) -> Option<MeterRef> {
        todo!()
    }
    pub fn facility_index(&self, _id: &str) -> Option<usize> {
        todo!()
    }
    /// Judges and takes one reading. `wall_now_ms` is only used for `future_timestamp`.
    pub fn ingest(&mut self, _m: MeterRef, _r: Reading, _wall_now_ms: i64) -> Verdict {
        todo!()
    }
    /// Counts a rejection decided before the engine (decode: too_large, malformed,
    /// unknown_meter, invalid_value); `facility` is None where unknown.
    pub fn count_rejected(&mut self, _facility: Option<&str>, _reason: Reason, _n: u64) {
        todo!()
    }
    /// Moves every facility's watermark and calls `on_step` for each whole minute it passed.
    pub fn advance(&mut self, _on_step: &mut dyn FnMut(FacilityStep<'_>)) {
        todo!()
    }
    /// The immutable results; `wall_now_ms` decides `stale`.
    pub fn snapshot(&self, _wall_now_ms: i64) -> Snapshot {
        todo!()
    }
    /// Window values over [start_ms, end_ms) from the buckets (minute resolution where the
    /// engine still has minutes, else whole hours).
    pub fn window_between(&self, _facility: usize, _start_ms: i64, _end_ms: i64) -> WindowValues {
        todo!()
    }
    /// The window of length `window` ending at each step from `from_ms` to `to_ms`.
    pub fn series(&self, _facility: usize, _window: Span, _from_ms: i64, _to_ms: i64, _step_ms: i64) -> Vec<(i64, WindowValues)> {
        todo!()
    }
    /// A meter's hourly history, oldest first.
    pub fn meter_history(&self, _m: MeterRef) -> Vec<HourRecord> {
        todo!()
    }
}
