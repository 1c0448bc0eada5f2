#!/usr/bin/env bash
# Print the path of a Chromium for the dashboard's browser test, installing Debian's `chromium` package if none.
#
# Order: $LEDGER_CHROMIUM (your own browser), `chromium` on PATH, else `apt-get install chromium` (needs root, as
# on CI). The test drives it headless with its network features off; nothing is fetched by the browser itself.
set -euo pipefail
if [ -n "${LEDGER_CHROMIUM:-}" ]; then
  [ -x "$LEDGER_CHROMIUM" ] || { echo "LEDGER_CHROMIUM=$LEDGER_CHROMIUM is not an executable" >&2; exit 1; }
  echo "$LEDGER_CHROMIUM"; exit 0
fi
if command -v chromium >/dev/null; then
  command -v chromium; exit 0
fi
echo "installing Debian's chromium package for the dashboard test ..." >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2 || echo "apt-get update failed; trying the cached package lists" >&2
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
command -v chromium
