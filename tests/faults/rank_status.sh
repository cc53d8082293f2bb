#!/usr/bin/env bash
# Runs one rank's command and appends "rank R status S" to $FC_STATUS_FILE (the fault tests read
# every rank's own exit status: under --enable-recovery mpirun does not report it).
"$@"
rc=$?
echo "rank ${OMPI_COMM_WORLD_RANK:-?} status $rc" >>"$FC_STATUS_FILE"
exit "$rc"
