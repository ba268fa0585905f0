//! Bounds on what a config may hold (every size and count from outside has one).

/// Characters of a facility or meter id (`[a-z0-9_-]+`).
pub const ID_LEN: usize = 64;
/// Characters of a name, city, username, InfluxDB org or bucket.
pub const TEXT_LEN: usize = 256;
/// Characters of a URL.
pub const URL_LEN: usize = 2048;
/// Characters of the MQTT client id.
pub const CLIENT_ID_LEN: usize = 128;
/// Bytes of the MQTT topic prefix.
pub const TOPIC_PREFIX_LEN: usize = 256;
/// `[[facility]]` entries.
pub const FACILITIES: usize = 256;
/// `[[facility.meter]]` entries of one facility.
pub const METERS_PER_FACILITY: usize = 256;
/// Meters over all facilities.
pub const METERS: usize = 4096;
/// `engine.windows` entries.
pub const WINDOWS: usize = 16;
/// `[[alert]]` entries.
pub const ALERTS: usize = 256;
/// `alerting.alertmanagers` and `alerting.webhooks` entries, each.
pub const RECEIVERS: usize = 32;
/// `[[source]]` entries (CONTRACT §12).
pub const SOURCES: usize = 64;
/// `[[source.map]]` entries of one source.
pub const SOURCE_MAPS: usize = 4096;
/// Bytes of a `[[source.map]]` key.
pub const SOURCE_KEY_LEN: usize = 512;
/// `tags` of one `[[source.map]]` entry.
pub const SOURCE_TAGS: usize = 32;
/// InfluxDB `batch_size` (points per write request).
pub const INFLUX_BATCH: usize = 100_000;
/// InfluxDB `memory_points`.
pub const INFLUX_MEMORY_POINTS: usize = 10_000_000;
/// `[[facility.certificate]]` entries of one facility (a hundred years of months).
pub const CERTIFICATES_PER_FACILITY: usize = 1200;
