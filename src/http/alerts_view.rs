//! The alerts HTTP serves (`/api/v1/alerts`, `/api/v1/alerts/history`): the active list the
//! alert feed publishes after each evaluation, and the on-disk history.

use std::sync::{Arc, RwLock};

use crate::alerts::{ActiveAlert, AlertHistory, HistoryFilter};

use super::AlertsView;

/// Alerts as HTTP serves them: the active list published after each evaluation, and the
/// on-disk history.
pub struct AlertsHttp {
    pub active: RwLock<Arc<Vec<ActiveAlert>>>,
    pub history: Arc<AlertHistory>,
}

impl AlertsView for AlertsHttp {
    fn active(&self) -> serde_json::Value {
        let a = self.active.read().map(|a| a.clone()).unwrap_or_default();
        serde_json::to_value(&*a).unwrap_or_default()
    }

    fn history(
        &self,
        facility: Option<&str>,
        name: Option<&str>,
        since_ms: Option<i64>,
    ) -> serde_json::Value {
        let filter = HistoryFilter {
            facility: facility.map(str::to_string),
            name: name.map(str::to_string),
            since_ms,
            limit: Some(10_000),
        };
        match self.history.history(&filter) {
            Ok(h) => serde_json::to_value(h).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    }
}
