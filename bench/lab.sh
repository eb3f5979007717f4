# Shared by the bench scripts: a two-host namespace lab (server and client on a bridge), torn down on exit.
# Usage: source bench/lab.sh; lab_up <prefix> <subnet-bits> <server-ip> <client-ip>; ... ; (cleanup is automatic)
# Sets $srv and $cl (namespace names) and $work (a scratch folder).

lab_up() {
  local id=$1 bits=$2 server_ip=$3 client_ip=$4 i=0 ns
  sw="$id-sw" srv="$id-srv" cl="$id-cl"
  work=$(mktemp -d "/tmp/zc-bench.XXXXXX")
  trap lab_down EXIT
  ip netns add "$sw"; ip -n "$sw" link add br0 type bridge; ip -n "$sw" link set br0 up
  for ns in "$srv" "$cl"; do
    ip netns add "$ns"
    ip link add "${id}${i}a" type veth peer name "${id}${i}b"
    ip link set "${id}${i}a" netns "$ns"; ip link set "${id}${i}b" netns "$sw"
    ip -n "$sw" link set "${id}${i}b" master br0 up
    ip -n "$ns" link set "${id}${i}a" name eth0; ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up
    i=$((i + 1))
  done
  ip -n "$srv" addr add "$server_ip/$bits" dev eth0
  ip -n "$cl" addr add "$client_ip/$bits" dev eth0
}

lab_down() {
  local pid
  for ns in "$cl" "$srv" "$sw"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  sleep 0.5
  for ns in "$cl" "$srv" "$sw"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}

# Builds a service binary with NativeAOT into $work/<name>: publish_aot <project folder> <name>
publish_aot() {
  echo "building $2 (NativeAOT) ..." >&2
  dotnet publish "$root/$1" -c Release -o "$work/$2" -nologo -v q >&2
}

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ratio a/b with two decimals, or "-"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
