#!/usr/bin/env bash
# The main job, end to end: get nats-server >= 2.12 and PostgreSQL if missing, start them on their own ports and
# data directories (JetStream with sync_interval: always), start the ledger, append a real history through the
# append API and print the resulting report. Everything lives under .demo/ (delete it to start over).
#
# The ledger runs on Postgres roles of its own (`ledger db setup-roles`), never as the superuser.
#
#   bash scripts/demo.sh          run the demo, leave the stack running, print where to look
#   bash scripts/demo.sh stop     stop what the demo started
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state="$root/.demo"
nats_port=${LEDGER_DEMO_NATS_PORT:-14222}
append_port=${LEDGER_DEMO_APPEND_PORT:-50051}
query_port=${LEDGER_DEMO_QUERY_PORT:-50052}
mkdir -p "$state"

stop() {
  for p in ledger nats; do
    if [ -f "$state/$p.pid" ] && kill -0 "$(cat "$state/$p.pid")" 2>/dev/null; then
      kill -TERM "$(cat "$state/$p.pid")"; echo "stopped $p"
    fi
    rm -f "$state/$p.pid"
  done
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

step() { printf '\n== %s\n' "$*"; }

step "building the ledger (release)"
cargo build --release --quiet --bin ledger
ledger="$root/target/release/ledger"

step "nats-server (>= 2.12, JetStream, sync_interval: always) on 127.0.0.1:$nats_port, no anonymous clients"
# The ledger's NATS users (`ledger nats authorization`): the operator manages the stream, `ledger` runs every role
# of `ledger all`, `append`, `reader` and `notary` are for the roles run on their own. Passwords in .demo/nats-secrets/, given
# to nats-server through its environment.
nats_bin=$(bash scripts/nats-server.sh)
"$nats_bin" --version
secrets="$state/nats-secrets"
(umask 077; mkdir -p "$secrets"
 for u in operator append reader notary ledger; do
   [ -s "$secrets/$u" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secrets/$u"
 done)
{ printf 'host: 127.0.0.1\nport: %s\njetstream { store_dir: "%s", sync_interval: always }\n' "$nats_port" "$state/nats"
  "$ledger" nats authorization; } > "$state/nats.conf"
if [ -f "$state/nats.pid" ] && kill -0 "$(cat "$state/nats.pid")" 2>/dev/null; then
  kill -TERM "$(cat "$state/nats.pid")"; sleep 1  # restarted, so that it runs with this configuration
fi
LEDGER_NATS_OPERATOR_PASSWORD=$(cat "$secrets/operator") LEDGER_NATS_APPEND_PASSWORD=$(cat "$secrets/append") \
LEDGER_NATS_READER_PASSWORD=$(cat "$secrets/reader") LEDGER_NATS_LEDGER_PASSWORD=$(cat "$secrets/ledger") \
LEDGER_NATS_NOTARY_PASSWORD=$(cat "$secrets/notary") \
  "$nats_bin" -c "$state/nats.conf" -l "$state/nats.log" >> "$state/nats.log" 2>&1 & echo $! > "$state/nats.pid"
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$nats_port) 2>/dev/null && break; sleep 0.1; done

step "PostgreSQL: the ledger's roles (ledger db setup-roles), migrations as the owner"
# Least privilege: the superuser only creates the roles and the database; ledger_owner migrates, the projector
# (ledger_projector) writes the read models, the query API (ledger_query) reads them. Passwords in
# .demo/pg-secrets/, sent to Postgres as SCRAM verifiers.
admin=$(bash scripts/postgres.sh)
server="${admin%/*}"; server="${server#*://}"; server="${server#*@}"
db_url="postgres://ledger_owner@$server/ledger_demo"
pg_secrets="$state/pg-secrets"
(umask 077; mkdir -p "$pg_secrets"
 for r in owner projector query; do
   [ -s "$pg_secrets/$r" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pg_secrets/$r"
 done)
export LEDGER_DATABASE_URL="$db_url" LEDGER_DATABASE_PASSWORD_FILE="$pg_secrets/owner"
export LEDGER_PROJECTOR_DATABASE_URL="postgres://ledger_projector@$server/ledger_demo"
export LEDGER_PROJECTOR_DATABASE_PASSWORD_FILE="$pg_secrets/projector"
export LEDGER_QUERY_DATABASE_URL="postgres://ledger_query@$server/ledger_demo"
export LEDGER_QUERY_DATABASE_PASSWORD_FILE="$pg_secrets/query"
"$ledger" db setup-roles --admin-url "$admin"
"$ledger" migrate
echo "read models in $db_url (the query API reads them as $LEDGER_QUERY_DATABASE_URL)"

export LEDGER_NATS_URL="nats://127.0.0.1:$nats_port"
step "the log's stream, created by the NATS operator (refused if the read models say it held events)"
LEDGER_NATS_USER=operator LEDGER_NATS_PASSWORD_FILE="$secrets/operator" "$ledger" nats create-stream
export LEDGER_NATS_USER=ledger LEDGER_NATS_PASSWORD_FILE="$secrets/ledger"
export LEDGER_APPEND_ADDR="127.0.0.1:$append_port" LEDGER_QUERY_ADDR="127.0.0.1:$query_port"
export LEDGER_METRICS_ADDR="127.0.0.1:${LEDGER_DEMO_METRICS_PORT:-9464}"
export LEDGER_DASHBOARD_ADDR="127.0.0.1:${LEDGER_DEMO_DASHBOARD_PORT:-8080}"
export LEDGER_APPEND_URL="http://127.0.0.1:$append_port" LEDGER_QUERY_URL="http://127.0.0.1:$query_port"

step "keys and tokens (.demo/keys, .demo/tokens): a writer and a coalition admin per coalition, a platform admin, a reader of Sweden's coalition, an auditor"
keys="$state/keys"
tokens="$state/tokens"
umask 077  # the private key and the tokens are for this user only
if [ ! -f "$keys/public-keys.json" ]; then "$ledger" auth keygen --out "$keys"; fi
mkdir -p "$tokens"
chmod 700 "$keys" "$tokens"
token() { "$ledger" auth token --key "$keys/signing.pem" --ttl 30d "$@"; }
for c in eu lt nl be pt es bg cy mt ee sk cz pl at si lv ro ie lu se gr hr hu fr dk it; do
  [ -f "$tokens/writer-$c.jwt" ] || token --subject "$c-service" --role writer --coalition "$c" > "$tokens/writer-$c.jwt"
  [ -f "$tokens/coalition-admin-$c.jwt" ] || token --subject "$c-admin" --role coalition-admin --coalition "$c" > "$tokens/coalition-admin-$c.jwt"
done
[ -f "$tokens/platform-admin.jwt" ] || token --subject platform-operator --role platform-admin > "$tokens/platform-admin.jwt"
[ -f "$tokens/reader-se.jwt" ] || token --subject se-dashboard --role reader --coalition se > "$tokens/reader-se.jwt"
[ -f "$tokens/auditor.jwt" ] || token --subject auditor --role auditor > "$tokens/auditor.jwt"
ls "$tokens" | wc -l | xargs echo "tokens:"
export LEDGER_AUTH_PUBLIC_KEYS="$keys/public-keys.json" LEDGER_DEMO_TOKENS="$tokens"
# The notary's key: it signs checkpoints of the log's Merkle tree; auditors verify them with notary.vkey.
[ -f "$keys/notary.key" ] || "$ledger" audit keygen --name ledger.localhost/coalitions --out "$keys" > /dev/null
export LEDGER_NOTARY_KEY="$keys/notary.key"
echo "notary verifier key: $(cat "$keys/notary.vkey")"
umask 022

step "starting the ledger (append API :$append_port, query API :$query_port, dashboard http://$LEDGER_DASHBOARD_ADDR/, projectors); log in .demo/ledger.log"
if [ -f "$state/ledger.pid" ] && kill -0 "$(cat "$state/ledger.pid")" 2>/dev/null; then kill -TERM "$(cat "$state/ledger.pid")"; sleep 1; fi
"$ledger" all >> "$state/ledger.log" 2>&1 & echo $! > "$state/ledger.pid"

step "appending the demo history through the append API"
"$ledger" demo

cat <<TXT

== where to look
  stop everything:    bash scripts/demo.sh stop
  web dashboard:      http://$LEDGER_DASHBOARD_ADDR/ (live; sign in with a token, e.g. Sweden's reader:
                      .demo/tokens/reader-se.jwt, or the auditor's for every coalition: .demo/tokens/auditor.jwt)
  SQL views:          PGPASSWORD=\$(cat .demo/pg-secrets/query) psql '$LEDGER_QUERY_DATABASE_URL' -c 'select * from reporting.coalition_members_current'
                      PGPASSWORD=\$(cat .demo/pg-secrets/query) psql '$LEDGER_QUERY_DATABASE_URL' -c "select * from reporting.coalition_growth_monthly where coalition_id = 'se'"
  every gRPC call needs a token (health checks excepted), e.g. with grpcurl:
    export TOKEN=\$(cat .demo/tokens/reader-se.jwt)     # Sweden's reader; .demo/tokens/auditor.jwt sees everything
    grpcurl -plaintext -H "authorization: Bearer \$TOKEN" 127.0.0.1:$query_port list
    grpcurl -plaintext -H "authorization: Bearer \$TOKEN" 127.0.0.1:$query_port coalition.ledger.v1.LedgerQuery/CurrentMembers
    grpcurl -plaintext -H "authorization: Bearer \$TOKEN" 127.0.0.1:$query_port coalition.ledger.v1.LedgerQuery/ProjectionStatus
  replay the log (auditor):
    grpcurl -plaintext -H "authorization: Bearer \$(cat .demo/tokens/auditor.jwt)" -d '{"coalition_id":"se"}' 127.0.0.1:$query_port coalition.ledger.v1.LedgerReplay/Replay
  verify the log with the notary's public key only (through the public API; then offline from an export):
    $ledger audit verify --vkey .demo/keys/notary.vkey --replay-url http://127.0.0.1:$query_port --token-file .demo/tokens/auditor.jwt --state .demo/auditor.checkpoint
    $ledger audit export --replay-url http://127.0.0.1:$query_port --token-file .demo/tokens/auditor.jwt --out .demo/ledger.export
    $ledger audit verify --vkey .demo/keys/notary.vkey --from-export .demo/ledger.export --no-state
  metrics:            curl -s http://$LEDGER_METRICS_ADDR/metrics   (ledger_auth_failures_total, ledger_auth_denied_total, ...)
  a new token:        $ledger auth token --key .demo/keys/signing.pem --subject NAME --role reader --coalition dk --ttl 12h
  rebuild and check (as the projector's roles):
    LEDGER_NATS_URL=$LEDGER_NATS_URL LEDGER_NATS_USER=reader LEDGER_NATS_PASSWORD_FILE=.demo/nats-secrets/reader \\
    LEDGER_DATABASE_URL=$db_url LEDGER_PROJECTOR_DATABASE_URL=$LEDGER_PROJECTOR_DATABASE_URL \\
    LEDGER_PROJECTOR_DATABASE_PASSWORD_FILE=.demo/pg-secrets/projector $ledger rebuild
  an anonymous NATS client is refused: nats-server's users are in .demo/nats.conf
  logs:               .demo/ledger.log, .demo/nats.log
TXT
