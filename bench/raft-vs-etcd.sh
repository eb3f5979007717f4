#!/usr/bin/env bash
# Writes per second and latency of a three-member control plane (ours: DotNext Raft + the revisioned KV) against
# a three-member etcd 3.4 (Debian's etcd-server), both on loopback, same disk, measured in the same run: wrk with
# 64 connections for 10 s putting unique keys with 100-byte values through each leader's HTTP/JSON API. Then
# failover: SIGKILL the leader and time until the next write commits through a survivor, median of 10 per system.
# Members run as deployed: each with its Orleans silo (as zc up runs every member), the API on TLS 1.3 with the
# cluster's own CA and every request with the admin's bearer credential; etcd with TLS for clients and peers. ZC_BENCH_SILO=off runs the
# trimmed configuration (Raft member and API only), labelled as such in the output.
# Usage: bench/raft-vs-etcd.sh [seconds] [connections] [failovers]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/bench/lab.sh"
secs=${1:-10} conns=${2:-64} rounds=${3:-10}
silo=${ZC_BENCH_SILO:-on}
silo_args=(); label="zerocloud"
[ "$silo" = off ] && { silo_args=(--no-silo); label="zc-nosilo"; }
command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d /tmp/zc-raft-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT

echo "building zc (Release) ..." >&2
dotnet build "$root/cli/ZeroCloud.Cli/ZeroCloud.Cli.csproj" -c Release -o "$work/zc" -nologo -v q >&2
zc=(dotnet "$work/zc/zc.dll")
now_ms() { date +%s%3N; }

