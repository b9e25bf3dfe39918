#!/usr/bin/env bash
# CPU benchmark of zlayer-wasm's tiers: bench/wasmcpu.c (SHA-256, n-body,
# quicksort; ~1 s natively) built with gcc -O2 and with clang
# --target=wasm32-wasi -O2, then run natively, with `zlayer-wasm run --tier
# cached` (cc -O2 of wasm2c's output, built beforehand) and `--tier tcc`
# (wasm2c's output cached, compiled by libtcc at each start). Prints the
# median of RUNS runs (default 5) of each and the ratios to native.
#   bench/wasmcpu.sh [RUNS] [SCALE]     (needs 'make build', clang, wasi-libc)
set -euo pipefail
cd "$(dirname "$0")/.."
wasm=${ZLAYER_WASM:-build/zlayer-wasm}
runs=${1:-5}
scale=${2:-1}
[ -x "$wasm" ] || { echo "bench: build first (make build)" >&2; exit 1; }
work=$(mktemp -d /tmp/wasmcpu.XXXXXX)
trap 'rm -rf "$work"' EXIT

gcc -O2 bench/wasmcpu.c -o "$work/native" -lm
clang --target=wasm32-wasi -O2 bench/wasmcpu.c -o "$work/wasmcpu.wasm"
"$wasm" precompile --cache-dir "$work/cache" "$work/wasmcpu.wasm" >/dev/null
want=$("$work/native" "$scale")

# one run: prints seconds, checks the output against the native one
once() {
	local t0 t1 out
	t0=$(date +%s%N)
	out=$("$@")
	t1=$(date +%s%N)
	[ "$out" = "$want" ] || { echo "bench: wrong output from $*: $out" >&2; exit 1; }
	echo "$(( (t1 - t0) / 1000 ))"
}

median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m / 1e6 }'; }

declare -A med
for kind in native cached tcc; do
	case $kind in
	native) cmd=("$work/native" "$scale") ;;
	*) cmd=("$wasm" run --cache-dir "$work/cache" --tier "$kind" "$work/wasmcpu.wasm" "$scale") ;;
	esac
	med[$kind]=$(for _ in $(seq "$runs"); do once "${cmd[@]}"; done | median)
	printf '%-8s median %s s over %d runs\n' "$kind" "${med[$kind]}" "$runs"
done
awk -v n="${med[native]}" -v c="${med[cached]}" -v t="${med[tcc]}" 'BEGIN {
	printf "ratio cached/native = %.2fx (goal <= 1.25x)\n", c / n
	printf "ratio tcc/native    = %.2fx\n", t / n }'
