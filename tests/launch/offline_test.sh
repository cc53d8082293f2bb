#!/usr/bin/env bash
# The air-gapped path end to end, on a CPU machine that also has the system Open MPI and protobuf:
# proves the offline prefix's copies are the ones configured, linked, loaded and launched.
#
#   tests/launch/offline_test.sh REPO_ROOT WORK_DIR
#
# 1. launch/bundle.sh into WORK_DIR/bundle (exit 77 = skip when Debian's registry is unreachable);
#    a rerun downloads nothing; a size limit below the bundle's size fails with one line.
# 2. launch/setup.sh --offline refuses --prefix / (and paths resolving to it) and a non-empty
#    directory that is not a prefix.
# 3. launch/setup.sh --offline into WORK_DIR/prefix with build dir WORK_DIR/build, building only
#    framecast_offline_probe (framecast_proto, framecast_dist and one small program).
# 4. Checks: CMake cache paths lie in the prefix; every library the prefix's programs and libraries
#    need is in the prefix or is a base library of the node; ldd resolves libmpi/libprotobuf into
#    the prefix; the prefix's mpirun runs 2 ranks of the probe, which finds every MPI/protobuf
#    library it mapped under the prefix; launch/env.sh picks the prefix up.
# 5. A rerun of setup.sh is a no-op; a corrupted or missing .deb fails with one line naming the file
#    and leaves the prefix as it was.
# WORK_DIR is recreated on every run (fixed paths so that ccache hits across runs).
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
root="$1"
work="$2"
start=$(date +%s)

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "[offline_test $(( $(date +%s) - start ))s] $*"; }
# Runs a command that must fail with exactly one line on stderr matching a pattern.
expect_fail() {
  local pattern="$1"; shift
  local err rc=0
  err="$("$@" 2>&1 >/dev/null)" || rc=$?
  [ "$rc" -ne 0 ] || fail "'$*' succeeded; expected a failure matching '$pattern'"
  [ "$(echo "$err" | wc -l)" -eq 1 ] || fail "'$*': expected one line on stderr, got: $err"
  echo "$err" | grep -qE -- "$pattern" || fail "'$*': stderr '$err' does not match '$pattern'"
  echo "  refused as expected: $err"
}

rm -rf "$work"
mkdir -p "$work"
bundle="$work/bundle" prefix="$work/prefix"
export FRAMECAST_BUILD_DIR="$work/build" FRAMECAST_OFFLINE_PREFIX="$prefix"
export FRAMECAST_BUILD_JOBS="${FRAMECAST_BUILD_JOBS:-2}"
# mpirun as root (CI) and with more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# ---- 1. bundle ------------------------------------------------------------------------------------
rc=0
"$root/launch/bundle.sh" "$bundle" || rc=$?
if [ "$rc" -eq 3 ]; then
  echo "SKIP: Debian's package registry cannot be reached (launch/bundle.sh needs it)"
  exit 77
