#!/usr/bin/env bash
# Sets up a fresh machine and runs every test (the README's test command).
# As root on Debian it installs the kernel-side tools the interop tests use
# (they create network namespaces and TAP devices, and skip without root).
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM="npx --yes pnpm@12.4.2"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  need=()
  for p in iproute2 tshark tcpdump iputils-ping dnsmasq-base socat curl iperf3 netcat-openbsd python3-scapy hping3 wireguard-go wireguard-tools chromium; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
# The browser demo's test drives the system Chromium (apt, above) with puppeteer-core,
# which never downloads a browser; say so to anything that might.
export PUPPETEER_SKIP_DOWNLOAD=1
$PNPM install --frozen-lockfile
$PNPM test
