#!/usr/bin/env bash
# The whole test suite: unit tests and integration tests against a real nats-server (>= 2.12, one per test,
# started by the harness), a real PostgreSQL (one database per test) and, for the dashboard, a headless Chromium. Extra arguments go to cargo nextest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
LEDGER_NATS_SERVER=$(bash scripts/nats-server.sh)
LEDGER_TEST_DATABASE_URL=$(bash scripts/postgres.sh)
LEDGER_CHROMIUM=$(bash scripts/chromium.sh)
export LEDGER_NATS_SERVER LEDGER_TEST_DATABASE_URL LEDGER_CHROMIUM
echo "nats-server: $("$LEDGER_NATS_SERVER" --version); postgres: ${LEDGER_TEST_DATABASE_URL}" >&2
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --features coalition-ledger/fault-injection --no-fail-fast "$@"
else
  cargo test --workspace --features coalition-ledger/fault-injection --no-fail-fast "$@"
fi
