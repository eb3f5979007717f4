#!/usr/bin/env bash
# bench/bringup.sh [N ...]: wall time from `./zc up --nodes N` to every node Ready and every service at its
# replicas (the root cluster.yaml: 3 voters, dhcp x2, netboot x2, storage x3, hello x4), and the peak memory the lab used
# (system used memory sampled every 0.5 s, minus what was used before). Default N: 10 50 100. No peer runs here
# (MAAS or Tinkerbell would need machines or Docker); the figure is set against the goal of 100 servers < 60 s.
# Run as root. The images are built first, outside the timing; the timing includes zc up pushing them into the
# seed's store and every server pulling what it runs from there.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 50 100)

./zc down >/dev/null
echo "== warming the build (zc up --nodes 4, not timed)"
./zc up --nodes 4 --timeout 300 >/dev/null
./zc down >/dev/null

used() { free -b | awk '/^Mem:/ {print $3}'; }
for n in "${sizes[@]}"; do
  sleep 2
  base=$(used)
  peak=$base
  log=$(mktemp)
  start=$(date +%s.%N)
  ./zc up --nodes "$n" --timeout 600 >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    u=$(used); [ "$u" -gt "$peak" ] && peak=$u
    sleep 0.5
  done
  wait "$pid" && code=0 || code=$?
  end=$(date +%s.%N)
  wall=$(echo "$end - $start" | bc)
  inner=$(grep -o 'every service at its replicas, in [0-9.]* s' "$log" | grep -o '[0-9.]* s$' || echo "n/a")
  poweron=$(grep -o 'powering on [0-9]* servers[^(]*([0-9.]* s)' "$log" | grep -o '([0-9.]* s)' | tr -d '()' || echo "n/a")
  rss=$(( (peak - base) / 1048576 ))
  printf 'N=%-4s exit %d  wall %6.1f s  (powered on at %s, all Ready at %s)  peak memory +%d MiB  goal 60 s for 100: %s\n' \
    "$n" "$code" "$wall" "$poweron" "$inner" "$rss" "$(echo "scale=2; $wall / 60" | bc)x of 60 s"
  grep -E '^zc up: [0-9.]+ s:' "$log" | sed 's/^/    /' | tail -12
  [ "$code" -eq 0 ] || tail -20 "$log"
  ./zc down >/dev/null
  rm -f "$log"
done
