#!/usr/bin/env bash
# WebAssembly benchmark, side by side in one run:
#  (a) CPU: bench/wasmcpu.c natively (gcc -O2) vs as wasm32-wasi on the
#      cached (cc -O2) and tcc tiers (bench/wasmcpu.sh);
#  (b) start: `zlayer-agent run --rm file:hello.wasm` cold (a module never
#      seen: no cache) and warm (cached), a cold start of a ~2 MB module, and
#      `zlayer-agent run --rm` of a busybox `echo` container on the OCI
#      runtime, through one private daemon. Prints medians and ratios.
#   bench/wasm.sh [RUNS]     (needs root, 'make build', clang, wasi-libc)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/zlayer-agent ] || { echo "bench: build first (make build)" >&2; exit 1; }
echo "== (a) CPU: native vs the two tiers"
bench/wasmcpu.sh "${1:-5}"
echo
echo "== (b) start through zlayer-agent run"
exec /usr/bin/python3 bench/wasmbench.py "$@"
