#!/usr/bin/env bash
# Self-healing time: a seed node (control member + agent) and N more agents (zc-node, process runtime), each in its
# own network namespace on a bridge; controlPlane.replicas 3 (voters placed as control instances), hello x3 with
# spread: node, downAfter 5s. Each hello round kills a node (not the seed) that runs a hello instance (its agent and
# everything it ran, SIGKILL) and times until three hello instances are Running and healthy again, none on the dead
# node; then the node comes back (its agent restarts and rejoins). Then voter rounds: kill a node that runs a voter,
# time until the Raft membership is three available members again without it. Prints each round and the medians.
# There is no peer to run here: Kubernetes' defaults (node-monitor-grace-period 40 s + 300 s default toleration)
# move pods after more than five minutes.
# Usage: bench/heal.sh [rounds] [nodes]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=${1:-5} n=${2:-5}
id="zh$$"
work=$(mktemp -d /tmp/zc-heal-bench.XXXXXX)
cleanup() {
  for ns in cp $(seq -f "n%g" 1 "$n") sw; do
    for p in $(ip netns pids "$id-$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  done
  sleep 0.3
  for ns in cp $(seq -f "n%g" 1 "$n") sw; do ip netns del "$id-$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "building zc, zc-node, zc-hello (Release) ..." >&2
dotnet build "$root/cli/ZeroCloud.Cli/ZeroCloud.Cli.csproj" -c Release -o "$work/zc" -nologo -v q >&2
dotnet build "$root/node/ZeroCloud.Node/ZeroCloud.Node.csproj" -c Release -o "$work/node" -nologo -v q >&2
dotnet build "$root/node/ZeroCloud.Hello/ZeroCloud.Hello.csproj" -c Release -o "$work/hello" -nologo -v q >&2

ip netns add "$id-sw"; ip -n "$id-sw" link add br0 type bridge; ip -n "$id-sw" link set br0 up
i=0
for host in cp $(seq -f "n%g" 1 "$n"); do
  ip netns add "$id-$host"
  ip link add "${id}${i}a" type veth peer name "${id}${i}b"
  ip link set "${id}${i}a" netns "$id-$host"; ip link set "${id}${i}b" netns "$id-sw"
  ip -n "$id-sw" link set "${id}${i}b" master br0 up
  ip -n "$id-$host" link set "${id}${i}a" name eth0; ip -n "$id-$host" link set eth0 up; ip -n "$id-$host" link set lo up
  ip -n "$id-$host" addr add "10.79.0.$((i + 2))/24" dev eth0
  i=$((i + 1))
done
api=https://10.79.0.2:7070
incp() { ip netns exec "$id-cp" "$@"; }
ip netns exec "$id-cp" dotnet "$work/zc/zc.dll" serve control --data "$work/control" --listen 10.79.0.2:7070 --name n0 --bootstrap >"$work/control.log" 2>&1 & disown
for _ in $(seq 300); do incp curl --cacert "$work/control/pki/root.crt" -sf "$api/v1/status" 2>/dev/null | grep -q '"status":"active"' && break; sleep 0.2; done
# Every route but status needs a credential: the admin one the bootstrapped member made.
for _ in $(seq 100); do [ -s "$work/control/admin-credential" ] && break; sleep 0.1; done
admin=$(cat "$work/control/admin-credential")
api_curl() { ip netns exec "$id-cp" curl --cacert "$work/control/pki/root.crt" -H "Authorization: Bearer $admin" "$@"; }
cat >"$work/heal.yaml" <<YAML
apiVersion: zerocloud.io/v1
kind: Cluster
metadata: { name: heal }
spec:
  network: { subnet: 10.79.0.0/24, gateway: 10.79.0.1 }
  controlPlane: { replicas: 3 }
  nodes: { heartbeat: 1s, downAfter: 5s }
  services:
    - name: hello
      image: builtin/hello
      replicas: 3
      spread: node
      ports: [8080]
      health: { http: /healthz, port: 8080, interval: 1s, timeout: 500ms }
YAML
api_curl -sf -X POST --data-binary @"$work/heal.yaml" "$api/v1/apply?file=heal.yaml" >/dev/null || { echo "apply failed:"; api_curl -s -X POST --data-binary @"$work/heal.yaml" "$api/v1/apply?file=heal.yaml"; exit 1; }
token=$(api_curl -sf "$api/v1/tokens" | python3 -c 'import json,sys; t=json.load(sys.stdin)["tokens"][0]; print(t["id"] + "." + t["secret"])')
start_agent() { # node [namespace]
  ip netns exec "$id-${2:-$1}" dotnet "$work/node/zc-node.dll" --control "$api" --ca-file "$work/control/pki/root.crt" --token "$token" --name "$1" --data "$work/$1" \
    --image "builtin/hello=$work/hello/zc-hello.dll" --image "builtin/control=$work/zc/zc.dll" >>"$work/$1.log" 2>&1 & disown
}
start_agent n0 cp
for h in $(seq -f "n%g" 1 "$n"); do start_agent "$h"; done

# healthy <dead-node>: exit 0 when three hello instances are Running and healthy, none on <dead-node>
healthy() {
  api_curl -sf "$api/v1/instances?stale=true" | python3 -c '
import json, sys
v = [i for i in json.load(sys.stdin)["instances"] if i["instance"]["service"] == "hello"]
ok = len(v) == 3 and all(i["instance"]["node"] != sys.argv[1] and (i.get("state") or {}).get("state") == "Running" and (i.get("state") or {}).get("healthy") for i in v)
sys.exit(0 if ok else 1)' "$1"
}
for _ in $(seq 600); do healthy none && break; sleep 0.1; done
healthy none || { echo "hello never became healthy; logs in $work" >&2; trap - EXIT; exit 1; }

now_ms() { date +%s%3N; }
times=()
for r in $(seq "$rounds"); do
  victim=$(api_curl -sf "$api/v1/instances" | python3 -c 'import json,sys; print(sorted(i["instance"]["node"] for i in json.load(sys.stdin)["instances"] if i["instance"]["service"] == "hello" and i["instance"]["node"] != "n0")[0])')
  t0=$(now_ms)
  for p in $(ip netns pids "$id-$victim"); do kill -9 "$p" 2>/dev/null || true; done
  healed=""
  for _ in $(seq 600); do
    if healthy "$victim"; then healed=$(( $(now_ms) - t0 )); break; fi
    sleep 0.1
  done
  [ -n "$healed" ] || { echo "round $r: not healed within 60 s; logs in $work" >&2; trap - EXIT; exit 1; }
  echo "round $r: killed $victim; hello x3 Running and healthy elsewhere after ${healed} ms"
  times+=("$healed")
  start_agent "$victim"   # the machine comes back and rejoins
  sleep 3
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
hello_median=$(printf '%s\n' "${times[@]}" | median)

# voters <dead-node>: exit 0 when three members are available, none of them <dead-node>
voters() {
  api_curl -sf "$api/v1/members" | python3 -c '
import json, sys
m = json.load(sys.stdin)["members"]
sys.exit(0 if len(m) == 3 and all(x["status"] == "available" and x.get("name") != sys.argv[1] for x in m) else 1)' "$1"
}
for _ in $(seq 600); do voters none && break; sleep 0.1; done
vtimes=()
for r in $(seq "$rounds"); do
  victim=$(api_curl -sf "$api/v1/members" | python3 -c 'import json,sys; print(sorted(x["name"] for x in json.load(sys.stdin)["members"] if x.get("name") not in (None, "n0"))[0])')
  t0=$(now_ms)
  for p in $(ip netns pids "$id-$victim"); do kill -9 "$p" 2>/dev/null || true; done
  replaced=""
  for _ in $(seq 900); do
    if voters "$victim"; then replaced=$(( $(now_ms) - t0 )); break; fi
    sleep 0.1
  done
  [ -n "$replaced" ] || { echo "voter round $r: not replaced within 90 s; logs in $work" >&2; trap - EXIT; exit 1; }
  echo "voter round $r: killed $victim (a voter); three available members again after ${replaced} ms"
  vtimes+=("$replaced")
  start_agent "$victim"
  sleep 3
done
voter_median=$(printf '%s\n' "${vtimes[@]}" | median)
echo "heal (kill a node -> its instances Running and healthy elsewhere), downAfter 5s, $n nodes + seed, $rounds rounds: median ${hello_median} ms (goal < 8000 ms)"
echo "voter replaced (kill a voter's node -> 3 available members without it): median ${voter_median} ms"
echo "Kubernetes with its defaults moves pods after > 300000 ms (not run here)"
