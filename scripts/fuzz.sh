#!/usr/bin/env bash
# Fuzzing (docs/fuzzing.md): builds the libFuzzer targets of fuzz/ with cargo-fuzz (installed into .tools/ if
# missing) and runs each for SECONDS (default 20) from its committed corpus, fuzz/corpus/<target>/, which it leaves
# unchanged (new inputs go to a scratch directory). Fails on any crash, leak, timeout or out-of-memory; the input
# is then in fuzz/artifacts/<target>/. Prints each target's executions and coverage.
#
# Stable Rust: no sanitizer (-s none), so only panics (including debug assertions and overflow checks, -a) and
# aborts are finds. LEDGER_FUZZ_TARGET_DIR sets the build directory (default fuzz/target); CARGO_BUILD_JOBS
# limits the build's jobs; LEDGER_FUZZ_LOG_DIR, if set, keeps each target's libFuzzer output there. Extra
# arguments after SECONDS go to libFuzzer (e.g. -runs=10000000 for a long run, which then ends after that many
# executions or SECONDS, whichever comes first).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-20}
shift || true
version=0.13.2
tools="$root/.tools"
if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$version"; then
  echo "installing cargo-fuzz $version into .tools/" >&2
  cargo install --locked --root "$tools" --version "$version" cargo-fuzz
fi
export PATH="$tools/bin:$PATH"
flags=(-s none --release -a --target-dir "${LEDGER_FUZZ_TARGET_DIR:-$root/fuzz/target}")
start=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "fuzz build: $(($(date +%s) - start)) s" >&2

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
printf '%-16s %12s %8s %10s %8s %8s %s\n' target executions seconds exec/s cov ft corpus
for t in $(cargo fuzz list); do
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  log="$scratch/$t.log"
  t0=$(date +%s)
  if ! cargo fuzz run "${flags[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    failed+=("$t")
  fi
  if [[ -n ${LEDGER_FUZZ_LOG_DIR:-} ]]; then mkdir -p "$LEDGER_FUZZ_LOG_DIR" && cp "$log" "$LEDGER_FUZZ_LOG_DIR/"; fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([^ ]+).*/\1/p' <<<"$last")
  printf '%-16s %12s %8s %10s %8s %8s %s\n' "$t" "${runs:-?}" "$(($(date +%s) - t0))" "${speed:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}"
done
if ((${#failed[@]})); then
  echo "fuzzing found a crash in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: $(cargo fuzz list | wc -l) targets, no crash" >&2
