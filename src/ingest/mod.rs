//! MQTT ingest (CONTRACT §3): the collector ([`mqtt`]) that subscribes to
//! `<topic_prefix>/+/+` and hands each message to the app, and the pure payload decoder
//! ([`decode`]) that turns a message into readings or verdicts, [`take`] that feeds one message to
//! the engine, and the group [`commit`] that acknowledges batches once they are durable.

pub mod commit;
pub mod decode;
pub mod mqtt;
pub mod take;

pub use decode::{decode_payload, parse_topic, DecodeError, MAX_PAYLOAD};
pub use mqtt::{spawn, topic_filter, AckToken, Incoming, MqttError, MqttStatus};
