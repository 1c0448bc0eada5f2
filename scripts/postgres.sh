#!/usr/bin/env bash
# Print an admin URL of a running PostgreSQL (>= 13), starting or installing one if needed.
#
# Order: $LEDGER_TEST_DATABASE_URL if set; a server already answering on 127.0.0.1:5432 (user postgres);
# else a private cluster under .tools/pg on port 55432 (PostgreSQL installed from Debian's packages if missing).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${LEDGER_TEST_DATABASE_URL:-}" ]; then echo "$LEDGER_TEST_DATABASE_URL"; exit 0; fi

ready() { # host port
  if command -v pg_isready >/dev/null; then pg_isready -q -h "$1" -p "$2"; else (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; fi
}
if ready 127.0.0.1 5432 && psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:5432/postgres"; exit 0
fi
# A system cluster that is installed but stopped (Debian's layout).
if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] && [ "$(id -u)" = 0 ]; then
  for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start >&2 2>/dev/null || true; done
  for _ in $(seq 1 50); do ready 127.0.0.1 5432 && break; sleep 0.2; done
  if ready 127.0.0.1 5432; then echo "postgres://postgres@127.0.0.1:5432/postgres"; exit 0; fi
fi

port=55432
data="$root/.tools/pg/data"
initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$initdb" ]; then
  echo "installing PostgreSQL from Debian's packages ..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  else sudo apt-get update -qq >&2 && sudo apt-get install -y -qq postgresql >&2; fi
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)
fi
bin=$(dirname "$initdb")
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
mkdir -p "$root/.tools/pg"
[ "$(id -u)" = 0 ] && chown postgres "$root/.tools/pg"
if [ ! -f "$data/PG_VERSION" ]; then
  "${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >&2
fi
if ! ready 127.0.0.1 $port; then
  "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$root/.tools/pg/log" -w \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=on" start >&2
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
