#!/usr/bin/env bash
# Security area, sourced by .ci/run: a real Redis for the shared rate-limit test, required.
# Installs and starts redis-server when none answers on 127.0.0.1:6379.
redis_up() {
  python3 - <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
  fi
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no
  for _ in $(seq 30); do redis_up && break; sleep 0.5; done
fi
redis_up || { echo "Redis did not start" >&2; exit 1; }
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
export REQUIRE_REDIS=1
