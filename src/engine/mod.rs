//! The pure, deterministic PUE engine: readings in, window results out. No clocks (the wall
//! clock is passed in where a rule needs it), no I/O.

pub mod reading;
pub mod snapshot;

pub use reading::{Reading, Reason, Verdict};
pub use snapshot::{Counters, Energies, FacilitySnapshot, MeterSnapshot, Snapshot, Status, WindowValues, Windows};
