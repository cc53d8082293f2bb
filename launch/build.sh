#!/usr/bin/env bash
# Configures (once) and builds framecast into $FRAMECAST_BUILD_DIR (default build/).
#   launch/build.sh [extra cmake -D flags for the first configure]
#   FRAMECAST_BUILD_TARGET=framecast launch/build.sh   only the program (launch/demo.sh), not the tests
# Uses the user's LibTorch when CMAKE_PREFIX_PATH holds one, else the wheel set-up installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if torch_prefix="$(framecast_user_torch)"; then
  prefix="$CMAKE_PREFIX_PATH"
  python_exe="$(command -v python3)"
else
  py="$(framecast_python)"
  [ -x "$py" ] || { echo "launch/build.sh: no LibTorch: run launch/setup.sh first" >&2; exit 1; }
  # site-packages/torch/share/cmake, found without importing torch (fast).
  site="$(echo "$FRAMECAST_VENV"/lib/python3*/site-packages)"
  prefix="$site/torch/share/cmake${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  python_exe="$py"
fi

if [ ! -f "$FRAMECAST_BUILD_DIR/build.ninja" ]; then
  cmake -S "$FRAMECAST_ROOT" -B "$FRAMECAST_BUILD_DIR" -G Ninja \
    -DCMAKE_PREFIX_PATH="$prefix" -DPython3_EXECUTABLE="$python_exe" \
    -DFRAMECAST_PYTHON="$python_exe" "$@"
fi
jobs="${FRAMECAST_BUILD_JOBS:-$(nproc)}"
cmake --build "$FRAMECAST_BUILD_DIR" -j "$jobs" ${FRAMECAST_BUILD_TARGET:+--target "$FRAMECAST_BUILD_TARGET"}