fi
[ "$rc" -eq 0 ] || fail "launch/bundle.sh exited $rc"
cp "$bundle/manifest.txt" "$work/manifest.first"
out="$("$root/launch/bundle.sh" "$bundle")"
echo "$out" | grep -q "nothing downloaded" || fail "bundle.sh rerun downloaded again: $out"
cmp -s "$bundle/manifest.txt" "$work/manifest.first" || fail "bundle.sh rerun changed manifest.txt"
[ "$(ls "$bundle")" = "$(printf 'debs\nmanifest.txt')" ] || fail "bundle holds more than debs/ and manifest.txt: $(ls "$bundle")"
mib=$(( $(cat "$bundle"/debs/*.deb | wc -c) / 1048576 ))
[ "$mib" -lt 60 ] || fail "bundle is $mib MiB"
FRAMECAST_BUNDLE_MAX_MIB=1 expect_fail "bundle is .* MiB, over the 1 MiB limit" "$root/launch/bundle.sh" "$bundle"
note "bundle: $(grep -vc '^#' "$bundle/manifest.txt") packages, $(du -sh "$bundle/debs" | cut -f1)"

# ---- 2. refused prefixes --------------------------------------------------------------------------
expect_fail "refusing --prefix that resolves to /" "$root/launch/setup.sh" --offline "$bundle" --prefix /
expect_fail "refusing --prefix that resolves to /" "$root/launch/setup.sh" --offline "$bundle" --prefix "$work/../../../../../../../.."
expect_fail "not an offline prefix" "$root/launch/setup.sh" --offline "$bundle" --prefix "$bundle"

# ---- 3. offline set-up and build ------------------------------------------------------------------
t0=$(date +%s)
"$root/launch/setup.sh" --offline "$bundle" --prefix "$prefix" --targets framecast_offline_probe
note "setup.sh --offline (unpack, configure, build): $(( $(date +%s) - t0 )) s"
[ -f "$prefix/framecast-offline.env" ] || fail "no $prefix/framecast-offline.env"
probe="$FRAMECAST_BUILD_DIR/tests/framecast_offline_probe"
[ -x "$probe" ] || fail "framecast_offline_probe not built at $probe"

# ---- 4. the prefix is what is used ------------------------------------------------------------------
cache="$FRAMECAST_BUILD_DIR/CMakeCache.txt"
for var in MPI_mpi_LIBRARY MPI_C_HEADER_DIR MPI_C_COMPILER_INCLUDE_DIRS MPIEXEC_EXECUTABLE MPIRUN \
  Protobuf_PROTOC_EXECUTABLE Protobuf_INCLUDE_DIR Protobuf_LIBRARY; do
  val="$(sed -n "s/^$var:[A-Z]*=//p" "$cache")"
  [[ "$val" == "$prefix/"* ]] || fail "CMake cache $var='$val' is not in $prefix"
done
for var in MPI_C_ADDITIONAL_INCLUDE_DIRS MPI_C_COMPILE_OPTIONS MPI_C_LINK_FLAGS; do
  val="$(sed -n "s/^$var:[A-Z]*=//p" "$cache")"
  [ -z "$val" ] || fail "CMake cache $var='$val': MPI settings from outside $prefix"
done
grep -q "^MPI_RESULT_C_test_mpi_normal:INTERNAL=TRUE" "$cache" || fail "FindMPI did not validate the prefix's MPI"
grep -q "framecast: MPI standard .* ($prefix/" "$FRAMECAST_BUILD_DIR/offline-configure.log" ||
  fail "configure did not report the prefix's libmpi: $(grep 'framecast: MPI' "$FRAMECAST_BUILD_DIR/offline-configure.log")"

# Every library needed by an ELF file of the prefix is in the prefix's library path or is one a
# CUDA/PyTorch node image has (C/C++ runtime, zlib, udev, uuid); InfiniBand drivers (mlx5, efa) come
# with the node's rdma-core and are only dlopen'ed by UCX's IB transport.
(
  source "$prefix/framecast-offline.env"
  IFS=':' read -ra dirs <<<"$LD_LIBRARY_PATH"
  base=" libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 ld-linux-x86-64.so.2
    libstdc++.so.6 libgcc_s.so.1 libatomic.so.1 libz.so.1 libudev.so.1 libuuid.so.1
    libmlx5.so.1 libefa.so.1 "
  base=" $(echo $base) "  # one space between names
  missing=""
  while IFS= read -r -d '' f; do
    head -c 4 "$f" | grep -q "ELF" || continue
    for so in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ "$base" == *" $so "* ]] && continue
      found=0
      for d in "${dirs[@]}" "$(dirname "$f")"; do [ -e "$d/$so" ] && { found=1; break; }; done
      [ "$found" = 1 ] || missing="$missing ${f#"$prefix"/}:$so"
    done
  done < <(find "$prefix" -type f \( -name '*.so*' -o -perm -u+x \) -print0)
  [ -z "$missing" ] || fail "libraries missing from the bundle:$missing"
)
note "closure: every needed library is in the prefix or in the node's base"

(
  source "$prefix/framecast-offline.env"
  for lib in libmpi.so libprotobuf.so libopen-pal.so libopen-rte.so libhwloc.so libevent_core; do
    line="$(ldd "$probe" | grep -m1 "$lib" || true)"
    [ -n "$line" ] || fail "ldd: $lib not among the probe's libraries"
    [[ "$line" == *"=> $prefix/"* ]] || fail "ldd: $line (not in $prefix)"
  done
  [ "$(command -v mpirun)" = "$prefix/usr/bin/mpirun" ] || fail "mpirun on PATH is $(command -v mpirun)"
  want_pb="$(awk '$1 == "protobuf-compiler" { split($2, v, "-"); print v[1] }' "$bundle/manifest.txt")"
  protoc --version | grep -q "$want_pb" || fail "protoc --version: $(protoc --version), want $want_pb"
  run="$(mpirun --oversubscribe -np 2 --mca btl ^openib --mca mtl ^ofi,psm,psm2 "$probe" "$prefix" 2>&1)" ||
    fail "2-rank run of the probe failed: $run"
  echo "$run" | grep -q "^offline probe: OK ranks=2 libmpi=$prefix/.* libprotobuf=$prefix/" ||
    fail "2-rank run: unexpected output: $run"
  echo "  $(echo "$run" | grep '^offline probe')"
)
note "2 ranks under the prefix's mpirun: OK"

got="$(env -u OPAL_PREFIX FRAMECAST_OFFLINE_PREFIX="$prefix" bash -c "source '$root/launch/env.sh'; echo \$OPAL_PREFIX")"
[ "$got" = "$prefix/usr" ] || fail "launch/env.sh did not source the prefix's env file (OPAL_PREFIX='$got')"

# ---- 5. idempotent; a damaged bundle leaves the prefix as it was ---------------------------------
listing() { (cd "$prefix" && find . -printf '%p %s %T@\n' | sort | sha256sum); }
before="$(listing)"
t0=$(date +%s)
out="$("$root/launch/setup.sh" --offline "$bundle" --prefix "$prefix" --targets framecast_offline_probe)"
echo "$out" | grep -q "offline prefix $prefix: up to date" || fail "setup.sh rerun unpacked again: $out"
echo "$out" | grep -q "no work to do" || fail "setup.sh rerun rebuilt: $out"
[ "$(listing)" = "$before" ] || fail "setup.sh rerun changed the prefix"
note "setup.sh --offline rerun: $(( $(date +%s) - t0 )) s, nothing changed"

bad="$work/bad"
mkdir -p "$bad/debs"
cp "$bundle/manifest.txt" "$bad/"
for f in "$bundle"/debs/*.deb; do ln -s "$f" "$bad/debs/"; done
victim="$(ls "$bad"/debs/libopenmpi3_*.deb)"
rm "$victim"
cp "$bundle/debs/$(basename "$victim")" "$victim"
printf 'X' | dd of="$victim" bs=1 seek=5000 conv=notrunc status=none
victim_re="${victim//./\\.}"; victim_re="${victim_re//+/\\+}"  # as an ERE (. and + occur in .deb names)
expect_fail "^launch/setup.sh: $victim_re: sha256 does not match" \
  "$root/launch/setup.sh" --offline "$bad" --prefix "$prefix"
[ "$(listing)" = "$before" ] || fail "a corrupted bundle changed the prefix"
rm "$victim"
expect_fail "^launch/setup.sh: $victim_re: missing" "$root/launch/setup.sh" --offline "$bad" --prefix "$prefix"
[ "$(listing)" = "$before" ] || fail "a bundle with a missing file changed the prefix"
expect_fail "^launch/setup.sh: $victim_re: missing" \
  "$root/launch/setup.sh" --offline "$bad" --prefix "$work/fresh-prefix"
[ ! -e "$work/fresh-prefix" ] || fail "a corrupted bundle created $work/fresh-prefix"

note "PASS"
