#!/usr/bin/env bash
# rampart's benchmark suite in one command: the runtime suite (per apply against native code,
# host call, instantiation, end to end against native code and one process per setting, fleet,
# memory per run) and the agent's start-up (warm AOT cache and cold). Each prints its summary.
# Extra arguments go to both (e.g. `--quick`). Takes about 6 minutes plus the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p rampart-tests --bench suite -- "$@"
cargo bench -p rampart --bench startup -- "$@"
