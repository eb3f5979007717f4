#!/usr/bin/env bash
# The store against its peers, in a zc up cluster (4 trusted nodes, 4 storage instances, 3 copies; TLS on, as deployed):
#   read:   one 256 MiB object, curl from the seed's namespace, verification on, vs nginx-light serving the same file
#           from disk over TLS (sendfile) in the same namespace; best of RUNS after one warm-up each.
#   write:  a streamed PUT (curl -T) of the same 256 MiB (3 copies, each fsynced) vs three concurrent dd conv=fsync of it.
#   small:  PUTs of new 4 KiB objects with wrk for SMALL_SECONDS (30; about 10,000 objects here), objects/s and p99.
#   repair: SIZE_MB (1024) of objects, then one storage node holding copies is killed: kill→Down, Down→repair start,
#           start→done, MB/s.
# Then bench/swift.sh: OpenStack Swift with 4 devices and 3 replicas on the same machine, the same read, write and
# small-object runs, and the ratios to it (Swift on plain HTTP on loopback, ours on TLS across the lab's bridge).
#   sudo bench/storage.sh            (RUNS=3 SMALL_SECONDS=30 SIZE_MB=1024)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=${RUNS:-3}
size_mb=${SIZE_MB:-1024}
work=$(mktemp -d /var/tmp/zc-bench-storage.XXXX)
export ZC_LAB_ROOT="$work/lab"
zc() { "$root/zc" "$@"; }
trap 'set +e; zc down >/dev/null 2>&1 || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"; true' EXIT
cat > "$work/cluster.yaml" <<YAML
apiVersion: zerocloud.io/v1
kind: Cluster
metadata: { name: sbench }
spec:
  network: { interface: zc0, subnet: 10.84.0.0/24, gateway: 10.84.0.1, dhcp: { mode: full, range: 10.84.0.100-10.84.0.200 } }
  controlPlane: { replicas: 3 }
  nodes:
    enroll: approve
    heartbeat: 500ms
    downAfter: 3s
    known:
      - { mac: "52:54:00:84:00:01", name: sb-1 }
      - { mac: "52:54:00:84:00:02", name: sb-2 }
      - { mac: "52:54:00:84:00:03", name: sb-3 }
  storage: { replicas: 3, repairAfter: 5s }
  services:
    - { name: dhcp, image: builtin/dhcp, replicas: 1 }
    - { name: netboot, image: builtin/netboot, replicas: 1 }
    - { name: storage, image: builtin/storage, replicas: 4 }
YAML
zc up -f "$work/cluster.yaml" --nodes 3 --timeout 300 >"$work/up.log" || { cat "$work/up.log"; exit 1; }
seed=zc-sbench-seed
creds="$work/lab/sbench/credentials.json"
python3 -c "import json,sys; d=json.load(open('$creds')); open('$work/ca.crt','w').write(d['ca']); open('$work/token','w').write(d['credential'])"
token=$(cat "$work/token")
address=$(zc storage status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print([n['address'] for n in d['nodes'] if n['node']=='seed'][0])")

head -c $((256 << 20)) /dev/urandom > "$work/big.bin"
# The upload streamed with curl -T from the seed's namespace (as zc storage put does, without its start-up).
put() { ip netns exec "$seed" curl -sS -f -o /dev/null --cacert "$work/ca.crt" -H "Authorization: Bearer $token" -T "$work/big.bin" "https://$address:8890/v1/objects/$1"; }
put bench/warm
t0=$(date +%s.%N); put bench/big; t1=$(date +%s.%N)
ours_write=$(echo "256 / ($t1 - $t0)" | bc -l)
sync; t0=$(date +%s.%N)
for i in 1 2 3; do dd if="$work/big.bin" of="$work/dd.$i" bs=4M conv=fsync status=none & done; wait
t1=$(date +%s.%N); dd_write=$(echo "256 / ($t1 - $t0)" | bc -l); rm -f "$work"/dd.*

# nginx over TLS with a certificate of the cluster's kind (P-256), serving the same bytes from disk.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$address" -addext "subjectAltName=IP:$address" -keyout "$work/ng.key" -out "$work/ng.crt" 2>/dev/null
mkdir -p "$work/www"; cp "$work/big.bin" "$work/www/big.bin"
cat > "$work/nginx.conf" <<CONF
user root; worker_processes auto; pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path $work/nginx-body;
  server { listen $address:8443 ssl; ssl_protocols TLSv1.3; ssl_certificate $work/ng.crt; ssl_certificate_key $work/ng.key; root $work/www; } }
CONF
ip netns exec "$seed" nginx -c "$work/nginx.conf"
sleep 1
speed() { ip netns exec "$seed" curl -s -o /dev/null -w '%{speed_download}' "$@"; }
best() { local b=0 s; speed "$@" >/dev/null; for _ in $(seq 1 "$runs"); do s=$(speed "$@"); (( $(echo "$s > $b" | bc) )) && b=$s; done; echo "$b / 1048576" | bc -l; }
ours_read=$(best --cacert "$work/ca.crt" -H "Authorization: Bearer $token" "https://$address:8890/v1/objects/bench/big")
nginx_read=$(best --cacert "$work/ng.crt" "https://$address:8443/big.bin")

