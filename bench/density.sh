#!/usr/bin/env bash
# Density benchmark: start 100 sleeping containers one after another and
# report the wall time and the memory (RSS and PSS) per container of what
# keeps them running: zlayer-agent's daemon plus its shims, against docker's
# dockerd + containerd + shims (a private dockerd). --network none for both;
# DENSITY_BRIDGE=1 adds a bridged zlayer-agent round.
#   bench/density.sh [N]     (needs root and 'make build')
set -euo pipefail
cd "$(dirname "$0")/.."
agent=${ZLAYER_AGENT:-build/zlayer-agent}
[ -x "$agent" ] || { echo "bench: build first (make build)" >&2; exit 1; }
exec /usr/bin/python3 bench/densitybench.py "$@"
