#!/usr/bin/env bash
# TEST STAND-IN ONLY. Builds a local image tagged docker.io/library/python:3.12-slim
# for machines that cannot pull from a container registry (this project's CI
# machines). It is Debian bookworm (debootstrap, minbase) plus the machine's own
# CPython 3.12 copied into /usr/local: close to the official image in layout
# (/usr/local/bin/python3, no compilers), but it is NOT the official image and
# must never be pushed or used to build a release. Real builds use the official
# python:3.12-slim from Docker Hub.
#
# Usage: deploy/docker/make-base-image.sh            (needs root, podman, debootstrap)
# Env:   PYTHON_PREFIX  CPython 3.12 install to copy (default: `pyenv prefix 3.12`)
#        DEBIAN_MIRROR  defaults to the machine's own apt mirror
#        BASE_TAG       defaults to docker.io/library/python:3.12-slim
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE_TAG="${BASE_TAG:-docker.io/library/python:3.12-slim}"

die() { echo "make-base-image: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (debootstrap and chroot need it)"
command -v podman >/dev/null || die "podman not found (apt-get install -y podman)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install -y debootstrap)"

if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  # shellcheck source=deploy/docker/podman-env.sh
  source "$here/podman-env.sh"
  own_conf=1
fi

if [[ -z "${PYTHON_PREFIX:-}" ]]; then
  command -v pyenv >/dev/null || die "set PYTHON_PREFIX to a CPython 3.12 install"
  PYTHON_PREFIX="$(pyenv prefix "$(pyenv versions --bare | grep -E '^3\.12\.' | tail -1)")"
fi
[[ -x "$PYTHON_PREFIX/bin/python3.12" ]] || die "no python3.12 under $PYTHON_PREFIX"

if [[ -z "${DEBIAN_MIRROR:-}" ]]; then
  DEBIAN_MIRROR="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi

work="$(mktemp -d -t qna-base.XXXXXX)"
cleanup() {
  rm -rf "$work"
  if [[ -n "${own_conf:-}" ]]; then rm -rf "$PODMAN_CONF_DIR"; fi
}
trap cleanup EXIT
rootfs="$work/rootfs"

echo "make-base-image: debootstrap bookworm from $DEBIAN_MIRROR (about 2 minutes)"
# The runtime libraries CPython's extension modules link against, as in python:3.12-slim.
debootstrap --variant=minbase \
  --include=ca-certificates,libexpat1,libsqlite3-0,libssl3,libffi8,zlib1g,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1 \
  bookworm "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

echo "make-base-image: copying CPython from $PYTHON_PREFIX"
cp -a "$PYTHON_PREFIX/." "$rootfs/usr/local/"
# The official image ships no test suite and no tkinter/idle; neither do we.
rm -rf "$rootfs"/usr/local/lib/python3.12/{test,idlelib,tkinter,turtledemo}
# Interpreter start-up hooks the build machine added are not part of CPython.
find "$rootfs/usr/local/lib/python3.12/site-packages" -maxdepth 1 -name '*.pth' -delete
# Scripts (pip, idle...) point at the build machine's prefix; point them at /usr/local.
grep -rlI "^#!$PYTHON_PREFIX/bin/" "$rootfs/usr/local/bin" 2>/dev/null \
  | xargs -r sed -i "1s|^#!$PYTHON_PREFIX/bin/|#!/usr/local/bin/|"
for pair in python:python3 pip:pip3; do
  ln -sf "${pair#*:}" "$rootfs/usr/local/bin/${pair%%:*}"
done
# Trust what the build machine trusts, so pip/uv inside `podman build` work behind a
# TLS-inspecting proxy. The official image has Debian's bundle at the same path.
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
chroot "$rootfs" /sbin/ldconfig
chroot "$rootfs" /usr/local/bin/python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid; print("python ok")'

# Trim apt caches and docs as the official slim image does.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/{doc,man,info}/*

echo "make-base-image: importing as $BASE_TAG"
tar -C "$rootfs" -cf "$work/base.tar" .
podman import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHON_VERSION=3.12' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'LABEL org.opencontainers.image.description="TEST STAND-IN for python:3.12-slim, built by qna-agent deploy/docker/make-base-image.sh; do not publish"' \
  --change 'CMD ["python3"]' \
  "$work/base.tar" "$BASE_TAG" >/dev/null
podman image ls "$BASE_TAG"
