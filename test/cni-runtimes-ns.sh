#!/bin/sh
# Runs a command (a container runtime, or a `sleep` that holds the namespace for podman) in
# the private mount namespace that `unshare --mount --propagation private` made for it:
# a fresh tmpfs on /run (the runtime's sockets, locks, /run/netns, shim sockets), then each
# TARGET bound to a test-owned SRC directory (/etc/cni/net.d, /opt/cni/bin, /var/lib/cni,
# config files ...). A TARGET that does not exist on the machine is made inside the
# namespace only: its deepest existing parent is bound aside (under WORK), covered with a
# tmpfs, and refilled with symlinks to what it held, so nothing is ever created in the
# machine's directories. Writes WORK/ready once done. Everything goes away with the
# namespace. Usage: cni-runtimes-ns.sh WORK TARGET=SRC... -- CMD [ARGS...]
set -eu
work=$1
shift
mount -t tmpfs -o mode=0755 tsnet-test-run /run
n=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  target=${1%%=*}
  src=${1#*=}
  shift
  if [ ! -e "$target" ]; then
    parent=$(dirname "$target")
    while [ ! -e "$parent" ]; do parent=$(dirname "$parent"); done
    n=$((n + 1))
    stash="$work/stash$n"
    mkdir -p "$stash"
    mount --bind "$parent" "$stash"
    mount -t tmpfs -o mode=0755 tsnet-test-dir "$parent"
    for entry in "$stash"/* "$stash"/.[!.]*; do
      [ -e "$entry" ] || [ -L "$entry" ] || continue
      ln -s "$entry" "$parent/$(basename "$entry")"
    done
    if [ -d "$src" ]; then mkdir -p "$target"; else mkdir -p "$(dirname "$target")" && : > "$target"; fi
  fi
  mount --bind "$src" "$target"
done
[ "${1:-}" = "--" ] && shift
: > "$work/ready"
exec "$@"
