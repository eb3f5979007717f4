#!/usr/bin/env bash
# OpenStack Swift (Debian 12's 2.30) as the store's peer, set up the "Swift All In One" way on this machine: four
# object/container/account server sets (one device each, mount_check off), rings with 3 replicas, the proxy with
# tempauth and memcached, every server on loopback. Measures what bench/storage.sh measures of ours:
#   read:  one 256 MiB object, curl, best of RUNS after one warm-up;   write: a streamed PUT (curl -T) of it;
#   small: PUTs of new 4 KiB objects with wrk for SMALL_SECONDS (30), 8 connections.
# Swift's proxy speaks plain HTTP here (its own TLS is not recommended; deployments put a terminator in front), so
# its figures carry no TLS cost; ours carry it. Repair is not measured: Swift re-replicates a failed device's
# data when an operator takes the device out of the ring, not on its own.
#   sudo bench/swift.sh
set -euo pipefail
runs=${RUNS:-3}
work=$(mktemp -d /var/tmp/zc-bench-swift.XXXX)
pids=()
trap 'set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${ZC_BENCH_KEEP:-}" ] || rm -rf "$work"; true' EXIT
command -v swift-proxy-server >/dev/null || { apt-get install -y -qq --no-install-recommends swift-proxy swift-object swift-container swift-account memcached >/dev/null; }
etc="$work/etc"; mkdir -p "$etc" "$work/cache"
cat > "$etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = zc-bench
swift_hash_path_prefix = zc-bench
[storage-policy:0]
name = Policy-0
default = yes
CONF
cd "$etc"
for ring in object container account; do swift-ring-builder $ring.builder create 10 3 1 >/dev/null; done
for i in 1 2 3 4; do
  mkdir -p "$work/srv/$i/sdb"
  swift-ring-builder object.builder add "r1z$i-127.0.0.1:62${i}0/sdb" 100 >/dev/null
  swift-ring-builder container.builder add "r1z$i-127.0.0.1:62${i}1/sdb" 100 >/dev/null
  swift-ring-builder account.builder add "r1z$i-127.0.0.1:62${i}2/sdb" 100 >/dev/null
done
for ring in object container account; do swift-ring-builder $ring.builder rebalance >/dev/null 2>&1 || true; done
for i in 1 2 3 4; do
  for kind in object container account; do
    port=$([ $kind = object ] && echo 0 || ([ $kind = container ] && echo 1 || echo 2))
    cat > "$etc/$kind-$i.conf" <<CONF
[DEFAULT]
devices = $work/srv/$i
mount_check = false
bind_ip = 127.0.0.1
bind_port = 62$i$port
workers = 1
user = root
swift_dir = $etc
log_level = WARNING
[pipeline:main]
pipeline = $kind-server
[app:$kind-server]
use = egg:swift#$kind
CONF
    [ $kind = object ] && printf '[object-replicator]\n[object-updater]\n[object-auditor]\n' >> "$etc/$kind-$i.conf"
    [ $kind = container ] && printf '[container-replicator]\n[container-updater]\n[container-auditor]\n[container-sync]\n' >> "$etc/$kind-$i.conf"
    [ $kind = account ] && printf '[account-replicator]\n[account-auditor]\n[account-reaper]\n' >> "$etc/$kind-$i.conf"
    SWIFT_CONF_FILE="$etc/swift.conf" swift-$kind-server "$etc/$kind-$i.conf" -v >"$work/$kind-$i.log" 2>&1 &
    pids+=($!)
  done
done
cat > "$etc/proxy.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = 8090
workers = 2
user = root
swift_dir = $etc
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11299
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
CONF
memcached -u root -l 127.0.0.1 -p 11299 -m 64 >"$work/memcached.log" 2>&1 & pids+=($!)
SWIFT_CONF_FILE="$etc/swift.conf" swift-proxy-server "$etc/proxy.conf" -v >"$work/proxy.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8090/healthcheck >/dev/null && break; sleep 0.3; done
auth=$(curl -sS -i -H "X-Auth-User: test:tester" -H "X-Auth-Key: testing" http://127.0.0.1:8090/auth/v1.0)
token=$(echo "$auth" | awk -F': ' 'tolower($1)=="x-auth-token" {print $2}' | tr -d '\r')
url=$(echo "$auth" | awk -F': ' 'tolower($1)=="x-storage-url" {print $2}' | tr -d '\r')
for _ in $(seq 1 60); do curl -sf -X PUT -H "X-Auth-Token: $token" "$url/bench" >/dev/null && break; sleep 0.5; done
head -c $((256 << 20)) /dev/urandom > "$work/big.bin"
# The proxy answers before every object server listens: the warm-up PUT is retried until they all do.
for _ in $(seq 1 60); do curl -sf -o /dev/null -H "X-Auth-Token: $token" -T "$work/big.bin" "$url/bench/warm" && break; sleep 0.5; done
t0=$(date +%s.%N); curl -sSf -o /dev/null -H "X-Auth-Token: $token" -T "$work/big.bin" "$url/bench/big"; t1=$(date +%s.%N)
write=$(echo "256 / ($t1 - $t0)" | bc -l)
speed() { curl -s -o /dev/null -w '%{speed_download}' -H "X-Auth-Token: $token" "$url/bench/big"; }
speed >/dev/null; read=0
for _ in $(seq 1 "$runs"); do s=$(speed); (( $(echo "$s > $read" | bc) )) && read=$s; done
read=$(echo "$read / 1048576" | bc -l)
head -c 4096 /dev/urandom > "$work/small.bin"
cat > "$work/put.lua" <<LUA
local counter = 0
local body = io.open("$work/small.bin", "rb"):read("*all")
function setup(thread) thread:set("id", tostring(math.random(1, 1e9))) end
request = function()
  counter = counter + 1
  local tag = id .. "-" .. counter
  return wrk.format("PUT", "${url#http://127.0.0.1:8090}/bench/small-" .. tag, { ["X-Auth-Token"] = "$token" }, tag .. string.sub(body, #tag + 1))
end
LUA
small=$(wrk -t2 -c8 -d"${SMALL_SECONDS:-30}s" --latency -s "$work/put.lua" http://127.0.0.1:8090 2>&1)
requests=$(echo "$small" | awk '/requests in/ {print $1}')
non2xx=$(echo "$small" | awk '/Non-2xx/ {print $5}')
p99=$(echo "$small" | awk '$1=="99%" {print $2}')
objects=$((requests - ${non2xx:-0}))
printf '\nswift 2.30 (4 devices, 3 replicas, plain HTTP on loopback)\n'
printf 'swift read  256 MiB: %8.1f MiB/s\nswift write 256 MiB: %8.1f MiB/s\nswift small 4 KiB:   %8.1f objects/s stored, p99 %s (%s in %s s; %s refused)\n' "$read" "$write" "$(echo "$objects / ${SMALL_SECONDS:-30}" | bc -l)" "$p99" "$objects" "${SMALL_SECONDS:-30}" "${non2xx:-0}"
