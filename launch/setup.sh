#!/usr/bin/env bash
# Installs what framecast needs on a Debian machine, and nothing twice.
#
#   launch/setup.sh            system packages (apt) + the PyPI torch wheel in a venv
#   launch/setup.sh --offline BUNDLE_DIR [--prefix DIR] [--targets 'T ...'] [-- CMAKE_ARGS]
#                              air-gapped node: Open MPI + protobuf from a launch/bundle.sh bundle
#                              unpacked into DIR (default $FRAMECAST_HOME/offline-prefix), then a
#                              build against them (no apt, no network; see "offline" below)
#
# Idempotent: on a machine where everything is present it only checks (a few seconds) and changes
# nothing. Needs root or sudo for the apt step only when a package is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { echo "[setup] $*"; }

# ---- offline: launch/setup.sh --offline BUNDLE_DIR ... (no apt, no network) -----------------------
# Verifies the bundle's manifest (sha256 of every .deb; a bad or missing file stops everything before
# the prefix is touched), unpacks the .debs into PREFIX with dpkg-deb (once per manifest: a stamp
# holds its digest), writes PREFIX/framecast-offline.env (OPAL_PREFIX, PATH, LD_LIBRARY_PATH; sourced
# by launch/env.sh), then configures $FRAMECAST_BUILD_DIR against the prefix's MPI and protobuf and
# builds TARGETS (default: all). LibTorch is found as launch/build.sh finds it.
offline_die() { echo "launch/setup.sh: $*" >&2; exit 1; }

