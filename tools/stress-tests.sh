#!/usr/bin/env bash
# Runs the thread and wake tests N times with the other core kept busy, and counts
# failures per test file. Usage: bash tools/stress-tests.sh [N=30]
# The busy loop is a process this script starts and ends by its PID.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-30}
node -e 'for (;;) {}' &
busy=$!
trap 'kill "$busy" 2>/dev/null' EXIT
declare -A fail
failed=0
tests=(
  "packages/frame-ring test/threads.test.ts"
  "packages/frame-ring test/native-wake.test.ts"
  "packages/tap-io test/tap.test.ts"
  "packages/tap-io test/native-boundary.test.ts"
  "packages/tap-io test/syn-shed.test.ts"
  "packages/frame-ring test/pump.test.ts"
  "packages/stack-driver test/loop.test.ts"
  "packages/stack-driver test/stack-thread.test.ts"
  "packages/stack-driver test/threaded-link.test.ts"
)
for ((i = 1; i <= n; i++)); do
  for t in "${tests[@]}"; do
    set -- $t
    if ! (cd "$1" && timeout --kill-after=10 180 npx vitest run "$2" >"/tmp/stress-$$.log" 2>&1); then
      fail[$t]=$(( ${fail[$t]:-0} + 1 ))
      failed=$((failed + 1))
      echo "run $i: FAIL $t"
      grep -E "AssertionError|Error:|Timed out|timed out" "/tmp/stress-$$.log" | head -3
    fi
  done
  echo "run $i done"
done
echo "== $n runs with one core busy"
for t in "${tests[@]}"; do echo "${fail[$t]:-0}/$n failed: $t"; done
rm -f "/tmp/stress-$$.log"
[ "$failed" -eq 0 ]
