#!/usr/bin/env bash
# Recovery benchmark: how fast the service manager brings back a replica
# whose process was killed. One replica of the test helper's HTTP server
# (http health check every 100 ms, start_grace 0) in a private daemon whose
# crash-loop threshold is raised to 1000; 20 times SIGKILL its init
# process and time, from the daemon's events, kill -> running again and
# kill -> healthy again. Prints medians and p90.
#   bench/recover.sh [RUNS] [--network=bridge|host]   (needs root and 'make build')
set -euo pipefail
cd "$(dirname "$0")/.."
agent=${ZLAYER_AGENT:-build/zlayer-agent}
[ -x "$agent" ] || { echo "bench: build first (make build)" >&2; exit 1; }
exec /usr/bin/python3 bench/recoverbench.py "$@"
