# Sourced by the launch/ scripts: where framecast's set-up puts things. No side effects.
#
#   FRAMECAST_HOME           persistent per-user state (default ~/.local/share/framecast)
#   FRAMECAST_VENV           Python venv holding the PyPI torch wheel (LibTorch inside)
#   FRAMECAST_TORCH_VERSION  torch wheel version set-up installs (default 2.11.0, CUDA 13.0 build)
#   FRAMECAST_BUILD_DIR      CMake build directory (default <repo>/build)
#   CMAKE_PREFIX_PATH        if it already holds a LibTorch (share/cmake/Torch/TorchConfig.cmake),
#                            that LibTorch is used and no wheel is installed
#   FRAMECAST_OFFLINE_PREFIX Open MPI + protobuf unpacked by `launch/setup.sh --offline` (default
#                            $FRAMECAST_HOME/offline-prefix): when its framecast-offline.env exists,
#                            it is sourced here (OPAL_PREFIX, PATH, LD_LIBRARY_PATH; its only effect)
FRAMECAST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRAMECAST_HOME="${FRAMECAST_HOME:-${HOME:-/root}/.local/share/framecast}"
FRAMECAST_VENV="${FRAMECAST_VENV:-$FRAMECAST_HOME/venv}"
FRAMECAST_TORCH_VERSION="${FRAMECAST_TORCH_VERSION:-2.11.0}"
FRAMECAST_BUILD_DIR="${FRAMECAST_BUILD_DIR:-$FRAMECAST_ROOT/build}"
export CCACHE_DIR="${CCACHE_DIR:-$FRAMECAST_HOME/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
# Precompiled headers and ccache: ccache must ignore the PCH's timestamps to hit.
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"

# Prints the directory holding TorchConfig.cmake from the user's CMAKE_PREFIX_PATH, if any.
framecast_user_torch() {
  local p
  IFS=':' read -ra _fc_paths <<<"${CMAKE_PREFIX_PATH:-}"
  for p in "${_fc_paths[@]}"; do
    for c in "$p/share/cmake/Torch/TorchConfig.cmake" "$p/Torch/TorchConfig.cmake" "$p/TorchConfig.cmake"; do
      if [ -f "$c" ]; then echo "$p"; return 0; fi
    done
  done
  return 1
}

# The Python of the venv (used for the wheel's LibTorch and the PyTorch peer benchmarks).
framecast_python() { echo "$FRAMECAST_VENV/bin/python3"; }

# The offline prefix's Open MPI and protobuf come first when it exists (air-gapped nodes).
if [ -f "${FRAMECAST_OFFLINE_PREFIX:-$FRAMECAST_HOME/offline-prefix}/framecast-offline.env" ]; then
  # shellcheck source=/dev/null
  source "${FRAMECAST_OFFLINE_PREFIX:-$FRAMECAST_HOME/offline-prefix}/framecast-offline.env"
fi
