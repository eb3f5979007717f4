#!/usr/bin/env bash
# Linearizability under faults: RUNS runs (default 5) of SECONDS seconds (default 120) each. Three members
# (zc serve control, no silos) on loopback; six clients doing get, put and compare-and-swap on four keys through
# random members while the leader is SIGKILLed and restarted and members are paused (SIGSTOP) every 2-4 s; each
# history is checked with the test suite's Wing-Gong/Porcupine checker. Prints one line per run and a summary.
# Usage: sudo bench/linearizability.sh [runs] [seconds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs=${1:-5}
seconds=${2:-120}
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
dotnet build tests/ZeroCloud.Cluster.Tests -c Release -nologo -v q -clp:NoSummary >/dev/null
bad=0; inconclusive=0
for run in $(seq 1 "$runs"); do
  out=$(ZC_LIN_SECONDS=$seconds ZC_LIN_SEED=$run dotnet test tests/ZeroCloud.Cluster.Tests -c Release --no-build \
        --filter "FullyQualifiedName~Gets_puts_and_compare_and_swaps" --logger "console;verbosity=normal" 2>&1 || true)
  line=$(grep -m1 "^seed " <<<"$out" || grep -m1 "seed [0-9]*:" <<<"$out" || echo "run $run: no result (see the test output)")
  echo "run $run: ${line#*seed }"
  grep -q "NotLinearizable" <<<"$line" && bad=$((bad + 1))
  grep -q "Inconclusive" <<<"$line" && inconclusive=$((inconclusive + 1))
done
echo "linearizability: $runs runs of ${seconds} s: $bad not linearizable, $inconclusive inconclusive, $((runs - bad - inconclusive)) linearizable"
