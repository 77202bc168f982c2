#!/usr/bin/env bash
# Installs what tsnet needs on a bare Debian 12 machine with Node.js 20 (run as root):
# the kernel tools the drivers and tests call, the compilers for the native addon and
# better-sqlite3, the npm dependencies, then builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(
  iproute2 iptables nftables util-linux mount procps kmod iputils-ping busybox-static runc
  python3 make g++ libc6-dev graphviz
  containernetworking-plugins
  docker.io
  podman containerd
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # docker.io, containerd and podman are test peers, not services for this machine: keep
  # their packages from starting daemons (which would program the real host's network).
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -z "$guard" ] || { rm -f /usr/sbin/policy-rc.d; trap - EXIT; }
fi
command -v node >/dev/null || { echo "tsnet needs Node.js 20 on PATH" >&2; exit 1; }
# better-sqlite3 and netlink build native code at install (allowScripts in package.json).
npm ci --no-audit --no-fund
npm run build
