#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh Debian machine for uvs: the Debian packages the
# lab, the tests and the benchmarks use, the npm dependencies (which build the native
# addon), and the TypeScript build. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: libpcap-dev for the `cap` backend, tshark to validate the pcap files we
# write, iproute2/nftables/ethtool for the namespace topologies and the host-stack rules,
# socat/curl/iperf3/wrk/haproxy as traffic endpoints and baselines; iputils-ping runs
# PING_CHECK, openssl makes the health tests' TLS certificates; keepalived is the VRRP peer
# the HA interop tests elect against (VRRP-only, inside namespaces), and its genhash is
# what `uvs genhash` is compared with; bird2 is the routing daemon of the scale-out lab
# (`topology.sh up ecmp`: BGP from every director to an ECMP router, all in namespaces);
# ldirectord (which pulls in Debian's ipvsadm) is the real ipvsadm client the drop-in test
# drives uvs with; prometheus (promtool and a real server), node_exporter (its ipvs collector
# reads `uvs run --procfs`) and chromium (the live page, headless) check the metrics and the
# web view.
pkgs=(libpcap-dev tshark socat nftables iproute2 ethtool iperf3 wrk haproxy curl tcpdump iputils-ping openssl keepalived bird2 ldirectord prometheus prometheus-node-exporter chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies (exact versions from the lockfile); builds native/ through node-gyp.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm run --silent build
