#!/usr/bin/env bash
# HTTP: the same 32 MiB file from nginx-light and from zc-netboot (NativeAOT, Kestrel) in the same namespace lab,
# wrk with 16 connections for DURATION seconds against each; throughput (MiB/s of body) and the ratio.
#   DURATION=10 bench/http-vs-nginx.sh        (root; scripts/setup's packages)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration=${DURATION:-10}
source "$root/bench/lab.sh"

"$root/scripts/setup"
lab_up "zh$$" 24 10.77.0.2 10.77.0.9
publish_aot netboot/ZeroCloud.Netboot.Service zc

mkdir -p "$work/root"
head -c $((32 << 20)) /dev/urandom > "$work/root/big.bin"
cat > "$work/cluster.yaml" <<YAML
apiVersion: zerocloud.io/v1
kind: Cluster
metadata: { name: bench }
spec:
  network: { interface: eth0, subnet: 10.77.0.0/24 }
YAML
cat > "$work/nginx.conf" <<CONF
user root;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/nginx-body;
  server { listen 10.77.0.2:8081; root $work/root; }
}
CONF

ip netns exec "$srv" nginx -c "$work/nginx.conf" -g "daemon off;" &
ip netns exec "$srv" "$work/zc/zc-netboot" -f "$work/cluster.yaml" --interface eth0 --root "$work/root" --tftp-port 6969 >"$work/zc.log" 2>&1 &
for _ in $(seq 1 100); do
  ip netns exec "$cl" curl -sf -o /dev/null -r 0-0 http://10.77.0.2:8081/big.bin &&
    ip netns exec "$cl" curl -sf -o /dev/null -r 0-0 http://10.77.0.2:8080/big.bin && break
  sleep 0.1
done

# Both serve the same bytes.
want=$(sha256sum < "$work/root/big.bin")
for url in http://10.77.0.2:8081/big.bin http://10.77.0.2:8080/big.bin; do
  [ "$(ip netns exec "$cl" curl -s "$url" | sha256sum)" = "$want" ] || { echo "$url serves other bytes" >&2; exit 1; }
done

# wrk prints "Transfer/sec: 1.23GB"; turn it into MiB/s.
mib_per_s() {
  ip netns exec "$cl" wrk -t 2 -c 16 -d "${duration}s" "$1" 2>&1 | tee -a "$work/wrk.log" |
    awk '/Transfer\/sec/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+/, "", v);
      m = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576; printf "%.0f\n", v * m }'
}
nginx=$(mib_per_s http://10.77.0.2:8081/big.bin)
zc=$(mib_per_s http://10.77.0.2:8080/big.bin)
echo "32 MiB file, wrk -t2 -c16 -d${duration}s (body MiB/s):"
echo "  nginx-light:  $nginx"
echo "  zc-netboot:   $zc"
echo "ratio zc-netboot/nginx: $(ratio "$zc" "$nginx")"
