#!/usr/bin/env bash
# Restart benchmark: a private daemon keeps N (100) sleeping containers,
# then is killed (SIGKILL, and separately SIGTERM) and started again; the
# time from the new daemon's spawn until its API reports all N adopted
# (running with the same pids; for a deployment, every replica adopted by
# the service manager). Scenarios: N plain `run -d` containers and one
# deployment of N replicas, --network none and bridged. Also the idle
# daemon's memory with N containers (VmRSS; shims apart) against dockerd +
# containerd with N `docker run -d --network none` containers (a private
# dockerd with --live-restore, whose restart is timed the same way).
# Prints medians, spreads and ratios.
#   bench/restart.sh [N] [ROUNDS]     (needs root and 'make build')
set -euo pipefail
cd "$(dirname "$0")/.."
agent=${ZLAYER_AGENT:-build/zlayer-agent}
[ -x "$agent" ] || { echo "bench: build first (make build)" >&2; exit 1; }
exec /usr/bin/python3 bench/restartbench.py "$@"