# Small objects: wrk, 8 connections for SMALL_SECONDS (30), each request a PUT of a new 4 KiB object.
head -c 4096 /dev/urandom > "$work/small.bin"
cat > "$work/put.lua" <<LUA
local counter = 0
local body = io.open("$work/small.bin", "rb"):read("*all")
function setup(thread) thread:set("id", tostring(math.random(1, 1e9))) end
request = function()
  counter = counter + 1
  -- Each object's bytes differ (identical ones would all be one blob, and every PUT a compare-and-swap on its records).
  local tag = id .. "-" .. counter
  return wrk.format("PUT", "/v1/objects/small/" .. tag, { ["Authorization"] = "Bearer $token", ["Content-Type"] = "application/octet-stream" }, tag .. string.sub(body, #tag + 1))
end
LUA
small=$(ip netns exec "$seed" wrk -t2 -c8 -d"${SMALL_SECONDS:-30}s" --latency -s "$work/put.lua" "https://$address:8890" 2>&1)
requests=$(echo "$small" | awk '/requests in/ {print $1}')
p99=$(echo "$small" | awk '$1=="99%" {print $2}')
non2xx=$(echo "$small" | awk '/Non-2xx/ {print $5}')
objects=$((requests - ${non2xx:-0}))
objects_s=$(echo "$objects / ${SMALL_SECONDS:-30}" | bc -l)

# Repair: SIZE_MB of 64 MiB objects, then kill a storage node (not the seed).
for i in $(seq 1 $((size_mb / 64))); do head -c $((64 << 20)) /dev/urandom > "$work/r.bin"; zc storage put "$work/r.bin" --name "bench/r$i" >/dev/null; done
victim=$(zc storage status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print([n['node'] for n in d['nodes'] if n['node']!='seed' and n['listedChunks']>0][0])")
ns="zc-sbench-s00${victim: -1}"
t_kill=$(date +%s.%N)
for p in $(ip netns pids "$ns"); do kill -9 "$p" 2>/dev/null || true; done
t_down=""; t_start=""; t_done=""
while [ -z "$t_done" ]; do
  st=$(zc storage status --json 2>/dev/null || echo '{}')
  now=$(date +%s.%N)
  down=$(zc get nodes 2>/dev/null | awk -v v="$victim" '$1==v {print $2}')
  [ -z "$t_down" ] && [ "$down" = "Down" ] && t_down=$now
  read -r under repairing < <(echo "$st" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d.get('underReplicated',-1), d.get('repairing',0))")
  [ -n "$t_down" ] && [ -z "$t_start" ] && { [ "$repairing" -gt 0 ] || [ "$under" -lt "${last_under:-999999}" ]; } && [ "${last_under:-0}" -gt 0 ] && t_start=$now
  [ -n "$t_down" ] && [ "$under" = "0" ] && [ -n "$t_start" ] && t_done=$now
  last_under=$under
  (( $(echo "$now - $t_kill > 600" | bc) )) && { echo "repair did not finish in 10 min"; break; }
  sleep 0.5
done
victim_mb=$(echo "$size_mb * 3 / 4" | bc -l)

printf '\nstore (3 copies, TLS on, verification on) — this machine, %s\n' "$(nproc) cores"
printf 'read  256 MiB:  %8.1f MiB/s   nginx (TLS, sendfile) %8.1f MiB/s   ratio %.2f\n' "$ours_read" "$nginx_read" "$(echo "$ours_read / $nginx_read" | bc -l)"
printf 'write 256 MiB:  %8.1f MiB/s   3 x dd conv=fsync     %8.1f MiB/s   ratio %.2f\n' "$ours_write" "$dd_write" "$(echo "$ours_write / $dd_write" | bc -l)"
printf 'small 4 KiB:    %8.1f objects/s stored, p99 %s (%s stored in %s s, 8 connections; %s more refused with 503 Retry-After)\n' "$objects_s" "$p99" "$objects" "${SMALL_SECONDS:-30}" "${non2xx:-0}"
if [ -n "$t_done" ]; then
  printf 'repair %s MiB, %s killed: kill->Down %.1f s, Down->start %.1f s, start->done %.1f s (about %.0f MiB/s)\n' "$size_mb" "$victim" \
    "$(echo "$t_down - $t_kill" | bc -l)" "$(echo "$t_start - $t_down" | bc -l)" "$(echo "$t_done - $t_start" | bc -l)" "$(echo "$victim_mb / ($t_done - $t_start)" | bc -l)"
fi

swift_out=$("$root/bench/swift.sh")
echo "$swift_out"
swift_read=$(echo "$swift_out" | awk '/swift read/ {print $5}')
swift_write=$(echo "$swift_out" | awk '/swift write/ {print $5}')
swift_small=$(echo "$swift_out" | awk '/swift small/ {print $5}')
printf 'vs swift:       read %.2fx, write %.2fx, small objects %.2fx\n' "$(echo "$ours_read / $swift_read" | bc -l)" "$(echo "$ours_write / $swift_write" | bc -l)" "$(echo "$objects_s / $swift_small" | bc -l)"