# ---- ours ----
declare -A zc_pid
start_zc() { # name api-port extra-args...
  local n=$1 port=$2; shift 2
  "${zc[@]}" serve control --data "$work/zc-$n" --listen "127.0.0.1:$port" --name "$n" "${silo_args[@]}" "$@" >"$work/zc-$n.log" 2>&1 &
  zc_pid[$n]=$!; pids+=($!); disown $!
}
wait_http() { for _ in $(seq 100); do curl --cacert "$work/zc-a/pki/root.crt" -sf -m 1 "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
zc_leader_port() {
  for p in 7170 7180 7190; do
    if curl --cacert "$work/zc-a/pki/root.crt" -sf -m 1 "https://127.0.0.1:$p/v1/status" 2>/dev/null | grep -q '"role":"leader"'; then echo "$p"; return 0; fi
  done
  return 1
}
start_zc a 7170 --bootstrap; wait_http https://127.0.0.1:7170/v1/status
# Every route but status needs a credential: the members, curl and wrk (bench/lua/put-zc.lua reads $ZC_TOKEN) use
# the admin one the first member made.
for _ in $(seq 100); do [ -s "$work/zc-a/admin-credential" ] && break; sleep 0.1; done
export ZC_TOKEN; ZC_TOKEN=$(cat "$work/zc-a/admin-credential")
# The API is HTTPS with the cluster's own CA: joining members and curl trust the first member's root.
ca="$work/zc-a/pki/root.crt"
start_zc b 7180 --peers https://127.0.0.1:7170 --ca-file "$ca"
start_zc c 7190 --peers https://127.0.0.1:7170 --ca-file "$ca"
for _ in $(seq 100); do [ "$(curl --cacert "$work/zc-a/pki/root.crt" -sf -H "Authorization: Bearer $ZC_TOKEN" https://127.0.0.1:7170/v1/members | grep -o '"status":"available"' | wc -l)" = 3 ] && break; sleep 0.2; done

# ---- etcd ----
declare -A etcd_pid
# etcd on TLS too, its recommended setup for a cluster: server TLS for clients and mutual TLS between peers, with a
# CA and one certificate for 127.0.0.1 made with openssl (ECDSA P-256, as ours). Clients are not asked for a
# certificate (wrk cannot send one), as ours authenticate with a bearer credential inside TLS.
# ZC_BENCH_ETCD_TLS=off runs etcd on plain HTTP, labelled as such.
et="$work/etcd-tls"; mkdir -p "$et"; es=http; etls=()
if [ "${ZC_BENCH_ETCD_TLS:-on}" = on ]; then
  source "$root/bench/etcd-tls.sh"; etcd_tls_certs "$et"
  es=https
  etls=(--cert-file "$et/node.crt" --key-file "$et/node.key" --peer-cert-file "$et/node.crt" --peer-key-file "$et/node.key"
        --peer-trusted-ca-file "$et/ca.crt" --peer-client-cert-auth)
fi
ecurl() { curl --cacert "$et/ca.crt" "$@"; }
elabel=$([ "$es" = https ] && echo "etcd-3.4" || echo "etcd-plain")
cluster="e1=$es://127.0.0.1:12380,e2=$es://127.0.0.1:22380,e3=$es://127.0.0.1:32380"
start_etcd() { # name client-port peer-port
  etcd --name "$1" --data-dir "$work/etcd-$1" --listen-client-urls "$es://127.0.0.1:$2" --advertise-client-urls "$es://127.0.0.1:$2" \
    --listen-peer-urls "$es://127.0.0.1:$3" --initial-advertise-peer-urls "$es://127.0.0.1:$3" "${etls[@]}" \
    --initial-cluster "$cluster" --initial-cluster-state "${4:-new}" --initial-cluster-token zc-bench --logger zap --log-level error >"$work/etcd-$1.log" 2>&1 &
  etcd_pid[$1]=$!; pids+=($!); disown $!
}
start_etcd e1 12379 12380; start_etcd e2 22379 22380; start_etcd e3 32379 32380
wait_etcd() { for _ in $(seq 100); do ecurl -sf -m 1 "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
for p in 12379 22379 32379; do wait_etcd "$es://127.0.0.1:$p/health"; done
etcd_leader_port() {
  local p s
  for p in 12379 22379 32379; do
    s=$(ecurl -sf -m 1 -X POST "$es://127.0.0.1:$p/v3/maintenance/status" -d '{}' 2>/dev/null) || continue
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["header"]["member_id"] == d["leader"] else 1)' "$s" && { echo "$p"; return 0; }
  done
  return 1
}

run_wrk() { # url script -> "writes/s p50ms p99ms avgms"
  wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$2" "$1" 2>&1 | tee -a "$work/wrk.log" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /^ +Latency +[0-9]/ { avg = $2 }
    /Non-2xx/ { bad = $NF }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %.2f %.2f %.2f %d\n", rps, ms(p50), ms(p99), ms(avg), bad + 0 }'
}

zl=$(zc_leader_port); el=$(etcd_leader_port)
echo "warm-up ..." >&2
wrk -t2 -c"$conns" -d3s -s "$root/bench/lua/put-zc.lua" "https://127.0.0.1:$zl" >/dev/null
wrk -t2 -c"$conns" -d3s -s "$root/bench/lua/put-etcd.lua" "$es://127.0.0.1:$el" >/dev/null
read -r e_rps e_p50 e_p99 e_avg e_bad < <(run_wrk "$es://127.0.0.1:$el" "$root/bench/lua/put-etcd.lua")
read -r z_rps z_p50 z_p99 z_avg z_bad < <(run_wrk "https://127.0.0.1:$zl" "$root/bench/lua/put-zc.lua")
echo
echo "writes, $conns connections, ${secs}s, 3 members each, 100-byte values (wrk, loopback, this machine); ours with silos $silo"
printf "%-10s %10s %9s %9s %9s %8s\n" system writes/s p50_ms p99_ms avg_ms non2xx
printf "%-10s %10s %9s %9s %9s %8s\n" "$elabel" "$e_rps" "$e_p50" "$e_p99" "$e_avg" "$e_bad"
printf "%-10s %10s %9s %9s %9s %8s\n" "$label" "$z_rps" "$z_p50" "$z_p99" "$z_avg" "$z_bad"
echo "ratio (ours / etcd, writes/s): $(ratio "$z_rps" "$e_rps")"

# ---- failover: kill -9 the leader, time to the next committed write through a survivor ----
failover_zc() {
  local lp victim t0 t1 p
  lp=$(zc_leader_port)
  victim=$(case $lp in 7170) echo a;; 7180) echo b;; 7190) echo c;; esac)
  t0=$(now_ms); kill -9 "${zc_pid[$victim]}" 2>/dev/null
  local deadline=$(( $(now_ms) + 30000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    for p in 7170 7180 7190; do
      [ "$p" = "$lp" ] && continue
      if curl --cacert "$work/zc-a/pki/root.crt" -sf -m 1 -X PUT "https://127.0.0.1:$p/v1/kv/failover" -H "Authorization: Bearer $ZC_TOKEN" -H 'Content-Type: application/json' -d '{"value":"x"}' >/dev/null 2>&1; then
        t1=$(now_ms); echo $((t1 - t0)) >>"$work/failover-zc"
        start_zc "$victim" "$lp"; wait_http "https://127.0.0.1:$lp/v1/status"; sleep 1.5; return 0
      fi
    done
  done
  echo "no write committed within 30 s after killing $victim; logs in $work" >&2; trap - EXIT; exit 1
}
failover_etcd() {
  local lp victim t0 t1 p
  lp=$(etcd_leader_port)
  victim=$(case $lp in 12379) echo e1;; 22379) echo e2;; 32379) echo e3;; esac)
  t0=$(now_ms); kill -9 "${etcd_pid[$victim]}" 2>/dev/null
  local deadline=$(( $(now_ms) + 30000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    for p in 12379 22379 32379; do
      [ "$p" = "$lp" ] && continue
      if ecurl -sf -m 1 -X POST "$es://127.0.0.1:$p/v3/kv/put" -d '{"key":"Zg==","value":"eA=="}' 2>/dev/null | grep -q revision; then
        t1=$(now_ms); echo $((t1 - t0)) >>"$work/failover-etcd"
        start_etcd "$victim" "$lp" "$((lp + 1))" existing; wait_etcd "$es://127.0.0.1:$lp/health"; sleep 1.5; return 0
      fi
    done
  done
  echo "no etcd write committed within 30 s after killing $victim" >&2; exit 1
}
# (in this shell, not $(...): the restarted members' pids must be kept)
for i in $(seq "$rounds"); do failover_zc; failover_etcd; done
zf=($(cat "$work/failover-zc")); ef=($(cat "$work/failover-etcd"))
zm=$(printf '%s\n' "${zf[@]}" | median); em=$(printf '%s\n' "${ef[@]}" | median)
echo
echo "failover (kill -9 the leader -> next write committed), $rounds rounds, ms"
echo "$elabel:  ${ef[*]}  median $em"
echo "$label: ${zf[*]}  median $zm"
echo "ratio (etcd / ours, time): $(ratio "$em" "$zm")"
