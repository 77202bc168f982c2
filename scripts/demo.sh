#!/usr/bin/env bash
# The README demo, run by `npm run demo` inside a throwaway host namespace
# (scripts/in-sandbox.mjs): tsnetd up, a network, two containers that ping each other by
# name, a published port answered on 127.0.0.1, the topology, then everything removed.
set -euo pipefail
cd "$(dirname "$0")/.."
tsnet() { bin/tsnet "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

state=$(mktemp -d /tmp/tsnet-demo.XXXXXX)
export TSNET_ROOT=$state/lib TSNET_RUN=$state/run TSNET_HOST=$state/run/tsnetd.sock
node bin/tsnetd >"$state/tsnetd.log" 2>&1 &
daemon=$!
cleanup() {
  tsnet rm -f web >/dev/null 2>&1 || true
  tsnet network rm demo >/dev/null 2>&1 || true
  kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  umount -l "$TSNET_RUN/netns" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
for _ in $(seq 1 100); do tsnet version >/dev/null 2>&1 && break; sleep 0.1; done

say "tsnetd is up; its default networks"
tsnet network ls

say "tsnet network create --subnet 10.213.99.0/24 demo"
tsnet network create --subnet 10.213.99.0/24 demo >/dev/null
tsnet network ls -f name=demo

say "tsnet run -d --name web --network demo -p 127.0.0.1:8080:80 busybox httpd ..."
tsnet run -d --name web --network demo -p 127.0.0.1:8080:80 busybox \
  sh -c 'echo "hello from $(hostname) via tsnet" > /tmp/index.html && exec httpd -f -p 80 -h /tmp'
tsnet ps

say "tsnet run --rm --network demo busybox ping -c 2 web   (by name, through tsnet's DNS)"
tsnet run --rm --network demo busybox ping -c 2 web

say "published port, asked on 127.0.0.1:8080"
sleep 0.3
timeout 5 busybox wget -q -O - http://127.0.0.1:8080/

say "tsnet topology"
tsnet topology

say "remove everything"
tsnet rm -f web
tsnet network rm demo
tsnet ps -a
