#!/usr/bin/env bash
# Collects what an air-gapped GPU node lacks to build and run framecast: Open MPI and protobuf
# (runtime libraries, headers, protoc, mpirun and the libraries they load) as Debian .deb files.
#
#   launch/bundle.sh OUT_DIR
#
# Run it on a machine that reaches Debian's package registry (Debian 12 "bookworm", amd64); no root
# needed. OUT_DIR receives debs/*.deb and manifest.txt (one line per package: name, Debian version,
# architecture, sha256, file) and nothing else. Carry OUT_DIR to the node and run
# `launch/setup.sh --offline OUT_DIR` there.
#
# Idempotent: a .deb already in OUT_DIR whose sha256 matches the registry's candidate is kept, so a
# rerun with an up-to-date OUT_DIR downloads nothing. Exits 3 (one line on stderr) when the registry
# cannot be reached, 1 on any other failure, including a bundle over FRAMECAST_BUNDLE_MAX_MIB
# (default 60).
#
# The package list is fixed (below) and checked on every run: each package's Depends must be in the
# list, in BASE (what every CUDA/PyTorch node image has: the C and C++ runtimes, zlib, udev, uuid)
# or in OPTIONAL (hardware or multi-node extras the node provides itself when it needs them).
set -euo pipefail

PACKAGES=(
  # Open MPI 4.1: mpirun/orted, libmpi, mpi.h, and the libraries libmpi and its components load
  openmpi-bin libopenmpi3 libopenmpi-dev openmpi-common
  libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libpmix2 libmunge2 libltdl7
  libfabric1 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200
  libpsm2-2 libpsm-infinipath1 libnuma1
  # protobuf 3.21: libprotobuf(-lite), headers, protoc
  libprotobuf32 libprotobuf-lite32 libprotobuf-dev protobuf-compiler libprotoc32
  # header-only: CLI11 (the command line) and nlohmann-json (JSON reading)
  libcli11-dev nlohmann-json3-dev
)
# Present on the node (checked by setup.sh --offline), never bundled.
BASE=(libc6 libgcc-s1 libstdc++6 libatomic1 zlib1g libudev1 libuuid1 adduser)
# Not needed to build framecast or run it on one node: Fortran and the -dev packages of Open MPI's
# dependencies (libopenmpi-dev pulls them for mpicc users), hwloc's GPU/X11 plugins, the InfiniBand
# hardware drivers (ibverbs-providers: a node with InfiniBand has its own), ssh (multi-node launch).
OPTIONAL=(gfortran-12 gfortran-mod-15 libibverbs-dev libhwloc-dev libevent-dev libpmix-dev
  libjs-jquery libjs-jquery-ui zlib1g-dev libhwloc-plugins ibverbs-providers
  openssh-client ssh-client)

die() { echo "launch/bundle.sh: $*" >&2; exit 1; }
log() { echo "[bundle] $*"; }

