//! Steps as owned data: [`Engine::advance_steps`] returns them, so that what consumes them
//! (alert rules, window points for a sink) runs after the caller has let go of the engine,
//! and the engine calls nothing outside itself.

use super::{Engine, FacilityStep, Windows};

/// One facility's results at one 1-minute step of event time (see [`FacilityStep`]), owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The facility's index, in the order of the config.
    pub facility: usize,
    /// The step, epoch ms, a whole minute.
    pub step_ms: i64,
    /// Each configured window ending at this step.
    pub windows: Windows,
}

impl Step {
    /// The step as [`FacilityStep`] (what the alert rules take); `facility_id` is the id of
    /// facility `self.facility`.
    pub fn view<'a>(&'a self, facility_id: &'a str) -> FacilityStep<'a> {
        FacilityStep {
            facility: self.facility,
            facility_id,
            step_ms: self.step_ms,
            windows: &self.windows,
        }
    }
}

impl Engine {
    /// Moves every facility's watermark (as [`Engine::advance`]) and returns each step it
    /// passed, in order: facility by facility, oldest step first.
    ///
    /// Each step holds its windows (a few hundred bytes a window), so the result grows with the
    /// event time passed since the last call: `serve` calls it at every publish (several times a
    /// second), where they are as many as the window points a sink with `window_every = "1m"`
    /// gets (the points were built from them under the lock before, and held as lines).
    pub fn advance_steps(&mut self) -> Vec<Step> {
        let mut steps = Vec::new();
        self.advance(&mut |s| {
            steps.push(Step {
                facility: s.facility,
                step_ms: s.step_ms,
                windows: s.windows.clone(),
            })
        });
        steps
    }
}
