//! The checks of a parsed config, section by section (each section's checks live next to its
//! type), in a fixed order: the first error found is the one reported.

use super::error::Ctx;
use super::locate::Located;
use super::{alerting, facility, source, Config, ConfigError};

impl Config {
    pub(super) fn validate(&self, loc: &Located, file: &str) -> Result<(), ConfigError> {
        let cx = Ctx::new(loc, file);
        self.mqtt.validate(&cx)?;
        self.engine.validate_max_power(&cx)?;
        self.http.validate(&cx)?;
        self.storage.validate(&cx)?;
        self.engine.validate(&cx)?;
        self.policy.validate(&cx)?;
        let windows = self.engine.validate_windows(&cx)?;
        let fids = facility::validate(&self.facilities, &cx)?;
        self.http.validate_access(&fids, &cx)?;
        alerting::validate_alerts(&self.alerts, &windows, &cx)?;
        self.alerting.validate(&cx)?;
        if let Some(ix) = &self.influxdb {
            ix.validate(&cx)?;
        }
        source::validate(self, &cx)?;
        Ok(())
    }
}
