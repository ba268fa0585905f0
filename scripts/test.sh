#!/usr/bin/env bash
# Runs every test of dcpue: installs the real servers the tests start (scripts/setup.sh), checks
# formatting and lints, then runs the unit, property and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Integration tests start their own servers on free loopback ports; two at a time keeps a
# 2-core machine responsive.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
cargo test --all-targets --locked --no-fail-fast
