#!/usr/bin/env bash
# Installs what framecast needs on a Debian machine, and nothing twice.
#
#   launch/setup.sh            system packages (apt) + the PyPI torch wheel in a venv
#
# Idempotent: on a machine where everything is present it only checks (a few seconds) and changes
# nothing. Needs root or sudo for the apt step only when a package is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { echo "[setup] $*"; }

# ---- 1. Debian packages -------------------------------------------------------------------------
APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  openmpi-bin libopenmpi-dev
  libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev
  python3-venv python3-pip
  zlib1g-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
  dataset-fashion-mnist
  munge slurmctld slurmd slurm-client iproute2  # the SLURM and two-node fault tests (tests/faults)
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: all present"
fi

# ---- 2. LibTorch ---------------------------------------------------------------------------------
if user_torch="$(framecast_user_torch)"; then
  log "LibTorch: using the one on CMAKE_PREFIX_PATH ($user_torch); no wheel installed"
else
  site_ok() {
    [ -x "$FRAMECAST_VENV/bin/python3" ] &&
      compgen -G "$FRAMECAST_VENV/lib/python3*/site-packages/torch-${FRAMECAST_TORCH_VERSION}*.dist-info" >/dev/null &&
      compgen -G "$FRAMECAST_VENV/lib/python3*/site-packages/numpy-*.dist-info" >/dev/null &&
      compgen -G "$FRAMECAST_VENV/lib/python3*/site-packages/scipy-*.dist-info" >/dev/null &&
      compgen -G "$FRAMECAST_VENV/lib/python3*/site-packages/tensorboard-*.dist-info" >/dev/null
  }
  if site_ok; then
    log "LibTorch: torch ${FRAMECAST_TORCH_VERSION} wheel present in $FRAMECAST_VENV"
  else
    log "LibTorch: installing the PyPI torch==${FRAMECAST_TORCH_VERSION} wheel (CUDA build) into $FRAMECAST_VENV"
    mkdir -p "$FRAMECAST_HOME"
    [ -x "$FRAMECAST_VENV/bin/python3" ] || python3 -m venv "$FRAMECAST_VENV"
    "$FRAMECAST_VENV/bin/pip" install -q --disable-pip-version-check \
      "torch==${FRAMECAST_TORCH_VERSION}" numpy scipy tensorboard
  fi
  # One CUDA major in the process: the wheel's libraries and the toolkit's must agree, or the build
  # takes CUDA, cuDNN and NCCL from the wheel's nvidia-* packages only (see CMakeLists.txt).
  wheel_cuda="$(ls -d "$FRAMECAST_VENV"/lib/python3*/site-packages/nvidia/cu* 2>/dev/null | head -n1 | sed 's/.*cu//')"
  if command -v /usr/local/cuda/bin/nvcc >/dev/null 2>&1; then
    tk_cuda="$(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')"
    if [ -n "$wheel_cuda" ] && [ "$wheel_cuda" != "$tk_cuda" ]; then
      log "note: wheel CUDA major $wheel_cuda != toolkit $tk_cuda: the build uses the wheel's CUDA libraries"
    fi
  fi
fi
log "done"
