#!/usr/bin/env bash
# Build and install pgvector for the machine's PostgreSQL from Debian's source package
# (bookworm ships PostgreSQL 15 but no pgvector binary; the next release's source builds
# cleanly against it). Idempotent: does nothing when the extension is already installed.
set -euo pipefail
PG_MAJOR="${PG_MAJOR:-$(ls /usr/lib/postgresql | sort -n | tail -1)}"
if [ -f "/usr/share/postgresql/${PG_MAJOR}/extension/vector.control" ]; then
  echo "pgvector already installed for PostgreSQL ${PG_MAJOR}"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq "postgresql-server-dev-${PG_MAJOR}" dpkg-dev >/dev/null
mkdir -p "$work/sources" "$work/lists/partial"
awk 'BEGIN{RS=""; ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
  | sed -e 's/^Types:.*/Types: deb-src/' -e 's/^Suites:.*/Suites: trixie/' > "$work/sources/src.sources"
opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources" -o "Dir::State::Lists=$work/lists")
apt-get "${opts[@]}" update -qq
(cd "$work" && apt-get "${opts[@]}" source -qq --download-only pgvector && dpkg-source -x pgvector_*.dsc src >/dev/null)
make -s -C "$work/src" PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" OPTFLAGS= >/dev/null
make -s -C "$work/src" PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" OPTFLAGS= install >/dev/null
echo "pgvector installed for PostgreSQL ${PG_MAJOR}"
