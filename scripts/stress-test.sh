#!/usr/bin/env bash
# The test suite on a loaded machine: runs `vitest run` ROUNDS times (default 3) while HOGS
# busy loops (default 2, one per core on a CI machine) compete for the CPU. Exits non-zero if any
# round failed; each round's output is kept in $OUT (default: a temporary folder).
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
HOGS=${HOGS:-2}
OUT=${OUT:-$(mktemp -d -t fathom-stress-XXXXXX)}
mkdir -p "$OUT"

node scripts/setup.mjs >/dev/null || exit 1

hogs=()
stop_hogs() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; wait 2>/dev/null; }
trap stop_hogs EXIT INT TERM
for _ in $(seq "$HOGS"); do
  node -e 'for (;;) {}' &
  hogs+=("$!")
done

failed=0
for round in $(seq "$ROUNDS"); do
  started=$(date +%s)
  if npx vitest run "$@" >"$OUT/round-$round.log" 2>&1; then
    echo "round $round of $ROUNDS: passed in $(( $(date +%s) - started )) s"
  else
    failed=$((failed + 1))
    echo "round $round of $ROUNDS: FAILED in $(( $(date +%s) - started )) s; see $OUT/round-$round.log"
    grep -E '(FAIL|✗|×) ' "$OUT/round-$round.log" | sort -u | head -20
  fi
done
echo "$((ROUNDS - failed)) of $ROUNDS rounds passed with $HOGS CPU hogs running; logs in $OUT"
[ "$failed" -eq 0 ]