[ $# -eq 1 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
out="$1"
max_mib="${FRAMECAST_BUNDLE_MAX_MIB:-60}"
command -v apt-cache >/dev/null && command -v apt-get >/dev/null || die "needs apt-get and apt-cache (Debian)"
mkdir -p "$out/debs"
out="$(cd "$out" && pwd)"

# ---- 1. the registry's candidates: version, architecture, sha256 ---------------------------------
# apt-cache show prints one stanza per package; keep the fields the manifest records.
info="$(apt-cache show --no-all-versions "${PACKAGES[@]}" 2>&1)" ||
  die "apt-cache show failed: $(echo "$info" | grep -m1 -E '^E:' || echo "$info" | head -n1)"
declare -A version arch sha depends
while IFS=$'\t' read -r p v a s d; do
  version[$p]="$v"; arch[$p]="$a"; sha[$p]="$s"; depends[$p]="$d"
done < <(echo "$info" | awk '
  /^Package: /      { p = $2 }
  /^Version: /      { v = $2 }
  /^Architecture: / { a = $2 }
  /^SHA256: /       { s = $2 }
  /^Depends: /      { d = substr($0, 10) }
  /^$/ { if (p != "") print p "\t" v "\t" a "\t" s "\t" d; p = v = a = s = d = "" }
  END  { if (p != "") print p "\t" v "\t" a "\t" s "\t" d }')
for p in "${PACKAGES[@]}"; do
  [ -n "${version[$p]:-}" ] || die "package $p: not in the registry's index (run apt-get update?)"
done

# ---- 2. the list is closed: every dependency is bundled, on the node, or optional ---------------
known=" ${PACKAGES[*]} ${BASE[*]} ${OPTIONAL[*]} "
for p in "${PACKAGES[@]}"; do
  IFS=',' read -ra clauses <<<"${depends[$p]}"
  for clause in "${clauses[@]}"; do
    ok=0
    IFS='|' read -ra alts <<<"$clause"
    for alt in "${alts[@]}"; do
      name="$(echo "$alt" | sed 's/(.*//; s/:any//' | tr -d ' ')"
      [ -z "$name" ] || [[ "$known" == *" $name "* ]] && ok=1
    done
    [ "$ok" = 1 ] || die "package $p depends on '$(echo "$clause" | xargs)', which is not in launch/bundle.sh's lists"
  done
done

# ---- 3. download what is missing or stale ----------------------------------------------------------
# apt-get download names files NAME_VERSION_ARCH.deb with the epoch's ':' written as %3a.
deb_name() { echo "${1}_${version[$1]//:/%3a}_${arch[$1]}.deb"; }
want=()
for p in "${PACKAGES[@]}"; do
  f="$out/debs/$(deb_name "$p")"
  if [ -f "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "${sha[$p]}" ]; then continue; fi
  rm -f "$f"
  want+=("$p")
done
if [ ${#want[@]} -gt 0 ]; then
  log "downloading ${#want[@]} package(s): ${want[*]}"
  # apt-get download writes into the current directory; download into a scratch dir first so that
  # an interrupted run leaves no partial .deb behind.
  scratch="$(mktemp -d "$out/.download.XXXXXX")"
  trap 'rm -rf "$scratch"' EXIT
  # -o APT::Sandbox::User=root: as root, apt would otherwise warn that _apt cannot write here.
  sandbox=(); [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  if ! msg="$(cd "$scratch" && apt-get download -q "${sandbox[@]}" "${want[@]}" 2>&1)"; then
    err="$(echo "$msg" | grep -m1 -E '^(E|Err):' || echo "$msg" | tail -n1)"
    if echo "$msg" | grep -qiE "Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|Network is unreachable|Connection (timed out|refused)"; then
      echo "launch/bundle.sh: cannot reach Debian's package registry: $err" >&2
      exit 3
    fi
    die "apt-get download failed: $err"
  fi
  for p in "${want[@]}"; do
    f="$(deb_name "$p")"
    [ -f "$scratch/$f" ] || die "apt-get download did not produce $f"
    [ "$(sha256sum "$scratch/$f" | cut -d' ' -f1)" = "${sha[$p]}" ] || die "$f: sha256 differs from the registry's index"
    mv "$scratch/$f" "$out/debs/$f"
  done
else
  log "all ${#PACKAGES[@]} packages up to date in $out/debs (nothing downloaded)"
fi

# Files that are no longer part of the bundle (older versions) go: the node must see only the list.
for f in "$out"/debs/*.deb; do
  keep=0
  for p in "${PACKAGES[@]}"; do [ "$(basename "$f")" = "$(deb_name "$p")" ] && keep=1; done
  [ "$keep" = 1 ] || { log "removing stale $(basename "$f")"; rm -f "$f"; }
done

# ---- 4. size limit ---------------------------------------------------------------------------------
bytes="$(cat "$out"/debs/*.deb | wc -c)"
mib="$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
if [ "$bytes" -gt $((max_mib * 1048576)) ]; then
  die "bundle is $mib MiB, over the $max_mib MiB limit (FRAMECAST_BUNDLE_MAX_MIB)"
fi

# ---- 5. manifest (no timestamp: a rerun writes the same bytes) ----------------------------------
# The node's glibc must be at least the newest libc6 any package asks for.
glibc="$(for p in "${PACKAGES[@]}"; do echo "${depends[$p]}"; done | tr ',' '\n' |
  sed -n 's/^ *libc6 (>= \([0-9.]*\)).*/\1/p' | sort -V | tail -n1)"
. /etc/os-release 2>/dev/null || true
{
  echo "# framecast offline bundle: Open MPI + protobuf from ${PRETTY_NAME:-Debian}, $(dpkg --print-architecture)"
  echo "# needs-glibc ${glibc:-0}"
  echo "# package version architecture sha256 file"
  for p in "${PACKAGES[@]}"; do
    echo "$p ${version[$p]} ${arch[$p]} ${sha[$p]} debs/$(deb_name "$p")"
  done
} >"$out/manifest.txt.new"
if cmp -s "$out/manifest.txt.new" "$out/manifest.txt"; then
  rm -f "$out/manifest.txt.new"
else
  mv "$out/manifest.txt.new" "$out/manifest.txt"
fi
log "bundle: ${#PACKAGES[@]} packages, $mib MiB, in $out (manifest.txt; the node needs glibc >= ${glibc:-?})"
