//! dcpue: a data-centre energy-efficiency (PUE) compliance monitor.
//!
//! The engine ([`engine`]) is pure and deterministic: readings in, window results out, no clocks
//! and no I/O. Everything else is an adapter around it: MQTT in ([`ingest`]), HTTP and Prometheus
//! ([`http`]), alerts ([`alerts`]), InfluxDB ([`sinks`]), durable state ([`store`]), the
//! simulator ([`sim`]) and the compliance report ([`report`]).

pub mod alerts;
pub mod config;
pub mod demo;
pub mod duration;
pub mod engine;
pub mod http;
pub mod import;
pub mod ingest;
pub mod logging;
pub mod model;
pub mod report;
pub mod serve;
pub mod sim;
pub mod sinks;
pub mod store;
