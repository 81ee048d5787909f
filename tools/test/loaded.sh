#!/usr/bin/env bash
# Runs test files on a loaded machine: `stress-ng --cpu K` (default 2, every core of a CI machine)
# beside them, N times (default 3), and reports each run's result. Exit status 1 if any run failed.
#
#   tools/test/loaded.sh [-n N] [--cpu K] [--all | test files...]
#
# Without files: the suites whose assertions once depended on the machine's speed (timing, counts of
# events, helper timeouts, retries) and the property tests. --all: the whole vitest suite.
# Logs: $OCIUTIL_TEST_TMPDIR or /tmp, in ociutil-loaded-<time>/run-<i>.log.
# Needs stress-ng (Debian: apt-get install stress-ng; .ci/setup installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=3
cpu=2
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs="$2"; shift 2 ;;
    --cpu) cpu="$2"; shift 2 ;;
    --all) files=(); all=1; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
if [ "${all:-0}" != 1 ] && [ ${#files[@]} -eq 0 ]; then
  files=(
    tools/test/promote-ratelimit.test.ts
    tools/test/blob-receive.test.ts
    tools/test/keepalive.test.ts
    tools/test/credentials.test.ts
    tools/test/faults.test.ts
    tools/test/promote-resume.test.ts
    tools/test/harness.test.ts
    tools/test/property-*.test.ts
  )
fi

if ! command -v stress-ng >/dev/null; then
  echo "loaded.sh: stress-ng is not installed (apt-get install stress-ng, or bash .ci/setup)" >&2
  exit 2
fi

logs="${OCIUTIL_TEST_TMPDIR:-/tmp}/ociutil-loaded-$(date -u +%Y%m%dT%H%M%S)"
mkdir -p "$logs"
stress-ng --cpu "$cpu" --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null || true; wait "$stress" 2>/dev/null || true' EXIT

failed=0
for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  start=$(date +%s)
  if npx vitest run "${files[@]}" >"$log" 2>&1; then
    echo "run $i/$runs: ok ($(( $(date +%s) - start )) s)"
  else
    failed=$((failed + 1))
    echo "run $i/$runs: FAILED ($(( $(date +%s) - start )) s), log: $log"
    # The failing tests, and the property seed to replay them with.
    grep -E "^ *(FAIL|×)|property seed|seed: " "$log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u | head -20 || true
  fi
done
what="${#files[@]} test files"
[ "${all:-0}" = 1 ] && what="the whole suite"
echo "stress-ng --cpu $cpu beside $what: $((runs - failed))/$runs runs passed; logs in $logs"
[ "$failed" -eq 0 ]
