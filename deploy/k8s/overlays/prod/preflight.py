"""Refuse to start qna-agent (prod overlay) on settings that would fail quietly, then exec
the command given, so it replaces this process and receives signals directly:

    python /etc/qna-agent/preflight.py qna-agent serve

The checks, and what happens without them:
- DATABASE_URL unset or SQLite: the image's default, a SQLite file on the pod's own
  volume, applies. The migration Job "succeeds" on a file no replica sees, and every pod
  answers 503 "migrations not applied" for ever.
- REDIS_URL unset while rate limits are on: each of the 2-10 replicas counts alone, so
  every limit is multiplied by the replica count and changes with the autoscaler.

It reads the settings with the app's own loader, so values from SECRETS_DIR (Vault Agent)
and `<NAME>_FILE` count as they will in the app. Problems are JSON log lines on stderr
(LOG_FORMAT=json in prod) and exit status 2, the app's own status for bad configuration.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

from qna_agent.config import Settings, SettingsError, load_settings

EXIT_CONFIG = 2
HELP = "docs/production.md, Troubleshooting: 'preflight_refused'"


def problems(settings: Settings) -> list[str]:
    """What in these settings the prod overlay cannot run with."""
    found = []
    if settings.is_sqlite:
        found.append(
            "DATABASE_URL is unset or SQLite; the prod overlay needs PostgreSQL: set DATABASE_URL "
            "in the Secret qna-agent-secrets (or the Vault file DATABASE_URL)"
        )
    limits_on = settings.rate_limit_requests_per_minute or settings.rate_limit_tokens_per_day
    if settings.redis_url is None and limits_on:
        found.append(
            "REDIS_URL is unset, so each replica would keep its own rate limits; set REDIS_URL "
            "in the Secret qna-agent-secrets (the overlay's Redis: redis://:PASSWORD@redis:6379/0)"
        )
    return found


def log(problem: str) -> None:
    """One JSON log line, shaped like the app's own."""
    line = {
        "event": "preflight_refused",
        "problem": problem,
        "help": HELP,
        "level": "error",
        "logger": "qna_agent.preflight",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    print(json.dumps(line), file=sys.stderr, flush=True)


def main(command: list[str]) -> int:
    """Check the settings; exec `command` if they pass, else return the exit status."""
    if not command:
        print("usage: preflight.py COMMAND [ARG...]", file=sys.stderr)
        return EXIT_CONFIG
    try:
        found = problems(load_settings())
    except SettingsError as exc:
        found = [str(exc)]
    for problem in found:
        log(problem)
    if found:
        return EXIT_CONFIG
    os.execvp(command[0], command)  # never returns


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
