//! Deployment settings from the environment.

use std::path::PathBuf;

use super::checks::{check_span, ValueError};
use super::http::{check_header_timeout, check_listen, check_max_connections};
use super::influx::check_influx_url;
use super::mqtt::{check_client_id, check_mqtt_url};
use super::storage::check_checkpoint_every;
use super::{Config, ConfigError};
use crate::duration::parse_span;

impl Config {
    /// Deployment settings from the environment: DCPUE_MQTT_URL, DCPUE_MQTT_CLIENT_ID,
    /// DCPUE_HTTP_LISTEN, DCPUE_HTTP_HEADER_TIMEOUT, DCPUE_HTTP_MAX_CONNECTIONS, DCPUE_STORAGE_DIR,
    /// DCPUE_STORAGE_CHECKPOINT_EVERY, DCPUE_INFLUX_URL. Each value is checked as the same key in
    /// the file is.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let env = |var: &str| {
            let var = var.to_string();
            move |source| ConfigError::Env { var, source }
        };
        if let Some(v) = get("DCPUE_MQTT_URL") {
            check_mqtt_url(&v).map_err(env("DCPUE_MQTT_URL"))?;
            self.mqtt.url = v;
        }
        if let Some(v) = get("DCPUE_MQTT_CLIENT_ID") {
            check_client_id(&v).map_err(env("DCPUE_MQTT_CLIENT_ID"))?;
            self.mqtt.client_id = v;
        }
        if let Some(v) = get("DCPUE_HTTP_LISTEN") {
            check_listen(&v).map_err(env("DCPUE_HTTP_LISTEN"))?;
            self.http.listen = v;
        }
        if let Some(v) = get("DCPUE_HTTP_HEADER_TIMEOUT") {
            let span = parse_span(&v)
                .map_err(ValueError::Duration)
                .and_then(|span| check_header_timeout(span).map(|()| span))
                .map_err(env("DCPUE_HTTP_HEADER_TIMEOUT"))?;
            self.http.header_timeout = span;
        }
        if let Some(v) = get("DCPUE_HTTP_MAX_CONNECTIONS") {
            let n = v
                .trim()
                .parse::<usize>()
                .map_err(|_| ValueError::NotWholeNumber(v.clone()))
                .and_then(|n| check_max_connections(n).map(|()| n))
                .map_err(env("DCPUE_HTTP_MAX_CONNECTIONS"))?;
            self.http.max_connections = n;
        }
        if let Some(v) = get("DCPUE_STORAGE_DIR") {
            self.storage.dir = PathBuf::from(v);
        }
        if let Some(v) = get("DCPUE_STORAGE_CHECKPOINT_EVERY") {
            let span = parse_span(&v)
                .map_err(ValueError::Duration)
                .and_then(|span| {
                    check_checkpoint_every(span)?;
                    check_span("storage.checkpoint_every", span, false)?;
                    Ok(span)
                })
                .map_err(env("DCPUE_STORAGE_CHECKPOINT_EVERY"))?;
            self.storage.checkpoint_every = span;
        }
        if let (Some(v), Some(influx)) = (get("DCPUE_INFLUX_URL"), self.influxdb.as_mut()) {
            check_influx_url(&v).map_err(env("DCPUE_INFLUX_URL"))?;
            influx.url = v;
        }
        Ok(())
    }
}

/// The environment variable that overrides `key` of `[table]`, if any (see
/// [`Config::apply_env`]): an error about the value names the variable, not a line of the file.
pub fn overridden_by(table: &str, key: &str) -> Option<&'static str> {
    Some(match (table, key) {
        ("mqtt", "url") => "DCPUE_MQTT_URL",
        ("mqtt", "client_id") => "DCPUE_MQTT_CLIENT_ID",
        ("http", "listen") => "DCPUE_HTTP_LISTEN",
        ("storage", "dir") => "DCPUE_STORAGE_DIR",
        ("influxdb", "url") => "DCPUE_INFLUX_URL",
        _ => return None,
    })
}
