#!/usr/bin/env bash
# Cold-pull benchmark: a ~200 MB image of 5 layers in a local registry,
# pulled 5 times with an empty store each time by zlayer-agent, by
# `skopeo copy` + `umoci unpack`, and by `docker pull` (a private dockerd),
# side by side in one run. Prints medians and ratios.
#   bench/pull.sh [RUNS]     (needs root and 'make build')
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/zlayer-agent ] || { echo "bench: build first (make build)" >&2; exit 1; }
exec /usr/bin/python3 bench/pullbench.py "$@"
