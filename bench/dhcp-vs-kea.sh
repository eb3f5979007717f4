#!/usr/bin/env bash
# DHCP throughput: Kea (memfile, persist on) against zc-dhcp (NativeAOT, leases fsync'd to a local file
# before each ACK, group commit) in one namespace lab, one after the other, perfdhcp offering the same rates.
# Prints completed 4-way exchanges per second and drops for each, and the ratio ours/Kea.
#   RATES="2000 4000 8000" PERIOD=10 bench/dhcp-vs-kea.sh
# Needs root (network namespaces) and scripts/setup's packages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rates=${RATES:-"2000 4000 6000 8000 10000 12000 16000"}
period=${PERIOD:-10}
server_pid=""
source "$root/bench/lab.sh"

"$root/scripts/setup"
# The lab: 10.64.0.0/12, so that no step runs out of addresses.
lab_up "zb$$" 12 10.64.0.2 10.64.0.9
publish_aot netboot/ZeroCloud.Dhcp.Service zc

cat > "$work/cluster.yaml" <<YAML
apiVersion: zerocloud.io/v1
kind: Cluster
metadata: { name: bench }
spec:
  network:
    interface: eth0
    subnet: 10.64.0.0/12
    gateway: 10.64.0.1
    dhcp: { range: 10.65.0.0-10.79.255.254, leaseTime: 1h }
YAML

cat > "$work/kea.json" <<JSON
{ "Dhcp4": {
    "interfaces-config": { "interfaces": [ "eth0" ] },
    "lease-database": { "type": "memfile", "persist": true, "name": "$work/kea/leases.csv", "lfc-interval": 0 },
    "valid-lifetime": 3600,
    "subnet4": [ { "id": 1, "subnet": "10.64.0.0/12", "pools": [ { "pool": "10.65.0.0 - 10.79.255.254" } ],
                   "option-data": [ { "name": "routers", "data": "10.64.0.1" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "$work/kea.log" } ], "severity": "WARN" } ] } }
JSON

start_server() { # $1 = kea | zc ; fresh lease files each time
  rm -rf "$work/kea" "$work/zcdata"; mkdir -p "$work/kea"
  if [ "$1" = kea ]; then
    KEA_LOCKFILE_DIR="$work/kea" KEA_PIDFILE_DIR="$work/kea" ip netns exec "$srv" kea-dhcp4 -c "$work/kea.json" >/dev/null 2>&1 &
  else
    ip netns exec "$srv" "$work/zc/zc-dhcp" -f "$work/cluster.yaml" --interface eth0 --data "$work/zcdata" >"$work/zc.log" 2>&1 &
  fi
  server_pid=$!
  # Ready when it answers: one exchange.
  for _ in $(seq 1 50); do
    if ip netns exec "$cl" perfdhcp -4 -l eth0 -r 10 -R 5 -n 5 -W 500000 2>/dev/null | grep -q "received packets: [1-9]"; then return 0; fi
    sleep 0.2
  done
  echo "$1 did not start" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

run() { # $1 = server, $2 = rate -> "exchanges/s drops% server-cpu% exchanges-per-cpu-second"
  start_server "$1"
  before=$(cpu_ticks "$server_pid")
  out=$(ip netns exec "$cl" perfdhcp -4 -l eth0 -r "$2" -p "$period" -R 100000000 -W 2000000 2>&1 || true)
  used=$(( $(cpu_ticks "$server_pid") - before ))
  stop_server
  # perfdhcp's own "Rate:" divides by the run including its exit wait: count ACKs over the period instead.
  sent=$(sed -n 's/^sent packets: \([0-9]*\)/\1/p' <<<"$out" | head -1)
  acks=$(sed -n 's/^received packets: \([0-9]*\)/\1/p' <<<"$out" | sed -n 2p)
  awk -v s="${sent:-0}" -v a="${acks:-0}" -v p="$period" -v t="$used" -v hz="$(getconf CLK_TCK)" -v w=2 'BEGIN {
    cpu = t / hz; printf "%.0f %.1f %.0f %.0f\n", a / p, s ? 100 * (s - a) / s : 100, 100 * cpu / (p + w), cpu ? a / cpu : 0 }'
}

# Columns: completed 4-way exchanges per second (ACKs / period), drops (sent DISCOVERs without an ACK),
# the server's CPU use over the run, and exchanges per CPU-second (what one core of server would sustain).
printf "%-7s | %-36s | %-36s | %s\n" "offered" "Kea 2.2: exch/s drop% cpu% exch/cpu-s" "zc-dhcp: exch/s drop% cpu% exch/cpu-s" "ratio zc/Kea: exch/s, exch/cpu-s"
best_kea=0 best_zc=0 eff_kea=0 eff_zc=0
for r in $rates; do
  read -r kr kd kc ke < <(run kea "$r")
  read -r zr zd zc ze < <(run zc "$r")
  printf "%-7s | %8s %7s%% %5s%% %10s     | %8s %7s%% %5s%% %10s     | %s, %s\n" "$r" "$kr" "$kd" "$kc" "$ke" "$zr" "$zd" "$zc" "$ze" \
    "$(ratio "$zr" "$kr")" "$(ratio "$ze" "$ke")"
  best_kea=$(awk -v a="$best_kea" -v b="$kr" 'BEGIN { print (b > a ? b : a) }')
  best_zc=$(awk -v a="$best_zc" -v b="$zr" 'BEGIN { print (b > a ? b : a) }')
  eff_kea=$(awk -v a="$eff_kea" -v b="$ke" 'BEGIN { print (b > a ? b : a) }')
  eff_zc=$(awk -v a="$eff_zc" -v b="$ze" 'BEGIN { print (b > a ? b : a) }')
done
echo "best completed exchanges/s: Kea $best_kea, zc-dhcp $best_zc, ratio $(ratio "$best_zc" "$best_kea")"
echo "best exchanges per server CPU-second: Kea $eff_kea, zc-dhcp $eff_zc, ratio $(ratio "$eff_zc" "$eff_kea")"
echo "(on $(nproc) cores perfdhcp itself needs a whole core near 9-10k exchanges/s: past that the generator, not the server, is the limit)"
