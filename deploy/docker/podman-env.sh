# shellcheck shell=bash
# Podman settings that work on a machine without a Docker engine and with hybrid
# cgroups (see deploy/docker/README.md). Source this file; it writes the two
# config files into a private temp dir and exports the variables podman reads.
#   PODMAN_ROOT   where images are stored (default /var/tmp/ci-containers); kept
#                 between runs so the base image and build cache are reused.
#   PODMAN_CONF_DIR  set by this file; callers remove it when done.

PODMAN_ROOT="${PODMAN_ROOT:-/var/tmp/ci-containers}"
PODMAN_CONF_DIR="$(mktemp -d -t qna-podman-conf.XXXXXX)"
export PODMAN_ROOT PODMAN_CONF_DIR

cat >"$PODMAN_CONF_DIR/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$PODMAN_ROOT/storage"
runroot = "$PODMAN_ROOT/run"
CONF

# netns=host: the build reaches PyPI and the smoke test reaches the app on
# 127.0.0.1 without slirp/pasta. runc + cgroupfs: crun fails on hybrid cgroups.
cat >"$PODMAN_CONF_DIR/containers.conf" <<'CONF'
[containers]
netns = "host"
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF

export CONTAINERS_STORAGE_CONF="$PODMAN_CONF_DIR/storage.conf"
export CONTAINERS_CONF="$PODMAN_CONF_DIR/containers.conf"
