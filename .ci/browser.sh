#!/usr/bin/env bash
# Chromium for the web page's browser tests (tests/e2e/test_web_page.py), from Debian.
# Playwright drives this binary; its own browser download (`playwright install`) is never used.
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