offline_setup() {
  local bundle="" prefix="${FRAMECAST_OFFLINE_PREFIX:-$FRAMECAST_HOME/offline-prefix}" targets=""
  local extra=()
  shift  # --offline
  [ $# -ge 1 ] && [ "${1#--}" = "$1" ] || offline_die "usage: launch/setup.sh --offline BUNDLE_DIR [--prefix DIR] [--targets 'T ...'] [-- CMAKE_ARGS]"
  bundle="$1"; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) [ $# -ge 2 ] || offline_die "--prefix needs a directory"; prefix="$2"; shift 2 ;;
      --targets) [ $# -ge 2 ] || offline_die "--targets needs a list of targets"; targets="$2"; shift 2 ;;
      --) shift; extra=("$@"); break ;;
      *) offline_die "--offline: unknown argument '$1'" ;;
    esac
  done
  [ -n "$prefix" ] || offline_die "--prefix is empty"
  prefix="$(realpath -m -- "$prefix")"
  [ "$prefix" != "/" ] || offline_die "refusing --prefix that resolves to / (unpacking over the system)"
  command -v dpkg-deb >/dev/null || offline_die "dpkg-deb not found (needed to unpack the bundle)"

  # 1. Verify the whole bundle first.
  local manifest="$bundle/manifest.txt" name version arch sum file debs=()
  [ -f "$manifest" ] || offline_die "$manifest: missing (make the bundle with launch/bundle.sh)"
  while read -r name version arch sum file; do
    case "$name" in ''|'#'*) continue ;; esac
    [[ "$file" =~ ^debs/[A-Za-z0-9._+%~-]+\.deb$ ]] || offline_die "$manifest: bad file name '$file' for package $name"
    [ -f "$bundle/$file" ] || offline_die "$bundle/$file: missing (listed in manifest.txt)"
    [ "$(sha256sum "$bundle/$file" | cut -d' ' -f1)" = "$sum" ] ||
      offline_die "$bundle/$file: sha256 does not match manifest.txt (corrupted or changed; rebuild the bundle)"
    debs+=("$bundle/$file")
  done <"$manifest"
  [ ${#debs[@]} -gt 0 ] || offline_die "$manifest: lists no packages"
  local need have
  need="$(sed -n 's/^# needs-glibc //p' "$manifest")"
  have="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
  if [ -n "$need" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
    offline_die "this node's glibc $have is older than $need, which the bundle's packages need"
  fi
  local so
  for so in libstdc++.so.6 libgcc_s.so.1 libatomic.so.1 libz.so.1 libudev.so.1 libuuid.so.1; do
    /sbin/ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$so " ||
      log "warning: $so is not in the loader's cache; Open MPI or protobuf may fail to load"
  done

  # 2. Unpack into a sibling directory, then move it into place (an interrupted run leaves the
  #    previous prefix as it was).
  local digest stamp="$prefix/.framecast-offline-stamp"
  digest="$(sha256sum "$manifest" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    log "offline prefix $prefix: up to date"
  else
    if [ -d "$prefix" ] && [ -n "$(ls -A "$prefix")" ] && [ ! -f "$stamp" ]; then
      offline_die "$prefix: not empty and not an offline prefix (no .framecast-offline-stamp); choose a new directory"
    fi
    local staging d
    mkdir -p "$(dirname "$prefix")"
    staging="$(mktemp -d "$(dirname "$prefix")/.$(basename "$prefix").unpack.XXXXXX")"
    log "unpacking ${#debs[@]} packages into $prefix"
    for d in "${debs[@]}"; do
      dpkg-deb -x "$d" "$staging" || { rm -rf "$staging"; offline_die "$d: dpkg-deb -x failed"; }
    done
    local ma
    ma="$(basename "$(dirname "$(dirname "$(ls -d "$staging"/usr/lib/*-linux-gnu/openmpi/include)")")")"
    # What Debian's alternatives system would link: mpirun, mpicc, ... -> *.openmpi, and PSM's
    # library under its soname.
    for d in "$staging"/usr/bin/*.openmpi; do
      ln -sfn "$(basename "$d")" "${d%.openmpi}"
    done
    for d in "$staging"/usr/lib/libpsm1/libpsm_infinipath.so.1.*; do
      [ -f "$d" ] && ln -sfn "../libpsm1/$(basename "$d")" "$staging/usr/lib/$ma/libpsm_infinipath.so.1"
    done
    # The environment of the prefix (paths are the final ones, not the staging directory's).
    local libpath="$prefix/usr/lib/$ma/openmpi/lib:$prefix/usr/lib/$ma"
    [ -d "$staging/lib/$ma" ] && libpath="$libpath:$prefix/lib/$ma"
    cat >"$staging/framecast-offline.env" <<ENV
# Open MPI and protobuf of the framecast offline prefix (written by launch/setup.sh --offline).
# Sourced by launch/env.sh; source it yourself to use mpirun, protoc or a framecast build elsewhere.
export FRAMECAST_OFFLINE_PREFIX="$prefix"
export OPAL_PREFIX="$prefix/usr"
export OPAL_SYSCONFDIR="$prefix/etc/openmpi"
# PMIx's directories are configured as absolute paths: point each one into the prefix, or ranks
# would load a system PMIx's plugins (or none).
export PMIX_PREFIX="$prefix/usr/lib/$ma/pmix2" PMIX_LIBDIR="$prefix/usr/lib/$ma/pmix2/lib"
export PMIX_PKGLIBDIR="$prefix/usr/lib/$ma/pmix2/lib/pmix" PMIX_DATADIR="$prefix/usr/lib/$ma/pmix2/share"
case ":\${PATH:-}:" in *":$prefix/usr/bin:"*) ;; *) export PATH="$prefix/usr/bin\${PATH:+:\$PATH}" ;; esac
case ":\${LD_LIBRARY_PATH:-}:" in *":$libpath:"*) ;; *) export LD_LIBRARY_PATH="$libpath\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" ;; esac
ENV
    echo "$digest" >"$staging/.framecast-offline-stamp"
    rm -rf "$prefix"
    mv "$staging" "$prefix"
  fi
  # shellcheck source=/dev/null
  source "$prefix/framecast-offline.env"

  # 3. Configure (once per build directory) and build against the prefix.
  local u="$prefix/usr" lib
  lib="$(dirname "$(dirname "$(ls -d "$u"/lib/*-linux-gnu/openmpi/include)")")"
  # FindMPI: with LIB_NAMES and include dirs given it neither asks a wrapper nor pkg-config (which
  # would find a system Open MPI first), and only checks that an MPI program compiles and links.
  local cmake_offline=(
    -DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_ASSUME_NO_BUILTIN_MPI=ON -DMPI_C_LIB_NAMES=mpi
    -DMPI_mpi_LIBRARY="$lib/openmpi/lib/libmpi.so" -DMPI_C_HEADER_DIR="$lib/openmpi/include"
    -DMPI_C_COMPILER_INCLUDE_DIRS="$lib/openmpi/include" -DMPIEXEC_EXECUTABLE="$u/bin/mpirun.openmpi"
    -DMPIRUN="$u/bin/mpirun.openmpi"
    -DProtobuf_PROTOC_EXECUTABLE="$u/bin/protoc" -DProtobuf_INCLUDE_DIR="$u/include"
    -DProtobuf_LIBRARY="$lib/libprotobuf.so" -DProtobuf_LITE_LIBRARY="$lib/libprotobuf-lite.so"
    -DProtobuf_PROTOC_LIBRARY="$(ls "$lib"/libprotoc.so.*.*.* | head -n1)"
  )
  local cache="$FRAMECAST_BUILD_DIR/CMakeCache.txt"
  if [ -f "$cache" ] && ! grep -qx "Protobuf_PROTOC_EXECUTABLE:FILEPATH=$u/bin/protoc" "$cache"; then
    offline_die "$FRAMECAST_BUILD_DIR: configured without this offline prefix; use a new FRAMECAST_BUILD_DIR"
  fi
  if [ ! -f "$FRAMECAST_BUILD_DIR/build.ninja" ]; then
    local torch_prefix python_exe site
    if torch_prefix="$(framecast_user_torch)"; then
      python_exe="$(command -v python3)"
      torch_prefix="$CMAKE_PREFIX_PATH"
    else
      python_exe="$(framecast_python)"
      [ -x "$python_exe" ] || offline_die "no LibTorch: put the node's PyTorch on CMAKE_PREFIX_PATH (python3 -c 'import torch; print(torch.utils.cmake_prefix_path)') or FRAMECAST_VENV"
      site="$(echo "$FRAMECAST_VENV"/lib/python3*/site-packages)"
      torch_prefix="$site/torch/share/cmake${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    fi
    log "configuring $FRAMECAST_BUILD_DIR against $prefix"
    mkdir -p "$FRAMECAST_BUILD_DIR"
    cmake -S "$FRAMECAST_ROOT" -B "$FRAMECAST_BUILD_DIR" -G Ninja \
      -DCMAKE_PREFIX_PATH="$torch_prefix" -DPython3_EXECUTABLE="$python_exe" \
      -DFRAMECAST_PYTHON="$python_exe" "${cmake_offline[@]}" ${extra[@]+"${extra[@]}"} \
      >"$FRAMECAST_BUILD_DIR/offline-configure.log" 2>&1 ||
      offline_die "cmake configure failed; see $FRAMECAST_BUILD_DIR/offline-configure.log"
  fi
  local build_args=(--build "$FRAMECAST_BUILD_DIR" -j "${FRAMECAST_BUILD_JOBS:-$(nproc)}")
  if [ -n "$targets" ]; then
    local t
    build_args+=(--target)
    for t in $targets; do build_args+=("$t"); done
  fi
  log "building ${targets:-all targets} in $FRAMECAST_BUILD_DIR"
  cmake "${build_args[@]}"
  log "done (source $prefix/framecast-offline.env, or use launch/*.sh, to run with the prefix's mpirun)"
}

if [ "${1:-}" = "--offline" ]; then
  offline_setup "$@"
  exit 0
fi

# ---- 1. Debian packages -------------------------------------------------------------------------
APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  openmpi-bin libopenmpi-dev
  libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev
  python3-venv python3-pip
  zlib1g-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
  libcli11-dev nlohmann-json3-dev  # the command line (util/flags.cc) and JSON reading
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
      compgen -G "$FRAMECAST_VENV/lib/python3*/site-packages/tensorboard-*.dist-info" >/dev/null &&
      compgen -G "$FRAMECAST_VENV/lib/python3*/site-packages/safetensors-*.dist-info" >/dev/null
  }
  if site_ok; then
    log "LibTorch: torch ${FRAMECAST_TORCH_VERSION} wheel present in $FRAMECAST_VENV"
  else
    log "LibTorch: installing the PyPI torch==${FRAMECAST_TORCH_VERSION} wheel (CUDA build) into $FRAMECAST_VENV"
    mkdir -p "$FRAMECAST_HOME"
    [ -x "$FRAMECAST_VENV/bin/python3" ] || python3 -m venv "$FRAMECAST_VENV"
    "$FRAMECAST_VENV/bin/pip" install -q --disable-pip-version-check \
      "torch==${FRAMECAST_TORCH_VERSION}" numpy scipy tensorboard safetensors
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
