#!/usr/bin/env bash
# TFTP: a 32 MiB file from tftpd-hpa and from zc-netboot (NativeAOT) in the same namespace lab and run.
# curl with blksize 1468 against both (lock-step), atftp with windowsize 16 against ours (tftpd-hpa has no
# windowsize); median wall time of RUNS runs each, every copy checked byte-identical, and the ratios.
#   RUNS=5 bench/tftp-vs-tftpd-hpa.sh        (root; scripts/setup's packages)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=${RUNS:-5}
source "$root/bench/lab.sh"

"$root/scripts/setup"
lab_up "zt$$" 24 10.77.0.2 10.77.0.9
ip -n "$srv" addr add 10.77.0.3/24 dev eth0       # tftpd-hpa answers on .3, ours on .2
publish_aot netboot/ZeroCloud.Netboot.Service zc

mkdir -p "$work/root"
head -c $((32 << 20)) /dev/urandom > "$work/root/big.bin"
want=$(sha256sum < "$work/root/big.bin")
cat > "$work/cluster.yaml" <<YAML
apiVersion: zerocloud.io/v1
kind: Cluster
metadata: { name: bench }
spec:
  network: { interface: eth0, subnet: 10.77.0.0/24 }
YAML

ip netns exec "$srv" in.tftpd -L -s -a 10.77.0.3:69 "$work/root" >/dev/null 2>&1 &
ip netns exec "$srv" "$work/zc/zc-netboot" -f "$work/cluster.yaml" --interface eth0 --root "$work/root" >"$work/zc.log" 2>&1 &
for _ in $(seq 1 100); do grep -q "http: serving" "$work/zc.log" 2>/dev/null && break; sleep 0.1; done

# time_get <label> <command...>: prints seconds; fails when the copy differs
time_get() {
  local out="$work/out.bin" start end
  rm -f "$out"
  start=$(date +%s.%N)
  ip netns exec "$cl" "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  [ "$(sha256sum < "$out")" = "$want" ] || { echo "copy differs" >&2; exit 1; }
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

hpa=() zc=() zcw=()
for _ in $(seq 1 "$runs"); do
  hpa+=("$(time_get curl -s --tftp-blksize 1468 -o "$work/out.bin" tftp://10.77.0.3/big.bin)")
  zc+=("$(time_get curl -s --tftp-blksize 1468 -o "$work/out.bin" tftp://10.77.0.2/big.bin)")
  zcw+=("$(time_get atftp --option "windowsize 16" --option "blksize 1468" -g -r big.bin -l "$work/out.bin" 10.77.0.2)")
done
m_hpa=$(printf "%s\n" "${hpa[@]}" | median)
m_zc=$(printf "%s\n" "${zc[@]}" | median)
m_zcw=$(printf "%s\n" "${zcw[@]}" | median)
echo "32 MiB, median of $runs runs (seconds; all copies byte-identical):"
echo "  tftpd-hpa, curl blksize 1468 (lock-step):       $m_hpa   [${hpa[*]}]"
echo "  zc-netboot, curl blksize 1468 (lock-step):      $m_zc   [${zc[*]}]"
echo "  zc-netboot, atftp blksize 1468 windowsize 16:   $m_zcw   [${zcw[*]}]"
echo "speed ratio vs tftpd-hpa: lock-step $(ratio "$m_hpa" "$m_zc")x, windowsize 16 $(ratio "$m_hpa" "$m_zcw")x"
