#!/usr/bin/env bash
# Observability checks for CI: installs promtool (Debian's prometheus package) if missing,
# then checks the alert rules and runs their unit tests. The pytest suite (run by .ci/run
# with REQUIRE_PROMTOOL=1) also runs `promtool check metrics` on a live /metrics output.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian package prometheus)"
  export DEBIAN_FRONTEND=noninteractive
  # The package would start a Prometheus server where an init system runs; we only want the tool.
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" = 0 ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ "$had_policy" = 0 ]; then rm -f "$policy"; fi
fi
promtool --version | head -1

promtool check rules deploy/observability/alerts.yaml
promtool test rules deploy/observability/alerts.test.yaml
