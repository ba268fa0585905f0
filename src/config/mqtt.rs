//! `[mqtt]`: the broker the collector reads from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checks::{check_text, check_url_len, ValueError};
use super::error::Ctx;
use super::locate::Seg;
use super::{limits, ConfigError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    #[serde(default = "d_mqtt_url")]
    pub url: String,
    #[serde(default = "d_client_id")]
    pub client_id: String,
    #[serde(default = "d_prefix")]
    pub topic_prefix: String,
    #[serde(default = "d_qos")]
    pub qos: u8,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}
fn d_mqtt_url() -> String {
    "mqtt://127.0.0.1:1883".into()
}
fn d_client_id() -> String {
    "dcpue-1".into()
}
fn d_prefix() -> String {
    "dc".into()
}
fn d_qos() -> u8 {
    1
}
impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: d_mqtt_url(),
            client_id: d_client_id(),
            topic_prefix: d_prefix(),
            qos: d_qos(),
            username: None,
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

impl MqttConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::Key;
        let m = self;
        check_mqtt_url(&m.url).map_err(|e| cx.value(&[Key("mqtt"), Key("url")], e))?;
        check_client_id(&m.client_id).map_err(|e| cx.value(&[Key("mqtt"), Key("client_id")], e))?;
        check_topic_prefix(&m.topic_prefix)
            .map_err(|e| cx.value(&[Key("mqtt"), Key("topic_prefix")], e))?;
        if m.qos > 2 {
            return Err(cx.at(
                &[Key("mqtt"), Key("qos")],
                "mqtt.qos must be 0, 1 or 2".into(),
            ));
        }
        if let Some(u) = &m.username {
            check_text("mqtt.username", u, limits::TEXT_LEN)
                .map_err(|e| cx.value(&[Key("mqtt"), Key("username")], e))?;
        }
        Ok(())
    }
}

/// `mqtt.url`: as the collector parses it.
pub(super) fn check_mqtt_url(url: &str) -> Result<(), ValueError> {
    check_url_len(url)?;
    super::broker_url::parse(url)
        .map(|_| ())
        .map_err(|e| ValueError::Url(e.into()))
}

/// `mqtt.client_id`: the persistent session is keyed on it.
pub(super) fn check_client_id(id: &str) -> Result<(), ValueError> {
    if id.is_empty() {
        return Err(ValueError::EmptyClientId);
    }
    check_text("mqtt.client_id", id, limits::CLIENT_ID_LEN)
}

/// `mqtt.topic_prefix`: one or more topic levels, no wildcard, no empty level.
pub(super) fn check_topic_prefix(p: &str) -> Result<(), ValueError> {
    if p.contains(['+', '#']) {
        return Err(ValueError::TopicPrefixWildcard(p.to_string()));
    }
    if p.split('/').any(str::is_empty) {
        return Err(ValueError::TopicPrefixEmptyLevel(p.to_string()));
    }
    if p.len() > limits::TOPIC_PREFIX_LEN || p.contains(char::is_control) {
        return Err(ValueError::TopicPrefixBytes);
    }
    Ok(())
}
