#!/usr/bin/env bash
# Set-up, build and every CPU test (unit and multi-rank under mpirun). What CI runs.
#   launch/test.sh [extra ctest args]
# GPU tests (label gpu) run too and skip with a message when no GPU is visible.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/env.sh"
start=$(date +%s)
"$here/setup.sh"
"$here/build.sh"
echo "[test] set-up + build: $(( $(date +%s) - start )) s; running the tests"
cd "$FRAMECAST_BUILD_DIR"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# ctest's summary is the last thing printed (CI reads it).
exec ctest --output-on-failure --timeout 900 "$@"
