//! The ingest loop's own metrics: counted live as it works (not from the published snapshot),
//! registered once with the registry `/metrics` gathers at scrape.

use crate::config::Config;

/// The metrics the ingest loop counts.
pub struct IngestMetrics {
    /// `dcpue_ingest_messages_total`: MQTT messages taken since start.
    pub taken: prometheus::IntCounter,
    /// `dcpue_ingest_last_taken_timestamp_seconds`: when the last were.
    pub taken_at: prometheus::Gauge,
    /// `dcpue_wal_fsyncs_total`: the write-ahead log's fsyncs (group commits).
    pub fsyncs: prometheus::IntCounter,
    /// `dcpue_source_unmapped_total{source}`: live since start, not durable (it counts values
    /// ignored, not readings).
    pub unmapped: prometheus::IntCounterVec,
}

impl IngestMetrics {
    /// Creates the metrics (one `unmapped` series per `[[source]]`, at 0) and registers them.
    pub fn register(
        cfg: &Config,
        registry: &prometheus::Registry,
    ) -> Result<IngestMetrics, prometheus::Error> {
        let taken = prometheus::IntCounter::new(
            "dcpue_ingest_messages_total",
            "MQTT messages the ingest loop has taken (logged and judged by the engine) since start; \
             counted live, not from the published snapshot.",
        )?;
        let taken_at = prometheus::Gauge::new(
            "dcpue_ingest_last_taken_timestamp_seconds",
            "Wall clock (Unix seconds) at which the ingest loop last took MQTT messages.",
        )?;
        let fsyncs = prometheus::IntCounter::new(
            "dcpue_wal_fsyncs_total",
            "fsyncs of the write-ahead log by the group commit (each covers every message taken \
             since the one before).",
        )?;
        let unmapped = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "dcpue_source_unmapped_total",
                "Values of a gateway [[source]] that no [[source.map]] entry names, ignored (CONTRACT \
                 §12); counted since start.",
            ),
            &["source"],
        )?;
        for s in &cfg.sources {
            unmapped.with_label_values(&[s.name.as_str()]);
        }
        for c in [
            Box::new(taken.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(unmapped.clone()),
            Box::new(taken_at.clone()),
            Box::new(fsyncs.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(IngestMetrics {
            taken,
            taken_at,
            fsyncs,
            unmapped,
        })
    }
}
