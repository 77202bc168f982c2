#!/bin/sh
# Runs a command (dockerd) in the private mount namespace that `unshare --mount` made for
# it: a fresh tmpfs on /run, so dockerd and the containerd it starts see only their own
# files there; the plugin directory bound onto /run/docker/plugins (the only place, with
# /etc/docker/plugins, where dockerd 20.10 looks for plugins); an empty /etc/docker.
# Everything goes away with the namespace. Usage: docker-ns.sh PLUGIN_DIR CMD [ARGS...]
set -eu
plugins=$1
shift
mount -t tmpfs -o mode=0755 tsnet-test-run /run
mkdir -p /run/docker/plugins
mount --bind "$plugins" /run/docker/plugins
if [ -d /etc/docker ]; then mount -t tmpfs -o mode=0755 tsnet-test-etc /etc/docker; fi
exec "$@"
