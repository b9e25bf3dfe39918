#!/usr/bin/env bash
# Container start benchmark: median create + start + wait-for-exit of a
# `true` container over 30 runs, side by side in one run: zlayer-agent
# `run --rm` (--network none, and bridged), raw `runc run` on a prepared
# bundle, `docker run --rm` (a private dockerd, --network none) and
# `podman run --rm` (runc, cgroupfs). Prints medians and ratios.
#   bench/start.sh [RUNS]     (needs root and 'make build')
set -euo pipefail
cd "$(dirname "$0")/.."
agent=${ZLAYER_AGENT:-build/zlayer-agent}
[ -x "$agent" ] || { echo "bench: build first (make build)" >&2; exit 1; }
exec /usr/bin/python3 bench/startbench.py "$@"
