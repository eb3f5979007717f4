#!/usr/bin/env bash
# Service-image boot times under QEMU on this machine: QEMU start -> the image's PID 1 and -> the service answering its
# health check, for the stock path (the image's bzImage and gzip'd initrd) and each faster path (the kernel's vmlinux
# through PVH with the initrd uncompressed, as the vm driver boots them now; microvm with its defaults; ACPI off; a
# minimal kernel when one is built: zc image build hello --minimal-kernel), interleaved in the same run, with the median of each and the hangs.
# Usage: bench/vm-boot.sh [boots per path, 10] [paths, comma-separated]   (ZC_BENCH_IMAGE=<folder>: skip the image build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
boots=${1:-10} paths=${2:-stock,vmlinux,defaults,acpi-off,minimal}
command -v qemu-system-x86_64 >/dev/null || "$root/scripts/setup"
work=$(mktemp -d /tmp/zc-vm-boot.XXXXXX)
trap 'rm -rf "$work"' EXIT
image=${ZC_BENCH_IMAGE:-}
if [ -z "$image" ]; then
  echo "building the hello image ..." >&2
  "$root/zc" image build hello -o "$work/out" >&2
  image="$work/out/images/hello"
fi
# The minimal kernel's path: hello built on it, when it is built already (zc image build hello --minimal-kernel once,
# minutes; ZC_BENCH_MINIMAL=build builds it here if need be).
if [ -z "${ZC_MINIMAL_IMAGE:-}" ] && [[ ",$paths," == *,minimal,* ]]; then
  cached=$(ls -d "${ZC_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zerocloud/kernel}"/*/vmlinux 2>/dev/null | head -1 || true)
  if [ -n "$cached" ] || [ "${ZC_BENCH_MINIMAL:-}" = build ]; then
    echo "building the hello image on the minimal kernel ..." >&2
    "$root/zc" image build hello --minimal-kernel -o "$work/minimal" >&2
    export ZC_MINIMAL_IMAGE="$work/minimal/images/hello"
  fi
fi
dotnet build "$root/bench/VmBoot/VmBoot.csproj" -c Release -o "$work/bin" -nologo -v q >&2
"$work/bin/vm-boot" "$image" "$boots" "$paths"
