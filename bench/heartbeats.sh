#!/usr/bin/env bash
# Node heartbeats against a three-member control plane (Raft + an Orleans silo per member), on loopback: N simulated
# nodes beating once a second for a steady window after a warm-up, open loop (bench/HeartbeatLoad: latency from when
# a beat was due). Reports heartbeats/s served, p50/p99, the members' CPU (cores) and RSS, and Raft writes/s in the
# steady window. The peer, measured in the same run with the same generator: a three-member etcd taking each beat as
# a write (a Kubernetes kubelet renews its node Lease with a write; here once a second instead of every 10 s).
# Both on TLS as deployed: our nodes join with a CSR and beat over their own mutual-TLS connection with their node
# certificate (what the agent does; ZC_BENCH_AUTH=key: shared connections and the bearer node key); etcd with TLS for
# clients and peers and client certificates required (its recommended setup), the generator writing over shared
# connections with one client certificate, as an API server does for its kubelets. ZC_BENCH_ETCD_TLS=off: plain etcd.
# ZC_BENCH_PEER=off: ours only (to find the knee rate by rate; the output says there is no peer and no ratio).
# Usage: bench/heartbeats.sh [nodes] [seconds] [warmup]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nodes=${1:-10000} secs=${2:-60} warm=${3:-20}
command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server >/dev/null; }
work=$(mktemp -d /tmp/zc-hb-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; sleep 0.3; if [ -n "${ZC_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT

echo "building zc and the load generator (Release) ..." >&2
dotnet build "$root/cli/ZeroCloud.Cli/ZeroCloud.Cli.csproj" -c Release -o "$work/zc" -nologo -v q >&2
dotnet build "$root/bench/HeartbeatLoad/HeartbeatLoad.csproj" -c Release -o "$work/load" -nologo -v q >&2
wait_http() { for _ in $(seq 200); do command curl --cacert "$work/zc-a/pki/root.crt" -sf -m 1 "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
tck=$(getconf CLK_TCK)
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
rss_mib() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done; echo $((t / 1024)); }

# ---- ours ----
zc_pids=()
start_zc() { # name api-port extra-args...
  local n=$1 port=$2; shift 2
  dotnet "$work/zc/zc.dll" serve control --data "$work/zc-$n" --listen "127.0.0.1:$port" --name "$n" "$@" >"$work/zc-$n.log" 2>&1 &
  zc_pids+=($!); pids+=($!); disown $!
}
start_zc a 7270 --bootstrap; wait_http https://127.0.0.1:7270/v1/status
# Every route but status needs a credential: the members and this script use the admin one the first member made.
for _ in $(seq 100); do [ -s "$work/zc-a/admin-credential" ] && break; sleep 0.1; done
export ZC_TOKEN; ZC_TOKEN=$(cat "$work/zc-a/admin-credential")
curl() { command curl --cacert "$work/zc-a/pki/root.crt" -H "Authorization: Bearer $ZC_TOKEN" "$@"; }
start_zc b 7280 --peers https://127.0.0.1:7270 --ca-file "$work/zc-a/pki/root.crt"
start_zc c 7290 --peers https://127.0.0.1:7270 --ca-file "$work/zc-a/pki/root.crt"
for _ in $(seq 300); do
  [ "$(curl -sf https://127.0.0.1:7270/v1/status | grep -o '"status":"active"' | wc -l)" = 3 ] && break; sleep 0.2
done
[ "$(curl -sf https://127.0.0.1:7270/v1/status | grep -o '"status":"active"' | wc -l)" = 3 ] || { echo "the three silos did not form a cluster; logs in $work" >&2; trap - EXIT; exit 1; }
curl -sf -X POST --data-binary @"$root/cluster.yaml" "https://127.0.0.1:7270/v1/apply?file=cluster.yaml" >/dev/null
token=$(curl -sf https://127.0.0.1:7270/v1/tokens | python3 -c 'import json,sys; t=json.load(sys.stdin)["tokens"][0]; print(t["id"] + "." + t["secret"])')
revision() { curl -sf "https://127.0.0.1:$1/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }

ready_line() { ready=$(curl -sf "https://127.0.0.1:7270/v1/nodes?stale=true" | python3 -c 'import json,sys; d=json.load(sys.stdin)["nodes"]; r=sum(1 for n in d if n["status"]=="Ready"); t=sum(n["transitions"] for n in d); f=sum(1 for n in d if n["transitions"]>1); print("%d of %d nodes Ready, %d transitions in all, %d nodes flapped (more than their join)" % (r, len(d), t, f))'); }
# measure <label> <revision-fn> <pids...>: runs the generator (already started as $gen) and samples the steady window
measure() {
  local label=$1 revfn=$2; shift 2
  sleep "$warm"
  local r0 c0 r1 c1
  r0=$($revfn); c0=$(cpu_ticks "$@")
  sleep "$secs"
  r1=$($revfn); c1=$(cpu_ticks "$@")
  rss=$(rss_mib "$@")
  if [ "$label" = zerocloud ]; then ready_line; fi   # while the nodes still beat
  wait "$gen" || true
  writes=$(python3 -c "print(f'{($r1 - $r0) / $secs:.2f}')")
  cores=$(python3 -c "print(f'{($c1 - $c0) / $tck / $secs:.2f}')")
  line="$label writes_per_s=$writes server_cores=$cores server_rss_mib=$rss $(tail -1 "$work/$label.out")"
}

echo "ours: $nodes nodes, ${warm}s warm-up, ${secs}s measured ..." >&2
dotnet "$work/load/heartbeat-load.dll" --urls https://127.0.0.1:7270,https://127.0.0.1:7280,https://127.0.0.1:7290 \
  --nodes "$nodes" --warmup "$warm" --seconds "$secs" --mode zc --auth "${ZC_BENCH_AUTH:-cert}" --token "$token" --ca-file "$work/zc-a/pki/root.crt" >"$work/zerocloud.out" 2>&1 &
gen=$!
measure zerocloud "revision 7270" "${zc_pids[@]}"; zc_line=$line
for p in "${zc_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done

if [ "${ZC_BENCH_PEER:-on}" = off ]; then
  # Ours only (finding a knee rate by rate): labelled as such, no ratio.
  echo
  echo "heartbeats: $nodes nodes x 1/s, ${secs}s steady window after ${warm}s, 3 members, loopback, this machine (generator on the same 2 cores); ZC_BENCH_PEER=off: no etcd run, no ratio"
  echo "$zc_line"
  echo "  at the end of the window: $ready"
  exit 0
fi

# ---- etcd ----
etcd_pids=()
et="$work/etcd-tls"; mkdir -p "$et"; es=http; etls=(); gtls=(); ecurl=(command curl)
if [ "${ZC_BENCH_ETCD_TLS:-on}" = on ]; then
  source "$root/bench/etcd-tls.sh"; etcd_tls_certs "$et"
  es=https
  etls=(--cert-file "$et/node.crt" --key-file "$et/node.key" --client-cert-auth --trusted-ca-file "$et/ca.crt"
        --peer-cert-file "$et/node.crt" --peer-key-file "$et/node.key" --peer-trusted-ca-file "$et/ca.crt" --peer-client-cert-auth)
  gtls=(--ca-file "$et/ca.crt" --client-cert "$et/node.crt" --client-key "$et/node.key")
  ecurl=(command curl --cacert "$et/ca.crt" --cert "$et/node.crt" --key "$et/node.key")
fi
cluster="e1=$es://127.0.0.1:12380,e2=$es://127.0.0.1:22380,e3=$es://127.0.0.1:32380"
start_etcd() { # name client-port peer-port
  etcd --name "$1" --data-dir "$work/etcd-$1" --listen-client-urls "$es://127.0.0.1:$2" --advertise-client-urls "$es://127.0.0.1:$2" \
    --listen-peer-urls "$es://127.0.0.1:$3" --initial-advertise-peer-urls "$es://127.0.0.1:$3" "${etls[@]}" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token zc-hb --logger zap --log-level error >"$work/etcd-$1.log" 2>&1 &
  etcd_pids+=($!); pids+=($!); disown $!
}
start_etcd e1 12379 12380; start_etcd e2 22379 22380; start_etcd e3 32379 32380
for p in 12379 22379 32379; do
  for _ in $(seq 200); do "${ecurl[@]}" -sf -m 1 "$es://127.0.0.1:$p/health" >/dev/null 2>&1 && break; sleep 0.1; done
done
etcd_revision() { "${ecurl[@]}" -sf -X POST "$es://127.0.0.1:12379/v3/kv/range" -d '{"key":"AA=="}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }
echo "etcd ($es): $nodes nodes, ${warm}s warm-up, ${secs}s measured ..." >&2
dotnet "$work/load/heartbeat-load.dll" --urls "$es://127.0.0.1:12379,$es://127.0.0.1:22379,$es://127.0.0.1:32379" \
  --nodes "$nodes" --warmup "$warm" --seconds "$secs" --mode etcd "${gtls[@]}" >"$work/etcd.out" 2>&1 &
gen=$!
measure etcd "etcd_revision" "${etcd_pids[@]}"; etcd_line=$line

echo
echo "heartbeats: $nodes nodes x 1/s, ${secs}s steady window after ${warm}s, 3 members each, loopback, this machine (generator on the same 2 cores)"
echo "$zc_line"
echo "  at the end of the window: $ready"
echo "$etcd_line"
get() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }
python3 - "$(get "$zc_line" served_per_s)" "$(get "$etcd_line" served_per_s)" "$(get "$zc_line" p99_ms)" "$(get "$etcd_line" p99_ms)" \
  "$(get "$zc_line" writes_per_s)" "$(get "$etcd_line" writes_per_s)" "$(get "$zc_line" server_cores)" "$(get "$etcd_line" server_cores)" <<'PY'
import sys
zs, es, zp, ep, zw, ew, zc, ec = map(float, sys.argv[1:])
print(f"ratio served/s (ours/etcd): {zs / es:.2f}x; p99 (etcd/ours): {ep / zp:.2f}x; Raft writes/s: ours {zw:.2f} vs etcd {ew:.0f}; CPU cores: ours {zc:.2f} vs etcd {ec:.2f}")
PY
