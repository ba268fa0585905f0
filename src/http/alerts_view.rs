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

#[cfg(test)]
mod tests {
    /// The page lists every built-in alert in its filter and names it in both languages: a rule
    /// added to the model without a label would show a bare identifier to a regulator.
    #[test]
    fn the_page_knows_every_built_in_alert() {
        let js = include_str!("../../assets/app.js");
        let known = js
            .split_once("var KNOWN_ALERTS = [")
            .and_then(|(_, rest)| rest.split_once("];"))
            .map(|(list, _)| list)
            .unwrap_or("");
        for name in crate::model::RuleKind::NAMES {
            assert!(
                known.contains(&format!("'{name}'")),
                "KNOWN_ALERTS lacks {name}"
            );
            let labels = js.matches(&format!("{name}: '")).count();
            assert_eq!(labels, 2, "{name}: one label in zh and one in en");
        }
    }
}
