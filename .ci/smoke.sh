#!/usr/bin/env bash
# The container image end to end, called by .ci/run (as root): builds the image once with
# podman and runs deploy/docker/smoke-test.sh on SQLite, then the same image on PostgreSQL
# (a scratch database, created and dropped here). About 3 minutes with the base image in
# /var/tmp/ci-containers, 2-3 more the first time (the stand-in base image is built
# once and kept there). The image built here is removed at the end, pass or fail.
#
#   bash .ci/smoke.sh
#
# Env: TEST_DATABASE_URL  the PostgreSQL server to make the scratch database on
#                         (default postgresql+asyncpg://postgres@127.0.0.1:5432/test)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
smoke="$repo/deploy/docker/smoke-test.sh"
# A tag of this run only: never a developer's image, never one another run still uses.
export IMAGE="localhost/qna-agent:ci-$$"
scratch_db="qna_smoke_$$"
server_url="${TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
# psql speaks libpq URLs; the app speaks SQLAlchemy ones.
libpq_url="${server_url/postgresql+asyncpg:/postgresql:}"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

step "tools: podman, debootstrap, runc"
missing=()
for tool in podman:podman debootstrap:debootstrap runc:runc curl:curl psql:postgresql-client; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
podman --version

cleanup() {
  set +e
  psql "$libpq_url" -qc "DROP DATABASE IF EXISTS $scratch_db WITH (FORCE)" >/dev/null 2>&1
  # shellcheck source=deploy/docker/podman-env.sh
  source "$repo/deploy/docker/podman-env.sh"
  podman rmi -f "$IMAGE" >/dev/null 2>&1
  # The untagged build stages; the base image (tagged) stays for the next run.
  podman image prune -f >/dev/null 2>&1
  rm -rf "$PODMAN_CONF_DIR"
}
trap cleanup EXIT

step "smoke test on SQLite (builds $IMAGE)"
KEEP_IMAGE=1 "$smoke" || fail "smoke test on SQLite"

step "smoke test on PostgreSQL (scratch database $scratch_db)"
psql "$libpq_url" -qc "CREATE DATABASE $scratch_db" >/dev/null || fail "cannot create $scratch_db"
SKIP_BUILD=1 SMOKE_DATABASE_URL="${server_url%/*}/$scratch_db" "$smoke" \
  || fail "smoke test on PostgreSQL"

printf '\nsmoke: passed on SQLite and PostgreSQL\n'
