#!/usr/bin/env bash
# Installs what dcpue's tests and users need on a Debian machine, only what is missing.
# Safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
have mosquitto /usr/sbin/mosquitto || need+=(mosquitto)
have mosquitto_pub /usr/bin/mosquitto_pub || need+=(mosquitto-clients)
have victoria-metrics /usr/bin/victoria-metrics || need+=(victoria-metrics)
have prometheus /usr/bin/prometheus || need+=(prometheus)
have prometheus-alertmanager /usr/bin/prometheus-alertmanager || need+=(prometheus-alertmanager)
have chromium /usr/bin/chromium || need+=(chromium)
have chromedriver /usr/bin/chromedriver || need+=(chromium-driver)
have pdftotext /usr/bin/pdftotext || need+=(poppler-utils)
have curl /usr/bin/curl || need+=(curl)
have openssl /usr/bin/openssl || need+=(openssl)
# deploy/systemd/dcpue.service is checked with systemd-analyze verify.
have systemd-analyze /usr/bin/systemd-analyze || need+=(systemd)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
# Build dependencies of the InfluxDB client's TLS (native-tls → OpenSSL).
have pkg-config /usr/bin/pkg-config || need+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's mosquitto package starts a system broker on 1883; tests use their own on free ports,
# so leave it alone, but do not rely on it either.
echo "setup: ok (mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'))"
