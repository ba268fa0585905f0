//! Sinks: where results go besides HTTP. The InfluxDB sink of CONTRACT §8 ([`influx`]), its line
//! protocol ([`line`]) and its crash-safe on-disk queue ([`spool`]).

pub mod influx;
pub mod line;
pub mod spool;
