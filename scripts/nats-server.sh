#!/usr/bin/env bash
# Print the path of a nats-server >= 2.12 binary, fetching one if needed.
#
# Order: $LEDGER_NATS_SERVER (your own binary), .tools/nats/usr/sbin/nats-server (fetched
# before), a nats-server on PATH that is new enough, else Debian testing's package is
# downloaded with apt (mirror taken from this machine's own apt configuration) and
# extracted with `dpkg -x` into .tools/ (ignored by git). Nothing is installed system-wide.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools/nats"
min_minor=12

new_enough() { # $1 = binary
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge $min_minor ]; }
}

if [ -n "${LEDGER_NATS_SERVER:-}" ]; then
  new_enough "$LEDGER_NATS_SERVER" || { echo "LEDGER_NATS_SERVER=$LEDGER_NATS_SERVER is not nats-server >= 2.$min_minor" >&2; exit 1; }
  echo "$LEDGER_NATS_SERVER"; exit 0
fi
if [ -x "$tools/usr/sbin/nats-server" ] && new_enough "$tools/usr/sbin/nats-server"; then
  echo "$tools/usr/sbin/nats-server"; exit 0
fi
if command -v nats-server >/dev/null && new_enough "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi

echo "fetching nats-server >= 2.$min_minor from Debian testing into $tools ..." >&2
uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
if [ -z "$uri" ]; then
  uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
fi
[ -n "$uri" ] || { echo "no Debian mirror in the apt configuration; set LEDGER_NATS_SERVER to a nats-server >= 2.$min_minor" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/lists/partial" "$scratch/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri forky main" > "$scratch/sources.list"
opts=(-o "Dir::Etc::SourceList=$scratch/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$scratch/lists" -o "Dir::Cache::Archives=$scratch/archives"
      -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get -qq "${opts[@]}" update >&2
(cd "$scratch" && apt-get -qq "${opts[@]}" download nats-server >&2)
mkdir -p "$tools"
dpkg -x "$scratch"/nats-server_*.deb "$tools"
new_enough "$tools/usr/sbin/nats-server" || { echo "fetched nats-server is older than 2.$min_minor" >&2; exit 1; }
echo "$tools/usr/sbin/nats-server"
