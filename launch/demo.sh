#!/usr/bin/env bash
# Set-up, build, then the main job on the embedded default: data-parallel training on 2 ranks
# (until the model families land: the demo conv net on procedurally generated frames).
#   launch/demo.sh [framecast train flags, e.g. --steps 200]
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/env.sh"
"$here/setup.sh"
"$here/build.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec "$here/run.sh" -np 2 train "$@"
