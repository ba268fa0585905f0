//! Wiring: the running service (`serve`) built from its adapters around the engine.
