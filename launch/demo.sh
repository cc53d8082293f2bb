#!/usr/bin/env bash
# Set-up, build, then the main job on the embedded default config (configs/demo.pbtxt): data-parallel
# training on 2 ranks (until the model families land: the demo conv net on procedurally generated
# frames). The demo starts fresh each time in build/demo-run (its scratch run directory).
#   launch/demo.sh [--set field.path=value ...]   e.g. --set stages[0].steps=300
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/env.sh"
"$here/setup.sh"
"$here/build.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$FRAMECAST_BUILD_DIR/demo-run"
exec "$here/run.sh" -np 2 train --set output_dir="$FRAMECAST_BUILD_DIR/demo-run" "$@"
