//! Alerts (CONTRACT §5): rules evaluated on the engine's event-time steps, their lifecycle and
//! history, and delivery to Alertmanager and webhooks.

pub mod rules;
